"""Spherical images and videos (issue 7): cube-map projection, border priors, border-consistent
stylization, per-face flow of a yawing 360 video, E_gradient regions, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import vapoursynth as vs
from PIL import Image

import vsstylize
from vsstylize.media.frames import frame_to_tensor
from vsstylize.opticalflow.warping import warp
from vsstylize.spherical.borders import DEFAULT_ORDER, border_prior, combine_priors
from vsstylize.spherical.optim import CubeStylizer, SphericalSettings
from vsstylize.spherical.projection import (
    FACES,
    CubeGeometry,
    equirect_directions,
    equirect_to_faces,
    face_index_map,
    faces_to_equirect,
    strip_to_faces,
)
from vsstylize_bench.metrics import e_gradient
from vsstylize_bench.seams import (
    crossing_regions,
    cube_edge_e_gradient,
    cube_edge_regions,
    prior_edge_regions,
)
from vsstylize_bench.spherical_video import array_clip, yaw_sequence

from .conftest import DATA

PETRA = DATA / "360" / "petra_equirect.jpg"
PATTERN = DATA / "360" / "equirect_axes_pattern.png"
STYLE = DATA / "styles" / "starry_night.jpg"
FAST = {"model": "vgg16", "num_iterations": (6, 3), "tol_loss_relative": 0, "init": ("image", "prevWarped")}


def _image(path) -> np.ndarray:
    """(3, H, W) float32 RGB in [0, 1]."""
    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0)


def _frame(clip: vs.VideoNode, n: int = 0) -> torch.Tensor:
    return frame_to_tensor(clip.get_frame(n))[0]


def _smooth_sphere(height: int) -> torch.Tensor:
    """(1, 3, H, 2H): a smooth function of the viewing direction (continuous across every cube edge)."""
    v = equirect_directions(height, 2 * height).float().permute(2, 0, 1)
    return ((v + 1) / 2 * 0.8 + 0.1 + 0.05 * torch.sin(3 * v[0] + 2 * v[1]))[None]


# -- projection -------------------------------------------------------------------------------
@pytest.mark.data
def test_round_trip_petra_below_one_grey_level_away_from_poles() -> None:
    src = array_clip([_image(PETRA)])
    cube = vsstylize.equirect_to_cube(src)  # default face W / pi = 652, overlap 66
    assert (cube.width, cube.height) == (6 * (652 + 2 * 66), 652 + 2 * 66)
    assert cube.get_frame(0).props["CubeFaceSize"] == 652
    back = vsstylize.cube_to_equirect(cube, overlap=66)
    assert (back.width, back.height) == (src.width, src.height)
    err = (_frame(back) - _frame(src)).abs().mean(0)
    lat = (0.5 - (torch.arange(src.height) + 0.5) / src.height) * 180
    away = float(err[lat.abs() < 60].mean())
    assert away < 1 / 255, away
    # and a coarse face really loses detail: the test can fail
    coarse = vsstylize.cube_to_equirect(vsstylize.equirect_to_cube(src, face_size=256, overlap=8), overlap=8, height=src.height)
    assert float((_frame(coarse) - _frame(src)).abs().mean(0)[lat.abs() < 60].mean()) > 2 / 255


@pytest.mark.data
def test_face_orientation_against_axes_pattern() -> None:
    """The pattern's faces are coloured and labelled (+Z red front, +X green right, -Z blue back, -X yellow
    left, +Y magenta up, -Y cyan down; SOURCES.md: py360convert's assets): each face has its colour and
    matches py360convert's e2c face in orientation (no mirror or quarter turn fits better)."""
    py360convert = pytest.importorskip("py360convert")
    pattern = _image(PATTERN)
    faces = strip_to_faces(_frame(vsstylize.equirect_to_cube(array_clip([pattern]), face_size=128, overlap=0))[None])[0]
    colours = {"F": (1, 0, 0), "R": (0.45, 1, 0.1), "B": (0.1, 0.15, 1), "L": (1, 1, 0), "U": (0.85, 0.25, 1), "D": (0.1, 1, 1)}
    ref = py360convert.e2c(pattern.transpose(1, 2, 0), face_w=128, mode="bilinear", cube_format="list")
    for k, name in enumerate(FACES):
        corner = faces[k, :, 6:30, 6:30].reshape(3, -1).median(1).values  # away from the white label
        assert torch.allclose(corner, torch.tensor(colours[name], dtype=torch.float32), atol=0.12), (name, corner)
        theirs = torch.from_numpy(np.ascontiguousarray(ref[k].transpose(2, 0, 1)))
        variants = {"same": theirs, "mirrored": theirs.flip(-1), "upside down": theirs.flip(-2),
                    "quarter turn": theirs.rot90(1, (1, 2)), "three quarters": theirs.rot90(3, (1, 2)),
                    "transposed": theirs.transpose(1, 2)}
        errors = {v: float((faces[k] - img).abs().mean()) for v, img in variants.items()}
        assert min(errors, key=errors.get) == "same", (name, errors)
        assert errors["same"] < 0.02, (name, errors)


