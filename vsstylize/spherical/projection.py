"""Equirectangular <-> cube-map projection with an overlap margin on every cube face (Ruder et al. 2018
sec. 6, Fig. 6/7), as torch tensor functions (``grid_sample``; CPU or GPU).

Conventions (the same as py360convert and its ``equirect_axes_pattern.png``):

* directions are ``(x, y, z)`` with ``+x`` right, ``+y`` up, ``+z`` forward (the centre of the
  equirectangular image); longitude ``lon = atan2(x, z)`` grows to the right, latitude
  ``lat = atan2(y, hypot(x, z))`` grows upwards;
* equirectangular pixel ``(row, col)`` of an ``H x W`` image (``W = 2 H``) has its centre at
  ``lon = ((col + 0.5) / W - 0.5) * 2 pi``, ``lat = (0.5 - (row + 0.5) / H) * pi``;
* the six cube faces, in the order :data:`FACES` = F R B L U D (front +z, right +x, back -z, left -x,
  up +y, down -y), are pinhole images on the plane at distance 1 along their ``forward`` axis
  (Ruder et al. appendix A.8, eq. 22: ``(y_1, y_2) = -(d / x_3) (x_1, x_2)``): a direction ``v`` lands at
  plane coordinates ``a = <v, right> / <v, forward>`` (to the right), ``b = <v, down> / <v, forward>``
  (down); the inner face is ``[-1, 1]^2``. U's bottom edge and D's top edge touch F (py360convert's dice
  layout);
* a face of ``face_size = s`` pixels with ``overlap = m`` is an *extended face* of ``S = s + 2 m`` pixels
  whose pixel ``(i, j)`` has its centre at ``a = (j + 0.5 - S / 2) / (s / 2)``,
  ``b = (i + 0.5 - S / 2) / (s / 2)``: the inner face is pixels ``m .. m + s - 1``, the margin reaches
  ``1 + 2 m / s`` in plane units into the neighbouring faces.

Images are ``(N, C, H, W)`` float tensors (RGB in [0, 1] for frames); cube maps are ``(N, 6, C, S, S)``
in :data:`FACES` order, or, as VapourSynth frames, the *cube strip* ``(N, C, S, 6 S)`` of the six faces
side by side (:func:`faces_to_strip` / :func:`strip_to_faces`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

__all__ = [
    "FACES",
    "FACE_AXES",
    "CubeGeometry",
    "check_cube_geometry",
    "default_overlap",
    "directions_to_lonlat",
    "equirect_directions",
    "equirect_to_faces",
    "face_directions",
    "face_index_map",
    "faces_to_equirect",
    "faces_to_strip",
    "plane_coordinates",
    "rotation_flow",
    "strip_to_faces",
    "yaw_matrix",
]

#: Cube faces in the order of cube maps and cube strips.
FACES: tuple[str, ...] = ("F", "R", "B", "L", "U", "D")

#: ``(forward, right, down)`` unit vectors of each face, in :data:`FACES` order.
FACE_AXES: tuple[tuple[tuple[float, float, float], ...], ...] = (
    ((0, 0, 1), (1, 0, 0), (0, -1, 0)),  # F: +z
    ((1, 0, 0), (0, 0, -1), (0, -1, 0)),  # R: +x
    ((0, 0, -1), (-1, 0, 0), (0, -1, 0)),  # B: -z
    ((-1, 0, 0), (0, 0, 1), (0, -1, 0)),  # L: -x
    ((0, 1, 0), (1, 0, 0), (0, 0, 1)),  # U: +y, bottom edge towards F
    ((0, -1, 0), (1, 0, 0), (0, 0, -1)),  # D: -y, top edge towards F
)


def default_overlap(face_size: int) -> int:
    """The paper's margin: 64 pixels on a 640-pixel face (768 with both margins, sec. 9), i.e. a tenth
    of the face, rounded to an even number of pixels."""
    return 2 * round(face_size / 20)


def check_cube_geometry(face_size: object, overlap: object) -> str | None:
    """``None`` when ``face_size`` / ``overlap`` are usable, else what is wrong (for an error message).

    ``face_size`` must be an even integer >= 8 (the cube's centre between pixels, so the faces are
    symmetric, and 4:2:0 clips stay whole); ``overlap`` an integer in ``[0, face_size / 2)``: a margin of
    half a face or more would reach past the neighbouring face's centre.
    """
    if not isinstance(face_size, int) or isinstance(face_size, bool) or face_size < 8 or face_size % 2:
        return f"face_size must be an even integer >= 8, got {face_size!r}"
    if not isinstance(overlap, int) or isinstance(overlap, bool) or overlap < 0:
        return f"overlap must be an integer >= 0 (pixels), got {overlap!r}"
    if 2 * overlap >= face_size:
        return f"overlap must be smaller than half a face ({face_size // 2} pixels for face_size {face_size}), got {overlap}"
    return None


@dataclass(frozen=True)
class CubeGeometry:
    """Sizes of a cube map: inner ``face_size`` ``s`` and ``overlap`` ``m`` pixels (extended ``S = s + 2 m``).

    :raises ValueError: see :func:`check_cube_geometry`.
    """

    face_size: int
    overlap: int

    def __post_init__(self) -> None:
        problem = check_cube_geometry(self.face_size, self.overlap)
        if problem is not None:
            raise ValueError(problem)

    @property
    def size(self) -> int:
        """``S``: side of an extended face in pixels."""
        return self.face_size + 2 * self.overlap

    @property
    def extent(self) -> float:
        """Half side of an extended face in plane units (``1 + 2 m / s``)."""
        return 1.0 + 2.0 * self.overlap / self.face_size

    def to_grid(self, coord: torch.Tensor) -> torch.Tensor:
        """Plane coordinates -> ``grid_sample`` coordinates of the extended face (``align_corners=False``)."""
        return coord * (self.face_size / self.size)


def _axes(device: torch.device | str = "cpu", dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``(6, 3, 3)``: per face the rows forward, right, down."""
    return torch.tensor(FACE_AXES, dtype=dtype, device=device)


