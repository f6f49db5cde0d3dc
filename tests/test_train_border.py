"""Border samples of cube faces (Ruder et al. 2018 sec. 6.2) and fine-tuning a prior-image network on them:
sample geometry, determinism, the trainer's init_from/border_fraction, resume, the CLI and bad input. Tiny
crops and few iterations: these test the machinery, not quality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vsstylize.networks.io import load_network
from vsstylize.train.border_data import NEIGHBOURS, BorderSamples, border_geometry
from vsstylize.train.sequences import load_image
from vsstylize.train.trainer import TrainError, TrainSettings, train

from .conftest import DATA

STYLE = str(DATA / "styles" / "the_scream.jpg")
PHOTOS = str(DATA / "content")


@pytest.fixture(scope="module")
def stills() -> list[np.ndarray]:
    return [load_image(DATA / "content" / "tubingen.jpg"), load_image(DATA / "content" / "golden_gate.jpg")]


def _settings(tmp_path: Path, **kw: object) -> TrainSettings:
    base = {"arch": "ruder-prior-48", "styles": [STYLE], "data": [PHOTOS], "out": str(tmp_path / "net"), "size": 32,
                "batch_size": 1, "iterations": 3, "checkpoint_every": 1, "loss_model": "vgg16",
            "data_cache": str(tmp_path / "data-cache")}
    base.update(kw)
    return TrainSettings(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prior-image network trained for 2 iterations (the model to fine-tune)."""
    return train(_settings(tmp_path_factory.mktemp("base"), iterations=2), progress=False)


def _side_bands(size: int, m: int) -> dict[int, tuple[slice, slice]]:
    """Per neighbour of F the strip of F's margin along the shared edge (middle half, away from corners)."""
    mid = slice(size // 4, 3 * size // 4)
    return {1: (mid, slice(size - m, size)), 3: (mid, slice(0, m)), 4: (slice(0, m), mid), 5: (slice(size - m, size), mid)}


def test_border_geometry_is_the_papers_tenth() -> None:
    g = border_geometry(128)
    assert (g.face_size, g.overlap, g.size) == (108, 10, 128)
    assert border_geometry(32).size == 32
    with pytest.raises(ValueError, match="overlap"):
        border_geometry(32, overlap=9)


@pytest.mark.data
def test_identity_stylization_reproduces_the_frame_along_the_chosen_borders(stills: list[np.ndarray]) -> None:
    """With the identity as 'stylization' the reprojected neighbouring views must give back the frame's own
    pixels (up to bilinear resampling): frame and prior views are consistent cube-face geometry (eq. 22)."""
    samples = BorderSamples(stills, 64)
    g = samples.geom
    bands = _side_bands(g.size, g.overlap)
    seen: set[int] = set()
    for seed in range(6):
        s = samples.sample(np.random.default_rng(seed), lambda x: x)
        assert s.frame.shape == (3, 64, 64) and s.prior.shape == (3, 64, 64) and s.mask.shape == (1, 64, 64)
        assert 1 <= len(s.borders) <= 4 and set(s.borders) <= set(NEIGHBOURS)
        assert float(s.mask.min()) >= 0 and float(s.mask.max()) == 1.0
        assert float((s.prior * (s.mask == 0)).abs().max()) == 0  # empty where the mask is 0
        for j, (r, c) in bands.items():
            covered = float(s.mask[0, r, c].min())
            assert (covered == 1.0) if j in s.borders else (covered == 0.0), (seed, j, s.borders)
        full = s.mask[0] == 1
        err = float(((s.prior - s.frame).abs() * full).sum() / (3 * full.sum()))
        shifted = float(((s.frame.roll((4, 4), (-2, -1)) - s.frame).abs() * full).sum() / (3 * full.sum()))
        assert err < 0.05 and err < shifted / 3, (seed, err, shifted)
        seen |= set(s.borders)
    assert seen == set(NEIGHBOURS)


@pytest.mark.data
def test_neighbouring_views_are_stylized_and_reprojected(stills: list[np.ndarray]) -> None:
    """The stylize function gets each neighbour's band of pixels that sees the photo (foreshortened views
    of about 0.4 S), and its output is what lands in the prior."""
    samples = BorderSamples(stills, 64)
    shapes: list[tuple[int, ...]] = []

    def grey(view: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(view.shape))
        return torch.full_like(view, 0.25)

    s = samples.sample(np.random.default_rng(3), grey)
    assert len(shapes) == len(s.borders)
    for shape in shapes:
        assert shape[:2] == (1, 3) and 64 in shape[2:] and 0.3 * 64 < min(shape[2:]) < 0.5 * 64
    inside = s.mask > 0
    torch.testing.assert_close(s.prior[:, inside[0]], torch.full_like(s.prior[:, inside[0]], 0.25))
    with pytest.raises(ValueError, match="stylize must return"):
        samples.sample(np.random.default_rng(3), lambda x: x[..., :-1])


@pytest.mark.data
def test_border_batch_is_a_pure_function_of_seed_and_iteration(stills: list[np.ndarray]) -> None:
    samples = BorderSamples(stills, 32)
    a = samples.batch(0, 7, 3, lambda x: 1 - x)
    b = samples.batch(0, 7, 3, lambda x: 1 - x)
    c = samples.batch(0, 8, 3, lambda x: 1 - x)
    assert a[0].shape == (3, 3, 32, 32) and a[2].shape == (3, 1, 32, 32)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])


