"""The ``stylize`` filter: a clip in, a temporally consistent stylized clip out, by any registered method
(:mod:`vsstylize.methods`) with the options of :class:`~vsstylize.options.StylizeOptions`; and ``multipass``, the
multi-pass method (Ruder et al. 2018 sec. 4.4) as a filter of its own."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import vapoursynth as vs

from .errors import PYTHON_NAMING, OptionError, error
from .media.frames import from_rgbs
from .methods.registry import MethodSpec, Request, find, resolve, specs
from .methods.style import StyleSource
from .opticalflow.estimators import DisPreset, FlowMethod
from .opticalflow.warping import StylizedWarp
from .optim.losses import Criterion
from .optim.optimizer import InitKind, OptimizerName, Precision
from .optim.vgg import Arch, Pooling
from .options import (
    RENAMED,
    FirstInit,
    LossWeightsPreset,
    Method,
    Projection,
    StylizeOptions,
    option_names,
    renamed_options,
)

__all__ = ["build_method", "multipass", "run_method", "stylize"]

type Clips = vs.VideoNode | Sequence[vs.VideoNode]
type Iterations = int | tuple[int, int] | str
type Init = FirstInit | tuple[FirstInit, InitKind] | str
type PathLike = str | os.PathLike[str]


def stylize(clip: vs.VideoNode, style: StyleSource | Sequence[StyleSource] | None = None, /,
            method: Method = "optim", *, projection: Projection = "planar", network: PathLike | None = None,
            stroke_scale: float | None = None, border_margin: int | None = None, style_strength: float | None = None,
            style_index: Sequence[int] | int | str | None = None,
            content_weight: float | None = None, style_weight: float | None = None,
            temporal_weight: float | None = None, tv_weight: float | None = None,
            loss_weights: LossWeightsPreset | None = None, temporal_loss_criterion: Criterion | None = None,
            content_layers: Sequence[str] | str | None = None, style_layers: Sequence[str] | str | None = None,
            style_blend: Sequence[float] | str | None = None, style_scale: float | None = None,
            pooling: Pooling | None = None, model: Arch | None = None, model_file: PathLike | None = None,
            original_colors: bool | None = None, warp_interpolation: StylizedWarp | None = None,
            num_iterations: Iterations | None = None, init: Init | None = None,
            optimizer: OptimizerName | None = None, learning_rate: float | None = None,
            tol_loss_relative: float | None = None, tol_loss_relative_interval: int | None = None,
            seed: int | None = None, scales: Sequence[float] | str | None = None, precision: Precision | None = None,
            lbfgs_history: int | None = None, flow_relative_indices: Sequence[int] | str | None = None,
            flows: Clips | None = None, reliability: Clips | None = None, flow_method: FlowMethod | None = None,
            flow_preset: DisPreset | None = None, raft_weights: PathLike | None = None,
            flow_cache: PathLike | None = None, max_chain_length: int | None = None, chain_warmup: int | None = None,
            num_passes: int | None = None,
            use_temporal_loss_after: int | None = None, blend_weight: float | None = None,
            max_shot_length: int | None = None, overlap_chunks: bool | None = None, face_size: int | None = None,
            overlap: int | None = None, border_consistency: bool | None = None, border_feather: float | None = None,
            border_blend: bool | None = None, temporal_consistency: bool | None = None,
            cube_output: bool | None = None, cache_dir: PathLike | None = None, device: str | None = None,
            matrix: int | str | None = None,
            output_format: int | str | vs.VideoFormat | None = None, **renamed: Any) -> vs.VideoNode:
    given = {name: value for name, value in locals().items() if name in _OPTIONS}
    return run_method("stylize", clip, style, method, projection, _with_renamed("stylize", given, renamed))


_OPTIONS = frozenset(option_names())


def _with_renamed(func: str, given: Mapping[str, object], extra: Mapping[str, object]) -> dict[str, object]:
    """``given`` with the keywords of ``**extra``: options, or old names of :data:`~vsstylize.options.RENAMED`
    (a :class:`DeprecationWarning` each); anything else is a :class:`TypeError`, as for any unknown keyword."""
    for name in extra:
        if name not in _OPTIONS and name not in RENAMED:
            raise TypeError(f"{func}() got an unexpected keyword argument {name!r}")
    try:
        return renamed_options(func, {**given, **extra})
    except OptionError as exc:
        raise error(func, exc.render(PYTHON_NAMING)) from exc


def multipass(clip: vs.VideoNode, style: StyleSource | Sequence[StyleSource], /, *, num_passes: int | None = None,
              use_temporal_loss_after: int | None = None, blend_weight: float | None = None,
              max_shot_length: int | None = None, overlap_chunks: bool | None = None,
              **options: Any) -> vs.VideoNode:
    given = {"num_passes": num_passes, "use_temporal_loss_after": use_temporal_loss_after,
             "blend_weight": blend_weight, "max_shot_length": max_shot_length, "overlap_chunks": overlap_chunks}
    return run_method("multipass", clip, style, "multipass", "planar", _with_renamed("multipass", given, options))


def run_method(func: str, clip: vs.VideoNode, style: StyleSource | Sequence[StyleSource] | None, method: str,
               projection: str, given: Mapping[str, object]) -> vs.VideoNode:
    """Validate the options of ``method`` with ``projection`` and build its graph.

    :param func: the public filter name used in errors.
    :param given: option name -> value (``None`` = not given).
    :raises vs.Error: ``vsstylize.<func>: ...`` naming the option (the :class:`~vsstylize.errors.OptionError`
        is the error's ``__cause__``).
    """
    try:
        spec = find(method, projection)
        options = resolve(spec, given)
    except OptionError as exc:
        raise error(func, exc.render(PYTHON_NAMING)) from exc
    return build_method(func, clip, style, spec, options)


def build_method(func: str, clip: vs.VideoNode, style: StyleSource | Sequence[StyleSource] | None, spec: MethodSpec,
                 options: StylizeOptions) -> vs.VideoNode:
    """Build the graph of ``spec``'s method with options resolved once (:func:`~vsstylize.methods.registry.resolve`,
    e.g. by the command line): :meth:`~vsstylize.methods.registry.MethodSpec.validate`, then its ``build``, then the
    output format.

    :raises vs.Error: ``vsstylize.<func>: ...`` naming the option or clip.
    """
    try:
        items = list(style) if isinstance(style, (list, tuple)) else style
        request = Request(func, clip, items, options)
        spec.validate(request)  # everything the user gave, before a network or a loss network is loaded
        out = spec.build(request)
        return from_rgbs(out, clip, func, options.matrix, options.output_format)
    except OptionError as exc:
        raise error(func, exc.render(PYTHON_NAMING)) from exc


def _docstring() -> str:
    methods = "\n".join(textwrap.fill(f"* ``method={s.method!r}``" + ("" if s.projection == "planar" else
                                                                   f", ``projection={s.projection!r}``")
                                      + f": {s.summary}.", 116, initial_indent="    ", subsequent_indent="      ")
                        for s in specs())
    params = [textwrap.fill(f":param {f.name}: {f.metadata['doc']}", 116, initial_indent="    ",
                            subsequent_indent="        ") for f in fields(StylizeOptions)]
    return f"""Stylize ``clip`` in the style of ``style`` with temporal consistency.

    Methods (:mod:`vsstylize.methods`):