@lru_cache(maxsize=16)
def _face_directions_cpu(face_size: int, overlap: int) -> torch.Tensor:
    geom = CubeGeometry(face_size, overlap)
    s, size = geom.face_size, geom.size
    t = (torch.arange(size, dtype=torch.float64) + 0.5 - size / 2) / (s / 2)
    b, a = torch.meshgrid(t, t, indexing="ij")
    ax = _axes()
    return ax[:, None, None, 0] + a[None, ..., None] * ax[:, None, None, 1] + b[None, ..., None] * ax[:, None, None, 2]


def face_directions(geom: CubeGeometry) -> torch.Tensor:
    """Viewing directions of every extended-face pixel centre: ``(6, S, S, 3)`` float64, not normalised
    (``forward + a right + b down``)."""
    return _face_directions_cpu(geom.face_size, geom.overlap)


@lru_cache(maxsize=16)
def _equirect_directions_cpu(height: int, width: int) -> torch.Tensor:
    lon = ((torch.arange(width, dtype=torch.float64) + 0.5) / width - 0.5) * 2 * math.pi
    lat = (0.5 - (torch.arange(height, dtype=torch.float64) + 0.5) / height) * math.pi
    lat, lon = torch.meshgrid(lat, lon, indexing="ij")
    return torch.stack((lat.cos() * lon.sin(), lat.sin(), lat.cos() * lon.cos()), dim=-1)


def equirect_directions(height: int, width: int) -> torch.Tensor:
    """Unit viewing directions of the pixel centres of an ``height x width`` equirectangular image:
    ``(H, W, 3)`` float64."""
    return _equirect_directions_cpu(int(height), int(width))


