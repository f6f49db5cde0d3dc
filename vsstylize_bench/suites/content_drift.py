"""Content and style loss of the optimization chain relative to per-frame processing, per frame, for several
iteration budgets (Ruder et al. 2018 Table 5 measure; the ``vsstylize bench`` report gives the mean only).

For each ``first,later`` budget, one generated sequence is stylized twice: the chain (``init image,prevWarped``
with the temporal loss: the report's ``temporal_image`` setting, its ``temporal`` under ``--first-init
image``) and per-frame processing as converged as the chain (frame ``t`` from the content image with
``first + t * later`` iterations, the report's ``image_matched`` reference). Printed per frame: the content
and style loss ratios (1 = as per-frame), the weighted objective ``alpha L_content + beta L_style`` ratio,
and the wall time of both runs.

Usage: ``python -m vsstylize_bench content_drift --preset fast_pan_zoom --width 256 --budgets 40,10 20,28``
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from vsstylize.methods.style import load_styles
from vsstylize.optim.losses import ARTISTIC_VIDEOS_WEIGHTS, StyleTarget
from vsstylize.optim.vgg import load_loss_network
from vsstylize.train.sequences import make_sequence
from vsstylize_bench.config import DEFAULT_STYLE, SETTINGS, BenchInputError, parse_iterations
from vsstylize_bench.metrics import relative_losses
from vsstylize_bench.runner import stylize_sequence
from vsstylize_bench.sources import default_photos, shared_file

#: the report's chain with the temporal loss started from the content image, and its per-frame reference
CHAIN, REFERENCE = SETTINGS["temporal_image"], SETTINGS["image_matched"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="fast_pan_zoom")
    parser.add_argument("--image", default=shared_file("content/tubingen.jpg"),
                        help="background photo (default $VSSTYLIZE_SHARED/data/content/tubingen.jpg)")
    parser.add_argument("--style", default=str(DEFAULT_STYLE))
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budgets", nargs="+", default=["40,10", "40,20"], help="first,later iterations")
    args = parser.parse_args()
    try:
        budgets = [(text, parse_iterations(text, "--budgets")) for text in args.budgets]
    except BenchInputError as exc:
        parser.error(str(exc))
    if args.image is None:
        parser.error("--image: no background photo (pass --image or set VSSTYLIZE_SHARED)")
    warnings.filterwarnings("ignore", category=UserWarning)
    w, h = args.width, args.width * 3 // 4
    seq = make_sequence(args.preset, args.image, num_frames=args.frames, size=(w, h), seed=args.seed,
                        photos=default_photos())
    net = load_loss_network("vgg19")
    target = StyleTarget(net, load_styles("bench", args.style), (h, w))
    alpha, beta = ARTISTIC_VIDEOS_WEIGHTS.content, ARTISTIC_VIDEOS_WEIGHTS.style
    print(f"{args.preset} {w}x{h}, {args.frames} frames, style {args.style}, loss network {net.weights_name}", flush=True)
    for budget, iterations in budgets:
        common = {"num_iterations": iterations, "seed": args.seed, "tol_loss_relative": 1e-4}
        t0 = time.perf_counter()
        chain, _ = stylize_sequence(seq, args.style, {**common, **CHAIN})
        t1 = time.perf_counter()
        per_frame, _ = stylize_sequence(seq, args.style, {**common, **REFERENCE})
        t2 = time.perf_counter()
        rel = relative_losses(chain, per_frame, seq.frames, net, target)
        objective = ((alpha * rel.content_stylized + beta * rel.style_stylized)
                     / (alpha * rel.content_baseline + beta * rel.style_baseline))
        print(f"{budget}: chain {t1 - t0:.0f} s, per-frame {t2 - t1:.0f} s; mean content {rel.content:.3f}, "
              f"style {rel.style:.3f}, objective {np.mean(objective):.3f}", flush=True)
        for name, values in (("content", rel.content_per_frame), ("style", rel.style_per_frame), ("objective", objective)):
            print(f"  {name:9s} per frame: " + " ".join(f"{v:.3f}" for v in values), flush=True)


if __name__ == "__main__":
    main()
