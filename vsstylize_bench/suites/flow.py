#!/usr/bin/env python3
"""Flow benchmark: accuracy on a real photo with known motion, and speed with/without VapourSynth.

Prints, for each OpenCV method: the average end-point error (EPE, pixels) for a (3.5, 2) px
translation and for a 2 % zoom of ../shared/data/content/tubingen.jpg at 1024x436, and milliseconds
per frame pair at 1024x436 and 640x360 — OpenCV alone on the decoded luma and through
``vsstylize.flow`` on the same decoded YUV frames (one direction, frames requested one after another),
with the wrapping overhead in percent (median over ``--reps`` pairs, fastest of ``--rounds`` rounds).

Usage: python -m vsstylize_bench flow [--shared ../shared/data] [--methods dis,dis_refined,farneback,deepflow]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
import vapoursynth as vs

import vsstylize
from vsstylize.opticalflow.estimators import FlowSettings, make_estimator
from vsstylize_bench.sources import shared_data

SIZES = [(1024, 436), (640, 360)]


def load_photo(shared: Path) -> np.ndarray:
    img = cv2.imread(str(shared / "content" / "tubingen.jpg"), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def moved_pair(photo: np.ndarray, size: tuple[int, int], dx: float, dy: float,
               zoom: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames a, b and the exact forward flow a -> b for b = a moved by (dx, dy) and scaled by ``zoom``."""
    w, h = size
    pad = 48
    base = cv2.resize(photo, (w + 2 * pad, h + 2 * pad), interpolation=cv2.INTER_AREA)
    cx, cy = (w + 2 * pad - 1) / 2, (h + 2 * pad - 1) / 2
    # b(x) = a(A^-1 x): a point p of a moves to A p = zoom (p - c) + c + d
    m = np.float32([[zoom, 0, (1 - zoom) * cx + dx], [0, zoom, (1 - zoom) * cy + dy]])
    b = cv2.warpAffine(base, m, base.shape[1::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs += pad
    ys += pad
    flow = np.stack([(zoom - 1) * (xs - cx) + dx, (zoom - 1) * (ys - cy) + dy], axis=-1)
    crop = (slice(pad, pad + h), slice(pad, pad + w))
    return base[crop].copy(), b[crop].copy(), flow


def epe(flow: np.ndarray, truth: np.ndarray, margin: int = 16) -> float:
    d = (flow - truth)[margin:-margin, margin:-margin]
    return float(np.sqrt((d**2).sum(axis=-1)).mean())


def gray8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint((img @ np.float32([0.2126, 0.7152, 0.0722])) * 255), 0, 255).astype(np.uint8)


def decoded_clip(frames: list[np.ndarray]) -> vs.VideoNode:
    """A YUV420P8 clip of the frames, held in memory like frames fresh out of a decoder."""
    h, w = frames[0].shape[:2]
    blank = vs.core.std.BlankClip(format=vs.RGBS, width=w, height=h, length=len(frames), keep=True)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), frames[n][..., p])
        return out

    yuv = vs.core.resize.Bicubic(vs.core.std.ModifyFrame(blank, blank, fill), format=vs.YUV420P8, matrix_s="709", range_s="full")
    decoded = [yuv.get_frame(n) for n in range(len(frames))]
    # Serve the stored frames from a BlankClip (whose one frame VapourSynth caches), so the
    # conversion above is not redone on every request.
    blank = vs.core.std.BlankClip(yuv, keep=True)
    return vs.core.std.ModifyFrame(blank, blank, lambda n, f: decoded[n])


def time_opencv(method: str, a: np.ndarray, b: np.ndarray, reps: int) -> float:
    est = make_estimator(FlowSettings(method=method))
    clip = decoded_clip([a, b])
    ga, gb = (np.asarray(clip.get_frame(n)[0]).copy() for n in (0, 1))
    est(ga, gb)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        est(ga, gb)
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000


def time_vapoursynth(method: str, a: np.ndarray, b: np.ndarray, reps: int) -> float:
    fw = vsstylize.flow(decoded_clip([a, b] * (reps + 1)), "forward", method=method)
    fw.get_frame(0)
    times = []
    for n in range(1, reps + 1):
        t = time.perf_counter()
        fw.get_frame(n)
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=shared_data(), help="shared data folder (default $VSSTYLIZE_SHARED/data)")
    ap.add_argument("--methods", default="dis,dis_refined,farneback,deepflow")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="timing rounds per method; the fastest is kept")
    args = ap.parse_args()
    if args.shared is None:
        ap.error("--shared: no data folder (pass --shared or set VSSTYLIZE_SHARED)")
    photo = load_photo(args.shared)
    methods = args.methods.split(",")
    print(f"machine: {os.cpu_count()} cores, OpenCV {cv2.__version__}, {cv2.getNumThreads()} OpenCV threads, "
          f"VapourSynth R{vs.core.core_version.release_major} with {vs.core.num_threads} threads")
    print("\nAccuracy at 1024x436 (average end-point error in px, 16 px margin excluded)")
    print(f"{'method':<12} {'shift (3.5,2)':>14} {'zoom 2% + shift':>16}")
    cases = {"shift": moved_pair(photo, (1024, 436), 3.5, 2.0, 1.0), "zoom": moved_pair(photo, (1024, 436), 1.0, 0.5, 1.02)}
    for method in methods:
        est = make_estimator(FlowSettings(method=method))
        errs = [epe(est(gray8(a), gray8(b)), truth) for a, b, truth in cases.values()]
        print(f"{method:<12} {errs[0]:>14.3f} {errs[1]:>16.3f}")
    print("\nSpeed (ms per frame pair, one direction)")
    print(f"{'method':<12} {'size':>9} {'OpenCV':>9} {'vsstylize.flow':>15} {'overhead':>9}")
    for w, h in SIZES:
        a, b, _ = moved_pair(photo, (w, h), 3.5, 2.0, 1.0)
        for method in methods:
            reps = max(2, args.reps // 5) if method == "deepflow" else args.reps
            # Interleaved rounds, fastest round of each: the machine's other load hits both alike.
            raw = min(time_opencv(method, a, b, reps) for _ in range(args.rounds))
            wrapped = min(time_vapoursynth(method, a, b, reps) for _ in range(args.rounds))
            print(f"{method:<12} {w}x{h:<5} {raw:>9.1f} {wrapped:>15.1f} {100 * (wrapped / raw - 1):>8.1f}%")


if __name__ == "__main__":
    main()
