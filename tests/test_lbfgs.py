"""DeviceLBFGS: the iterates of torch.optim.LBFGS (no line search), without host synchronisation."""

from __future__ import annotations

import pytest
import torch

from vsstylize.optim.lbfgs import DeviceLBFGS


def _problem(n: int = 40, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=gen, dtype=torch.float64)
    a = a @ a.T / n + 0.1 * torch.eye(n, dtype=torch.float64)
    b = torch.randn(n, generator=gen, dtype=torch.float64)
    x0 = 3 * torch.randn(n, generator=gen, dtype=torch.float64)
    return (lambda x: 0.5 * x @ a @ x - b @ x + 0.05 * (x**4).sum()), x0


def _torch_trajectory(f, x0: torch.Tensor, history: int, iters: int) -> list[torch.Tensor]:
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=iters, max_eval=10 * iters, tolerance_grad=-1.0,
                            tolerance_change=-1.0, history_size=history)
    traj: list[torch.Tensor] = []

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        traj.append(x.detach().clone())
        return loss

    opt.step(closure)
    return traj


def _device_trajectory(f, x0: torch.Tensor, history: int, iters: int) -> list[torch.Tensor]:
    opt = DeviceLBFGS(x0.numel(), history, dtype=torch.float64)
    x, traj = x0.clone(), []
    for _ in range(iters):
        xg = x.clone().requires_grad_(True)
        f(xg).backward()
        traj.append(x.clone())
        x = x + opt.step(xg.grad)
    return traj


@pytest.mark.parametrize("history", [3, 100])
def test_same_iterates_as_torch_lbfgs(history: int) -> None:
    f, x0 = _problem()
    ref = _torch_trajectory(f, x0, history, 30)
    ours = _device_trajectory(f, x0, history, 30)
    assert len(ref) == len(ours) == 30
    for k, (a, b) in enumerate(zip(ref, ours)):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-9), f"iterate {k} differs by {float((a - b).abs().max())}"
    assert float(f(ours[-1])) < float(f(ours[0])) - 10  # it really optimised


def test_rejected_pair_is_skipped_like_torch() -> None:
    """A step with negative curvature (s^T y <= 0) must not enter the history: on a concave-then-convex
    function the iterates still follow torch.optim.LBFGS while the history is not full."""
    gen = torch.Generator().manual_seed(1)
    c = torch.randn(20, generator=gen, dtype=torch.float64)

    def f(x: torch.Tensor) -> torch.Tensor:  # double well in every coordinate: concave near 0
        return ((x**2 - 1.0) ** 2).sum() + (c * x).sum() * 0.1

    x0 = 0.05 * torch.randn(20, generator=gen, dtype=torch.float64)
    ref = _torch_trajectory(f, x0, 50, 15)
    ours = _device_trajectory(f, x0, 50, 15)
    for a, b in zip(ref, ours):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-8)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="history"):
        DeviceLBFGS(10, 0)
    with pytest.raises(ValueError, match="lr"):
        DeviceLBFGS(10, 5, lr=0.0)
