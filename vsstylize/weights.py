"""Standard model weights: the known table, where they are looked for, and the verified download.

Known weights (:data:`KNOWN_WEIGHTS`):

==============  ==========================  =========================================================
name            file (torch hub naming)      what
==============  ==========================  =========================================================
``vgg19-caffe`` ``vgg19-d01eb7cb.pth``       Caffe VGG-19 (neural-style / neural-style-pt), Caffe
                                             preprocessing: BGR, 0..255, minus [103.939, 116.779, 123.68]
``vgg19``       ``vgg19-dcbb9e9d.pth``       torchvision IMAGENET1K_V1, RGB 0..1, ImageNet mean/std
``vgg16``       ``vgg16-397923af.pth``       torchvision IMAGENET1K_V1, RGB 0..1, ImageNet mean/std
``raft-large``  ``raft_large_C_T_SKHT_V2-…`` torchvision RAFT large, C+T+S+K+H (Sintel fine-tuned)
``raft-small``  ``raft_small_C_T_V2-…``      torchvision RAFT small, C+T
==============  ==========================  =========================================================

Every file name carries the first hex digits of its SHA-256 (the torch hub convention,
``name-<sha256 prefix>.ext``); a download is accepted only when the computed digest starts with it.

Search order of :func:`resolve_weights`: explicit path, ``$VSSTYLIZE_MODELS``, the ``models/`` folder
next to the package (repository checkout) and inside it, then the torch hub cache
(``torch.hub.get_dir()/checkpoints``). In each folder the converted ``<name>.safetensors`` written by
:func:`download` is preferred over the original ``.pth``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

__all__ = [
    "KNOWN_WEIGHTS",
    "WeightsInfo",
    "ChecksumError",
    "resolve_weights",
    "search_dirs",
    "download",
    "download_main",
    "verify_sha256_prefix",
    "hash_prefix",
    "convert_checkpoint",
    "load_state_dict",
    "read_metadata",
]

Preprocessing = Literal["caffe", "torchvision", "none"]

#: Caffe VGG mean in BGR order, 0..255 pixel units (neural-style, Keras ``preprocess_input`` "caffe").
CAFFE_MEAN_BGR: tuple[float, float, float] = (103.939, 116.779, 123.68)
#: torchvision ImageNet normalisation, RGB order, for inputs in [0, 1].
IMAGENET_MEAN_RGB: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB: tuple[float, float, float] = (0.229, 0.224, 0.225)

_HASH_RE = re.compile(r"-([a-f0-9]{6,})\.")


@dataclass(frozen=True)
class WeightsInfo:
    """One entry of the known-weights table.

    :ivar name: public name (``vgg19-caffe`` ...), used by ``python -m vsstylize download NAME``.
    :ivar url: download address; its last path component is :attr:`filename`.
    :ivar arch: ``"vgg16"``, ``"vgg19"``, ``"raft_large"`` or ``"raft_small"``.
    :ivar preprocessing: input convention the weights were trained with (``"none"`` for RAFT, whose
        own transforms apply).
    :ivar keep_prefix: only state-dict keys starting with this are kept on conversion
        (``"features."`` strips the VGG classifier); ``""`` keeps everything.
    """

    name: str
    url: str
    arch: str
    preprocessing: Preprocessing
    keep_prefix: str = ""

    @property
    def filename(self) -> str:
        """Original file name, e.g. ``vgg19-d01eb7cb.pth``."""
        return self.url.rsplit("/", 1)[-1]

    @property
    def sha256_prefix(self) -> str:
        """Hex SHA-256 prefix carried by :attr:`filename`."""
        prefix = hash_prefix(self.filename)
        assert prefix is not None, self.filename
        return prefix

    @property
    def local_name(self) -> str:
        """File name :func:`download` writes: ``<name>.safetensors``."""
        return f"{self.name}.safetensors"


KNOWN_WEIGHTS: dict[str, WeightsInfo] = {
    w.name: w
    for w in (
        WeightsInfo(
            "vgg19-caffe",
            "https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth",
            "vgg19",
            "caffe",
            "features.",
        ),
        WeightsInfo("vgg19", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "vgg19", "torchvision", "features."),
        WeightsInfo("vgg16", "https://download.pytorch.org/models/vgg16-397923af.pth", "vgg16", "torchvision", "features."),
        WeightsInfo(
            "raft-large",
            "https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth",
            "raft_large",
            "none",
        ),
        WeightsInfo(
            "raft-small",
            "https://download.pytorch.org/models/raft_small_C_T_V2-01064c6d.pth",
            "raft_small",
            "none",
        ),
    )
}


class ChecksumError(RuntimeError):
    """A downloaded or given file's SHA-256 does not start with the prefix in its name."""


