"""GPU speed, memory and quality of the optimization method, float32 against mixed precision.

For issue "GPU performance" (Ruder et al. 2018 sec. 4 on a GPU). On a ground-truth sequence made
from a real photo (:func:`vsstylize.train.sequences.make_sequence`, exact flow and disocclusion mask), at
``--size`` (default 1024x436, the papers' size):

1. frame 0 is stylized once (float32, init image, ``--first-iters`` iterations);
2. frame 1 is stylized per precision (``fp32``, ``bf16`` ...) and optimizer the way the issue asks:
   init prevWarped + temporal loss, stopping at ``--tol`` relative change over ``--interval``
   iterations (default 0.1 % over 50), at most ``--max-iters``; printed: iterations, seconds per
   frame and per iteration, peak GPU memory, the temporal error of frame 1 against frame 0 (ground
   truth flow and mask, Ruder's protocol) and frame 1's content and style loss relative to the
   float32 result (Ruder Table 5 measure, evaluated in float32);
3. a bare forward+backward of the loss network per precision (the floor of one iteration);
4. peak GPU memory of one frame at ``--memory-size`` (default 1920x1080) per precision, L-BFGS;
5. with ``--vapoursynth N``: ``vsstylize.stylize`` end to end through VapourSynth on N frames of the
   sequence (DIS flow computed in the graph), seconds per frame after the first.

Usage: ``python -m vsstylize_bench gpu_optim --weights FILE --image PHOTO [--precisions fp32,bf16]``
(random weights give timings only; quality numbers need real weights).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from vsstylize.methods.style import load_styles
from vsstylize.opticalflow.warping import warp
from vsstylize.optim.losses import LossWeights, StyleTarget, VideoObjective
from vsstylize.optim.optimizer import PRECISIONS, OptimizerSettings, prepare_device, stylize_image
from vsstylize.optim.vgg import load_loss_network
from vsstylize.train.sequences import make_sequence
from vsstylize_bench import metrics
from vsstylize_bench.sources import default_photos
from vsstylize_bench.suites.optim_speed import bare_forward_backward


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=None, help="loss-network weights (name or file); default: installed/fallback")
    parser.add_argument("--model", default="vgg19")
    parser.add_argument("--image", default=None, help="background photo of the sequence")
    parser.add_argument("--texture", default=None, help="photo the foreground object is cut from")
    parser.add_argument("--style", default="starry_night", help="style image or shipped style name")
    parser.add_argument("--size", default="1024x436")
    parser.add_argument("--memory-size", default="1920x1080")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--optimizers", default="lbfgs,adam")
    parser.add_argument("--scales", default="1", help="coarse-to-fine variants separated by ';'")
    parser.add_argument("--graphs", default="eager,graph", help="eager and/or graph (CUDA graph capture)")
    parser.add_argument("--memory-history", default="100,50", help="L-BFGS histories of the memory run")
    parser.add_argument("--memory-iters", type=int, default=110, help="iterations of the memory run (> L-BFGS history)")
    parser.add_argument("--first-iters", type=int, default=300)
    parser.add_argument("--max-iters", type=int, default=1000)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--interval", type=int, default=50)
    parser.add_argument("--vapoursynth", type=int, default=0, help="frames to render through vsstylize.stylize (0: skip)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    w, h = (int(v) for v in args.size.split("x"))
    net = load_loss_network(args.model, weights=args.weights, device=device)
    prepare_device(net)
    print(f"device {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}, torch {torch.__version__}, "
          f"loss network {net.arch} ({net.weights_name}), {w}x{h}")
    seq = make_sequence("slow_pan", args.image, num_frames=max(2, args.vapoursynth), size=(w, h), seed=0,
                        texture=args.texture, photos=default_photos())
    frames = torch.from_numpy(seq.frames).float()
    c0, c1 = frames[0:1].to(device), frames[1:2].to(device)
    flow1 = torch.from_numpy(seq.flow_backward[1:2]).to(device)
    mask1 = torch.from_numpy(seq.mask_backward[1:2]).float().unsqueeze(1).to(device)
    styles = [s.to(device) for s in load_styles("bench", args.style)]
    target = StyleTarget(net, styles, (h, w))
    weights = LossWeights()

    t0 = time.perf_counter()
    s0, info0 = stylize_image(net, c0, target, "image", weights=weights,
                              settings=OptimizerSettings(num_iterations=args.first_iters, tol_loss_relative=0))
    _sync()
    print(f"frame 0: {info0.iterations} iterations fp32 in {time.perf_counter() - t0:.2f} s")
    warped = warp(s0, flow1)
    temporal = [(warped, mask1)]

    ref: torch.Tensor | None = None
    graphs = [g == "graph" for g in args.graphs.split(",") if g]
    for opt in [o for o in args.optimizers.split(",") if o]:
        for prec in [p for p in args.precisions.split(",") if p]:
            for graph, scales in [(g, sc) for g in graphs for sc in args.scales.split(";")]:
                scale_t = tuple(float(v) for v in scales.split(","))
                settings = OptimizerSettings(optimizer=opt, num_iterations=args.max_iters, tol_loss_relative=args.tol,
                                             tol_loss_relative_interval=args.interval, precision=prec,  # type: ignore[arg-type]
                                             cuda_graphs=graph, scales=scale_t)
                # warm-up (cuDNN autotuning, allocator), then the timed frame
                stylize_image(net, c1, target, warped, temporal=temporal, weights=weights,
                              settings=OptimizerSettings(optimizer=opt, num_iterations=8, tol_loss_relative=0,
                                                         precision=prec, cuda_graphs=graph))  # type: ignore[arg-type]
                _sync()
                _reset_peak()
                t0 = time.perf_counter()
                s1, info = stylize_image(net, c1, target, warped, temporal=temporal, weights=weights, settings=settings)
                _sync()
                sec = time.perf_counter() - t0
                peak = _peak_gib()
                pair = torch.cat([s0, s1]).cpu().numpy()
                err = float(metrics.temporal_error(pair, seq.flow_backward[:2], seq.mask_backward[:2])[0])
                if ref is None:
                    ref = s1
                rel = metrics.relative_losses(s1.cpu().numpy(), ref.cpu().numpy(), c1.cpu().numpy(), net, target)
                print(f"{opt:5s} {prec:4s} {'graph' if graph else 'eager'} scales {scales:7s}: {info.iterations:4d} it "
                      f"{info.iterations_per_scale}, {sec:6.3f} s/frame, "
                      f"{1e3 * sec / info.iterations:7.2f} ms/it, peak {peak:5.2f} GiB, temporal error {err:.6f}, "
                      f"content {100 * rel.content:6.2f} %, style {100 * rel.style:6.2f} % of the first setting", flush=True)

    x0 = net.preprocess(c1)
    for prec in [p for p in args.precisions.split(",") if p]:
        obj = VideoObjective(net, c1, target, weights, temporal=temporal, autocast=PRECISIONS[prec])
        bare = bare_forward_backward(net, x0, obj._layers, 20, features=obj.features, warmup=3)
        print(f"bare forward+backward {prec}: {1e3 * bare:.2f} ms", flush=True)

    if device.type == "cuda" and args.memory_size:
        mw, mh = (int(v) for v in args.memory_size.split("x"))
        big = torch.nn.functional.interpolate(c1, size=(mh, mw), mode="bilinear", align_corners=False).clamp(0, 1)
        ones = torch.ones(1, 1, mh, mw, device=device)
        for prec in [p for p in args.precisions.split(",") if p]:
            big_target = StyleTarget(net, styles, (mh, mw))
            for opt, hist in [("lbfgs", int(v)) for v in args.memory_history.split(",")] + [("adam", 0)]:
                mem_settings = OptimizerSettings(optimizer=opt, num_iterations=args.memory_iters, tol_loss_relative=0,
                                                 precision=prec, lbfgs_history=max(hist, 1))  # type: ignore[arg-type]
                stylize_image(net, big, big_target, big, temporal=[(big, ones)], weights=weights,
                              settings=OptimizerSettings(optimizer=opt, num_iterations=8, tol_loss_relative=0,
                                                         precision=prec))  # type: ignore[arg-type]
                _sync()
                _reset_peak()
                t0 = time.perf_counter()
                stylize_image(net, big, big_target, big, temporal=[(big, ones)], weights=weights, settings=mem_settings)
                _sync()
                sec = time.perf_counter() - t0
                label = f"L-BFGS history {hist}" if opt == "lbfgs" else "Adam"
                print(f"{mw}x{mh} {prec} {label}: peak GPU memory {_peak_gib():.2f} GiB ({args.memory_iters} it, "
                      f"{1e3 * sec / args.memory_iters:.1f} ms/it incl. setup)", flush=True)
            del big_target

    if args.vapoursynth:
        import vapoursynth as vs

        import vsstylize

        clip = seq.to_clips(vs.core).frames
        for prec in [p for p in args.precisions.split(",") if p]:
            out = vsstylize.stylize(clip, args.style, num_iterations=(args.first_iters, args.max_iters),
                                    init=("image", "prevWarped"), tol_loss_relative=args.tol,
                                    tol_loss_relative_interval=args.interval, precision=prec,
                                    model_file=args.weights, model=args.model)
            times = []
            t0 = time.perf_counter()
            for n in range(out.num_frames):
                out.get_frame(n)
                t1 = time.perf_counter()
                times.append(t1 - t0)
                t0 = t1
            later = times[1:] or times
            print(f"vapoursynth {prec}: frame 0 {times[0]:.2f} s, later frames {np.mean(later):.3f} s/frame "
                  f"(incl. DIS flow, reliability, warping; R{vs.core.core_version.release_major})", flush=True)


if __name__ == "__main__":
    main()
