"""Forward-backward consistency check: the reliability weights c of Ruder et al. (eq. 5-7).

A re-implementation of the check done by the original artistic-videos ``consistencyChecker``
(after Sundaram et al. 2010), as whole-tensor torch operations, batched, on the device where the flows are
(:func:`consistency_check_torch`; :func:`consistency_check` is the same for one NumPy pair, in float64):

* ``flow1`` is the flow whose reliability is wanted (e.g. backward flow ``t -> t-1``), ``flow2`` the
  opposite flow between the same two frames (forward flow ``t-1 -> t``).
* A pixel ``x`` maps to ``p = x + flow1(x)``. If ``floor(p)`` or ``floor(p) + 1`` is outside the image:
  0 (no correspondence).
* Otherwise ``w2 = flow2`` sampled bilinearly at ``p``. Disocclusion (eq. 6) when
  ``|w + w2|^2 >= 0.01 (|w|^2 + |w2|^2) + 0.5``: value -255 (negative, so the smoothing spreads the
  unreliability outwards).
* Otherwise a motion boundary (eq. 7) when ``|grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002`` with 3-tap
  central differences of ``flow1``: value 0.
* Otherwise 255. Then Gaussian smoothing with sigma 0.8 (5-tap normalised kernel, mirrored borders
  ``cba|abcd|dcb``, as two 1-D convolutions), clipped to [0, 255]. Truncated to integers the result is within
  one grey level of the reference PGM files everywhere, and equal to them after the references' own cap at 254.

Implementation notes: the integer cell ``floor(p)`` and the bilinear weights are taken from ``floor(flow1)`` and
``flow1 - floor(flow1)``, which float32 represents exactly, so the inside/outside decision and the weights of a
float32 run equal those of float64; ``flow2`` is sampled by gathering its four neighbours (no ``grid_sample``
coordinate normalisation, which would round the positions). Values are in [0, 255] (the PGM's grey levels before
rounding); divide by 255 for the weights c in [0, 1].
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["DISOCCLUSION_VALUE", "MOTION_BOUNDARY_VALUE", "RELIABLE_VALUE", "consistency_check", "consistency_check_torch",
           "gaussian_kernel", "gaussian_smooth_torch"]

DISOCCLUSION_VALUE = -255.0
MOTION_BOUNDARY_VALUE = 0.0
RELIABLE_VALUE = 255.0


def _check_flow(flow: torch.Tensor, name: str) -> None:
    if not isinstance(flow, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (N, 2, H, W), got {type(flow).__name__}")
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"{name} must be (N, 2, H, W) (u, v in pixels), got shape {tuple(flow.shape)}")
    if not flow.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {flow.dtype}")


def gaussian_kernel(sigma: float, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """The reference checker's 1-D Gaussian: ``2 r + 1`` taps, ``r = max(1, ceil(2.5 sigma))``,
    ``exp(-i^2 / (2 sigma^2))`` normalised to sum 1 (computed in float64, as ``cv2.getGaussianKernel``).

    :param sigma: standard deviation in pixels (> 0).
    :returns: ``(2 r + 1,)`` tensor.
    :raises ValueError: ``sigma <= 0``.
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    radius = max(1, math.ceil(2.5 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(taps**2) / (2.0 * sigma * sigma))
    return (kernel / kernel.sum()).to(dtype=dtype, device=device)


def _reflect_index(size: int, radius: int, device: torch.device) -> torch.Tensor:
    """Indices of ``size`` samples padded by ``radius`` on each side, mirrored with the edge sample
    repeated (OpenCV ``BORDER_REFLECT``, NumPy ``symmetric``), for any ``size >= 1``."""
    i = torch.arange(-radius, size + radius, device=device) % (2 * size)
    return torch.where(i >= size, 2 * size - 1 - i, i)


def gaussian_smooth_torch(image: torch.Tensor, sigma: float = 0.8) -> torch.Tensor:
    """Separable Gaussian smoothing with mirrored borders, as the reference checker does it.

    :param image: ``(N, C, H, W)`` floating-point tensor.
    :param sigma: standard deviation in pixels (> 0); kernel from :func:`gaussian_kernel`.
    :returns: ``(N, C, H, W)``, same dtype and device.
    :raises ValueError: not 4-D, or ``sigma <= 0``.
    """
    if image.ndim != 4:
        raise ValueError(f"image must be (N, C, H, W), got shape {tuple(image.shape)}")
    kernel = gaussian_kernel(sigma, image.dtype, image.device)
    radius = (kernel.numel() - 1) // 2
    n, c, h, w = image.shape
    x = image.reshape(n * c, 1, h, w)
    x = x.index_select(3, _reflect_index(w, radius, image.device))
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    x = x.index_select(2, _reflect_index(h, radius, image.device))
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))
    return x.reshape(n, c, h, w)


