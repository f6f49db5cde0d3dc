"""``python -m vsstylize SUBCOMMAND ...``: ``download`` installs standard weights (see
:mod:`vsstylize.weights`), ``train`` trains a network (:mod:`vsstylize.train.cli`; neither needs VapourSynth);
other subcommands go to :mod:`vsstylize.cli.main` when it is present."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = "usage: python -m vsstylize download NAME [--dir DIR] [--from-file FILE] | download --list"


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch the subcommand in ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "download":
        from vsstylize.cli.download import download_main

        return download_main(args[1:])
    if args and args[0] == "train":
        from vsstylize.train.cli import train_main

        return train_main(args[1:])
    try:
        from vsstylize.cli.main import main as cli_main
    except ImportError:
        print(USAGE, file=sys.stderr)
        return 2
    return int(cli_main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
