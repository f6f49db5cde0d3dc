"""The training objective of the stylization networks: perceptual loss (Johnson et al. 2016) plus the
temporal loss (Ruder et al. 2018 sec. 5.2 / Huang et al. 2017 eq. 7), on a batch.

It uses the loss network and the elementary losses of the optimization method (:mod:`vsstylize.optim.losses`,
neural-style normalisation), so a network is trained on the same objective the optimization method
minimises:

``L = alpha L_content(f, x) + beta L_style(a, x) + gamma L_temporal(x, omega(x_prev), c) + tv L_tv(x)``

averaged over the batch. Images are ``(N, 3, H, W)`` RGB in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..optim.losses import (
    LossWeights,
    StyleTarget,
    content_loss,
    gram_matrix,
    style_loss,
    temporal_loss,
    tv_loss,
)
from ..optim.vgg import LossNetwork

__all__ = ["HUANG_LAYERS", "RUDER_LAYERS", "TrainingObjective"]

#: Ruder et al. 2018 sec. 7.2.2 (VGG-16): content relu3_3; style relu1_2, relu2_2, relu3_3, relu4_3.
RUDER_LAYERS: tuple[tuple[str, ...], tuple[str, ...]] = (("relu3_3",), ("relu1_2", "relu2_2", "relu3_3", "relu4_3"))
#: Huang et al. 2017 sec. 3.2.1: content relu4_2; style relu1_2, relu2_2, relu3_2, relu4_2.
HUANG_LAYERS: tuple[tuple[str, ...], tuple[str, ...]] = (("relu4_2",), ("relu1_2", "relu2_2", "relu3_2", "relu4_2"))


class TrainingObjective:
    """Batched perceptual + temporal loss for network training.

    :param loss_net: the loss network.
    :param styles: style images ``(1, 3, H_s, W_s)``; their Gram targets are computed once for
        ``size`` (the style image is resized so its longer side is ``style_scale * max(size)``).
    :param size: ``(H, W)`` of the training crops.
    :param weights: alpha, beta, gamma (temporal), tv.
    :param content_layers: / :param style_layers: loss-network layers.
    :param style_scale: style size relative to the crop size.
    :param autocast: ``None`` (float32) or ``torch.bfloat16`` / ``torch.float16``: the loss network runs under
        :func:`torch.autocast` in that precision; its feature maps are cast to float32 before the losses, so the
        Gram matrices and every loss accumulate in float32 (as :class:`vsstylize.optim.losses.VideoObjective` does).
    :raises ValueError: bad layers or images.
    """

    def __init__(self, loss_net: LossNetwork, styles: Sequence[torch.Tensor], size: tuple[int, int],
                 weights: LossWeights, content_layers: Sequence[str], style_layers: Sequence[str],
                 style_scale: float = 1.0, autocast: torch.dtype | None = None) -> None:
        self.loss_net = loss_net
        self.autocast = autocast
        self.weights = weights
        self.content_layers = tuple(loss_net.check_layers(content_layers))
        self.style = StyleTarget(loss_net, list(styles), size, style_scale=style_scale, layers=style_layers)
        self.style_layers = self.style.layers
        self._layers = tuple(dict.fromkeys((*self.content_layers, *self.style_layers)))
        self._scale = loss_net.input_to_pixel255

    def spatial(self, x: torch.Tensor, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted content, style and TV losses of the outputs ``x`` for the inputs ``frames``
        (both ``(N, 3, H, W)``; each term is the mean over the batch)."""
        w = self.weights
        n = x.shape[0]
        with torch.no_grad():
            targets = self._features(self.loss_net.preprocess(frames), self.content_layers)
        px = self.loss_net.preprocess(x)
        feats = self._features(px, self._layers)
        grams = {name: gram_matrix(feats[name]) for name in self.style_layers}
        targets_style = self.style.at_size(tuple(x.shape[-2:]))  # type: ignore[arg-type]
        return {
            "content": w.content * content_loss(feats, targets),
            "style": w.style * style_loss(grams, targets_style),
            "tv": w.tv * tv_loss(px, self._scale) / n,
        }

    def _features(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Float32 feature maps of ``layers``, computed in the objective's precision."""
        if self.autocast is None:
            return self.loss_net(x, layers)
        with torch.autocast(device_type=x.device.type, dtype=self.autocast):
            feats = self.loss_net(x, layers)
        return {k: v.float() for k, v in feats.items()}

    def temporal(self, x: torch.Tensor, warped: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Weighted temporal loss (Ruder eq. 8 / Huang eq. 7) on 0..255 pixels: ``x`` and the previous
        output ``warped`` into this frame, both ``(N, 3, H, W)``; ``c`` ``(N, 1, H, W)`` in [0, 1]."""
        return self.weights.temporal * temporal_loss(x * 255.0, warped * 255.0, c)

    @staticmethod
    def total(parts: dict[str, torch.Tensor]) -> torch.Tensor:
        values = list(parts.values())
        out = values[0]
        for v in values[1:]:
            out = out + v
        return out
