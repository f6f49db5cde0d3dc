"""Frame <-> tensor helpers, and conversion of user clips to the float formats the filters work in.

One pair of helpers (:func:`frame_to_tensor`, :func:`tensor_to_frame`) is used by every filter.
Layout: a VapourSynth frame of ``P`` planes of ``H x W`` becomes a torch tensor ``(1, P, H, W)``
float32 (plane order kept: R, G, B for RGB; Y for GRAY; u, v, 0 for flow clips).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import vapoursynth as vs

from ..errors import error

__all__ = [
    "ComputeEnvironment",
    "check_constant",
    "check_float_clip",
    "check_same_geometry",
    "compute_device",
    "frame_to_numpy",
    "frame_to_tensor",
    "from_rgbs",
    "numpy_to_frame",
    "output_format_of",
    "tensor_to_frame",
    "to_rgbs",
    "with_default_matrix",
]

_FLOAT_FORMATS = (vs.RGBS, vs.RGBH, vs.GRAYS, vs.GRAYH)


def compute_device(device: str | torch.device | None = None) -> torch.device:
    """The torch device to compute on: ``device``, else CUDA when available, else the CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


@dataclass(frozen=True)
class ComputeEnvironment:
    """What the float results of a computation on ``device`` depend on besides its inputs, captured when a
    filter is built: the torch version and, on the CPU, the instruction set torch dispatches to and the number
    of intra-op threads (the optimization's results differ by up to 144/255 after 100 L-BFGS iterations between
    1 and 2 threads), on CUDA the GPU model. :meth:`key` goes into the cache keys; every frame computation runs
    after :meth:`apply`, so a frame's values follow from its settings and its key alone.

    The thread count has to be set per computation: ``torch.set_num_threads`` changes the OpenMP thread count of
    the calling thread only (and the default of threads that have run no parallel operation yet). A VapourSynth
    worker thread that stylized frames at 2 threads kept computing with 2 after the main thread set 1, while the
    key said 1: the results then depended on which worker thread each frame landed on (1-7/255 apart).

    :ivar device: the compute device.
    :ivar threads: torch's intra-op threads at construction (``torch.get_num_threads()``).
    """

    device: torch.device
    threads: int = field(default_factory=torch.get_num_threads)

    def key(self) -> str:
        """The environment as a cache-key string (torch version, device, CPU capability and threads)."""
        if self.device.type == "cuda":
            where = f"cuda:{torch.cuda.get_device_name(self.device)}"
        else:
            where = f"{self.device.type}:{torch.backends.cpu.get_cpu_capability()}:threads={self.threads}"
        return f"torch {torch.__version__} {where}"

    def apply(self) -> None:
        """Set the calling thread's torch intra-op threads to :attr:`threads` (before each frame computation)."""
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)


def frame_to_numpy(frame: vs.VideoFrame) -> np.ndarray:
    """Copy a float frame into a numpy array ``(P, H, W)`` float32.

    :param frame: a frame of format RGBS, RGBH, GRAYS or GRAYH.
    :raises vs.Error: for other formats.
    """
    fmt = frame.format
    if fmt.sample_type != vs.FLOAT:
        raise error("frames", f"expected a float frame (RGBS/RGBH/GRAYS), got {fmt.name}")
    planes = [np.asarray(frame[p]) for p in range(fmt.num_planes)]
    return np.stack(planes).astype(np.float32, copy=False)


def frame_to_tensor(frame: vs.VideoFrame, device: torch.device | str = "cpu") -> torch.Tensor:
    """A float VapourSynth frame as a tensor ``(1, P, H, W)`` float32 on ``device``.

    RGB frames give ``(1, 3, H, W)`` with channels R, G, B (values as stored, usually [0, 1]);
    GRAY frames give ``(1, 1, H, W)``.

    :raises vs.Error: when the frame is not a float format.
    """
    arr = frame_to_numpy(frame)
    return torch.from_numpy(arr).unsqueeze(0).to(device)


