"""Backward warping along optical flow (torch ``grid_sample``: bilinear, bicubic or nearest).

Convention used everywhere in vsstylize: a flow field ``(N, 2, H, W)`` holds ``(u, v)`` in pixels,
``u`` to the right (x) and ``v`` downwards (y). The flow stored at frame ``t`` points from frame ``t``
to its partner frame ``s`` (``s = t - step`` for backward flow, ``t + step`` for forward flow), so the
partner's content is brought into frame ``t`` by sampling it at ``x + flow(x)``:

    warped_t(x) = image_s(x + flow_t->s(x))          (Ruder et al. 2018, the warp function omega)
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F

__all__ = ["DEFAULT_STYLIZED_WARP", "PaddingMode", "StylizedWarp", "WarpMode", "inside_mask", "sampling_grid", "warp"]

PaddingMode = Literal["border", "zeros", "reflection"]
#: Interpolation of :func:`warp`.
WarpMode = Literal["bilinear", "bicubic", "nearest"]
#: The choices of ``stylize``'s ``warp_interpolation`` option (warping stylized frames).
StylizedWarp = Literal["bilinear", "bicubic"]

#: Default interpolation for warping a *stylized* frame into the next frame (the init and the temporal-loss
#: target of the optimization chains: optim, hybrid, multipass, spherical faces; ``stylize``'s
#: ``warp_interpolation``). Bilinear sampling at a sub-pixel offset averages neighbouring pixels, a low-pass
#: filter that removes part of the fine brush texture the Gram matrices measure; bicubic (Keys' cubic
#: convolution, a = -0.75) keeps more of it. Measured (bench/optim-convergence/README.md: 256x192, 100,100
#: iterations, chain vs per-frame processing with matched iterations, three generated sequences): bicubic
#: lowers the later frame's style loss by 6-9 points of per-frame's but raises its content loss by 0.4-0.6
#: points at the same temporal error (within 1 %), so the content drift the chains show is not caused by the
#: blur; bilinear (the papers') stays the default. The networks' priors, their training and the metrics
#: always warp bilinearly.
DEFAULT_STYLIZED_WARP: StylizedWarp = "bilinear"


def sampling_grid(flow: torch.Tensor) -> torch.Tensor:
    """Normalised ``grid_sample`` grid ``(N, H, W, 2)`` for the positions ``x + flow(x)``.

    :param flow: ``(N, 2, H, W)`` float, pixels (u right, v down).
    :raises ValueError: when ``flow`` is not ``(N, 2, H, W)``.
    """
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (N, 2, H, W), got {tuple(flow.shape)}")
    _, _, h, w = flow.shape
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype).view(1, h, 1)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, 1, w)
    px = xs + flow[:, 0]
    py = ys + flow[:, 1]
    # align_corners=True: pixel centre 0 -> -1, pixel centre W-1 -> +1.
    gx = px * (2.0 / max(w - 1, 1)) - 1.0
    gy = py * (2.0 / max(h - 1, 1)) - 1.0
    return torch.stack((gx, gy), dim=-1)


def warp(image: torch.Tensor, flow: torch.Tensor, padding: PaddingMode = "border",
         mode: WarpMode = "bilinear") -> torch.Tensor:
    """Backward-warp ``image`` along ``flow``.

    ``out[n, :, y, x] = image[n, :, y + v, x + u]`` (interpolated), ``(u, v) = flow[n, :, y, x]``.

    :param image: ``(N, C, H, W)`` float (any range; RGB in [0, 1] for frames).
    :param flow: ``(N, 2, H, W)`` in pixels, same ``N``, ``H``, ``W`` (``N`` = 1 broadcasts).
    :param padding: what positions outside the image read: ``"border"`` (nearest edge pixel, the
        default, so an initialisation has no black margins), ``"zeros"`` or ``"reflection"``.
        Pixels whose source lies outside the image are unreliable either way; :func:`inside_mask`
        and the reliability weights mark them.
    :param mode: ``"bilinear"`` (default), ``"bicubic"`` (``grid_sample``'s cubic convolution, a = -0.75;
        its overshoot is clamped to each image channel's own range, so RGB in [0, 1] stays in [0, 1]) or
        ``"nearest"``. :data:`DEFAULT_STYLIZED_WARP` is the default for stylized frames.
    :returns: ``(N, C, H, W)``, same dtype and device as ``image``.
    :raises ValueError: for mismatched shapes or an unknown ``mode``.
    """
    if mode not in get_args(WarpMode):
        raise ValueError(f"mode must be 'bilinear', 'bicubic' or 'nearest', got {mode!r}")
    if image.dim() != 4:
        raise ValueError(f"image must be (N, C, H, W), got {tuple(image.shape)}")
    if flow.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"flow size {tuple(flow.shape[-2:])} differs from image size {tuple(image.shape[-2:])}")
    grid = sampling_grid(flow.to(image.dtype))
    if grid.shape[0] != image.shape[0]:
        grid = grid.expand(image.shape[0], -1, -1, -1)
    out = F.grid_sample(image, grid, mode=mode, padding_mode=padding, align_corners=True)
    if mode == "bicubic":  # no overshoot beyond the image's range (device-side bounds: no host sync)
        out = torch.clamp(out, image.amin(dim=(-2, -1), keepdim=True), image.amax(dim=(-2, -1), keepdim=True))
    return out


def inside_mask(flow: torch.Tensor) -> torch.Tensor:
    """``(N, 1, H, W)`` float mask: 1 where ``x + flow(x)`` lies inside the image, else 0.

    :param flow: ``(N, 2, H, W)`` pixels.
    """
    grid = sampling_grid(flow)
    inside = (grid.abs() <= 1.0).all(dim=-1)
    return inside.unsqueeze(1).to(flow.dtype)
