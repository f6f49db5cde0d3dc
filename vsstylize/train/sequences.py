"""Ground-truth video sequences made from real photos (Ruder et al. 2018, sec. 5.2.3).

Ruder et al. built synthetic training sequences from Microsoft COCO photos by moving and zooming a
crop window over an image, which "comes with ground truth optical flow and occlusion maps". This module
does the same for benchmarking, and adds an independently moving foreground object so that there are
real disocclusions:

* the **background** of frame ``t`` is the source photo seen through a camera ``C_t``, a 3x3 similarity
  transform mapping frame pixel coordinates to source-photo pixel coordinates (pan, zoom, rotation);
* the **foreground object** is a textured patch cut from a different real photo, with an antialiased
  alpha mask (ellipse or star-shaped polygon), placed by ``O_t``, a 3x3 similarity transform mapping
  object-texture coordinates to frame coordinates, and composited on top:
  ``frame_t = alpha_t * object_t + (1 - alpha_t) * background_t``.

Both layers are rendered by inverse mapping with OpenCV ``remap`` (bilinear), so the ground truth is
exact up to interpolation. For a pixel ``x`` of frame ``t`` and its partner frame ``s``:

* background: ``x' = C_s^-1 C_t x`` (composition of the two camera transforms);
* object (``alpha_t(x) >= 0.5``): ``x' = O_s O_t^-1 x`` (the object's own motion);
* flow ``= x' - x`` in pixels, ``u`` right, ``v`` down, stored at frame ``t`` (the vsstylize convention:
  backward flow points ``t -> t-1``, forward flow ``t -> t+1``, long-term backward flow ``t -> t-k``),
  so :func:`vsstylize.opticalflow.warping.warp` of frame ``s`` with it reproduces frame ``t``;
* mask (1 = visible in the partner with a valid correspondence): ``x'`` lies inside the image
  (``0 <= x' <= W-1``, ``0 <= y' <= H-1``), and the layer seen at ``x`` is the layer seen at ``x'``:
  a background pixel whose point is covered by the object in frame ``s`` is occluded (0), and pixels on
  the antialiased object outline (mixed layers, a motion boundary) are 0 as well.

Arrays: frames ``(T, 3, H, W)`` float32 RGB in [0, 1]; flows ``(T, 2, H, W)`` float32 pixels, masks
``(T, H, W)`` float32 in {0, 1}. Frames without a partner (``t = 0`` backward, ``t = T-1`` forward,
``t < k`` long-term) carry zero flow and an all-zero mask.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import cv2
import numpy as np

from ..opticalflow.files import encode_flo, read_flo, read_pgm, write_pgm

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = [
    "LONG_TERM_STEPS",
    "PRESETS",
    "Scene",
    "Sequence",
    "SequenceClips",
    "build_scene",
    "check_size",
    "load_image",
    "load_sequence",
    "make_sequence",
]

#: Frame distances of the long-term consistency work (Ruder et al. 2018 sec. 4.3, J = {1, 10, 20, 40}, plus 5).
LONG_TERM_STEPS: tuple[int, ...] = (5, 10, 20, 40)

#: Alpha below this is "background only", above ``1 - ALPHA_EPS`` "object only"; in between is the outline.
ALPHA_EPS = 1e-3
#: Source-photo pixels per frame pixel at the most zoomed-out frame: < 1 magnifies the photo slightly so
#: bilinear re-sampling stays within interpolation error (no aliasing).
MAX_SOURCE_SCALE = 0.6
#: Object-texture pixels per frame pixel at the object's largest size.
MAX_TEXTURE_SCALE = 0.6
#: Largest zoom ratio between the first and the last frame (long sequences zoom more slowly per frame).
MAX_TOTAL_ZOOM = 2.5
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".y4m"}
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp"}

ImageSource = str | os.PathLike[str] | np.ndarray


# ----------------------------------------------------------------------------------------
# presets
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Preset:
    """Sampling ranges of one difficulty preset (speeds in frame widths per frame, angles in degrees)."""

    description: str
    cam_speed: tuple[float, float]
    cam_zoom: tuple[float, float]  # |log zoom| per frame; the sign is drawn
    cam_rot_deg: float  # max |rotation| per frame
    horizontal_only: bool  # pan along x only (fast_pan)
    obj_size: tuple[float, float]  # object size as a fraction of the frame size
    obj_speed: tuple[float, float]
    obj_rot_deg: float
    obj_zoom: float  # max |log zoom| per frame of the object
    passing: bool  # object enters at t = 0 and leaves by t = T-1 (occluder_pass)


PRESETS: dict[str, _Preset] = {
    "slow_pan": _Preset("slow camera pan with slight zoom and rotation; a small object drifts across",
                        (0.005, 0.015), (0.0, 0.004), 0.15, False, (0.25, 0.35), (0.01, 0.02), 0.5, 0.003, False),
    "fast_pan_zoom": _Preset("fast pan with strong zoom and rotation; the object moves fast",
                             (0.03, 0.06), (0.02, 0.04), 1.0, False, (0.25, 0.35), (0.02, 0.04), 2.0, 0.01, False),
    "large_occluder": _Preset("slow pan; a large object (half the frame) moves fast, large disocclusions",
                              (0.005, 0.015), (0.0, 0.004), 0.15, False, (0.5, 0.65), (0.03, 0.05), 1.0, 0.005, False),
    "occluder_pass": _Preset("almost static camera; an object enters, covers part of the background and leaves",
                             (0.0, 0.003), (0.0, 0.001), 0.0, False, (0.5, 0.7), (0.0, 0.0), 0.3, 0.0, True),
    "fast_pan": _Preset("strong horizontal pan; new content enters from one border every frame",
                        (0.08, 0.12), (0.0, 0.0), 0.0, True, (0.2, 0.25), (0.01, 0.02), 0.5, 0.0, False),
}


# ----------------------------------------------------------------------------------------
# images
# ----------------------------------------------------------------------------------------
def _read_video_frame(path: Path, frame: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ValueError(f"image: OpenCV cannot open the video {path}")
        if frame > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, bgr = cap.read()
    finally:
        cap.release()
    if not ok or bgr is None:
        raise ValueError(f"image: cannot decode frame {frame} of {path}")
    return bgr


def load_image(source: ImageSource, frame: int = 0, param: str = "image") -> np.ndarray:
    """Load a real photo as ``(H, W, 3)`` float32 RGB in [0, 1].

    :param source: an image file (anything OpenCV reads), a video file (``.mp4`` ...; frame ``frame`` is
        decoded with ``cv2.VideoCapture``), a path of the form ``"clip.mp4#12"`` (frame 12), or an array
        ``(H, W, 3)`` RGB (uint8 0..255, or float in [0, 1]).
    :param frame: frame index for video files.
    :param param: parameter name used in error messages.
    :raises FileNotFoundError: the file does not exist.
    :raises ValueError: undecodable file, bad array shape/dtype, image smaller than 16x16.
    """
    if isinstance(source, np.ndarray):
        return _array_image(source, param)
    text = os.fspath(source)
    if "#" in text and not Path(text).exists():
        text, _, idx = text.rpartition("#")
        if not idx.isdigit():
            raise ValueError(f"{param}: frame index after '#' must be an integer, got {idx!r}")
        frame = int(idx)
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"{param}: no such file {path}")
    if path.suffix.lower() in _VIDEO_SUFFIXES:
        bgr = _read_video_frame(path, frame)
    else:
        read = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if read is None:
            raise ValueError(f"{param}: OpenCV cannot decode {path}")
        bgr = np.asarray(read)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return _array_image(rgb, param)


def _array_image(arr: np.ndarray, param: str) -> np.ndarray:
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{param}: expected an (H, W, 3) RGB image, got shape {arr.shape}")
    if min(arr.shape[:2]) < 16:
        raise ValueError(f"{param}: image too small ({arr.shape[1]}x{arr.shape[0]}), need at least 16x16")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(arr, 0.0, 1.0).astype(np.float32)
    raise ValueError(f"{param}: expected uint8 or float pixels, got {arr.dtype}")


# ----------------------------------------------------------------------------------------
# geometry
# ----------------------------------------------------------------------------------------
def _similarity(center_to: tuple[float, float], angle: float, scale: float,
                center_from: tuple[float, float]) -> np.ndarray:
    """3x3 matrix ``T(center_to) R(angle) S(scale) T(-center_from)`` (angle in radians)."""
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    fx, fy = center_from
    tx, ty = center_to
    return np.array([[c, -s, tx - c * fx + s * fy],
                     [s, c, ty - s * fx - c * fy],
                     [0.0, 0.0, 1.0]])


def _apply(m: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the affine 3x3 ``m`` to point coordinates ``xs``, ``ys`` (same shape)."""
    return m[0, 0] * xs + m[0, 1] * ys + m[0, 2], m[1, 0] * xs + m[1, 1] * ys + m[1, 2]


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    return xs, ys