class DeviceFrames:
    """Frames of one clip on the compute device, each uploaded once: a small cache (frame number -> tensor) shared
    by the nodes of a filter that need the same frames (the recursive chain and the flow computed beside it).

    On CUDA the host copy goes through pinned memory and does not block the calling thread.

    :param device: the compute device.
    :param capacity: frames kept (the most recently used).
    :ivar uploads: frames copied to the device so far.
    """

    def __init__(self, device: torch.device, capacity: int = 16) -> None:
        self.device = device
        self.capacity = capacity
        self.uploads = 0
        self._frames: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, n: int, frame: vs.VideoFrame) -> torch.Tensor:
        """Frame ``n`` (``frame``, a float format) as ``(1, P, H, W)`` float32 on the device.

        :raises vs.Error: when the frame is not a float format.
        """
        with self._lock:
            hit = self._frames.get(n)
            if hit is not None:
                self._frames.move_to_end(n)
                return hit
        host = torch.from_numpy(frame_to_numpy(frame)).unsqueeze(0)
        if self.device.type == "cuda":
            tensor = host.pin_memory().to(self.device, non_blocking=True)
        else:
            tensor = host.to(self.device)
        with self._lock:
            self.uploads += 1
            self._frames[n] = tensor
            while len(self._frames) > self.capacity:
                self._frames.popitem(last=False)
        return tensor


def numpy_to_frame(array: np.ndarray, template: vs.VideoFrame) -> vs.VideoFrame:
    """Write ``array`` ``(P, H, W)`` into a copy of ``template`` (same format and size) and return it.

    :raises vs.Error: when the array's shape does not match the template's planes and size.
    """
    fmt = template.format
    expected = (fmt.num_planes, template.height, template.width)
    if array.shape != expected:
        raise error("frames", f"tensor shape {array.shape} does not match frame {expected} ({fmt.name})")
    out = template.copy()
    dtype = np.float16 if fmt.bits_per_sample == 16 else np.float32
    for p in range(fmt.num_planes):
        np.copyto(np.asarray(out[p]), array[p].astype(dtype, copy=False))
    return out


def tensor_to_frame(tensor: torch.Tensor, template: vs.VideoFrame) -> vs.VideoFrame:
    """Write a tensor ``(1, P, H, W)`` (or ``(P, H, W)``) into a copy of ``template``.

    The template gives format, size and frame properties; it must be a float format with ``P`` planes.

    :raises vs.Error: when shapes do not match.
    """
    if tensor.dim() == 4:
        if tensor.shape[0] != 1:
            raise error("frames", f"expected a batch of one frame, got {tuple(tensor.shape)}")
        tensor = tensor[0]
    array = tensor.detach().to("cpu", torch.float32).numpy()
    return numpy_to_frame(array, template)


def check_constant(clip: vs.VideoNode, func: str, param: str) -> None:
    """Check that ``clip`` is a clip with a constant format and size.

    :raises vs.Error: naming ``func`` and ``param`` for other objects and variable format/size clips.
    """
    if not isinstance(clip, vs.VideoNode):
        raise error(func, f"{param} must be a clip (vs.VideoNode), got {type(clip).__name__}")
    fmt = clip.format
    if fmt is None or fmt.id == vs.PresetVideoFormat.NONE or clip.width == 0 or clip.height == 0:
        raise error(func, f"{param} must have a constant format and size (variable format/size clips are not supported)")


def check_float_clip(clip: vs.VideoNode, func: str, param: str, formats: tuple[int, ...] = _FLOAT_FORMATS) -> None:
    """Check that ``clip`` has a constant format and size among ``formats``.

    :raises vs.Error: naming ``func`` and ``param`` otherwise.
    """
    check_constant(clip, func, param)
    if clip.format.id not in formats:
        names = ", ".join(vs.core.get_video_format(f).name for f in formats)
        raise error(func, f"{param} must be one of {names}, got {clip.format.name}")


