"""``vsstylize bench --quick``: this machine's seconds per frame of each method at 640x360, in under a minute.

Each measured method is timed by the probe ``vsstylize run`` prints its estimate from
(:func:`vsstylize.cli.estimate.probe`: the first two frames, the optimization with a few iterations, scaled to the
method's default iterations) on a 640x360 clip made here: the shipped ``the_scream`` style image panned across the
frame (content does not change the speed). ``hybrid`` and ``multipass`` are derived from those measurements (the
network's frame plus the hybrid's 30 iterations; passes times iterations per pass) and marked so.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .machine import machine

__all__ = ["QuickRow", "quick_bench", "quick_main"]

WIDTH, HEIGHT, FRAMES = 640, 360, 3


@dataclass(frozen=True)
class QuickRow:
    """One method's speed: ``seconds`` per later frame at 640x360, how it was obtained (``note``)."""

    method: str
    seconds: float
    note: str


def _pan_clip(path: Path) -> Path:
    """A lossless 640x360 clip of FRAMES frames: the shipped the_scream style image panned 8 px per frame."""
    import imageio_ffmpeg
    from PIL import Image

    from vsstylize.resources import shipped_styles

    with Image.open(shipped_styles()["the_scream"]) as im:
        scale = (HEIGHT + 8) / im.height
        image = np.asarray(im.convert("RGB").resize((max(WIDTH + 8 * FRAMES, round(im.width * scale)), HEIGHT + 8)))
    raw = b"".join(np.ascontiguousarray(image[4:4 + HEIGHT, 8 * n:8 * n + WIDTH]).tobytes() for n in range(FRAMES))
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                    f"{WIDTH}x{HEIGHT}", "-r", "25", "-i", "-", "-c:v", "ffv1", "-pix_fmt", "yuv444p", "-colorspace",
                    "bt709", str(path)], input=raw, check=True)
    return path


def quick_bench() -> list[QuickRow]:
    """Measure the methods on this machine (see the module); rows fastest first."""
    from vsstylize.cli.estimate import format_duration, probe
    from vsstylize.cli.run import _run_parser, build_graph, run_options
    from vsstylize.methods.hybrid import HYBRID_ITERATIONS
    from vsstylize.options import StylizeOptions

    parser = argparse.ArgumentParser(prog="vsstylize")
    _run_parser(parser.add_subparsers(dest="command"))
    rows: list[QuickRow] = []
    with tempfile.TemporaryDirectory() as folder:
        clip = _pan_clip(Path(folder) / "pan.mkv")
        measured = {}
        for method, extra in (("flowfree", ["--style", "starry_night"]),
                              ("network", ["--style", "starry_night"]),
                              ("optim", ["--style", "starry_night"])):
            args = parser.parse_args(["run", str(clip), "-o", str(Path(folder) / "x.mp4"), "--method", method,
                                      "--scenes", "none", *extra])
            _, options, _ = run_options(args)
            iterations = options.num_iterations if method == "optim" else None
            measured[method] = est = probe(args, iterations, FRAMES, lambda trial: build_graph(trial)[1])
            note = {"flowfree": "arbitrary-flowfree (the default, any painting), no flow",
                    "network": "arbitrary-prior (the default, any painting) with DIS flow"}.get(method, "")
            if est.per_iteration is not None and iterations is not None:
                note = (f"{iterations[1]} iterations at {est.per_iteration:.2f} s each (first frame {iterations[0]}: "
                        f"{format_duration(est.first_frame)}); upper bound, the tolerance stop often ends earlier")
            rows.append(QuickRow(method, est.per_frame, note))
    per_iteration = measured["optim"].per_iteration or 0.0
    rows.insert(2, QuickRow("hybrid", measured["network"].per_frame + HYBRID_ITERATIONS * per_iteration,
                            f"derived: network + {HYBRID_ITERATIONS} iterations"))
    defaults = StylizeOptions()
    passes = defaults.num_passes
    rows.append(QuickRow("multipass", passes * 100 * per_iteration,
                         f"derived: {passes} passes x 100 iterations per frame"))
    return rows


def quick_main() -> int:
    """Print the machine and the rows; returns 0."""
    from vsstylize.cli.estimate import format_duration

    t0 = time.perf_counter()
    info = machine()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"vsstylize bench --quick: {WIDTH}x{HEIGHT} on {info['cpu']}, {info['cores']} cores, GPU {info['gpu']}, "
          f"torch {info['torch']} ({info['torch threads']} threads), load average {load}")
    for row in quick_bench():
        speed = (f"{row.seconds:.2f} s/frame" if row.seconds < 10 else f"{format_duration(row.seconds)}/frame")
        print(f"  {row.method:<10} {speed:>14}   {row.note}")
    print(f"measured in {time.perf_counter() - t0:.0f} s; timings on a loaded machine are slower (load average above)")
    return 0
