#!/usr/bin/env python
"""Bench of the feed-forward methods (issue 6): temporal error, relative losses, hybrid vs optimization.

For one style (its shipped ``<style>-prior`` and ``<style>-flowfree`` models) on generated sequences with
exact flow (temporal error of Ruder et al.) and a real clip (warping error with DIS flow):

* ``perframe``: the image network (``<style>-image``, johnson-48 trained without temporal loss) on every
  frame — independent per-frame processing, the baseline of Ruder Table 5 / Huang Table 2;
* ``perframe-prior``: the prior-image network with an empty prior on every frame (its image mode);
* ``network``: the prior-image network (Ruder eq. 15, ``<style>-prior``), recursive;
* ``flowfree``: Huang et al.'s network, per frame, no flow;
* ``hybrid``: the prior-image network's output refined by a few optimization iterations with the temporal
  loss (fast-artistic-videos);
* ``optim``: the optimization method with the temporal loss (Ruder et al. 2016), prevWarped init.

Content and style losses are relative to ``perframe`` (Table 5; VGG-16 loss network, relu4_2 content).
Writes ``report.md`` and ``results.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs

from vsstylize import resources
from vsstylize.media.cache import atomic_write
from vsstylize.networks.io import read_model_card, resolve_model
from vsstylize.train.sequences import make_sequence
from vsstylize_bench.config import BenchInputError, parse_iterations
from vsstylize_bench.runner import add_relative_losses, estimate_truth, evaluate, evaluate_clip, format_table
from vsstylize_bench.sources import default_photos, shared_file

REPO = Path(__file__).resolve().parents[2]


def _methods(style: str, optim_its: tuple[int, int], hybrid_its: tuple[int, int]) -> dict[str, dict]:
    image, prior, flowfree = (f"{style}-{k}" for k in ("image", "prior", "flowfree"))
    opt = {"model": "vgg16", "tol_loss_relative": 0.0}
    methods = {
        "perframe": {"method": "flowfree", "network": image},
        "perframe-prior": {"method": "flowfree", "network": prior},
        "network": {"method": "network", "network": prior},
        "flowfree": {"method": "flowfree", "network": flowfree},
        "hybrid": {"method": "hybrid", "network": prior, "num_iterations": hybrid_its, **opt},
        "optim": {"method": "optim", "num_iterations": optim_its, "init": ("image", "prevWarped"), **opt},
    }
    return methods


def update_model_cards(data: dict, methods: dict[str, dict], report: Path) -> list[Path]:
    """Write each measured network's scores into its model card (``"bench"``: per method that used it and per
    sequence the temporal error, its ratio to ``perframe`` and the relative content / style losses)."""
    written = []
    for model in sorted({m["network"] for m in methods.values() if "network" in m}):
        path = resolve_model(model)
        card = read_model_card(path)
        scores: dict[str, dict] = {}
        for name, m in methods.items():
            if m.get("network") != model:
                continue
            per_seq = {}
            for seq, rows in data["results"].items():
                r, base = rows[name], rows.get("perframe")
                per_seq[seq] = {"temporal_error": round(r["temporal_error"], 6),
                                **({"vs_perframe": round(r["temporal_error"] / base["temporal_error"], 3)} if base else {}),
                                **{k: round(r[k], 3) for k in ("content_relative", "style_relative",
                                                              "content_relative_last", "style_relative_last") if k in r}}
            scores[name] = per_seq
        card["bench"] = {"report": str(report.relative_to(REPO)) if report.is_relative_to(REPO) else str(report),
                         "command": data["command"], "machine": data["machine"], "methods": scores}
        text = json.dumps(card, indent=2) + "\n"
        atomic_write(path.with_suffix(".json"), lambda tmp, text=text: tmp.write_text(text))
        written.append(path.with_suffix(".json"))
    return written


def _rows(results: dict) -> dict[str, dict[str, float]]:
    return {name: {"temporal_error": r.mean_temporal_error, "e_temporal": r.e_temporal,
                   "seconds_per_frame": r.seconds_per_frame, "later_seconds_per_frame": r.later_seconds_per_frame,
                   **{k: float(v) for k, v in r.extra.items()}}
            for name, r in results.items()}


def _iterations(p: argparse.ArgumentParser, option: str, value: str) -> tuple[int, int]:
    """:func:`vsstylize_bench.report.parse_iterations`, a usage error on bad input."""
    try:
        return parse_iterations(value, option)
    except BenchInputError as exc:
        p.error(str(exc))


def _hybrid_summary(tables: dict[str, dict]) -> list[str]:
    """The fast-artistic-videos comparison: hybrid's temporal error and time per frame against optim's."""
    lines = []
    for name in ("hybrid",):
        if not all(name in t and "optim" in t for t in tables.values()):
            continue
        ratios = [t[name].mean_temporal_error / t["optim"].mean_temporal_error for t in tables.values()]
        speed = [t["optim"].later_seconds_per_frame / t[name].later_seconds_per_frame for t in tables.values()]
        mean_speed = [t["optim"].seconds_per_frame / t[name].seconds_per_frame for t in tables.values()]
        lines.append(f"- `{name}` vs `optim`: temporal error " + " / ".join(f"{r:.2f}x" for r in ratios)
                     + f" ({', '.join(tables)}; target <= 1.5x: {'met' if max(ratios) <= 1.5 else 'not met'}); "
                     f"{np.mean(speed):.1f}x less time per frame after the first "
                     f"({min(speed):.1f}–{max(speed):.1f}x; target >= 5x: {'met' if min(speed) >= 5 else 'not met'}), "
                     f"{np.mean(mean_speed):.1f}x over all {len(next(iter(tables.values()))[name].frames)} frames "
                     "including the first")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--style", default="starry_night", help="style name of the shipped models")
    p.add_argument("--style-image", help="style image for hybrid/optim (default: the shipped style <style>)")
    p.add_argument("--size", default="256x192")
    p.add_argument("--frames", type=int, default=5)
    p.add_argument("--sequences", default="slow_pan,fast_pan_zoom,large_occluder")
    p.add_argument("--clip", default=shared_file("videos/bikes.mp4"), help="real clip (default bikes.mp4 of $VSSTYLIZE_SHARED)")
    p.add_argument("--optim-iterations", default="150,75")
    p.add_argument("--hybrid-iterations", default="30,8", help="first,later frames (the first frame of a chain "
                   "gets more, like optim's; the speed comparison uses the later frames)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", help="comma-separated subset of the methods (report named report-<style>-<subset>)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "networks")
    p.add_argument("--cards-only", action="store_true",
                   help="only copy the scores of an earlier run (the report's .json) into the model cards")
    args = p.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    w, h = (int(v) for v in args.size.split("x"))
    style_image = args.style_image or str(resources.shipped_styles()[args.style])
    optim_its = _iterations(p, "--optim-iterations", args.optim_iterations)
    hybrid_its = _iterations(p, "--hybrid-iterations", args.hybrid_iterations)
    methods = _methods(args.style, optim_its, hybrid_its)
    if args.only:
        methods = {k: v for k, v in methods.items() if k in args.only.split(",")}
    missing = sorted({m["network"] for m in methods.values() if "network" in m} - set(resources.shipped_models()))
    if missing:
        p.error(f"models missing in {resources.package_models_dir()}: {', '.join(missing)} (scripts/train_models.sh "
                "trains them)")
    stem = f"report-{args.style}" + (f"-{args.only.replace(',', '-')}" if args.only else "")
    if args.cards_only:
        previous = args.out / f"{stem}.json"
        if not previous.is_file():
            p.error(f"--cards-only: no earlier results {previous}")
        for card in update_model_cards(json.loads(previous.read_text()), methods, args.out / f"{stem}.md"):
            print(f"updated {card}")
        return 0
    t0 = time.perf_counter()
    tables: dict[str, dict] = {}
    results_json: dict[str, dict] = {}

    def record(name: str, res: dict, content: np.ndarray) -> None:
        """Add the relative losses (when the per-frame baseline ran), keep and print one input's results."""
        if "perframe" in res:
            add_relative_losses(res, content, style_image, baseline="perframe", model="vgg16")
        tables[name] = res
        results_json[name] = _rows(res)
        print(f"{name}: " + ", ".join(f"{n} {r.mean_temporal_error:.5f}" for n, r in res.items()), flush=True)

    for i, preset in enumerate(s for s in args.sequences.split(",") if s):
        seq = make_sequence(preset, num_frames=args.frames, size=(w, h), seed=args.seed + i, photos=default_photos())
        record(seq.name, evaluate(seq, style_image, methods), seq.frames)
    if args.clip:
        core = vs.core
        src = core.bs.VideoSource(args.clip)[: args.frames]
        rgb = core.resize.Bicubic(src, w, int(round(src.height * w / src.width / 2)) * 2, format=vs.RGBS, matrix_in_s="709")
        truth = estimate_truth(rgb, Path(args.clip).stem)
        record(truth.name, evaluate_clip(truth, style_image, methods), truth.frames)
    wall = time.perf_counter() - t0
    rel_rows = ["| method | " + " | ".join(f"{s} content / style" for s in tables) + " |",
                "|---" * (len(tables) + 1) + "|"]
    for name in methods:
        cells = [f"{e['content_relative']:.0%} / {e['style_relative']:.0%} (last {e['content_relative_last']:.0%} / "
                 f"{e['style_relative_last']:.0%})" if "content_relative" in e else "–"
                 for e in (tables[s][name].extra for s in tables)]
        rel_rows.append(f"| {name} | " + " | ".join(cells) + " |")
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    cmd = "python -m vsstylize_bench networks " + " ".join(sys.argv[1:])
    report = "\n".join([
        f"# Network methods — style {args.style}", "",
        f"Command: `{cmd}`  ", f"Machine: {machine}; wall time {wall / 60:.1f} min.  ",
        f"Sequences: {args.frames} frames at {w}x{h} (exact flow); real clip: {Path(args.clip).name} (DIS flow, "
        "reliability-weighted warping error).  ",
        f"optim: {optim_its} iterations, prevWarped init, temporal loss; hybrid: {hybrid_its} iterations "
        "from the prior-image network's output. perframe: the image network "
        "(no temporal loss) on each frame; "
        "perframe-prior: the prior-image network's image mode (empty prior) on each frame.", "",
        "## Temporal error (mean over frames; ratio to per-frame processing)", "",
        format_table(tables, baseline="perframe"), "",
        *_hybrid_summary(tables), "",
        "## Content / style loss relative to per-frame processing (Ruder Table 5)", "",
        f"Mean over the {args.frames} frames, in brackets the last frame (degeneration over time shows there).", "",
        *rel_rows, "",
    ])
    args.out.mkdir(parents=True, exist_ok=True)
    data = {"command": cmd, "machine": machine, "wall_seconds": wall, "results": results_json}
    atomic_write(args.out / f"{stem}.md", lambda tmp: tmp.write_text(report))
    atomic_write(args.out / f"{stem}.json", lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))
    print(report)
    update_model_cards(data, methods, args.out / f"{stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
