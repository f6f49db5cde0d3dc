"""L-BFGS whose iteration runs entirely on the compute device (no host synchronisation).

The same algorithm as ``torch.optim.LBFGS(lr, history_size=m, line_search_fn=None)`` and neural-style's
``optim.lbfgs`` (fixed step, no line search): the first step is ``-g * min(1, 1/|g|_1) * lr``, later steps
``-H g * lr`` with the L-BFGS inverse-Hessian approximation ``H`` of the last ``m`` curvature pairs
``(s_i, y_i)`` and ``H_0 = gamma I``, ``gamma = s^T y / y^T y`` of the newest pair; a pair with
``s^T y <= 1e-10`` is not used.

``torch.optim.LBFGS`` applies ``H`` with the two-loop recursion (Nocedal 1980): ``4 m`` small vector
operations per iteration and several host reads (``ys > 1e-10``, tolerance checks) that stall a GPU
queue. Here ``H g`` uses the compact representation of Byrd, Nocedal and Schnabel (1994, Theorem 2.2)::

    H = gamma I + [S  gamma Y] [[R^-T (D + gamma Y^T Y) R^-1, -R^-T], [-R^-1, 0]] [S^T; gamma Y^T]

with ``S``, ``Y`` the ``(m, n)`` stacked pairs (oldest first), ``R`` the upper triangle of ``S Y^T``
(``R_ij = s_i . y_j``, ``i <= j``) and ``D`` its diagonal. Per iteration that is a handful of
``(m, n)`` matrix-vector products plus ``m x m`` triangular solves, a fixed sequence of kernels with no
data-dependent control flow, so it can also be captured in a CUDA graph. The pairs live in a ring buffer
(the slot index is a device tensor); a rejected pair is stored as zeros and takes an identity row in
``R`` and ``D``, which removes it from ``H`` exactly. Once more than ``m`` pairs were seen, a rejected
pair still uses up a slot (``torch.optim.LBFGS`` would keep the older pair instead): the only difference
from the reference, and only after a non-positive-curvature step.
"""

from __future__ import annotations

import torch

__all__ = ["DeviceLBFGS"]

_CURVATURE_EPS = 1e-10  # torch.optim.LBFGS / optim.lbfgs: pairs with s^T y below this are skipped


class DeviceLBFGS:
    """Fixed-step L-BFGS state for one flat float32 parameter vector.

    Usage (one loss and gradient evaluation per iteration)::

        opt = DeviceLBFGS(x.numel(), history=100, device=x.device)
        for i in range(n):
            g = gradient at x (flat, (n,))
            x_flat.add_(opt.step(g))

    :param numel: length ``n`` of the parameter vector.
    :param history: ``m``, the number of curvature pairs kept (neural-style ``nCorrection``, 100).
    :param lr: step length (neural-style / artistic-videos use 1).
    :param device: device of the state (``(m, n)`` ``S`` and ``Y``: ``8 m n`` bytes in float32).
    :param dtype: dtype of the state and of the steps (float32; float64 for reference checks).
    :raises ValueError: ``numel`` or ``history`` < 1, ``lr`` <= 0.
    """

    def __init__(self, numel: int, history: int = 100, lr: float = 1.0,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        if numel < 1 or history < 1:
            raise ValueError(f"numel and history must be >= 1, got {numel} and {history}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        m = int(history)
        def zeros(*shape: int) -> torch.Tensor:
            return torch.zeros(*shape, device=device, dtype=dtype)

        self.history = m
        self.lr = float(lr)
        self.S = zeros(m, numel)
        self.Y = zeros(m, numel)
        self.SY = zeros(m, m)  # SY[i, j] = s_i . y_j, physical slots
        self.YY = zeros(m, m)  # YY[i, j] = y_i . y_j
        self.valid = zeros(m)  # 1 for a stored (accepted) pair
        self.slot = torch.zeros(1, device=device, dtype=torch.long)  # next slot to write = oldest pair
        self.gamma = torch.ones((), device=device, dtype=dtype)
        self.prev_grad = zeros(numel)
        self.prev_step = zeros(numel)  # s of the last step (t * d)
        self._arange = torch.arange(m, device=device)
        self.iterations = 0

    def step(self, grad: torch.Tensor) -> torch.Tensor:
        """Take the gradient ``(n,)`` at the current point; return the step ``(n,)`` to add to it.

        The first call gives ``-g * min(1, 1 / |g|_1) * lr``; later calls store the pair
        ``(s, y = g - g_prev)`` and give ``-H g * lr``. No value is read back to the host.
        """
        g = grad.reshape(-1).to(self.S.dtype)
        if self.iterations == 0:
            scale = torch.clamp(1.0 / g.abs().sum(), max=1.0) * self.lr
            step = -g * scale
        else:
            self._store_pair(self.prev_step, g - self.prev_grad)
            step = -self._apply_inverse_hessian(g) * self.lr
        self.prev_grad.copy_(g)
        self.prev_step.copy_(step)
        self.iterations += 1
        return step

    def _store_pair(self, s: torch.Tensor, y: torch.Tensor) -> None:
        ys = torch.dot(y, s)
        ok = (ys > _CURVATURE_EPS).to(s.dtype)
        s = s * ok
        y = y * ok
        slot = self.slot
        self.S.index_copy_(0, slot, s.unsqueeze(0))
        self.Y.index_copy_(0, slot, y.unsqueeze(0))
        row = self.Y.mv(s)  # s_new . y_j
        col = self.S.mv(y)  # s_i . y_new
        yy = self.Y.mv(y)  # y_i . y_new (symmetric)
        self.SY.index_copy_(0, slot, row.unsqueeze(0))
        self.SY.index_copy_(1, slot, col.unsqueeze(1))
        self.YY.index_copy_(0, slot, yy.unsqueeze(0))
        self.YY.index_copy_(1, slot, yy.unsqueeze(1))
        self.valid.index_copy_(0, slot, ok.reshape(1))
        yy_new = torch.dot(y, y)
        self.gamma.copy_(torch.where(ok > 0, ys / torch.where(ok > 0, yy_new, torch.ones_like(yy_new)), self.gamma))
        self.slot.copy_(torch.remainder(slot + 1, self.history))  # in place: static for CUDA graphs

    def _apply_inverse_hessian(self, g: torch.Tensor) -> torch.Tensor:
        # The m x m algebra runs in float64 (cheap at m = 100; keeps the triangular solves accurate);
        # the (m, n) products are matrix-vector products (no TF32 rounding of the history).
        order = torch.remainder(self.slot + self._arange, self.history)  # chronological, oldest first
        sy = self.SY[order][:, order].double()
        yy = self.YY[order][:, order].double()
        invalid = torch.diag(1.0 - self.valid[order].double())
        r = torch.triu(sy) + invalid
        d = torch.diag(torch.diagonal(sy)) + invalid
        a = self.S.mv(g)[order].double().unsqueeze(1)
        b = self.Y.mv(g)[order].double().unsqueeze(1)
        gamma = self.gamma.double()
        r_inv_a = torch.linalg.solve_triangular(r, a, upper=True)
        p = torch.linalg.solve_triangular(r.T, (d + gamma * yy) @ r_inv_a - gamma * b, upper=False)
        q = -r_inv_a
        p_phys = torch.zeros_like(p).index_copy_(0, order, p).squeeze(1).to(g.dtype)
        q_phys = torch.zeros_like(q).index_copy_(0, order, q).squeeze(1).to(g.dtype)
        return self.gamma * g + self.S.T.mv(p_phys) + self.gamma * self.Y.T.mv(q_phys)
