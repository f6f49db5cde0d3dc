"""``vsstylize bench`` on the command line."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence as Seq
from pathlib import Path

from .config import DEFAULT_SEQUENCES, DEFAULT_STYLE, FIRST_INITS, SETTINGS, BenchInputError, config_from_args
from .runner import BASELINES

__all__ = ["add_bench_parser", "bench_command"]


def add_bench_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to the ``vsstylize`` parser."""
    p = sub.add_parser("bench", help="benchmark settings on ground-truth sequences and real clips; write a report",
                       description="Run stylization settings over ground-truth sequences and real clips and write a "
                                   "report folder.")
    p.add_argument("--quick", action="store_true",
                   help="print this machine's s/frame of each method at 640x360 (under a minute) and stop")
    p.add_argument("--out", type=Path, help="report folder (report.md, results.json, PNG plots); required "
                                            "without --quick")
    p.add_argument("--width", type=int, default=256, help="processing width in pixels (default 256)")
    p.add_argument("--height", type=int, help="height of the generated sequences (default 4:3 at --width)")
    p.add_argument("--frames", type=int, default=6, help="frames per sequence / clip (default 6, >= 2)")
    p.add_argument("--iterations", default="200,100", help="max iterations first,later frames (default 200,100)")
    p.add_argument("--sequences", default=",".join(DEFAULT_SEQUENCES),
                   help="generated sequence presets, comma separated ('none' for no generated sequence)")
    p.add_argument("--clips", default="", help="real clips path[#start:end],... (resized to --width)")
    p.add_argument("--sequence-dirs", default="", help="saved sequence folders (Sequence.save) of size --width")
    extra = ", ".join(k for k in SETTINGS if k not in BASELINES)
    p.add_argument("--methods", default="", help=f"extra named settings besides the baselines: {extra}")
    p.add_argument("--style", default=str(DEFAULT_STYLE), help="style image (default the shipped starry_night)")
    p.add_argument("--image", help="background photo of the generated sequences (default: drawn from --photos with --seed)")
    p.add_argument("--photos", help="folder of photos the generated sequences are drawn from (default: "
                                    "$VSSTYLIZE_SHARED/data/content)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sequences and of the random init")
    p.add_argument("--tol-loss-relative", type=float, default=1e-4, help="optimizer stopping tolerance (stylize default 1e-4)")
    p.add_argument("--temporal-weight", type=float, help="temporal loss weight of the temporal methods (stylize default 1e3)")
    p.add_argument("--first-init", default="random", choices=FIRST_INITS,
                   help="first-frame init of the chained methods; 'image' also adds the per-frame 'image_matched' "
                        "method (frame t given the chain's first + t * later iterations) and makes it the reference "
                        "of the relative losses (default random, as the paper)")
    return p


def bench_command(args: argparse.Namespace, argv: Seq[str] | None = None) -> int:
    """Run ``vsstylize bench``; exit code 2 with a message naming the option for bad input."""
    words = list(sys.argv[1:] if argv is None else argv)
    command = "vsstylize " + shlex.join(words)
    if args.quick:
        from .quick import quick_main

        return quick_main()
    if args.out is None:
        print("vsstylize bench: error: --out is required (the report folder), or --quick", file=sys.stderr)
        return 2
    try:
        cfg = config_from_args(args, command)
        from .report import run_bench

        report = run_bench(cfg)
    except BenchInputError as exc:
        print(f"vsstylize bench: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {report}")
    return 0