def hash_prefix(filename: str) -> str | None:
    """The SHA-256 hex prefix in a torch-hub style file name (``vgg16-397923af.pth`` -> ``397923af``)."""
    match = _HASH_RE.search(Path(filename).name)
    return match.group(1) if match else None


def _sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256_prefix(path: str | os.PathLike[str], expected_prefix: str | None = None) -> str:
    """Compute the SHA-256 of ``path`` and check it starts with ``expected_prefix``.

    :param path: file to check.
    :param expected_prefix: hex prefix; default: the one in the file's own name.
    :returns: the full hex digest.
    :raises ChecksumError: on mismatch, naming the file, the expected prefix and the digest.
    :raises ValueError: when no prefix is given and the name carries none.
    """
    path = Path(path)
    prefix = expected_prefix if expected_prefix is not None else hash_prefix(path.name)
    if not prefix:
        raise ValueError(f"{path.name}: no SHA-256 prefix given and none in the file name")
    digest = _sha256(path)
    if not digest.startswith(prefix.lower()):
        raise ChecksumError(
            f"{path}: SHA-256 {digest} does not start with the expected {prefix}; the file is corrupt or not the "
            "published one"
        )
    return digest


def _package_models_dirs() -> list[Path]:
    pkg = Path(__file__).resolve().parent
    return [pkg.parent / "models", pkg / "models"]