def _central_derivatives(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(d/dx, d/dy)`` of ``(N, 2, H, W)`` flow: ``(a[i+1] - a[i-1]) / 2`` with the edge sample
    repeated outside (so 0.5 (a[1] - a[0]) at the first column)."""
    px = F.pad(flow, (1, 1, 0, 0), mode="replicate")
    py = F.pad(flow, (0, 0, 1, 1), mode="replicate")
    return 0.5 * (px[..., 2:] - px[..., :-2]), 0.5 * (py[..., 2:, :] - py[..., :-2, :])


def consistency_check_torch(
    flow1: torch.Tensor, flow2: torch.Tensor, smooth_sigma: float = 0.8, *, clip: bool = True
) -> torch.Tensor:
    """Reliability of ``flow1`` checked against the opposite ``flow2`` (Ruder et al. 2016 eq. 5-7), batched.


    :param flow1: ``(N, 2, H, W)`` float tensor, pixels (u right, v down): the flows whose reliability is
        wanted (e.g. backward ``t -> t-1``), on any device.
    :param flow2: ``(N, 2, H, W)`` the opposite flows between the same frames (e.g. forward ``t-1 -> t``),
        same device.
    :param smooth_sigma: sigma of the final Gaussian smoothing in pixels (0.8 in the reference; 0 disables it).
    :param clip: clip the result to [0, 255] (the reference does; ``False`` keeps the smoothed -255 spread).
    :returns: ``(N, 1, H, W)`` in [0, 255], dtype of the flows (float32 unless float64 is given);
        255 = reliable, 0 = disoccluded, motion boundary or no correspondence inside the image.
        Divide by 255 for the weights ``c``.
    :raises TypeError: a flow is not a tensor.
    :raises ValueError: shapes other than ``(N, 2, H, W)``, mismatched shapes or devices, integer
        dtypes, or a negative ``smooth_sigma``.
    """
    _check_flow(flow1, "flow1")
    _check_flow(flow2, "flow2")
    if flow1.shape != flow2.shape:
        raise ValueError(f"flow2 has shape {tuple(flow2.shape)} but flow1 has {tuple(flow1.shape)}; they must match")
    if flow1.device != flow2.device:
        raise ValueError(f"flow2 is on {flow2.device} but flow1 on {flow1.device}; they must be on the same device")
    if smooth_sigma < 0:
        raise ValueError(f"smooth_sigma must be >= 0, got {smooth_sigma}")
    dtype = torch.float64 if torch.float64 in (flow1.dtype, flow2.dtype) else torch.float32
    f1 = flow1.to(dtype)
    f2 = flow2.to(dtype)
    n, _, h, w = f1.shape
    device = f1.device

    dx, dy = _central_derivatives(f1)
    motion_edge = (dx * dx).sum(1) + (dy * dy).sum(1)  # (N, H, W)
    flow_sq = (f1 * f1).sum(1)

    # p = x + w: integer cell and weights from floor(w), exactly as in float64
    whole = torch.floor(f1)
    frac = f1 - whole
    xs = torch.arange(w, device=device, dtype=dtype).view(1, 1, w)
    ys = torch.arange(h, device=device, dtype=dtype).view(1, h, 1)
    x1 = xs + whole[:, 0]
    y1 = ys + whole[:, 1]
    inside = (x1 >= 0) & (x1 + 1 < w) & (y1 >= 0) & (y1 + 1 < h)
    x1i = x1.clamp(0, max(w - 2, 0)).long()
    y1i = y1.clamp(0, max(h - 2, 0)).long()
    x2i = (x1i + 1).clamp(max=w - 1)
    y2i = (y1i + 1).clamp(max=h - 1)

    flat = f2.reshape(n, 2, h * w)

    def at(yi: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        index = (yi * w + xi).reshape(n, 1, h * w).expand(n, 2, h * w)
        return flat.gather(2, index).reshape(n, 2, h, w)

    ax = frac[:, 0:1]
    ay = frac[:, 1:2]
    top = (1.0 - ax) * at(y1i, x1i) + ax * at(y1i, x2i)
    bottom = (1.0 - ax) * at(y2i, x1i) + ax * at(y2i, x2i)
    w2 = (1.0 - ay) * top + ay * bottom

    total = f1 + w2
    disoccluded = (total * total).sum(1) >= 0.01 * (flow_sq + (w2 * w2).sum(1)) + 0.5
    boundary = motion_edge > 0.01 * flow_sq + 0.002

    out = torch.full((n, h, w), RELIABLE_VALUE, dtype=dtype, device=device)
    out = torch.where(boundary, torch.full_like(out, MOTION_BOUNDARY_VALUE), out)
    out = torch.where(disoccluded, torch.full_like(out, DISOCCLUSION_VALUE), out)
    out = torch.where(inside, out, torch.zeros_like(out))
    out = out.unsqueeze(1)
    if smooth_sigma > 0:
        out = gaussian_smooth_torch(out, smooth_sigma)
    return out.clamp(0.0, 255.0) if clip else out


def consistency_check(flow1: np.ndarray, flow2: np.ndarray, smooth_sigma: float = 0.8, clip: bool = True) -> np.ndarray:
    """:func:`consistency_check_torch` of one pair of NumPy flows, in float64 on the CPU.

    :param flow1: ``(H, W, 2)`` float, pixels (u right, v down): the flow whose reliability is wanted.
    :param flow2: ``(H, W, 2)`` the opposite flow between the same frames.
    :param smooth_sigma: sigma of the final smoothing (0.8 in the reference; 0 disables it).
    :returns: ``(H, W)`` float32 in [0, 255].
    :raises ValueError: for shapes other than ``(H, W, 2)`` or mismatched sizes.
    """
    for flow, name in ((flow1, "flow1"), (flow2, "flow2")):
        if flow.ndim != 3 or flow.shape[2] != 2:
            raise ValueError(f"{name} must be (H, W, 2) float (u, v), got shape {flow.shape}")

    def tensor(flow: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float64)).permute(2, 0, 1)[None]

    out = consistency_check_torch(tensor(flow1), tensor(flow2), smooth_sigma, clip=clip)
    return out[0, 0].numpy().astype(np.float32)
