"""``stylize(method="multipass")``: the multi-pass algorithm (Ruder et al. 2018 sec. 4.4) as a VapourSynth filter.

A clip is cut into *chunks* of at most ``max_shot_length`` frames (and, inside a chunk, into shots at frames
with ``_SceneChangePrev``). The first time any frame of a chunk is requested, the whole chunk is processed
with :func:`vsstylize.optim.passes.multipass_shot` (every source frame, both flows and both reliabilities are
requested through one ``std.ModifyFrame``, so VapourSynth schedules them; no frame request blocks inside a
callback); its frames are then served from memory (the last two chunks only, so memory is bounded by
``2 max_shot_length`` stylized frames) or from the on-disk cache. With ``cache_dir`` every finished pass of a
chunk is stored atomically, so an interrupted render resumes after the last finished pass (and a finished
render can be extended with more passes). Each pass of a shot is one 8-bit PNG of its frames stacked vertically
(:mod:`vsstylize.media.compact`); the entry of the pass before is removed once the next one is stored, and every
per-frame result is rounded to those 8 bits with or without a cache, so a resumed render equals an uninterrupted
one. Output frames carry ``StylizeCacheEntry`` / ``StylizeCacheIndex`` (the final pass's entry and the frame's
row in it).

Chunk overlap (``overlap_chunks=True``, the default): when a shot is longer than ``max_shot_length``,
consecutive chunks overlap by one frame. Chunk ``c`` (frames ``[c L, (c + 1) L)``) is processed together
with the last frame ``c L - 1`` of chunk ``c - 1`` as a fixed prior: that frame keeps chunk ``c - 1``'s final
result (it is served from chunk ``c - 1`` and never re-optimised), and it is the neighbour of frame ``c L`` in
every pass of chunk ``c`` (eq. 13 blend in forward passes, the temporal loss against it in every pass from
``use_temporal_loss_after`` on), exactly as the multi-pass algorithm treats a neighbour that is already
processed; the passes of chunk ``c`` are ordered so that the last one is forward
(:func:`vsstylize.optim.passes.pass_is_forward`), so the final sweep starts at the prior. One frame is the whole
boundary condition: in the multi-pass algorithm a frame is coupled to its
direct neighbours only. The prior is requested through the filter's own output (``out[c L - 1]``), so chunk
``c`` is defined by the chunks before it and the result does not depend on the order frames are requested in;
the price is that the first request inside chunk ``c`` walks back to the nearest chunk that is in memory, in
the on-disk cache or starts a shot (a scene cut at its first frame). With ``overlap_chunks=False`` chunks are
independent (no walk back, but the seam between chunks is not temporally consistent).
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections.abc import Callable, Mapping

import numpy as np
import torch
import vapoursynth as vs

from ..errors import OptionError
from ..media.cache import PROP_CACHE_ENTRY, PROP_CACHE_INDEX, DiskCache, digest, open_cache
from ..media.compact import read_frame_png, round_frame, write_frame_png
from ..media.frames import ComputeEnvironment, frame_to_numpy, frame_to_tensor, tensor_to_frame, to_rgbs
from ..opticalflow.clips import frame_flow_tensor
from ..opticalflow.filters import reliability as reliability_filter
from ..optim.passes import MultipassSettings, PassProgress, multipass_shot
from ..options import StylizeOptions
from .chain import PROP_SCENE_CHANGE
from .flows import check_flow_input, check_weights_input, estimated_flow
from .network import INIT_NETWORK_OPTIONS, network_init, require_init_network
from .optim import FrameOptimizer
from .registry import MethodSpec, Request, uses

__all__ = ["SPECS"]

log = logging.getLogger("vsstylize")

#: Iterations per frame and pass (the paper's 100).
PASS_ITERATIONS = 100


def _check(options: StylizeOptions, given: Mapping[str, object]) -> None:
    """One iteration count (per pass) and one init (pass 1): the multi-pass algorithm has no later frames."""
    for name in ("num_iterations", "init"):
        value = getattr(options, name)
        raw = given.get(name)
        single = not isinstance(raw, (list, tuple)) and "," not in str(raw)
        if name in given and value[0] != value[1] and not single:
            raise OptionError(name, "{set[method]} takes one value of {name} (" + ("iterations per frame and pass"
                              if name == "num_iterations" else "the initialisation of pass 1") + "), got {value}",
                              method="multipass", value=given[name])
    require_init_network(options, given, "multipass")


def _build(req: Request) -> vs.VideoNode:
    """Pass 1 stylizes each frame independently (``init`` random or image); later passes alternate between
    forward and backward direction and initialise each frame with the blend of eq. 13/14 of the warped
    neighbour of this pass and the frame's previous-pass result (``blend_weight`` = delta, weighted by the
    reliability c); from pass ``use_temporal_loss_after`` on the temporal loss against the warped neighbour
    is added. Defaults follow artistic-videos' ``artistic_video_multiPass.lua`` (15 passes, temporal loss from
    pass 8, blend weight 1); the paper used 100 iterations per pass and delta 0.5."""
    func, o = req.func, req.options
    assert req.style is not None and o.num_iterations is not None
    settings = o.multipass_settings()
    rgb = to_rgbs(req.clip, func, matrix=o.matrix)
    frame_opt = FrameOptimizer(func, (rgb.width, rgb.height), req.style, o)
    flow_clips = _flow_clips(func, rgb, o)
    cache = open_cache(o.cache_dir, func, "multipass")
    # The result of pass j does not depend on how many passes follow: num_passes stays out of the key, so a
    # render can be resumed, or extended with more passes, from the last stored pass.
    per_pass = o.replace(num_passes=1, use_temporal_loss_after=settings.use_temporal_loss_after,
                         max_shot_length=2, overlap_chunks=True)
    environment = ComputeEnvironment(frame_opt.device)  # in the key, and set up for every shot computed
    params = digest("multipass", per_pass.key("loss", "optimizer", "flow", "multipass"), frame_opt.key,
                    f"{rgb.width}x{rgb.height}", str(o.flows is not None), environment.key())
    first_network, network_key = network_init(req, frame_opt.device) if o.init[0] == "network" else (None, "")
    return _MultipassFilter(func, rgb, flow_clips, frame_opt, settings, o.num_iterations[0],
                            o.max_shot_length, o.overlap_chunks, cache, digest(params, network_key), environment,
                            first_network).out


def _flow_clips(func: str, rgb: vs.VideoNode, options: StylizeOptions) -> tuple[vs.VideoNode, ...]:
    """``(backward flow, c backward, forward flow, c forward)``, computed or checked."""
    if options.flows is None:
        bw = estimated_flow(rgb, "backward", 1, options)
        fw = estimated_flow(rgb, "forward", 1, options)
        return bw, reliability_filter(bw, fw), fw, reliability_filter(fw, bw)
    if len(options.flows) != 2 or options.reliability is None or len(options.reliability) != 2:
        raise OptionError("flows", "{name} and {opt[reliability]} must each be given as a (backward, forward) pair of clips")
    bw = check_flow_input(func, rgb, options.flows[0], "backward", 1)
    fw = check_flow_input(func, rgb, options.flows[1], "forward", 1)
    c_bw, c_fw = (check_weights_input(func, rgb, clip) for clip in options.reliability)
    return bw, c_bw, fw, c_fw


def _check_given(req: Request) -> None:
    """The user's ``(backward, forward)`` flows and reliability clips checked against the clip, before anything is loaded."""
    if req.options.flows is not None:
        _flow_clips(req.func, req.clip, req.options)


