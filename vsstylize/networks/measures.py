"""Measures of a stylization network's output: border darkening/lightening and texture (stroke) scale.

Pure functions on numpy arrays. Images are ``(3, H, W)`` or a stack of frames ``(N, 3, H, W)``, RGB in
[0, 1] (float). Measures work on the Rec. 709 luma ``Y = 0.2126 R + 0.7152 G + 0.0722 B`` unless a channel
is chosen.

**Border ratio** (:func:`border_ratios`): for each side of the frame, the mean of the outer ``width`` rows
(top/bottom) or columns (left/right) divided by the mean of the next ``width`` rows/columns inwards, the
means pooled over all frames of the stack. 1.0 means the border is as bright as the band beside it; a dark
line along the bottom edge gives a bottom ratio below 1. :func:`border_deviation` divides the stylized
output's ratios by the content's, so a content that itself darkens towards an edge (vignetting, a dark
floor) is not counted against the network: ``deviation = ratio(stylized) / ratio(content) - 1``; the
issue's criterion is ``|deviation| <= 0.03`` on every side.

**Texture period** (:func:`texture_period`): the texture the network adds is separated from the content
by a guided filter (He et al. 2013, OpenCV contrib's ``cv2.ximgproc.guidedFilter``) with the content luma
as guide and the stylized luma as input: the filter keeps what is locally a linear function of the
content (its shading and edges), the residual ``r = Y_stylized - guided(Y_content -> Y_stylized)`` is the
stroke texture. Its radially averaged power spectrum ``P(f)`` (Hann window, ``f`` in cycles per pixel) is
read as energy per octave, ``E(f) = f^2 P(f)`` (for a 1/f^2 natural image ``E`` is flat, a texture of
period ``p`` is a bump at ``f = 1/p``). Within the band of periods ``[min_period, height * max_period_rel]``:

* ``dominant_px``: the period of the largest ``E`` (1/8-octave bins, a 3-bin running mean, the peak
  refined by a parabola through it and its neighbours);
* ``mean_px``: the energy-weighted geometric mean period ``exp(-sum E log f / sum E)`` over the band,
  with ``E`` integrated per octave (the robust statistic for broad, painterly spectra);

both in pixels and relative to the frame height (``*_rel = px / H``). The guided filter's radius and the
band's upper end scale with the frame height, so a texture that scales with the frame gives the same
relative values at every resolution, and a texture of fixed pixel size gives relative values that halve
when the height doubles.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

__all__ = [
    "BORDER_WIDTH",
    "SIDES",
    "Channel",
    "Side",
    "TexturePeriod",
    "border_deviation",
    "border_ratios",
    "luminance",
    "radial_power_spectrum",
    "texture_period",
    "texture_residual",
]

Side = Literal["top", "bottom", "left", "right"]
Channel = Literal["luma", "red", "green", "blue"]
SIDES: tuple[Side, ...] = ("top", "bottom", "left", "right")
#: Rows/columns of the outer band and of the band beside it (the issue's "outer 4 vs the next 4").
BORDER_WIDTH = 4
#: Guided-filter radius of the texture residual, relative to the frame height.
GUIDE_RADIUS_REL = 1.0 / 36.0
#: Regularisation of that guided filter (luma in [0, 1]).
GUIDE_EPS = 1e-3
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float64)
_CHANNELS = {"red": 0, "green": 1, "blue": 2}


def _stack(images: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(images)
    shape = a.shape
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[1] != 3:
        raise ValueError(f"{name}: expected (3, H, W) or (N, 3, H, W) RGB, got shape {shape}")
    return a


def luminance(images: np.ndarray, channel: Channel = "luma") -> np.ndarray:
    """Rec. 709 luma (or one RGB channel) of ``(3, H, W)`` / ``(N, 3, H, W)`` RGB: ``(N, H, W)`` float64.

    :raises ValueError: a wrong shape or an unknown ``channel`` (the message names the parameter).
    """
    a = _stack(images, "images").astype(np.float64, copy=False)
    if channel == "luma":
        return np.einsum("nchw,c->nhw", a, _LUMA)
    if channel not in _CHANNELS:
        raise ValueError(f"channel: expected one of 'luma', 'red', 'green', 'blue', got {channel!r}")
    return a[:, _CHANNELS[channel]]


def border_ratios(images: np.ndarray, width: int = BORDER_WIDTH, channel: Channel = "luma") -> dict[Side, float]:
    """Per side, mean of the outer ``width`` rows/columns over the mean of the next ``width`` (pooled over frames).

    :param images: ``(3, H, W)`` or ``(N, 3, H, W)`` RGB in [0, 1].
    :param width: band width in pixels (>= 1, at most a quarter of the shorter side).
    :param channel: ``"luma"`` (Rec. 709) or one RGB channel.
    :returns: ``{"top": ratio, "bottom": ..., "left": ..., "right": ...}`` (1.0: no border effect).
    :raises ValueError: bad shape, width or channel; a band whose mean is 0 (a black frame).
    """
    y = luminance(images, channel)
    h, w = y.shape[-2:]
    if not 1 <= width <= min(h, w) // 4:
        raise ValueError(f"width: must be in [1, {min(h, w) // 4}] for {w}x{h} frames, got {width}")
    k = width
    bands = {
        "top": (y[:, :k], y[:, k:2 * k]),
        "bottom": (y[:, h - k:], y[:, h - 2 * k:h - k]),
        "left": (y[:, :, :k], y[:, :, k:2 * k]),
        "right": (y[:, :, w - k:], y[:, :, w - 2 * k:w - k]),
    }
    out: dict[Side, float] = {}
    for side in SIDES:
        outer, inner = bands[side]
        denominator = float(inner.mean())
        if denominator <= 0.0:
            raise ValueError(f"images: the {side} band beside the border is black (mean {denominator}); no ratio")
        out[side] = float(outer.mean()) / denominator
    return out


def border_deviation(stylized: np.ndarray, content: np.ndarray, width: int = BORDER_WIDTH,
                     channel: Channel = "luma") -> dict[Side, float]:
    """Border darkening (< 0) or lightening (> 0) of ``stylized`` beyond what ``content`` has, per side:
    ``border_ratios(stylized)[side] / border_ratios(content)[side] - 1``.

    :param stylized: / :param content: ``(3, H, W)`` or ``(N, 3, H, W)`` RGB in [0, 1], the same shape.
    :raises ValueError: shapes that differ, or what :func:`border_ratios` raises.
    """
    s, c = _stack(stylized, "stylized"), _stack(content, "content")
    if s.shape != c.shape:
        raise ValueError(f"stylized {s.shape} and content {c.shape} must have the same shape")
    rs, rc = border_ratios(s, width, channel), border_ratios(c, width, channel)
    return {side: rs[side] / rc[side] - 1.0 for side in SIDES}


def radial_power_spectrum(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of ``(H, W)`` or ``(N, H, W)`` planes (mean removed, 2-D Hann window,
    averaged over the stack).

    :returns: ``(f, P)``: bin centres in cycles per pixel (``min(H, W) // 2`` bins from 0 to 0.5) and the mean
        ``|FFT|^2`` of each annulus (0 for empty bins).
    :raises ValueError: not 2-D/3-D, or a side below 8 pixels.
    """
    a = np.asarray(plane, np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or min(a.shape[-2:]) < 8:
        raise ValueError(f"plane: expected (H, W) or (N, H, W) with sides >= 8, got shape {np.shape(plane)}")
    _, h, w = a.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    a = (a - a.mean(axis=(1, 2), keepdims=True)) * window
    power = (np.abs(np.fft.fft2(a)) ** 2).mean(axis=0)
    radius = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None])
    bins = min(h, w) // 2
    edges = np.linspace(0.0, 0.5, bins + 1)
    index = np.clip(np.digitize(radius.ravel(), edges) - 1, 0, None)
    keep = index < bins
    sums = np.bincount(index[keep], power.ravel()[keep], bins)
    counts = np.bincount(index[keep], minlength=bins)
    return 0.5 * (edges[:-1] + edges[1:]), sums / np.maximum(counts, 1)


