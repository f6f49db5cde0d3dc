"""What a previewer (vspreview) asks of a stylize script, without the previewer: the script's several outputs, frames
requested in any order (seek to 50, back to 10, on to 30), switching outputs, each output's format and colour
properties. The previewer itself is driven by scripts/vspreview_check.py (README, "Previewing with vspreview")."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from .conftest import DATA

pytestmark = pytest.mark.data

#: The README's script.vpy at a quarter of its size.
SCRIPT = """
import vapoursynth as vs
import vsstylize

core = vs.core
src = core.resize.Bicubic(core.bs.VideoSource("bikes.mp4"), 160, 68)
src = core.std.SetFrameProps(src, _Matrix=vs.MATRIX_ST170_M, _Primaries=vs.PRIMARIES_ST170_M,
                             _Transfer=vs.TRANSFER_BT601)
out = vsstylize.stylize(src, method="network", network="starry_night-prior")
out.set_output(0)
src.set_output(1)
"""


def _outputs(folder: Path) -> dict[int, vs.VideoNode]:
    """Evaluate the script as vspipe and previewers do (its folder as the working directory) and take its outputs."""
    cwd = Path.cwd()
    try:
        os.chdir(folder)
        vs.clear_outputs()
        runpy.run_path("script.vpy")
        return {i: (o.clip if isinstance(o, vs.VideoOutputTuple) else o) for i, o in vs.get_outputs().items()}
    finally:
        vs.clear_outputs()
        os.chdir(cwd)


def _planes(frame: vs.VideoFrame) -> list[np.ndarray]:
    return [np.asarray(frame[p]).copy() for p in range(frame.format.num_planes)]


@pytest.mark.slow
def test_previewer_seeks_and_switches_outputs(tmp_path: Path) -> None:
    (tmp_path / "script.vpy").write_text(SCRIPT)
    (tmp_path / "bikes.mp4").symlink_to(DATA / "videos" / "bikes.mp4")
    in_order = _outputs(tmp_path)
    reference = {n: _planes(f) for n, f in enumerate(in_order[0][:51].frames())}

    outputs = _outputs(tmp_path)  # a fresh graph, as a previewer opening the script
    assert sorted(outputs) == [0, 1]
    for clip in outputs.values():  # what the previewer reads to show and convert the outputs
        assert (clip.format.id, clip.width, clip.height, clip.num_frames) == (vs.YUV420P8, 160, 68, 250)
        assert (clip.fps_num, clip.fps_den) == (25, 1)
    seen = {}
    for output, n in [(0, 50), (0, 10), (0, 30), (1, 30), (0, 30), (1, 50), (0, 49)]:
        frame = outputs[output].get_frame(n)
        props = frame.props
        assert (props["_Matrix"], props["_Primaries"], props["_Transfer"]) == (6, 6, 6)
        seen[output, n] = _planes(frame)
    for (output, n), planes in seen.items():
        expected = reference[n] if output == 0 else _planes(outputs[1].get_frame(n))
        for got, ref in zip(planes, expected):
            np.testing.assert_array_equal(got, ref, err_msg=f"output {output}, frame {n}")
    assert float(np.abs(seen[0, 30][0].astype(int) - seen[1, 30][0]).mean()) > 10  # stylized vs source