def _remap(img: np.ndarray, xs: np.ndarray, ys: np.ndarray, border: int) -> np.ndarray:
    """Bilinear inverse mapping ``out(x) = img(xs(x), ys(x))`` with OpenCV ``remap``."""
    return cv2.remap(img, xs.astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=border, borderValue=0)


# ----------------------------------------------------------------------------------------
# the scene: camera path, object path, textures
# ----------------------------------------------------------------------------------------
@dataclass
class Scene:
    """Everything needed to render the frames and the ground truth of a sequence (:func:`build_scene`).

    ``camera[t]``: frame -> background coordinates; ``obj_inv[t]``: frame -> object-texture coordinates (3x3
    similarity matrices, pixel centres at integers). ``background`` is the source photo resized so that every
    frame's footprint lies inside it with a margin (float32 in [0, 1], or uint8 when the photo was uint8).
    """

    background: np.ndarray  # (Hs, Ws, 3) float32 or uint8, the resized source photo
    texture: np.ndarray  # (ht, wt, 3) float32
    alpha_tex: np.ndarray  # (ht, wt) float32 in [0, 1]
    camera: np.ndarray  # (T, 3, 3)
    obj_inv: np.ndarray  # (T, 3, 3)
    params: dict[str, Any]


def _signed(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi)) * (1.0 if rng.random() < 0.5 else -1.0)


