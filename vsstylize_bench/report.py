"""``vsstylize bench``: run stylization settings over sequences and real clips, write a report folder.

The report follows the papers' evaluation protocol (``docs/DESIGN.md``, "Evaluation protocol"):

* generated sequences (:func:`vsstylize.train.sequences.make_sequence`) and user sequence folders
  (:func:`vsstylize.train.sequences.load_sequence`) have exact ground truth: short-term temporal error and its ratio
  to per-frame random init (Ruder et al. 2018 Tables 2/4), Huang's ``E_temporal``, long-term error for
  ``k`` in {5, 10} where the sequence is long enough;
* real clips have none: the warping error with DIS flow (``vsstylize.flow``) weighted by its
  forward-backward reliability (``vsstylize.reliability``);
* content and style loss relative to per-frame processing in percent (Ruder Table 5, baseline ``random``),
  seconds per frame and peak CPU RSS for every setting.

Output folder: ``report.md`` (command, machine, settings, tables), ``results.json`` (the numbers),
``temporal_error_<sequence>.png`` (error per frame over time, one line per method) and
``strip_<sequence>.png`` (stylized frames with their error maps, like Ruder et al. Fig. 2). Every file
is written atomically.

Python use::

    from vsstylize_bench.report import BenchConfig, run_bench
    run_bench(BenchConfig(out=Path("bench/x"), width=128, frames=4, iterations=(100, 50)))
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

from .config import BenchConfig, BenchInputError
from .machine import machine as describe_machine
from .markdown import render_report, results_json
from .measure import SequenceReport, load_dir, measure_clip, measure_sequence, open_clip
from .plots import plot_border_contrast, plot_strip, plot_temporal_error, safe_name

__all__ = ["BenchConfig", "run_bench"]


def _write_text(path: Path, text: str) -> Path:
    from vsstylize.media.cache import atomic_write

    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def run_bench(cfg: BenchConfig) -> Path:
    """Run every method on every sequence / clip of ``cfg`` and write the report folder.

    Inputs are all checked before the first (slow) stylization.

    :returns: the path of ``report.md``.
    :raises BenchInputError: bad input, naming the option.
    """
    from vsstylize.optim.vgg import load_loss_network
    from vsstylize.train.sequences import make_sequence

    if cfg.cache_dir is None:  # a cache shared by the methods of this run: identical first frames run once
        with tempfile.TemporaryDirectory(prefix="vsstylize-bench-") as tmp:
            return run_bench(replace(cfg, cache_dir=Path(tmp)))

    t_start = time.perf_counter()
    methods = cfg.method_settings()
    loaded = [load_dir(cfg, d) for d in cfg.sequence_dirs]
    for spec in cfg.clips:
        open_clip(cfg, spec)  # range / decoding checks up front
    cfg.out.mkdir(parents=True, exist_ok=True)
    weights_name = load_loss_network("vgg19").weights_name

    total = len(cfg.sequences) + len(loaded) + len(cfg.clips)
    machine = describe_machine()
    reports: list[SequenceReport] = []
    plots: dict[str, list[str]] = {}
    report_path = cfg.out / "report.md"

    def add(rep: SequenceReport) -> None:
        """Plot ``rep`` and rewrite the report with everything so far (a killed run keeps its results)."""
        reports.append(rep)
        names = [f"temporal_error_{safe_name(rep.name)}.png", f"strip_{safe_name(rep.name)}.png"]
        plot_temporal_error(rep, cfg.out / names[0])
        plot_strip(rep, cfg.out / names[1])
        if rep.border_contrast:
            names.append(f"border_contrast_{safe_name(rep.name)}.png")
            plot_border_contrast(rep, cfg.out / names[-1])
        plots[rep.name] = names
        wall = time.perf_counter() - t_start
        partial = None if len(reports) == total else (len(reports), total)
        _write_text(cfg.out / "results.json", results_json(cfg, reports, machine, wall))
        _write_text(report_path, render_report(cfg, reports, plots, machine, wall, weights_name, partial))

    for preset in cfg.sequences:
        try:
            seq = make_sequence(preset, cfg.image, num_frames=cfg.frames, size=(cfg.width, cfg.height), seed=cfg.seed,
                                photos=cfg.photos)
        except (OSError, ValueError) as exc:
            raise BenchInputError("--sequences", f"cannot make {preset!r}: {exc}") from exc
        desc = f"generated `{preset}` ({seq.metadata.get('description', '')}), background {seq.metadata.get('image')}"
        add(measure_sequence(cfg, seq, methods, desc))
    for seq in loaded:
        add(measure_sequence(cfg, seq, methods, f"sequence folder {seq.metadata.get('name', seq.name)}"))
    for spec in cfg.clips:
        add(measure_clip(cfg, spec, methods))
    return report_path