def test_overlap_margin_extends_the_face_into_its_neighbours() -> None:
    img = _smooth_sphere(128)
    g0, g8 = CubeGeometry(64, 0), CubeGeometry(64, 8)
    inner = equirect_to_faces(img, g0, "bilinear")
    extended = equirect_to_faces(img, g8, "bilinear")
    assert extended.shape == (1, 6, 3, 80, 80)
    assert float((extended[..., 8:72, 8:72] - inner).abs().max()) < 1e-5
    # stitching ignores the margins: a garbage margin does not change the equirectangular image
    spoiled = extended.clone()
    spoiled[..., :5, :] = 0.5  # (bicubic reads 2 px past the inner face)
    assert torch.equal(faces_to_equirect(spoiled, g8, 64), faces_to_equirect(extended, g8, 64))


def test_border_prior_reprojects_neighbours_exactly() -> None:
    g = CubeGeometry(48, 6)
    faces = equirect_to_faces(_smooth_sphere(256), g, "bilinear")[0]
    for i, k in enumerate(DEFAULT_ORDER):
        prior, mask = border_prior(faces, DEFAULT_ORDER[:i], k, g)
        covered = mask[0, 0] > 0
        if i == 0:
            assert not covered.any()
            continue
        # the margin (6 px) plus the neighbour's foreshortened margin (24 (1 - 1 / 1.25) = 4.8 px) along
        # every edge shared with an earlier face
        shared = {1: 1, 2: 1, 3: 2, 4: 2, 5: 2}[i]  # edges crossed by the middle rows
        assert abs(int(covered[24:36].sum()) - shared * 10.8 * 12) < shared * 12 * 1.5, (FACES[k], int(covered.sum()))
        assert float((prior[0] - faces[k]).abs().amax(0)[covered].max()) < 2e-3, FACES[k]
        assert float(prior[0][:, ~covered].abs().max()) == 0.0
    # a face stylized differently would not fit: the check above can fail
    prior, mask = border_prior(faces.flip(-1), [0], 1, g)
    assert float((prior[0] - faces[1]).abs().amax(0)[mask[0, 0] > 0].mean()) > 0.05


def test_feathered_mask_ramps_to_zero_at_the_inner_edge() -> None:
    g = CubeGeometry(48, 6)
    faces = torch.rand(6, 3, 60, 60)
    _, hard = border_prior(faces, [0], 1, g)
    _, soft = border_prior(faces, [0], 1, g, feather=4)
    row = soft[0, 0, 30]  # F is left of R: the prior band runs from column 0 to ~10
    assert float(row[0]) == 1.0 and bool((row[1:] <= row[:-1]).all())
    ramp = ((row > 0) & (row < 1)).nonzero().flatten()
    assert 3 <= len(ramp) <= 5 and int(ramp.max()) == int((hard[0, 0, 30] > 0).nonzero().max())
    assert torch.equal(soft > 0, hard > 0)


def test_combine_priors_border_first() -> None:
    border = (torch.full((1, 3, 4, 4), 0.2), torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 1, 1, 4).expand(1, 1, 4, 4))
    warped = (torch.full((1, 3, 4, 4), 0.8), torch.full((1, 1, 4, 4), 0.5))
    prior, mask = combine_priors([border, warped])
    assert torch.allclose(prior[0, 0, 0], torch.tensor([0.2, 0.2, 0.8, 0.8]))
    assert torch.allclose(mask[0, 0, 0], torch.tensor([1.0, 1.0, 0.5, 0.5]))


