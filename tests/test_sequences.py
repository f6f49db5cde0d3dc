"""Ground-truth sequences from real photos: exact flow and masks, determinism, files, clips, errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

from vsstylize.opticalflow.warping import warp
from vsstylize.train.sequences import PRESETS, Sequence, load_sequence, make_sequence

from .conftest import DATA

pytestmark = pytest.mark.data

IMAGE = DATA / "content" / "tubingen.jpg"
TEXTURE = DATA / "content" / "golden_gate.jpg"
SIZE = (64, 48)
FRAMES = 12
LONG = (5, 10)
MAE_LIMIT = 0.01  # the bound: interpolation error on [0, 1] pixels


@pytest.fixture(scope="module")
def sequences() -> dict[str, Sequence]:
    return {p: make_sequence(p, IMAGE, num_frames=FRAMES, size=SIZE, seed=7, texture=TEXTURE, long_steps=LONG)
            for p in PRESETS}


def _masked_mae(seq: Sequence, flows: np.ndarray, masks: np.ndarray, offset: int) -> list[float]:
    """MAE between frame t and warp(frame t+offset, flow_t) over mask pixels, per frame with >= 20 of them."""
    frames = torch.from_numpy(seq.frames)
    out = []
    for t in range(seq.num_frames):
        s = t + offset
        if not 0 <= s < seq.num_frames or masks[t].sum() < 20:
            continue
        warped = warp(frames[s:s + 1], torch.from_numpy(flows[t:t + 1]))[0].numpy()
        err = np.abs(warped - seq.frames[t]).mean(axis=0)
        out.append(float((err * masks[t]).sum() / masks[t].sum()))
    return out


@pytest.mark.parametrize("preset", list(PRESETS))
def test_flow_reproduces_frames(sequences: dict[str, Sequence], preset: str) -> None:
    seq = sequences[preset]
    assert seq.frames.shape == (FRAMES, 3, SIZE[1], SIZE[0]) and seq.frames.dtype == np.float32
    assert seq.frames.min() >= 0.0 and seq.frames.max() <= 1.0
    # forward flow of t (t -> t+1): warping frame t+1 reproduces frame t on non-occluded pixels
    fwd = _masked_mae(seq, seq.flow_forward, seq.mask_forward, +1)
    bwd = _masked_mae(seq, seq.flow_backward, seq.mask_backward, -1)
    assert len(fwd) == len(bwd) == FRAMES - 1
    assert max(fwd) < MAE_LIMIT and max(bwd) < MAE_LIMIT, (max(fwd), max(bwd))
    checked = 0
    for k in LONG:
        errs = _masked_mae(seq, seq.long_flows[k], seq.long_masks[k], -k)
        checked += len(errs)
        assert not errs or max(errs) < MAE_LIMIT, (k, max(errs))
    assert checked > 0
    # frames without a partner carry zero flow and an empty mask
    assert not seq.flow_backward[0].any() and not seq.mask_backward[0].any()
    assert not seq.flow_forward[-1].any() and not seq.mask_forward[-1].any()
    assert not seq.long_masks[10][:10].any()


@pytest.mark.parametrize("preset", list(PRESETS))
def test_masks_are_not_trivial(sequences: dict[str, Sequence], preset: str) -> None:
    """Masks are binary, mostly 1, and wrong flow would not pass the check (unmasked error is larger)."""
    seq = sequences[preset]
    for m in (seq.mask_backward, seq.mask_forward):
        assert set(np.unique(m)) <= {0.0, 1.0}
        assert m[1:-1].mean() > 0.5
    shifted = seq.flow_forward + 1.5  # a wrong flow reproduces nothing
    assert max(_masked_mae(seq, shifted, seq.mask_forward, +1)) > MAE_LIMIT


def test_seed_determinism() -> None:
    a = make_sequence("fast_pan_zoom", IMAGE, num_frames=6, size=SIZE, seed=3, texture=TEXTURE, long_steps=(5,))
    b = make_sequence("fast_pan_zoom", IMAGE, num_frames=6, size=SIZE, seed=3, texture=TEXTURE, long_steps=(5,))
    c = make_sequence("fast_pan_zoom", IMAGE, num_frames=6, size=SIZE, seed=4, texture=TEXTURE, long_steps=(5,))
    for name in ("frames", "flow_backward", "flow_forward", "mask_backward", "mask_forward", "alpha"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.long_flows[5], b.long_flows[5])
    assert a.metadata == b.metadata and a.metadata["seed"] == 3
    assert not np.array_equal(a.frames, c.frames)


@pytest.mark.parametrize("preset", ["large_occluder", "occluder_pass"])
def test_occluders_disocclude_inside_the_image(sequences: dict[str, Sequence], preset: str) -> None:
    """Zeros of the mask away from the borders: real disocclusions, not only content leaving the view."""
    seq = sequences[preset]
    h, w = seq.alpha.shape[1:]
    inner = 0
    for flows, masks in ((seq.flow_backward, seq.mask_backward), (seq.flow_forward, seq.mask_forward)):
        for t in range(seq.num_frames):
            margin = int(math.ceil(np.abs(flows[t]).max())) + 2
            if masks[t].any():
                inner += int((masks[t][margin:h - margin, margin:w - margin] == 0).sum())
    assert inner > 50


def test_occluder_pass_enters_and_leaves() -> None:
    seq = make_sequence("occluder_pass", IMAGE, num_frames=24, size=SIZE, seed=1, texture=TEXTURE, long_steps=(10, 20))
    cover = seq.alpha.mean(axis=(1, 2))
    assert cover[0] == 0.0 and cover[-1] == 0.0 and cover.max() > 0.1
    region = seq.occluded_between(23, 20)
    assert region.sum() > 50  # background seen in frames 3 and 23, covered in between
    assert not (region & (seq.long_masks[20][23] == 0)).any()
    with pytest.raises(ValueError, match="k"):
        seq.occluded_between(23, 5)


def test_fast_pan_new_content_at_one_border(sequences: dict[str, Sequence]) -> None:
    seq = sequences["fast_pan"]
    side = seq.metadata["params"]["entering_side"]
    assert side in ("left", "right")
    col = slice(-3, None) if side == "right" else slice(0, 3)
    other = slice(0, 3) if side == "right" else slice(-3, None)
    for t in range(1, seq.num_frames):  # the entering band has no partner in t-1, the opposite border has
        assert seq.mask_backward[t][:, col].mean() == 0.0
        assert seq.mask_backward[t][:, other].mean() > 0.5


def test_video_frame_source() -> None:
    seq = make_sequence("slow_pan", f"{DATA / 'videos' / 'bikes.mp4'}#10", num_frames=3, size=SIZE, seed=0,
                        texture=TEXTURE, long_steps=())
    assert seq.frames.shape == (3, 3, SIZE[1], SIZE[0]) and seq.metadata["image"].endswith("#10")
    assert seq.frames.std() > 0.05


def test_save_load_roundtrip(tmp_path: Path, sequences: dict[str, Sequence]) -> None:
    seq = sequences["occluder_pass"]
    folder = seq.save(tmp_path / "seq")
    assert (folder / "manifest.json").is_file() and (folder / "flow_backward_0001.flo").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["seq"]  # no temp folders left behind
    back = load_sequence(folder)
    np.testing.assert_allclose(back.frames, seq.frames, atol=1e-4)
    np.testing.assert_array_equal(back.flow_backward, seq.flow_backward)
    np.testing.assert_array_equal(back.flow_forward, seq.flow_forward)
    np.testing.assert_array_equal(back.mask_backward, seq.mask_backward)
    np.testing.assert_array_equal(back.long_flows[10], seq.long_flows[10])
    np.testing.assert_array_equal(back.long_masks[5], seq.long_masks[5])
    np.testing.assert_allclose(back.alpha, seq.alpha, atol=1e-4)
    np.testing.assert_allclose(back.camera, seq.camera)
    assert back.metadata == seq.metadata and back.name == seq.name
    with pytest.raises(FileExistsError, match="overwrite"):
        seq.save(folder)
    seq.save(folder, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq"]
    with pytest.raises(FileNotFoundError, match="manifest"):
        load_sequence(tmp_path)


def test_to_clips(core: vs.Core, sequences: dict[str, Sequence]) -> None:
    seq = sequences["large_occluder"]
    clips = seq.to_clips(core)
    assert clips.frames.format.id == vs.RGBS and clips.frames.num_frames == FRAMES
    assert (clips.frames.width, clips.frames.height) == SIZE
    f3 = clips.frames.get_frame(3)
    np.testing.assert_array_equal(np.stack([np.asarray(f3[p]) for p in range(3)]), seq.frames[3])
    fb = clips.flow_backward.get_frame(4)
    assert fb.props["FlowDirection"] in ("backward", b"backward") and fb.props["FlowStep"] == 1
    assert fb.props["FlowValid"] == 1 and clips.flow_backward.get_frame(0).props["FlowValid"] == 0
    np.testing.assert_array_equal(np.asarray(fb[0]), seq.flow_backward[4, 0])
    np.testing.assert_array_equal(np.asarray(fb[1]), seq.flow_backward[4, 1])
    assert not np.asarray(fb[2]).any()
    assert clips.flow_forward.get_frame(FRAMES - 1).props["FlowValid"] == 0
    rel = clips.reliability_forward.get_frame(2)
    assert clips.reliability_forward.format.id == vs.GRAYS
    np.testing.assert_array_equal(np.asarray(rel[0]), seq.mask_forward[2])
    long10 = clips.long_flows[10]
    assert long10.get_frame(11).props["FlowStep"] == 10 and long10.get_frame(11).props["FlowValid"] == 1
    assert long10.get_frame(9).props["FlowValid"] == 0
    assert clips.long_reliability[5].get_frame(5).props["FlowStep"] == 5


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"preset": "wobble"}, "preset"),
    ({"num_frames": 1}, "num_frames"),
    ({"size": (8, 8)}, "size"),
    ({"size": (64,)}, "size"),
    ({"seed": -1}, "seed"),
    ({"long_steps": (40,)}, "long_steps"),
    ({"image": np.zeros((20, 20), np.uint8)}, "image"),
    ({"texture": np.zeros((20, 20, 4), np.float32)}, "texture"),
])
def test_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"preset": "slow_pan", "image": IMAGE, "num_frames": 4, "size": SIZE, "seed": 0,
            "texture": TEXTURE, "long_steps": ()}
    args.update(kwargs)
    preset = args.pop("preset")
    with pytest.raises(ValueError, match=match):
        make_sequence(preset, **args)


def test_missing_image_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="image"):
        make_sequence("slow_pan", tmp_path / "nope.jpg", num_frames=2, size=SIZE, texture=TEXTURE)


def test_flow_accessor(sequences: dict[str, Sequence]) -> None:
    seq = sequences["slow_pan"]
    assert seq.flow("backward", 5)[0] is seq.long_flows[5]
    assert seq.flow("forward", 1)[1] is seq.mask_forward
    with pytest.raises(ValueError, match="step 7"):
        seq.flow("backward", 7)
    with pytest.raises(ValueError, match="direction"):
        seq.flow("sideways")
