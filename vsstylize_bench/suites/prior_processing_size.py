#!/usr/bin/env python
"""Where should the prior-image network's recursion run when the network runs at a processing size
(:mod:`vsstylize.networks.scale`)? Three variants of Ruder et al. 2018 eq. 15 on a generated sequence with
exact flow, at a frame size larger than the processing size:

* ``full``: today's behaviour, the network at the frame size (strokes shrink with the resolution);
* ``prior-full``: the recursion at the frame size: the previous *full-size* output is warped with the
  full-size flow, and frame, masked prior and mask are reduced to the processing size for the network,
  whose output is enlarged (guided upsampling) — every frame's output goes through reduce/enlarge again;
* ``prior-small``: the recursion at the processing size: the network's previous *processing-size* output is
  warped with the flow reduced to that size (vectors scaled), the mask reduced likewise; the network's output
  is kept at that size for the next frame and only the displayed frame is enlarged.

Measures on the displayed (full-size) frames: short-term temporal error (Ruder Table 2, exact flow and
mask), stroke texture energy (variance of :func:`~vsstylize.networks.measures.texture_residual`) of the
last frame relative to the first (drift: blur or sharpening accumulated along the chain), mean texture
period relative to the height, CPU seconds per frame. All variants use the inference border fix
(:func:`~vsstylize.networks.inference.run_with_margin` with its defaults).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vsstylize.media.cache import atomic_write
from vsstylize.networks.inference import run_with_margin
from vsstylize.networks.io import load_network
from vsstylize.networks.measures import texture_period, texture_residual
from vsstylize.networks.models import StylizationNetwork, network_input
from vsstylize.networks.scale import (
    processing_size,
    stylize_at_scale,
    upsample_stylized,
)
from vsstylize.opticalflow.warping import inside_mask, warp
from vsstylize.train.sequences import make_sequence
from vsstylize_bench.metrics import temporal_error

REPO = Path(__file__).resolve().parents[2]


def run_variant(net: StylizationNetwork, variant: str, frames: np.ndarray, flows: np.ndarray, masks: np.ndarray,
                stroke_scale: float) -> tuple[np.ndarray, float]:
    """Displayed frames ``(T, 3, H, W)`` of one variant and its CPU seconds per frame."""
    plain = lambda x: run_with_margin(net, x)
    h, w = frames.shape[-2:]
    size = processing_size(h, w, stroke_scale)
    shown: list[np.ndarray] = []
    previous: torch.Tensor | None = None  # the recursion's previous output (full or processing size)
    seconds = 0.0
    with torch.inference_mode():
        for t, f in enumerate(frames):
            x = torch.from_numpy(f)[None]
            start = time.process_time()
            flow = torch.from_numpy(flows[t])[None]
            mask = torch.from_numpy(masks[t])[None, None] * inside_mask(flow)
            if variant == "full":
                inp = network_input(x) if previous is None else network_input(x, warp(previous, flow), mask)
                out = previous = plain(inp)
            elif variant == "prior-full":
                inp = network_input(x) if previous is None else network_input(x, warp(previous, flow), mask)
                out = previous = stylize_at_scale(plain, inp, stroke_scale)
            elif variant == "prior-small":
                small = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
                if previous is None:
                    inp = network_input(small)
                else:
                    scale = torch.tensor([size[1] / w, size[0] / h]).view(1, 2, 1, 1)
                    small_flow = F.interpolate(flow, size=size, mode="area") * scale
                    small_mask = (F.interpolate(mask, size=size, mode="area") > 0.999).float() * inside_mask(small_flow)
                    inp = network_input(small, warp(previous, small_flow), small_mask)
                previous = plain(inp)
                out = upsample_stylized(previous, x)
            else:
                raise ValueError(f"variant: unknown {variant!r}")
            seconds += time.process_time() - start
            shown.append(out[0].numpy())
    return np.stack(shown), seconds / len(frames)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--networks", nargs="*", default=["starry_night-prior", "the_scream-prior"])
    p.add_argument("--preset", default="slow_pan")
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--size", default="1280x720", help="WxH of the frames (default 1280x720)")
    p.add_argument("--stroke-scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="JSON file of the results")
    args = p.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        p.error(f"--size: expected WxH, got {args.size!r}")
    if args.frames < 2:
        p.error(f"--frames: at least 2, got {args.frames}")
    torch.set_num_threads(args.threads)
    seq = make_sequence(args.preset, num_frames=args.frames, size=(w, h), seed=args.seed, long_steps=())
    results = []
    for name in args.networks:
        net, _ = load_network(name, "prior")
        for variant in ("full", "prior-full", "prior-small"):
            shown, spf = run_variant(net, variant, seq.frames, seq.flow_backward, seq.mask_backward, args.stroke_scale)
            err = temporal_error(shown, seq.flow_backward, seq.mask_backward)
            energy = texture_residual(shown[[0, -1]], seq.frames[[0, -1]]).var(axis=(1, 2))
            tp = texture_period(shown[-1], seq.frames[-1])
            row = {"network": name, "variant": variant, "temporal_error": float(np.nanmean(err)),
                   "temporal_error_last": float(err[-1]), "texture_energy_last_over_first": float(energy[1] / energy[0]),
                   "mean_period_rel_last": tp.mean_rel, "seconds_per_frame": spf}
            results.append(row)
            print(f"{name:22s} {variant:12s} temporal error {row['temporal_error']:.5f} (last {row['temporal_error_last']:.5f})"
                  f"  texture energy last/first {row['texture_energy_last_over_first']:.3f}"
                  f"  mean period {tp.mean_rel * 1000:.2f}/1000 H  {spf:.2f} s/frame (CPU)", flush=True)
    if args.out is not None:
        atomic_write(args.out, lambda tmp: tmp.write_text(json.dumps(
            {"command": " ".join(sys.argv), "sequence": seq.name, "size": [w, h], "results": results}, indent=1) + "\n"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
