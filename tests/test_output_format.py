"""What stylize() returns: the input's format family with its colour properties (YUV in, YUV out), or
``output_format``; the methods' RGBS results stay bit-identical."""

from __future__ import annotations

import numpy as np
import pytest
import vapoursynth as vs

import vsstylize

from .conftest import DATA

pytestmark = pytest.mark.data

FLOWFREE = dict(method="flowfree", network="starry_night-flowfree")
NETWORK = dict(method="network", network="starry_night-prior")
# a random start: 4 L-BFGS iterations from the content image leave a 96x40 frame almost unchanged (issue 20)
OPTIM = dict(num_iterations=(4, 2), tol_loss_relative=0, init=("random", "prevWarped"))
COLOUR = ("_Matrix", "_Primaries", "_Transfer", "_ChromaLocation")


def _source(width: int = 96, height: int = 40, length: int = 3) -> vs.VideoNode:
    """bikes.mp4 (untagged YUV420P8) resized, still YUV420P8."""
    src = vs.core.bs.VideoSource(str(DATA / "videos" / "bikes.mp4"))[20:20 + length]
    return vs.core.resize.Bicubic(src, width, height)


def _tagged(**props: int) -> vs.VideoNode:
    return vs.core.std.SetFrameProps(_source(), **props)


def _range(props: vs.FrameProps) -> str:
    value = props["_Range"] if "_Range" in props else props["_ColorRange"]
    return "full" if value == vs.RANGE_FULL else "limited"


def _rgb(clip: vs.VideoNode, n: int) -> np.ndarray:
    rgb = clip if clip.format.id == vs.RGBS else vs.core.resize.Bicubic(clip, format=vs.RGBS)
    f = rgb.get_frame(n)
    return np.stack([np.asarray(f[p]) for p in range(3)])


@pytest.mark.parametrize("kwargs", [FLOWFREE, NETWORK, {"style": "starry_night", **OPTIM}], ids=["flowfree", "network", "optim"])
def test_yuv_in_gives_yuv_out_with_the_inputs_colour(kwargs: dict) -> None:
    src = _tagged(_Matrix=vs.MATRIX_BT709, _Primaries=vs.PRIMARIES_BT709, _Transfer=vs.TRANSFER_BT709)
    kw = dict(kwargs)
    style = kw.pop("style", None)
    out = vsstylize.stylize(src, style, **kw)
    assert (out.format.id, out.width, out.height, out.num_frames) == (vs.YUV420P8, 96, 40, 3)
    f, s = out.get_frame(1), src.get_frame(1)
    assert {k: f.props[k] for k in COLOUR} == {k: s.props[k] for k in COLOUR}
    assert _range(f.props) == "limited" and f.props["StylizeChainStart"] == (1 if kw.get("method") == "flowfree" else 0)
    # the RGBS result converted back with the input's matrix, nothing else
    rgbs = vsstylize.stylize(vs.core.resize.Bicubic(src, format=vs.RGBS), style, **kw)
    assert rgbs.format.id == vs.RGBS
    back = vs.core.resize.Bicubic(rgbs, format=vs.YUV420P8, matrix=vs.MATRIX_BT709).get_frame(1)
    for p in range(3):
        np.testing.assert_array_equal(np.asarray(f[p]), np.asarray(back[p]))
    assert float(np.abs(_rgb(out, 1) - _rgb(src, 1)).mean()) > 0.05  # stylized, not the source


def test_rgbs_results_stay_bit_identical() -> None:
    """An RGBS input's result is the method's RGBS output itself; output_format="RGBS" of a YUV input gives the
    same RGBS frames as converting the input first."""
    src = _tagged(_Matrix=vs.MATRIX_BT709)
    rgbs = vs.core.resize.Bicubic(src, format=vs.RGBS)
    direct = vsstylize.stylize(rgbs, **FLOWFREE)
    via_yuv = vsstylize.stylize(src, output_format="RGBS", **FLOWFREE)
    assert direct.format.id == via_yuv.format.id == vs.RGBS
    for n in range(3):
        np.testing.assert_array_equal(_rgb(direct, n), _rgb(via_yuv, n))


def test_unspecified_matrix_is_tagged_with_the_matrix_used() -> None:
    """bikes.mp4 says nothing about its matrix: it is read as BT.601 (SD), and the result says so; a given
    ``matrix`` is used both ways; primaries and transfer are not invented."""
    src = _source()
    assert src.get_frame(0).props["_Matrix"] == vs.MATRIX_UNSPECIFIED
    out = vsstylize.stylize(src, **FLOWFREE).get_frame(0).props
    assert (out["_Matrix"], out["_Primaries"], out["_Transfer"]) == (vs.MATRIX_ST170_M, 2, 2)
    assert vsstylize.stylize(src, matrix="709", **FLOWFREE).get_frame(0).props["_Matrix"] == vs.MATRIX_BT709
    full = vsstylize.stylize(vs.core.std.SetFrameProps(src, _Range=vs.RANGE_FULL),
                             **FLOWFREE).get_frame(0).props
    assert _range(full) == "full"


def test_rgb_gray_and_explicit_formats() -> None:
    rgbs = vs.core.resize.Bicubic(_source(), format=vs.RGBS, matrix_in_s="170m")
    rgb24 = vs.core.resize.Point(rgbs, format=vs.RGB24)
    assert vsstylize.stylize(rgb24, **FLOWFREE).format.id == vs.RGB24
    gray = vs.core.resize.Point(rgbs, format=vs.GRAY8, matrix_s="709")
    assert vsstylize.stylize(gray, **FLOWFREE).format.id == vs.RGB24  # a stylized frame has colour
    out = vsstylize.stylize(rgbs, output_format=vs.YUV444P10, **FLOWFREE)
    props = out.get_frame(0).props
    assert out.format.id == vs.YUV444P10 and props["_Matrix"] == vs.MATRIX_ST170_M and _range(props) == "limited"
    assert vsstylize.stylize(rgbs, output_format="yuv420p16", matrix=1, **FLOWFREE).get_frame(0).props["_Matrix"] == 1
    assert vsstylize.stylize(rgbs, output_format=vs.core.get_video_format(vs.RGBH), **FLOWFREE).format.id == vs.RGBH


@pytest.mark.parametrize("value", ["YUV9000", 12345, True, "COMPATBGR32"])
def test_bad_output_format_names_the_option(value: object) -> None:
    with pytest.raises(vs.Error, match=r"^vsstylize\.stylize: output_format must be a VapourSynth video format"):
        vsstylize.stylize(_source(), output_format=value, **FLOWFREE)  # type: ignore[arg-type]
