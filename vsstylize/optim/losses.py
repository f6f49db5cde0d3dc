"""Content, style, TV and temporal losses with the neural-style / artistic-videos normalisation.

The normalisation follows jcjohnson/neural-style (and Ruder's artistic-videos built on it), so the
artistic-videos default weights (content 5, style 100, temporal 1e3, TV 1e-3) mean what users expect:

* content loss (Ruder et al. 2018 eq. 1): mean squared error over the layer's ``C*H*W`` elements;
* Gram matrix: ``G = F F^T / (C*H*W)`` per image, ``F`` the ``(C, H*W)`` feature matrix;
* style loss (eq. 2): mean squared error over the ``C*C`` entries of the normalised Grams (neural-style
  divides the Gram by ``C*H*W`` before the MSE instead of using eq. 2's ``1/(N_l^2 M_l^2)`` on raw Grams);
* TV loss: neural-style's ``0.5 * sum((x[i,j] - x[i,j+1])^2 + (x[i,j] - x[i+1,j])^2)`` on 0..255 pixels;
* temporal loss (eq. 8): ``(1/D) sum_k c_k (x_k - w_k)^2``, ``D = C*H*W``, on 0..255 pixels (artistic-videos
  evaluates it on the Caffe-preprocessed image, whose differences are 0..255 pixel differences).

All images entering this module are ``(N, 3, H, W)`` RGB in [0, 1] unless said otherwise;
``x`` passed to :class:`VideoObjective` is in the loss network's input space (:meth:`LossNetwork.preprocess`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F

from ..option_errors import OptionError
from .vgg import LossNetwork

__all__ = [
    "ARTISTIC_VIDEOS_WEIGHTS",
    "DEFAULT_CONTENT_LAYERS",
    "DEFAULT_STYLE_LAYERS",
    "RESOLUTION_WEIGHTS",
    "LossWeights",
    "StyleTarget",
    "TemporalTerm",
    "VideoObjective",
    "content_loss",
    "default_loss_weights",
    "gram_matrix",
    "long_term_weights",
    "original_colors",
    "resize_image",
    "style_loss",
    "temporal_loss",
    "tv_loss",
]

Criterion = Literal["mse", "smoothl1"]

#: Ruder et al. (VGG-19 relu4_2 for content; relu1_1 … relu5_1 for style).
DEFAULT_CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)
DEFAULT_STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (Ruder eq. 9/11: alpha, beta, gamma; plus TV).

    Defaults are artistic-videos' command-line defaults (``-content_weight 5 -style_weight 1e2
    -temporal_weight 1e3 -tv_weight 1e-3``), the user-facing defaults of vsstylize.
    """

    content: float = 5.0
    style: float = 100.0
    temporal: float = 1e3
    tv: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("content", "style", "temporal", "tv"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise OptionError(f"{name}_weight", "{name} must be a finite number >= 0, got {value!r}", value=value)


ARTISTIC_VIDEOS_WEIGHTS = LossWeights()

#: The papers' per-resolution weights: (width, height) -> (content, style, temporal).
#: Ruder et al. 2016 appendix A.2 Table 2 (384x187, 512x218, 1024x436) and 2018 sec. 7.2.1 (450x350).
RESOLUTION_WEIGHTS: dict[tuple[int, int], tuple[float, float, float]] = {
    (384, 187): (1.0, 20.0, 200.0),
    (450, 350): (1.0, 20.0, 200.0),
    (512, 218): (1.0, 40.0, 200.0),
    (1024, 436): (1.0, 100.0, 400.0),
}


def default_loss_weights(width: int, height: int, tv: float = 1e-3) -> LossWeights:
    """The papers' loss weights for a video of ``width`` x ``height`` pixels.

    The table (:data:`RESOLUTION_WEIGHTS`) grows with the frame's longer side but not with its area
    (512x218 has fewer pixels than 450x350 yet a larger style weight), so the weights are interpolated
    piecewise-linearly in the longer side ``max(width, height)`` between the table's points
    (384 -> 20/200, 450 -> 20/200, 512 -> 40/200, 1024 -> 100/400) and held constant outside
    [384, 1024]. Content is 1 throughout. The TV weight is not in the table; neural-style's 1e-3 is used.

    These are the papers' *evaluation* settings; the user-facing defaults stay
    :data:`ARTISTIC_VIDEOS_WEIGHTS` (5 / 100 / 1e3), artistic-videos' command-line defaults.

    :raises ValueError: non-positive size.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"width and height must be positive, got {width}x{height}")
    pts = sorted((max(w, h), v) for (w, h), v in RESOLUTION_WEIGHTS.items())
    sides = [p[0] for p in pts]
    side = max(width, height)
    content = float(np.interp(side, sides, [p[1][0] for p in pts]))
    style = float(np.interp(side, sides, [p[1][1] for p in pts]))
    temporal = float(np.interp(side, sides, [p[1][2] for p in pts]))
    return LossWeights(content=content, style=style, temporal=temporal, tv=tv)


# ----------------------------------------------------------------------------------------
# elementary losses
# ----------------------------------------------------------------------------------------
def content_loss(features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Ruder eq. 1 with neural-style's normalisation: ``sum_l mean((F^l - P^l)^2)``.

    :param features: ``{layer: (N, C, H, W)}`` of the stylized image.
    :param targets: ``{layer: (N, C, H, W)}`` of the content image (same keys).
    :returns: scalar tensor.
    """
    terms = [F.mse_loss(features[name], targets[name]) for name in targets]
    return torch.stack(terms).sum() if len(terms) > 1 else terms[0]


#: K-chunk of the split-K Gram matrix on CUDA (:func:`gram_matrix`).
_GRAM_SPLIT_K = 4096


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Normalised Gram matrix ``G = F F^T / (C*H*W)`` (neural-style's ``GramMatrix`` / nElement).

    :param features: ``(N, C, H, W)``.
    :returns: ``(N, C, C)``.
    :raises ValueError: not a 4-D tensor.
    """
    if features.dim() != 4:
        raise ValueError(f"features must be (N, C, H, W), got {tuple(features.shape)}")
    n, c, h, w = features.shape
    k = h * w
    f = features.reshape(n, c, k)
    if features.is_cuda and k > _GRAM_SPLIT_K * 4:
        return split_k_gram(f, _GRAM_SPLIT_K).div_(c * k)
    return torch.bmm(f, f.transpose(1, 2)).div_(c * k)


def split_k_gram(f: torch.Tensor, chunk: int) -> torch.Tensor:
    """``f f^T`` for ``f`` of shape ``(N, C, K)`` as the sum of the products of K-chunks of length
    ``chunk`` (zero-padded), computed as one batched matmul.

    A ``C x C`` product over ``K = H*W >> C`` gives a GPU only a few output tiles to work on; the
    chunked form keeps every multiprocessor busy. Same value as ``f @ f^T`` up to rounding.

    :returns: ``(N, C, C)``, unnormalised.
    """
    n, c, k = f.shape
    pad = (-k) % chunk
    if pad:
        f = F.pad(f, (0, pad))
    chunks = f.reshape(n, c, -1, chunk).transpose(1, 2).reshape(-1, c, chunk)
    return torch.bmm(chunks, chunks.transpose(1, 2)).reshape(n, -1, c, c).sum(1)


def style_loss(grams: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Ruder eq. 2 with neural-style's normalisation: ``sum_l mean((G^l - A^l)^2)`` over the ``C*C``
    entries of the normalised Grams (:func:`gram_matrix`).

    :param grams: ``{layer: (N, C, C)}`` of the stylized image.
    :param targets: ``{layer: (1 or N, C, C)}`` style targets (same keys).
    """
    terms = [F.mse_loss(grams[name], targets[name].expand_as(grams[name])) for name in targets]
    return torch.stack(terms).sum() if len(terms) > 1 else terms[0]


def tv_loss(x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """neural-style's total-variation loss ``0.5 * sum((x[.., i, j] - x[.., i, j+1])^2 +
    (x[.., i, j] - x[.., i+1, j])^2)`` over ``i < H-1, j < W-1`` (its ``TVLoss`` gradient, integrated).

    :param x: ``(N, C, H, W)``; the value is in squared units of ``x`` (0..255 pixels for
        Caffe-preprocessed input).
    :param scale: optional per-channel factor ``(1, C, 1, 1)`` applied to the differences
        (input-space units -> 0..255 pixels).
    """
    base = x[..., :-1, :-1]
    dx = base - x[..., :-1, 1:]
    dy = base - x[..., 1:, :-1]
    if scale is not None:
        dx = dx * scale
        dy = dy * scale
    return 0.5 * (dx.square().sum() + dy.square().sum())


def temporal_loss(
    x: torch.Tensor,
    warped: torch.Tensor,
    c: torch.Tensor,
    criterion: Criterion = "mse",
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Ruder eq. 8: ``(1/D) sum_k c_k (x_k - w_k)^2`` with ``D = N*C*H*W``.

    ``criterion="smoothl1"`` is artistic-videos' ``nn.SmoothL1Criterion`` on ``sqrt(c) * (x - w)``
    (quadratic below 1, linear above, in the units of ``x``), also divided by ``D``.

    :param x: ``(N, C, H, W)`` stylized image.
    :param warped: ``(N, C, H, W)`` previous stylized frame warped into this frame, same space as ``x``.
    :param c: ``(N, 1, H, W)`` (or ``(N, C, H, W)``) reliability weights in [0, 1], broadcast over channels.
    :param criterion: ``"mse"`` or ``"smoothl1"``.
    :param scale: optional per-channel factor ``(1, C, 1, 1)`` applied to ``x - w`` (to 0..255 pixels).
    :raises ValueError: unknown criterion or mismatched shapes.
    """
    if x.shape != warped.shape:
        raise ValueError(f"warped {tuple(warped.shape)} must match x {tuple(x.shape)}")
    if c.dim() != 4 or c.shape[-2:] != x.shape[-2:] or c.shape[1] not in (1, x.shape[1]):
        raise ValueError(f"c must be (N, 1, H, W) matching x {tuple(x.shape)}, got {tuple(c.shape)}")
    diff = x - warped
    if scale is not None:
        diff = diff * scale
    if criterion == "mse":
        return (c * diff.square()).sum() / x.numel()
    if criterion == "smoothl1":
        return F.smooth_l1_loss(c.sqrt() * diff, torch.zeros_like(diff), reduction="sum", beta=1.0) / x.numel()
    raise ValueError(f"criterion must be 'mse' or 'smoothl1', got {criterion!r}")


def long_term_weights(cs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Long-term reliability weights, Ruder eq. 12:
    ``c_long^(i-j,i) = max(c^(i-j,i) - sum_{k in J, k < j} c^(i-k,i), 0)``.

    Each pixel is tied to the nearest past frame with a reliable correspondence.

    :param cs: short-term weights ``c^(i-j,i)``, each ``(N, 1, H, W)`` in [0, 1], ordered nearest
        frame first (``j`` ascending, e.g. J = {1, 2, 4}).
    :returns: ``c_long`` in the same order (the first equals ``cs[0]``).
    :raises ValueError: empty list or mismatched shapes.
    """
    if not cs:
        raise ValueError("long_term_weights needs at least one weight map")
    shape = cs[0].shape
    for c in cs:
        if c.shape != shape:
            raise ValueError(f"all weight maps must have the same shape, got {tuple(c.shape)} and {tuple(shape)}")
    out: list[torch.Tensor] = []
    nearer = torch.zeros_like(cs[0])
    for c in cs:
        out.append((c - nearer).clamp_min(0.0))
        nearer = nearer + c
    return out


# ----------------------------------------------------------------------------------------
# images
# ----------------------------------------------------------------------------------------
def _check_rgb(img: torch.Tensor, what: str, batch1: bool = True) -> None:
    if img.dim() != 4 or img.shape[1] != 3 or (batch1 and img.shape[0] != 1):
        want = "(1, 3, H, W)" if batch1 else "(N, 3, H, W)"
        raise ValueError(f"{what} must be {want} RGB in [0, 1], got {tuple(img.shape)}")


def resize_image(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (antialiased when shrinking) of ``(N, C, H, W)`` to ``size = (H', W')``."""
    if tuple(img.shape[-2:]) == tuple(size):
        return img
    shrink = size[0] < img.shape[-2] or size[1] < img.shape[-1]
    return F.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def original_colors(content: torch.Tensor, stylized: torch.Tensor) -> torch.Tensor:
    """Luminance-only transfer (neural-style ``-original_colors 1``): the stylized image's Y with the
    content's U, V (BT.601 YUV as in Torch's ``image.rgb2yuv``).

    :param content: ``(N, 3, H, W)`` RGB in [0, 1].
    :param stylized: ``(N, 3, H, W)`` RGB in [0, 1], same size.
    :returns: ``(N, 3, H, W)`` RGB clamped to [0, 1].
    """
    _check_rgb(content, "content", batch1=False)
    _check_rgb(stylized, "stylized", batch1=False)
    if content.shape[-2:] != stylized.shape[-2:]:
        raise ValueError(f"content {tuple(content.shape)} and stylized {tuple(stylized.shape)} differ in size")
    rgb2yuv = torch.tensor(
        [[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]],
        dtype=stylized.dtype,
        device=stylized.device,
    )
    yuv2rgb = torch.linalg.inv(rgb2yuv)
    y = torch.einsum("ij,njhw->nihw", rgb2yuv[:1], stylized)
    uv = torch.einsum("ij,njhw->nihw", rgb2yuv[1:], content.to(stylized))
    return torch.einsum("ij,njhw->nihw", yuv2rgb, torch.cat((y, uv), 1)).clamp_(0.0, 1.0)


# ----------------------------------------------------------------------------------------
# style targets
# ----------------------------------------------------------------------------------------
class StyleTarget:
    """Blended Gram targets of one or more style images for a loss network and a content size.

    ``A^l = sum_s b_s G^l(a_s)`` with blend weights ``b`` normalised to sum 1 (neural-style
    ``-style_blend_weights``). Each style image is resized so its longer side is
    ``ceil(style_scale * max(H, W))`` of the content (neural-style ``-style_scale``).

    :param loss_net: the loss network.
    :param styles: style images, each ``(1, 3, H_s, W_s)`` RGB in [0, 1].
    :param content_size: ``(H, W)`` of the content frames.
    :param blend_weights: one non-negative weight per style image (default equal).
    :param style_scale: style size relative to the content size (> 0).
    :param layers: style layers.
    :raises ValueError: bad images or layer names (an :class:`~vsstylize.errors.OptionError` for the blend
        weights and the scale).
    """

    def __init__(
        self,
        loss_net: LossNetwork,
        styles: Sequence[torch.Tensor],
        content_size: tuple[int, int],
        blend_weights: Sequence[float] | None = None,
        style_scale: float = 1.0,
        layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
    ) -> None:
        if isinstance(styles, torch.Tensor):
            styles = [styles]
        if not styles:
            raise ValueError("at least one style image is needed")
        for i, s in enumerate(styles):
            _check_rgb(s, f"style image {i}")
        if blend_weights is None:
            blend_weights = [1.0] * len(styles)
        blend = [float(b) for b in blend_weights]
        if len(blend) != len(styles):
            raise OptionError("style_blend", "{name} has {count} entries for {images} style images",
                              count=len(blend), images=len(styles))
        if any(not math.isfinite(b) or b < 0 for b in blend) or sum(blend) <= 0:
            raise OptionError("style_blend", "{name} must be >= 0 with a positive sum, got {value}", value=blend)
        if not (math.isfinite(style_scale) and style_scale > 0):
            raise OptionError("style_scale", "{name} must be > 0, got {value}", value=style_scale)
        if len(content_size) != 2 or min(content_size) <= 0:
            raise ValueError(f"content_size must be (H, W) > 0, got {content_size}")
        self.loss_net = loss_net
        self.layers: tuple[str, ...] = tuple(loss_net.check_layers(layers))
        if not self.layers:
            raise ValueError("at least one style layer is needed")
        self.styles = list(styles)
        self.blend_weights = [b / sum(blend) for b in blend]
        self.style_scale = float(style_scale)
        self.content_size = (int(content_size[0]), int(content_size[1]))
        self.grams: dict[str, torch.Tensor] = self._compute(self.content_size)
        self._by_size: dict[tuple[int, int], dict[str, torch.Tensor]] = {self.content_size: self.grams}

    def style_size(self, style: torch.Tensor, content_size: tuple[int, int]) -> tuple[int, int]:
        """``(H, W)`` a style image is resized to for content frames of ``content_size``."""
        longest = max(1, math.ceil(self.style_scale * max(content_size)))
        h, w = style.shape[-2:]
        f = longest / max(h, w)
        return max(1, round(h * f)), max(1, round(w * f))

    @torch.no_grad()
    def _compute(self, content_size: tuple[int, int]) -> dict[str, torch.Tensor]:
        device = next(self.loss_net.parameters()).device
        out: dict[str, torch.Tensor] = {}
        for style, b in zip(self.styles, self.blend_weights):
            img = resize_image(style.to(device=device, dtype=torch.float32), self.style_size(style, content_size))
            feats = self.loss_net(self.loss_net.preprocess(img), self.layers)
            for name in self.layers:
                g = gram_matrix(feats[name]) * b
                out[name] = out[name] + g if name in out else g
        return out

    def at_size(self, content_size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """Gram targets ``{layer: (1, C, C)}`` for content frames of ``(H, W)`` (cached per size;
        used by coarse-to-fine optimisation)."""
        key = (int(content_size[0]), int(content_size[1]))
        if key not in self._by_size:
            self._by_size[key] = self._compute(key)
        return self._by_size[key]


# ----------------------------------------------------------------------------------------
# the per-frame objective
# ----------------------------------------------------------------------------------------
TemporalTerm = tuple[torch.Tensor, torch.Tensor]
"""``(warped_prev (1, 3, H, W) RGB in [0, 1], c (1, 1, H, W) in [0, 1])``."""


class VideoObjective:
    """Ruder eq. 9 (short-term) / eq. 11 (long-term) plus TV, for one frame.

    ``L = alpha L_content(f, x) + beta L_style(a, x) + gamma sum_j L_temporal(x, w_j, c_j) + tv L_tv(x)``

    Content features and temporal targets are computed once at construction; a call runs one
    forward pass of the loss network.

    :param loss_net: the loss network.
    :param content: ``(1, 3, H, W)`` RGB in [0, 1], the content frame ``f``.
    :param style_target: :class:`StyleTarget` (its Grams for ``(H, W)`` are used).
    :param weights: :class:`LossWeights`.
    :param content_layers: content layers (default ``relu4_2``).
    :param style_layers: style layers, a subset of ``style_target.layers`` (default: all of them).
    :param temporal: temporal terms ``(warped_prev, c)``; for long-term consistency pass
        ``c_long`` from :func:`long_term_weights`.
    :param criterion: temporal loss criterion, ``"mse"`` or ``"smoothl1"``.
    :param autocast: ``None`` (float32 throughout) or ``torch.bfloat16`` / ``torch.float16``: the loss
        network's forward and backward run in that precision under :func:`torch.autocast`; its feature
        maps are cast back to float32 before the content loss and the Gram matrices, so those and every
        loss sum accumulate in float32.
    :raises ValueError: bad shapes, layers or criterion.
    """

    def __init__(
        self,
        loss_net: LossNetwork,
        content: torch.Tensor,
        style_target: StyleTarget,
        weights: LossWeights = ARTISTIC_VIDEOS_WEIGHTS,
        content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS,
        style_layers: Sequence[str] | None = None,
        temporal: Sequence[TemporalTerm] = (),
        criterion: Criterion = "mse",
        autocast: torch.dtype | None = None,
    ) -> None:
        _check_rgb(content, "content")
        if autocast not in (None, torch.bfloat16, torch.float16):
            raise ValueError(f"autocast must be None, torch.bfloat16 or torch.float16, got {autocast!r}")
        self.autocast = autocast
        if criterion not in get_args(Criterion):
            raise ValueError(f"criterion must be 'mse' or 'smoothl1', got {criterion!r}")
        self.loss_net = loss_net
        self.weights = weights
        self.criterion: Criterion = criterion
        self.content_layers = tuple(loss_net.check_layers(content_layers))
        if style_layers is None:
            style_layers = style_target.layers
        missing = [n for n in style_layers if n not in style_target.layers]
        if missing:
            raise ValueError(f"style layers {missing} are not in the style target's layers {style_target.layers}")
        self.style_layers = tuple(style_layers)
        h, w = content.shape[-2:]
        self.size = (int(h), int(w))
        device = next(loss_net.parameters()).device
        grams = style_target.at_size(self.size)
        self.style_targets = {n: grams[n] for n in self.style_layers} if weights.style > 0 else {}
        scale = loss_net.input_to_pixel255
        self._scale: torch.Tensor | None = None if bool((scale == 1).all()) else scale
        self._layers = tuple(dict.fromkeys((*self.content_layers, *self.style_targets)))
        with torch.no_grad():
            if weights.content > 0:
                content_input = loss_net.preprocess(content.to(device=device, dtype=torch.float32))
                feats = self.features(content_input, self.content_layers)
                self.content_targets = {n: feats[n] for n in self.content_layers}
            else:
                self.content_targets = {}
            self.temporal_targets = [self._temporal_target(wp, c, device) for wp, c in temporal]
        if weights.temporal == 0:
            self.temporal_targets = []

    def _temporal_target(
        self, warped: torch.Tensor, c: torch.Tensor, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _check_rgb(warped, "warped previous frame")
        if tuple(warped.shape[-2:]) != self.size:
            raise ValueError(f"warped previous frame {tuple(warped.shape)} must be {self.size} like the content")
        if c.dim() != 4 or c.shape[:2] != (1, 1) or tuple(c.shape[-2:]) != self.size:
            raise ValueError(f"reliability c must be (1, 1, {self.size[0]}, {self.size[1]}), got {tuple(c.shape)}")
        c = c.to(device=device, dtype=torch.float32)
        if bool((c < 0).any()) or bool((c > 1).any()):
            raise ValueError("reliability c must lie in [0, 1]")
        target = self.loss_net.preprocess(warped.to(device=device, dtype=torch.float32))
        return target, c

    def features(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Float32 feature maps of ``layers`` for the network input ``x``, computed in the objective's
        precision (``autocast``)."""
        if self.autocast is None:
            return self.loss_net(x, layers)
        with torch.autocast(device_type=x.device.type, dtype=self.autocast):
            feats = self.loss_net(x, layers)
        return {n: f.float() for n, f in feats.items()}

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and its weighted components.

        :param x: ``(1, 3, H, W)`` stylized image in the loss network's input space.
        :returns: ``(total, {"content", "style", "temporal", "tv"})``, scalar tensors; each component
            is already multiplied by its weight (they sum to ``total``); disabled terms are absent.
        """
        w = self.weights
        parts: dict[str, torch.Tensor] = {}
        if self._layers:
            feats = self.features(x, self._layers)
            if self.content_targets:
                parts["content"] = w.content * content_loss(feats, self.content_targets)
            if self.style_targets:
                grams = {n: gram_matrix(feats[n]) for n in self.style_targets}
                parts["style"] = w.style * style_loss(grams, self.style_targets)
        if self.temporal_targets:
            terms = [temporal_loss(x, t, c, self.criterion, self._scale) for t, c in self.temporal_targets]
            parts["temporal"] = w.temporal * (torch.stack(terms).sum() if len(terms) > 1 else terms[0])
        if w.tv > 0:
            parts["tv"] = w.tv * tv_loss(x, self._scale)
        if not parts:
            raise ValueError("all loss weights are zero; nothing to optimise")
        values = list(parts.values())
        total = values[0]
        for v in values[1:]:
            total = total + v
        return total, parts
