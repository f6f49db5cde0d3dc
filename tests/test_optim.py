"""Per-frame optimisation: determinism, convergence, style moves toward the target, stopping rule."""

from __future__ import annotations

import pytest
import torch

from vsstylize.optim import losses as L
from vsstylize.optim.optimizer import OptimizerSettings, Progress, make_init, stylize_image
from vsstylize.optim.vgg import LossNetwork

from .conftest import photo_tensor

pytestmark = pytest.mark.data

LAYERS = ("relu1_1", "relu2_1", "relu3_1")


@pytest.fixture(scope="module")
def content() -> torch.Tensor:
    return photo_tensor("content/tubingen.jpg", (32, 40))


@pytest.fixture(scope="module")
def style(net: LossNetwork) -> L.StyleTarget:
    return L.StyleTarget(net, [photo_tensor("styles/starry_night.jpg", (32, 40))], (32, 40), layers=LAYERS)


def _style_distance(net: LossNetwork, img: torch.Tensor, target: L.StyleTarget) -> float:
    feats = net(net.preprocess(img), target.layers)
    return sum(((L.gram_matrix(feats[n]) - target.grams[n]) ** 2).mean().item() for n in target.layers)


def _run(net: LossNetwork, content: torch.Tensor, style: L.StyleTarget, **kw):  # type: ignore[no-untyped-def]
    settings = kw.pop("settings", OptimizerSettings(num_iterations=20, tol_loss_relative=0))
    return stylize_image(net, content, style, kw.pop("init", "random"), settings=settings,
                         content_layers=("relu3_1",), **kw)


def test_lbfgs_decreases_loss_and_moves_gram_toward_style(net, content, style) -> None:  # type: ignore[no-untyped-def]
    result, info = _run(net, content, style, init="image")
    assert result.shape == content.shape and result.min() >= 0 and result.max() <= 1
    assert info.iterations == 20 and len(info.losses) == 20 and not info.stopped_early
    assert info.losses[-1] < 0.5 * info.losses[0]
    assert _style_distance(net, result, style) < 0.5 * _style_distance(net, content, style)
    assert set(info.components) == {"content", "style", "tv"}


def test_same_seed_gives_bitwise_identical_result(net, content, style) -> None:  # type: ignore[no-untyped-def]
    a, ia = _run(net, content, style, seed=3)
    b, ib = _run(net, content, style, seed=3)
    assert torch.equal(a, b) and ia.losses == ib.losses
    c, _ = _run(net, content, style, seed=4)
    assert not torch.equal(a, c)


def test_adam_decreases_loss(net, content, style) -> None:  # type: ignore[no-untyped-def]
    settings = OptimizerSettings(optimizer="adam", num_iterations=30, tol_loss_relative=0, learning_rate=5.0)
    _, info = _run(net, content, style, init="image", settings=settings)
    assert info.iterations == 30 and info.losses[-1] < 0.8 * info.losses[0]


def test_relative_tolerance_stops_early(net, content, style) -> None:  # type: ignore[no-untyped-def]
    seen: list[Progress] = []
    settings = OptimizerSettings(num_iterations=200, tol_loss_relative=0.5, tol_loss_relative_interval=5,
                                 progress=seen.append)
    _, info = _run(net, content, style, init="image", settings=settings)
    assert info.stopped_early and info.iterations < 200 and info.iterations % 5 == 0
    losses = info.losses
    assert abs(losses[-6] - losses[-1]) / losses[-6] < 0.5  # the rule that stopped it
    assert [p.iteration for p in seen] == list(range(5, info.iterations + 1, 5))


def test_temporal_term_pulls_toward_warped_previous(net, content, style) -> None:  # type: ignore[no-untyped-def]
    prev = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(0))
    c = torch.zeros(1, 1, 32, 40)
    c[..., :, :20] = 1.0
    weights = L.LossWeights(temporal=1e4)
    settings = OptimizerSettings(num_iterations=50, tol_loss_relative=0)
    out, info = _run(net, content, style, init="image", temporal=[(prev, c)], weights=weights, settings=settings)
    assert "temporal" in info.components
    err = ((out - prev) ** 2).mean(dim=(0, 1))
    assert err[:, :20].mean() < 0.2 * err[:, 20:].mean()  # reliable half follows the warped frame


def test_coarse_to_fine_and_original_colors(net, content, style) -> None:  # type: ignore[no-untyped-def]
    settings = OptimizerSettings(num_iterations=5, tol_loss_relative=0, scales=(0.5, 1.0))
    out, info = _run(net, content, style, settings=settings, original_colors=True)
    assert info.iterations_per_scale == [5, 5] and out.shape == content.shape
    # chroma (U, V) of the output is the content's wherever no clamping happened
    m = torch.tensor([[-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]])
    uv = lambda t: torch.einsum("ij,njhw->nihw", m, t)
    inside = ((out > 0.001) & (out < 0.999)).all(1, keepdim=True)
    assert ((uv(out) - uv(content)).abs() * inside).max() < 1e-4


def test_make_init_kinds_and_errors(content) -> None:  # type: ignore[no-untyped-def]
    r1, r2 = make_init("random", content, seed=1), make_init("random", content, seed=1)
    assert torch.equal(r1, r2) and not torch.equal(r1, make_init("random", content, seed=2))
    assert (r1.mean(dim=(2, 3)).squeeze() - torch.tensor([0.485, 0.458, 0.408])).abs().max() < 1e-3
    assert torch.equal(make_init("image", content), content)
    prev = torch.rand_like(content)
    assert torch.equal(make_init("prevWarped", content, prev_warped=prev), prev)
    with pytest.raises(ValueError, match="prev_warped"):
        make_init("prevWarped", content, prev=prev)
    with pytest.raises(ValueError, match="init must be one of"):
        make_init("noise", content)
    with pytest.raises(ValueError, match="shape"):
        make_init("prev", content, prev=torch.rand(1, 3, 8, 8))


def test_bad_settings_and_inputs_raise(net, content, style) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="optimizer"):
        OptimizerSettings(optimizer="sgd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scales"):
        OptimizerSettings(scales=(1.0, 0.5))
    with pytest.raises(ValueError, match="num_iterations"):
        OptimizerSettings(num_iterations=0)
    with pytest.raises(ValueError, match="init"):
        stylize_image(net, content, style, torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        stylize_image(net, content[0], style, "image")