@dataclass(frozen=True)
class TexturePeriod:
    """Texture scale of a stylized frame (see the module docstring).

    :ivar dominant_px: period of the largest energy per octave, pixels.
    :ivar mean_px: energy-weighted geometric-mean period, pixels.
    :ivar height: frame height, pixels.
    """

    dominant_px: float
    mean_px: float
    height: int

    @property
    def dominant_rel(self) -> float:
        """``dominant_px / height``."""
        return self.dominant_px / self.height

    @property
    def mean_rel(self) -> float:
        """``mean_px / height``."""
        return self.mean_px / self.height


def texture_residual(stylized: np.ndarray, content: np.ndarray | None = None) -> np.ndarray:
    """The stroke texture of ``stylized``: its luma minus the guided filter of it with the content's luma as
    guide (radius ``GUIDE_RADIUS_REL * H``, eps ``GUIDE_EPS``); without ``content`` the stylized luma guides
    itself (an edge-preserving smoothing; the residual is then its fine detail).

    :param stylized: / :param content: ``(3, H, W)`` or ``(N, 3, H, W)`` RGB in [0, 1], the same shape.
    :returns: ``(N, H, W)`` float32.
    :raises ValueError: shapes that differ or are not RGB stacks.
    """
    s = luminance(_stack(stylized, "stylized")).astype(np.float32)
    radius = max(1, round(s.shape[-2] * GUIDE_RADIUS_REL))
    if content is None:
        side = 2 * radius + 1
        return np.stack([si - cv2.boxFilter(si, -1, (side, side), borderType=cv2.BORDER_REFLECT) for si in s])
    g = luminance(_stack(content, "content")).astype(np.float32)
    if g.shape != s.shape:
        raise ValueError(f"stylized {s.shape} and content {g.shape} must have the same shape")
    return np.stack([si - cv2.ximgproc.guidedFilter(gi, si, radius, GUIDE_EPS) for si, gi in zip(s, g)])


