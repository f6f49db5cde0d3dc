"""Evaluation metrics of video style transfer (the papers' protocol).

Conventions (shared with :mod:`vsstylize.opticalflow.warping` and :mod:`vsstylize.train.sequences`):

* stylized videos are ``(T, C, H, W)`` float (numpy or torch), RGB pixel values in [0, 1];
* a flow series is ``(L, 2, H, W)`` in pixels (u right, v down). The flow stored at frame ``t`` points
  from ``t`` to its partner ``t - step`` (backward flow), so ``warp(stylized[t - step], flow[t])``
  brings the partner's stylization into frame ``t``. ``L`` may be ``T`` (indexed by frame; the first
  ``step`` entries, which have no partner, are ignored) or ``T - step`` (entry ``i`` belongs to frame
  ``i + step``);
* masks / reliability weights are ``(L, H, W)`` or ``(L, 1, H, W)`` with the same two length rules.

Per-frame results are numpy ``float64`` arrays whose entry ``i`` belongs to frame ``t = i + step``;
frames with no valid pixel give ``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from vsstylize.opticalflow.warping import warp

if TYPE_CHECKING:
    from vsstylize.optim.losses import StyleTarget
    from vsstylize.optim.vgg import LossNetwork

__all__ = [
    "RelativeLosses",
    "border_contrast",
    "e_gradient",
    "e_temporal",
    "long_term_error",
    "relative_losses",
    "squared_warp_difference",
    "temporal_error",
    "warping_error",
]

Array = np.ndarray | torch.Tensor
Side = Literal["left", "right", "top", "bottom"]


# ----------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------
def _tensor(x: Array, param: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float32)
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    raise ValueError(f"{param} must be a numpy array or torch tensor, got {type(x).__name__}")


def _video(stylized: Array, param: str = "stylized", min_frames: int = 2) -> torch.Tensor:
    v = _tensor(stylized, param)
    if v.dim() != 4:
        raise ValueError(f"{param} must be (T, C, H, W), got shape {tuple(v.shape)}")
    if v.shape[0] < min_frames:
        raise ValueError(f"{param} has {v.shape[0]} frame(s); at least {min_frames} are needed")
    return v


def _aligned(series: Array, t_count: int, step: int, param: str, tail: tuple[int, ...]) -> torch.Tensor:
    """Return ``series`` as ``(T - step, *tail)`` whose entry ``i`` belongs to frame ``i + step``.

    :raises ValueError: wrong trailing shape or a length other than ``T`` or ``T - step``.
    """
    s = _tensor(series, param)
    if len(tail) == 2 and s.dim() == 4 and s.shape[1] == 1:  # (L, 1, H, W) masks
        s = s[:, 0]
    if tuple(s.shape[1:]) != tail:
        raise ValueError(f"{param} must be (L, {', '.join(map(str, tail))}) to match stylized, got {tuple(s.shape)}")
    if s.shape[0] == t_count:
        return s[step:]
    if s.shape[0] == t_count - step:
        return s
    raise ValueError(f"{param} has {s.shape[0]} entries; expected {t_count} (one per frame) or "
                     f"{t_count - step} (frames {step}..{t_count - 1}) for {t_count} stylized frames")


def _check_step(step: object, t_count: int, param: str) -> None:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 1 <= step < t_count:
        raise ValueError(f"{param} must be an integer in [1, {t_count - 1}] for {t_count} frames, got {step!r}")


def _region(region: Array | None, t_count: int, step: int, hw: tuple[int, int]) -> torch.Tensor | None:
    if region is None:
        return None
    r = _tensor(region, "region")
    if r.dim() == 2:
        if tuple(r.shape) != hw:
            raise ValueError(f"region must be (H, W) = {hw} or per frame (T, H, W), got {tuple(r.shape)}")
        return (r > 0.5).expand(t_count - step, *hw)
    return _aligned(r, t_count, step, "region", hw) > 0.5


# ----------------------------------------------------------------------------------------
# temporal consistency
# ----------------------------------------------------------------------------------------
def squared_warp_difference(stylized: Array, flows: Array, step: int = 1) -> torch.Tensor:
    """Per-pixel squared difference between frame ``t`` and the warped frame ``t - step``.

    ``d_t(x) = (1/C) sum_c (stylized[t, c, x] - warp(stylized[t - step], flow_t)[c, x])^2`` — the
    summand of Ruder et al. 2018 eq. 8 (short-term temporal loss) and Huang et al. 2017 eq. 7/8,
    averaged over the ``C`` colour channels. Warping is bilinear with border padding
    (:func:`vsstylize.opticalflow.warping.warp`); pixels whose source is outside the image must be masked by the caller.

    :param stylized: ``(T, C, H, W)`` in [0, 1].
    :param flows: backward flows ``t -> t - step``, ``(T, 2, H, W)`` or ``(T - step, 2, H, W)``.
    :param step: frame distance ``>= 1``.
    :returns: ``(T - step, H, W)`` float32 tensor; entry ``i`` is frame ``i + step``.
    :raises ValueError: bad shapes or lengths (naming the parameter), ``step`` out of range.
    """
    video = _video(stylized, min_frames=2)
    t_count, _, h, w = video.shape
    _check_step(step, t_count, "step")
    flow = _aligned(flows, t_count, step, "flows", (2, h, w))
    out = torch.empty((t_count - step, h, w), dtype=torch.float32)
    with torch.no_grad():
        for i in range(t_count - step):
            t = i + step
            warped = warp(video[t - step:t - step + 1], flow[i:i + 1].to(video.device))
            out[i] = ((video[t] - warped[0]) ** 2).mean(dim=0).cpu()
    return out


def _weighted_mean(diff: torch.Tensor, weights: torch.Tensor) -> np.ndarray:
    """Per frame ``sum(c * d) / sum(c)``; ``nan`` where ``sum(c) == 0``."""
    num = (diff.double() * weights.double()).flatten(1).sum(1)
    den = weights.double().flatten(1).sum(1)
    out = torch.full_like(num, float("nan"))
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return out.numpy()


def temporal_error(stylized: Array, flows_backward: Array, masks: Array) -> np.ndarray:
    """Short-term temporal error per frame (Ruder et al. 2018 sec. 7.1, Tables 2 and 4).

    Ruder et al. "warped each stylized frame at time t back with the ground truth flow and computed the
    mean squared difference to the stylized frame t - 1 in regions without disocclusion". With the
    vsstylize flow convention this is, for each ``t >= 1``::

        E_t = sum_{x: m_t(x) = 1} (1/C) sum_c (s_t(x)_c - warp(s_{t-1}, f_{t->t-1})(x)_c)^2 / #{x: m_t(x) = 1}

    i.e. the stylized frame ``t - 1`` is warped into frame ``t`` with the backward flow of ``t`` and
    compared with stylized frame ``t`` — the same pixel correspondences as warping ``t`` back onto
    ``t - 1``. Pixel values in [0, 1]; the mean runs over the non-disoccluded pixels (``mask > 0.5``)
    and the ``C`` channels. Paper values: 0.0006 – 0.04 (Sintel, Table 2).

    :param stylized: ``(T, C, H, W)`` stylized frames in [0, 1].
    :param flows_backward: ``(T, 2, H, W)`` or ``(T-1, 2, H, W)`` flows ``t -> t-1`` in pixels.
    :param masks: ``(T, H, W)`` or ``(T-1, H, W)``: 1 = not disoccluded (valid correspondence).
    :returns: ``(T-1,)`` float64, entry ``i`` for frame ``t = i + 1``; ``nan`` for frames without valid pixels.
    :raises ValueError: mismatched sizes or lengths, naming the parameter.
    """
    video = _video(stylized)
    t_count, _, h, w = video.shape
    m = (_aligned(masks, t_count, 1, "masks", (h, w)) > 0.5).float()
    return _weighted_mean(squared_warp_difference(video, flows_backward, 1), m)


def e_temporal(stylized: Array, flows_backward: Array, masks: Array) -> float:
    """Huang et al. 2017's temporal error of a whole sequence (their eq. 8)::

        E_temporal = sqrt( 1 / ((T-1) D) * sum_{t=1}^{T-1} sum_{k=1}^{D} c_k (x_k^t - f(x_k^{t+1}))^2 )

    ``D = C*H*W`` (every colour sample), ``c`` the per-pixel mask (Huang use Sintel's occlusion maps),
    ``f`` the warp with ground-truth flow. Huang warp ``t+1`` into ``t``; here frame ``t - 1`` is warped
    into ``t`` with the backward flow, which pairs the same consecutive frames. Note the normalisation by
    ``D``, not by the number of valid pixels: ``E_temporal^2`` is the per-frame
    ``sum(c * d) / (H*W)`` averaged over the ``T - 1`` pairs, which differs from the mean of
    :func:`temporal_error` by the fraction of valid pixels.

    :param stylized: ``(T, C, H, W)`` in [0, 1].
    :param flows_backward: ``(T, 2, H, W)`` or ``(T-1, 2, H, W)``.
    :param masks: ``(T, H, W)`` or ``(T-1, H, W)`` weights ``c`` in [0, 1] (used as given, not thresholded).
    :returns: the scalar ``E_temporal`` (pixel units of [0, 1]).
    :raises ValueError: mismatched sizes or lengths, naming the parameter.
    """
    video = _video(stylized)
    t_count, _, h, w = video.shape
    c = _aligned(masks, t_count, 1, "masks", (h, w))
    diff = squared_warp_difference(video, flows_backward, 1)
    return math.sqrt(float((diff.double() * c.double()).mean()))


def long_term_error(stylized: Array, long_flows: Array, long_masks: Array, k: int,
                    region: Array | None = None) -> np.ndarray:
    """Long-term temporal error between frames ``t`` and ``t - k`` (Ruder et al. 2018 sec. 4.3 / Fig. 9).

    The short-term error of :func:`temporal_error` with the long-term backward flow ``t -> t-k``:
    mean over pixels with ``mask > 0.5`` (and inside ``region``, if given) and channels of
    ``(s_t - warp(s_{t-k}, f_{t->t-k}))^2``. With ``region`` = the formerly occluded background
    (:meth:`vsstylize_bench.Sequence.occluded_between`) it measures whether the background looks the
    same after an occluder has passed.

    :param stylized: ``(T, C, H, W)`` in [0, 1], ``T > k``.
    :param long_flows: ``(T, 2, H, W)`` or ``(T-k, 2, H, W)`` flows ``t -> t-k``.
    :param long_masks: ``(T, H, W)`` or ``(T-k, H, W)``, 1 = visible in ``t-k``.
    :param k: frame distance ``>= 1``.
    :param region: optional ``(H, W)`` or per-frame ``(T, H, W)`` / ``(T-k, H, W)`` mask restricting the mean.
    :returns: ``(T-k,)`` float64, entry ``i`` for frame ``t = i + k``; ``nan`` where no pixel qualifies.
    :raises ValueError: bad ``k``, mismatched sizes or lengths, naming the parameter.
    """
    video = _video(stylized)
    t_count, _, h, w = video.shape
    _check_step(k, t_count, "k")
    m = _aligned(long_masks, t_count, k, "long_masks", (h, w)) > 0.5
    r = _region(region, t_count, k, (h, w))
    if r is not None:
        m = m & r
    return _weighted_mean(squared_warp_difference(video, long_flows, k), m.float())


def warping_error(stylized: Array, flows_backward: Array, reliability: Array, step: int = 1) -> np.ndarray:
    """Warping error of a real clip with estimated flow (the protocol's "warping (temporal) error").

    The temporal error with the reliability weights ``c`` in [0, 1] of the estimated flow (Ruder et al.
    2018 eq. 5-7, forward-backward consistency) instead of a ground-truth mask::

        E_t = sum_x c_t(x) (1/C) sum_ch (s_t - warp(s_{t-step}, f_{t->t-step}))^2 / sum_x c_t(x)

    :param stylized: ``(T, C, H, W)`` in [0, 1].
    :param flows_backward: ``(T, 2, H, W)`` or ``(T-step, 2, H, W)`` estimated flows ``t -> t-step``.
    :param reliability: ``(T, H, W)`` / ``(T, 1, H, W)`` or ``(T-step, ...)`` weights in [0, 1].
    :param step: frame distance (1 = short-term).
    :returns: ``(T-step,)`` float64 weighted mean squared error per frame ``t >= step``; ``nan`` where ``sum c = 0``.
    :raises ValueError: mismatched sizes or lengths, weights outside [0, 1], naming the parameter.
    """
    video = _video(stylized)
    t_count, _, h, w = video.shape
    _check_step(step, t_count, "step")
    c = _aligned(reliability, t_count, step, "reliability", (h, w))
    if c.numel() and (float(c.min()) < 0.0 or float(c.max()) > 1.0):
        raise ValueError(f"reliability must lie in [0, 1], got [{float(c.min())}, {float(c.max())}]")
    return _weighted_mean(squared_warp_difference(video, flows_backward, step), c)


# ----------------------------------------------------------------------------------------
# image statistics
# ----------------------------------------------------------------------------------------
def _band(side: str, band_px: int, inset_px: int, h: int, w: int) -> tuple[slice, slice]:
    lo, hi = inset_px, inset_px + band_px
    if side == "left":
        return slice(None), slice(lo, hi)
    if side == "right":
        return slice(None), slice(w - hi, w - lo)
    if side == "top":
        return slice(lo, hi), slice(None)
    return slice(h - hi, h - lo), slice(None)


def border_contrast(stylized: Array, side: Side, band_px: int, inset_px: int = 0) -> np.ndarray:
    """Contrast at one image border relative to the image centre, per frame.

    Ruder et al. 2018 Fig. 10: with fast camera motion, the single-pass algorithm lets image areas that
    keep entering from one border become brighter and lose contrast; the multi-pass algorithm avoids it.
    Contrast is measured as the standard deviation of the pixel values in a band of ``band_px`` pixels
    along ``side`` divided by that in the centre box (the middle half of the width and of the height),
    each computed per colour channel and averaged over channels. 1 = as much contrast as the centre.

    :param stylized: ``(T, C, H, W)`` video or one ``(C, H, W)`` image, values in [0, 1].
    :param side: ``"left"``, ``"right"``, ``"top"`` or ``"bottom"`` (where new content enters).
    :param band_px: band width in pixels.
    :param inset_px: distance of the band from the image edge in pixels (default 0: the band starts at the
        edge). A stylization's outermost pixels carry an edge effect of the loss network's zero padding
        (more contrast there even for a per-frame stylization of stationary content); an inset measures
        the entering content just inside it. ``band_px + inset_px <= W // 4`` (left/right) or ``H // 4``
        (top/bottom), so the band and the centre box do not overlap.
    :returns: ``(T,)`` float64 ratios (``inf`` for a flat centre with a textured band, ``nan`` if both flat).
    :raises ValueError: unknown ``side``, ``band_px`` / ``inset_px`` out of range, bad shape.
    """
    x = _tensor(stylized, "stylized")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"stylized must be (T, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    if side not in ("left", "right", "top", "bottom"):
        raise ValueError(f"side must be 'left', 'right', 'top' or 'bottom', got {side!r}")
    h, w = x.shape[-2:]
    limit = (w if side in ("left", "right") else h) // 4
    if not isinstance(inset_px, int) or not 0 <= inset_px < limit:
        raise ValueError(f"inset_px must be an integer in [0, {limit - 1}] for a {w}x{h} image at the {side}, got {inset_px!r}")
    if not isinstance(band_px, int) or not 1 <= band_px <= limit - inset_px:
        raise ValueError(f"band_px must be an integer in [1, {limit - inset_px}] for a {w}x{h} image at the {side} "
                         f"with inset_px={inset_px}, got {band_px!r}")
    rows, cols = _band(side, band_px, inset_px, h, w)
    band = x[:, :, rows, cols].double().flatten(2).std(dim=2, unbiased=False).mean(dim=1)
    centre = x[:, :, h // 4: h - h // 4, w // 4: w - w // 4].double().flatten(2).std(dim=2, unbiased=False).mean(dim=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return band.numpy() / centre.numpy()


def e_gradient(image: Array, region_x: Array, region_y: Array) -> float:
    """Ruder et al. 2018 appendix A.9, eq. 23: unusual gradients in a region (e.g. cube-face seams).

    Per pixel, the maximum colour gradient ``G_x(p) = cmax(|p[r]_x|, |p[g]_x|, |p[b]_x|)`` with the forward
    difference ``p_x = I(x+1, y) - I(x, y)`` (``(H, W-1)`` values; ``G_y`` likewise ``(H-1, W)``). With the
    binary region ``s_x``::

        r_x = (||s_x o G_x||_1 / ||s_x||_1) / (||G_x||_1 / D)
        E_gradient = (||s_x||_1 r_x + ||s_y||_1 r_y) / (||s_x||_1 + ||s_y||_1)

    ``D`` the number of gradient values. 1 = the region has the image's average gradient; > 1 = false
    edges (paper: 1.18 – 1.5). The region masks are ``(H, W)``; pixel ``(y, x)`` of ``region_x`` selects
    the difference between columns ``x`` and ``x+1`` (its last column is ignored), ``region_y`` likewise
    for rows. An empty region contributes nothing to the weighted average.

    :param image: ``(C, H, W)`` (or ``(1, C, H, W)``), values in [0, 1].
    :param region_x: ``(H, W)`` mask (nonzero = in the region) for horizontal gradients.
    :param region_y: ``(H, W)`` mask for vertical gradients.
    :returns: ``E_gradient``.
    :raises ValueError: bad shapes, both regions empty, or a gradient-free image.
    """
    img = _tensor(image, "image")
    if img.dim() == 4 and img.shape[0] == 1:
        img = img[0]
    if img.dim() != 3 or min(img.shape[-2:]) < 2:
        raise ValueError(f"image must be (C, H, W) with H, W >= 2, got shape {tuple(img.shape)}")
    hw = tuple(img.shape[-2:])
    sx, sy = (_tensor(r, name) for r, name in ((region_x, "region_x"), (region_y, "region_y")))
    for r, name in ((sx, "region_x"), (sy, "region_y")):
        if tuple(r.shape) != hw:
            raise ValueError(f"{name} must be (H, W) = {hw}, got {tuple(r.shape)}")
    img = img.double()
    gx = (img[:, :, 1:] - img[:, :, :-1]).abs().amax(dim=0)
    gy = (img[:, 1:, :] - img[:, :-1, :]).abs().amax(dim=0)
    sx, sy = (sx[:, :-1] != 0).double(), (sy[:-1, :] != 0).double()
    nx, ny = float(sx.sum()), float(sy.sum())
    if nx + ny == 0:
        raise ValueError("region_x and region_y are both empty")
    terms = []
    for g, s, n in ((gx, sx, nx), (gy, sy, ny)):
        if n == 0:
            continue
        overall = float(g.mean())
        if overall == 0:
            raise ValueError("image has no gradients; E_gradient is undefined")
        terms.append(n * (float((g * s).sum()) / n) / overall)
    return sum(terms) / (nx + ny)


# ----------------------------------------------------------------------------------------
# content and style loss relative to per-frame processing (Ruder Table 5)
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RelativeLosses:
    """Content and style losses of a method relative to the per-frame baseline (Ruder et al. 2018 Table 5).

    :ivar content_stylized, content_baseline, style_stylized, style_baseline: per-frame losses ``(T,)``.
    """

    content_stylized: np.ndarray = field(repr=False)
    content_baseline: np.ndarray = field(repr=False)
    style_stylized: np.ndarray = field(repr=False)
    style_baseline: np.ndarray = field(repr=False)

    @property
    def content_per_frame(self) -> np.ndarray:
        """``(T,)`` ``content_loss(stylized_t) / content_loss(baseline_t)`` (inf/NaN where the baseline's is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.content_stylized / self.content_baseline

    @property
    def style_per_frame(self) -> np.ndarray:
        """``(T,)`` the same for the style loss; a ratio that grows with ``t`` is degeneration over time."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.style_stylized / self.style_baseline

    @property
    def content(self) -> float:
        """Mean over frames of :attr:`content_per_frame` (1.0 = 100 %, as good as per-frame processing;
        > 1 = blur or degeneration over time)."""
        return float(np.mean(self.content_per_frame))

    @property
    def style(self) -> float:
        """Mean over frames of :attr:`style_per_frame`."""
        return float(np.mean(self.style_per_frame))


def _frame_losses(frames: torch.Tensor, content: torch.Tensor, loss_net: LossNetwork,
                  grams: Mapping[str, torch.Tensor], content_layers: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    from vsstylize.optim.losses import content_loss, gram_matrix, style_loss

    device = next(loss_net.parameters()).device
    style_layers = list(grams)
    c_out, s_out = [], []
    with torch.no_grad():
        for t in range(frames.shape[0]):
            feats = loss_net(loss_net.preprocess(frames[t:t + 1].to(device)), [*content_layers, *style_layers])
            targets = loss_net(loss_net.preprocess(content[t:t + 1].to(device)), content_layers)
            c_out.append(float(content_loss({n: feats[n] for n in content_layers}, targets)))
            s_out.append(float(style_loss({n: gram_matrix(feats[n]) for n in style_layers}, grams)))
    return np.asarray(c_out), np.asarray(s_out)


def relative_losses(
    stylized: Array,
    baseline: Array,
    content: Array,
    loss_net: LossNetwork,
    style_target: StyleTarget | Mapping[str, torch.Tensor],
    content_layers: Sequence[str] | None = None,
) -> RelativeLosses:
    """Content and style loss of ``stylized`` as a fraction of those of the per-frame ``baseline``.

    Ruder et al. 2018 sec. 7.6 / Table 5: "If the image starts to blur or degenerate over time, this should
    increase the style and content loss ... we rather averaged the loss as percentage of the loss of the
    baseline, which is the independent per-frame processing approach." Losses are
    :func:`vsstylize.optim.losses.content_loss` (eq. 1) against the content frame and
    :func:`vsstylize.optim.losses.style_loss` (eq. 2) against the style target's Gram matrices, evaluated by
    ``loss_net`` per frame; the ratio is taken per frame and averaged over frames.

    :param stylized: ``(T, 3, H, W)`` RGB in [0, 1], the method under test.
    :param baseline: ``(T, 3, H, W)``, the per-frame stylization of the same frames.
    :param content: ``(T, 3, H, W)``, the content (input) frames.
    :param loss_net: the loss network (:func:`vsstylize.optim.vgg.load_loss_network`).
    :param style_target: a :class:`vsstylize.optim.losses.StyleTarget` (its Grams at ``(H, W)`` are used) or
        ``{layer: (1, C, C)}`` Gram targets.
    :param content_layers: content layers (default :data:`vsstylize.optim.losses.DEFAULT_CONTENT_LAYERS`).
    :returns: :class:`RelativeLosses`.
    :raises ValueError: mismatched shapes, naming the parameter.
    """
    from vsstylize.optim.losses import DEFAULT_CONTENT_LAYERS

    s = _video(stylized, "stylized", min_frames=1)
    b = _video(baseline, "baseline", min_frames=1)
    c = _video(content, "content", min_frames=1)
    for other, name in ((b, "baseline"), (c, "content")):
        if other.shape != s.shape:
            raise ValueError(f"{name} has shape {tuple(other.shape)}, stylized has {tuple(s.shape)}")
    if s.shape[1] != 3:
        raise ValueError(f"stylized must be RGB (T, 3, H, W), got {tuple(s.shape)}")
    layers = list(content_layers if content_layers is not None else DEFAULT_CONTENT_LAYERS)
    loss_net.check_layers(layers)
    h, w = s.shape[-2:]
    grams = style_target.at_size((h, w)) if hasattr(style_target, "at_size") else dict(style_target)
    cs, ss = _frame_losses(s, c, loss_net, grams, layers)
    cb, sb = _frame_losses(b, c, loss_net, grams, layers)
    return RelativeLosses(cs, cb, ss, sb)
