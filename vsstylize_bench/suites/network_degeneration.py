#!/usr/bin/env python
"""Degeneration over time of prior-image networks (Ruder et al. 2018 Table 5, per frame).

For each given prior-image network (``stylize(method="network")``, recursive over the frames) on generated
sequences (the methods see DIS flow; temporal error with the exact flow) prints the mean temporal error and,
per frame, the content and style loss relative to the per-frame image network (``--image``) — a network that
degenerates over time shows ratios that grow with the frame index.

Example::

    python -m vsstylize_bench network_degeneration starry_night-prior
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np

from vsstylize.resources import shipped_styles
from vsstylize.train.sequences import make_sequence
from vsstylize_bench.runner import add_relative_losses, evaluate
from vsstylize_bench.sources import default_photos


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("networks", nargs="+", help="prior-image model files or shipped names")
    p.add_argument("--image", default="starry_night-image", help="per-frame image network (the baseline)")
    p.add_argument("--style-image", default=str(shipped_styles()["starry_night"]))
    p.add_argument("--sequences", default="slow_pan,fast_pan_zoom,large_occluder")
    p.add_argument("--size", default="256x192")
    p.add_argument("--frames", type=int, default=5)
    args = p.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    w, h = (int(v) for v in args.size.split("x"))
    methods = {"image": {"method": "flowfree", "network": args.image}}
    methods.update({n: {"method": "network", "network": n} for n in args.networks})
    for i, preset in enumerate(args.sequences.split(",")):
        seq = make_sequence(preset, num_frames=args.frames, size=(w, h), seed=i, photos=default_photos())
        res = evaluate(seq, args.style_image, methods)
        relative = add_relative_losses(res, seq.frames, args.style_image, baseline="image", model="vgg16")
        for name, r in res.items():
            style = np.round(relative[name].style_per_frame, 2)
            content = np.round(relative[name].content_per_frame, 2)
            print(f"{seq.name} {name}: temporal error {r.mean_temporal_error:.5f}; per frame style {style.tolist()} "
                  f"content {content.tolist()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
