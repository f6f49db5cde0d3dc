#!/usr/bin/env python
"""Border artifacts and texture scale of the shipped stylization networks (issue "The editor's workflow",
points 3 and 4); measures in :mod:`vsstylize.networks.measures`.

For every network, on the real clip ``bikes.mp4`` (several frames) and a generated sequence
(:func:`vsstylize.bench.sequences.make_sequence`), at each size (default 640x360 and 1280x720):

* the content is rendered on a *canvas* larger than the frame by ``H * 32 / 360`` pixels on every side
  (bikes resized to the canvas with ``resize.Bicubic``, matrix 709; the sequence rendered at the 1280x720
  canvas and reduced with ``INTER_AREA`` for smaller sizes, so every size shows the same content); the
  *frame* is the canvas's central ``W x H``;
* the network stylizes the frame (the measured output) and the canvas (the *interior reference*: the same
  method at the same pixels when they are not at the network's border, cropped to the frame);
* border: per side the ratio of the outer 4 rows/columns' mean luma to the next 4 (``raw``), that ratio over
  the content's (``vs content``), and over the interior reference's (``vs interior``: the edge artifact, the
  criterion ``|deviation| <= 3 %``); the table shows the worst side and which; ``--recursive`` adds prior-image
  networks run recursively on the generated sequence with its exact flow (prior = previous output warped,
  masked by the ground-truth reliability and ``inside_mask`` of the frame);
* texture: :func:`~vsstylize.networks.measures.texture_period` of the stylized bikes frames (content luma as
  guide), dominant and mean period in pixels and relative to the frame height;
* CPU time per frame of the measured run (process time, one thread unless ``--threads``: on a shared
  machine wall time is not reproducible).

Prior-image networks run in their image mode (empty prior) unless ``--recursive``. ``--margin``/``--pad``
select the inference border fix (:func:`vsstylize.networks.inference.run_with_margin`), ``--stroke-scale``
the processing size (:func:`vsstylize.networks.scale.stylize_at_scale`). Writes ``results.json`` and
``report.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from vsstylize.media.cache import atomic_write
from vsstylize.networks.inference import run_with_margin
from vsstylize.networks.io import load_network
from vsstylize.networks.measures import (
    SIDES,
    border_deviation,
    border_ratios,
    texture_period,
)
from vsstylize.networks.models import StylizationNetwork, network_input
from vsstylize.networks.scale import REFERENCE_HEIGHT, stylize_at_scale
from vsstylize.opticalflow.warping import inside_mask, warp
from vsstylize.resources import shipped_models
from vsstylize_bench.sources import default_photos, shared_data

#: ``method(net, x, frame_height)``: the network's output for input ``x``; ``frame_height`` is the height of the
#: measured frame (the canvas run keeps the frame's processing scale).
Method = Callable[[StylizationNetwork, torch.Tensor, int], torch.Tensor]
#: The shared data folder (``$VSSTYLIZE_SHARED/data``).
DATA = shared_data() or Path("/work/shared/data")


def canvas_margin(height: int) -> int:
    """Canvas margin in pixels for frames of ``height`` (32 at 360 lines; a multiple of 4)."""
    return 4 * max(1, round(height * 8 / 360))


def load_bikes(path: Path, size: tuple[int, int], frames: list[int]) -> np.ndarray:
    """Frames of the clip on the canvas of ``size`` = ``(W, H)``: ``(N, 3, H + 2m, W + 2m)`` RGB in [0, 1]."""
    import vapoursynth as vs

    w, h = size
    m = canvas_margin(h)
    clip = vs.core.bs.VideoSource(str(path))
    clip = vs.core.resize.Bicubic(clip, w + 2 * m, h + 2 * m, format=vs.RGBS, matrix_in_s="709")
    out = [np.stack([np.asarray(clip.get_frame(n)[p]) for p in range(3)]) for n in frames]
    return np.clip(np.stack(out).astype(np.float32), 0.0, 1.0)


def load_generated(preset: str, size: tuple[int, int], num_frames: int,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A generated sequence on the canvas of ``size``: ``frames (T, 3, H', W')``, backward ``flows (T, 2, H', W')``
    in canvas pixels, ``masks (T, 1, H', W')``; rendered at the 1280x720 canvas and reduced (INTER_AREA,
    flow scaled with the size) for other sizes, so every size shows the same content."""
    from vsstylize.train.sequences import make_sequence

    w, h = size
    m = canvas_margin(h)
    big_m = canvas_margin(720)
    seq = make_sequence(preset, num_frames=num_frames, size=(1280 + 2 * big_m, 720 + 2 * big_m), seed=seed, long_steps=(),
                        photos=default_photos())
    cw, ch = w + 2 * m, h + 2 * m
    if (cw, ch) == seq.frames.shape[:1:-1]:
        return seq.frames, seq.flow_backward, seq.mask_backward[:, None]
    fx, fy = cw / seq.frames.shape[-1], ch / seq.frames.shape[-2]
    rs = lambda a, interp: cv2.resize(a.transpose(1, 2, 0), (cw, ch), interpolation=interp).reshape(ch, cw, -1).transpose(2, 0, 1)
    frames = np.stack([rs(f, cv2.INTER_AREA) for f in seq.frames])
    flows = np.stack([rs(f, cv2.INTER_AREA) * np.array([fx, fy], np.float32)[:, None, None] for f in seq.flow_backward])
    masks = np.stack([(rs(k[None], cv2.INTER_AREA) > 0.999).astype(np.float32) for k in seq.mask_backward])
    return frames.astype(np.float32), flows.astype(np.float32), masks


