"""Multi-pass algorithm (Ruder et al. 2018 sec. 4.4): blend of eq. 13/14, pass directions, temporal loss
from the chosen pass on, resuming, bad settings."""

from __future__ import annotations

import pytest
import torch

from vsstylize.optim.passes import MultipassSettings, blend_init, multipass_shot


def test_blend_init_is_eq_13() -> None:
    prev = torch.zeros(1, 3, 2, 2)
    warped = torch.ones(1, 3, 2, 2)
    c = torch.tensor([[[[1.0, 0.0], [0.5, 1.0]]]])
    out = blend_init(prev, warped, c, 0.5)
    assert torch.allclose(out[0, 0], torch.tensor([[0.5, 0.0], [0.25, 0.5]]))
    assert torch.equal(blend_init(prev, warped, c, 0.0), prev)  # delta 0: the previous pass only
    assert torch.equal(blend_init(prev, warped, torch.ones_like(c), 1.0), warped)


def _shot(n: int = 4, h: int = 6, w: int = 8):
    contents = [torch.full((1, 3, h, w), 0.1 * (i + 1)) for i in range(n)]
    zero_flow = [torch.zeros(1, 2, h, w) for _ in range(n)]
    ones = [torch.ones(1, 1, h, w) for _ in range(n)]
    return contents, zero_flow, ones


def test_pass_order_inits_and_temporal_loss() -> None:
    contents, flows, ones = _shot()
    calls: list[tuple[int, object, int]] = []

    def fake(i, content, init, temporal):
        calls.append((i, init if isinstance(init, str) else round(float(init.mean()), 6), len(temporal)))
        base = content if isinstance(init, str) else init
        return base + 1.0  # "optimisation" adds 1

    settings = MultipassSettings(num_passes=3, use_temporal_loss_after=3, blend_weight=0.5, first_init="image")
    out = multipass_shot(contents, flows, ones, flows, ones, fake, settings)
    n = len(contents)
    assert [c[0] for c in calls] == list(range(n)) + list(range(n)) + list(range(n - 1, -1, -1))
    assert all(c[1] == "image" and c[2] == 0 for c in calls[:n])  # pass 1: independent, no temporal loss
    # pass 2 (forward, no temporal loss): frame 0 keeps its pass-1 result, frame i blends 50/50 with the
    # warped (zero flow, c = 1) pass-2 result of frame i-1
    p1 = [0.1 * (i + 1) + 1 for i in range(n)]
    p2 = [p1[0] + 1]
    for i in range(1, n):
        p2.append(0.5 * p2[i - 1] + 0.5 * p1[i] + 1)
    assert [c[1] for c in calls[n:2 * n]] == pytest.approx([p1[0]] + [0.5 * p2[i - 1] + 0.5 * p1[i] for i in range(1, n)])
    assert all(c[2] == 0 for c in calls[n:2 * n])
    # pass 3 (backward, temporal loss from pass 3): the last frame starts from its pass-2 result
    back = calls[2 * n:]
    assert back[0][1] == pytest.approx(p2[-1]) and back[0][2] == 0
    assert all(c[2] == 1 for c in back[1:])
    assert len(out) == n


def test_prior_is_frame_0s_fixed_neighbour() -> None:
    """A fixed prior (the previous chunk's last frame): eq. 13 neighbour of frame 0 in forward passes, and
    a temporal term of frame 0 in every pass with the temporal loss, besides frame 1 in backward passes."""
    contents, flows, ones = _shot(3)
    calls: list[tuple[int, int, object, list[float]]] = []

    def fake(i, content, init, temporal):
        calls.append((i, len(calls), init if isinstance(init, str) else round(float(init.mean()), 6),
                      [round(float(w.mean()), 6) for w, _ in temporal]))
        return (content if isinstance(init, str) else init) + 1.0

    prior = torch.full((1, 3, 6, 8), 5.0)
    settings = MultipassSettings(num_passes=4, use_temporal_loss_after=3, blend_weight=0.5, first_init="image")
    with_prior = multipass_shot(contents, flows, ones, flows, ones, fake, settings, prior=prior)
    frame0 = [c for c in calls if c[0] == 0]
    assert frame0[0][2] == "image" and frame0[0][3] == []  # pass 1 stays independent
    p1 = 0.1 + 1.0
    assert frame0[1][2] == pytest.approx(0.5 * 5.0 + 0.5 * p1) and frame0[1][3] == []  # pass 2 forward: blend
    assert frame0[2][3][1:] == [5.0] and len(frame0[2][3]) == 2  # pass 3 backward: frame 1 and the prior
    assert frame0[3][3] == [5.0]  # pass 4 forward: the prior is the neighbour in processing direction
    calls.clear()
    without = multipass_shot(contents, flows, ones, flows, ones, fake, settings)
    assert [len(c[3]) for c in calls if c[0] == 0] == [0, 0, 1, 0]  # without: frame 1 in backward passes only
    assert float(with_prior[0].mean()) > float(without[0].mean()) + 1.0  # pulled towards the prior
    # an odd number of passes: a continued shot runs pass 2 backward so that the last pass is forward
    calls.clear()
    odd = MultipassSettings(num_passes=3, use_temporal_loss_after=3, blend_weight=0.5, first_init="image")
    multipass_shot(contents, flows, ones, flows, ones, fake, odd, prior=prior)
    assert [c[0] for c in calls] == [0, 1, 2, 2, 1, 0, 0, 1, 2]