{methods}

    Every option is keyword-only and ``None`` (or left out) means its default; an option the chosen method does
    not use is an error naming the method. Frame ``n`` of the chained methods depends on earlier stylized frames;
    its result is defined by the chain from the last chain start (frame 0, or a frame with ``_SceneChangePrev``
    set) and does not depend on the order frames are requested in. The methods work in RGBS; the output has the
    input's format (YUV in, YUV out: same format, converted back with the matrix the input was read with, in its
    range and chroma location; RGB in, the same RGB format, an RGBS input's result untouched; GRAY in, RGB of the
    same depth) or ``output_format``; same size, length and frame properties (``_Transfer``, ``_Primaries`` kept),
    plus ``StylizeChainStart``.

    :param clip: any constant-format clip (YUV converted with ``matrix`` or its ``_Matrix``), processed at its
        own size (resize first); ``projection="equirect"``: equirectangular, ``W = 2 H``.
    :param style: image file path, shipped style name (:func:`vsstylize.resources.shipped_styles`), a clip (first
        frame) or a list of them (blended); the network methods use their model's style and take none, except
        with ``network="arbitrary"`` (any painting: its style vector, Ghiasi et al. 2017).
    :param method: one of the methods above.
    :param projection: ``"planar"`` or ``"equirect"`` (360-degree video on cube faces, Ruder et al. 2018 sec. 6).
{chr(10).join(params)}
    :param renamed: the old names of renamed options (``weights``: ``reliability``, ``model_weights``: ``model_file``,
        ``style_blend_weights``: ``style_blend``), accepted until the next release with a ``DeprecationWarning``.
    :raises vs.Error: ``vsstylize.stylize: ...`` for a bad clip, a missing/unreadable style file, an option the
        method does not use, flows/reliability clips of the wrong size, length or step, loss-network weights or a network
        file that do not fit, a read-only or full cache folder, and out-of-range options — naming the option.
    """


stylize.__doc__ = _docstring()


def _multipass_docstring() -> str:
    spec = find("multipass", "planar")
    own = option_names("multipass")
    params = [textwrap.fill(f":param {f.name}: {f.metadata['doc']}", 116, initial_indent="    ",
                            subsequent_indent="        ") for f in fields(StylizeOptions) if f.name in own]
    others = ", ".join(f"``{f.name}``" for f in fields(StylizeOptions) if f.name in spec.uses and f.name not in own)
    return f"""Stylize ``clip`` with the multi-pass algorithm (Ruder et al. 2018 sec. 4.4, eq. 13-14): alternating
    forward and backward passes over shots of ``max_shot_length`` frames, each frame initialised with the blend of
    its previous-pass result and its warped neighbour; the same as ``stylize(clip, style, method="multipass", ...)``,
    checked the same way.

    :param clip: any constant-format clip (YUV converted with ``matrix`` or its ``_Matrix``).
    :param style: image file path, shipped style name, a clip (first frame) or a list of them (blended).
{chr(10).join(params)}
    :param options: the other options of the multi-pass method, as for :func:`stylize`: {others}.
    :returns: the stylized clip, the input's format, size and length (see :func:`stylize`).
    :raises vs.Error: ``vsstylize.multipass: ...`` naming the option, for a bad value (e.g. ``num_passes=0``) or
        an option the multi-pass method does not use.
    :raises TypeError: a keyword that is no option of :func:`stylize`.
    """


multipass.__doc__ = _multipass_docstring()