def test_rotation_flow_is_exact_for_a_yaw() -> None:
    g = CubeGeometry(48, 6)
    seq = yaw_sequence(_smooth_sphere(96)[0].numpy(), 2, 5, g)
    before, after = (equirect_to_faces(torch.from_numpy(f)[None], g, "bilinear")[0] for f in seq.frames)
    warped = warp(before, seq.face_flow)
    valid = seq.face_valid[:, 0] > 0
    assert 0.7 < float(valid.float().mean()) < 1.0
    assert float((warped - after).abs().amax(1)[valid].max()) < 0.01
    assert float((before - after).abs().amax(1)[valid].mean()) > 0.01  # it did move
    # the top face turns about its centre, the side faces shift sideways
    assert float(seq.face_flow[4, :, 30, 30].abs().max()) < 0.1
    assert float(seq.face_flow[0, 0, 30, 30]) == pytest.approx(-24 * math.tan(2 * math.pi * 5 / 192), rel=0.05)


# -- E_gradient regions -----------------------------------------------------------------------
def test_cube_edge_regions_catch_a_seam() -> None:
    h = 64
    region_x, _region_y = cube_edge_regions(h)
    owner = face_index_map(h, 2 * h)
    assert bool((owner[:, 1:] != owner[:, :-1])[region_x[:, :-1]].all())
    smooth = _smooth_sphere(h)[0]
    seamed = smooth + 0.2 * (owner % 2).float()[None]  # faces with a jump at every cube edge
    assert cube_edge_e_gradient(smooth) < 1.3
    assert cube_edge_e_gradient(seamed) > 3.0
    wide = crossing_regions(owner, 4)[0]
    assert int(wide.sum()) > 2 * int(region_x.sum())
    assert e_gradient(seamed, *cube_edge_regions(h, 4)) < cube_edge_e_gradient(seamed)


def test_prior_edge_regions_follow_the_mask() -> None:
    g = CubeGeometry(48, 6)
    regions = prior_edge_regions(g)
    assert regions[0] is None
    region_x, _ = regions[1]  # R: prior from F along its left edge, ends ~10.8 px in
    cols = region_x[12:48].any(0).nonzero().flatten().tolist()
    assert cols == [8, 9, 10], cols  # covered 0..9: gradients 8->9, 9->10, 10->11


# -- stylization --------------------------------------------------------------------------------
def _tiny_equirect() -> np.ndarray:
    img = torch.from_numpy(_image(PETRA))[None]
    return torch.nn.functional.interpolate(img, size=(40, 80), mode="bilinear", antialias=True)[0].numpy()


@pytest.mark.data
def test_border_consistent_faces_agree_with_their_neighbours() -> None:
    clip = array_clip([_tiny_equirect()])
    g = CubeGeometry(24, 4)
    kw = dict(face_size=24, overlap=4, cube_output=True, **FAST)
    together = strip_to_faces(_frame(vsstylize.stylize(clip, str(STYLE), projection="equirect", **kw))[None])[0]
    apart = strip_to_faces(_frame(vsstylize.stylize(clip, str(STYLE), projection="equirect", border_consistency=False,
                                                    **kw))[None])[0]

    def mismatch(faces: torch.Tensor) -> float:
        errs = []
        for i, k in enumerate(DEFAULT_ORDER[1:], 1):
            prior, mask = border_prior(faces, DEFAULT_ORDER[:i], k, g)
            errs.append(float(((prior[0] - faces[k]).abs().mean(0) * mask[0, 0]).sum() / mask.sum()))
        return float(np.mean(errs))

    assert mismatch(together) < 0.5 * mismatch(apart), (mismatch(together), mismatch(apart))
    out = vsstylize.stylize(clip, str(STYLE), projection="equirect", face_size=24, overlap=4, **FAST)
    assert (out.width, out.height, out.format.id) == (80, 40, vs.RGBS)


class _RecordingOptimizer:
    """Stands in for FrameOptimizer: records each face's call and returns its init."""

    def __init__(self) -> None:
        self.calls: list[tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]], int]] = []

    def __call__(self, n, content, init, temporal, iterations, fresh_start=None):
        self.calls.append((init, list(temporal), iterations))
        return init


