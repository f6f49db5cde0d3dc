"""Border training samples from still images, for fine-tuning a prior-image network to cube faces
(Ruder et al. 2018 sec. 6.2, Fig. 8).

At inference (:mod:`vsstylize.spherical`), cube face ``k`` gets as prior image the already stylized
neighbouring faces reprojected into its plane (appendix A.8, eq. 22; :func:`~vsstylize.spherical.borders.border_prior`):
a band of about ``2 overlap`` pixels along the shared edges, stylized in *another* perspective (the
neighbour stands at 90 degrees), the rest of the prior empty. A network trained on video frames has never
seen such a prior (sec. 6.2: "did not produce good results"); the paper "stylized and transformed the image
borders" of COCO photos to mimic it. Here a sample is made the same way from a still image:

1. the still (resized at random) is put on the plane of the front cube face ``F`` as a pinhole photo
   covering plane coordinates ``[-view, view]^2`` at the face's scale (``s / 2`` pixels per plane unit);
   the *frame* of the sample is the extended face ``F`` — exactly the central ``S x S`` crop of that window;
2. one to four of ``F``'s neighbours (R, L, U, D) look at the same photo plane: each neighbour's extended
   face, as far as it sees the photo (the band of its pixels with ``|plane coordinate on F| <= view``, i.e.
   the part next to the shared edge, foreshortened), is rendered from the photo through eq. 22
   (:func:`~vsstylize.spherical.projection.plane_coordinates`) — the perspective-transformed
   neighbouring view;
3. each neighbouring view is stylized by a caller-given function (the network being trained, with an empty
   prior, as the first face of a cube is at inference);
4. the stylized views are reprojected into ``F``'s plane by :func:`~vsstylize.spherical.borders.border_prior`
   (the inference code itself) with the inference's feathering: prior image and mask; the prior is empty
   away from the chosen borders.

Any pair of adjacent cube faces has this relative geometry up to a rotation, so ``F`` with its four
neighbours covers every edge orientation. A batch is a pure function of ``(seed, iteration)`` and the
stylization function (the network weights), so resumed training sees the same samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..spherical.borders import border_prior
from ..spherical.projection import CubeGeometry, face_directions, plane_coordinates

__all__ = ["NEIGHBOURS", "BorderSample", "BorderSamples", "border_geometry"]

#: Target face of every sample (F, index 0 of :data:`~vsstylize.spherical.projection.FACES`) and its
#: neighbours R, L, U, D.
TARGET = 0
NEIGHBOURS: tuple[int, ...] = (1, 3, 4, 5)

#: Function that stylizes ``(1, 3, h, w)`` RGB in [0, 1] into ``(1, 3, h, w)`` RGB in [0, 1].
Stylizer = Callable[[torch.Tensor], torch.Tensor]


def border_geometry(size: int, overlap: int | None = None) -> CubeGeometry:
    """Cube geometry of ``size x size`` extended faces: the margin ``overlap`` (default a tenth of the inner
    face, as :func:`~vsstylize.spherical.projection.default_overlap`: ``2 round(size / 24)``) on each side of
    a ``size - 2 overlap`` inner face.

    :raises ValueError: a size or overlap the cube map does not accept (names it).
    """
    m = 2 * round(size / 24) if overlap is None else int(overlap)
    return CubeGeometry(int(size) - 2 * m, m)


@dataclass
class BorderSample:
    """``frame (3, S, S)`` RGB in [0, 1], ``prior (3, S, S)`` (0 where the mask is 0), ``mask (1, S, S)`` in
    [0, 1]; ``borders`` the neighbour faces that gave the prior."""

    frame: torch.Tensor
    prior: torch.Tensor
    mask: torch.Tensor
    borders: tuple[int, ...]


class BorderSamples:
    """Border samples (sec. 6.2) from still images.

    :param stills: ``(H, W, 3)`` RGB images (photos, video frames), float32 in [0, 1] or uint8.
    :param size: ``S``: side of the samples (the extended face) in pixels.
    :param overlap: margin of the extended face in pixels (default: :func:`border_geometry`).
    :param feather: mask ramp in pixels at the inner edge of the prior (default ``overlap / 2``, the default
        of :func:`vsstylize.stylize` with ``projection="equirect"``).
    :param view: half side in plane units of the photo window on ``F``'s plane (> the extent
        ``1 + 2 overlap / face_size``); the neighbouring views are the bands of their faces that see plane
        coordinates up to ``view``: at 2.5 about ``0.4 S`` pixels wide.
    :raises ValueError: no stills, or a size, overlap, feather or view out of range (names it).
    """

    def __init__(self, stills: Sequence[np.ndarray], size: int, overlap: int | None = None,
                 feather: float | None = None, view: float = 2.5) -> None:
        if not stills:
            raise ValueError("stills: border samples need at least one still image")
        self.geom = border_geometry(size, overlap)
        self.feather = self.geom.overlap / 2 if feather is None else float(feather)
        if not 0 <= self.feather <= self.geom.overlap:
            raise ValueError(f"feather must be in [0, overlap = {self.geom.overlap}] pixels, got {feather}")
        if not math.isfinite(view) or view <= self.geom.extent + 2 / self.geom.face_size:
            raise ValueError(f"view must exceed the extended face's extent {self.geom.extent:.3f}, got {view}")
        self.stills = list(stills)
        s, size_ = self.geom.face_size, self.geom.size
        # the photo window: a whole number of pixels around the extended face, so the frame is an exact crop
        self.pad = max(0, math.ceil((view * s - size_) / 2))
        self.window = size_ + 2 * self.pad
        self.view = self.window / s  # plane units covered by the window's half side
        self._views = {j: self._neighbour_view(j) for j in NEIGHBOURS}

    def _neighbour_view(self, j: int) -> tuple[slice, slice, torch.Tensor]:
        """Rows, columns of the band of face ``j`` that sees the photo window, and its ``grid_sample`` grid
        ``(1, h, w, 2)`` into the window (eq. 22 onto ``F``'s plane)."""
        a, b, depth = plane_coordinates(face_directions(self.geom)[j], TARGET)
        sees = (depth > 0) & (torch.maximum(a.abs(), b.abs()) <= self.view)
        rows = sees.any(1).nonzero().squeeze(1)
        cols = sees.any(0).nonzero().squeeze(1)
        r, c = slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)
        if not bool((depth[r, c] > 0).all()):  # pragma: no cover - the band is a half-plane of the face
            raise AssertionError("neighbour band looks away from the photo plane")
        grid = torch.stack((a[r, c], b[r, c]), -1) / self.view
        return r, c, grid.float()[None]

    def _window(self, rng: np.random.Generator) -> torch.Tensor:
        """A random ``window x window`` crop of a randomly resized and flipped still: ``(1, 3, w, w)``."""
        img = self.stills[int(rng.integers(len(self.stills)))]
        h, w = img.shape[:2]
        f = self.window / min(h, w) * float(rng.uniform(1.0, 1.6))
        size = (max(self.window, round(w * f)), max(self.window, round(h * f)))
        interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
        img = cv2.resize(img, size, interpolation=interp)
        y = int(rng.integers(img.shape[0] - self.window + 1))
        x = int(rng.integers(img.shape[1] - self.window + 1))
        crop = img[y:y + self.window, x:x + self.window]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        chw = np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32)
        if img.dtype == np.uint8:  # stills of the data cache
            chw /= 255.0
        return torch.from_numpy(chw)[None]

    def sample(self, rng: np.random.Generator, stylize: Stylizer) -> BorderSample:
        """One sample (see the module docstring); ``stylize`` gets each neighbouring view ``(1, 3, h, w)``."""
        window = self._window(rng)
        p, size = self.pad, self.geom.size
        frame = window[:, :, p:p + size, p:p + size]
        count = int(rng.integers(1, len(NEIGHBOURS) + 1))
        borders = tuple(sorted(int(j) for j in rng.choice(NEIGHBOURS, size=count, replace=False)))
        faces = torch.zeros(6, 3, size, size)
        for j in borders:
            r, c, grid = self._views[j]
            view = F.grid_sample(window, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
            styled = stylize(view.clamp(0.0, 1.0))
            if styled.shape != view.shape:
                raise ValueError(f"stylize must return {tuple(view.shape)}, got {tuple(styled.shape)}")
            faces[j, :, r, c] = styled[0].to(faces)
        prior, mask = border_prior(faces, borders, TARGET, self.geom, self.feather)
        return BorderSample(frame[0].contiguous(), prior[0], mask[0], borders)

    def batch(self, seed: int, iteration: int, batch_size: int,
              stylize: Stylizer) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The border batch of ``iteration``: ``frames (B, 3, S, S)``, ``priors (B, 3, S, S)``,
        ``masks (B, 1, S, S)`` (a pure function of ``seed``, ``iteration`` and ``stylize``)."""
        rng = np.random.default_rng([int(seed), int(iteration), 3])
        samples = [self.sample(rng, stylize) for _ in range(batch_size)]
        return (torch.stack([s.frame for s in samples]), torch.stack([s.prior for s in samples]),
                torch.stack([s.mask for s in samples]))