def texture_period(stylized: np.ndarray, content: np.ndarray | None = None, *, min_period: float = 2.0,
                   max_period_rel: float = 1.0 / 8.0, residual: bool = True) -> TexturePeriod:
    """Dominant and mean texture period of stylized frames (see the module docstring).

    :param stylized: ``(3, H, W)`` or ``(N, 3, H, W)`` RGB in [0, 1] (the stack is one spectrum).
    :param content: the frames that were stylized (guide of :func:`texture_residual`), or ``None``.
    :param min_period: shortest period counted, pixels (>= 2, the Nyquist limit).
    :param max_period_rel: longest period counted, relative to the frame height (``min_period`` < it * H).
    :param residual: measure :func:`texture_residual` (default) or the stylized luma itself.
    :returns: :class:`TexturePeriod`.
    :raises ValueError: a band without any frequency bin, or bad shapes.
    """
    plane = texture_residual(stylized, content) if residual else luminance(_stack(stylized, "stylized"))
    h = plane.shape[-2]
    longest = h * max_period_rel
    if min_period < 2.0 or longest <= min_period:
        raise ValueError(f"min_period/max_period_rel: need 2 <= min_period < max_period_rel * H, got {min_period} "
                         f"and {longest:.1f} px")
    f, power = radial_power_spectrum(plane)
    band = (f >= 1.0 / longest) & (f <= 1.0 / min_period)
    if not band.any():
        raise ValueError(f"no frequency bin between periods {min_period} and {longest:.1f} px for height {h}")
    fb, eb = f[band], f[band] ** 2 * power[band]
    # energy per octave integrated over linear bins: E d(ln f) = E df / f
    weights = eb / fb
    mean_px = float(np.exp(-(weights * np.log(fb)).sum() / weights.sum())) if weights.sum() > 0 else float("nan")
    # 1/8-octave bins of E, a 3-bin running mean, the largest
    lo, hi = np.log2(1.0 / longest), np.log2(1.0 / min_period)
    edges = 2.0 ** np.arange(lo, hi + 1e-9, 0.125)
    octave = np.array([eb[(fb >= a) & (fb < b)].mean() if ((fb >= a) & (fb < b)).any() else np.nan
                       for a, b in itertools.pairwise(edges)])
    centres = np.sqrt(edges[:-1] * edges[1:])
    valid = ~np.isnan(octave)
    if valid.sum() >= 3:
        smooth = np.convolve(np.nan_to_num(octave), np.ones(3), "same") / np.maximum(
            np.convolve(valid.astype(float), np.ones(3), "same"), 1)
        smooth[~valid] = -np.inf
        i = int(np.argmax(smooth))
        log_centre = np.log2(centres[i])
        if 0 < i < len(smooth) - 1 and np.isfinite(smooth[i - 1]) and np.isfinite(smooth[i + 1]):
            curvature = smooth[i - 1] - 2.0 * smooth[i] + smooth[i + 1]
            if curvature < 0:  # parabola through the peak and its neighbours (log-frequency axis)
                log_centre += 0.125 * float(np.clip(0.5 * (smooth[i - 1] - smooth[i + 1]) / curvature, -0.5, 0.5))
        dominant_px = float(2.0 ** -log_centre)
    else:
        dominant_px = float(1.0 / fb[int(np.argmax(eb))])
    return TexturePeriod(dominant_px, mean_px, h)