def _camera_path(p: _Preset, rng: np.random.Generator, t_count: int, w: int, h: int) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Camera matrices with the first centre at the origin (frame px -> source px, before placement)."""
    speed = float(rng.uniform(*p.cam_speed)) * w
    direction = 0.0 if rng.random() < 0.5 else math.pi
    if not p.horizontal_only:
        direction = float(rng.uniform(0.0, 2.0 * math.pi))
    vx, vy = speed * math.cos(direction), speed * math.sin(direction)
    log_zoom = _signed(rng, *p.cam_zoom)
    log_zoom = math.copysign(min(abs(log_zoom), math.log(MAX_TOTAL_ZOOM) / max(t_count - 1, 1)), log_zoom)
    rot = math.radians(_signed(rng, 0.0, p.cam_rot_deg)) if p.cam_rot_deg > 0 else 0.0
    rot0 = math.radians(float(rng.uniform(-2.0, 2.0))) if p.cam_rot_deg > 0 else 0.0
    scales = np.exp(log_zoom * np.arange(t_count))
    scales *= MAX_SOURCE_SCALE / scales.max()
    fc = ((w - 1) / 2.0, (h - 1) / 2.0)
    mats = [_similarity((vx * MAX_SOURCE_SCALE * t, vy * MAX_SOURCE_SCALE * t), rot0 + rot * t, float(scales[t]), fc)
            for t in range(t_count)]
    # New content enters where the window moves to: moving right shows new content at the right border.
    side = ("right" if vx >= 0 else "left") if abs(vx) >= abs(vy) else ("bottom" if vy >= 0 else "top")
    info = {"camera_velocity_px": [vx, vy], "camera_log_zoom_per_frame": log_zoom,
            "camera_rotation_deg_per_frame": math.degrees(rot), "camera_rotation0_deg": math.degrees(rot0),
            "camera_scale_first_last": [float(scales[0]), float(scales[-1])], "entering_side": side}
    return mats, info


def _placement(photo_shape: tuple[int, ...], mats: list[np.ndarray], w: int, h: int,
               rng: np.random.Generator) -> tuple[tuple[int, int], float, np.ndarray, dict[str, Any]]:
    """Where the camera path lies in the photo: the photo's new size ``(W', H')`` so every frame's footprint
    fits, the resize factor, and the camera matrices shifted inside the resized photo (frame px -> resized px)."""
    corners_x = np.array([-1.0, w, -1.0, w])
    corners_y = np.array([-1.0, -1.0, h, h])
    pts = np.concatenate([np.stack(_apply(m, corners_x, corners_y), axis=1) for m in mats])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    extent = hi - lo + 6.0  # the footprint plus a margin of 3 source pixels on each side
    ph, pw = photo_shape[:2]
    factor = 1.02 * max(extent[0] / pw, extent[1] / ph)
    new_w, new_h = max(int(math.ceil(pw * factor)), 2), max(int(math.ceil(ph * factor)), 2)
    off_x = float(rng.uniform(-lo[0] + 1.0, new_w - 2.0 - hi[0]))
    off_y = float(rng.uniform(-lo[1] + 1.0, new_h - 2.0 - hi[1]))
    shift = np.array([[1.0, 0.0, off_x], [0.0, 1.0, off_y], [0.0, 0.0, 1.0]])
    camera = np.stack([shift @ m for m in mats])
    info = {"source_resize_factor": factor, "source_resized_size": [new_w, new_h]}
    return (new_w, new_h), factor, camera, info


def _resize_photo(photo: np.ndarray, size: tuple[int, int], factor: float) -> np.ndarray:
    """``photo`` resized to ``size`` ``(W, H)``: ``INTER_AREA`` when shrinking, ``INTER_CUBIC`` when enlarging;
    float images are clipped to [0, 1] and returned as float32, uint8 images stay uint8."""
    interp = cv2.INTER_AREA if factor < 1.0 else cv2.INTER_CUBIC
    out = cv2.resize(photo, size, interpolation=interp)
    return out if photo.dtype == np.uint8 else np.clip(out, 0.0, 1.0).astype(np.float32)


def _place_background(photo: np.ndarray, mats: list[np.ndarray], w: int, h: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Resize the photo so every frame's footprint fits, and shift the camera path inside it."""
    size, factor, camera, info = _placement(photo.shape, mats, w, h, rng)
    return _resize_photo(photo, size, factor), camera, info


def _object_shape(rng: np.random.Generator, wt: int, ht: int) -> tuple[np.ndarray, str]:
    """Antialiased alpha ``(ht, wt)``: an ellipse or a star-shaped polygon, drawn 4x and area-downsampled."""
    ss = 4
    canvas = np.zeros((ht * ss, wt * ss), np.uint8)
    cx, cy = (wt * ss - 1) / 2.0, (ht * ss - 1) / 2.0
    rx, ry = (wt - 4) * ss / 2.0, (ht - 4) * ss / 2.0  # 2 px transparent margin
    if rng.random() < 0.5:
        cv2.ellipse(canvas, (round(cx), round(cy)), (round(rx), round(ry)), 0.0, 0.0, 360.0, 255, -1)
        kind = "ellipse"
    else:
        n = int(rng.integers(6, 11))
        angles = np.sort(rng.uniform(0.0, 2.0 * math.pi, n))
        radii = rng.uniform(0.6, 1.0, n)
        poly = np.stack([cx + rx * radii * np.cos(angles), cy + ry * radii * np.sin(angles)], axis=1)
        cv2.fillPoly(canvas, [np.round(poly).astype(np.int32)], 255)
        kind = f"polygon{n}"
    alpha = cv2.resize(canvas.astype(np.float32) / 255.0, (wt, ht), interpolation=cv2.INTER_AREA)
    alpha[alpha < ALPHA_EPS] = 0.0
    alpha[alpha > 1.0 - ALPHA_EPS] = 1.0
    return alpha, kind


