"""Scale-out benchmark: cache bytes per 1920x1080 frame, resume after SIGKILL, Ray wall time with 1 and 2 workers.

Prints the machine and, in order:

1. **Cache bytes per frame** (compact entries, :mod:`vsstylize.media.compact`): the prior-image network at 1920x1080
   (bikes.mp4 upscaled; stylized frame + forward and backward DIS flow), and the optimization method at the
   clip's own 640x272 scaled to 1920x1080 by pixel count; against the float32 entries of before (frame
   ``3 H W 4`` bytes, each flow ``2 H W 4``).
2. **Resume after SIGKILL at 1920x1080**: a render killed after its first cache entries, resumed, compared
   bit for bit with an uncached render.
3. **Bounded chains** (``boundaries``): temporal error of the frame pairs across a ``max_chain_length``
   boundary against those inside a chain, for warm-ups of 0, 2 and 4 frames.
4. **Scaling**: one shot of bikes.mp4 (frames 31-62) with the optimization method in bounded chains
   (``--max-chain-length 8 --chain-warmup 2``: 4 units) rendered by ``vsstylize run --ray`` on a local cluster
   with 1 and then 2 workers (one torch thread each), fresh caches; the single-process per-frame time with one
   thread; and an estimate for N GPUs from the measured GPU time per frame.

Usage: ``python -m vsstylize_bench scale_out [--part bytes,resume,scaling,boundaries] [--shared ../shared]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

RENDER = """
import sys, numpy as np, torch, vapoursynth as vs, vsstylize
torch.set_num_threads(1)
src = vs.core.bs.VideoSource({video!r})[100:{end}]
rgb = vs.core.resize.Bicubic(src, 1920, 1080, format=vs.RGBS, matrix_in_s="170m")
out = vsstylize.stylize(rgb, method="network", network="starry_night-prior", cache_dir={cache!r},
                        flow_cache={cache!r})