def test_resume_after_a_pass_gives_the_same_result() -> None:
    contents, flows, ones = _shot(3)
    fake = lambda i, content, init, temporal: (content if isinstance(init, str) else init) * 0.9 + 0.05
    settings = MultipassSettings(num_passes=4, use_temporal_loss_after=2, blend_weight=1.0, first_init="image")
    saved: dict[int, list[torch.Tensor]] = {}
    full = multipass_shot(contents, flows, ones, flows, ones, fake, settings,
                          after_pass=lambda j, res: saved.__setitem__(j, res))
    assert sorted(saved) == [1, 2, 3, 4]
    resumed = multipass_shot(contents, flows, ones, flows, ones, fake, settings, start=(2, saved[2]))
    for a, b in zip(full, resumed):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_passes": 0}, "num_passes must be"),
    ({"num_passes": 3, "use_temporal_loss_after": 4}, "use_temporal_loss_after must be between"),
    ({"blend_weight": 1.5}, "blend_weight must lie in"),
    ({"first_init": "prev"}, "init of pass 1 must be"),
])
def test_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MultipassSettings(**kwargs)


def test_mismatched_lists() -> None:
    contents, flows, ones = _shot(3)
    with pytest.raises(ValueError, match="flows_forward has 2 entries for 3 frames"):
        multipass_shot(contents, flows, ones, flows[:2], ones, lambda *a: a[1],
                       MultipassSettings(num_passes=1, use_temporal_loss_after=1))


# ---- the VapourSynth filter ---------------------------------------------------------------------
def _clip(length: int = 4):
    import vapoursynth as vs

    from .conftest import DATA

    src = vs.core.bs.VideoSource(str(DATA / "videos" / "bikes.mp4"))[40:40 + length]
    return vs.core.resize.Bicubic(src, 48, 32, format=vs.RGBS, matrix_in_s="170m")


FAST_MP = dict(num_passes=3, use_temporal_loss_after=3, num_iterations=4, init="image", tol_loss_relative=0)


def _frames(clip, order):
    import numpy as np

    return {n: np.stack([np.asarray(clip.get_frame(n)[p]) for p in range(3)]) for n in order}


@pytest.mark.data
def test_filter_chunks_cache_and_resume(tmp_path) -> None:
    import numpy as np

    import vsstylize

    from .conftest import DATA

    style = str(DATA / "styles" / "starry_night.jpg")
    clip = _clip(4)
    out = vsstylize.stylize(clip, style, "multipass", max_shot_length=3, cache_dir=tmp_path, **FAST_MP)
    assert (out.num_frames, out.width, out.height, out.format.id) == (4, 48, 32, clip.format.id)
    a = _frames(out, [2, 0, 3, 1])  # any order: a chunk is processed when first touched
    src = _frames(clip, range(4))
    assert all(np.abs(a[n] - src[n]).mean() > 0.02 for n in range(4))  # stylized
    # one cache entry per shot (the last finished pass; earlier passes are removed): chunks [0, 3) and [3, 4)
    assert len(list((tmp_path / "multipass").rglob("*.png"))) == 2
    # a fresh instance serves everything from the cache, identically
    b = _frames(vsstylize.stylize(clip, style, "multipass", max_shot_length=3, cache_dir=tmp_path, **FAST_MP), range(4))
    for n in range(4):
        assert np.abs(a[n] - b[n]).max() <= 1e-6
    # pass by pass: a 2-pass render extended to 3 passes (same cache) equals a fresh 3-pass render
    fresh = _frames(vsstylize.stylize(clip, style, "multipass", max_shot_length=4, **FAST_MP), range(4))
    two = {**FAST_MP, "num_passes": 2, "use_temporal_loss_after": 2}
    three = {**FAST_MP, "use_temporal_loss_after": 2}
    fresh3 = _frames(vsstylize.stylize(clip, style, "multipass", max_shot_length=4, **three), range(4))
    _frames(vsstylize.stylize(clip, style, "multipass", max_shot_length=4, cache_dir=tmp_path / "b", **two), range(4))
    assert len(list((tmp_path / "b" / "multipass").rglob("*.png"))) == 1
    extended = _frames(vsstylize.stylize(clip, style, "multipass", max_shot_length=4, cache_dir=tmp_path / "b", **three),
                       range(4))
    assert len(list((tmp_path / "b" / "multipass").rglob("*.png"))) == 1
    for n in range(4):
        assert np.abs(extended[n] - fresh3[n]).max() <= 1e-5
    assert max(np.abs(fresh[n] - fresh3[n]).max() for n in range(4)) > 1e-3  # the setting mattered


