"""Feed-forward stylization networks (Johnson et al. 2016 as modified by Ruder et al. 2018 sec. 7.2.2;
Huang et al. 2017 Table 1).

Every network maps ``(N, C_in, H, W)`` to ``(N, 3, H, W)`` RGB in [0, 1] for any ``H, W`` (inputs are
reflection-padded to a multiple of 4 and the output cropped back):

* encoder: a ``k_first x k_first`` convolution, two stride-2 3x3 convolutions (downsampling by 4), each
  followed by instance normalisation (Ulyanov et al. 2016) and ReLU;
* ``num_residual`` residual blocks (two 3x3 convolutions with instance normalisation);
* decoder: two upsampling blocks — nearest-neighbour x2 upsampling and a 3x3 convolution (Ruder 7.2.2:
  removes the checkerboard pattern of strided transposed convolution) or a stride-1/2 transposed
  convolution (Huang Table 1, ``upsample="deconv"``) — and a ``k_last x k_last`` convolution with
  ``tanh``, mapped to [0, 1].

The input of the *prior-image* network (Ruder eq. 15) is 7 channels: the frame ``f^(t)``, the prior image
``omega(x^(t-1))`` multiplied by the mask ``c``, and ``c`` itself; with an all-zero prior and mask it is the
image network of the first frame (mixed training, sec. 5.2.1). The image and flow-free (Huang) networks take
the frame alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ARCHITECTURES",
    "Kind",
    "NetworkSpec",
    "StylizationNetwork",
    "can_fine_tune",
    "current_statistics_region",
    "load_fine_tune",
    "network_input",
    "pad_input",
    "region_moments",
    "statistics_region",
]

Kind = Literal["image", "prior", "flowfree"]
Upsample = Literal["nearest", "deconv"]


@dataclass(frozen=True)
class NetworkSpec:
    """Architecture of a stylization network.

    :ivar arch: registered name (see :data:`ARCHITECTURES`).
    :ivar kind: ``"image"`` (frame only), ``"prior"`` (frame + masked prior image + mask, Ruder sec. 5.2)
        or ``"flowfree"`` (frame only, trained with a temporal loss, Huang et al.).
    :ivar channels: widths of the three encoder stages (the residual blocks use the last).
    :ivar num_residual: number of residual blocks.
    :ivar kernel_first: / :ivar kernel_last: kernel sizes of the first and last convolution.
    :ivar upsample: ``"nearest"`` (upsampling + convolution) or ``"deconv"`` (transposed convolution).
    """

    arch: str
    kind: Kind
    channels: tuple[int, int, int]
    num_residual: int = 5
    kernel_first: int = 9
    kernel_last: int = 9
    upsample: Upsample = "nearest"

    @property
    def in_channels(self) -> int:
        return 7 if self.kind == "prior" else 3

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_json(cls, d: dict[str, object]) -> NetworkSpec:
        """:raises ValueError: missing or malformed fields."""
        try:
            raw: dict[str, Any] = dict(d)
            c1, c2, c3 = (int(c) for c in raw["channels"])
            spec = cls(arch=str(raw["arch"]), kind=raw["kind"], channels=(c1, c2, c3),
                       num_residual=int(raw["num_residual"]), kernel_first=int(raw["kernel_first"]),
                       kernel_last=int(raw["kernel_last"]), upsample=raw["upsample"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed network description {d!r}: {exc}") from exc
        if spec.kind not in ("image", "prior", "flowfree") or spec.upsample not in ("nearest", "deconv") \
                or len(spec.channels) != 3 or min(spec.channels) < 1 or spec.num_residual < 0 \
                or d.get("prior_gate", False):
            raise ValueError(f"malformed network description {d!r}")
        return spec


#: The architectures of the papers. ``ruder-prior``/``johnson`` follow Johnson et al.'s widths
#: (32, 64, 128) with Ruder's upsampling; ``ruder-prior-48`` and ``johnson-48`` are the same with Huang's widths,
#: fast enough for CPUs; ``huang-res48`` is Huang's "353-Res48"
#: (Table 1) and ``huang-res128`` its Johnson-width variant.
ARCHITECTURES: dict[str, NetworkSpec] = {
    "johnson": NetworkSpec("johnson", "image", (32, 64, 128)),
    "johnson-48": NetworkSpec("johnson-48", "image", (16, 32, 48)),
    "ruder-prior": NetworkSpec("ruder-prior", "prior", (32, 64, 128)),
    "ruder-prior-48": NetworkSpec("ruder-prior-48", "prior", (16, 32, 48)),
    "huang-res48": NetworkSpec("huang-res48", "flowfree", (16, 32, 48), kernel_first=3, kernel_last=3,
                               upsample="deconv"),
    "huang-res128": NetworkSpec("huang-res128", "flowfree", (32, 64, 128), kernel_first=3, kernel_last=3,
                                upsample="deconv"),
}


_REGION = threading.local()


@contextmanager
def statistics_region(top: float, bottom: float, left: float, right: float) -> Iterator[None]:
    """Within this block (in this thread), the networks' instance normalisation computes each feature map's
    mean and variance over the region ``[top, bottom) x [left, right)`` of the map only, given as fractions of
    its height and width, and normalises the whole map with them. A network run on a frame extended by a
    margin (:func:`vsstylize.networks.inference.run_with_margin`) thus normalises with the frame's statistics,
    as without the margin, instead of statistics that include the margin's made-up content.

    :raises ValueError: a region that is empty or outside [0, 1].
    """
    if not (0.0 <= top < bottom <= 1.0 and 0.0 <= left < right <= 1.0):
        raise ValueError(f"statistics region: need 0 <= top < bottom <= 1 and 0 <= left < right <= 1, got "
                         f"{(top, bottom, left, right)}")
    previous = getattr(_REGION, "box", None)
    _REGION.box = (top, bottom, left, right)
    try:
        yield
    finally:
        _REGION.box = previous


def current_statistics_region() -> tuple[float, float, float, float] | None:
    """The ``(top, bottom, left, right)`` of the enclosing :func:`statistics_region` block (this thread), or ``None``."""
    return getattr(_REGION, "box", None)


def region_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The ``(variance, mean)`` (biased, each ``(N, C)``) of the feature maps ``x`` ``(N, C, H, W)`` over the region of
    the enclosing :func:`statistics_region` block, or ``None`` outside such a block (the instance normalisations
    then use the whole map)."""
    box = current_statistics_region()
    if box is None:
        return None
    h, w = int(x.shape[-2]), int(x.shape[-1])  # plain numbers also when traced (an export for one frame size)
    top, bottom, left, right = box
    r0, r1 = min(round(top * h), h - 1), max(round(bottom * h), min(round(top * h), h - 1) + 1)
    c0, c1 = min(round(left * w), w - 1), max(round(right * w), min(round(left * w), w - 1) + 1)
    var, mean = torch.var_mean(x[..., r0:r1, c0:c1], dim=(2, 3), unbiased=False)
    return var, mean


