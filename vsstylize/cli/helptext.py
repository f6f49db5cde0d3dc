"""Plain-text command-line help: option documentation without reST markup, lines wrapped between words, and
one line per method with what it is for and its order of speed."""

from __future__ import annotations

import argparse
import re
import textwrap

__all__ = ["METHOD_SPEED", "HelpFormatter", "method_help", "plain"]

#: The methods, fastest first, with their speed on a CPU (``bench/``: 640x360 on the 2-core box, quiet to loaded).
METHOD_SPEED = {
    "flowfree": "fastest, about 0.15-0.7 s/frame",
    "network": "fast, about 0.2-1.1 s/frame",
    "hybrid": "seconds per frame (network + 30 iterations)",
    "optim": "slow, minutes per frame on a CPU (2000/1000 iterations; --iterations 100,30 for a preview)",
    "multipass": "slowest, passes over the whole clip",
}

_ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")


def plain(doc: str) -> str:
    """``doc`` (reST, as in the docstrings) as plain text: ````literal```` -> ``literal``, a parenthesis that only
    cites a function (``(:func:`vsstylize.flow`)``) is dropped, other roles become their name."""
    text = re.sub(r"\s*\(:[a-z]+:`[^`]+`\)", "", doc)
    text = re.sub(r"\(:[a-z]+:`[^`]+`[,;] ", "(", text)
    text = re.sub(r"[,;] :[a-z]+:`[^`]+`\)", ")", text)
    text = text.replace("a name of :data:`vsstylize.weights.KNOWN_WEIGHTS`", "a standard loss-network weights name ("
                        + ", ".join(_known_weights()) + ")")
    text = _ROLE.sub(lambda m: m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2), text)
    return text.replace("``", "")


def _known_weights() -> list[str]:
    from ..weights import KNOWN_WEIGHTS

    return [name for name, info in KNOWN_WEIGHTS.items() if info.arch.startswith("vgg")]


def method_help() -> str:
    """The ``--method`` help: one line per planar method, fastest first (speed, then purpose)."""
    from ..methods.registry import specs

    summaries = {s.method: plain(s.summary) for s in specs() if s.projection == "planar"}
    lines = [f"{m}: {speed}; {summaries[m]}" for m, speed in METHOD_SPEED.items() if m in summaries]
    return ("default: network (any --style, the arbitrary prior-image network; optim when an optimization option "
            "such as --iterations is given). Speeds at 640x360 on a 2-core CPU:\n" + "\n".join(lines))


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter that keeps explicit line breaks and never splits a word (or an option name with
    underscores or hyphens) across lines."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return [line for paragraph in text.splitlines()
                for line in textwrap.wrap(paragraph, width, break_long_words=False, break_on_hyphens=False) or [""]]

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(textwrap.fill(p, width, initial_indent=indent, subsequent_indent=indent,
                                       break_long_words=False, break_on_hyphens=False) for p in text.splitlines())
