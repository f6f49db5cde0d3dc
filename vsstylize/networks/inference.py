"""Running a stylization network on a frame without edge artifacts (issue "The editor's workflow", point 4).

A shipped network run on a frame as is darkens or lightens the frame's outer rows and columns (at
640x360 the outer 4 rows are 7-22 % darker than the next 4 beyond what the same network gives at those
pixels when they are not at the border; measured by ``vsstylize_bench/suites/network_output.py``, numbers in
``bench/network-output/README.md``). Two causes, both at the network's own border:

* the transposed convolutions of Huang's architecture (stride 2, padding 1, output padding 1) give the last
  output row and column of each upsampling one kernel tap instead of two: a zero input below/right of the
  frame, twice (a dark band along the bottom and the right edge of the ``*-flowfree`` networks);
* the networks were trained with a loss network (VGG) that zero-pads its convolutions, so they learnt to
  treat the frame border differently; they find it through their reflection padding (mirrored content at the
  edge of every layer) and the stride-2 grid, which is aligned with the top/left edge only.

The remedy at inference (no retraining): run the network on the frame extended by a margin on every side
and crop the result, so the network's border falls outside the frame (:func:`run_with_margin`). The margin
is filled anti-reflectively by default (point reflection at the edge pixel, ``2 x_edge - mirror``: the
content's gradient continues across the edge), or by reflecting the frame (mirror at the edge pixel,
``torch.nn.functional.pad`` ``"reflect"``) or repeating its edge pixels (``"replicate"``); the margin's
bottom/right parts are enlarged so the padded size is a multiple of 4 (the network's own padding to a multiple
of 4 then adds nothing). The anti-reflective fill was measured against the mirror on every shipped network at
640x360 and 1280x720: 19/30 against 15/30 rows within 3 %, worst 4.8 % against 6.5 %, no row beyond 3 % by more
than twice its sampling error against three (``bench/network-output/README.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

from .models import StylizationNetwork, network_input, statistics_region
from .scale import stylize_at_scale

__all__ = ["BORDER_MARGIN", "BORDER_PAD", "PadMode", "apply_network", "border_margin", "inference_tag", "run_with_margin",
           "takes_prior"]

PadMode = Literal["reflect", "replicate", "antireflect"]
#: Default margin in pixels on each side (see ``bench/network-output/README.md`` for the choice: 16 px left
#: the ``*-flowfree`` networks' bottom band, 64 px was no better than 32).
BORDER_MARGIN = 32
#: Default fill of the margin (anti-reflective: see the module docstring for the measurement).
BORDER_PAD: PadMode = "antireflect"


def inference_tag(margin: int = BORDER_MARGIN) -> str:
    """How :func:`~vsstylize.networks.models.apply_network` runs a network with this margin (pixels, the
    ``border_margin`` option; 0: the network on the frame as it is) and this module's fill; part of the network
    methods' cache keys, so frames cached by another inference are not reused."""
    return f"margin-{margin}-{BORDER_PAD}"


def border_margin(height: int, width: int, margin: int = BORDER_MARGIN, mode: PadMode = BORDER_PAD) -> int:
    """The largest margin ``<= margin`` that :func:`run_with_margin` accepts for a ``width x height`` frame
    (a reflecting fill cannot be wider than the frame minus one pixel; small frames, e.g. cube faces of a
    low-resolution panorama, get a narrower margin)."""
    if mode == "replicate":
        return max(0, margin)
    m = max(0, margin)
    while m > 0 and max(m + (-(height + 2 * m)) % 4, m + (-(width + 2 * m)) % 4) >= min(height, width):
        m -= 1
    return m


