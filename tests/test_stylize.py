"""stylize(method="optim"): order-independent results, caches, scene cuts, bad input."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import vsstylize

from .conftest import DATA

pytestmark = pytest.mark.data

STYLE = DATA / "styles" / "starry_night.jpg"
FAST = dict(num_iterations=(8, 4), tol_loss_relative=0, init=("image", "prevWarped"))


def small_clip(length: int = 6, width: int = 64, height: int = 40) -> vs.VideoNode:
    src = vs.core.bs.VideoSource(str(DATA / "videos" / "bikes.mp4"))[40:40 + length]
    return vs.core.resize.Bicubic(src, width, height, format=vs.RGBS, matrix_in_s="170m")


def frames_of(clip: vs.VideoNode, order: list[int] | None = None, threads: int | None = None) -> dict[int, np.ndarray]:
    order = order if order is not None else list(range(clip.num_frames))
    if threads is None:
        return {n: np.stack([np.asarray(clip.get_frame(n)[p]) for p in range(3)]) for n in order}
    results: dict[int, np.ndarray] = {}
    done = threading.Event()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def callback(n: int):
        def cb(frame, exc) -> None:
            with lock:
                if exc is not None:
                    errors.append(exc)
                else:
                    results[n] = np.stack([np.asarray(frame[p]) for p in range(3)])
                if len(results) + len(errors) == len(order):
                    done.set()
        return cb

    for n in order:
        clip.get_frame_async(n, callback(n))
    assert done.wait(600), "frames never arrived (deadlock?)"
    assert not errors, errors
    return results


def test_result_independent_of_access_order() -> None:
    clip = small_clip()
    sequential = frames_of(vsstylize.stylize(clip, str(STYLE), flow_relative_indices=(1, 2), **FAST))
    order = list(range(clip.num_frames))
    random.Random(3).shuffle(order)
    core = vs.core
    old = core.num_threads
    try:
        core.num_threads = 4
        shuffled = frames_of(vsstylize.stylize(clip, str(STYLE), flow_relative_indices=(1, 2), **FAST), order, threads=4)
    finally:
        core.num_threads = old
    for n in range(clip.num_frames):
        assert np.abs(sequential[n] - shuffled[n]).max() <= 1e-5, f"frame {n} differs"
    # stylized, not a copy of the input
    content = frames_of(clip)
    assert np.abs(sequential[3] - content[3]).mean() > 0.02


def test_chain_start_and_scene_cut() -> None:
    clip = small_clip(4)
    cut = vs.core.std.SetFrameProps(clip[2:], _SceneChangePrev=1)
    clip = clip[:2] + cut[:1] + clip[3:]
    out = vsstylize.stylize(clip, str(STYLE), **FAST)
    starts = [out.get_frame(n).props["StylizeChainStart"] for n in range(4)]
    assert starts == [0, 0, 2, 2]


def test_disk_cache_resumes(tmp_path: Path) -> None:
    clip = small_clip(3)
    first = vsstylize.stylize(clip, str(STYLE), cache_dir=tmp_path, **FAST)
    a = frames_of(first)
    entries = sorted((tmp_path / "stylize").rglob("*.png"))
    assert len(entries) == 3
    assert not [p for p in (tmp_path / "stylize").rglob(".*") if p.is_file() and p.name != ".probe"]
    # A fresh filter instance (a resumed render) serves every frame from disk: remove one entry and
    # only that frame is recomputed, with the same result.
    entries[0].unlink()
    second = vsstylize.stylize(clip, str(STYLE), cache_dir=tmp_path, **FAST)
    b = frames_of(second)
    for n in range(3):
        assert np.abs(a[n] - b[n]).max() <= 1e-6
    # another parameter is another key
    vsstylize.stylize(clip, str(STYLE), cache_dir=tmp_path, seed=5, **FAST).get_frame(0)
    assert len(list((tmp_path / "stylize").rglob("*.png"))) == 4


def test_chain_starts_shared_between_settings(tmp_path: Path) -> None:
    """Settings that differ only after the chain start (temporal weight, later-frame init) reuse its
    cache entry; a setting the first frame depends on (content weight) does not."""
    clip = small_clip(3)
    a = frames_of(vsstylize.stylize(clip, str(STYLE), cache_dir=tmp_path, **FAST))
    entries = lambda: len(list((tmp_path / "stylize").rglob("*.png")))
    assert entries() == 3
    other = {**FAST, "init": ("image", "prev")}
    b = frames_of(vsstylize.stylize(clip, str(STYLE), cache_dir=tmp_path, temporal_weight=0.0, **other))
    assert entries() == 5  # frame 0 served from the first run's entry
    assert np.abs(a[0] - b[0]).max() <= 1e-6
    assert np.abs(a[2] - b[2]).max() > 1e-3  # later frames really were computed with the other setting
    vsstylize.stylize(clip, str(STYLE), cache_dir=tmp_path, content_weight=20.0, **FAST).get_frame(0)
    assert entries() == 6


class TestBadInput:
    def test_missing_and_unreadable_style(self, tmp_path: Path) -> None:
        clip = small_clip(2)
        with pytest.raises(vs.Error, match=r"vsstylize\.stylize: style file .*nope\.jpg' not found"):
            vsstylize.stylize(clip, str(tmp_path / "nope.jpg"))
        junk = tmp_path / "junk.png"
        junk.write_bytes(b"not an image")
        with pytest.raises(vs.Error, match="is not a readable image"):
            vsstylize.stylize(clip, str(junk))

    def test_style_clip_of_wrong_format(self) -> None:
        clip = small_clip(2)
        with pytest.raises(vs.Error, match="style clip must be RGB or YUV"):
            vsstylize.stylize(clip, vs.core.std.BlankClip(format=vs.GRAY8))

    def test_flows_of_wrong_size_or_step(self) -> None:
        clip = small_clip(3)
        other = vs.core.std.BlankClip(clip, width=32)
        bw_small = vsstylize.flow(other, "backward")
        with pytest.raises(vs.Error, match="flows is 32x40 but clip is 64x40"):
            vsstylize.stylize(clip, str(STYLE), flows=bw_small,
                              reliability=vsstylize.reliability(bw_small, vsstylize.flow(other, "forward")))
        bw2 = vsstylize.flow(clip, "backward", step=2)
        with pytest.raises(vs.Error, match="must be a backward flow with step 1"):
            vsstylize.stylize(clip, str(STYLE), flows=bw2, reliability=vs.core.std.BlankClip(clip, format=vs.GRAYS))
        bw = vsstylize.flow(clip, "backward")
        with pytest.raises(vs.Error, match=r"flows has 2 frames but clip has 3|clip has 3 frames but flows has 2"):
            vsstylize.stylize(clip, str(STYLE), flows=bw[:2], reliability=vs.core.std.BlankClip(clip, format=vs.GRAYS))

    def test_weights_that_do_not_fit(self, tmp_path: Path) -> None:
        bad = tmp_path / "vgg.safetensors"
        import torch
        from safetensors.torch import save_file

        save_file({"features.0.weight": torch.zeros(8, 3, 3, 3), "features.0.bias": torch.zeros(8)}, str(bad))
        with pytest.raises(vs.Error, match=r"vsstylize\.stylize: .*vgg\.safetensors"):
            vsstylize.stylize(small_clip(2), str(STYLE), model_file=str(bad))

    def test_unwritable_cache_folder(self, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(vs.Error, match=r"vsstylize\.stylize: cache folder .* is not writable"):
            vsstylize.stylize(small_clip(2), str(STYLE), cache_dir=blocker)

    @pytest.mark.parametrize("kwargs, message", [
        ({"method": "magic"}, "method must be one of"),
        ({"init": ("prev", "prev")}, "init for the first frame"),
        ({"init": ("random", "noise")}, "init for later frames"),
        ({"num_iterations": (0, 5)}, "num_iterations must be >= 1"),
        ({"flow_relative_indices": (1, 0)}, "flow_relative_indices must be positive"),
        ({"flow_relative_indices": (2, 4)}, "must contain 1"),
        ({"optimizer": "sgd"}, "optimizer must be"),
        ({"temporal_loss_criterion": "l3"}, "temporal_loss_criterion must be"),
        ({"style_weight": -1}, "style_weight must be a finite number >= 0"),
        ({"style_weight": "heavy"}, "style_weight must be a number, got .heavy."),
        ({"loss_weights": "paper"}, "loss_weights must be"),
        ({"precision": "fp8"}, "precision must be one of"),
        ({"lbfgs_history": 0}, "lbfgs_history must be >= 1"),
    ])
    def test_options(self, kwargs: dict, message: str) -> None:
        with pytest.raises(vs.Error, match=message):
            vsstylize.stylize(small_clip(2), str(STYLE), **kwargs)


@pytest.mark.data
def test_given_clips_are_checked_before_anything_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """MethodSpec.validate runs before build: a flows clip of the wrong size is named before the loss network or
    a network would be loaded."""
    from vsstylize.methods import hybrid, multipass, network, optim

    def loaded(*args: object, **kwargs: object) -> None:
        raise AssertionError("loaded before the user's clips were checked")

    for module in (optim, hybrid, multipass):
        monkeypatch.setattr(module, "FrameOptimizer", loaded)
    for module in (network, hybrid):
        monkeypatch.setattr(module, "load_model", loaded)
    clip = small_clip(4)
    flows = [vs.core.std.BlankClip(format=vs.RGBS, width=32, height=32, length=4)]
    weights = [vs.core.std.BlankClip(format=vs.GRAYS, width=32, height=32, length=4)]
    for method, style, extra in (("optim", str(STYLE), FAST), ("network", None, {"network": "starry_night-prior"}),
                                 ("hybrid", str(STYLE), {"network": "starry_night-prior"}),
                                 ("multipass", str(STYLE), {})):
        pairs = 2 if method == "multipass" else 1
        given = {"flows": flows * pairs, "reliability": weights * pairs}
        with pytest.raises(vs.Error, match=r"^vsstylize\.stylize: flows"):
            vsstylize.stylize(clip, style, method, **given, **extra)
    with pytest.raises(vs.Error, match="needs style"):  # the style check is part of validate
        vsstylize.stylize(clip, None, "optim", **FAST)


@pytest.mark.data
def test_renamed_options_keep_their_old_names_for_one_release() -> None:
    """``weights`` is ``reliability``, ``model_weights`` is ``model_file``, ``style_blend_weights`` is ``style_blend``:
    the old keywords still work, with a DeprecationWarning pointing at the caller; the cache keys keep the old names."""
    import warnings

    from vsstylize.options import RENAMED, StylizeOptions

    clip = small_clip(3)
    bw2 = vsstylize.flow(clip, "backward", step=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(vs.Error, match="must be a backward flow with step 1"):  # the old name reached reliability
            vsstylize.stylize(clip, str(STYLE), flows=bw2, weights=vs.core.std.BlankClip(clip, format=vs.GRAYS))
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert [str(w.message) for w in deprecations] == [
        "vsstylize.stylize: weights= is renamed reliability= (the old name is accepted until the next release)"]
    assert deprecations[0].filename == __file__
    with pytest.warns(DeprecationWarning, match="model_weights= is renamed model_file="), \
            pytest.raises(vs.Error, match=r"^vsstylize\.stylize: model_file and its old name model_weights are both given"):
        vsstylize.stylize(clip, str(STYLE), model_file="a", model_weights="b")
    with pytest.warns(DeprecationWarning, match=r"^vsstylize\.multipass: style_blend_weights= is renamed style_blend="), \
            pytest.raises(vs.Error, match="num_passes must be"):
        vsstylize.multipass(clip, str(STYLE), num_passes=0, style_blend_weights=(1.0,))
    with pytest.raises(TypeError, match="'colour'"):
        vsstylize.stylize(clip, str(STYLE), colour=3)
    assert set(RENAMED.values()) <= set(vsstylize.stylize.__code__.co_varnames)
    key = StylizeOptions.from_values({"model_file": "x.safetensors", "style_blend": (1, 2)}).key("loss")
    assert "('model_weights', 'x.safetensors')" in key and "('style_blend_weights', (1.0, 2.0))" in key
    assert "model_file" not in key