@pytest.mark.data
def test_bad_border_sample_options(stills: list[np.ndarray]) -> None:
    with pytest.raises(ValueError, match="stills"):
        BorderSamples([], 32)
    with pytest.raises(ValueError, match="feather"):
        BorderSamples(stills, 64, feather=9)
    with pytest.raises(ValueError, match="view"):
        BorderSamples(stills, 64, view=1.1)


@pytest.mark.data
def test_identity_without_fine_tuning_options_is_unchanged(tmp_path: Path, base_model: Path) -> None:
    """Checkpoints written before init_from/border_fraction existed still resume: same identity digest
    (golden value from the trainer before the change)."""
    s = TrainSettings(arch="ruder-prior-48", styles=[STYLE], data=[PHOTOS], out="/tmp/x", size=32, batch_size=1,
                      iterations=4, checkpoint_every=1)
    # the digest formula before the change (independent of where the checkout and the data live)
    from dataclasses import asdict

    from vsstylize.media.cache import digest

    d = asdict(s)
    for k in ("iterations", "checkpoint_every", "out", "device", "extra", "init_from", "border_fraction",
              # run options added later (where the data cache lives, how batches are made): not part of the identity
              "data_cache", "precision", "channels_last", "prefetch", "log_every"):
        d.pop(k)
    assert s.identity() == digest(json.dumps(d, sort_keys=True), *[digest(Path(p).read_bytes()) for p in s.styles])
    assert _settings(tmp_path, border_fraction=0.5).identity() != _settings(tmp_path).identity()
    assert _settings(tmp_path, init_from=str(base_model)).identity() != _settings(tmp_path).identity()


@pytest.mark.data
def test_fine_tuning_starts_from_the_model_and_trains_on_border_samples(tmp_path: Path, base_model: Path) -> None:
    base, _ = load_network(base_model)
    path = train(_settings(tmp_path, init_from=str(base_model), border_fraction=1.0, iterations=2, learning_rate=1e-9),
                 progress=False)
    tuned, card = load_network(path)
    for (k, va), vb in zip(base.state_dict().items(), tuned.state_dict().values()):
        torch.testing.assert_close(va, vb, atol=1e-6, rtol=0, msg=k)  # lr 1e-9: still the initial weights
    training = card["training"]
    assert training["init_from"]["model"] == base_model.name and len(training["init_from"]["sha"]) == 32
    assert training["border_fraction"] == 1.0 and training["border_iterations"] == 2
    assert training["border_geometry"]["face_size"] + 2 * training["border_geometry"]["overlap"] == 32
    assert "border samples" in training["procedure"]
    ckpt = torch.load(Path(path).with_suffix(".ckpt"), weights_only=False)
    assert [h["border"] for h in ckpt["history"]] == [1.0, 1.0]
    assert all(h["temporal"] > 0 and np.isfinite(h["total"]) for h in ckpt["history"])
    # random initialisation is far from the base model
    scratch, _ = load_network(train(_settings(tmp_path / "scratch", border_fraction=1.0, iterations=1,
                                              learning_rate=1e-9), progress=False))
    diff = max(float((a - b).abs().max()) for a, b in zip(base.state_dict().values(), scratch.state_dict().values()))
    assert diff > 1e-3


@pytest.mark.data
def test_fine_tuning_refuses_another_architecture(tmp_path: Path) -> None:
    """init_from a network of another layout or kind is refused before training, naming both."""
    with pytest.raises(TrainError, match=r"'huang-res48' network, which cannot start arch 'ruder-prior-48'"):
        train(_settings(tmp_path / "x", arch="ruder-prior-48", init_from=str(_random_model(tmp_path))),
              progress=False)