frames = [np.stack([np.asarray(f[p]) for p in range(3)]) for f in out.frames()]
np.save({save!r}, np.stack(frames))
"""


def _machine() -> str:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.backends.cpu.get_cpu_capability()}), Python {platform.python_version()}")


def _env() -> dict[str, str]:
    paths = [str(REPO), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "OMP_NUM_THREADS": "1",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # Ray over loopback only


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.png")) if folder.is_dir() else 0


def part_bytes(video: Path, work: Path) -> None:
    import torch
    import vapoursynth as vs

    import vsstylize

    torch.set_num_threads(1)
    core = vs.core
    print("\n## cache bytes per frame")
    count = 4
    for name, size, extra in (("network 1920x1080", (1920, 1080), {"method": "network", "network": "starry_night-prior"}),
                              ("optim 640x272, 20,10 iterations", (640, 272),
                               {"style": "starry_night", "num_iterations": (20, 10), "model": "vgg16",
                                "init": ("image", "prevWarped")})):
        cache = work / f"bytes-{size[0]}"
        src = core.bs.VideoSource(str(video))[100:100 + count]
        rgb = core.resize.Bicubic(src, *size, format=vs.RGBS, matrix_in_s="170m")
        style = extra.pop("style", None)
        t0 = time.perf_counter()
        out = vsstylize.stylize(rgb, style, cache_dir=str(cache), flow_cache=str(cache), **extra)  # type: ignore[arg-type]
        for _ in out.frames():
            pass
        seconds = (time.perf_counter() - t0) / count
        frames, flows = _bytes(cache / "stylize") / count, _bytes(cache / "flow") / count
        w, h = size
        scale = 1920 * 1080 / (w * h)
        old = 3 * h * w * 4 + 2 * 2 * h * w * 4
        print(f"{name}: {seconds:.1f} s/frame; frame {frames / 1e6:.2f} MB, flows (fw + bw) {flows / 1e6:.2f} MB, "
              f"total {(frames + flows) / 1e6:.2f} MB per frame (float32 before: {old / 1e6:.2f} MB)"
              + ("" if scale == 1 else f"; at 1920x1080 by pixel count: {(frames + flows) * scale / 1e6:.2f} MB "
                                       f"(float32 {old * scale / 1e6:.1f} MB)"))


def part_resume(video: Path, work: Path) -> None:
    import numpy as np

    print("\n## resume after SIGKILL, 1920x1080, prior-image network, 5 frames")
    cache = work / "resume-cache"
    runs = {}
    for label, cache_dir in (("fresh", None), ("killed", str(cache)), ("resumed", str(cache))):
        script = work / f"{label}.py"
        save = work / f"{label}.npy"
        script.write_text(RENDER.format(video=str(video), end=105, cache=cache_dir, save=str(save)))
        proc = subprocess.Popen([sys.executable, str(script)], env=_env(), stderr=subprocess.DEVNULL)
        if label == "killed":
            while proc.poll() is None and len(list((cache / "stylize").rglob("*.png"))) < 2:
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            print(f"killed with {len(list((cache / 'stylize').rglob('*.png')))} of 5 frames in the cache")
            continue
        assert proc.wait() == 0, f"{label} render failed"
        runs[label] = np.load(save)
    same = np.array_equal(runs["fresh"], runs["resumed"])
    print(f"resumed == uncached render, bit for bit: {same} (max difference "
          f"{float(np.abs(runs['fresh'] - runs['resumed']).max()):.3g})")


def part_scaling(video: Path, work: Path) -> None:
    print("\n## scaling on this machine (vsstylize run --ray, local cluster)")
    common = [str(video), "--frames", "31:63", "--width", "128", "--matrix", "170m", "--style", "starry_night",
              "--iterations", "20,10", "--tol-loss-relative", "0", "--model", "vgg16", "--init", "image,prevWarped",
              "--max-chain-length", "8", "--chain-warmup", "2", "--encoder", "cp /dev/stdin {output}"]
    t0 = time.perf_counter()
    single = subprocess.run([sys.executable, "-m", "vsstylize", "run", *common, "-o", str(work / "single.yuv"),
                             "--threads", "1"], env=_env(), capture_output=True, text=True)
    single_s = time.perf_counter() - t0
    assert single.returncode == 0, single.stderr[-2000:]
    per_frame = float(re.search(r"([0-9.]+) s/frame\)", single.stdout).group(1))  # type: ignore[union-attr]
    print(f"single process, 1 thread, 32 frames (+6 warm-up): {per_frame:.2f} s/frame ({single_s:.0f} s with start-up)")
    walls = {}
    for workers in (1, 2):
        out = work / f"ray{workers}.yuv"
        t0 = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "vsstylize", "run", *common, "-o", str(out), "--cache",
                              str(work / f"cache-ray{workers}"), "--ray", "--workers", str(workers)],
                             env=_env(), capture_output=True, text=True)
        total = time.perf_counter() - t0
        assert run.returncode == 0, run.stderr[-2000:]
        render = float(re.search(r"units, ([0-9.]+) s\)", run.stdout).group(1))  # type: ignore[union-attr]
        walls[workers] = render
        same = out.read_bytes() == (work / "single.yuv").read_bytes()
        print(f"{workers} worker(s): {render:.1f} s from the first task to the last frame encoded "
              f"({total:.0f} s with Ray's start-up), output == single process: {same}")
    print(f"speed-up 2 workers / 1 worker: {walls[1] / walls[2]:.2f}x (2 cores shared with other jobs)")
    efficiency = walls[1] / walls[2] / 2
    # GPU estimate: measured 3.43 s per 1024x436 frame (fp32, 250 L-BFGS iterations, through VapourSynth, one
    # H100: bench/gpu-optim-h100/README.md), scaled by pixel count to 1920x1080
    gpu = 3.43 * 1920 * 1080 / (1024 * 436)
    film = 130_000
    warmup = 1 + 10 / 100  # bounded chains of 100 frames with 10 warm-up frames (units inside long shots)
    print(f"\nestimate, 90-minute 1080p film ({film} frames), optimization at {gpu:.1f} s/frame/GPU "
          f"(H100 fp32 measured at 1024x436, scaled by pixels), chains of <= 100 frames + 10 warm-up, "
          f"parallel efficiency {efficiency:.2f} (measured above):")
    for n in (1, 8, 32, 64, 128):
        eff = 1.0 if n == 1 else efficiency
        hours = film * warmup * gpu / (n * eff) / 3600
        print(f"  {n:4d} GPUs: {hours:7.1f} h")


def part_boundaries(video: Path, work: Path) -> None:
    """Temporal error (Ruder et al., exact flow and disocclusion mask) of frame pairs across a bounded-chain
    boundary against pairs inside a chain, on a ground-truth sequence from a real photo."""
    import numpy as np
    import torch
    import vapoursynth as vs

    import vsstylize
    from vsstylize.train.sequences import make_sequence
    from vsstylize_bench.metrics import temporal_error

    torch.set_num_threads(1)
    photos = sorted((video.parents[1] / "content").glob("*.jpg"))
    seq = make_sequence("slow_pan", photos[0], num_frames=25, size=(96, 72), seed=1, texture=photos[1])
    clips = seq.to_clips(vs.core)
    k = 8
    print(f"\n## bounded chains: temporal error at the boundaries (frames {k}, {2 * k}, {3 * k}) against inside a "
          f"chain; slow_pan from {photos[0].name}, 25 frames at 96x72, exact flow given to the methods")
    settings = {"network": {"method": "network", "network": "starry_night-prior"},
                "optim 200,20": {"style": "starry_night", "num_iterations": (200, 20), "model": "vgg16",
                                "init": ("image", "prevWarped"), "tol_loss_relative": 0}}
    for label, extra in settings.items():
        extra = dict(extra)
        style = extra.pop("style", None)
        flows = {"flows": [clips.flow_backward], "reliability": [clips.reliability_backward]}
        for bounds in ((None, 0), (k, 0), (k, 2), (k, 4)):
            t0 = time.perf_counter()
            out = vsstylize.stylize(clips.frames, style, max_chain_length=bounds[0],  # type: ignore[arg-type]
                                    chain_warmup=bounds[1] if bounds[0] else None, **flows, **extra)
            frames = np.stack([np.stack([np.asarray(f[p]) for p in range(3)]) for f in out.frames()])
            errors = temporal_error(frames, seq.flow_backward, seq.mask_backward)  # entry t - 1 for frame t
            at = [errors[t - 1] for t in (k, 2 * k, 3 * k)]
            inside = [errors[t - 1] for t in range(1, seq.num_frames) if t % k]
            name = "unbounded" if bounds[0] is None else f"K={k}, W={bounds[1]}"
            print(f"{label:13s} {name:12s}: boundary pairs {np.mean(at):.5f}, inside {np.mean(inside):.5f} "
                  f"(ratio {np.mean(at) / np.mean(inside):.2f}), {time.perf_counter() - t0:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", default="bytes,resume,scaling,boundaries")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("VSSTYLIZE_SHARED") or REPO.parent / "shared"))
    args = parser.parse_args()
    video = args.shared / "data" / "videos" / "bikes.mp4"
    if not video.is_file():
        parser.error(f"--shared: {video} not found")
    print(_machine())
    parts = {"bytes": part_bytes, "resume": part_resume, "scaling": part_scaling, "boundaries": part_boundaries}
    with tempfile.TemporaryDirectory(prefix="vsstylize-scale-") as tmp:
        for name in args.part.split(","):
            if name not in parts:
                parser.error(f"--part takes {', '.join(parts)}, got {name!r}")
            parts[name](video, Path(tmp))


if __name__ == "__main__":
    main()
