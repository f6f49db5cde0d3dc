"""Peak memory of long renders: long-term consistency (J = {1, 10, 20, 40}) and multi-pass, 100 vs 600 frames.

Memory must not grow with the clip: ``stylize`` keeps ``max(J) + 2`` stylized frames, ``multipass`` one
chunk of ``max_shot_length`` frames. Each configuration renders in a fresh process (so one peak does not
hide another) a generated ``fast_pan`` sequence (real photo, exact motion) at a small size with few
iterations (memory, not quality, is measured) and prints the peak resident set size of that process.

Usage: ``python -m vsstylize_bench memory [--size 64x48] [--lengths 100,600]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _child(kind: str, frames: int, size: str) -> None:
    import warnings

    import vapoursynth as vs

    import vsstylize
    from vsstylize.train.sequences import make_sequence
    from vsstylize_bench.sources import default_photos

    warnings.filterwarnings("ignore", category=UserWarning)
    w, h = (int(v) for v in size.split("x"))
    seq = make_sequence("fast_pan", num_frames=frames, size=(w, h), seed=0, long_steps=(), photos=default_photos())
    clip = seq.to_clips(vs.core).frames
    style = "starry_night"
    if kind == "longterm":
        out = vsstylize.stylize(clip, style, num_iterations=(2, 1), init=("image", "prevWarped"),
                                flow_relative_indices=(1, 10, 20, 40), tol_loss_relative=0)
    else:
        out = vsstylize.stylize(clip, style, "multipass", num_passes=2, use_temporal_loss_after=2, num_iterations=1,
                                init="image", max_shot_length=50, tol_loss_relative=0)
    del seq
    t0 = time.perf_counter()
    for n in range(out.num_frames):
        out.get_frame(n)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    print(json.dumps({"kind": kind, "frames": frames, "peak_rss_mib": peak, "seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="64x48")
    parser.add_argument("--lengths", default="100,600")
    parser.add_argument("--kinds", default="longterm,multipass")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), args.child[2])
        return
    lengths = [int(v) for v in args.lengths.split(",")]
    print(f"size {args.size}; peak RSS of a fresh process per run")
    for kind in args.kinds.split(","):
        peaks = []
        for frames in lengths:
            res = subprocess.run([sys.executable, __file__, "--child", kind, str(frames), args.size],
                                 capture_output=True, text=True, check=True)
            row = json.loads(res.stdout.strip().splitlines()[-1])
            peaks.append(row["peak_rss_mib"])
            print(f"{kind:10s} {frames:5d} frames: peak RSS {row['peak_rss_mib']:7.1f} MiB, {row['seconds']:6.1f} s",
                  flush=True)
        print(f"{kind:10s} growth {lengths[0]} -> {lengths[-1]} frames: {100 * (peaks[-1] / peaks[0] - 1):+.1f} % "
              "(target < 25 %)", flush=True)


if __name__ == "__main__":
    main()