def crop(a: np.ndarray, m: int) -> np.ndarray:
    return a[..., m:a.shape[-2] - m, m:a.shape[-1] - m]


def reference_shift(height: int) -> int:
    """Shift in pixels of the second interior reference (4 at 360 lines: the networks' stride-4 grid kept)."""
    return 4 * max(1, round(height / 360))


def shifted(a: np.ndarray, s: int) -> np.ndarray:
    """The canvas without its first ``s`` rows and columns: the frame sits ``s`` px nearer the canvas's top-left
    corner (``crop_shifted`` takes it out)."""
    return a[..., s:, s:]


def crop_shifted(a: np.ndarray, m: int, s: int) -> np.ndarray:
    return a[..., m - s:a.shape[-2] - m, m - s:a.shape[-1] - m]


def make_method(margin: int | None, pad: str, stroke_scale: float | None, upsampling: str = "guided",
                frame_statistics: bool = True) -> Method:
    """The inference under test: plain network, border fix (with the frame's or the padded canvas's
    normalisation statistics), processing size (see the module docstring)."""
    def method(net: StylizationNetwork, x: torch.Tensor, frame_height: int) -> torch.Tensor:
        def plain(inp: torch.Tensor) -> torch.Tensor:
            if margin is None:
                return net(inp)
            return run_with_margin(net, inp, margin, pad, frame_statistics)  # type: ignore[arg-type]
        if stroke_scale is None:
            return plain(x)
        reference = round(REFERENCE_HEIGHT * x.shape[-2] / frame_height)
        return stylize_at_scale(plain, x, stroke_scale=stroke_scale, upsampling=upsampling,
                                reference_height=reference)
    return method


def stylize_frames(net: StylizationNetwork, frames: np.ndarray, method: Method, frame_height: int) -> tuple[np.ndarray, float]:
    """Per-frame stylization (prior-image networks with an empty prior); returns the outputs and s/frame."""
    out, seconds = [], 0.0
    with torch.inference_mode():
        for f in frames:
            x = torch.from_numpy(f)[None]
            x = network_input(x) if net.spec.kind == "prior" else x
            t = time.process_time()
            out.append(method(net, x, frame_height)[0].numpy())
            seconds += time.process_time() - t
    return np.stack(out), seconds / len(frames)


def stylize_recursive(net: StylizationNetwork, frames: np.ndarray, flows: np.ndarray, masks: np.ndarray,
                      method: Method, frame_height: int) -> np.ndarray:
    """The prior-image network along the sequence (Ruder eq. 15) with the given backward flow and mask."""
    out: list[np.ndarray] = []
    with torch.inference_mode():
        for t, f in enumerate(frames):
            x = torch.from_numpy(f)[None]
            if t == 0:
                inp = network_input(x)
            else:
                flow = torch.from_numpy(flows[t])[None]
                mask = torch.from_numpy(masks[t])[None] * inside_mask(flow)
                inp = network_input(x, warp(torch.from_numpy(out[-1])[None], flow), mask)
            out.append(method(net, inp, frame_height)[0].numpy())
    return np.stack(out)


