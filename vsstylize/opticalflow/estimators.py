"""Dense optical flow estimators (OpenCV and RAFT) behind one small interface.

Every estimator computes the flow from image ``a`` to image ``b``: for a pixel ``x`` of ``a``,
``a(x) ~ b(x + flow(x))`` — OpenCV's convention, and the one :func:`vsstylize.opticalflow.warping.warp` expects.
Flows are ``(H, W, 2)`` float32 arrays, u right and v down, in pixels.

OpenCV methods take 8-bit grey images ``(H, W)`` uint8; RAFT takes RGB ``(H, W, 3)`` float32 in [0, 1].
Estimator objects are not thread-safe; :class:`EstimatorPool` keeps one per thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, get_args

import cv2
import numpy as np

from ..media.cache import DiskCache, digest
from ..media.compact import read_flow_png, round_flow, write_flow_png

if TYPE_CHECKING:  # the frame type only: training builds estimators without VapourSynth
    import vapoursynth as vs

__all__ = [
    "DIS_PRESETS",
    "FLOW_METHODS",
    "DisPreset",
    "EstimatorPool",
    "FlowEstimator",
    "FlowMethod",
    "FlowSettings",
    "make_estimator",
]

FlowMethod = Literal["dis", "dis_refined", "deepflow", "farneback", "raft"]
FLOW_METHODS: tuple[FlowMethod, ...] = get_args(FlowMethod)
DisPreset = Literal["ultrafast", "fast", "medium"]
DIS_PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclass(frozen=True)
class FlowSettings:
    """Which estimator and how it is configured; hashable, part of the flow cache key.

    :param method: ``"dis"`` (OpenCV DIS, Kroeger et al. 2016), ``"dis_refined"`` (DIS followed by
        OpenCV's variational refinement, as in DeepFlow's energy), ``"deepflow"`` (OpenCV contrib
        DeepFlow, Weinzaepfel et al. 2013, the flow of the papers), ``"farneback"`` or ``"raft"``
        (Teed & Deng 2020, torchvision architecture).
    :param preset: DIS preset ``"ultrafast" | "fast" | "medium"`` (DIS methods only).
    :param raft_weights: a weights file or a standard name (``"raft-large"``, ``"raft-small"``).
    :param device: torch device for RAFT (``"cuda"`` when available by default).
    """

    method: FlowMethod = "dis"
    preset: DisPreset = "medium"
    raft_weights: str | None = None
    device: str | None = None

    @property
    def wants_rgb(self) -> bool:
        """True when the estimator reads RGB float frames rather than 8-bit grey."""
        return self.method == "raft"

    def cache_tag(self) -> str:
        """A string naming everything that changes the result (for cache keys)."""
        if self.method in ("dis", "dis_refined"):
            return f"{self.method}:{self.preset}:cv{cv2.__version__}"
        if self.method == "raft":
            return f"raft:{self.raft_weights}"
        return f"{self.method}:cv{cv2.__version__}"


class FlowEstimator(Protocol):
    """``estimator(a, b) -> (H, W, 2)`` float32 flow from ``a`` to ``b``."""

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray: ...


def _dis(preset: str) -> FlowEstimator:
    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])

    def estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return dis.calc(a, b, None)

    return estimate


def _dis_refined(preset: str) -> FlowEstimator:
    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
    refine = cv2.VariationalRefinement_create()
    refine.setFixedPointIterations(10)
    refine.setSorIterations(10)

    def estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        flow = dis.calc(a, b, None)
        return refine.calc(a, b, flow)

    return estimate


def _deepflow() -> FlowEstimator:
    deepflow = cv2.optflow.createOptFlow_DeepFlow()

    def estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return deepflow.calc(a, b, None)

    return estimate


def _farneback() -> FlowEstimator:
    def estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=5, winsize=15,
                                            iterations=5, poly_n=7, poly_sigma=1.5,
                                            flags=cv2.OPTFLOW_FARNEBACK_GAUSSIAN)

    return estimate


def make_estimator(settings: FlowSettings) -> FlowEstimator:
    """Build a new (not thread-safe) estimator for ``settings``.

    :raises ValueError: for an unknown method or DIS preset.
    :raises RuntimeError: for RAFT when its weights cannot be found (see :mod:`vsstylize.opticalflow.raft`).
    """
    if settings.method not in FLOW_METHODS:
        raise ValueError(f"method must be one of {', '.join(FLOW_METHODS)}, got {settings.method!r}")
    if settings.method in ("dis", "dis_refined") and settings.preset not in DIS_PRESETS:
        raise ValueError(f"preset must be one of {', '.join(DIS_PRESETS)}, got {settings.preset!r}")
    if settings.method == "dis":
        return _dis(settings.preset)
    if settings.method == "dis_refined":
        return _dis_refined(settings.preset)
    if settings.method == "deepflow":
        return _deepflow()
    if settings.method == "farneback":
        return _farneback()
    from .raft import RaftEstimator

    return RaftEstimator(settings.raft_weights, settings.device)


class EstimatorPool:
    """One estimator per thread (OpenCV algorithm objects keep per-call state)."""

    def __init__(self, factory: Callable[[], FlowEstimator]) -> None:
        self._factory = factory
        self._local = threading.local()

    def get(self) -> FlowEstimator:
        """The calling thread's estimator, created on first use."""
        est = getattr(self._local, "estimator", None)
        if est is None:
            est = self._factory()
            self._local.estimator = est
        return est


