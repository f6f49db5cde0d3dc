"""Checks of ``vsstylize run``'s input files and output paths, made before the first frame is computed: each bad
input is one :class:`RunError` line naming the option and what is expected (exit status 2), and nothing is
written."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

__all__ = ["RunError", "check_input", "check_inputs", "check_output", "check_styles"]


class RunError(Exception):
    """Bad ``vsstylize run`` input: one line, printed without a traceback (exit status 2)."""


def check_output(path: Path, option: str, folder: bool = False) -> None:
    """``path`` can be written: it is not a folder (with ``folder``: not a file), no parent is a file, and a file
    can be created in its first existing folder (write probe: a temporary file made and removed there).

    :raises RunError: naming ``option`` and the reason.
    """
    if folder and path.exists() and not path.is_dir():
        raise RunError(f"{option} {path} is a file; give a folder")
    if not folder and path.is_dir():
        raise RunError(f"{option} {path} is a folder; give a file name")
    for parent in ([path] if folder else []) + list(path.parents):
        if parent.exists():
            if not parent.is_dir():
                raise RunError(f"{option} {path}: {parent} is a file, not a folder")
            try:
                with tempfile.NamedTemporaryFile(dir=parent, prefix=".vsstylize-write-probe-"):
                    pass
            except OSError as exc:
                raise RunError(f"{option} {path}: cannot write in {parent} ({exc.strerror or exc}); give a "
                               "writable location") from None
            break


def check_input(path: Path) -> None:
    """The input video exists and is not empty (whether it decodes is BestSource's to say).

    :raises RunError: naming the input.
    """
    if not path.exists():
        raise RunError(f"input {str(path)!r} not found")
    if not path.is_file():
        raise RunError(f"input {str(path)!r} is not a file; give a video file")
    if path.stat().st_size == 0:
        raise RunError(f"input {str(path)!r} is empty (0 bytes); give a video file")


def check_styles(styles: list[str] | None) -> None:
    """Every ``--style`` is an image file or a shipped style name.

    :raises RunError: a missing file (listing the shipped styles) or a file that is not an image.
    """
    from ..resources import read_style_image, shipped_styles

    for style in styles or []:
        try:
            read_style_image(style)
        except FileNotFoundError:
            raise RunError(f"--style {style!r} not found: give an image file or a shipped style "
                           f"({', '.join(shipped_styles())})") from None
        except ValueError as exc:
            raise RunError(f"--style: {exc}; give a JPEG or PNG file") from None


def check_inputs(args: argparse.Namespace) -> None:
    """The files and paths of the ``run`` options: input, ``--style``, ``-o/--output``, ``--sheet``, ``--cache``.

    :raises RunError: the first bad one.
    """
    check_input(Path(args.input))
    check_styles(args.style)
    check_output(args.output, "-o/--output")
    if args.sheet:
        check_output(args.sheet, "--sheet")
    if args.cache:
        check_output(Path(args.cache), "--cache", folder=True)
