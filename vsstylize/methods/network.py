"""``stylize(method="network" | "flowfree")``: the feed-forward video methods.

* ``"network"`` — Ruder et al. 2018 sec. 5.2, eq. 15: the prior-image network gets the frame, the previous
  stylized frame warped along the backward flow and masked by its reliability, and the mask; the first
  frame of a chain gets an empty prior (the mixed-trained network then acts as the image network).
* ``"flowfree"`` — Huang et al. 2017: a network trained with a temporal loss, applied to each frame
  independently (no flow at inference; every frame can be computed on its own). An ``"image"`` network
  (Johnson et al.) runs the same way, and so does a prior-image network, with an empty prior on every frame
  (the mixed-trained network's image mode, Ruder eq. 18) — per-frame processing, the baseline of both papers.

Frame order, seeking, determinism, caches and scene cuts follow :class:`RecursiveFilter` like the
optimization method; previous outputs stay on the compute device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import vapoursynth as vs

from ..errors import OptionError, error
from ..media.cache import digest, open_cache
from ..media.frames import DeviceFrames, compute_device, to_rgbs
from ..networks.inference import apply_network, inference_tag
from ..networks.io import NetworkFileError, load_network, read_spec, resolve_model
from ..networks.models import Kind, StylizationNetwork
from ..networks.pretrained import PretrainedNetworkError, StyledNetwork, is_pretrained, is_temporal
from ..networks.scale import scale_tag
from ..opticalflow.warping import warp
from ..options import StylizeOptions
from ..resources import shipped_models
from ..weights import TEMPORAL
from .chain import ChainBounds, FrameInputs, RecursiveFilter
from .flows import check_given, temporal_inputs
from .registry import MethodSpec, Request, uses
from .style import load_styles

__all__ = ["DEFAULT_FLOWFREE", "DEFAULT_NETWORK", "INIT_NETWORK_OPTIONS", "PRETRAINED_OPTIONS", "SPECS", "PriorNetwork",
           "load_model", "load_prior_network", "load_styled", "network_init",
           "require_init_network", "require_network"]

#: A network of the prior-image input: a trained model, or the arbitrary prior variant bound to a style.
PriorNetwork = StylizationNetwork | Callable[[torch.Tensor], torch.Tensor]
#: The network of ``method="network"`` without ``network``: the arbitrary prior-image variant (any style image).
DEFAULT_NETWORK = "arbitrary-prior"
#: The network of ``method="flowfree"`` without ``network``: the arbitrary flow-free variant (any style image).
DEFAULT_FLOWFREE = "arbitrary-flowfree"
#: The options of the pretrained style-conditioned networks (``network="arbitrary"`` / ``"multistyle26"``).
PRETRAINED_OPTIONS = ("style_strength", "style_index", "style_blend")
#: The options of ``init="network"`` (optim, multipass).
INIT_NETWORK_OPTIONS = ("network", "stroke_scale", "border_margin", *PRETRAINED_OPTIONS)
#: The network options (``network`` and the flow of the previous output, J = {1}).
NETWORK_OPTIONS = ("network", "flows", "reliability", "flow_method", "flow_preset", "raft_weights", "flow_cache")


def require_network(options: StylizeOptions, given: Mapping[str, object], method: str,
                    kinds: tuple[Kind, ...] = ("flowfree", "image", "prior"), default: str | None = None) -> None:
    """:raises OptionError: ``network`` is missing where the method has no ``default`` (the message lists the shipped
    models of ``kinds`` and the pretrained networks), or a pretrained network's option given with another network."""
    if options.network is None and default is None:
        shipped = [name for name in shipped_models() if read_spec(name).kind in kinds]
        pretrained = "; 'arbitrary': any style image, 'multistyle26'"
        raise OptionError("network", "{set[method]} needs {name} (a .safetensors model file or a shipped model name: "
                          + ", ".join(shipped) + pretrained + ")", method=method)
    network = options.network or default
    any_style = ("arbitrary", *TEMPORAL)
    for name, wanted in (("style_strength", any_style), ("style_index", ("multistyle26",))):
        if name in given and network not in wanted:
            raise OptionError(name, "{name} is an option of network={wanted}, not of {value!r}",
                              wanted=" or ".join(map(repr, wanted)), value=network)
    if method == "network" and network == "arbitrary":
        raise OptionError("network", "{set[method]} takes a prior-image network: for any style image that is "
                          "'arbitrary-prior', the default ('arbitrary' is the per-frame network of the flowfree "
                          "method)", method=method)