@pytest.mark.data
@pytest.mark.slow
def test_filter_chunk_overlap_seam_and_request_order() -> None:
    """Chunks of one shot overlap by a frame: the seam between chunks is more consistent than with
    independent chunks (ground-truth temporal error of the seam frame pair), and the frames do not depend on
    which one is requested first (a later chunk walks back to the chunk before it)."""
    import numpy as np
    import vapoursynth as vs

    import vsstylize
    from vsstylize.train.sequences import make_sequence
    from vsstylize_bench import metrics
    from vsstylize_bench.sources import default_photos

    from .conftest import DATA

    seq = make_sequence("slow_pan", DATA / "content" / "tubingen.jpg", num_frames=6, size=(48, 32), seed=1,
                        long_steps=(), photos=default_photos(DATA / "content"))
    clip = seq.to_clips(vs.core).frames
    style = str(DATA / "styles" / "starry_night.jpg")
    kw = {**FAST_MP, "use_temporal_loss_after": 2, "max_shot_length": 3}
    linked = vsstylize.stylize(clip, style, "multipass", **kw)
    shuffled = _frames(linked, [4, 1, 5, 0, 3, 2])  # chunk 1 first: it requests chunk 0's last frame
    in_order = _frames(vsstylize.stylize(clip, style, "multipass", **kw), range(6))
    for n in range(6):
        assert np.abs(shuffled[n] - in_order[n]).max() <= 1e-6
    independent = _frames(vsstylize.stylize(clip, style, "multipass", overlap_chunks=False, **kw), range(6))
    for n in range(3):  # chunk 0 has no prior: the same either way
        assert np.abs(independent[n] - in_order[n]).max() <= 1e-6
    err = {name: metrics.temporal_error(np.stack([f[n] for n in range(6)]), seq.flow_backward, seq.mask_backward)
           for name, f in (("overlap", in_order), ("independent", independent))}
    seam = 2  # entry t-1 is the error of frame t against t-1; the seam is frames 2 -> 3
    assert err["overlap"][seam] < 0.7 * err["independent"][seam]
    # inside a chunk both behave alike; the independent seam is an outlier, the linked one is not
    assert err["overlap"][seam] < 2.0 * max(err["overlap"][[0, 1, 3, 4]])
    # a scene cut at the first frame of chunk 1 starts a new shot: no prior, as independent chunks
    cut = clip[:3] + vs.core.std.SetFrameProps(clip[3], _SceneChangePrev=1) + clip[4:]
    after_cut = _frames(vsstylize.stylize(cut, style, "multipass", **kw), [4, 3, 5])
    for n in range(3, 6):
        assert np.abs(after_cut[n] - independent[n]).max() <= 1e-6


@pytest.mark.data
@pytest.mark.parametrize("kwargs, message", [
    ({"num_passes": 0}, "num_passes must be"),
    ({"num_passes": 2, "use_temporal_loss_after": 3}, "use_temporal_loss_after must be between"),
    ({"blend_weight": -0.1}, "blend_weight must lie in"),
    ({"max_shot_length": 1}, "max_shot_length must be"),
    ({"overlap_chunks": 1}, "overlap_chunks must be True or False"),
    ({"num_iterations": (10, 5)}, "method='multipass' takes one value of num_iterations"),
    ({"init": ("image", "prevWarped")}, "method='multipass' takes one value of init"),
    ({"flow_relative_indices": (1, 2)}, "method='multipass' does not use flow_relative_indices"),
])
def test_filter_bad_input(kwargs: dict, message: str) -> None:
    import vapoursynth as vs

    import vsstylize

    from .conftest import DATA

    with pytest.raises(vs.Error, match=message):
        vsstylize.stylize(_clip(2), str(DATA / "styles" / "starry_night.jpg"), "multipass", **kwargs)
    with pytest.raises(TypeError, match="colour"):
        vsstylize.stylize(_clip(2), str(DATA / "styles" / "starry_night.jpg"), "multipass", colour=3)  # type: ignore[call-arg]


