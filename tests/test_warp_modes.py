"""Warping stylized frames: bicubic keeps the texture bilinear sampling blurs (bench/optim-convergence); the
``warp_interpolation`` option reaches every optimization chain and its cache keys."""

from __future__ import annotations

import pytest
import torch

from vsstylize.errors import OptionError
from vsstylize.methods.chain import FrameInputs
from vsstylize.methods.optim import chain_start_key, temporal_terms
from vsstylize.opticalflow.warping import DEFAULT_STYLIZED_WARP, warp
from vsstylize.optim.passes import MultipassSettings, multipass_shot
from vsstylize.options import StylizeOptions


def _texture(h: int = 32, w: int = 40) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))


def _shift(dx: float, dy: float = 0.0, h: int = 32, w: int = 40) -> torch.Tensor:
    flow = torch.zeros(1, 2, h, w)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


def _detail(img: torch.Tensor) -> float:
    """Energy of the horizontal/vertical pixel differences (what a blur removes), inner region."""
    x = img[..., 4:-4, 4:-4]
    return float((x[..., 1:, :] - x[..., :-1, :]).pow(2).mean() + (x[..., 1:] - x[..., :-1]).pow(2).mean())


def test_integer_shift_is_exact_in_every_mode() -> None:
    img = _texture()
    for mode in ("bilinear", "bicubic", "nearest"):
        out = warp(img, _shift(2.0, 1.0), mode=mode)
        assert torch.allclose(out[..., :-1, :-2], img[..., 1:, 2:], atol=1e-5), mode


def test_bicubic_keeps_more_texture_than_bilinear_and_stays_in_range() -> None:
    img = _texture()
    flow = _shift(0.5, 0.5)  # the worst case of bilinear: an average of four pixels
    bilinear, bicubic = warp(img, flow), warp(img, flow, mode="bicubic")
    assert _detail(bilinear) < 0.4 * _detail(img)
    assert _detail(bicubic) > 1.5 * _detail(bilinear)
    assert float(bicubic.min()) >= float(img.min()) and float(bicubic.max()) <= float(img.max())  # overshoot clamped
    with pytest.raises(ValueError, match="mode"):
        warp(img, flow, mode="lanczos")  # type: ignore[arg-type]


def test_chains_warp_stylized_frames_with_the_option() -> None:
    prev, flow = _texture(), _shift(0.5, 0.25)
    inp = FrameInputs(n=1, content=torch.zeros_like(prev), chain_start=0, previous={1: prev}, flows={1: flow},
                      weights={1: torch.ones(1, 1, 32, 40)})
    for mode in ("bilinear", "bicubic"):
        warped, terms = temporal_terms(inp, 1e3, mode)  # type: ignore[arg-type]
        expected = warp(prev, flow, mode=mode)  # type: ignore[arg-type]
        assert torch.equal(warped[1], expected) and torch.equal(terms[0][0], expected)
    assert not torch.equal(temporal_terms(inp, 1e3, "bilinear")[0][1], temporal_terms(inp, 1e3, "bicubic")[0][1])


def test_option_default_choices_and_cache_keys() -> None:
    default = StylizeOptions.from_values({})
    assert default.warp_interpolation == DEFAULT_STYLIZED_WARP == "bilinear"  # the measured choice
    bicubic = StylizeOptions.from_values({"warp_interpolation": "bicubic"})
    with pytest.raises(OptionError, match="warp_interpolation"):
        StylizeOptions.from_values({"warp_interpolation": "lanczos"})
    # later frames' results depend on it, chain starts do not (they share their cache entries)
    assert default.key("loss", "optimizer", "flow") != bicubic.key("loss", "optimizer", "flow")
    assert chain_start_key(default) == chain_start_key(bicubic)
    assert bicubic.multipass_settings().warp_interpolation == "bicubic"
    with pytest.raises(OptionError, match="warp_interpolation"):
        MultipassSettings(warp_interpolation="nearest")  # type: ignore[arg-type]


def test_multipass_warps_the_neighbour_with_its_setting() -> None:
    h, w = 8, 10
    contents = [_texture(h, w) for _ in range(2)]  # the same texture twice
    flows = [_shift(0.5, 0.5, h, w)] * 2
    ones = [torch.ones(1, 1, h, w)] * 2
    seen: dict[str, torch.Tensor] = {}

    for mode in ("bilinear", "bicubic"):
        def fake(i, content, init, temporal, mode=mode):  # type: ignore[no-untyped-def]
            if temporal:  # the second frame of pass 2 (either direction): its neighbour, unchanged by pass 2
                seen[mode] = temporal[0][0]
            return content if isinstance(init, str) else init

        settings = MultipassSettings(num_passes=2, use_temporal_loss_after=2, first_init="image",
                                     warp_interpolation=mode)  # type: ignore[arg-type]
        multipass_shot(contents, flows, ones, flows, ones, fake, settings)
        assert torch.equal(seen[mode], warp(contents[0], flows[0], mode=mode))  # type: ignore[arg-type]
    assert not torch.equal(seen["bilinear"], seen["bicubic"])
