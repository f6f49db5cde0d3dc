"""Bounded chains (max_chain_length, chain_warmup): restarts at multiples of K from a discarded warm-up, so a
unit depends on its own frames and the W frames before it only, whatever the request order."""

from __future__ import annotations

import random

import numpy as np
import pytest
import vapoursynth as vs

import vsstylize

from .conftest import clip_from_arrays, three_shots

pytestmark = pytest.mark.data
NET = {"method": "network", "network": "starry_night-prior"}


def _frames(clip: vs.VideoNode, order: list[int] | None = None) -> np.ndarray:
    order = order if order is not None else list(range(clip.num_frames))
    got = {n: np.stack([np.asarray(clip.get_frame(n)[p]) for p in range(3)]) for n in order}
    return np.stack([got[n] for n in sorted(got)])


def _arrays(clip: vs.VideoNode) -> list[np.ndarray]:
    return [np.stack([np.asarray(f[p]) for p in range(3)], axis=-1).copy() for f in clip.frames()]


def test_restarts_from_a_warm_up_and_units_are_independent() -> None:
    clip, _ = three_shots(64, 48, (14, 2, 2))
    clip = clip[:14]
    unbounded = _frames(vsstylize.stylize(clip, **NET))
    bounded_clip = vsstylize.stylize(clip, max_chain_length=6, chain_warmup=2, **NET)
    bounded = _frames(bounded_clip)
    assert np.array_equal(bounded[:6], unbounded[:6])  # the first chain runs as before
    assert np.abs(bounded[6:] - unbounded[6:]).max() > 1e-2  # frame 6 continues from the warm-up 4, 5
    starts = [int(f.props["StylizeChainStart"]) for f in bounded_clip.frames()]
    assert starts == [0] * 6 + [4] * 6 + [10] * 2
    order = list(range(14))
    random.Random(3).shuffle(order)
    assert np.array_equal(_frames(vsstylize.stylize(clip, max_chain_length=6, chain_warmup=2, **NET), order), bounded)
    # frames [6, 12) depend on frames 4.. only: change frames 0-3 and they stay the same
    arrays = _arrays(clip)
    changed = [a[::-1].copy() if n < 4 else a for n, a in enumerate(arrays)]
    other = _frames(vsstylize.stylize(clip_from_arrays(changed), max_chain_length=6, chain_warmup=2, **NET))
    assert np.abs(other[:4] - bounded[:4]).max() > 1e-2
    assert np.array_equal(other[6:], bounded[6:])


def test_no_warm_up_is_a_hard_restart(tmp_path) -> None:
    clip, _ = three_shots(64, 48, (9, 2, 2))
    out = vsstylize.stylize(clip[:9], max_chain_length=4, chain_warmup=0, cache_dir=tmp_path, **NET)
    assert [int(f.props["StylizeChainStart"]) for f in out.frames()] == [0] * 4 + [4] * 4 + [8]
    again = vsstylize.stylize(clip[:9], max_chain_length=4, chain_warmup=0, **NET)
    assert np.array_equal(_frames(out), _frames(again))  # with or without the cache


def test_bad_bounds() -> None:
    clip = vs.core.std.BlankClip(format=vs.RGBS, width=32, height=32, length=4)
    with pytest.raises(vs.Error, match="max_chain_length must be an integer >= 2"):
        vsstylize.stylize(clip, max_chain_length=1, **NET)
    with pytest.raises(vs.Error, match=r"chain_warmup must lie in \[0, max_chain_length\], got 9"):
        vsstylize.stylize(clip, max_chain_length=4, chain_warmup=9, **NET)
    with pytest.raises(vs.Error, match="does not use max_chain_length"):
        vsstylize.stylize(clip, method="flowfree", network="starry_night-flowfree", max_chain_length=4)
