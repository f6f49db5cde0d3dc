"""Stylization-network files: weights in safetensors, a JSON model card beside them.

A model ``NAME`` is two files: ``NAME.safetensors`` (the parameters, float32, plus the architecture as
safetensors metadata ``vsstylize.network``, so the weights file alone is self-describing) and
``NAME.json`` (the model card: architecture, style image, loss layers and weights, training data,
iterations, wall time, machine, bench scores). Both are written to a temporary file and renamed.

A model can be named without a path, e.g. ``"starry_night-prior"``: it is looked for in
:func:`vsstylize.resources.model_search_path` (``$VSSTYLIZE_MODELS``, the per-user folder, the shipped models).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .. import resources
from ..media.cache import atomic_write
from .models import ARCHITECTURES, Kind, NetworkSpec, StylizationNetwork

__all__ = [
    "META_KEY",
    "NetworkFileError",
    "load_network",
    "read_model_card",
    "read_spec",
    "resolve_model",
    "save_network",
    "weights_path",
]

META_KEY = "vsstylize.network"


class NetworkFileError(ValueError):
    """A network file that cannot be used: missing, truncated/corrupted, or of another architecture."""


def resolve_model(name: str | os.PathLike[str]) -> Path:
    """The ``.safetensors`` path of a model given as a path (with or without the suffix) or a model name
    (:func:`vsstylize.resources.model_search_path`).

    :raises NetworkFileError: nothing found (lists the shipped models).
    """
    p = Path(name).expanduser()
    candidates = [p, p.with_name(p.name + ".safetensors")]
    if p.parent == Path("."):
        candidates += [d / f for d in resources.model_search_path() for f in (p.name, p.name + ".safetensors")]
    for c in candidates:
        if c.is_file() and c.suffix == ".safetensors":
            return c
    raise NetworkFileError(f"no model file {str(name)!r} (a .safetensors path or one of the shipped models: "
                           f"{', '.join(resources.shipped_models()) or 'none'})")


def weights_path(path: str | os.PathLike[str]) -> Path:
    """The weights file a model path names: ``path`` itself when it ends in ``.safetensors``, else ``path``
    with ``.safetensors`` appended (``models/x`` and ``models/x.safetensors`` are the same model)."""
    out = Path(path)
    return out if out.suffix == ".safetensors" else out.with_name(out.name + ".safetensors")


def save_network(path: str | os.PathLike[str], net: StylizationNetwork, card: Mapping[str, Any] | None = None) -> Path:
    """Write ``net`` to ``path`` (``.safetensors``) and its model card to ``path`` with ``.json``.

    :param card: model-card fields (JSON-serialisable); the architecture is added.
    :returns: the weights path.
    :raises OSError: the folder is not writable (nothing is left half-written).
    """
    out = weights_path(path)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in net.state_dict().items()}
    meta = {META_KEY: json.dumps(net.spec.to_json())}
    atomic_write(out, lambda tmp: save_file(state, str(tmp), metadata=meta))
    full_card = {"architecture": net.spec.to_json(), **dict(card or {})}
    text = json.dumps(full_card, indent=2, sort_keys=False) + "\n"
    atomic_write(out.with_suffix(".json"), lambda tmp: tmp.write_text(text))
    return out


def _read_spec(path: Path) -> NetworkSpec:
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise NetworkFileError(f"{path}: truncated or corrupted (cannot read the safetensors header: {exc})") from exc
    if META_KEY not in meta:
        raise NetworkFileError(f"{path}: not a vsstylize stylization network (no {META_KEY!r} metadata)")
    try:
        return NetworkSpec.from_json(json.loads(meta[META_KEY]))
    except (ValueError, json.JSONDecodeError) as exc:
        raise NetworkFileError(f"{path}: {exc}") from exc


def read_spec(name: str | os.PathLike[str]) -> NetworkSpec:
    """The architecture of a model file or shipped model name, from the safetensors header alone (the
    weights are not read).

    :raises NetworkFileError: missing, truncated or foreign file (the message names it).
    """
    return _read_spec(resolve_model(name))


def read_model_card(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The model card (``.json`` beside the weights), or ``{}`` when there is none.

    :raises NetworkFileError: the card exists but is not valid JSON.
    """
    card = Path(path).with_suffix(".json")
    if not card.is_file():
        return {}
    try:
        return json.loads(card.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise NetworkFileError(f"{card}: unreadable model card ({exc})") from exc


def load_network(name: str | os.PathLike[str], kind: Kind | tuple[Kind, ...] | None = None,
                 device: str | torch.device = "cpu") -> tuple[StylizationNetwork, dict[str, Any]]:
    """Load a stylization network and its model card.

    :param name: ``.safetensors`` path or shipped model name (:func:`resolve_model`).
    :param kind: the network kind(s) the caller can use (``"prior"``, ``"flowfree"``, ``"image"``).
    :param device: torch device.
    :returns: ``(network in eval mode, model card)``.
    :raises NetworkFileError: missing file, a truncated or corrupted file, parameters that do not fit the
        declared architecture, or a network of another kind than ``kind`` (each message names the file).
    """
    path = resolve_model(name)
    spec = _read_spec(path)
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds is not None and spec.kind not in kinds:
        raise NetworkFileError(f"{path}: a {spec.kind!r} network ({spec.arch}); this method needs a "
                               f"{' or '.join(repr(k) for k in kinds)} network")
    if spec.arch in ARCHITECTURES and ARCHITECTURES[spec.arch].kind != spec.kind:
        raise NetworkFileError(f"{path}: architecture {spec.arch!r} declared with kind {spec.kind!r}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise NetworkFileError(f"{path}: truncated or corrupted weights ({exc})") from exc
    net = StylizationNetwork(spec)
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        missing = sorted(set(expected) - set(got))[:3]
        wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])[:3]
        raise NetworkFileError(f"{path}: parameters do not fit architecture {spec.arch!r} "
                               f"(missing {missing}, wrong shapes {wrong}, unexpected {sorted(set(got) - set(expected))[:3]})")
    if any(not bool(torch.isfinite(v).all()) for v in state.values()):
        raise NetworkFileError(f"{path}: weights contain NaN or infinity")
    net.load_state_dict(state)
    return net.to(device).eval(), read_model_card(path)