@pytest.mark.data
def test_bench_runs_multipass_as_one_shot() -> None:
    """The bench's ``multipass`` setting goes through vsstylize.optim.passes with the later-frame iterations."""
    import numpy as np

    from vsstylize_bench.config import SETTINGS
    from vsstylize_bench.runner import stylize_clip

    from .conftest import DATA

    clip = _clip(3)
    settings = {**SETTINGS["multipass"], "num_passes": 2, "use_temporal_loss_after": 2,
                "num_iterations": (4, 2), "tol_loss_relative": 0}
    frames, seconds, _ = stylize_clip(clip, DATA / "styles" / "starry_night.jpg", settings)
    assert frames.shape == (3, 3, 32, 48) and seconds.shape == (3,) and (seconds > 0).all()
    assert np.isfinite(frames).all() and frames.std() > 0.01


@pytest.mark.data
def test_bench_report_has_border_contrast_for_multipass_and_longterm(tmp_path) -> None:
    """`vsstylize bench` with the multipass and J = {1, 10, 20, 40} settings on a fast pan writes the border
    contrast per frame (table, plot, results.json) for every method and the content."""
    import json

    import numpy as np

    from vsstylize_bench.report import BenchConfig, run_bench

    from .conftest import DATA

    cfg = BenchConfig(out=tmp_path / "r", width=32, frames=3, iterations=(2, 1), sequences=("fast_pan",),
                      methods=("multipass", "longterm_paper"), style=DATA / "styles" / "starry_night.jpg",
                      image=str(DATA / "content" / "tubingen.jpg"), tol_loss_relative=0.0)
    report = run_bench(cfg).read_text()
    names = ["content", "random", "prev", "prevWarped", "temporal", "multipass", "longterm_paper"]
    assert "| t | " + " | ".join(names) + " |" in report
    rows = [line for line in report.splitlines() if line.startswith(("| 0 |", "| 1 |", "| 2 |"))]
    # the raw table (content and every method), then the relative one (without the content and the reference)
    assert len(rows) == 6 and all(len(r.split("|")) == len(names) + 3 for r in rows[:3])
    assert all(len(r.split("|")) == len(names) + 1 for r in rows[3:])
    assert "](border_contrast_fast_pan-0.png)" in report and (cfg.out / "border_contrast_fast_pan-0.png").is_file()
    seq_json = json.loads((cfg.out / "results.json").read_text())["sequences"]["fast_pan-0"]
    ratios = seq_json["border_contrast"]
    assert sorted(ratios) == sorted(names) and all(len(v) == 3 for v in ratios.values())
    assert all(np.isfinite(v).all() and min(v) > 0 for v in ratios.values())
    # relative to the per-frame reference (`random`): every other method, frame by frame
    relative = seq_json["border_contrast_relative"]
    assert seq_json["border_contrast_reference"] == "random"
    assert list(relative) == [n for n in names if n not in ("content", "random")]
    for n, rel in relative.items():
        np.testing.assert_allclose(rel, np.array(ratios[n]) / np.array(ratios["random"]), rtol=1e-9)
    assert "| t | " + " | ".join(relative) + " |" in report and "relative to those of per-frame `random`" in report
    assert report.count("| frames within 10 % |") == 2


def test_relative_border_contrast_divides_by_the_per_frame_reference() -> None:
    import numpy as np

    from vsstylize_bench.measure import relative_border_contrast

    ratios = {"content": np.array([2.0, 2.0]), "per-frame": np.array([0.5, 2.0]), "single": np.array([0.5, 1.0]),
              "multi": np.array([1.0, 2.2])}
    rel = relative_border_contrast(ratios, "per-frame")
    assert list(rel) == ["single", "multi"]
    np.testing.assert_allclose(rel["single"], [1.0, 0.5])
    np.testing.assert_allclose(rel["multi"], [2.0, 1.1])
    with pytest.raises(KeyError, match="'image'"):
        relative_border_contrast(ratios, "image")


