"""The shipped networks' edge darkening and the inference border fix (apply_network runs with a margin)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import DATA
from vsstylize.networks.io import load_network
from vsstylize.networks.measures import border_deviation
from vsstylize.networks.models import apply_network

CANVAS_MARGIN = 32


def _canvases() -> np.ndarray:
    """Three real photos as (3, 3, 160 + 2m, 256 + 2m) canvases; the frame is the central 256x160."""
    out = []
    for name in ("tubingen.jpg", "golden_gate.jpg", "hoovertowernight.jpg"):
        bgr = cv2.imread(str(DATA / "content" / name))
        rgb = cv2.resize(bgr, (256 + 2 * CANVAS_MARGIN, 160 + 2 * CANVAS_MARGIN), interpolation=cv2.INTER_AREA)[..., ::-1]
        out.append(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0)
    return np.stack(out)


@pytest.mark.parametrize("name", ["starry_night-flowfree", "starry_night-prior"])
def test_apply_network_has_no_dark_bottom_band(name: str) -> None:
    """Frame vs the same pixels inside a larger canvas (interior reference): the plain network's outer 4 rows at
    the bottom are > 8 % darker relative to the next 4; apply_network's margin removes that."""
    torch.set_num_threads(1)
    net, _ = load_network(name)
    canvas = _canvases()
    m = CANVAS_MARGIN
    frame = canvas[..., m:-m, m:-m]

    def run(images: np.ndarray, plain: bool) -> np.ndarray:
        outs = []
        for img in images:
            x = torch.from_numpy(np.ascontiguousarray(img))[None]
            if plain:
                with torch.inference_mode():
                    y = net(torch.cat((x, x.new_zeros(1, 4, *x.shape[-2:])), 1) if net.spec.kind == "prior" else x)
            else:
                y = apply_network(net, x)
            outs.append(y[0].numpy())
        return np.stack(outs)

    plain = border_deviation(run(frame, True), run(canvas, True)[..., m:-m, m:-m])
    fixed = border_deviation(run(frame, False), run(canvas, False)[..., m:-m, m:-m])
    assert plain["bottom"] < -0.08
    assert abs(fixed["bottom"]) < 0.6 * abs(plain["bottom"])
