"""Measures of network output (border ratio, texture period) and the inference border fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vsstylize.networks.inference import run_with_margin
from vsstylize.networks.measures import (
    border_deviation,
    border_ratios,
    luminance,
    radial_power_spectrum,
    texture_period,
)


def _stripes(h: int, w: int, period: float, angle_deg: float = 0.0, amplitude: float = 0.2) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    a = np.deg2rad(angle_deg)
    plane = 0.5 + amplitude * np.cos(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / period)
    return np.repeat(plane[None], 3, 0)


@pytest.mark.parametrize("period", [3.0, 4.0, 8.0, 16.0])
@pytest.mark.parametrize("angle", [0.0, 35.0, 90.0])
def test_texture_period_of_stripes(period: float, angle: float) -> None:
    img = _stripes(256, 448, period, angle)
    tp = texture_period(img)
    assert tp.dominant_px == pytest.approx(period, rel=0.05)
    assert tp.mean_px == pytest.approx(period, rel=0.05)
    assert tp.dominant_rel == pytest.approx(period / 256, rel=0.05)
    # with a flat content as guide the residual is the stripes themselves
    assert texture_period(img, np.full_like(img, 0.5)).dominant_px == pytest.approx(period, rel=0.05)


def test_texture_period_dominant_survives_noise_and_content() -> None:
    rng = np.random.default_rng(1)
    content = np.repeat(np.linspace(0.2, 0.8, 360)[None, :, None] * np.ones((1, 1, 640)), 3, 0)
    img = np.clip(content + (_stripes(360, 640, 6.0, 20.0) - 0.5) + 0.08 * rng.standard_normal((3, 360, 640)), 0, 1)
    assert texture_period(img, content).dominant_px == pytest.approx(6.0, rel=0.06)


def test_texture_period_scales_with_frame() -> None:
    small, large = texture_period(_stripes(180, 320, 5.0, 10.0)), texture_period(_stripes(360, 640, 10.0, 10.0))
    assert large.dominant_px == pytest.approx(2 * small.dominant_px, rel=0.05)
    assert large.mean_rel == pytest.approx(small.mean_rel, rel=0.05)


def test_texture_period_bad_band() -> None:
    with pytest.raises(ValueError, match="min_period"):
        texture_period(_stripes(64, 64, 4.0), min_period=1.0)
    with pytest.raises(ValueError, match="stylized"):
        texture_period(np.zeros((2, 32, 32)))


def test_radial_power_spectrum_peak() -> None:
    f, p = radial_power_spectrum(luminance(_stripes(128, 128, 8.0))[0])
    assert f[np.argmax(p)] == pytest.approx(1 / 8, abs=1 / 128)


def test_border_ratios_detect_dark_bottom_line() -> None:
    rng = np.random.default_rng(0)
    content = 0.3 + 0.4 * rng.random((2, 3, 64, 96))
    dark = content.copy()
    dark[..., -2:, :] *= 0.6  # a dark line 2 px high along the bottom edge
    r = border_ratios(dark)
    assert r["bottom"] == pytest.approx(0.8, abs=0.02)
    assert max(abs(r[s] - 1) for s in ("top", "left", "right")) < 0.02
    d = border_deviation(dark, content)
    assert d["bottom"] == pytest.approx(-0.2, abs=0.02)
    assert border_deviation(dark, dark)["bottom"] == pytest.approx(0.0)
    assert border_ratios(dark, channel="red")["bottom"] == pytest.approx(0.8, abs=0.03)


def test_border_measures_reject_bad_input() -> None:
    img = np.full((3, 32, 32), 0.5)
    with pytest.raises(ValueError, match="width"):
        border_ratios(img, width=9)
    with pytest.raises(ValueError, match="channel"):
        border_ratios(img, channel="alpha")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same shape"):
        border_deviation(img, img[:, :16])
    with pytest.raises(ValueError, match="black"):
        border_ratios(np.zeros((3, 32, 32)))


def _edge_darkening_network(x: torch.Tensor) -> torch.Tensor:
    """A stand-in network with the shipped networks' defect: its own outer 2 rows/columns come out darker; it
    needs sides that are multiples of 4."""
    assert x.shape[-2] % 4 == 0 and x.shape[-1] % 4 == 0
    y = x[:, :3].clone()
    y[..., :2, :] *= 0.7
    y[..., -2:, :] *= 0.7
    y[..., :, :2] *= 0.7
    y[..., :, -2:] *= 0.7
    return y


@pytest.mark.parametrize("mode", ["reflect", "replicate", "antireflect"])
@pytest.mark.parametrize("size", [(36, 52), (37, 53), (64, 40)])
def test_run_with_margin_moves_the_network_border_out_of_the_frame(mode: str, size: tuple[int, int]) -> None:
    g = torch.Generator().manual_seed(0)
    x = 0.2 + 0.6 * torch.rand((1, 7, *size), generator=g)
    out = run_with_margin(_edge_darkening_network, x, margin=4, mode=mode)  # type: ignore[arg-type]
    assert out.shape == (1, 3, *size)
    torch.testing.assert_close(out, x[:, :3])
    plain = _edge_darkening_network(torch.nn.functional.pad(x, (0, (-size[1]) % 4, 0, (-size[0]) % 4), mode="replicate"))
    assert float(plain[..., : size[0], : size[1]][..., 0, :].mean()) < 0.8 * float(x[:, :3, 0].mean())


def test_run_with_margin_rejects_bad_arguments() -> None:
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="margin"):
        run_with_margin(_edge_darkening_network, x, margin=-1)
    with pytest.raises(ValueError, match="margin"):
        run_with_margin(_edge_darkening_network, x, margin=16, mode="reflect")
    with pytest.raises(ValueError, match="mode"):
        run_with_margin(_edge_darkening_network, x, margin=4, mode="zeros")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="x:"):
        run_with_margin(_edge_darkening_network, x[0], margin=4)


def test_antireflect_continues_a_gradient() -> None:
    """The anti-reflective fill continues a ramp linearly across the edge (a mirror would fold it into a ridge)."""
    ramp = torch.linspace(0.2, 0.6, 40).reshape(1, 1, 40, 1).expand(1, 3, 40, 8).contiguous()
    seen: list[torch.Tensor] = []

    def record(x: torch.Tensor) -> torch.Tensor:
        seen.append(x)
        return x[:, :3]

    run_with_margin(record, ramp, margin=4, mode="antireflect")
    column = seen[0][0, 0, :, 0]
    step = float(ramp[0, 0, 1, 0] - ramp[0, 0, 0, 0])
    torch.testing.assert_close(column[1:] - column[:-1], torch.full((column.numel() - 1,), step), atol=1e-5, rtol=0)


def test_border_margin_fits_small_frames() -> None:
    from vsstylize.networks.inference import border_margin

    assert border_margin(360, 640, 16, "reflect") == 16
    for h, w in ((5, 9), (8, 8), (12, 30), (17, 17)):
        m = border_margin(h, w, 16, "reflect")
        assert 0 <= m < 16
        out = run_with_margin(lambda x: x[:, :3], torch.rand(1, 3, h, w), m, "reflect")
        assert out.shape == (1, 3, h, w)
    assert border_margin(5, 9, 16, "replicate") == 16