def border_summary(out: np.ndarray, content: np.ndarray, reference: np.ndarray,
                   reference2: np.ndarray | None = None) -> dict[str, object]:
    """Border measures of ``out`` (``(N, 3, H, W)``) against the content and the interior reference;
    ``reference2``: a second, equally valid interior reference (the canvas shifted by :func:`reference_shift`):
    the deviation between the two references is the reference's own noise (``noise``, per side), ``worst_both`` the
    output's worst deviation against the mean of both references' ratios; ``worst_se``: the standard error of the
    worst side's deviation over the frames (the sampling noise of the pooled measure)."""
    raw = border_ratios(out)
    vs_content = border_deviation(out, content)
    vs_interior = border_deviation(out, reference)
    worst = max(SIDES, key=lambda s: abs(vs_interior[s]))
    red = border_deviation(out, reference, channel="red")
    per_frame = [border_deviation(o, r)[worst] for o, r in zip(out, reference, strict=True)]
    row: dict[str, object] = {"raw": raw, "vs_content": vs_content, "vs_interior": vs_interior, "worst_side": worst,
                              "worst": vs_interior[worst], "worst_red": max(red.values(), key=abs),
                              # the spread of the worst side's deviation over the frames: its standard error
                              "worst_se": float(np.std(per_frame, ddof=1) / np.sqrt(len(per_frame)))
                              if len(per_frame) > 1 else float("nan")}
    if reference2 is not None:
        noise = border_deviation(reference2, reference)
        r1, r2 = border_ratios(reference), border_ratios(reference2)
        vs_both = {k: raw[k] / (0.5 * (r1[k] + r2[k])) - 1.0 for k in SIDES}
        row.update(noise=noise, noise_worst=max(noise.values(), key=abs), vs_interior2=border_deviation(out, reference2),
                   vs_both=vs_both, worst_both=max(vs_both.values(), key=abs))
    return row


def measure(names: list[str], sizes: list[tuple[int, int]], bikes_frames: list[int], preset: str, seq_frames: int,
            seeds: list[int], method: Method, recursive: bool, plain: Method | None = None,
            period_only: bool = False, recursive_only: bool = False) -> list[dict[str, object]]:
    """The rows of the report; ``plain``: the method without the fix, to measure the change in the interior;
    ``period_only``: the texture period of the frames alone (no references, no border measures);
    ``recursive_only``: only the recursive rows of the prior-image networks."""
    rows: list[dict[str, object]] = []
    for size in sizes:
        w, h = size
        m = canvas_margin(h)
        sh = reference_shift(h)
        bikes = load_bikes(DATA / "videos" / "bikes.mp4", size, bikes_frames)
        generated = [load_generated(preset, size, seq_frames, seed) for seed in seeds]
        gen = np.concatenate([g[0] for g in generated])
        sources = {"bikes": bikes, preset: gen}
        for name in names:
            net, _card = load_network(name)
            for src, canvas in ({} if recursive_only else sources).items():
                content = crop(canvas, m)
                out, spf = stylize_frames(net, content, method, h)
                row: dict[str, object] = {"network": name, "arch": net.spec.arch, "source": src, "mode": "per-frame",
                                          "size": f"{w}x{h}", "seconds_per_frame": spf}
                if not period_only:
                    ref, _ = stylize_frames(net, canvas, method, h)
                    ref2, _ = stylize_frames(net, shifted(canvas, sh), method, h)
                    row.update(border_summary(out, content, crop(ref, m), crop_shifted(ref2, m, sh)))
                if plain is not None:  # what the fix changes away from the border (>= m px inside)
                    base, base_spf = stylize_frames(net, content, plain, h)
                    diff = np.abs(crop(out, m) - crop(base, m)) * 255.0
                    row.update(interior_change_mean=float(diff.mean()), interior_change_p99=float(np.percentile(diff, 99)),
                               plain_seconds_per_frame=base_spf)
                tp = texture_period(out, content)
                row.update(period_px=tp.dominant_px, period_rel=tp.dominant_rel, mean_period_px=tp.mean_px,
                           mean_period_rel=tp.mean_rel)
                rows.append(row)
                print(_line(row), flush=True)
            if (recursive or recursive_only) and not period_only and net.spec.kind == "prior":
                out = np.concatenate([stylize_recursive(net, crop(g, m), crop(f, m), crop(k, m), method, h)
                                      for g, f, k in generated])
                ref = np.concatenate([crop(stylize_recursive(net, g, f, k, method, h), m) for g, f, k in generated])
                ref2 = np.concatenate([crop_shifted(stylize_recursive(net, shifted(g, sh), shifted(f, sh), shifted(k, sh),
                                                                      method, h), m, sh) for g, f, k in generated])
                row = {"network": name, "arch": net.spec.arch, "source": preset, "mode": "recursive", "size": f"{w}x{h}",
                       **border_summary(out, crop(gen, m), ref, ref2)}
                rows.append(row)
                print(_line(row), flush=True)
    return rows