def search_dirs() -> list[Path]:
    """Folders searched for weights, in order: ``$VSSTYLIZE_MODELS`` (``os.pathsep``-separated), the
    repository / package ``models/`` folders, the torch hub cache ``checkpoints`` folder."""
    dirs: list[Path] = []
    env = os.environ.get("VSSTYLIZE_MODELS")
    if env:
        dirs += [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    dirs += _package_models_dirs()
    dirs.append(Path(torch.hub.get_dir()) / "checkpoints")
    return dirs


def resolve_weights(name: str, path: str | os.PathLike[str] | None = None) -> Path | None:
    """Find the file of the known weights ``name``.

    :param name: key of :data:`KNOWN_WEIGHTS`.
    :param path: explicit file; returned when it exists (a missing explicit file raises).
    :returns: the first existing file (``<name>.safetensors``, then the original ``.pth``) in
        :func:`search_dirs`, or ``None`` when none is installed.
    :raises KeyError: unknown ``name`` (lists the known ones).
    :raises FileNotFoundError: ``path`` given but missing.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"weights file {p} does not exist")
        return p
    if name not in KNOWN_WEIGHTS:
        raise KeyError(f"unknown weights {name!r}; known: {', '.join(KNOWN_WEIGHTS)}")
    info = KNOWN_WEIGHTS[name]
    for d in search_dirs():
        for candidate in (d / info.local_name, d / info.filename):
            if candidate.is_file():
                return candidate
    return None


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The safetensors header metadata (``name``, ``arch``, ``preprocessing``, ``source_sha256``) of a
    file written by :func:`download`; ``{}`` for other files."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return {}
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Load a state dict from ``.safetensors`` or a torch ``.pth`` (``weights_only=True``), on the CPU.

    :raises ValueError: the file holds no tensor mapping.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: not a state dict of tensors")
    return dict(obj)


def convert_checkpoint(src: Path, dst: Path, info: WeightsInfo, source_sha256: str) -> Path:
    """Write ``src`` (a torch state dict) as safetensors ``dst``, keeping only ``info.keep_prefix`` keys.

    :raises ValueError: no key matches the prefix (not the expected checkpoint).
    """
    state = load_state_dict(src)
    kept = {k: v.detach().contiguous().clone() for k, v in state.items() if k.startswith(info.keep_prefix)}
    if not kept:
        raise ValueError(f"{src.name}: no tensors with prefix {info.keep_prefix!r}; not a {info.arch} checkpoint")
    from safetensors.torch import save_file

    meta = {
        "name": info.name,
        "arch": info.arch,
        "preprocessing": info.preprocessing,
        "source": info.filename,
        "source_sha256": source_sha256,
    }
    save_file(kept, str(dst), metadata=meta)
    return dst


def _fetch(url: str, dest: Path, progress: Callable[[int, int], None] | None) -> None:
    req = urllib.request.Request(url, headers={"User-Agent": "vsstylize"})
    with urllib.request.urlopen(req, timeout=60) as resp, open(dest, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0)
        done = 0
        while block := resp.read(1 << 20):
            out.write(block)
            done += len(block)
            if progress is not None:
                progress(done, total)


def install_file(name: str, source: Path, dest_dir: Path) -> Path:
    """Verify an already-downloaded original file ``source`` and install it as ``<name>.safetensors``.

    The SHA-256 of ``source`` must start with the prefix of ``KNOWN_WEIGHTS[name].filename``; the
    converted file is written to a temporary name in ``dest_dir`` and renamed atomically.

    :raises ChecksumError: digest mismatch (nothing is written).
    """
    info = KNOWN_WEIGHTS[name]
    digest = verify_sha256_prefix(source, info.sha256_prefix)
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{info.name}-", suffix=".safetensors.part", dir=dest_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        convert_checkpoint(source, tmp, info, digest)
        final = dest_dir / info.local_name
        os.replace(tmp, final)
        return final
    finally:
        tmp.unlink(missing_ok=True)


def download(
    name: str,
    dest_dir: str | os.PathLike[str] | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    fetch: Callable[[str, Path], None] | None = None,
) -> Path:
    """Download the known weights ``name`` into ``dest_dir`` and install them as safetensors.

    Steps: fetch to a temporary file in ``dest_dir``; check its SHA-256 against the prefix in the
    published file name; keep only ``features.*`` for VGG (the classifier is not needed by the loss
    network); save ``<name>.safetensors`` through a temporary name and an atomic rename.

    :param name: key of :data:`KNOWN_WEIGHTS`.
    :param dest_dir: target folder; default the first of ``$VSSTYLIZE_MODELS`` or the repository
        ``models/`` folder.
    :param progress: called with ``(bytes_done, bytes_total)`` (total 0 when unknown).
    :param fetch: replaces the HTTP transfer ``fetch(url, dest_path)`` (tests, mirrors).
    :returns: path of the installed file.
    :raises KeyError: unknown name.
    :raises ChecksumError: digest mismatch; the temporary download is deleted.
    :raises urllib.error.URLError: network failure.
    """
    if name not in KNOWN_WEIGHTS:
        raise KeyError(f"unknown weights {name!r}; known: {', '.join(KNOWN_WEIGHTS)}")
    info = KNOWN_WEIGHTS[name]
    target = Path(dest_dir).expanduser() if dest_dir is not None else _default_dest()
    target.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{info.filename}.", suffix=".part", dir=target)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if fetch is not None:
            fetch(info.url, tmp)
        else:
            _fetch(info.url, tmp, progress)
        return install_file(name, tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _default_dest() -> Path:
    env = os.environ.get("VSSTYLIZE_MODELS")
    if env:
        return Path(env.split(os.pathsep)[0]).expanduser()
    return _package_models_dirs()[0]


def download_main(argv: Sequence[str] | None = None) -> int:
    """Command line ``python -m vsstylize download NAME [--dir DIR] [--from-file FILE]``.

    :param argv: arguments after ``download``.
    :returns: process exit status (0 ok, 1 failure with a message on stderr).
    """
    parser = argparse.ArgumentParser(
        prog="python -m vsstylize download",
        description="Download standard weights, verify their SHA-256 and install them as safetensors.",
    )
    parser.add_argument("name", choices=sorted(KNOWN_WEIGHTS), help="weights to install")
    parser.add_argument("--dir", type=Path, default=None, help="target folder (default: $VSSTYLIZE_MODELS or models/)")
    parser.add_argument(
        "--from-file",
        type=Path,
        default=None,
        help="install an already downloaded original file (e.g. vgg19-d01eb7cb.pth) instead of fetching it",
    )
    args = parser.parse_args(argv)
    info = KNOWN_WEIGHTS[args.name]

    def show(done: int, total: int) -> None:
        pct = f" {100 * done / total:5.1f}%" if total else ""
        print(f"\r{info.filename}: {done / 2**20:8.1f} MiB{pct}", end="", file=sys.stderr, flush=True)

    try:
        if args.from_file is not None:
            dest = args.dir if args.dir is not None else _default_dest()
            path = install_file(args.name, args.from_file, dest)
        else:
            print(f"downloading {info.url}", file=sys.stderr)
            path = download(args.name, args.dir, progress=show)
            print(file=sys.stderr)
    except (ChecksumError, ValueError) as exc:
        print(f"\nvsstylize download: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # network errors (urllib.error.URLError) and file-system errors
        print(
            f"\nvsstylize download: {exc}\nfetch {info.url} by other means and install it with "
            f"`python -m vsstylize download {info.name} --from-file {info.filename}`",
            file=sys.stderr,
        )
        return 1
    print(path)
    return 0