def test_cube_stylizer_passes_border_and_warped_frame_as_temporal_terms() -> None:
    g = CubeGeometry(24, 4)
    content = equirect_to_faces(_smooth_sphere(64), g, "bilinear")[0]
    rec = _RecordingOptimizer()
    kw = {"init": ("image", "prevWarped"), "num_iterations": (7, 3)}
    out = CubeStylizer(rec, SphericalSettings(g, border_feather=2.0, border_blend=False), **kw)(0, content, first=True)
    assert [len(t) for _, t, _ in rec.calls] == [0, 1, 1, 1, 1, 1] and rec.calls[0][2] == 7
    assert torch.allclose(out, content, atol=2e-3)  # init "image" with the (reprojected) prior of unchanged neighbours pasted in
    # frame 2 of a video: warped previous faces with reliability 1 everywhere; the border comes first
    rec.calls.clear()
    warped, ones = torch.rand(6, 3, 32, 32), torch.ones(6, 1, 32, 32)
    CubeStylizer(rec, SphericalSettings(g), **kw)(2, content, first=False, previous=warped, temporal=[(warped, ones)])
    init, terms, iterations = rec.calls[1]  # face R: F's border, then the warped frame
    assert iterations == 3 and len(terms) == 2
    (prior, mask), (w, c) = terms
    assert torch.equal(w, warped[1:2]) and torch.allclose(mask + c, torch.ones_like(c))
    assert 0.1 < float(mask.mean()) < 0.3
    inside = mask[0, 0] == 1
    assert torch.allclose(init[0][:, inside], prior[0][:, inside], atol=1e-6)  # prevWarped init with the prior pasted
    assert torch.equal(init[0][:, mask[0, 0] == 0], warped[1][:, mask[0, 0] == 0])
    # without border consistency only the warped frame constrains the face
    rec.calls.clear()
    CubeStylizer(rec, SphericalSettings(g, border_consistency=False), **kw)(2, content, first=False, previous=warped,
                                                                            temporal=[(warped, ones)])
    assert all(len(t) == 1 and torch.equal(t[0][1], ones[:1]) for _, t, _ in rec.calls)


@pytest.mark.data
def test_spherical_video_uses_per_face_flow() -> None:
    g = CubeGeometry(24, 4)
    seq = yaw_sequence(_tiny_equirect(), 3, 2, g)
    flows, weights = seq.flow_clips()
    kw = dict(face_size=24, overlap=4, cube_output=True, **FAST)
    chained = vsstylize.stylize(seq.clip(), str(STYLE), projection="equirect", flows=flows, reliability=weights, **kw)
    apart = vsstylize.stylize(seq.clip(), str(STYLE), projection="equirect", temporal_consistency=False, **kw)

    def temporal_error(clip: vs.VideoNode) -> float:
        faces = [strip_to_faces(_frame(clip, n)[None])[0] for n in range(3)]
        valid = seq.face_valid[:, 0] > 0
        return float(np.mean([float((warp(faces[n - 1], seq.face_flow) - faces[n]).pow(2).mean(1)[valid].mean())
                              for n in (1, 2)]))

    assert chained.get_frame(2).props["StylizeChainStart"] == 0
    assert temporal_error(chained) < 0.5 * temporal_error(apart)


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.data
def test_bad_input_errors() -> None:
    core = vs.core
    square = core.std.BlankClip(format=vs.RGBS, width=64, height=64, length=1)
    with pytest.raises(vs.Error, match=r"vsstylize.equirect_to_cube: clip must be equirectangular"):
        vsstylize.equirect_to_cube(square)
    with pytest.raises(vs.Error, match=r"vsstylize.stylize: clip must be equirectangular"):
        vsstylize.stylize(square, str(STYLE), projection="equirect")
    odd = core.std.BlankClip(format=vs.RGBS, width=66, height=33, length=1)
    with pytest.raises(vs.Error, match=r"clip must have an even height"):
        vsstylize.equirect_to_cube(odd)
    equi = core.std.BlankClip(format=vs.RGBS, width=128, height=64, length=1)
    with pytest.raises(vs.Error, match=r"overlap must be smaller than half a face \(16 pixels"):
        vsstylize.equirect_to_cube(equi, face_size=32, overlap=16)
    with pytest.raises(vs.Error, match=r"face_size must be an even integer"):
        vsstylize.equirect_to_cube(equi, face_size=33)
    with pytest.raises(vs.Error, match=r"overlap must be an integer >= 0"):
        vsstylize.equirect_to_cube(equi, face_size=32, overlap=-1)
    with pytest.raises(vs.Error, match=r"interpolation must be one of"):
        vsstylize.equirect_to_cube(equi, interpolation="lanczos")
    with pytest.raises(vs.Error, match=r"vsstylize.cube_to_equirect: cube must be a strip of six square faces"):
        vsstylize.cube_to_equirect(equi, overlap=0)
    cube = vsstylize.equirect_to_cube(equi, face_size=32, overlap=4)
    with pytest.raises(vs.Error, match=r"overlap must be smaller than half a face"):
        vsstylize.cube_to_equirect(cube, overlap=10)
    with pytest.raises(vs.Error, match=r"height must be an even integer"):
        vsstylize.cube_to_equirect(cube, overlap=4, height=63)
    with pytest.raises(vs.Error, match=r"CubeOverlap 4 but overlap=2"):
        vsstylize.cube_to_equirect(cube, overlap=2).get_frame(0)
    with pytest.raises(TypeError, match=r"num_iteration"):
        vsstylize.stylize(equi, str(STYLE), projection="equirect", num_iteration=5)  # type: ignore[call-arg]
    with pytest.raises(vs.Error, match=r"border_consistency needs temporal_weight > 0"):
        vsstylize.stylize(equi, str(STYLE), projection="equirect", temporal_weight=0)
    with pytest.raises(vs.Error, match=r"border_feather must be"):
        vsstylize.stylize(equi, str(STYLE), projection="equirect", face_size=32, overlap=4, border_feather=9)
    with pytest.raises(vs.Error, match=r"cube_output must be True or False"):
        vsstylize.stylize(equi, str(STYLE), projection="equirect", cube_output="dice")  # type: ignore[arg-type]
    with pytest.raises(vs.Error, match=r"vsstylize.stylize: num_iterations must be >= 1"):
        vsstylize.stylize(equi, str(STYLE), projection="equirect", face_size=32, overlap=4, num_iterations=0)


