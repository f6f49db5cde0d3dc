#!/usr/bin/env python
"""End-to-end speed of the network methods in VapourSynth (issue 6 speed targets).

Decodes a real clip (BestSource), resizes it to each size, runs ``vsstylize.stylize`` with the flow-free
network and with the prior-image network (DIS flow both ways, reliability, warping, the network), converts
the result to YUV420P8 as for an encoder, and times pulling the frames in order (after ``--warmup`` frames).
Prints frames/s and s/frame per method and size, and the peak RSS.

Targets on the 2-core CPU at 640x360: flow-free Res48 >= 5 frames/s, prior-image network <= 1 s/frame. Each method
is timed with the default border margin (32) and without it (--border-margins).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
import vapoursynth as vs

import vsstylize
from vsstylize_bench.monitor import PeakMemory
from vsstylize_bench.sources import shared_file


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", default=shared_file("videos/bikes.mp4"), help="clip (default bikes.mp4 of $VSSTYLIZE_SHARED)")
    p.add_argument("--sizes", default="640x360", help="comma-separated WxH, e.g. 640x360,1024x436,1920x1080")
    p.add_argument("--style", default="starry_night")
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", help="torch device (default: cuda when available)")
    p.add_argument("--methods", default="flowfree,network")
    p.add_argument("--border-margins", default="32,0", help="border_margin values to time (32: the default, 0: none)")
    args = p.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    core = vs.core
    src = core.bs.VideoSource(args.clip)
    while src.num_frames < args.frames + args.warmup:
        src = src + src
    src = src[: args.frames + args.warmup]
    models = {"flowfree": f"{args.style}-flowfree", "network": f"{args.style}-prior"}
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device {device}, {torch.get_num_threads()} torch threads, clip {Path(args.clip).name}")
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        clip = core.resize.Bicubic(src, w, h)
        for method, margin in ((m, int(b)) for m in args.methods.split(",") for b in args.border_margins.split(",")):
            out = vsstylize.stylize(clip, method=method, network=models[method], device=device,  # YUV420P8 back
                                    border_margin=margin)
            for n in range(args.warmup):
                out.get_frame(n)
            with PeakMemory() as mem:
                t = time.perf_counter()
                for n in range(args.warmup, out.num_frames):
                    out.get_frame(n)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                dt = (time.perf_counter() - t) / args.frames
            rss = mem.peak_rss_delta_bytes
            print(f"{size} {method:9s} margin {margin:2d} {1 / dt:7.2f} frames/s  {dt:.3f} s/frame  "
                  f"(peak RSS +{(rss or 0) / 2**20:.0f} MiB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
