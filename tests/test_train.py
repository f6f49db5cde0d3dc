"""Network training: data (real tuples with DIS flow, synthetic sequences), each training procedure, resume
after SIGKILL, and bad input. Tiny crops and few iterations: these test the machinery, not quality."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vsstylize.networks.io import load_network
from vsstylize.opticalflow.warping import warp
from vsstylize.train.data import DatasetError, TrainingData
from vsstylize.train.trainer import (
    TrainError,
    TrainSettings,
    frames_for_iteration,
    portable_command,
    train,
)

from .conftest import DATA, REPO

pytestmark = pytest.mark.data

STYLE = str(DATA / "styles" / "the_scream.jpg")
PHOTOS = str(DATA / "content")


def _settings(tmp_path: Path, arch: str, **kw: object) -> TrainSettings:
    base = dict(arch=arch, styles=[STYLE], data=[PHOTOS], out=str(tmp_path / arch), size=32, batch_size=1,
                iterations=4, checkpoint_every=1, loss_model="vgg16", data_cache=str(tmp_path / "data-cache"))
    base.update(kw)
    return TrainSettings(**base)  # type: ignore[arg-type]


def test_real_tuples_have_consistent_flow(tmp_path: Path) -> None:
    data = TrainingData([DATA / "videos" / "carphone_pristine.mp4"], (48, 48), length=3, tuples_per_clip=2,
                        max_video_frames=12, cache_root=tmp_path)
    assert data.sources["real_tuples"] == 2 and data.synthetic_fraction > 0  # video frames also serve as stills
    frames, flows, masks = data.batch(0, 0, 4, 3)
    assert frames.shape == (4, 3, 3, 48, 48) and flows.shape == (4, 3, 2, 48, 48) and masks.shape == (4, 3, 1, 48, 48)
    assert float(masks.min()) >= 0 and float(masks.max()) <= 1 and float(masks[:, 0].abs().max()) == 0
    # warping frame t-1 along the backward flow reproduces frame t on reliable pixels
    warped = warp(frames[:, 1], flows[:, 2])
    c = masks[:, 2]
    err_warp = float((c * (warped - frames[:, 2]).abs()).sum() / (3 * c.sum()))
    err_still = float((c * (frames[:, 1] - frames[:, 2]).abs()).sum() / (3 * c.sum()))
    assert err_warp < 0.05 and err_warp <= err_still
    again = data.batch(0, 0, 4, 3)
    assert torch.equal(again[0], frames)  # a batch is a pure function of (seed, iteration)


def test_multi_frame_schedule(tmp_path: Path) -> None:
    s = _settings(tmp_path, "ruder-prior-48", iterations=120)
    assert [frames_for_iteration(s, i) for i in (0, 49, 50, 59, 60, 119)] == [2, 2, 3, 3, 5, 5]
    assert frames_for_iteration(_settings(tmp_path, "huang-res48", iterations=120), 100) == 2


@pytest.mark.parametrize("arch", ["ruder-prior-48", "huang-res48", "johnson"])
def test_train_writes_model_card_and_curve(tmp_path: Path, arch: str) -> None:
    path = train(_settings(tmp_path, arch, iterations=3), progress=False)
    net, card = load_network(path)
    assert net.spec.arch == arch
    assert card["training"]["iterations"] == 3 and card["style_images"] == ["the_scream.jpg"]
    assert card["training"]["wall_seconds"] > 0 and card["training"]["data"]["stills"] == 3
    data = card["training"]["data"]  # relative to the data set's folder, never a machine's path
    assert data["images"] and not any(Path(f).is_absolute() or ".." in Path(f).parts for f in data["images"])
    assert data["root"] == "content" and (DATA / "content" / data["images"][0]).is_file()
    sources = {"images": [str(DATA / "content" / "tubingen.jpg")], "videos": [str(DATA / "videos" / "bikes.mp4")]}
    assert portable_command(f"vsstylize train --style {DATA / 'styles' / 'x.jpg'} --data {DATA / 'videos'} -o /tmp/a/net "
                            "--size 32", sources) == "vsstylize train --style styles/x.jpg --data videos -o net --size 32"
    assert path.with_suffix(".losses.png").stat().st_size > 1000
    assert all(np.isfinite(v) for v in card["training"]["final_loss"].values())
    if arch == "ruder-prior-48":
        assert "temporal" in card["training"]["final_loss"]
        assert card["training"]["procedure"] == "Ruder et al. 2018 multi-frame + mixed"
        two = train(_settings(tmp_path / "two", arch, iterations=1, multi_frame=False, mixed_fraction=0.0), progress=False)
        training = load_network(two)[1]["training"]
        assert training["procedure"] == "Ruder et al. 2018 two-frame" and training["multi_frame_schedule"] is None


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    full = train(_settings(tmp_path / "a", "ruder-prior-48"), progress=False)

    class Stop(Exception):
        pass

    def stop_at_2(it: int) -> None:
        if it == 2:
            raise Stop

    s = _settings(tmp_path / "b", "ruder-prior-48")
    with pytest.raises(Stop):
        train(s, progress=False, on_checkpoint=stop_at_2)
    assert not Path(s.out + ".safetensors").exists()
    resumed = train(s, progress=False)
    a, _ = load_network(full)
    b, _ = load_network(resumed)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, msg=k)
    ckpt = torch.load(Path(s.out).with_suffix(".ckpt"), weights_only=False)
    assert len(ckpt["history"]) == 4  # no iteration lost or repeated
    # the loss values stay on the device between reads; the history read back is the uninterrupted run's
    assert ckpt["history"] == torch.load(full.with_suffix(".ckpt"), weights_only=False)["history"]
    with pytest.raises(TrainError, match="other settings"):
        train(_settings(tmp_path / "b", "ruder-prior-48", style_weight=3.0), progress=False)


@pytest.mark.slow
def test_cli_train_resumes_after_sigkill(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    cache = tmp_path / "data-cache"
    cmd = [sys.executable, "-m", "vsstylize", "train", "--arch", "huang-res48", "--style", STYLE, "--data", PHOTOS,
           "--data", str(DATA / "videos" / "carphone_pristine.mp4"), "-o", str(out), "--size", "32", "--batch-size", "2",
           "--iterations", "16", "--checkpoint-every", "1", "--log-every", "3", "--data-cache", str(cache), "--quiet"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt = out.with_suffix(".ckpt")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if ckpt.is_file() and torch.load(ckpt, weights_only=False)["iteration"] >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = torch.load(ckpt, weights_only=False)
    done_before = before["iteration"]
    assert 3 <= done_before < 16 and not out.with_suffix(".safetensors").exists()
    assert len(before["history"]) == done_before  # every step up to the checkpoint was read back into it
    shards = {p: p.stat().st_mtime_ns for p in cache.rglob("*.safetensors")}
    assert any(p.name.startswith("clip-") for p in shards)
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["iterations"] == 16 and card["training"]["data"]["real_tuples"] > 0
    after = torch.load(ckpt, weights_only=False)["history"]
    assert len(after) == 16 and after[:done_before] == before["history"]
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.safetensors")} == shards  # the data cache was reused
    # the same run uninterrupted: the same history (a batch is a pure function of the seed and the iteration)
    ref = tmp_path / "uninterrupted"
    res = subprocess.run([*cmd[:cmd.index("-o") + 1], str(ref), *cmd[cmd.index("-o") + 2:]], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert torch.load(ref.with_suffix(".ckpt"), weights_only=False)["history"] == after


def test_bad_training_input(tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="style: no such style image"):
        train(_settings(tmp_path, "huang-res48", styles=[str(tmp_path / "missing.jpg")]), progress=False)
    with pytest.raises(TrainError, match="style: at least one"):
        train(_settings(tmp_path, "huang-res48", styles=[]), progress=False)
    with pytest.raises(TrainError, match="arch must be one of"):
        train(_settings(tmp_path, "resnet"), progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no frames here")
    with pytest.raises(DatasetError, match="no usable frames"):
        train(_settings(tmp_path, "huang-res48", data=[str(empty)]), progress=False)
    with pytest.raises(DatasetError, match="no such file or folder"):
        train(_settings(tmp_path, "huang-res48", data=[str(tmp_path / "nowhere")]), progress=False)
    res = subprocess.run([sys.executable, "-m", "vsstylize", "train", "--arch", "huang-res48", "--style", STYLE,
                          "--data", str(empty), "-o", str(tmp_path / "x")], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert res.returncode == 1 and "vsstylize train: data: no usable frames" in res.stderr