def load_styled(req: Request, device: torch.device, network: str | None = None) -> StyledNetwork:
    """The pretrained network of ``network="arbitrary"`` or one of its temporal variants (``"arbitrary-prior"``,
    ``"arbitrary-flowfree"``: the request's style images, blended by ``style_blend``, at ``style_strength``) or
    ``"multistyle26"`` (``style_index``, blended by
    ``style_blend``), bound to its style.

    :param network: the network's name (default: the request's ``network`` option).
    :raises OptionError: ``arbitrary`` without a style. :raises vs.Error: not installed, bad style settings.
    """
    o = req.options
    name = network or o.network
    assert name is not None
    any_style = name != "multistyle26"  # arbitrary and its temporal variants
    if any_style and req.style is None:
        raise OptionError("style", f"network={name!r} needs {{name}}: any painting (an image file, a shipped "
                          "style name, a clip, or a list of them)")
    styles = load_styles(req.func, req.style) if any_style and req.style is not None else []
    try:
        return StyledNetwork(name, styles, o.style_blend, o.style_strength, o.style_index, device)
    except (PretrainedNetworkError, ValueError) as exc:
        raise error(req.func, f"network: {exc}" if isinstance(exc, PretrainedNetworkError) else str(exc)) from exc


def load_prior_network(req: Request, device: torch.device) -> tuple[Callable[[torch.Tensor], PriorNetwork], str]:
    """The prior-image network of ``method="network"``: the arbitrary prior variant bound to the request's style
    (``network`` unset or ``"arbitrary-prior"``), else the trained prior-image model ``network`` (its own style).

    :returns: ``(frame (1, 3, H, W) -> network of that frame, digest for the cache keys)``.
    :raises OptionError: a style given with a trained model, or no style for the arbitrary variant.
    :raises vs.Error: as :func:`load_styled` and :func:`load_model`.
    """
    o = req.options
    if o.network is None or is_temporal(o.network):
        styled = load_styled(req, device, o.network or DEFAULT_NETWORK)
        return styled.network_for, digest(styled.key)
    if req.style is not None:
        raise OptionError("style", "{set[method]} does not use {name} with a trained network (its model was trained "
                          "on its own style; the default network, 'arbitrary-prior', takes any style image)",
                          method="network")
    net, net_digest = load_model(req.func, o.network, ("prior",), device)
    return (lambda content: net), net_digest


def load_model(func: str, network: str, kinds: tuple[Kind, ...], device: torch.device) -> tuple[StylizationNetwork, str]:
    """The network of ``network`` (file or shipped name) on ``device`` and the digest of its file.

    :raises vs.Error: missing, unreadable file or a network of another kind (naming ``network``).
    """
    try:
        net, _card = load_network(network, kinds, device)
        path = resolve_model(network)
    except NetworkFileError as exc:
        raise error(func, f"network: {exc}") from exc
    return net, digest(path.read_bytes())


def network_init(req: Request, device: torch.device) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    """``init="network"`` (fast-artistic-videos): the network whose output starts the optimization — ``network``
    if given (a trained model file or name, or a pretrained network), else ``"arbitrary"`` with the request's style
    images — as ``(content (1, 3, H, W) -> init (1, 3, H, W), digest for the cache keys)``.

    :raises vs.Error: / :raises OptionError: as :func:`load_styled` and :func:`load_model`.
    """
    o = req.options
    name = o.network or "arbitrary"
    if is_pretrained(name):
        styled = load_styled(req, device, name)
        return (lambda content: apply_network(styled.network_for(content), content, stroke_scale=o.stroke_scale,
                                              margin=o.border_margin)), digest(styled.key)
    net, net_digest = load_model(req.func, name, ("prior", "flowfree", "image"), device)
    return (lambda content: apply_network(net, content, stroke_scale=o.stroke_scale, margin=o.border_margin)), net_digest