@pytest.mark.data
def test_stationary_texture_has_the_same_contrast_everywhere() -> None:
    """The random-phase texture keeps the photo's colour statistics while its local contrast (std of 32 px
    tiles) is the same everywhere, unlike the photo's (sky vs facades): content for the border test."""
    import cv2
    import numpy as np

    from vsstylize.train.sequences import load_image
    from vsstylize_bench.sources import stationary_texture

    from .conftest import DATA

    image = DATA / "content" / "tubingen.jpg"

    def tile_std(img: np.ndarray) -> np.ndarray:
        return np.array([img[y:y + 32, x:x + 32].std(axis=(0, 1)).mean() for y in range(0, 192, 32)
                         for x in range(0, 256, 32)])

    photo = cv2.resize(load_image(image), (256, 192), interpolation=cv2.INTER_AREA)
    tex = stationary_texture(image, (256, 192), 8.0, seed=3)
    assert tex.shape == (192, 256, 3) and tex.dtype == np.float32 and tex.min() >= 0.0 and tex.max() <= 1.0
    np.testing.assert_allclose(tex.mean(axis=(0, 1)), photo.mean(axis=(0, 1)), atol=0.01)
    np.testing.assert_allclose(tex.std(axis=(0, 1)), photo.std(axis=(0, 1)), rtol=0.05)
    t, p = tile_std(tex), tile_std(photo)
    assert t.min() / t.max() > 0.75 and p.min() / p.max() < 0.2, (t.min() / t.max(), p.min() / p.max())
    assert not np.allclose(tex, stationary_texture(image, (256, 192), 8.0, seed=4))  # the seed picks the phase
    with pytest.raises(ValueError, match="max_period"):
        stationary_texture(image, (256, 192), 0.0)


@pytest.mark.data
@pytest.mark.slow
def test_bench_script_saves_and_remeasures_frames(tmp_path) -> None:
    """``python -m vsstylize_bench multipass --save`` keeps every method's frames; ``--load`` measures the same frames
    again without stylizing (same numbers at the same band), and ``--band-inset`` moves the band."""
    import subprocess
    import sys

    import numpy as np

    from .conftest import DATA

    saved = tmp_path / "frames.npz"
    common = [sys.executable, "-m", "vsstylize_bench", "multipass", "--model", "vgg16", "--parts", "border", "--size",
              "48x36", "--frames", "3",
              "--image", str(DATA / "content" / "tubingen.jpg")]
    run = [*common, "--iterations", "3,2", "--passes", "2", "--temporal-after", "2", "--pass-iterations", "2",
           "--reference-iterations", "3", "--save", str(saved)]

    def border_lines(cmd: list[str]) -> list[str]:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return [line for line in result.stdout.splitlines() if "t=" in line or "temporal error" in line]

    first = border_lines(run)
    with np.load(saved) as npz:
        assert set(npz.files) == {"content", "per_frame", "single_pass", "multi_pass"}
        assert npz["multi_pass"].shape == (3, 3, 36, 48)
    again = border_lines([*common, "--load", str(saved)])

    def strip(lines: list[str]) -> list[str]:  # loaded frames have no timings
        return [line.split("s/frame")[-1] for line in lines]

    assert strip(again) == strip(first) and len(first) == 6
    inset = border_lines([*common, "--load", str(saved), "--band-inset", "3"])
    assert [line for line in inset if "t=" in line] != [line for line in first if "t=" in line]


@pytest.mark.data
def test_multipass_filter_is_the_multipass_method() -> None:
    import numpy as np

    import vsstylize

    from .conftest import DATA

    style = str(DATA / "styles" / "starry_night.jpg")
    clip = _clip(2)
    own = _frames(vsstylize.multipass(clip, style, max_shot_length=2, **FAST_MP), range(2))
    method = _frames(vsstylize.stylize(clip, style, "multipass", max_shot_length=2, **FAST_MP), range(2))
    assert all(np.array_equal(own[n], method[n]) for n in range(2))
    assert "num_passes" in (vsstylize.multipass.__doc__ or "") and "face_size" not in (vsstylize.multipass.__doc__ or "")


@pytest.mark.data
def test_multipass_filter_bad_input() -> None:
    import vapoursynth as vs

    import vsstylize

    from .conftest import DATA

    style = str(DATA / "styles" / "starry_night.jpg")
    with pytest.raises(vs.Error) as exc:
        vsstylize.multipass(_clip(2), style, num_passes=0)
    assert str(exc.value).startswith("vsstylize.multipass: num_passes must be") and "\n" not in str(exc.value)
    with pytest.raises(vs.Error, match="does not use face_size"):
        vsstylize.multipass(_clip(2), style, face_size=64)
    with pytest.raises(TypeError, match="colour"):
        vsstylize.multipass(_clip(2), style, colour=3)
