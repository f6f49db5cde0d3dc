"""stylize(method="network", projection="equirect"): the prior-image network stylizes the cube faces in order, each with the
border prior of the faces before it (Ruder et al. 2018 sec. 6.1), for video combined with the warped previous
face (sec. 6.3); feathered blend; errors. A tiny random network (the machinery, not quality)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

import vsstylize
from vsstylize.media.compact import round_frame
from vsstylize.media.frames import frame_to_tensor
from vsstylize.networks.inference import apply_network
from vsstylize.networks.io import save_network
from vsstylize.networks.models import ARCHITECTURES, StylizationNetwork
from vsstylize.opticalflow.warping import warp
from vsstylize.spherical.borders import DEFAULT_ORDER, border_prior, combine_priors
from vsstylize.spherical.projection import (
    CubeGeometry,
    equirect_directions,
    strip_to_faces,
)
from vsstylize_bench.spherical_video import array_clip, yaw_sequence

from .conftest import DATA

GEOM = CubeGeometry(16, 4)
KW = {"face_size": 16, "overlap": 4, "cube_output": True}


@pytest.fixture(scope="module")
def net_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    net = StylizationNetwork(ARCHITECTURES["ruder-prior-48"]).eval()
    return save_network(tmp_path_factory.mktemp("net") / "tiny-prior", net, {"kind": "prior"})


def _equirect(height: int = 26) -> np.ndarray:
    """(3, H, 2H) float32: smooth colours plus a texture, a function of the viewing direction."""
    v = equirect_directions(height, 2 * height).float().permute(2, 0, 1)
    return ((v + 1) / 2 * 0.7 + 0.1 + 0.1 * torch.sin(9 * v[0] + 7 * v[1] + 5 * v[2])).clamp(0, 1).numpy()


def _assert_rounded_close(actual: torch.Tensor, expected: torch.Tensor, msg: str = "", exact: bool = True) -> None:
    """``actual``: the filter's output, rounded to 8 bits like every chained result (:func:`round_frame`);
    ``expected``: computed here in float from the same inputs: equal after rounding but for flips near a rounding
    tie (one level). ``exact=False``: the inputs here may be half a level off (a prior taken from the rounded
    output), so one level apart at most."""
    target = round_frame(expected)
    torch.testing.assert_close(actual, target, atol=1 / 255 + 1e-5, rtol=0, msg=msg)
    if exact:
        assert float((actual != target).float().mean()) < 0.01, msg


def _faces(clip: vs.VideoNode, n: int = 0) -> torch.Tensor:
    return strip_to_faces(frame_to_tensor(clip.get_frame(n)))[0]


def _content(clip: vs.VideoNode, n: int = 0) -> torch.Tensor:
    return _faces(vsstylize.equirect_to_cube(clip, face_size=GEOM.face_size, overlap=GEOM.overlap), n)


def test_faces_get_the_border_prior_of_the_faces_before_them(net_file: Path) -> None:
    from vsstylize.networks.io import load_network

    net, _ = load_network(net_file)
    clip = array_clip([_equirect()])
    content = _content(clip)
    feather = 2.0
    out = _faces(vsstylize.stylize(clip, projection="equirect", method="network", network=str(net_file), border_blend=False,
                                             border_feather=feather, **KW))
    expected = torch.zeros_like(out)  # the faces in float, in the filter's order
    for i, k in enumerate(DEFAULT_ORDER):
        if i == 0:
            expected[k:k + 1] = apply_network(net, content[k:k + 1])
        else:
            prior, mask = border_prior(expected, DEFAULT_ORDER[:i], k, GEOM, feather)
            assert float(mask.mean()) > 0.1
            expected[k:k + 1] = apply_network(net, content[k:k + 1], prior, mask)
        _assert_rounded_close(out[k:k + 1], expected[k:k + 1], f"face {k}")
    alone = _faces(vsstylize.stylize(clip, projection="equirect", method="network", network=str(net_file),
                                               border_consistency=False, **KW))
    for k in range(6):
        _assert_rounded_close(alone[k:k + 1], apply_network(net, content[k:k + 1]), f"face {k} alone")
    assert torch.equal(alone[0], out[0]) and float((alone[1:] - out[1:]).abs().max()) > 8 / 255  # the prior matters
    # the default blend: the face continues its neighbours exactly where the border mask is 1
    blended = _faces(vsstylize.stylize(clip, projection="equirect", method="network", network=str(net_file), **KW))
    for i, k in enumerate(DEFAULT_ORDER[1:], start=1):
        prior, mask = border_prior(blended, DEFAULT_ORDER[:i], k, GEOM, GEOM.overlap / 2)
        full = mask[0, 0] == 1
        _assert_rounded_close(blended[k][:, full], prior[0][:, full], f"face {k} blended", exact=False)


def test_video_combines_border_prior_and_warped_previous_face(net_file: Path) -> None:
    from vsstylize.networks.io import load_network

    net, _ = load_network(net_file)
    seq = yaw_sequence(_equirect(), 2, 2, GEOM)
    flows, weights = seq.flow_clips()
    cube = vsstylize.stylize(seq.clip(), projection="equirect", method="network", network=str(net_file), border_blend=False,
                                       flows=flows, reliability=weights, **KW)
    first, second = _faces(cube, 0), _faces(cube, 1)
    content = _content(seq.clip(), 1)
    warped = warp(first.contiguous(), seq.face_flow)
    expected = torch.zeros_like(second)  # the faces in float, in the filter's order
    for i, k in enumerate(DEFAULT_ORDER):
        terms = [border_prior(expected, DEFAULT_ORDER[:i], k, GEOM, GEOM.overlap / 2)] if i else []
        terms.append((warped[k:k + 1], seq.face_valid[k:k + 1]))
        prior, mask = combine_priors(terms)
        expected[k:k + 1] = apply_network(net, content[k:k + 1], prior, mask)
        _assert_rounded_close(second[k:k + 1], expected[k:k + 1], f"face {k}")
    still = vsstylize.stylize(seq.clip(), projection="equirect", method="network", network=str(net_file), border_blend=False,
                                        temporal_consistency=False, **KW)
    assert float((_faces(still, 1) - second).abs().max()) > 8 / 255


@pytest.mark.data
def test_bad_network_input(net_file: Path, tmp_path: Path) -> None:
    equi = array_clip([_equirect()])
    with pytest.raises(vs.Error, match=r"vsstylize.stylize: method must be one of .*, got 'fast'"):
        vsstylize.stylize(equi, projection="equirect", method="fast", **KW)
    with pytest.raises(vs.Error, match=r"vsstylize.stylize: method='hybrid' does not work with projection='equirect'; "
                                       r"it takes network, optim"):
        vsstylize.stylize(equi, projection="equirect", method="hybrid", **KW)
    with pytest.raises(vs.Error, match=r"vsstylize.stylize: network='arbitrary-prior' needs style: any painting"):
        vsstylize.stylize(equi, projection="equirect", method="network", **KW)  # the default network needs a style
    with pytest.raises(vs.Error, match=r"vsstylize.stylize: method='network' does not use style with a trained "
                                       r"network"):
        vsstylize.stylize(equi, "starry_night", projection="equirect", method="network", network=str(net_file), **KW)
    with pytest.raises(vs.Error, match=r"vsstylize.stylize: network: no model file"):
        vsstylize.stylize(equi, projection="equirect", method="network", network=str(tmp_path / "none"), **KW)
    flowfree = save_network(tmp_path / "ff", StylizationNetwork(ARCHITECTURES["huang-res48"]))
    with pytest.raises(vs.Error, match=r"network: .*a 'flowfree' network"):
        vsstylize.stylize(equi, projection="equirect", method="network", network=str(flowfree), **KW)
    with pytest.raises(vs.Error, match=r"method='network' with projection='equirect' does not use num_iterations"):
        vsstylize.stylize(equi, projection="equirect", method="network", network=str(net_file), num_iterations=5, **KW)
    with pytest.raises(vs.Error, match=r"method='optim' needs style"):
        vsstylize.stylize(equi, projection="equirect", **KW)
    with pytest.raises(vs.Error, match=r"method='optim' with projection='equirect' does not use network"):
        vsstylize.stylize(equi, str(DATA / "styles" / "starry_night.jpg"), projection="equirect", network=str(net_file), **KW)
    with pytest.raises(vs.Error, match=r"method='network' does not use style"):
        vsstylize.stylize(equi, str(DATA / "styles" / "starry_night.jpg"), "network", projection="equirect",
                          network=str(net_file), **KW)
    with pytest.raises(vs.Error, match=r"border_feather must be"):
        vsstylize.stylize(equi, projection="equirect", method="network", network=str(net_file), border_feather=5, **KW)