def require_init_network(options: StylizeOptions, given: Mapping[str, object], method: str) -> None:
    """:raises OptionError: a network option given without ``init="network"``."""
    if options.init[0] != "network":
        for name in ("network", "stroke_scale", "border_margin", "style_strength", "style_index"):
            if name in given:
                raise OptionError(name, "{set[method]} uses {name} only with {set[init]}", method=method, init="network")
    elif options.network is not None or "style_strength" in given or "style_index" in given:
        require_network(options, given, method)


def _build_network(req: Request) -> vs.VideoNode:
    func, o = req.func, req.options
    rgb = to_rgbs(req.clip, func, matrix=o.matrix)
    dev = compute_device(o.device)
    network_of, net_digest = load_prior_network(req, dev)
    frames = DeviceFrames(dev, capacity=8)
    temporal = temporal_inputs(func, rgb, (1,), o, frames)

    def compute(inp: FrameInputs) -> torch.Tensor:
        net = network_of(inp.content)
        if 1 not in inp.previous:
            return apply_network(net, inp.content, stroke_scale=o.stroke_scale, margin=o.border_margin)
        # the recursion stays at full size: the full-size output warped, reduced with the frame (apply_network)
        return apply_network(net, inp.content, warp(inp.previous[1], inp.flows[1]), inp.weights[1], o.stroke_scale,
                             o.border_margin)

    size = f"{rgb.width}x{rgb.height}"
    scale = scale_tag(o.stroke_scale)
    cache = open_cache(o.cache_dir, func, "stylize")
    params = digest("network", inference_tag(o.border_margin), scale, net_digest, size, o.key("flow"), str(o.flows is not None))
    start = digest("network-start", inference_tag(o.border_margin), scale, net_digest, size)
    return RecursiveFilter(func, rgb, (1,), temporal, compute, dev, cache, params, start, ChainBounds.of(o), frames).out


def _build_flowfree(req: Request) -> vs.VideoNode:
    func, o = req.func, req.options
    rgb = to_rgbs(req.clip, func, matrix=o.matrix)
    dev = compute_device(o.device)
    if o.network is None or is_pretrained(o.network) or is_temporal(o.network):
        styled = load_styled(req, dev, o.network or DEFAULT_FLOWFREE)
        net_digest = digest(styled.key)

        def compute(inp: FrameInputs) -> torch.Tensor:
            return apply_network(styled.network_for(inp.content), inp.content, stroke_scale=o.stroke_scale,
                                 margin=o.border_margin)
    else:
        if req.style is not None:
            raise OptionError("style", "{set[method]} does not use {name} with a trained network (its model was "
                              "trained on its own style; network='arbitrary' takes any style image)", method="flowfree")
        net, net_digest = load_model(func, o.network, ("flowfree", "image", "prior"), dev)

        def compute(inp: FrameInputs) -> torch.Tensor:
            return apply_network(net, inp.content, stroke_scale=o.stroke_scale, margin=o.border_margin)

    cache = open_cache(o.cache_dir, func, "stylize")
    params = digest("network-start", inference_tag(o.border_margin), scale_tag(o.stroke_scale), net_digest,
                    f"{rgb.width}x{rgb.height}")
    return RecursiveFilter(func, rgb, (), None, compute, dev, cache, params).out


SPECS = (
    MethodSpec("network", "planar", "prior-image network (Ruder et al. 2018): frame + warped previous output",
               uses("chain", only=(*NETWORK_OPTIONS, "stroke_scale", "border_margin", "style_strength", "style_blend")),
               _build_network, chain="recursive", style="optional",
               check=lambda o, g: require_network(o, g, "network", ("prior",), DEFAULT_NETWORK),
               inputs=lambda req: check_given(req, (1,))),
    MethodSpec("flowfree", "planar", "network applied to each frame on its own (Huang et al. 2017; no flow)",
               uses(only=("network", "stroke_scale", "border_margin", *PRETRAINED_OPTIONS)), _build_flowfree,
               chain="independent", style="optional",
               check=lambda o, g: require_network(o, g, "flowfree", default=DEFAULT_FLOWFREE)),
)
