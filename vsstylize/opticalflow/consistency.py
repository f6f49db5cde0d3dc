"""Forward-backward consistency check: the reliability weights c of Ruder et al. (eq. 5-7).

A re-implementation of the check done by the original artistic-videos ``consistencyChecker``
(after Sundaram et al. 2010), operating on numpy arrays:

* ``flow1`` is the flow whose reliability is wanted (e.g. backward flow ``t -> t-1``), ``flow2`` the
  opposite flow between the same two frames (forward flow ``t-1 -> t``).
* A pixel ``x`` maps to ``p = x + flow1(x)``. If ``floor(p)`` or ``floor(p) + 1`` is outside the image:
  0 (no correspondence).
* Otherwise ``w2 = flow2`` sampled bilinearly at ``p``. Disocclusion (eq. 6) when
  ``|w + w2|^2 >= 0.01 (|w|^2 + |w2|^2) + 0.5``: value -255 (negative, so the smoothing spreads the
  unreliability outwards).
* Otherwise a motion boundary (eq. 7) when ``|grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002`` with 3-tap
  central differences of ``flow1``: value 0.
* Otherwise 255. Then Gaussian smoothing with sigma 0.8 (5-tap normalised kernel, mirrored borders),
  clipped to [0, 255]. Truncating the result to integers gives the reference PGM files exactly.

Values are returned as float32 in [0, 255] (the PGM's grey levels before rounding); divide by 255 for
the weights c in [0, 1].
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["DISOCCLUSION_VALUE", "MOTION_BOUNDARY_VALUE", "consistency_check", "gaussian_smooth"]

DISOCCLUSION_VALUE = -255.0
MOTION_BOUNDARY_VALUE = 0.0
RELIABLE_VALUE = 255.0


def _check_flow(flow: np.ndarray, name: str) -> None:
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"{name} must be (H, W, 2) float (u, v), got shape {flow.shape}")


def _central_derivative(a: np.ndarray, axis: int) -> np.ndarray:
    """3-tap central difference ``(a[i+1] - a[i-1]) / 2`` with mirrored borders (derivative 0 there)."""
    pad = [(0, 0)] * a.ndim
    pad[axis] = (1, 1)
    p = np.pad(a, pad, mode="symmetric")
    hi = np.take(p, np.arange(2, a.shape[axis] + 2), axis=axis)
    lo = np.take(p, np.arange(0, a.shape[axis]), axis=axis)
    return 0.5 * (hi - lo)


def gaussian_smooth(image: np.ndarray, sigma: float = 0.8) -> np.ndarray:
    """Separable Gaussian smoothing as the reference checker does it.

    A normalised kernel of radius ``ceil(2.5 sigma)`` (5 taps for sigma 0.8) with mirrored borders
    (``...cba|abc...``), computed in float64 with OpenCV. This reproduces the reference
    ``reliable_*.pgm`` files exactly after truncation to integers.

    :param image: ``(H, W)`` float.
    :param sigma: standard deviation in pixels (> 0).
    :returns: ``(H, W)`` float64.
    """
    radius = max(1, math.ceil(2.5 * sigma))
    kernel = cv2.getGaussianKernel(2 * radius + 1, sigma, cv2.CV_64F)
    return cv2.sepFilter2D(image.astype(np.float64), cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT)


def consistency_check(flow1: np.ndarray, flow2: np.ndarray, smooth_sigma: float = 0.8, clip: bool = True) -> np.ndarray:
    """Reliability of ``flow1`` checked against the opposite ``flow2`` (Ruder et al. eq. 5-7).

    :param flow1: ``(H, W, 2)`` float, pixels (u right, v down): the flow whose reliability is wanted.
    :param flow2: ``(H, W, 2)`` the opposite flow between the same frames.
    :param smooth_sigma: sigma of the final smoothing (0.8 in the reference; 0 disables it).
    :returns: ``(H, W)`` float32 in [0, 255]; 255 = reliable, 0 = disoccluded, motion boundary or
        no correspondence inside the image.
    :raises ValueError: for shapes other than ``(H, W, 2)`` or mismatched sizes.
    """
    _check_flow(flow1, "flow1")
    _check_flow(flow2, "flow2")
    if flow1.shape != flow2.shape:
        raise ValueError(f"flow2 has shape {flow2.shape} but flow1 has {flow1.shape}; they must match")
    f1 = flow1.astype(np.float64)
    f2 = flow2.astype(np.float64)
    h, w = f1.shape[:2]

    dx = _central_derivative(f1, axis=1)
    dy = _central_derivative(f1, axis=0)
    motion_edge = (dx**2).sum(axis=2) + (dy**2).sum(axis=2)

    ys, xs = np.mgrid[0:h, 0:w]
    bx = xs + f1[..., 0]
    by = ys + f1[..., 1]
    x1 = np.floor(bx).astype(np.int64)
    y1 = np.floor(by).astype(np.int64)
    inside = (x1 >= 0) & (x1 + 1 < w) & (y1 >= 0) & (y1 + 1 < h)
    x1c = np.clip(x1, 0, max(w - 2, 0))
    y1c = np.clip(y1, 0, max(h - 2, 0))
    x2c = np.minimum(x1c + 1, w - 1)
    y2c = np.minimum(y1c + 1, h - 1)
    ax = (bx - x1)[..., None]
    ay = (by - y1)[..., None]
    top = (1.0 - ax) * f2[y1c, x1c] + ax * f2[y1c, x2c]
    bottom = (1.0 - ax) * f2[y2c, x1c] + ax * f2[y2c, x2c]
    w2 = (1.0 - ay) * top + ay * bottom

    total = f1 + w2
    norm_sum = (f1**2).sum(axis=2) + (w2**2).sum(axis=2)
    disoccluded = (total**2).sum(axis=2) >= 0.01 * norm_sum + 0.5
    boundary = motion_edge > 0.01 * (f1**2).sum(axis=2) + 0.002

    out = np.full((h, w), RELIABLE_VALUE)
    out[boundary] = MOTION_BOUNDARY_VALUE
    out[disoccluded] = DISOCCLUSION_VALUE
    out[~inside] = 0.0
    if smooth_sigma > 0:
        out = gaussian_smooth(out, smooth_sigma)
    if not clip:
        return out.astype(np.float32)
    return np.clip(out, 0.0, 255.0).astype(np.float32)