def check_same_geometry(a: vs.VideoNode, b: vs.VideoNode, func: str, name_a: str, name_b: str,
                        same_length: bool = True) -> None:
    """Check that two clips have the same size (and, by default, the same number of frames).

    :raises vs.Error: naming both parameters and their sizes.
    """
    if (a.width, a.height) != (b.width, b.height):
        raise error(func, f"{name_b} is {b.width}x{b.height} but {name_a} is {a.width}x{a.height}; they must match")
    if same_length and a.num_frames != b.num_frames:
        raise error(func, f"{name_b} has {b.num_frames} frames but {name_a} has {a.num_frames}; they must match")


def to_rgbs(clip: vs.VideoNode, func: str, param: str = "clip", matrix: int | str | None = None,
            precision: Literal["s", "h"] = "s") -> vs.VideoNode:
    """Convert any constant-format clip to RGBS (or RGBH) in [0, 1] with VapourSynth's resizer.

    YUV input uses ``matrix`` when given (an integer ``_Matrix`` code or a name such as ``"709"``),
    otherwise the clip's ``_Matrix`` frame property, falling back to BT.709 for HD and BT.601 (170m)
    for SD when the property is missing or unspecified. GRAY input is replicated to RGB.

    :param clip: a clip of constant format and size.
    :param func: the calling filter's name, for errors.
    :param param: the parameter name, for errors.
    :raises vs.Error: for variable format/size clips.
    """
    check_constant(clip, func, param)
    target = vs.RGBS if precision == "s" else vs.RGBH
    fmt = clip.format
    if fmt.id == target:
        return clip
    core = vs.core
    if fmt.color_family == vs.YUV:
        if matrix is None:
            # The clip's own _Matrix frame property wins; a default fills in where it is missing.
            return core.resize.Bicubic(with_default_matrix(clip), format=target)
        key = "matrix_in_s" if isinstance(matrix, str) else "matrix_in"
        return core.resize.Bicubic(clip, format=target, **{key: matrix})
    if fmt.color_family == vs.GRAY:
        clip = core.resize.Point(clip, format=vs.GRAYS)
        clip = core.std.ShufflePlanes([clip, clip, clip], planes=[0, 0, 0], colorfamily=vs.RGB)
        return clip if target == vs.RGBS else core.resize.Point(clip, format=target)
    return core.resize.Point(clip, format=target)