def _line(r: dict[str, object]) -> str:
    s = f"{r['network']:26s} {r['source']:9s} {r['mode']:9s} {r['size']:9s}"
    if "vs_interior" in r:
        vi, vc = r["vs_interior"], r["vs_content"]
        s += (" border vs interior " + " ".join(f"{k[0]}{vi[k] * 100:+5.1f}" for k in SIDES)  # type: ignore[index]
              + "  vs content " + " ".join(f"{k[0]}{vc[k] * 100:+5.1f}" for k in SIDES))  # type: ignore[index]
    if "noise_worst" in r:
        s += f"  noise {r['noise_worst'] * 100:+5.1f}  vs both {r['worst_both'] * 100:+5.1f}"  # type: ignore[operator]
    if "period_px" in r:
        s += (f"  period {r['period_px']:5.2f} px ({r['period_rel'] * 1000:5.2f}/1000 H), mean {r['mean_period_px']:5.2f} px "
              f"({r['mean_period_rel'] * 1000:5.2f}/1000 H)  {r['seconds_per_frame']:.2f} s/frame")
    return s


def _pct(v: object) -> str:
    return f"{float(v) * 100:+.1f}"  # type: ignore[arg-type]


def period_ratios(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Per network and source: the texture period relative to the frame height at the smallest size over that at
    the largest (1 = the same strokes relative to the frame)."""
    out = []
    keys = sorted({(str(r["network"]), str(r["source"])) for r in rows if "period_rel" in r})
    for net, src in keys:
        sized = sorted((int(str(r["size"]).split("x")[1]), r) for r in rows
                       if r["network"] == net and r["source"] == src and "period_rel" in r)
        if len(sized) < 2:
            continue
        (_, a), (_, b) = sized[0], sized[-1]
        out.append({"network": net, "source": src, "sizes": f"{a['size']} / {b['size']}",
                    "dominant": float(a["period_rel"]) / float(b["period_rel"]),  # type: ignore[arg-type]
                    "mean": float(a["mean_period_rel"]) / float(b["mean_period_rel"])})  # type: ignore[arg-type]
    return out


def report(rows: list[dict[str, object]], args: argparse.Namespace) -> str:
    lines = ["# Network output: border artifacts and texture period", "",
             f"Command: `python -m vsstylize_bench network_output {' '.join(sys.argv[1:])}`  ",
             f"Machine: {platform.machine()}, {args.threads} thread(s), torch {torch.__version__}", ""]
    border = [r for r in rows if "vs_interior" in r]
    if border:
        lines += [("Border: deviation in % of the outer 4 rows/columns' luma ratio (outer 4 / next 4) from the interior "
                   "reference's, per side (criterion |.| <= 3 %). `noise`: the worst side's deviation between the two "
                   "interior references (canvas centred, canvas shifted by 4 px at 360 lines): the reference's own noise. "
                   "`vs both`: worst deviation from the mean of both references' ratios. `worst ± SE`: the worst side and the "
                   "standard error of its per-frame deviations (sampling noise of the pooled value). `vs content`: worst "
                   "deviation from the content's ratio; `red`: worst red-channel deviation vs interior. Interior change: mean "
                   "(99th percentile) absolute difference to the plain network more than the canvas margin inside the "
                   "frame, in 1/255."), "",
                  "| network | source | mode | size | top | bottom | left | right | worst ± SE | noise | vs both | vs content "
                  "| red | interior change /255 (p99) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in border:
            vi = r["vs_interior"]
            cells = [str(r["network"]), str(r["source"]), str(r["mode"]), str(r["size"])]
            cells += [_pct(vi[k]) for k in SIDES]  # type: ignore[index]
            cells.append(f"{_pct(r['worst'])} ± {float(r['worst_se']) * 100:.1f}")  # type: ignore[arg-type]
            cells += [_pct(r["noise_worst"]), _pct(r["worst_both"])] if "noise_worst" in r else ["", ""]
            cells += [_pct(max(r["vs_content"].values(), key=abs)), _pct(r["worst_red"])]  # type: ignore[union-attr]
            cells.append(f"{r['interior_change_mean']:.2f} ({r['interior_change_p99']:.1f})"
                         if "interior_change_mean" in r else "")
            lines.append("| " + " | ".join(cells) + " |")
        worst = max(border, key=lambda r: abs(r["worst"]))  # type: ignore[arg-type]
        within = sum(abs(r["worst"]) <= 0.03 for r in border)  # type: ignore[arg-type]
        lines += ["", (f"Worst border deviation vs interior: {_pct(worst['worst'])} % ({worst['network']}, "
                       f"{worst['source']}, {worst['mode']}, {worst['size']}, {worst['worst_side']}); "
                       f"{within}/{len(border)} rows within 3 %.")]
        if all("noise_worst" in r for r in border):
            noisy = max(border, key=lambda r: abs(r["noise_worst"]))  # type: ignore[arg-type]
            both = sum(abs(r["worst_both"]) <= 0.03 for r in border)  # type: ignore[arg-type]
            lines += [f"Noise floor (worst deviation between the two interior references): {_pct(noisy['noise_worst'])} % "
                      f"({noisy['network']}, {noisy['source']}, {noisy['mode']}, {noisy['size']}); "
                      f"{both}/{len(border)} rows within 3 % of the mean of both references."]
        lines.append("")
    lines += ["Texture: dominant and mean period of the stroke texture (px, and per 1000 px of frame height); s/frame: "
              "CPU seconds per frame of the measured run.", "",
              "| network | source | size | period px | period /1000H | mean px | mean /1000H | s/frame |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "period_px" in r:
            lines.append(f"| {r['network']} | {r['source']} | {r['size']} | {r['period_px']:.2f} | "
                         f"{r['period_rel'] * 1000:.2f} | {r['mean_period_px']:.2f} | {r['mean_period_rel'] * 1000:.2f} | "
                         f"{r['seconds_per_frame']:.2f} |")
    ratios = period_ratios(rows)
    if ratios:
        lines += ["", "Period relative to the frame height, smallest size over largest (1.00: the same strokes relative "
                  "to the frame; criterion within 20 %):", "",
                  "| network | source | sizes | dominant | mean |", "|---|---|---|---|---|"]
        lines += [f"| {q['network']} | {q['source']} | {q['sizes']} | {q['dominant']:.2f} | {q['mean']:.2f} |"
                  for q in ratios]
    return "\n".join(lines) + "\n"


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes: expected WxH, got {text!r}") from None
    if w < 64 or h < 64:
        raise argparse.ArgumentTypeError(f"--sizes: at least 64x64, got {text!r}")
    return w, h


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--networks", nargs="*", help="model names (default: every model in models/)")
    p.add_argument("--sizes", type=lambda s: [_size(v) for v in s.split(",")], default=[(640, 360), (1280, 720)],
                   help="comma-separated WxH (default 640x360,1280x720)")
    p.add_argument("--bikes-frames", type=lambda s: [int(v) for v in s.split(",")], default=list(range(0, 250, 25)),
                   help="frames of bikes.mp4 (default every 25th: 10 frames)")
    p.add_argument("--sequence", default="slow_pan", help="make_sequence preset (default slow_pan)")
    p.add_argument("--sequence-frames", type=int, default=5)
    p.add_argument("--sequence-seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1],
                   help="seeds of the generated sequences (default 0,1: two slow pans over different photos)")
    p.add_argument("--margin", type=int, default=None, help="border fix: margin in px (default: none, the plain network)")
    p.add_argument("--pad", choices=("reflect", "replicate", "antireflect"), default="reflect", help="fill of the margin")
    p.add_argument("--statistics", choices=("frame", "padded"), default="frame",
                   help="instance normalisation statistics of a margin run: the frame's region (default) or the padded input")
    p.add_argument("--stroke-scale", type=float, default=None,
                   help="run the network at the processing size of this stroke scale (default: full size)")
    p.add_argument("--upsampling", choices=("guided", "joint_bilateral", "bicubic"), default="guided",
                   help="enlargement of the processing-size result (with --stroke-scale)")
    p.add_argument("--recursive", action="store_true", help="also prior-image networks recursively on the sequence")
    p.add_argument("--recursive-only", action="store_true", help="only the recursive rows (prior-image networks)")
    p.add_argument("--period-only", action="store_true", help="only the texture period of the frames (no references)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="folder for results.json and report.md")
    args = p.parse_args(argv)
    if args.margin is not None and args.margin < 0:
        p.error(f"--margin: must be >= 0, got {args.margin}")
    if args.stroke_scale is not None and args.stroke_scale <= 0:
        p.error(f"--stroke-scale: must be > 0, got {args.stroke_scale}")
    torch.set_num_threads(args.threads)
    names = args.networks or shipped_models()
    method = make_method(args.margin, args.pad, args.stroke_scale, args.upsampling, args.statistics == "frame")
    plain = (make_method(None, args.pad, None) if args.margin is not None and args.stroke_scale is None
             and not args.period_only else None)
    rows = measure(names, args.sizes, args.bikes_frames, args.sequence, args.sequence_frames, args.sequence_seeds, method,
                   args.recursive, plain, args.period_only, args.recursive_only)
    text = report(rows, args)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write(args.out / "results.json", lambda tmp: tmp.write_text(json.dumps(rows, indent=1) + "\n"))
        atomic_write(args.out / "report.md", lambda tmp: tmp.write_text(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