def estimator_array(frame: vs.VideoFrame, rgb: bool) -> np.ndarray:
    """An estimator's input from a frame: ``(H, W, 3)`` float32 RGB (RAFT, from RGBS) or ``(H, W)`` uint8
    (OpenCV methods, from GRAY8), C-contiguous."""
    if rgb:
        return np.stack([np.asarray(frame[p]) for p in range(3)], axis=-1)
    return np.ascontiguousarray(np.asarray(frame[0]))


class FlowEngine:
    """An estimator of ``settings`` (one per thread) with an optional flow cache: the flow between two frames on
    the host, computed once per content and settings.

    The cache key holds the settings (:meth:`FlowSettings.cache_tag`), the direction and step the flow is stored
    as, and both frames' content, so :func:`vsstylize.flow` and the methods share entries.

    :param settings: estimator and settings.
    :param cache: a :class:`~vsstylize.media.cache.DiskCache` of 16-bit flow PNGs (:mod:`vsstylize.media.compact`), or ``None``.
    :raises ValueError, RuntimeError: the estimator cannot be built (checked at once, on the calling thread).
    """

    def __init__(self, settings: FlowSettings, cache: DiskCache | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self._pool = EstimatorPool(lambda: make_estimator(settings))
        self._pool.get()  # build (and validate) the calling thread's estimator now

    def estimator(self) -> FlowEstimator:
        """The calling thread's estimator."""
        return self._pool.get()

    def flow(self, a: np.ndarray, b: np.ndarray, direction: str, step: int) -> np.ndarray:
        """Flow from ``a`` to ``b`` (:func:`estimator_array` layout), stored as a ``direction`` flow of ``step``.

        :returns: ``(H, W, 2)`` float32 in pixels, multiples of :data:`vsstylize.media.compact.FLOW_STEP`.
        """
        key = ""
        if self.cache is not None:
            key = digest(f"{self.settings.cache_tag()}:{direction}:{step}", a.tobytes(), b.tobytes(), str(a.shape))
            cached = self.cache.load(key, read_flow_png)
            if cached is not None:
                return cached
        uv = round_flow(self.estimator()(a, b))  # the values the cache stores, with or without one
        if self.cache is not None:
            self.cache.store(key, lambda path: write_flow_png(path, uv))
        return uv