@pytest.mark.data
def test_run_projection_equirect_builds_a_spherical_graph(tmp_path) -> None:
    import argparse

    from vsstylize.cli.run import RunError, _run_parser, build_graph

    parser = argparse.ArgumentParser()
    _run_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["run", str(DATA / "videos" / "bikes.mp4"), "--style", str(STYLE), "-o", str(tmp_path / "o.mp4"),
                              "--width", "96", "--frames", "0:2", "--projection", "equirect", "--face-size", "24",
                              "--overlap", "4", "--iterations", "12,2", "--init", "image,prevWarped", "--matrix", "170m"])
    rgb, out = build_graph(args)
    assert (rgb.width, rgb.height) == (96, 48) and (out.width, out.height) == (96, 48)  # 2:1, even height
    assert out.format.id == vs.YUV420P8  # the encoder's format, tagged with the source's matrix
    out = vs.core.resize.Bicubic(out, format=vs.RGBS)
    assert float((_frame(out) - _frame(rgb)).abs().mean()) > 0.03  # stylized
    with pytest.raises(RunError, match="--method network with --projection equirect does not use --iterations"):
        build_graph(argparse.Namespace(**{**vars(args), "method": "network"}))
    args.method, args.network = "network", "starry_night-prior-cube"
    args.style = args.num_iterations = args.init = None
    rgb, out = build_graph(args)  # the prior-image network per cube face with border priors
    out = vs.core.resize.Bicubic(out, format=vs.RGBS)
    assert (out.width, out.height) == (96, 48) and float((_frame(out) - _frame(rgb)).abs().mean()) > 0.03
    args.method = "multipass"
    with pytest.raises(RunError, match="--method multipass does not work with --projection equirect; it takes "
                                       "network, optim"):
        build_graph(args)


def test_face_plane_cut_measure_sees_seams_not_scale() -> None:
    from vsstylize_bench.seams import face_cut_e_gradient, stitched_face_views

    g = CubeGeometry(32, 4)
    faces = equirect_to_faces(_smooth_sphere(128), g, "bilinear")[0]
    views = stitched_face_views(faces, g)
    assert float((views - faces).abs().max()) < 2e-3  # a continuous sphere looks the same through every face
    seamed = faces + 0.2 * (torch.arange(6) % 2).float().view(6, 1, 1, 1)
    assert face_cut_e_gradient(faces, g) < 1.3
    assert face_cut_e_gradient(seamed, g) > 3.0