def directions_to_lonlat(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(..., 3)`` directions -> longitude, latitude in radians (``(...)`` each)."""
    x, y, z = v.unbind(-1)
    return torch.atan2(x, z), torch.atan2(y, torch.hypot(x, z))


def plane_coordinates(v: torch.Tensor, face: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pinhole projection (appendix A.8, eq. 22) of directions ``v`` ``(..., 3)`` onto face ``face``'s plane.

    :returns: ``(a, b, depth)``: plane coordinates (right, down; the inner face is ``[-1, 1]^2``) and
        ``depth = <v, forward>`` (``a``, ``b`` are meaningful only where it is > 0).
    """
    fwd, right, down = _axes(v.device, v.dtype)[face]
    depth = v @ fwd
    safe = torch.where(depth > 1e-12, depth, torch.ones_like(depth))
    return (v @ right) / safe, (v @ down) / safe, depth


def face_index_map(height: int, width: int) -> torch.Tensor:
    """``(H, W)`` int64: the cube face (index into :data:`FACES`) that owns each equirectangular pixel,
    i.e. the face whose axis is nearest to the pixel's direction. Cube edges lie where it changes."""
    return _face_index_cpu(int(height), int(width))


@lru_cache(maxsize=16)
def _face_index_cpu(height: int, width: int) -> torch.Tensor:
    v = equirect_directions(height, width)
    return torch.einsum("hwc,fc->hwf", v, _axes()[:, 0]).argmax(-1)


def _check_image(img: torch.Tensor, what: str) -> None:
    if img.dim() != 4:
        raise ValueError(f"{what} must be (N, C, H, W), got {tuple(img.shape)}")


def equirect_to_faces(equirect: torch.Tensor, geom: CubeGeometry, mode: str = "bicubic") -> torch.Tensor:
    """Sample the six extended cube faces from an equirectangular image.

    An equirectangular image much finer than the faces (``H > 1.5 pi s / 2``, more than 1.5 pixels per
    face pixel at the face centres) is first shrunk to ``H = pi s / 2`` with an antialiasing filter, so
    small faces do not alias.

    :param equirect: ``(N, C, H, W)`` with ``W = 2 H``.
    :param geom: face size and overlap.
    :param mode: ``grid_sample`` interpolation (``"bicubic"``, ``"bilinear"``, ``"nearest"``).
    :returns: ``(N, 6, C, S, S)``; bicubic output is clamped to the input's range.
    :raises ValueError: not 4-D or not 2:1.
    """
    _check_image(equirect, "equirect")
    n, c, h, w = equirect.shape
    if w != 2 * h:
        raise ValueError(f"an equirectangular image must be twice as wide as high, got {w}x{h}")
    matched = max(2, round(math.pi * geom.face_size / 2))
    if h > 1.5 * matched:
        equirect = F.interpolate(equirect, size=(matched, 2 * matched), mode="bilinear", align_corners=False,
                                 antialias=True)
        h, w = matched, 2 * matched
    lon, lat = directions_to_lonlat(face_directions(geom))  # (6, S, S)
    pad = 3  # the longitude wraps around: pad columns circularly so the kernel never sees a border
    padded = torch.cat((equirect[..., -pad:], equirect, equirect[..., :pad]), dim=-1)
    gx = (lon / math.pi * w) / (w + 2 * pad)  # column (lon / 2 pi + 0.5) w, shifted by pad, normalised
    gy = -lat / (math.pi / 2)
    grid = torch.stack((gx, gy), -1).to(device=equirect.device, dtype=equirect.dtype)  # (6, S, S, 2)
    size = geom.size
    grid = grid.reshape(1, 6 * size, size, 2).expand(n, -1, -1, -1)
    out = F.grid_sample(padded, grid, mode=mode, padding_mode="border", align_corners=False)
    out = out.reshape(n, c, 6, size, size).permute(0, 2, 1, 3, 4)
    if mode == "bicubic":
        out = out.clamp(float(equirect.min()), float(equirect.max()))
    return out.contiguous()


def faces_to_equirect(faces: torch.Tensor, geom: CubeGeometry, height: int, mode: str = "bicubic") -> torch.Tensor:
    """Stitch extended cube faces into an equirectangular image: each pixel is sampled from the face that
    owns its direction (:func:`face_index_map`), so the overlap margins are not blended and a
    discontinuity between faces shows at the cube edges as it is.

    :param faces: ``(N, 6, C, S, S)``.
    :param geom: face size and overlap of ``faces``.
    :param height: output height ``H`` (width ``2 H``).
    :param mode: ``grid_sample`` interpolation; bicubic output is clamped to the input's range.
    :returns: ``(N, C, H, 2 H)``.
    :raises ValueError: faces that do not match ``geom``.
    """
    if faces.dim() != 5 or faces.shape[1] != 6 or tuple(faces.shape[-2:]) != (geom.size, geom.size):
        raise ValueError(f"faces must be (N, 6, C, {geom.size}, {geom.size}), got {tuple(faces.shape)}")
    n, _, c, _size, _ = faces.shape
    width = 2 * height
    v = equirect_directions(height, width).reshape(-1, 3)
    owner = face_index_map(height, width).reshape(-1)
    out = faces.new_zeros(n, c, height * width)
    for k in range(6):
        idx = (owner == k).nonzero().squeeze(1)
        a, b, _ = plane_coordinates(v[idx], k)
        grid = geom.to_grid(torch.stack((a, b), -1)).to(device=faces.device, dtype=faces.dtype)
        sampled = F.grid_sample(faces[:, k], grid.reshape(1, 1, -1, 2).expand(n, -1, -1, -1), mode=mode,
                                padding_mode="border", align_corners=False)
        out[..., idx.to(faces.device)] = sampled[:, :, 0]
    out = out.reshape(n, c, height, width)
    if mode == "bicubic":
        out = out.clamp(float(faces.min()), float(faces.max()))
    return out


def faces_to_strip(faces: torch.Tensor) -> torch.Tensor:
    """``(N, 6, C, S, S)`` -> the cube strip ``(N, C, S, 6 S)`` (faces side by side in :data:`FACES` order)."""
    n, six, c, s, _ = faces.shape
    return faces.permute(0, 2, 3, 1, 4).reshape(n, c, s, six * s)


def strip_to_faces(strip: torch.Tensor) -> torch.Tensor:
    """The cube strip ``(N, C, S, 6 S)`` -> ``(N, 6, C, S, S)``.

    :raises ValueError: when the width is not six times the height.
    """
    n, c, s, w = strip.shape
    if w != 6 * s:
        raise ValueError(f"a cube strip must be six times as wide as high, got {w}x{s}")
    return strip.reshape(n, c, s, 6, s).permute(0, 3, 1, 2, 4)


def yaw_matrix(angle: float) -> torch.Tensor:
    """``(3, 3)`` float64 rotation about the vertical axis that adds ``angle`` radians to every
    direction's longitude (turns the scene to the right, i.e. the camera to the left)."""
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=torch.float64)