class _MultipassFilter:
    """Serves frames of chunks processed as a whole (see the module docstring)."""

    #: chunks whose results stay in memory (the last ones processed)
    KEEP_CHUNKS = 2

    def __init__(self, func: str, rgb: vs.VideoNode, flow_clips: tuple[vs.VideoNode, ...], frame_opt: FrameOptimizer,
                 settings: MultipassSettings, iterations: int, chunk: int, overlap: bool, cache: DiskCache | None,
                 params: str, environment: ComputeEnvironment,
                 first_network: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.func = func
        self.src = rgb
        self.flow_clips = flow_clips  # backward flow, c backward, forward flow, c forward
        self.frame_opt = frame_opt
        self.settings = settings
        self.iterations = iterations
        self.chunk = chunk
        self.overlap = overlap
        self.cache = cache
        self.params = params
        self.environment = environment
        self.first_network = first_network  # init="network": the network's output starts pass 1
        # the last KEEP_CHUNKS processed chunks, oldest first: each frame and its (cache entry, row) or None
        self._done: dict[int, list[tuple[torch.Tensor, tuple[str, int] | None]]] = {}
        self._lock = threading.Lock()
        self.out = vs.core.std.FrameEval(rgb, self._select)

    def _range(self, c: int) -> range:
        return range(c * self.chunk, min((c + 1) * self.chunk, self.src.num_frames))

    def _select(self, n: int) -> vs.VideoNode:
        c = n // self.chunk
        with self._lock:
            if c in self._done:
                return vs.core.std.ModifyFrame(self.src, self.src, lambda n, f: self._emit(c, n, [f], None))
        return self._continued(c) if self.overlap and c > 0 else self._chunk_node(c, None)

    def _chunk_node(self, c: int, prior: np.ndarray | None) -> vs.VideoNode:
        """Chunk ``c``'s frames through one ``std.ModifyFrame`` over :meth:`_chunk_clips`."""
        return vs.core.std.ModifyFrame(self.src, self._chunk_clips(c), lambda n, f: self._emit(c, n, f, prior))

    @functools.lru_cache(maxsize=2)  # noqa: B019 (one filter instance per clip; bounded)
    def _continued(self, c: int) -> vs.VideoNode:
        """Chunk ``c > 0`` continued from the prior ``out[c L - 1]`` unless a scene cut starts it.

        Nested ``std.FrameEval`` with ``prop_src``: first the chunk's first source frame (its scene-cut
        property), then the prior, and only then the chunk's inputs are requested, so walking back over
        many chunks holds one prior frame per chunk, not every chunk's inputs at once."""
        length, first = self.src.num_frames, c * self.chunk

        def with_prior(n: int, f: vs.VideoFrame) -> vs.VideoNode:
            return self._chunk_node(c, frame_to_numpy(f))

        def after_first(n: int, f: vs.VideoFrame) -> vs.VideoNode:
            if f.props.get(PROP_SCENE_CHANGE, 0):
                return self._chunk_node(c, None)
            return vs.core.std.FrameEval(self.src, with_prior, prop_src=self.out[first - 1] * length)

        return vs.core.std.FrameEval(self.src, after_first, prop_src=self.src[first] * length)

    @functools.lru_cache(maxsize=2)  # noqa: B019 (one filter instance per clip; bounded)
    def _chunk_clips(self, c: int) -> list[vs.VideoNode]:
        """The source clip, then every frame of chunk ``c`` of the source, both flows and both
        reliabilities as constant clips, so frame ``n`` of each is that chunk frame."""
        length = self.src.num_frames
        return [self.src] + [clip[k] * length for clip in (self.src, *self.flow_clips) for k in self._range(c)]

    def _emit(self, c: int, n: int, frames: list[vs.VideoFrame], prior: np.ndarray | None) -> vs.VideoFrame:
        """Frame ``n`` of chunk ``c``; ``prior``: ``(3, H, W)`` RGB of the prior frame ``c L - 1`` or ``None``."""
        with self._lock:
            results = self._done.get(c)
            if results is None:
                results = self._process(c, frames[1:], prior)
                self._done[c] = results
                while len(self._done) > self.KEEP_CHUNKS:
                    del self._done[next(iter(self._done))]
        image, where = results[n - c * self.chunk]
        out = tensor_to_frame(image, frames[0])
        if where is not None:
            out.props[PROP_CACHE_ENTRY], out.props[PROP_CACHE_INDEX] = where
        return out

    def _process(self, c: int, frames: list[vs.VideoFrame],
                 prior: np.ndarray | None) -> list[tuple[torch.Tensor, tuple[str, int] | None]]:
        span = self._range(c)
        m = len(span)
        dev = self.frame_opt.device
        src, bw, c_bw, fw, c_fw = (frames[i * m:(i + 1) * m] for i in range(5))
        contents = [frame_to_tensor(f, dev) for f in src]
        flows_bw = [frame_flow_tensor(f, dev) for f in bw]
        flows_fw = [frame_flow_tensor(f, dev) for f in fw]
        rel_bw = [frame_to_tensor(f, dev).clamp(0, 1) for f in c_bw]
        rel_fw = [frame_to_tensor(f, dev).clamp(0, 1) for f in c_fw]
        # shots inside the chunk: cut before every frame marked as a scene change
        cuts = [0] + [i for i in range(1, m) if src[i].props.get(PROP_SCENE_CHANGE, 0)] + [m]
        results: list[tuple[torch.Tensor, tuple[str, int] | None]] = []
        for a, b in itertools.pairwise(cuts):
            results += self._process_shot(span.start + a, contents[a:b], flows_bw[a:b], rel_bw[a:b],
                                          flows_fw[a:b], rel_fw[a:b], src[a:b], prior if a == 0 else None)
        return results

    def _process_shot(self, first: int, contents, flows_bw, rel_bw, flows_fw, rel_fw, src: list[vs.VideoFrame],
                      prior: np.ndarray | None) -> list[tuple[torch.Tensor, tuple[str, int] | None]]:
        dev = self.frame_opt.device
        # a continued shot depends on its prior frame, and its pass directions on the parity of num_passes
        # (multipass.pass_is_forward): both are part of the key
        content_key = digest(*(b"".join(np.ascontiguousarray(np.asarray(f[p])).tobytes() for p in range(3)) for f in src),
                             prior.tobytes() if prior is not None else b"no prior",
                             str(self.settings.num_passes % 2) if prior is not None else "")
        keys = {j: digest(self.params, str(first), content_key, str(j)) for j in range(1, self.settings.num_passes + 1)}
        count, height = len(contents), contents[0].shape[-2]
        final = keys[self.settings.num_passes]

        def located(images: list[torch.Tensor]) -> list[tuple[torch.Tensor, tuple[str, int] | None]]:
            if self.cache is None:
                return [(image, None) for image in images]
            return [(image, (self.cache.entry_name(final), i)) for i, image in enumerate(images)]

        start = None
        if self.cache is not None:
            for j in range(self.settings.num_passes, 0, -1):
                stored = self.cache.load(keys[j], lambda p: read_frame_png(p)[0])
                if stored is not None and stored.shape[1] == count * height:
                    frames = [stored[:, i * height:(i + 1) * height] for i in range(count)]
                    start = (j, [torch.from_numpy(np.ascontiguousarray(a)).unsqueeze(0).to(dev) for a in frames])
                    log.info("vsstylize.%s: frames %d-%d: resuming after pass %d", self.func, first,
                             first + count - 1, j)
                    break
        if start is not None and start[0] == self.settings.num_passes:
            return located(start[1])

        def stylize_frame(i: int, content: torch.Tensor, init: torch.Tensor | str, temporal) -> torch.Tensor:
            # rounded to what the cache stores, with or without one, so a resumed shot equals an uninterrupted one
            if isinstance(init, str) and init == "network":
                assert self.first_network is not None
                return round_frame(self.frame_opt(first + i, content, self.first_network(content), temporal,
                                                  self.iterations, fresh_start=False))
            return round_frame(self.frame_opt(first + i, content, init, temporal, self.iterations))

        def progress(p: PassProgress) -> None:
            log.info("vsstylize.%s: pass %d/%d (%s), frame %d/%d", self.func, p.pass_index, self.settings.num_passes,
                     "forward" if p.forward else "backward", p.frames_done, p.num_frames)

        def after_pass(j: int, res: list[torch.Tensor]) -> None:
            if self.cache is not None:
                array = torch.cat(res, dim=2)[0].to("cpu", torch.float32).numpy()  # frames stacked vertically
                self.cache.store(keys[j], lambda p: write_frame_png(p, array))
                if j > 1:  # resuming needs the last finished pass only
                    self.cache.path(keys[j - 1]).unlink(missing_ok=True)

        self.environment.apply()
        return located(multipass_shot(contents, flows_bw, rel_bw, flows_fw, rel_fw, stylize_frame, self.settings,
                                      progress=progress, start=start, after_pass=after_pass,
                                      prior=torch.from_numpy(prior).unsqueeze(0).to(dev) if prior is not None else None))


SPECS = (
    MethodSpec("multipass", "planar", "the multi-pass algorithm (Ruder et al. 2018 sec. 4.4): alternating passes over "
               "shots of max_shot_length frames", uses("loss", "optimizer", "multipass", only=(
                   "flows", "reliability", "flow_method", "flow_preset", "raft_weights", "flow_cache",
                   *INIT_NETWORK_OPTIONS)), _build, chain="shot",
               defaults={"num_iterations": (PASS_ITERATIONS, PASS_ITERATIONS)}, check=_check,
               inputs=_check_given),
)
