"""Resolution-independent strokes for the feed-forward networks (issue "The editor's workflow", point 3).

A stylization network is fully convolutional: its strokes have a fixed size in *pixels* (the shipped
networks' texture has a mean period of about 9-10 px at any frame size), so relative to the frame they
shrink as the resolution grows — painterly at 640x360, a fine knit at 1280x720 (fast-artistic-videos
issue 16). :func:`stylize_at_scale` runs the network at a *processing size* whose height is
``REFERENCE_HEIGHT / stroke_scale`` (the frame's aspect ratio kept, sides rounded to a multiple of 4) and
brings the stylized image back to the frame's size:

* the content is resized to the processing size with antialiasing (``torch.nn.functional.interpolate``,
  bicubic, ``antialias=True`` when reducing);
* the stylized result is enlarged bicubically and given back the content's full-resolution edges
  (``upsampling="guided"``, :func:`guided_detail_upsample`): the detail the content loses by the
  reduction (content minus its reduced-and-enlarged self) is added through the local linear colour transform
  the network applied, the coefficients of the guided filter's model (He et al. 2013) fitted at the
  processing size and enlarged as in He & Sun 2015's fast guided filter. The strokes are kept as enlarged
  (the mean texture period relative to the height stays within 1 % of the processing-size output's), and an
  identity network run at half size is restored with 1/5 of the bicubic enlargement's error at edges.
  ``"joint_bilateral"`` (OpenCV contrib's ``cv2.ximgproc.jointBilateralFilter`` of the bicubic enlargement,
  the content as joint image, after Kopf et al. 2007) and plain ``"bicubic"`` are the alternatives measured in
  ``bench/network-output/README.md``. Rejected there: OpenCV's ``cv2.ximgproc.guidedFilter`` of the bicubic
  enlargement with the full-resolution content as guide (twice the bicubic edge error) and the plain fast
  guided filter (enlarged coefficients *and* offsets applied to the content: it averages the strokes over
  the fitting windows, mean period +33 %).

With ``REFERENCE_HEIGHT = 360`` and ``stroke_scale = 1`` a 640x360 frame is stylized as before and a
1280x720 frame gets the same strokes relative to its height. ``stroke_scale = 2`` doubles the strokes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["REFERENCE_HEIGHT", "Upsampling", "guided_detail_upsample", "local_linear_coefficients", "processing_size",
           "scale_tag", "stylize_at_scale", "upsample_stylized"]

Upsampling = Literal["guided", "joint_bilateral", "bicubic"]
#: Frame height (pixels) at which ``stroke_scale = 1`` runs the network: the shipped networks were trained on
#: 128-pixel crops of frames 160 pixels high and give painterly strokes on 360-line frames.
REFERENCE_HEIGHT = 360
#: Guided filter regularisation (RGB in [0, 1]): edges of contrast well above sqrt(eps) ~ 0.03 are kept.
GUIDED_EPS = 1e-3


def processing_size(height: int, width: int, stroke_scale: float = 1.0,
                    reference_height: int = REFERENCE_HEIGHT) -> tuple[int, int]:
    """``(h, w)`` at which the network runs for a ``width x height`` frame: height
    ``reference_height / stroke_scale``, the frame's aspect ratio, both rounded to a multiple of 4 (at least 4),
    but never larger than the frame: a frame whose height is at most that runs at its own ``(height, width)``
    (a network on an enlarged frame would only make the strokes finer than the frame's pixels allow and cost
    more; and every frame up to 360 lines keeps its output at ``stroke_scale = 1``).

    :raises ValueError: a non-positive ``stroke_scale``, ``reference_height`` or frame side.
    """
    if not stroke_scale > 0:
        raise ValueError(f"stroke_scale: must be > 0, got {stroke_scale}")
    if reference_height <= 0 or height <= 0 or width <= 0:
        raise ValueError(f"reference_height and the frame size must be positive, got {reference_height} and {width}x{height}")
    h = reference_height / stroke_scale
    w = h * width / height
    size = max(4, 4 * round(h / 4)), max(4, 4 * round(w / 4))
    return (height, width) if size[0] >= height or size[1] >= width else size


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    reduce = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=reduce)


def _box(a: np.ndarray, radius: int) -> np.ndarray:
    side = 2 * radius + 1
    return cv2.boxFilter(a, -1, (side, side), borderType=cv2.BORDER_REFLECT)


def local_linear_coefficients(stylized: np.ndarray, guide: np.ndarray, radius: int = 1,
                              eps: float = GUIDED_EPS) -> np.ndarray:
    """Coefficients ``A`` of the guided filter's local linear model ``stylized ~ A^T guide + b`` (He et al. 2013,
    eq. 19, colour guide), fitted in windows of ``radius`` and averaged over the windows covering each pixel.

    :param stylized: / :param guide: ``(h, w, 3)`` float32, colours in [0, 1].
    :param eps: regularisation of the fit.
    :returns: ``(h, w, 3, 3)`` float32: ``stylized_c ~ sum_a A[..., a, c] guide_a + b_c``.
    """
    h, w = stylized.shape[:2]
    mean_i = _box(guide, radius)
    mean_p = _box(stylized, radius)
    # the covariance of the guide (symmetric: 6 products) and of guide and stylized image (9), one box filter each
    first, second = [0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 2, 2]
    cov_ii = _box(np.ascontiguousarray(guide[..., first] * guide[..., second]), radius) \
        - mean_i[..., first] * mean_i[..., second]
    cov_ip = _box(np.ascontiguousarray((guide[..., :, None] * stylized[..., None, :]).reshape(h, w, 9)), radius) \
        .reshape(h, w, 3, 3) - mean_i[..., :, None] * mean_p[..., None, :]
    cov_ii[..., [0, 3, 5]] += eps
    # (cov_ii + eps I)^-1 cov_ip with the symmetric 3x3 inverse written out (adjugate over determinant): the same
    # solution as a batched np.linalg.solve within float32 rounding (2e-6), in a third of its time
    a, b, c, d, e, f = np.moveaxis(cov_ii, -1, 0)
    adj = (d * f - e * e, c * e - b * f, b * e - c * d, a * f - c * c, b * c - a * e, a * d - b * b)
    inv_det = 1.0 / (a * adj[0] + b * adj[1] + c * adj[2])
    m00, m01, m02, m11, m12, m22 = (x * inv_det for x in adj)
    inverse = np.stack([m00, m01, m02, m01, m11, m12, m02, m12, m22], -1).reshape(h, w, 3, 3)
    coef = sum(inverse[..., :, k, None] * cov_ip[..., k, None, :] for k in range(3))
    return _box(np.ascontiguousarray(coef.reshape(h, w, 9), np.float32), radius).reshape(h, w, 3, 3)


def guided_detail_upsample(stylized: torch.Tensor, content: torch.Tensor, radius: int = 1,
                           eps: float = GUIDED_EPS) -> torch.Tensor:
    """Enlarge ``stylized`` to the size of ``content`` and give it back the content's full-resolution edges:

    ``out = up(stylized) + up(A)^T (content - up(content_small))``

    with ``up`` the bicubic enlargement, ``content_small`` the content reduced to the stylized image's size
    (antialiased) and ``A`` the local linear coefficients of the stylized image on the content at that size
    (:func:`local_linear_coefficients`, the guided filter's model; He & Sun 2015 enlarge these coefficients
    the same way). The stylization, strokes included, is kept as enlarged; only the detail the content loses
    by the reduction is added, mapped through the local colour transform the network applied (an identity
    network gets ``A`` close to the identity matrix and the content back up to the fit's regularisation).

    :param stylized: ``(1, 3, h, w)`` RGB in [0, 1]. :param content: ``(1, 3, H, W)`` RGB in [0, 1].
    :returns: ``(1, 3, H, W)``, not clipped.
    """
    size = (int(content.shape[-2]), int(content.shape[-1]))
    small = (int(stylized.shape[-2]), int(stylized.shape[-1]))
    content_small = _resize(content, small).clamp(0.0, 1.0)
    detail = content - _resize(content_small, size)
    hwc = lambda t: np.ascontiguousarray(t[0].permute(1, 2, 0).cpu().numpy().astype(np.float32))
    coef = local_linear_coefficients(hwc(stylized), hwc(content_small), radius, eps)
    full = cv2.resize(coef.reshape(small[0], small[1], 9), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    full_t = torch.from_numpy(full.reshape(size[0], size[1], 3, 3)).to(content.device)
    added = torch.einsum("hwac,ahw->chw", full_t, detail[0].to(torch.float32))[None]
    return _resize(stylized, size) + added


def upsample_stylized(stylized: torch.Tensor, content: torch.Tensor, upsampling: Upsampling = "guided",
                      radius: int | None = None) -> torch.Tensor:
    """Bring a stylized image computed at a smaller size to the size of ``content``.

    :param stylized: ``(1, 3, h, w)`` RGB in [0, 1].
    :param content: ``(1, 3, H, W)`` RGB in [0, 1], the full-resolution frame (guide/joint image).
    :param upsampling: ``"guided"`` (:func:`guided_detail_upsample`, radius 1 at the small size unless given),
        ``"joint_bilateral"`` (``cv2.ximgproc.jointBilateralFilter`` of the bicubic enlargement, joint image =
        content, radius = the enlargement factor unless given) or ``"bicubic"``.
    :param radius: filter radius (see ``upsampling``).
    :returns: ``(1, 3, H, W)`` RGB in [0, 1] on ``content``'s device.
    :raises ValueError: shapes that are not single RGB frames, or an unknown ``upsampling``.
    """
    if stylized.dim() != 4 or stylized.shape[:2] != (1, 3) or content.dim() != 4 or content.shape[:2] != (1, 3):
        raise ValueError(f"stylized {tuple(stylized.shape)} and content {tuple(content.shape)} must be (1, 3, H, W)")
    if upsampling not in ("guided", "joint_bilateral", "bicubic"):
        raise ValueError(f"upsampling: expected 'guided', 'joint_bilateral' or 'bicubic', got {upsampling!r}")
    size = (int(content.shape[-2]), int(content.shape[-1]))
    small_size = (int(stylized.shape[-2]), int(stylized.shape[-1]))
    stylized = stylized.to(content.device, torch.float32)
    if small_size == size:
        return stylized.clamp(0.0, 1.0)
    if upsampling == "guided":
        return guided_detail_upsample(stylized, content.to(torch.float32), 1 if radius is None else int(radius)).clamp(0.0, 1.0)
    up = _resize(stylized, size).clamp(0.0, 1.0)
    if upsampling == "bicubic":
        return up
    factor = max(size[0] / small_size[0], size[1] / small_size[1])
    r = int(radius) if radius is not None else max(1, int(np.ceil(factor)))
    src = np.ascontiguousarray(up[0].permute(1, 2, 0).cpu().numpy())
    joint = np.ascontiguousarray(content[0].permute(1, 2, 0).cpu().numpy().astype(np.float32))
    out = cv2.ximgproc.jointBilateralFilter(joint, src, 2 * r + 1, 0.1, float(r))
    return torch.from_numpy(np.clip(out, 0.0, 1.0)).permute(2, 0, 1)[None].to(content.device)


def stylize_at_scale(network: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, stroke_scale: float = 1.0,
                     upsampling: Upsampling = "guided", reference_height: int = REFERENCE_HEIGHT) -> torch.Tensor:
    """Stylize a frame with strokes of a fixed size relative to the frame height.

    The network runs at :func:`processing_size` and its output is brought to the frame size by
    :func:`upsample_stylized`. When the processing size is the frame size (frames at or below the processing
    height) this is ``network(x)``.

    :param network: maps ``(1, C, h, w)`` to ``(1, 3, h, w)`` RGB in [0, 1] for any ``h, w``.
    :param x: ``(1, C, H, W)`` network input whose first 3 channels are the frame, RGB in [0, 1] (a prior-image
        network's masked prior and mask follow, *full-size*: every channel is reduced the same way (bicubic,
        antialiased) and clamped to [0, 1], so the recursion stays at full size; see
        ``bench/network-output/README.md`` for that choice).
    :param stroke_scale: stroke size relative to the network's strokes on a ``reference_height``-line frame.
    :param upsampling: see :func:`upsample_stylized`.
    :returns: ``(1, 3, H, W)`` RGB in [0, 1].
    :raises ValueError: ``x`` not ``(1, C, H, W)`` with ``C >= 3``, or a bad ``stroke_scale``.
    """
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] < 3:
        raise ValueError(f"x: expected (1, C >= 3, H, W), got {tuple(x.shape)}")
    h, w = int(x.shape[-2]), int(x.shape[-1])
    size = processing_size(h, w, stroke_scale, reference_height)
    if size == (h, w):
        return network(x)
    small = _resize(x, size)
    if x.shape[1] > 3:  # the mask (last channel) and the masked prior stay in their ranges
        small = small.clamp(0.0, 1.0)
    stylized = network(small)
    return upsample_stylized(stylized, x[:, :3], upsampling)


def scale_tag(stroke_scale: float | None, upsampling: Upsampling = "guided") -> str:
    """The part of a cache key that says how :func:`stylize_at_scale` ran (``None``: at the frame's size)."""
    return "native" if stroke_scale is None else f"stroke-{float(stroke_scale)!r}-{REFERENCE_HEIGHT}-{upsampling}"
