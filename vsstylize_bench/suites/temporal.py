#!/usr/bin/env python3
"""Temporal consistency of the optimization method on real photos moved by a known camera path.

Reproduces the comparison of Ruder et al. (2018, Tables 2/4): per-frame random init, prev init,
prevWarped init without the temporal loss, and prevWarped + temporal loss. Sequences come from
``vsstylize.train.sequences`` (real photo, translating/zooming crop window, moving occluder; exact
ground-truth flow and disocclusion masks); the method uses DIS flow estimated from the frames, the error
is measured with the ground truth. Prints a Markdown table of the mean short-term temporal error per
sequence (ratio to per-frame random init in brackets) and seconds per frame.

Usage: python -m vsstylize_bench temporal [--size 160x112] [--frames 8] [--iterations 300,100]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from vsstylize.train.sequences import make_sequence
from vsstylize_bench.runner import BASELINES, evaluate, format_table
from vsstylize_bench.sources import default_photos, shared_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=shared_data(), help="shared data folder (default $VSSTYLIZE_SHARED/data)")
    ap.add_argument("--size", default="160x112")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--iterations", default="300,100")
    ap.add_argument("--presets", default="slow_pan,fast_pan_zoom")
    ap.add_argument("--style", default="starry_night.jpg")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    first, later = (int(v) for v in args.iterations.split(","))
    if args.shared is None:
        ap.error("--shared: no data folder (pass --shared or set VSSTYLIZE_SHARED)")
    style = args.shared / "styles" / args.style
    photo = args.shared / "content" / "tubingen.jpg"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}")
    print(f"settings: {w}x{h}, {args.frames} frames, iterations {first},{later}, style {style.name}, tol 0")
    rows = {}
    t0 = time.perf_counter()
    for preset in args.presets.split(","):
        seq = make_sequence(preset, photo, num_frames=args.frames, size=(w, h), seed=1,
                            photos=default_photos(args.shared / "content"))
        rows[seq.name] = evaluate(seq, style, BASELINES, common={"num_iterations": (first, later), "tol_loss_relative": 0})
    print(format_table(rows))
    for name, res in rows.items():
        r = res["temporal"].mean_temporal_error / res["random"].mean_temporal_error
        errors = [res[k].mean_temporal_error for k in ("temporal", "prevWarped", "prev", "random")]
        print(f"{name}: temporal/random = {r:.3f} (target <= 0.2); "
              f"ordering temporal < prevWarped < prev < random: "
              f"{errors == sorted(errors)}")
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