def run_with_margin(network: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, margin: int = BORDER_MARGIN,
                    mode: PadMode = BORDER_PAD, frame_statistics: bool = True) -> torch.Tensor:
    """``network(x)`` computed on ``x`` extended by ``margin`` pixels on every side, cropped back.

    :param network: maps ``(N, C, H', W')`` to ``(N, 3, H', W')`` for any ``H', W'`` (a
        :class:`~vsstylize.networks.models.StylizationNetwork` or a wrapper).
    :param x: ``(N, C, H, W)`` network input (RGB in [0, 1], for a prior-image network followed by the
        masked prior and the mask, :func:`~vsstylize.networks.models.network_input`); every channel is
        padded the same way.
    :param margin: pixels added on each side before rounding the bottom/right up to a multiple of 4
        (``>= 0``; 0 only rounds up). ``"reflect"`` needs ``margin < min(H, W)``.
    :param mode: ``"reflect"`` (mirror at the edge pixel), ``"replicate"`` (edge pixels repeated) or
        ``"antireflect"`` (point reflection at the edge pixel, ``2 x_edge - mirror``, clamped to [0, 1]: the
        anti-reflective boundary condition of image restoration, which continues the content's gradient
        across the edge instead of folding it back into a ridge or valley).
    :param frame_statistics: compute the instance normalisation statistics of the
        :class:`~vsstylize.networks.models.StylizationNetwork` layers over the frame's region only
        (:func:`~vsstylize.networks.models.statistics_region`), so that away from the border the output is
        the network's output without the margin (mean change 0.4-0.9/255 instead of 1.6-6/255 at 640x360).
    :returns: ``(N, 3, H, W)``.
    :raises ValueError: a negative or too large margin, an unknown mode, or ``x`` not 4-D.
    """
    if x.dim() != 4:
        raise ValueError(f"x: expected (N, C, H, W), got {tuple(x.shape)}")
    if mode not in ("reflect", "replicate", "antireflect"):
        raise ValueError(f"mode: expected 'reflect', 'replicate' or 'antireflect', got {mode!r}")
    h, w = x.shape[-2:]
    bottom = margin + (-(h + 2 * margin)) % 4
    right = margin + (-(w + 2 * margin)) % 4
    if margin < 0 or (mode != "replicate" and max(bottom, right) >= min(h, w)):
        raise ValueError(f"margin: must be >= 0 and, with mode {mode!r}, leave the padding below {min(h, w)} px "
                         f"for a {w}x{h} frame, got {margin}")
    pad = (margin, right, margin, bottom)
    if not any(pad):
        padded = x
    elif mode == "antireflect":
        padded = (2.0 * F.pad(x, pad, mode="replicate") - F.pad(x, pad, mode="reflect")).clamp(0.0, 1.0)
    else:
        padded = F.pad(x, pad, mode=mode)
    if not frame_statistics or padded is x:
        return network(padded)[..., margin:margin + h, margin:margin + w]
    hp, wp = padded.shape[-2:]
    with statistics_region(margin / hp, (margin + h) / hp, margin / wp, (margin + w) / wp):
        return network(padded)[..., margin:margin + h, margin:margin + w]


def takes_prior(net: object) -> bool:
    """Whether ``net`` takes the prior-image input (frame, masked prior, mask; Ruder eq. 15): a ``"prior"``
    :class:`~vsstylize.networks.models.StylizationNetwork`, or a callable with a true ``takes_prior`` attribute (the
    arbitrary prior variant bound to a style)."""
    if isinstance(net, StylizationNetwork):
        return net.spec.kind == "prior"
    return bool(getattr(net, "takes_prior", False))


def apply_network(net: StylizationNetwork | Callable[[torch.Tensor], torch.Tensor], content: torch.Tensor,
                  prior: torch.Tensor | None = None,
                  mask: torch.Tensor | None = None, stroke_scale: float | None = None,
                  margin: int | None = None) -> torch.Tensor:
    """Run a stylization network on one frame, extended by a margin of :data:`BORDER_MARGIN`
    pixels (fewer for frames too small for it) so the network's own border, where the shipped networks darken
    the output, falls outside the frame (:func:`run_with_margin`).

    :param net: a :class:`~vsstylize.networks.models.StylizationNetwork`, or any network of the frame alone
        (``(N, 3, h, w)`` -> ``(N, 3, h, w)`` for any size, e.g.
        :meth:`vsstylize.networks.pretrained.StyledNetwork.network_for`), or of the prior-image input
        (``(N, 7, h, w)``, a callable with a true ``takes_prior`` attribute).
    :param content: ``(1, 3, H, W)`` RGB in [0, 1].
    :param prior: / :param mask: the warped previous output ``(1, 3, H, W)`` and its reliability
        ``(1, 1, H, W)`` for a prior-image network (``None``: empty prior); ignored by other kinds. Both are
        full-size: with a processing size they are reduced with the frame.
    :param stroke_scale: ``None``: the network runs at the frame's size; else at the processing size of
        :func:`~vsstylize.networks.scale.processing_size` (height ``360 / stroke_scale``, never larger than the
        frame) and its output is enlarged by :func:`~vsstylize.networks.scale.guided_detail_upsample`
        (:func:`~vsstylize.networks.scale.stylize_at_scale`).
    :param margin: the margin in pixels on each side (``None``: ``BORDER_MARGIN``, 32; 0: the network on the
        frame as it is, its border artifacts included, about 1.4x faster on a CPU at 640x360).
    :returns: ``(1, 3, H, W)`` RGB in [0, 1].
    :raises ValueError: a ``stroke_scale`` that is not > 0, shapes that do not match.
    """
    wanted = BORDER_MARGIN if margin is None else margin

    def run(x: torch.Tensor) -> torch.Tensor:
        return run_with_margin(net, x, border_margin(x.shape[-2], x.shape[-1], wanted))

    with torch.inference_mode():
        x = network_input(content, prior, mask) if takes_prior(net) else content
        if stroke_scale is None:
            return run(x).clone()
        return stylize_at_scale(run, x, stroke_scale=stroke_scale).clone()
