"""Scene cuts (vsstylize.scenes): detection with FFmpeg's scdet on real shots cut together, cut files, and the
chains restarting at the cuts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import vsstylize
from vsstylize.media.shots import detect_cuts, read_cuts

from .conftest import DATA, three_shots

pytestmark = pytest.mark.data


def test_detects_the_two_cuts_of_three_real_shots() -> None:
    clip, cuts = three_shots(176, 144, (60, 60, 5))
    assert detect_cuts(clip) == cuts == [60, 120]  # no false cut inside the shots (camera motion, zoom)


def test_bikes_cuts() -> None:
    """bikes.mp4 is itself a montage of six shots: scdet finds five cuts, the same frames as PySceneDetect's
    content and adaptive detectors (bench/scale-out/README.md)."""
    src = vs.core.bs.VideoSource(str(DATA / "videos" / "bikes.mp4"))
    assert detect_cuts(src) == [30, 76, 137, 187, 242]


def test_scenes_marks_props_and_chains_restart() -> None:
    clip, cuts = three_shots(48, 32, (4, 3, 2))
    marked = vsstylize.scenes(clip)
    props = [dict(f.props) for f in marked.frames()]
    assert [n for n, p in enumerate(props) if p["_SceneChangePrev"]] == cuts
    assert [n + 1 for n, p in enumerate(props) if p["_SceneChangeNext"]] == cuts
    out = vsstylize.stylize(marked, method="network", network="starry_night-prior")
    starts = [int(f.props["StylizeChainStart"]) for f in out.frames()]
    assert starts == [0] * 4 + [4] * 3 + [7] * 2


def test_cut_files(tmp_path: Path) -> None:
    plain = tmp_path / "cuts.txt"
    plain.write_text("# first frames of shots\n30, 76\n137\n")
    assert read_cuts(plain, 250) == [30, 76, 137]
    # PySceneDetect's list-scenes CSV: 1-based start frames
    csv = tmp_path / "scenes.csv"
    csv.write_text("Timecode List:,00:00:01.200\n"
                   "Scene Number,Start Frame,Start Timecode,Start Time (seconds),End Frame,End Timecode\n"
                   "1,1,00:00:00.000,0.000,30,00:00:01.200\n2,31,00:00:01.200,1.200,76,00:00:03.040\n"
                   "3,77,00:00:03.040,3.040,250,00:00:10.000\n")
    assert read_cuts(csv, 250) == [30, 76]
    clip = vs.core.std.BlankClip(format=vs.RGBS, width=16, height=16, length=250)
    assert [n for n, f in enumerate(vsstylize.scenes(clip, csv).frames()) if f.props["_SceneChangePrev"]] == [30, 76]


def test_bad_cuts_are_one_clear_error(tmp_path: Path) -> None:
    clip = vs.core.std.BlankClip(format=vs.RGBS, width=16, height=16, length=100)
    far = tmp_path / "far.txt"
    far.write_text("40\n250\n")
    with pytest.raises(vs.Error, match=r"vsstylize.scenes: cut file '.*far.txt': frame 250 is out of range for a "
                                       r"clip of 100 frames"):
        vsstylize.scenes(clip, far)
    words = tmp_path / "words.txt"
    words.write_text("40 forty\n")
    with pytest.raises(vs.Error, match="'forty' is not a frame number"):
        vsstylize.scenes(clip, words)
    with pytest.raises(vs.Error, match="cannot read it"):
        vsstylize.scenes(clip, tmp_path / "missing.txt")
    with pytest.raises(vs.Error, match="frame -3 is out of range"):
        vsstylize.scenes(clip, [10, -3])
    assert np.all(np.asarray(vsstylize.scenes(clip, []).get_frame(0)[0]) == 0)
