"""Benchmarks with ground truth: synthetic sequences from real photos (:mod:`.sequences`).

The metrics computed on them live in :mod:`vsstylize.metrics`.
"""

from __future__ import annotations

from .sequences import (
    LONG_TERM_STEPS,
    PRESETS,
    Sequence,
    SequenceClips,
    default_sources,
    load_image,
    load_sequence,
    make_sequence,
)

__all__ = [
    "LONG_TERM_STEPS",
    "PRESETS",
    "Sequence",
    "SequenceClips",
    "default_sources",
    "load_image",
    "load_sequence",
    "make_sequence",
]
