"""Per-iteration cost of the per-frame optimizer against a bare forward+backward of the loss network.

Prints, for a frame of ``--width`` x ``--height`` (default 450x350, the papers' size):

* ``bare``: one forward pass of the loss network to the deepest loss layer plus one backward pass to
  the input (no losses);
* ``lbfgs`` / ``adam``: seconds per iteration of :func:`vsstylize.optim.optimizer.stylize_image` (content + style
  + temporal + TV losses, L-BFGS history 100 / Adam), and their ratio to ``bare`` (target <= 1.3);
* seconds per frame: measured for ``--iters`` iterations including the per-frame setup, and
  extrapolated to artistic-videos' default 1000 iterations for a subsequent frame.

The three are measured in interleaved rounds and the fastest round is reported, so load from other
processes on a shared machine skews them alike.

Usage: ``python -m vsstylize_bench optim_speed [--device cuda] [--iters 6] [--rounds 3] [--weights NAME]``
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import torch

from vsstylize.optim.losses import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, StyleTarget
from vsstylize.optim.optimizer import OptimizerSettings, make_init, stylize_image
from vsstylize.optim.vgg import LossNetwork, load_loss_network


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_forward_backward(net: LossNetwork, x0: torch.Tensor, layers: tuple[str, ...], reps: int,
                          features: Callable[[torch.Tensor, tuple[str, ...]], dict[str, torch.Tensor]] | None = None,
                          warmup: int = 1) -> float:
    """Seconds per forward (to the deepest of ``layers``) + backward (to the input) pass.

    :param features: how to run the network (default ``net(x, layers)``; e.g. a mixed-precision
        objective's :meth:`~vsstylize.optim.losses.VideoObjective.features`).
    :param warmup: untimed passes first (cuDNN autotuning needs a few on a GPU).
    """
    x = x0.detach().clone().requires_grad_(True)
    device = x.device
    run = features if features is not None else net

    def once() -> None:
        x.grad = None
        feats = run(x, layers)
        torch.stack([f.sum() for f in feats.values()]).sum().backward()

    for _ in range(warmup):
        once()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        once()
    _sync(device)
    return (time.perf_counter() - t0) / reps


def optimizer_per_iteration(
    net: LossNetwork, content: torch.Tensor, target: StyleTarget, temporal: list, opt: str, iters: int
) -> tuple[float, float, int]:
    """Run one frame; returns (seconds per iteration without the per-frame setup, seconds for the whole
    frame, iterations). The per-iteration time comes from the progress callback's time stamps."""
    stamps: list[float] = []
    device = content.device

    def tick(_p: object) -> None:
        _sync(device)
        stamps.append(time.perf_counter())

    settings = OptimizerSettings(
        optimizer=opt, num_iterations=iters, tol_loss_relative=0, tol_loss_relative_interval=2, progress=tick  # type: ignore[arg-type]
    )
    init = make_init("prevWarped", content, prev_warped=temporal[0][0])
    t0 = time.perf_counter()
    _, info = stylize_image(net, content, target, init, temporal=temporal, settings=settings)
    _sync(device)
    frame = time.perf_counter() - t0
    per_iter = (stamps[-1] - stamps[0]) / (iters - 2)
    return per_iter, frame, info.iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=450)
    parser.add_argument("--height", type=int, default=350)
    parser.add_argument("--iters", type=int, default=6, help="iterations per timed frame (even, >= 4)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the minimum is reported")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--weights", default=None, help="loss-network weights (default: standard or fallback)")
    args = parser.parse_args()
    iters = max(4, args.iters + args.iters % 2)

    device = torch.device(args.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = load_loss_network("vgg19", weights=args.weights, device=device)
    h, w = args.height, args.width
    gen = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, h, w, generator=gen).to(device)
    style = torch.rand(1, 3, h, w, generator=gen).to(device)
    prev = torch.rand(1, 3, h, w, generator=gen).to(device)
    temporal = [(prev, torch.ones(1, 1, h, w, device=device))]
    target = StyleTarget(net, [style], (h, w))
    layers = tuple(dict.fromkeys((*DEFAULT_CONTENT_LAYERS, *DEFAULT_STYLE_LAYERS)))
    print(f"device {device}, {net.weights_name} ({net.arch}), {w}x{h}, threads {torch.get_num_threads()}")

    # Interleave the three measurements so that load from other processes hits them alike.
    times: dict[str, list[float]] = {"bare": [], "lbfgs": [], "adam": []}
    frames: dict[str, float] = {}
    optimizer_per_iteration(net, content, target, temporal, "lbfgs", 4)  # warm-up
    for _ in range(args.rounds):
        times["bare"].append(bare_forward_backward(net, net.preprocess(content), layers, reps=iters // 2))
        for opt in ("lbfgs", "adam"):
            per_iter, frame, _n = optimizer_per_iteration(net, content, target, temporal, opt, iters)
            times[opt].append(per_iter)
            frames[opt] = min(frames.get(opt, float("inf")), frame)
    bare = min(times["bare"])
    print(f"bare forward+backward  {bare:8.4f} s/iter   (rounds: {', '.join(f'{t:.3f}' for t in times['bare'])})")
    for opt in ("lbfgs", "adam"):
        per_iter = min(times[opt])
        print(
            f"{opt:6s}                 {per_iter:8.4f} s/iter   ratio {per_iter / bare:5.2f}   "
            f"(rounds: {', '.join(f'{t:.3f}' for t in times[opt])})\n"
            f"       frame of {iters} it incl. setup {frames[opt]:7.2f} s; "
            f"1000 it (artistic-videos default for later frames) ~ {per_iter * 1000:7.0f} s/frame"
        )


if __name__ == "__main__":
    main()
