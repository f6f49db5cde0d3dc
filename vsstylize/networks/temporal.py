"""The temporally consistent variants of the arbitrary-style network (issue 28).

* **Prior-image variant** (``network="arbitrary-prior"``, Ruder et al. 2018 sec. 5.2): the network takes the frame,
  the previous output warped into it and masked by its reliability, and the mask — eq. 15's input
  ``cat(f, c * prior, c)`` — and keeps Ghiasi et al.'s style-vector conditioning, so it stays arbitrary. It is the
  pretrained per-frame transformer ``T`` (frozen) followed by a *prior head* ``H`` (:class:`PriorHead`) that corrects
  ``T``'s output where the prior is reliable::

      y0   = T(f; S)                       # the per-frame network's output for style vector S
      g, r = H(f, y0, c * prior, c)        # a blend weight (1 channel) and a correction (3 channels)
      y    = clamp(y0 + c * (g * (prior - y0) + r), 0, 1)

  ``g`` is the share of the prior in the output, ``r`` what the head adds besides (e.g. detail lost by warping).
  ``H``'s last convolution starts at zero, so before fine-tuning ``y = y0`` exactly; its bias reaches the blend
  weight directly, so the head learns to follow the prior from the first steps. Because the change is multiplied
  by the mask, an empty prior (a shot's first frame, ``c = 0``) gives the per-frame network's output by
  construction — at every step of training, not only at step 0 — and disoccluded pixels (``c = 0``) are the
  per-frame output too (no ghosting of the previous frame into them). Fine-tuning only trains ``H``: the look is
  the pretrained network's and the head learns to follow the prior (:mod:`vsstylize.train.arbitrary`).
* **Flow-free variant** (``network="arbitrary-flowfree"``, Huang et al. 2017): the same transformer fine-tuned with
  the two-frame temporal loss (eq. 1) and a distillation loss to the frozen per-frame network; no flow at
  inference. It is a :class:`~vsstylize.networks.arbitrary.CINTransformer` of the same architecture.

Images are ``(N, 3, H, W)`` RGB in [0, 1]; masks ``(N, 1, H, W)`` in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .arbitrary import CINTransformer, StyleParameters
from .engine import run_transformer
from .models import pad_input

__all__ = ["PRIOR_CHANNELS", "ArbitraryPrior", "PriorHead", "PriorHeadSpec"]

#: Input channels of the prior-image variant: frame (3), masked prior (3), mask (1) — Ruder eq. 15.
PRIOR_CHANNELS = 7


@dataclass(frozen=True)
class PriorHeadSpec:
    """Architecture of a :class:`PriorHead`.

    :ivar width: channels of the hidden convolutions.
    :ivar dilations: one 3x3 convolution per entry with that dilation (the receptive field grows to
        ``1 + 2 * sum(dilations)`` pixels), each followed by a ReLU; then a 1x1 convolution to 3 channels.
    """

    width: int = 16
    dilations: tuple[int, ...] = (1, 2, 4)

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> PriorHeadSpec:
        """:raises ValueError: missing or malformed fields."""
        try:
            return cls(int(d["width"]), tuple(int(v) for v in d["dilations"]))  # type: ignore[call-overload, attr-defined]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed prior head description {dict(d)!r}: {exc}") from exc


class PriorHead(nn.Module):
    """The head ``H(f, y0, c * prior, c)`` of the prior-image variant and the output it gives (module docstring).

    Input: the frame, the per-frame output ``y0``, the masked prior and the mask (10 channels); the last
    convolution gives the blend weight ``g`` and the correction ``r`` (4 channels, unbounded). Reflection padding;
    the last convolution is zero-initialised.

    :param spec: the architecture.
    """

    def __init__(self, spec: PriorHeadSpec = PriorHeadSpec()) -> None:
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = []
        cin = 10
        for d in spec.dilations:
            layers += [nn.Conv2d(cin, spec.width, 3, padding=d, dilation=d, padding_mode="reflect"), nn.ReLU()]
            cin = spec.width
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(cin, 4, 1)
        nn.init.zeros_(self.out.weight)
        assert self.out.bias is not None
        nn.init.zeros_(self.out.bias)

    def forward(self, frame: torch.Tensor, y0: torch.Tensor, masked_prior: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """:returns: ``clamp(y0 + g * (masked_prior - mask * y0) + mask * r, 0, 1)`` — for a mask ``c``,
        ``y0 + c * (g * (prior - y0) + r)`` — ``(N, 3, H, W)``."""
        out = self.out(self.body(torch.cat((frame, y0, masked_prior, mask), 1)))
        g, r = out[:, :1], out[:, 1:]
        return (y0 + g * (masked_prior - mask * y0) + mask * r).clamp(0.0, 1.0)


class ArbitraryPrior(nn.Module):
    """The prior-image variant: the per-frame transformer and the prior head (module docstring).

    :param transformer: the pretrained per-frame :class:`~vsstylize.networks.arbitrary.CINTransformer` (3 input
        channels; frozen in fine-tuning).
    :param head: the :class:`PriorHead`.
    """

    def __init__(self, transformer: CINTransformer, head: PriorHead) -> None:
        super().__init__()
        if transformer.spec.in_channels != 3:
            raise ValueError(f"the prior variant needs a 3-channel per-frame transformer, got "
                             f"{transformer.spec.in_channels}")
        self.transformer = transformer
        self.head = head

    def forward(self, x: torch.Tensor, params: StyleParameters) -> torch.Tensor:
        """:param x: ``(N, 7, H, W)``: the frame RGB in [0, 1], the masked prior, the mask
        (:func:`~vsstylize.networks.models.network_input`); any ``H, W >= 4`` (``H`` and ``W`` above twice the largest
        dilation for the head's reflection padding).
        :param params: :meth:`CINTransformer.style_parameters` of the style (batch 1 or N).
        :returns: ``(N, 3, H, W)`` RGB in [0, 1]; with a zero mask exactly the transformer's output.
        :raises ValueError: wrong channel count or a side below 4 pixels.
        """
        pad_input(x, "arbitrary-prior", PRIOR_CHANNELS)
        frame, masked_prior, mask = x[:, :3], x[:, 3:6], x[:, 6:7]
        y0 = run_transformer(self.transformer, frame.contiguous(), params)
        if not bool(mask.any()):
            return y0
        return self.head(frame, y0, masked_prior, mask)

    def per_frame(self, frame: torch.Tensor, params: StyleParameters) -> torch.Tensor:
        """The per-frame network's output ``T(frame)`` (the variant with an empty prior).

        :param frame: ``(N, 3, H, W)`` RGB in [0, 1]. :returns: ``(N, 3, H, W)``."""
        return run_transformer(self.transformer, frame, params)

