"""Synthetic training sequences rendered on the compute device (Ruder et al. 2018 sec. 5.2.3).

A sequence is a moving, zooming, rotating camera over a still photo plus an independently moving textured
object cut from another photo, with exact optical flow and occlusion masks. The *scene* — the camera path, the
object's shape, texture and path, the photo resized to the camera's footprint — is drawn on the host by
:func:`vsstylize.train.sequences.build_scene`, the generator of the bench sequences, which costs well under a
millisecond; the frames and the ground truth are rendered here, batched, with ``grid_sample`` on the device
the network trains on:

* background of frame ``t``: the resized photo sampled at ``C_t x`` (bilinear), object: the texture and its
  alpha sampled at ``O_t^-1 x``, composited ``alpha * object + (1 - alpha) * background``;
* backward flow ``t -> t-1``: ``C_{t-1}^-1 C_t x - x`` on the background, ``O_{t-1} O_t^-1 x - x`` on the
  object (``alpha_t >= 0.5``) — exact by construction, no flow estimation;
* mask: 1 where ``x + flow`` lies inside frame ``t-1`` and shows the same layer (alpha of ``t-1`` sampled
  there), 0 at disocclusions and on the object's antialiased outline.

These are the formulas of :func:`vsstylize.train.sequences.make_sequence` (which renders with OpenCV ``remap`` on the
host); tests check that both renderers give the same frames, flows and masks for the same scene. Variety is
unlimited (a new scene every sample) and memory stays small (the stills, once, on the device).

Arrays: frames ``(B, T, 3, H, W)`` float32 RGB in [0, 1], flows ``(B, T, 2, H, W)`` float32 pixels (u right,
v down), masks ``(B, T, 1, H, W)`` float32 in {0, 1}; entry ``t = 0`` has zero flow and mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from .sequences import ALPHA_EPS, Scene

__all__ = ["SceneBatch", "pack_scenes", "render_scenes"]


@dataclass
class SceneBatch:
    """``B`` scenes of ``T`` frames as tensors (host or device).

    :ivar backgrounds: ``(B, 3, Hb, Wb)`` uint8 RGB: the resized photos, zero-padded to the largest.
    :ivar textures: ``(B, 4, ht, wt)`` float32: object texture RGB (edge-padded) and alpha (zero-padded).
    :ivar to_background: ``(B, T, 2, 3)`` float32 affine maps frame px -> background px (``C_t``).
    :ivar to_texture: ``(B, T, 2, 3)`` float32 frame px -> texture px (``O_t^-1``).
    :ivar flow_background: ``(B, T, 2, 3)`` float32 ``C_{t-1}^-1 C_t - [I | 0]``: the background's backward flow
        as an affine function of the pixel position (entry 0 zero).
    :ivar flow_object: ``(B, T, 2, 3)`` float32 ``O_{t-1} O_t^-1 - [I | 0]``, the object's.
    """

    backgrounds: torch.Tensor
    textures: torch.Tensor
    to_background: torch.Tensor
    to_texture: torch.Tensor
    flow_background: torch.Tensor
    flow_object: torch.Tensor

    def to(self, device: torch.device, non_blocking: bool = False) -> SceneBatch:
        """The batch on ``device`` (pinned host tensors copy asynchronously with ``non_blocking``)."""
        return SceneBatch(**{f.name: getattr(self, f.name).to(device, non_blocking=non_blocking) for f in fields(self)})

    def pin_memory(self) -> SceneBatch:
        """The batch in page-locked host memory (for asynchronous copies to a GPU)."""
        return SceneBatch(**{f.name: getattr(self, f.name).pin_memory() for f in fields(self)})


def _flow_affine(m: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` frame -> source maps to ``(T, 2, 3)`` backward-flow affines ``M_{t-1}^-1 M_t - [I | 0]``."""
    out = np.zeros((m.shape[0], 2, 3))
    for t in range(1, m.shape[0]):
        out[t] = (np.linalg.inv(m[t - 1]) @ m[t])[:2] - np.eye(3)[:2]
    return out


def pack_scenes(scenes: Sequence[Scene]) -> SceneBatch:
    """Host tensors of ``scenes`` (all with the same frame count; backgrounds uint8, as
    :func:`~vsstylize.train.sequences.build_scene` makes them from uint8 photos).

    :raises ValueError: no scenes, different frame counts, or a float background.
    """
    if not scenes:
        raise ValueError("scenes: need at least one scene")
    t_count = scenes[0].camera.shape[0]
    if any(s.camera.shape[0] != t_count for s in scenes):
        raise ValueError("scenes: all scenes must have the same number of frames")
    if any(s.background.dtype != np.uint8 for s in scenes):
        raise ValueError("scenes: backgrounds must be uint8 (build_scene from uint8 photos)")
    hb = max(s.background.shape[0] for s in scenes)
    wb = max(s.background.shape[1] for s in scenes)
    ht = max(s.texture.shape[0] for s in scenes)
    wt = max(s.texture.shape[1] for s in scenes)
    b = len(scenes)
    bgs = np.zeros((b, 3, hb, wb), np.uint8)
    tex = np.zeros((b, 4, ht, wt), np.float32)
    for i, s in enumerate(scenes):
        h, w = s.background.shape[:2]
        bgs[i, :, :h, :w] = s.background.transpose(2, 0, 1)
        th, tw = s.alpha_tex.shape
        # edge padding keeps BORDER_REPLICATE's values; alpha is zero outside (and on its 2-pixel margin)
        tex[i, :3] = np.pad(s.texture, ((0, ht - th), (0, wt - tw), (0, 0)), mode="edge").transpose(2, 0, 1)
        tex[i, 3, :th, :tw] = s.alpha_tex
    stack = lambda arrays: torch.from_numpy(np.stack(arrays).astype(np.float32))
    return SceneBatch(
        torch.from_numpy(bgs), torch.from_numpy(tex),
        stack([s.camera[:, :2] for s in scenes]), stack([s.obj_inv[:, :2] for s in scenes]),
        stack([_flow_affine(s.camera) for s in scenes]), stack([_flow_affine(s.obj_inv) for s in scenes]))


