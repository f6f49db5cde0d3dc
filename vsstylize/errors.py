"""Error helpers: every user-facing error names the filter (or CLI command) and the parameter (or option)."""

from __future__ import annotations

import vapoursynth as vs

from .option_errors import PYTHON_NAMING, Naming, OptionError, cli_naming

__all__ = ["PYTHON_NAMING", "Naming", "OptionError", "StylizeError", "cli_naming", "error"]


class StylizeError(vs.Error):
    """A ``vs.Error`` raised by vsstylize, so scripts can catch either."""


def error(func: str, message: str) -> StylizeError:
    """Build the error for filter ``func``: ``vsstylize.<func>: <message>``.

    :param func: public name of the filter or function (``"flow"``, ``"stylize"`` ...).
    :param message: what was wrong and what was expected, naming the parameter.
    :returns: a :class:`StylizeError` to ``raise``.
    """
    return StylizeError(f"vsstylize.{func}: {message}")