class _InstanceNorm(nn.InstanceNorm2d):
    """Instance normalisation (affine) whose statistics can be restricted to a region (:func:`statistics_region`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        moments = region_moments(x)
        if moments is None:
            return super().forward(x)
        h, w = x.shape[-2:]
        n, c = x.shape[:2]
        var, mean = moments
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            scale = self.weight.view(1, -1, 1, 1) * torch.rsqrt(var[..., None, None] + self.eps)
            return (x - mean[..., None, None]) * scale + self.bias.view(1, -1, 1, 1)
        # at inference, the region's statistics as the fixed statistics of a batch norm over the N*C maps: one
        # fused pass over x instead of four elementwise ones
        y = F.batch_norm(x.reshape(1, n * c, h, w), mean.reshape(-1), var.reshape(-1), self.weight.repeat(n),
                         self.bias.repeat(n), training=False, eps=self.eps)
        return y.reshape(n, c, h, w)


class _ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, relu: bool = True, norm: bool = True) -> None:
        layers: list[nn.Module] = [nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride)]
        if norm:
            layers.append(_InstanceNorm(cout, affine=True))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class _Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_ConvBlock(c, c, 3), _ConvBlock(c, c, 3, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int, mode: Upsample) -> None:
        super().__init__()
        self.mode = mode
        if mode == "nearest":
            self.conv: nn.Module = _ConvBlock(cin, cout, 3)
        else:
            self.conv = nn.Sequential(nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
                                      _InstanceNorm(cout, affine=True), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x)


def pad_input(x: torch.Tensor, name: str, in_channels: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """A network input checked and reflection-padded at the bottom/right to a multiple of 4 (two stride-2 stages).

    :param x: ``(N, in_channels, H, W)``. :param name: the network's name, for the error.
    :returns: the padded input and ``(H, W)`` to crop the output back to.
    :raises ValueError: wrong channel count or a side below 4 pixels.
    """
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(f"{name} expects (N, {in_channels}, H, W), got {tuple(x.shape)}")
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if min(h, w) < 4:
        raise ValueError(f"frames must be at least 4x4 pixels, got {w}x{h}")
    ph, pw = (-h) % 4, (-w) % 4
    return (F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x), (h, w)


class StylizationNetwork(nn.Module):
    """A feed-forward stylization network of :class:`NetworkSpec` ``spec``.

    :param spec: the architecture.
    """

    def __init__(self, spec: NetworkSpec) -> None:
        super().__init__()
        self.spec = spec
        c1, c2, c3 = spec.channels
        self.encoder = nn.Sequential(_ConvBlock(spec.in_channels, c1, spec.kernel_first),
                                     _ConvBlock(c1, c2, 3, stride=2), _ConvBlock(c2, c3, 3, stride=2))
        self.residual = nn.Sequential(*[_Residual(c3) for _ in range(spec.num_residual)])
        self.decoder = nn.Sequential(_Up(c3, c2, spec.upsample), _Up(c2, c1, spec.upsample),
                                     _ConvBlock(c1, 3, spec.kernel_last, relu=False, norm=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """:param x: ``(N, C_in, H, W)`` (see :func:`network_input`), values in [0, 1].
        :returns: ``(N, 3, H, W)`` RGB in [0, 1].
        :raises ValueError: wrong channel count or a side below 4 pixels.
        """
        x, (h, w) = pad_input(x, self.spec.arch, self.spec.in_channels)
        y = 2.0 * x - 1.0
        out = 0.5 * (torch.tanh(self.decoder(self.residual(self.encoder(y)))) + 1.0)
        return out[..., :h, :w]


def can_fine_tune(source: NetworkSpec, target: NetworkSpec) -> bool:
    """Whether a trained ``source`` network can start the training of a ``target`` one (``init_from``): the same
    layout (widths, blocks, kernels, upsampling) and either the same kind or an image network for a prior-image
    network — Ruder eq. 17's pre-trained image network ``Phi^img``, whose weights start both modes of the prior
    network (see :func:`load_fine_tune`)."""
    kinds_ok = source.kind == target.kind or (source.kind, target.kind) == ("image", "prior")
    return kinds_ok and replace(source, arch=target.arch, kind=target.kind) == target


def load_fine_tune(target: StylizationNetwork, source: StylizationNetwork) -> None:
    """Copy the weights of ``source`` into ``target`` (:func:`can_fine_tune`): an image source's first convolution
    gets zero weights for the prior and mask channels, so the prior network starts as the image network whatever
    its prior.

    :raises ValueError: ``can_fine_tune(source.spec, target.spec)`` is false.
    """
    if not can_fine_tune(source.spec, target.spec):
        raise ValueError(f"a {source.spec.arch!r} network cannot initialise a {target.spec.arch!r} one")
    state = source.state_dict()
    own = target.state_dict()
    for k, v in state.items():
        if v.shape != own[k].shape:  # the first convolution: (C, 3, k, k) -> (C, 7, k, k)
            w = torch.zeros_like(own[k])
            w[:, : v.shape[1]] = v
            state[k] = w
    target.load_state_dict(state)


def network_input(frame: torch.Tensor, prior: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Input of the prior-image network (Ruder eq. 15): ``cat(f, c * prior, c)``.

    :param frame: ``(N, 3, H, W)`` RGB in [0, 1].
    :param prior: ``(N, 3, H, W)`` prior image (the previous output warped into this frame), or ``None``
        for an empty prior (first frame; mixed training's zero prior).
    :param mask: ``(N, 1, H, W)`` reliability in [0, 1] of the prior (``None`` with ``prior=None``).
    :returns: ``(N, 7, H, W)``.
    :raises ValueError: shapes that do not match, or a prior without a mask.
    """
    n, _, h, w = frame.shape
    if prior is None:
        zeros = frame.new_zeros((n, 4, h, w))
        return torch.cat((frame, zeros), 1)
    if mask is None:
        raise ValueError("a prior image needs its mask")
    if prior.shape != frame.shape or mask.shape != (n, 1, h, w):
        raise ValueError(f"prior {tuple(prior.shape)} and mask {tuple(mask.shape)} must match frame {tuple(frame.shape)}")
    return torch.cat((frame, prior * mask, mask), 1)