def rotation_flow(geom: CubeGeometry, rotation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact per-face optical flow of a pure camera rotation (no parallax), e.g. a yaw of a 360 video.

    A pixel of face ``k`` with direction ``v`` in frame ``t`` shows the scene point seen in direction
    ``rotation @ v`` in the partner frame; its flow is where that direction lands on face ``k`` of the
    partner frame minus the pixel itself. With frame ``t`` = frame ``t-1`` turned by a yaw of ``angle``
    (longitudes + angle), the *backward* flow ``t -> t-1`` is ``rotation = yaw_matrix(-angle)``.

    :param geom: face size and overlap.
    :param rotation: ``(3, 3)`` rotation matrix.
    :returns: ``(flow (6, 2, S, S) float32 in pixels, u right / v down, valid (6, 1, S, S) float32)``;
        ``valid`` is 0 where the partner's direction is not on the same extended face (outside the
        image, a disocclusion for the temporal loss).
    """
    v = face_directions(geom) @ rotation.to(torch.float64).T  # (6, S, S, 3)
    size, half = geom.size, geom.face_size / 2
    base = torch.arange(size, dtype=torch.float64)
    flows, valid = [], []
    for k in range(6):
        a, b, depth = plane_coordinates(v[k], k)
        x = a * half + size / 2 - 0.5
        y = b * half + size / 2 - 0.5
        flows.append(torch.stack((x - base[None, :], y - base[:, None])))
        valid.append(((depth > 0) & (x >= 0) & (x <= size - 1) & (y >= 0) & (y <= size - 1))[None])
    return torch.stack(flows).float(), torch.stack(valid).float()
