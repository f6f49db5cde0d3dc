"""Processing size for resolution-independent strokes (vsstylize.networks.scale)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vsstylize.networks.measures import texture_period
from vsstylize.networks.scale import (
    processing_size,
    stylize_at_scale,
    upsample_stylized,
)


def _pixel_texture_network(x: torch.Tensor) -> torch.Tensor:
    """A stand-in for a fully convolutional stylization network: the content's shading plus a texture of a fixed
    period in *pixels* (5 px, oblique), whatever the frame size."""
    h, w = x.shape[-2:]
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    texture = 0.15 * torch.cos(2 * torch.pi * (0.8 * xx + 0.6 * yy) / 5.0)
    return (0.25 + 0.5 * x[:, :3] + texture).clamp(0.0, 1.0)


def _content(h: int, w: int) -> torch.Tensor:
    """Smooth shading plus a sharp-edged disc (relative coordinates: the same picture at every size)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    disc = (((xx - 0.4) * w / h) ** 2 + (yy - 0.5) ** 2 < 0.3 ** 2).float()
    base = 0.3 + 0.3 * xx + 0.3 * disc
    return torch.stack((base, 0.8 * base, 1.0 - 0.5 * base))[None]


def test_processing_size() -> None:
    assert processing_size(360, 640) == (360, 640)
    assert processing_size(720, 1280) == (360, 640)
    assert processing_size(720, 1280, stroke_scale=2.0) == (180, 320)
    assert processing_size(272, 640) == (272, 640)  # never larger than the frame: its own size
    assert processing_size(360, 640, stroke_scale=0.5) == (360, 640)
    assert processing_size(1080, 1920, stroke_scale=0.5) == (720, 1280)
    h, w = processing_size(1080, 1998, 1.5)
    assert h % 4 == 0 and w % 4 == 0 and h == 240
    with pytest.raises(ValueError, match="stroke_scale"):
        processing_size(360, 640, 0.0)


def test_stroke_period_fixed_relative_to_height() -> None:
    periods = {}
    plain = {}
    for h, w in ((360, 640), (720, 1280)):
        x = _content(h, w)
        out = stylize_at_scale(_pixel_texture_network, x, stroke_scale=1.0)
        assert out.shape == x.shape
        periods[h] = texture_period(out[0].numpy(), x[0].numpy()).dominant_rel
        plain[h] = texture_period(_pixel_texture_network(x)[0].numpy(), x[0].numpy()).dominant_rel
    assert periods[720] == pytest.approx(periods[360], rel=0.1)
    assert plain[360] / plain[720] == pytest.approx(2.0, rel=0.1)  # without it, strokes halve relative to height


def test_native_size_is_the_plain_network() -> None:
    x = _content(360, 640)
    torch.testing.assert_close(stylize_at_scale(_pixel_texture_network, x), _pixel_texture_network(x))


def test_guided_upsampling_restores_content_edges() -> None:
    """An identity 'network' run at half size: the guided enlargement is closer to the full-resolution frame
    than the bicubic one (the disc's edge comes back from the guide)."""
    x = _content(360, 640)
    small = torch.nn.functional.interpolate(x, size=(180, 320), mode="bicubic", antialias=True).clamp(0, 1)
    err = {m: float((upsample_stylized(small, x, m) - x).abs().mean()) for m in ("bicubic", "guided", "joint_bilateral")}
    assert err["guided"] < 0.3 * err["bicubic"]
    assert err["joint_bilateral"] < err["bicubic"]


def test_frame_below_the_processing_height_runs_at_its_own_size() -> None:
    """Frames at or below 360 / stroke_scale lines are not enlarged for the network: the plain network's output."""
    for h, w, scale in ((180, 320, 1.0), (360, 640, 0.5), (200, 200, 1.0)):
        x = _content(h, w)
        torch.testing.assert_close(stylize_at_scale(_pixel_texture_network, x, stroke_scale=scale),
                                   _pixel_texture_network(x))


def test_bad_arguments() -> None:
    x = _content(64, 64)
    with pytest.raises(ValueError, match="x:"):
        stylize_at_scale(_pixel_texture_network, x[:, :2])
    with pytest.raises(ValueError, match="upsampling"):
        upsample_stylized(x, x, "nearest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stylized"):
        upsample_stylized(x[0], x)
    assert np.isfinite(stylize_at_scale(_pixel_texture_network, _content(720, 1280), stroke_scale=3.0).numpy()).all()


def test_guided_upsampling_keeps_the_strokes() -> None:
    """The strokes are enlarged, not averaged away: the stand-in network's texture keeps its energy (the
    plain fast guided filter, coefficients and offsets enlarged, kept 7 % of it)."""
    from vsstylize.networks.measures import texture_residual

    x = _content(720, 1280)
    small = torch.nn.functional.interpolate(x, size=(360, 640), mode="bicubic", antialias=True).clamp(0, 1)
    stylized = _pixel_texture_network(small)
    energy = {m: float(texture_residual(upsample_stylized(stylized, x, m)[0].numpy(), x[0].numpy()).var())
              for m in ("bicubic", "guided")}
    assert energy["guided"] > 0.9 * energy["bicubic"]