def _random_model(tmp_path: Path, arch: str = "huang-res48") -> Path:
    from vsstylize.networks.io import save_network
    from vsstylize.networks.models import ARCHITECTURES, StylizationNetwork

    return save_network(tmp_path / arch, StylizationNetwork(ARCHITECTURES[arch]))


@pytest.mark.data
def test_prior_network_fine_tunes_from_an_image_network(tmp_path: Path) -> None:
    """A ruder-prior-48 run with init_from a johnson-48 image network (Ruder eq. 17's pre-trained image
    network) starts from its weights, the prior and mask channels of the first convolution at zero."""
    image_path = _random_model(tmp_path, "johnson-48")
    image, _ = load_network(image_path)
    path = train(_settings(tmp_path / "p", arch="ruder-prior-48", init_from=str(image_path), iterations=1,
                           learning_rate=1e-9), progress=False)
    prior, card = load_network(path)
    assert card["training"]["init_from"]["model"] == image_path.name
    state = prior.state_dict()
    for k, v in image.state_dict().items():
        w = state[k][:, :3] if k == "encoder.0.1.weight" else state[k]
        torch.testing.assert_close(w, v, atol=1e-6, rtol=0, msg=k)
    assert float(state["encoder.0.1.weight"][:, 3:].abs().max()) < 1e-6


@pytest.mark.data
def test_fine_tuning_resumes_equal_to_uninterrupted(tmp_path: Path, base_model: Path) -> None:
    kw = {"init_from": str(base_model), "border_fraction": 0.5, "iterations": 4}
    full = train(_settings(tmp_path / "a", **kw), progress=False)
    kinds = [h["border"] for h in torch.load(Path(full).with_suffix(".ckpt"), weights_only=False)["history"]]

    class Stop(Exception):
        pass

    def stop_at_2(it: int) -> None:
        if it == 2:
            raise Stop

    s = _settings(tmp_path / "b", **kw)
    with pytest.raises(Stop):
        train(s, progress=False, on_checkpoint=stop_at_2)
    resumed = train(s, progress=False)
    a, _ = load_network(full)
    b, _ = load_network(resumed)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, msg=k)
    history = torch.load(Path(resumed).with_suffix(".ckpt"), weights_only=False)["history"]
    assert [h["border"] for h in history] == kinds and len(kinds) == 4
    with pytest.raises(TrainError, match="other settings"):
        train(_settings(tmp_path / "b", **{**kw, "border_fraction": 0.25}), progress=False)


@pytest.mark.data
def test_cli_fine_tune_takes_the_architecture_from_the_model(tmp_path: Path, base_model: Path) -> None:
    from vsstylize.cli.main import main

    out = tmp_path / "cube"
    rc = main(["train", "--init-from", str(base_model), "--border-fraction", "1", "--style", STYLE, "--data", PHOTOS,
               "-o", str(out), "--size", "32", "--batch-size", "1", "--iterations", "1", "--quiet"])
    assert rc == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["architecture"]["arch"] == "ruder-prior-48" and card["training"]["border_iterations"] == 1
    assert "--init-from" in card["command"]


@pytest.mark.data
def test_bad_fine_tuning_input(tmp_path: Path, base_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vsstylize.cli.main import main

    with pytest.raises(TrainError, match="border_fraction must be in"):
        train(_settings(tmp_path, border_fraction=1.5), progress=False)
    with pytest.raises(TrainError, match="border_fraction needs a prior-image network"):
        train(_settings(tmp_path, arch="huang-res48", border_fraction=0.5), progress=False)
    with pytest.raises(TrainError, match="init_from: no model file"):
        train(_settings(tmp_path, init_from=str(tmp_path / "missing")), progress=False)
    with pytest.raises(TrainError, match=r"init_from: .* is a 'ruder-prior-48' network, which cannot start arch "
                                          r"'ruder-prior'"):
        train(_settings(tmp_path, arch="ruder-prior", init_from=str(base_model)), progress=False)
    with pytest.raises(TrainError, match="out must differ from init_from"):
        train(_settings(tmp_path, init_from=str(base_model), out=str(base_model)), progress=False)
    assert main(["train", "--style", STYLE, "--data", PHOTOS, "-o", str(tmp_path / "y")]) == 1
    assert "--arch is required" in capsys.readouterr().err
    assert main(["train", "--init-from", str(tmp_path / "nothing"), "--style", STYLE, "--data", PHOTOS,
                 "-o", str(tmp_path / "y")]) == 1
    assert "init_from: no model file" in capsys.readouterr().err
