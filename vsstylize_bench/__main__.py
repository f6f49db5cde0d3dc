"""``python -m vsstylize_bench SUITE [OPTIONS]``: run one benchmark suite (:mod:`vsstylize_bench.suites`);
``--list`` names them; ``SUITE --help`` prints the suite's own options."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .suites import UnknownSuiteError, run_suite, suite_names, suite_summary

USAGE = "usage: python -m vsstylize_bench SUITE [OPTIONS] | --list   (SUITE --help for its options)"


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the suite; exit status 2 with one line for a missing or unknown suite."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--list"], ["-h"], ["--help"]):
        print(USAGE)
        width = max(map(len, suite_names()))
        for name in suite_names():
            print(f"  {name:<{width}}  {suite_summary(name)}")
        return 0
    if not args:
        print(f"python -m vsstylize_bench: error: give a suite ({USAGE[7:]})", file=sys.stderr)
        return 2
    try:
        return run_suite(args[0], args[1:])
    except UnknownSuiteError as exc:
        print(f"python -m vsstylize_bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