def _apply(m: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Affines ``m (B, T, 2, 3)`` at the pixel grid ``xs, ys (H, W)``: ``(B, T, H, W)`` each."""
    c = m[..., None, None]
    return (c[:, :, 0, 0] * xs + c[:, :, 0, 1] * ys + c[:, :, 0, 2],
            c[:, :, 1, 0] * xs + c[:, :, 1, 1] * ys + c[:, :, 1, 2])


def _grid(px: torch.Tensor, py: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Pixel positions -> ``grid_sample`` grid (``align_corners=True``: pixel centres at -1 ... 1, as OpenCV
    ``remap`` places them)."""
    return torch.stack((px * (2.0 / max(w - 1, 1)) - 1.0, py * (2.0 / max(h - 1, 1)) - 1.0), dim=-1)


def _sample(image: torch.Tensor, px: torch.Tensor, py: torch.Tensor, padding: str) -> torch.Tensor:
    """``image (B, C, h, w)`` sampled bilinearly at ``px, py (B, T, H, W)``: ``(B, T, C, H, W)``."""
    b, t, hh, ww = px.shape
    grid = _grid(px, py, image.shape[-2], image.shape[-1]).reshape(b, t * hh, ww, 2)
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode=padding, align_corners=True)
    return out.reshape(b, -1, t, hh, ww).transpose(1, 2)


def render_scenes(scenes: SceneBatch, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render the frames, backward flows and masks of ``scenes`` on their device.

    :param scenes: a :class:`SceneBatch` (on the device to render on).
    :param size: ``(H, W)`` of the frames.
    :returns: ``frames (B, T, 3, H, W)``, ``flows (B, T, 2, H, W)``, ``masks (B, T, 1, H, W)`` (see the module
        docstring); a pure function of the scenes.
    """
    h, w = int(size[0]), int(size[1])
    dev = scenes.textures.device
    ys, xs = torch.meshgrid(torch.arange(h, device=dev, dtype=torch.float32),
                            torch.arange(w, device=dev, dtype=torch.float32), indexing="ij")
    # layers: background (border padding is never reached: the footprint lies inside with a margin), object
    bx, by = _apply(scenes.to_background, xs, ys)
    bg = _sample(scenes.backgrounds.float() / 255.0, bx, by, "border")
    ox, oy = _apply(scenes.to_texture, xs, ys)
    obj = _sample(scenes.textures, ox, oy, "border")
    alpha = obj[:, :, 3:]
    alpha = torch.where(alpha < ALPHA_EPS, 0.0, torch.where(alpha > 1.0 - ALPHA_EPS, 1.0, alpha))
    frames = (alpha * obj[:, :, :3] + (1.0 - alpha) * bg).clamp(0.0, 1.0)
    # ground truth of t -> t-1, t >= 1
    fbx, fby = _apply(scenes.flow_background[:, 1:], xs, ys)
    fox, foy = _apply(scenes.flow_object[:, 1:], xs, ys)
    a_t = alpha[:, 1:, 0]
    on_object = a_t >= 0.5
    u = torch.where(on_object, fox, fbx)
    v = torch.where(on_object, foy, fby)
    px, py = xs + u, ys + v
    inside = (px >= 0.0) & (px <= w - 1) & (py >= 0.0) & (py <= h - 1)
    b, t1 = a_t.shape[:2]
    prev = alpha[:, :-1].reshape(b * t1, 1, h, w)
    a_s = F.grid_sample(prev, _grid(px, py, h, w).reshape(b * t1, h, w, 2), mode="bilinear", padding_mode="zeros",
                        align_corners=True).reshape(b, t1, h, w)
    same = ((a_t <= ALPHA_EPS) & (a_s <= ALPHA_EPS)) | ((a_t >= 1.0 - ALPHA_EPS) & (a_s >= 1.0 - ALPHA_EPS))
    flows = frames.new_zeros((b, t1 + 1, 2, h, w))
    flows[:, 1:] = torch.stack((u, v), dim=2)
    masks = frames.new_zeros((b, t1 + 1, 1, h, w))
    masks[:, 1:, 0] = (inside & same).float()
    return frames, flows, masks