def _object_texture(photo: np.ndarray, rng: np.random.Generator, wt: int, ht: int) -> tuple[np.ndarray, list[int]]:
    """A random crop of ``photo`` with the object's aspect ratio, area-resized to ``(ht, wt)``."""
    ph, pw = photo.shape[:2]
    frac = float(rng.uniform(0.3, 0.6))
    cw = min(pw, max(4, round(min(pw, ph * wt / ht) * frac)))
    ch = min(ph, max(4, round(cw * ht / wt)))
    x0 = int(rng.integers(0, pw - cw + 1))
    y0 = int(rng.integers(0, ph - ch + 1))
    crop = photo[y0:y0 + ch, x0:x0 + cw]
    if crop.dtype == np.uint8:
        crop = crop.astype(np.float32) / 255.0
    interp = cv2.INTER_AREA if cw >= wt else cv2.INTER_CUBIC
    tex = np.clip(cv2.resize(crop, (wt, ht), interpolation=interp), 0.0, 1.0).astype(np.float32)
    return tex, [x0, y0, cw, ch]


def _object_path(p: _Preset, rng: np.random.Generator, t_count: int, w: int, h: int,
                 ow: float, oh: float, wt: int, ht: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Inverse object transforms (frame -> texture px), one per frame."""
    log_zoom = _signed(rng, 0.0, p.obj_zoom) if p.obj_zoom > 0 else 0.0
    zooms = np.exp(log_zoom * (np.arange(t_count) - (t_count - 1) / 2.0))
    base = ow / wt  # frame px per texture px at zoom 1
    base *= (1.0 / MAX_TEXTURE_SCALE) / (base * zooms.max())  # largest size: MAX_TEXTURE_SCALE texture px per px
    rot = math.radians(_signed(rng, 0.0, p.obj_rot_deg)) if p.obj_rot_deg > 0 else 0.0
    rot0 = math.radians(float(rng.uniform(-20.0, 20.0)))
    mid = (t_count - 1) / 2.0
    if p.passing:
        radius = 0.5 * math.hypot(ow, oh) * float(zooms.max()) + 2.0
        sign = 1.0 if rng.random() < 0.5 else -1.0
        x_start = -radius if sign > 0 else w - 1 + radius
        vx = sign * (w - 1 + 2.0 * radius) / max(t_count - 1, 1)
        vy = 0.0
        cx0, cy0 = x_start + vx * mid, float(rng.uniform(0.4, 0.6)) * (h - 1)
    else:
        speed = float(rng.uniform(*p.obj_speed)) * w
        direction = float(rng.uniform(0.0, 2.0 * math.pi))
        vx, vy = speed * math.cos(direction), speed * math.sin(direction)
        cx0 = (0.5 + float(rng.uniform(-0.15, 0.15))) * (w - 1)
        cy0 = (0.5 + float(rng.uniform(-0.15, 0.15))) * (h - 1)
    tc = ((wt - 1) / 2.0, (ht - 1) / 2.0)
    inv = np.stack([
        np.linalg.inv(_similarity((cx0 + vx * (t - mid), cy0 + vy * (t - mid)), rot0 + rot * (t - mid),
                                  base * float(zooms[t]), tc))
        for t in range(t_count)
    ])
    info = {"object_velocity_px": [vx, vy], "object_center_mid": [cx0, cy0],
            "object_rotation_deg_per_frame": math.degrees(rot), "object_log_zoom_per_frame": log_zoom,
            "object_frame_px_per_texture_px_mid": base}
    return inv, info


def _build_scene(preset: _Preset, photo: np.ndarray, tex_photo: np.ndarray, t_count: int, w: int, h: int,
                 rng: np.random.Generator) -> Scene:
    mats, cam_info = _camera_path(preset, rng, t_count, w, h)
    background, camera, place_info = _place_background(photo, mats, w, h, rng)
    size_frac = float(rng.uniform(*preset.obj_size))
    aspect = float(rng.uniform(0.6, 1.6))
    ow = size_frac * min(w, h) * math.sqrt(aspect) * (w / min(w, h)) ** 0.5
    oh = size_frac * min(w, h) / math.sqrt(aspect) * (h / min(w, h)) ** 0.5
    wt = max(8, int(math.ceil(ow * MAX_TEXTURE_SCALE)))
    ht = max(8, int(math.ceil(oh * MAX_TEXTURE_SCALE)))
    alpha_tex, shape = _object_shape(rng, wt, ht)
    texture, crop = _object_texture(tex_photo, rng, wt, ht)
    obj_inv, obj_info = _object_path(preset, rng, t_count, w, h, ow, oh, wt, ht)
    params = {**cam_info, **place_info, **obj_info, "object_shape": shape, "object_size_px": [ow, oh],
              "object_texture_size": [wt, ht], "object_texture_crop": crop}
    return Scene(background, texture, alpha_tex, camera, obj_inv, params)


def build_scene(preset: str, photo: np.ndarray, texture_photo: np.ndarray, num_frames: int,
                size: tuple[int, int], rng: np.random.Generator) -> Scene:
    """Draw the camera path, the object and its path of one sequence (the part of :func:`make_sequence` before
    rendering), for renderers of their own (the training data renders scenes on the compute device,
    :mod:`vsstylize.train.synthetic`).

    :param preset: a key of :data:`PRESETS`.
    :param photo: background photo ``(H, W, 3)``, float32 RGB in [0, 1] or uint8 (then the scene's
        ``background`` is uint8 too).
    :param texture_photo: photo the object is cut from, float32 or uint8.
    :param num_frames: ``T >= 2``.
    :param size: ``(W, H)`` of the frames.
    :param rng: the random generator every choice is drawn from.
    :raises ValueError: unknown preset, bad ``num_frames`` or ``size``.
    """
    spec, w, h, _ = _check_args(preset, num_frames, size, 0, ())
    return _build_scene(spec, photo, texture_photo, num_frames, w, h, rng)


def _render(scene: Scene, t: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``t`` ``(H, W, 3)`` and its object coverage alpha ``(H, W)``, by inverse mapping."""
    xs, ys = _grid(h, w)
    bx, by = _apply(scene.camera[t], xs, ys)
    bg = _remap(scene.background, bx, by, cv2.BORDER_REFLECT_101)
    ox, oy = _apply(scene.obj_inv[t], xs, ys)
    fg = _remap(scene.texture, ox, oy, cv2.BORDER_REPLICATE)
    alpha = _remap(scene.alpha_tex, ox, oy, cv2.BORDER_CONSTANT)
    alpha[alpha < ALPHA_EPS] = 0.0
    alpha[alpha > 1.0 - ALPHA_EPS] = 1.0
    frame = alpha[..., None] * fg + (1.0 - alpha[..., None]) * bg
    return np.clip(frame, 0.0, 1.0).astype(np.float32), alpha.astype(np.float32)


def _pair_truth(camera: np.ndarray, obj_inv: np.ndarray, alphas: np.ndarray, t: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact flow ``(2, H, W)`` from frame ``t`` to frame ``s`` and its validity mask ``(H, W)``.

    Background pixels move by ``C_s^-1 C_t``, object pixels (``alpha_t >= 0.5``) by ``O_s O_t^-1``.
    The mask is 1 where the partner position is inside the image and shows the same layer, judged by
    bilinearly sampling the partner's alpha there (so a backward warp reads no pixel of the other layer).
    """
    h, w = alphas.shape[1:]
    xs, ys = _grid(h, w)
    bx, by = _apply(np.linalg.inv(camera[s]) @ camera[t], xs, ys)
    fx, fy = _apply(np.linalg.inv(obj_inv[s]) @ obj_inv[t], xs, ys)
    a_t = alphas[t]
    on_object = a_t >= 0.5
    px = np.where(on_object, fx, bx)
    py = np.where(on_object, fy, by)
    inside = (px >= 0.0) & (px <= w - 1) & (py >= 0.0) & (py <= h - 1)
    a_s = _remap(alphas[s], px, py, cv2.BORDER_CONSTANT)
    same_layer = ((a_t <= ALPHA_EPS) & (a_s <= ALPHA_EPS)) | ((a_t >= 1.0 - ALPHA_EPS) & (a_s >= 1.0 - ALPHA_EPS))
    flow = np.stack([px - xs, py - ys]).astype(np.float32)
    return flow, (inside & same_layer).astype(np.float32)


def _truth_series(camera: np.ndarray, obj_inv: np.ndarray, alphas: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Flows ``(T, 2, H, W)`` and masks ``(T, H, W)`` from every frame ``t`` to ``t + offset``."""
    t_count, h, w = alphas.shape
    flows = np.zeros((t_count, 2, h, w), np.float32)
    masks = np.zeros((t_count, h, w), np.float32)
    for t in range(t_count):
        s = t + offset
        if 0 <= s < t_count:
            flows[t], masks[t] = _pair_truth(camera, obj_inv, alphas, t, s)
    return flows, masks


# ----------------------------------------------------------------------------------------
# the sequence
# ----------------------------------------------------------------------------------------
class SequenceClips(NamedTuple):
    """VapourSynth clips of a :class:`Sequence` (flow clips follow :mod:`vsstylize.opticalflow.clips`)."""

    frames: vs.VideoNode  #: RGBS frames in [0, 1]
    flow_backward: vs.VideoNode  #: RGBS flow t -> t-1 (u, v, 0); FlowDirection "backward", FlowStep 1
    flow_forward: vs.VideoNode  #: RGBS flow t -> t+1; FlowDirection "forward", FlowStep 1
    reliability_backward: vs.VideoNode  #: GRAYS mask of the backward flow
    reliability_forward: vs.VideoNode  #: GRAYS mask of the forward flow
    long_flows: dict[int, vs.VideoNode]  #: ``{k: RGBS flow t -> t-k}`` (FlowDirection "backward", FlowStep k)
    long_reliability: dict[int, vs.VideoNode]  #: ``{k: GRAYS mask of t -> t-k}``


@dataclass
class Sequence:
    """A video with exact ground-truth optical flow and disocclusion masks.

    :ivar name: sequence name (default ``"<preset>-<seed>"``).
    :ivar frames: ``(T, 3, H, W)`` float32 RGB in [0, 1].
    :ivar flow_backward: ``(T, 2, H, W)`` float32 pixels, frame ``t`` -> ``t-1`` (zero at ``t = 0``).
    :ivar flow_forward: ``(T, 2, H, W)``, ``t`` -> ``t+1`` (zero at ``t = T-1``).
    :ivar mask_backward: ``(T, H, W)`` float32, 1 = pixel of ``t`` visible in ``t-1`` with a valid
        correspondence, 0 = disoccluded, on a motion boundary or out of view (all 0 at ``t = 0``).
    :ivar mask_forward: ``(T, H, W)``, the same towards ``t+1``.
    :ivar long_flows: ``{k: (T, 2, H, W)}`` backward flow ``t`` -> ``t-k`` (zero for ``t < k``).
    :ivar long_masks: ``{k: (T, H, W)}`` their masks.
    :ivar alpha: ``(T, H, W)`` float32 object coverage of each frame (1 = object, 0 = background).
    :ivar camera: ``(T, 3, 3)`` frame -> resized-source-photo coordinates.
    :ivar object_inverse: ``(T, 3, 3)`` frame -> object-texture coordinates.
    :ivar metadata: name, preset, sources, sampled parameters, seed (JSON-serialisable).
    """

    name: str
    frames: np.ndarray
    flow_backward: np.ndarray
    flow_forward: np.ndarray
    mask_backward: np.ndarray
    mask_forward: np.ndarray
    long_flows: dict[int, np.ndarray]
    long_masks: dict[int, np.ndarray]
    alpha: np.ndarray
    camera: np.ndarray
    object_inverse: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(W, H)``."""
        return int(self.frames.shape[3]), int(self.frames.shape[2])

    @property
    def long_steps(self) -> tuple[int, ...]:
        return tuple(sorted(self.long_flows))

    def flow(self, direction: str = "backward", step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``(flows (T, 2, H, W), masks (T, H, W))`` for ``direction`` and frame distance ``step``.

        :raises ValueError: unknown direction, or a step that was not generated (forward only has step 1).
        """
        if direction not in ("backward", "forward"):
            raise ValueError(f"direction must be 'backward' or 'forward', got {direction!r}")
        if step == 1:
            return (self.flow_backward, self.mask_backward) if direction == "backward" else (self.flow_forward, self.mask_forward)
        if direction == "backward" and step in self.long_flows:
            return self.long_flows[step], self.long_masks[step]
        raise ValueError(f"step {step} ({direction}) was not generated; available long-term backward steps: "
                         f"{list(self.long_steps)} (pass long_steps= to make_sequence)")

    def occluded_between(self, t: int, k: int) -> np.ndarray:
        """``(H, W)`` bool: background pixels of frame ``t`` that are visible in ``t-k`` (long-term mask 1)
        but were covered by the object in at least one frame strictly between ``t-k`` and ``t`` — the
        "formerly occluded" region of the long-term consistency test (Ruder et al. 2018 Fig. 9).

        :raises ValueError: ``k`` not generated or ``t - k < 0``.
        """
        if k not in self.long_flows:
            raise ValueError(f"k: long-term step {k} was not generated; available: {list(self.long_steps)}")
        if not k <= t < self.num_frames:
            raise ValueError(f"t: need {k} <= t < {self.num_frames}, got {t}")
        h, w = self.alpha.shape[1:]
        xs, ys = _grid(h, w)
        covered = np.zeros((h, w), bool)
        for j in range(t - k + 1, t):
            px, py = _apply(np.linalg.inv(self.camera[j]) @ self.camera[t], xs, ys)
            covered |= _remap(self.alpha[j], px, py, cv2.BORDER_CONSTANT) > ALPHA_EPS
        visible = (self.long_masks[k][t] > 0.5) & (self.alpha[t] <= ALPHA_EPS)
        return covered & visible

    # -- VapourSynth ---------------------------------------------------------------------
    def to_clips(self, core: vs.Core, fps: tuple[int, int] = (25, 1)) -> SequenceClips:
        """The sequence as VapourSynth clips (frames RGBS; flow clips RGBS u, v, 0; masks GRAYS).

        Flow and reliability frames carry ``FlowDirection``, ``FlowStep`` and ``FlowValid`` (0 for frames
        without a partner, whose flow and mask are zero), as :mod:`vsstylize.opticalflow.clips` defines.
        """
        t_count = self.num_frames
        frames = _array_clip(core, self.frames, fps)
        fb = _array_clip(core, _pad_flow(self.flow_backward), fps, ("backward", 1, t_count))
        ff = _array_clip(core, _pad_flow(self.flow_forward), fps, ("forward", 1, t_count))
        rb = _array_clip(core, self.mask_backward[:, None], fps, ("backward", 1, t_count))
        rf = _array_clip(core, self.mask_forward[:, None], fps, ("forward", 1, t_count))
        lf = {k: _array_clip(core, _pad_flow(v), fps, ("backward", k, t_count)) for k, v in self.long_flows.items()}
        lr = {k: _array_clip(core, v[:, None], fps, ("backward", k, t_count)) for k, v in self.long_masks.items()}
        return SequenceClips(frames, fb, ff, rb, rf, lf, lr)

    # -- files ---------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write the sequence to ``folder`` atomically (a temp folder beside it, then renamed).

        Layout: ``manifest.json`` (metadata, matrices, file lists); ``frame_%04d.png`` (16-bit RGB PNG);
        ``flow_backward_%04d.flo`` (``t >= 1``), ``flow_forward_%04d.flo`` (``t <= T-2``),
        ``flow_long{k}_%04d.flo`` (``t >= k``), Middlebury ``.flo`` via ``cv2.writeOpticalFlow``;
        ``mask_<same>_%04d.pgm`` (8-bit 0/255, Pillow); ``alpha_%04d.png`` (16-bit grey).

        :raises FileExistsError: ``folder`` exists and ``overwrite`` is false.
        :returns: the folder.
        """
        target = Path(folder)
        if target.exists() and not overwrite:
            raise FileExistsError(f"folder: {target} exists (pass overwrite=True to replace it)")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            manifest = self._write_files(tmp)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
            _replace_dir(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    def _write_files(self, folder: Path) -> dict[str, Any]:
        t_count = self.num_frames
        for t in range(t_count):
            rgb16 = np.round(np.clip(self.frames[t].transpose(1, 2, 0), 0, 1) * 65535).astype(np.uint16)
            _imwrite(folder / f"frame_{t:04d}.png", cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
            _imwrite(folder / f"alpha_{t:04d}.png", np.round(self.alpha[t] * 65535).astype(np.uint16))
        series = {"backward": (self.flow_backward, self.mask_backward, -1),
                  "forward": (self.flow_forward, self.mask_forward, 1)}
        series.update({f"long{k}": (self.long_flows[k], self.long_masks[k], -k) for k in self.long_steps})
        for key, (flows, masks, offset) in series.items():
            for t in _partnered(t_count, offset):
                encode_flo(folder / f"flow_{key}_{t:04d}.flo", flows[t].transpose(1, 2, 0))
                write_pgm(folder / f"mask_{key}_{t:04d}.pgm", masks[t])
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "num_frames": t_count,
            "size": list(self.size),
            "long_steps": list(self.long_steps),
            "camera": self.camera.tolist(),
            "object_inverse": self.object_inverse.tolist(),
            "metadata": self.metadata,
        }


def _partnered(t_count: int, offset: int) -> range:
    """Frame indices ``t`` with ``0 <= t + offset < t_count``."""
    return range(max(0, -offset), min(t_count, t_count - offset))


def _imwrite(path: Path, img: np.ndarray) -> None:
    if not cv2.imwrite(str(path), img):
        raise OSError(f"OpenCV could not write {path}")


def _replace_dir(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing ``target`` is moved aside first and removed afterwards."""
    old: Path | None = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        old.rmdir()
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _pad_flow(flows: np.ndarray) -> np.ndarray:
    """``(T, 2, H, W)`` -> ``(T, 3, H, W)`` with a zero third plane (the flow clip layout)."""
    return np.concatenate([flows, np.zeros_like(flows[:, :1])], axis=1)


def _array_clip(core: vs.Core, arrays: np.ndarray, fps: tuple[int, int],
                flow_meta: tuple[str, int, int] | None = None) -> vs.VideoNode:
    """A clip whose frame ``n`` is ``arrays[n]`` ``(P, H, W)``; flow/mask clips get the flow properties."""
    import vapoursynth as vs

    from ..media.frames import numpy_to_frame
    from ..opticalflow.clips import partner_index, set_flow_props

    t_count, planes, h, w = arrays.shape
    fmt = vs.RGBS if planes == 3 else vs.GRAYS
    blank = core.std.BlankClip(format=fmt, width=w, height=h, length=t_count, fpsnum=fps[0], fpsden=fps[1], keep=True)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = numpy_to_frame(arrays[n], f)
        if flow_meta is not None:
            direction, step, count = flow_meta
            set_flow_props(out, direction, step, 0 <= partner_index(n, direction, step) < count)
        return out

    return core.std.ModifyFrame(blank, blank, fill)


# ----------------------------------------------------------------------------------------
# public constructors
# ----------------------------------------------------------------------------------------
def _check_args(preset: str, num_frames: int, size: tuple[int, int], seed: int,
                long_steps: Iterable[int] | None) -> tuple[_Preset, int, int, tuple[int, ...]]:
    if preset not in PRESETS:
        raise ValueError(f"preset: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if not isinstance(num_frames, (int, np.integer)) or num_frames < 2:
        raise ValueError(f"num_frames must be an integer >= 2, got {num_frames!r}")
    w, h = check_size(size)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if long_steps is None:
        steps = tuple(k for k in LONG_TERM_STEPS if k < num_frames)
    else:
        steps = tuple(sorted({int(k) for k in long_steps}))
        bad = [k for k in steps if not 2 <= k < num_frames]
        if bad:
            raise ValueError(f"long_steps: each k must satisfy 2 <= k < num_frames ({num_frames}), got {bad}")
    return PRESETS[preset], w, h, steps


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """``(W, H)`` as ints, each >= 16; :raises ValueError: otherwise."""
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(v, (int, np.integer)) and v >= 16 for v in size)):
        raise ValueError(f"size must be (W, H) integers >= 16, got {size!r}")
    return int(size[0]), int(size[1])


def _pick_sources(image: ImageSource | None, texture: ImageSource | None, photos: Seq[ImageSource],
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Load the background photo and the object-texture photo (drawn from ``photos`` where not given; a
    different photo for the texture when both are drawn)."""
    pool = list(photos)
    if (image is None or texture is None) and not pool:
        raise ValueError("image: no photo given (pass image= and texture=, or photos= to draw them from)")
    if image is None:
        image = pool[int(rng.integers(len(pool)))]
    if texture is None:
        others = [p for p in pool if not (isinstance(image, (str, os.PathLike)) and isinstance(p, (str, os.PathLike))
                                          and Path(p) == Path(image))]
        texture = (others or pool)[int(rng.integers(len(others or pool)))]
    label = lambda src: "array" if isinstance(src, np.ndarray) else os.fspath(src)
    return load_image(image, param="image"), load_image(texture, param="texture"), label(image), label(texture)


def make_sequence(
    preset: str,
    image: ImageSource | None = None,
    *,
    num_frames: int = 24,
    size: tuple[int, int] = (256, 192),
    seed: int = 0,
    texture: ImageSource | None = None,
    long_steps: Iterable[int] | None = None,
    name: str | None = None,
    photos: Seq[ImageSource] = (),
) -> Sequence:
    """Render a ground-truth sequence from real photos (Ruder et al. 2018 sec. 5.2.3, with an occluder).

    :param preset: difficulty: ``"slow_pan"``, ``"fast_pan_zoom"``, ``"large_occluder"``,
        ``"occluder_pass"`` (the object enters, covers part of the background and leaves: long-term test)
        or ``"fast_pan"`` (strong horizontal pan, new content at ``metadata["params"]["entering_side"]``
        every frame: multi-pass border test). See :data:`PRESETS`.
    :param image: background photo (path, ``"video.mp4#frame"`` or ``(H, W, 3)`` array, see
        :func:`load_image`); default: one of ``photos`` drawn with ``seed``.
    :param num_frames: ``T >= 2``.
    :param size: ``(W, H)`` of the frames, each >= 16.
    :param seed: seed of every random choice; the same arguments give identical arrays.
    :param texture: photo the foreground object is cut from (default: another of ``photos``).
    :param long_steps: frame distances ``k`` of the long-term backward flows ``t -> t-k``
        (default: those of :data:`LONG_TERM_STEPS` below ``num_frames``); each ``2 <= k < T``.
    :param name: sequence name (default ``"<preset>-<seed>"``).
    :param photos: photos to draw ``image`` and ``texture`` from when they are not given.
    :returns: the :class:`Sequence`.
    :raises ValueError: unknown preset or bad ``num_frames``/``size``/``seed``/``long_steps``/images,
        naming the parameter.
    :raises FileNotFoundError: an image path does not exist.
    """
    spec, w, h, steps = _check_args(preset, num_frames, size, seed, long_steps)
    rng = np.random.default_rng(int(seed))
    photo, tex_photo, image_label, texture_label = _pick_sources(image, texture, photos, rng)
    scene = _build_scene(spec, photo, tex_photo, num_frames, w, h, rng)
    rendered = [_render(scene, t, w, h) for t in range(num_frames)]
    frames = np.stack([f.transpose(2, 0, 1) for f, _ in rendered])
    alphas = np.stack([a for _, a in rendered])
    fb, mb = _truth_series(scene.camera, scene.obj_inv, alphas, -1)
    ff, mf = _truth_series(scene.camera, scene.obj_inv, alphas, 1)
    long_f: dict[int, np.ndarray] = {}
    long_m: dict[int, np.ndarray] = {}
    for k in steps:
        long_f[k], long_m[k] = _truth_series(scene.camera, scene.obj_inv, alphas, -k)
    seq_name = name or f"{preset}-{seed}"
    metadata = {"name": seq_name, "preset": preset, "description": spec.description, "image": image_label,
                "texture": texture_label, "seed": int(seed), "num_frames": int(num_frames), "size": [w, h],
                "long_steps": list(steps), "params": scene.params}
    return Sequence(seq_name, frames, fb, ff, mb, mf, long_f, long_m, alphas, scene.camera, scene.obj_inv, metadata)


def load_sequence(folder: str | os.PathLike[str]) -> Sequence:
    """Read a sequence written by :meth:`Sequence.save`.

    :raises FileNotFoundError: no ``manifest.json`` in ``folder`` or a listed file is missing.
    :raises ValueError: unsupported manifest version or inconsistent file sizes.
    """
    root = Path(folder)
    man_path = root / MANIFEST
    if not man_path.is_file():
        raise FileNotFoundError(f"folder: {root} has no {MANIFEST} (not a saved sequence)")
    man = json.loads(man_path.read_text())
    if man.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"folder: {man_path} has format_version {man.get('format_version')!r}, expected {FORMAT_VERSION}")
    t_count, (w, h) = int(man["num_frames"]), man["size"]
    frames = np.stack([_read_png(root / f"frame_{t:04d}.png", (h, w, 3)) for t in range(t_count)]).transpose(0, 3, 1, 2)
    alpha = np.stack([_read_png(root / f"alpha_{t:04d}.png", (h, w)) for t in range(t_count)])

    def series(key: str, offset: int) -> tuple[np.ndarray, np.ndarray]:
        flows = np.zeros((t_count, 2, h, w), np.float32)
        masks = np.zeros((t_count, h, w), np.float32)
        for t in _partnered(t_count, offset):
            flows[t] = _checked(read_flo(root / f"flow_{key}_{t:04d}.flo"), (h, w, 2)).transpose(2, 0, 1)
            masks[t] = _checked(read_pgm(root / f"mask_{key}_{t:04d}.pgm"), (h, w))
        return flows, masks

    fb, mb = series("backward", -1)
    ff, mf = series("forward", 1)
    longs = {int(k): series(f"long{k}", -int(k)) for k in man["long_steps"]}
    return Sequence(man["name"], np.ascontiguousarray(frames), fb, ff, mb, mf,
                    {k: v[0] for k, v in longs.items()}, {k: v[1] for k, v in longs.items()}, alpha,
                    np.asarray(man["camera"], np.float64), np.asarray(man["object_inverse"], np.float64),
                    man["metadata"])


def _checked(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if arr.shape != shape:
        raise ValueError(f"folder: file of shape {arr.shape}, manifest says {shape}")
    return arr


def _read_png(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"folder: missing {path}")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"folder: OpenCV cannot decode {path}")
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    return _checked(img.astype(np.float32) / scale, shape)
