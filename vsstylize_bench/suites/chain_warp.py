"""Content loss and temporal error of the optimization chain for each ``warp_interpolation`` (issue 20, point 2).

For each generated sequence (``make_sequence(preset, photo, num_frames, (w, 3w/4), seed)``, as ``vsstylize bench``
makes them), the chain (the bench's ``temporal_image`` setting: ``init image,prevWarped`` with the temporal
loss, Ruder et al. 2018 eq. 9) is stylized once per warp interpolation of the previous result (the init and the
temporal-loss target of every later frame), and per-frame processing once as the reference (the bench's
``image_matched``: frame ``t`` from the content image with ``first + t * later`` iterations, as converged as the
chain). Printed and written to ``--json``, per sequence and interpolation:

* the content and style loss relative to the reference (Ruder et al. 2018 Table 5; mean over frames, frame 0 is
  the same image in all runs, so its ratio is 1), and per frame;
* the short-term temporal error against the sequence's ground-truth flow and disocclusion mask (Ruder's
  measure, :func:`vsstylize_bench.metrics.temporal_error`; the metric itself warps bilinearly for every run);
* the wall time of each run.

Usage::

    python -m vsstylize_bench chain_warp --width 256 --frames 4 --iterations 100,100 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from vsstylize.methods.style import load_styles
from vsstylize.optim.losses import StyleTarget
from vsstylize.optim.vgg import load_loss_network
from vsstylize.train.sequences import make_sequence
from vsstylize_bench import metrics
from vsstylize_bench.config import DEFAULT_STYLE, SETTINGS, BenchInputError, parse_iterations
from vsstylize_bench.machine import machine
from vsstylize_bench.runner import stylize_sequence
from vsstylize_bench.sources import default_photos, shared_file

CHAIN, REFERENCE = SETTINGS["temporal_image"], SETTINGS["image_matched"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="slow_pan,fast_pan_zoom,large_occluder")
    parser.add_argument("--image", default=shared_file("content/tubingen.jpg"),
                        help="background photo (default $VSSTYLIZE_SHARED/data/content/tubingen.jpg)")
    parser.add_argument("--style", default=str(DEFAULT_STYLE))
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--iterations", default="100,100", help="first,later iterations")
    parser.add_argument("--modes", default="bilinear,bicubic", help="warp_interpolation values to compare")
    parser.add_argument("--model", default="vgg16", help="loss network of the runs and of the measure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the numbers here")
    args = parser.parse_args()
    try:
        iterations = parse_iterations(args.iterations, "--iterations")
    except BenchInputError as exc:
        parser.error(str(exc))
    if args.image is None:
        parser.error("--image: no background photo (pass --image or set VSSTYLIZE_SHARED)")
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    w, h = args.width, args.width * 3 // 4
    net = load_loss_network(args.model)
    target = StyleTarget(net, load_styles("bench", args.style), (h, w))
    modes = args.modes.split(",")
    out: dict = {"command": "python -m vsstylize_bench chain_warp " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "json"),
        "machine": machine(), "torch_threads": torch.get_num_threads(), "loss_network": net.weights_name,
        "sequences": {}}
    print(f"{w}x{h}, {args.frames} frames, iterations {iterations}, loss network {args.model} {net.weights_name}",
          flush=True)
    with tempfile.TemporaryDirectory() as cache:
        common = {"num_iterations": iterations, "seed": args.seed, "tol_loss_relative": 1e-4, "model": args.model,
                  "cache_dir": cache}
        for preset in args.presets.split(","):
            seq = make_sequence(preset, args.image, num_frames=args.frames, size=(w, h), seed=args.seed,
                                photos=default_photos())
            t0 = time.perf_counter()
            reference, _ = stylize_sequence(seq, args.style, {**common, **REFERENCE})
            ref_s = time.perf_counter() - t0
            rows = {"reference_seconds": ref_s,
                    "reference_temporal_error": float(np.mean(metrics.temporal_error(
                        reference, seq.flow_backward, seq.mask_backward)))}
            for mode in modes:
                t0 = time.perf_counter()
                chain, _ = stylize_sequence(seq, args.style, {**common, **CHAIN, "warp_interpolation": mode})
                seconds = time.perf_counter() - t0
                rel = metrics.relative_losses(chain, reference, seq.frames, net, target)
                err = metrics.temporal_error(chain, seq.flow_backward, seq.mask_backward)
                rows[mode] = {"content": rel.content, "style": rel.style,
                              "content_per_frame": rel.content_per_frame.tolist(),
                              "style_per_frame": rel.style_per_frame.tolist(),
                              "temporal_error": float(np.mean(err)), "temporal_error_per_frame": err.tolist(),
                              "seconds": seconds}
                print(f"{preset} {mode}: content {100 * rel.content:.1f} % of per-frame (frames "
                      + " ".join(f"{v:.3f}" for v in rel.content_per_frame) + f"), style {100 * rel.style:.1f} %, "
                      f"temporal error {float(np.mean(err)):.5f}, chain {seconds:.0f} s (per-frame {ref_s:.0f} s)",
                      flush=True)
            out["sequences"][preset] = rows
            if args.json:
                Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