def with_default_matrix(clip: vs.VideoNode) -> vs.VideoNode:
    """A YUV ``clip`` whose frames all have ``_Matrix``: their own, or where it is missing or unspecified the
    default for the clip's size (BT.709 for HD, wider than 1024 or taller than 576; BT.601 ``170m`` for SD).
    Other clips are returned as they are."""
    if clip.format.color_family != vs.YUV:
        return clip
    default = _default_matrix(clip)

    def fix_matrix(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        if _frame_matrix(f.props, default) == f.props.get("_Matrix"):
            return f
        out = f.copy()
        out.props["_Matrix"] = default
        return out

    return vs.core.std.ModifyFrame(clip, clip, fix_matrix)


def _default_matrix(clip: vs.VideoNode) -> int:
    """The YUV matrix assumed where a frame's ``_Matrix`` is missing or unspecified: BT.709 for HD (wider than 1024
    or taller than 576), BT.601 (``170m``) for SD."""
    return vs.MATRIX_BT709 if clip.width > 1024 or clip.height > 576 else vs.MATRIX_ST170_M


def _frame_matrix(props: vs.FrameProps, default: int) -> int:
    m = props.get("_Matrix")
    return default if m is None or m == vs.MATRIX_UNSPECIFIED else int(m)


def _frame_range(props: vs.FrameProps) -> str:
    """``"limited"`` or ``"full"`` from ``_Range`` (VapourSynth R75+) or ``_ColorRange`` (older cores); YUV
    without either is limited."""
    key = "_Range" if "_Range" in props else "_ColorRange" if "_ColorRange" in props else None
    return "full" if key is not None and props[key] == vs.RANGE_FULL else "limited"


def output_format_of(clip: vs.VideoNode, output_format: int | None = None) -> vs.VideoFormat:
    """The format :func:`vsstylize.stylize` returns for an input ``clip``: ``output_format`` when given, else the
    clip's own format, except that a GRAY clip gives RGB of the same sample type and depth (a stylized frame has
    colour)."""
    if output_format is not None:
        return vs.core.get_video_format(output_format)
    fmt = clip.format
    if fmt.color_family == vs.GRAY:
        return fmt.replace(color_family=vs.RGB, subsampling_w=0, subsampling_h=0)
    return fmt


def from_rgbs(clip: vs.VideoNode, like: vs.VideoNode, func: str, matrix: int | str | None = None,
              output_format: int | None = None) -> vs.VideoNode:
    """Convert the RGB result ``clip`` of a filter back to the format of its input ``like`` (the inverse of
    :func:`to_rgbs`), or to ``output_format``.

    The rule (:func:`output_format_of`): YUV in gives YUV out in the same format, converted with the matrix the
    input was read with (``matrix`` when given, else each input frame's ``_Matrix``, else BT.709 for HD and
    BT.601 for SD), in the input frame's range (``_Range``) and chroma location; RGB in gives the same RGB
    format; GRAY in gives RGB of the same depth. ``_Transfer`` and ``_Primaries`` are not converted: they stay
    as the frames carry them. YUV or GRAY output from an RGB input uses ``matrix`` (default by size as above),
    limited range. A clip already in the target format is returned as it is (no conversion, bit-identical).

    :param clip: RGBS (or RGBH) frames, same size and length as ``like`` (other sizes are converted alike).
    :param like: the filter's input clip (its format and its frames' colour properties are used).
    :param func: the calling filter's name, for errors.
    :param matrix: as for :func:`to_rgbs` (an integer ``_Matrix`` code or a name such as ``"709"``).
    :param output_format: a VapourSynth format id (``vs.YUV420P10``), or ``None`` for the rule above.
    :raises vs.Error: a target format the resizer cannot produce (e.g. odd sizes with subsampling).
    """
    target = output_format_of(like, output_format)
    if target.id == clip.format.id:
        return clip
    core = vs.core
    if target.color_family == vs.RGB:
        return core.resize.Point(clip, format=target.id)
    if clip.width % (1 << target.subsampling_w) or clip.height % (1 << target.subsampling_h):
        raise error(func, f"output_format {target.name} needs a size divisible by its subsampling, got "
                          f"{clip.width}x{clip.height}")
    if matrix is not None:
        key = "matrix_s" if isinstance(matrix, str) else "matrix"
        return core.resize.Bicubic(clip, format=target.id, **{key: matrix})
    default = _default_matrix(like)
    if like.format.color_family != vs.YUV:
        return core.resize.Bicubic(clip, format=target.id, matrix=default)
    nodes: dict[tuple[int, str, int | None], vs.VideoNode] = {}

    def convert(n: int, f: vs.VideoFrame) -> vs.VideoNode:
        loc = f.props.get("_ChromaLocation")
        key = (_frame_matrix(f.props, default), _frame_range(f.props), None if loc is None else int(loc))
        if key not in nodes:
            extra = {} if key[2] is None else {"chromaloc": key[2]}
            nodes[key] = core.resize.Bicubic(clip, format=target.id, matrix=key[0], range_s=key[1], **extra)
        return nodes[key]

    template = core.resize.Bicubic(clip, format=target.id, matrix=default)
    return core.std.FrameEval(template, convert, prop_src=like, clip_src=[clip, like])
