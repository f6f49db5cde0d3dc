"""How long ``vsstylize run`` takes to stop after SIGINT / SIGTERM (issue 29: "stop within 2 s of the current step").

For each method a real render of ``bikes.mp4`` is started as its own process, the signal is sent once a given
number of stylized frames is in the cache (or, for ``optim``, a few seconds into a frame, so the L-BFGS loop is
running), and the wall time from the signal to the process's exit is measured, with the exit status and the last
line it printed. Runs are repeated; medians and maxima are printed with the machine and the load average.

    python -m vsstylize_bench interrupt [--reps 3] [--json bench/interrupt/latency.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vsstylize_bench.machine import machine
from vsstylize_bench.sources import shared_file

CASES: dict[str, list[str]] = {
    "flowfree (arbitrary), 640x360": ["--method", "flowfree", "--network", "arbitrary", "--style",
                                     "starry_night", "--width", "640"],
    "network (starry_night-prior), 640x360": ["--method", "network", "--network", "starry_night-prior",
                                              "--width", "640"],
    "optim, 320 px wide": ["--method", "optim", "--style", "starry_night", "--width", "320",
                           "--iterations", "200,100", "--scenes", "none"],
}


def _entries(cache: Path) -> int:
    return len(list((cache / "stylize").rglob("*.png")))


def _load() -> str:
    return "load " + "/".join(f"{x:.1f}" for x in os.getloadavg())


def one(clip: str, options: list[str], sig: int, after_frames: int, after_s: float) -> dict[str, object]:
    """One render stopped by ``sig``: seconds from the signal to the exit, exit status, last line."""
    with tempfile.TemporaryDirectory() as tmp:
        cache, out = Path(tmp) / "cache", Path(tmp) / "out.mp4"
        cmd = [sys.executable, "-m", "vsstylize", "run", clip, "-o", str(out), "--cache", str(cache),
               "--no-estimate", "--no-audio", *options]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        start = time.monotonic()
        while proc.poll() is None and _entries(cache) < after_frames and time.monotonic() - start < 600:
            time.sleep(0.02)
        first = time.monotonic()
        while proc.poll() is None and time.monotonic() - first < after_s:
            time.sleep(0.02)
        if proc.poll() is not None:
            raise SystemExit(f"{options}: the render ended before the signal ({proc.returncode})")
        sent = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
        seconds = time.monotonic() - sent
        lines = [x for x in err.replace("\r", "\n").splitlines() if x.strip()]
        left = sorted(p.name for p in Path(tmp).iterdir() if p.name != "cache")
        return {"seconds": seconds, "status": proc.returncode, "last_line": lines[-1] if lines else "",
                "traceback": "Traceback" in err, "files_left": left}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", default=shared_file("videos/bikes.mp4"))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    info = machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in info.items()) + f"; {_load()}", flush=True)
    report: dict[str, object] = {"machine": info}
    for name, options in CASES.items():
        optim = "optim" in options
        for sig in (signal.SIGINT, signal.SIGTERM):
            runs = [one(args.clip, options, sig, after_frames=0 if optim else 3, after_s=8.0 if optim else 0.0)
                    for _ in range(args.reps)]
            secs = [float(r["seconds"]) for r in runs]  # type: ignore[arg-type]
            label = f"{name}, {signal.Signals(sig).name}"
            print(f"{label:50s} stop after {statistics.median(secs):.2f} s median, {max(secs):.2f} s max; status "
                  f"{sorted({r['status'] for r in runs})}; traceback {any(r['traceback'] for r in runs)}; files "
                  f"left {[r['files_left'] for r in runs if r['files_left']]}; last line: {runs[-1]['last_line']!r}"
                  f"  [{_load()}]", flush=True)
            report[label] = runs
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
