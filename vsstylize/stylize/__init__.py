"""The ``stylize`` filter: a clip in, a temporally consistent stylized clip out."""

from __future__ import annotations

import os
from collections.abc import Sequence

import vapoursynth as vs

from ..errors import error
from ..losses import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from .network_filter import HYBRID_ITERATIONS, NETWORK_METHODS, stylize_network
from .optim_filter import stylize_optim
from .style import StyleSource

__all__ = ["METHODS", "stylize"]

METHODS: tuple[str, ...] = ("optim", *NETWORK_METHODS)


def stylize(clip: vs.VideoNode, style: StyleSource | Sequence[StyleSource] | None = None, /, method: str = "optim", *,
            network: str | os.PathLike[str] | None = None,
            content_weight: float | None = None, style_weight: float | None = None,
            temporal_weight: float | None = None, tv_weight: float | None = None,
            loss_weights: str = "artistic-videos", temporal_loss_criterion: str = "mse",
            num_iterations: int | Sequence[int] | str | None = None,
            init: str | Sequence[str] = ("random", "prevWarped"),
            optimizer: str = "lbfgs", learning_rate: float = 1e1,
            tol_loss_relative: float = 1e-4, tol_loss_relative_interval: int = 50,
            flow_relative_indices: Sequence[int] | str = (1,),
            content_layers: Sequence[str] | str = DEFAULT_CONTENT_LAYERS,
            style_layers: Sequence[str] | str = DEFAULT_STYLE_LAYERS,
            style_blend_weights: Sequence[float] | None = None, style_scale: float = 1.0,
            pooling: str = "max", model: str = "vgg19", model_weights: str | None = None,
            original_colors: bool = False, seed: int = 0, scales: Sequence[float] = (1.0,),
            precision: str = "fp32", lbfgs_history: int = 100,
            flows: vs.VideoNode | Sequence[vs.VideoNode] | None = None,
            weights: vs.VideoNode | Sequence[vs.VideoNode] | None = None,
            flow_method: str = "dis", flow_preset: str = "medium",
            flow_cache: str | os.PathLike[str] | None = None,
            cache_dir: str | os.PathLike[str] | None = None,
            device: str | None = None, matrix: int | str | None = None) -> vs.VideoNode:
    """Stylize ``clip`` in the style of ``style`` with temporal consistency.

    Methods (all temporally consistent except per-frame ``"flowfree"`` with an image network):

    * ``"optim"`` (default): optimization, below; seconds to minutes per frame, the best quality.
    * ``"network"``: Ruder et al. 2018 sec. 5.2 prior-image network (eq. 15: frame, previous output warped
      along the flow and masked by its reliability, mask); needs flow; ``network`` = a ``"prior"`` model.
    * ``"flowfree"``: Huang et al. 2017 network trained with a temporal loss; no flow, each frame on its own;
      ``network`` = a ``"flowfree"`` model; an ``"image"`` model or a ``"prior"`` model (empty prior on every
      frame) gives per-frame processing, the papers' baseline.
    * ``"hybrid"``: the network's output initialises ``num_iterations`` (default 30) iterations of the
      optimization with the temporal loss (fast-artistic-videos); every optimization option applies.

    Network models: a ``.safetensors`` file written by ``vsstylize train`` or a shipped name from
    ``models/`` (e.g. ``"starry_night-prior"``, ``"starry_night-flowfree"``); the style is the model's
    (``style`` is only used by ``"hybrid"`` and ``"optim"``).

    ``method="optim"``: the optimization-based method of Ruder et al. (2016, 2018 sec. 4): each frame
    minimises ``alpha L_content + beta L_style + gamma sum_j L_temporal(x, omega(x^(n-j)), c_long) + tv L_tv``
    (eq. 9/11) with L-BFGS or Adam, initialised with the previous stylized frame warped along the flow.
    Option names and defaults follow artistic-videos (``-content_weight 5 -style_weight 1e2
    -temporal_weight 1e3 -tv_weight 1e-3 -num_iterations 2000,1000 -init random,prevWarped ...``).

    Frame ``n`` depends on the stylized frames ``n - j`` (``j`` in ``flow_relative_indices``); its result is
    defined by the chain from the last chain start (frame 0, or a frame with ``_SceneChangePrev`` set) and
    does not depend on the order frames are requested. Results stay on the compute device in a cache of
    ``max(J) + 2`` frames; ``cache_dir`` adds an on-disk cache (atomic writes) so an interrupted render resumes.

    :param clip: any constant-format clip (YUV converted with ``matrix`` or its ``_Matrix``); processed at
        its own size (resize first). Output: RGBS, same size, length and frame properties, plus
        ``StylizeChainStart``.
    :param style: image file path, a clip (first frame used; RGB or YUV), or a list of them (blended).
    :param method: ``"optim"``, ``"network"``, ``"flowfree"`` or ``"hybrid"``.
    :param network: model of the network methods (file or shipped name); a model of the wrong kind, a
        truncated or corrupted file raise :class:`vs.Error` naming ``network``.
    :param content_weight: alpha (default 5, or the paper's per-resolution value with
        ``loss_weights="resolution"``).
    :param style_weight: beta (default 100).
    :param temporal_weight: gamma (default 1e3); 0 disables the temporal loss.
    :param tv_weight: total-variation weight (default 1e-3).
    :param loss_weights: ``"artistic-videos"`` defaults, or ``"resolution"``: the papers' weights for the
        clip's size (Ruder et al. 2016 appendix table 2; :func:`vsstylize.losses.default_loss_weights`).
    :param temporal_loss_criterion: ``"mse"`` or ``"smoothl1"``.
    :param num_iterations: maximum iterations for the first and for later frames (one value = both);
        default 2000,1000 (``"optim"``) or 30 (``"hybrid"``).
    :param init: initialisation for the first and for later frames: ``random``/``image`` and
        ``random``/``image``/``prev``/``prevWarped``.
    :param optimizer: ``"lbfgs"`` or ``"adam"``; ``learning_rate`` is Adam's step in 0..255 pixel units.
    :param tol_loss_relative: stop when the loss changes less than this (relative) over
        ``tol_loss_relative_interval`` iterations.
    :param flow_relative_indices: the set J of long-term consistency (must contain 1), e.g. ``(1, 10, 20, 40)``;
        weights ``c_long`` of eq. 12.
    :param content_layers: / :param style_layers: loss-network layers (relu4_2; relu1_1 ... relu5_1).
    :param style_blend_weights: one weight per style image; :param style_scale: style size relative to the clip.
    :param pooling: ``"max"`` or ``"avg"``; :param model: ``"vgg19"`` or ``"vgg16"``;
        :param model_weights: weights name or file (default: the standard weights, else the offline fallback).
    :param original_colors: keep the content's colours (luminance-only transfer).
    :param seed: seed of the random initialisation (frame ``n`` uses ``seed + n``).
    :param scales: coarse-to-fine scales, e.g. ``(0.5, 1.0)``.
    :param precision: ``"fp32"``, or ``"bf16"`` / ``"fp16"`` mixed precision for the loss network (Gram
        matrices and losses stay float32); ``"bf16"`` on GPUs that support it.
    :param lbfgs_history: L-BFGS memory (neural-style's ``-lbfgs_num_correction``, default 100); the
        history takes ``2 * lbfgs_history * 3 * H * W * 4`` bytes (5 GB at 1920x1080 with 100: use
        50 or Adam on 8 GB GPUs).
    :param flows: backward flow clips, one per entry of J (step j each), e.g. from :func:`vsstylize.read_flow`;
        default: computed with :func:`vsstylize.flow` (``flow_method``, ``flow_preset``, ``flow_cache``).
    :param weights: reliability clips matching ``flows``; default: :func:`vsstylize.reliability`.
    :param cache_dir: folder of the stylized-frame cache (keyed by every parameter, the style images, the
        frame number and the source frame's content).
    :param device: torch device (default CUDA when available, else CPU).
    :raises vs.Error: for a bad clip, a missing/unreadable style file, a style clip of the wrong format,
        flows/weights of the wrong size, length or step, loss-network weights that do not fit, a read-only
        or full cache folder, and out-of-range options — naming the parameter.
    """
    if method not in METHODS:
        raise error("stylize", f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if num_iterations is None:
        num_iterations = HYBRID_ITERATIONS if method == "hybrid" else (2000, 1000)
    common = dict(
        flows=flows, weights=weights, flow_method=flow_method, flow_preset=flow_preset, flow_cache=flow_cache,
        cache_dir=cache_dir, device=device, matrix=matrix,
        content_weight=content_weight, style_weight=style_weight, temporal_weight=temporal_weight,
        tv_weight=tv_weight, loss_weights=loss_weights, temporal_loss_criterion=temporal_loss_criterion,
        num_iterations=num_iterations, init=init, optimizer=optimizer, learning_rate=learning_rate,
        tol_loss_relative=tol_loss_relative, tol_loss_relative_interval=tol_loss_relative_interval,
        flow_relative_indices=flow_relative_indices, content_layers=content_layers, style_layers=style_layers,
        style_blend_weights=style_blend_weights, style_scale=style_scale, pooling=pooling, model=model,
        model_weights=model_weights, original_colors=original_colors, seed=seed, scales=scales,
        precision=precision, lbfgs_history=lbfgs_history,
    )
    if method in NETWORK_METHODS:
        return stylize_network(clip, style, method=method, network=network, **common)
    if style is None:
        raise error("stylize", "style is required for method='optim' (an image file, a clip, or a list of them)")
    return stylize_optim(clip, style, **common)
