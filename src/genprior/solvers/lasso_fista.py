"""Batched FISTA for the Lasso (Beck & Teboulle 2009), with the gradient-based adaptive restart of
O'Donoghue & Candes (2015); the box ``0 <= c <= 1`` is an option of its prox.
"""

from __future__ import annotations

import math

import torch

from genprior.solvers.lasso_checks import gram_matrix


def fista_momentum(z: torch.Tensor, c: torch.Tensor, c_new: torch.Tensor, t: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One FISTA extrapolation (Beck & Teboulle 2009) with adaptive restart (O'Donoghue & Candes 2015), per row.

    ``z``: the point the prox step was taken from (overwritten), ``c`` / ``c_new``: the iterates before and after
    it, ``t`` ``(B, 1)``: momentum counters. A row whose step goes against its momentum restarts (``t = 1``).
    Returns the next extrapolated point, the next ``t`` and the move ``c_new - c``.
    """
    move = c_new - c
    restart = torch.linalg.vecdot(z.sub_(c_new), move).unsqueeze(1) > 0
    t_new = (1.0 + torch.sqrt(1.0 + 4.0 * t * t)) / 2.0
    beta = torch.where(restart, torch.zeros_like(t), (t - 1.0) / t_new)
    t = torch.where(restart, torch.ones_like(t), t_new)
    return torch.addcmul(c_new, beta, move), t, move


def fista(design: torch.Tensor, y: torch.Tensor, alpha: float, *, max_iter: int, tol: float,
          box: bool, init: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """Batched FISTA with adaptive restart for ``1/(2m)||y - D c||^2 + alpha||c||_1`` (``+ 0<=c<=1`` if ``box``).

    ``design``: ``(m, n)``; ``y``: ``(B, m)``; ``init``: an optional starting point ``(B, n)``. Returns the
    coefficients ``(B, n)`` and the iterations run. Each row is frozen (and dropped from the batch) once ``||c_k - c_{k-1}||_inf <= tol * max(1, ||c_k||_inf)``.
    """
    m, n = design.shape
    batch = y.shape[0]
    lipschitz = float(torch.linalg.matrix_norm(design, 2)) ** 2 / m
    out = y.new_zeros(batch, n)
    if batch == 0 or lipschitz == 0.0:
        return out, 0
    step, threshold = 1.0 / lipschitz, alpha / lipschitz
    # The gradient D^T (D c - y) / m costs 2mn per row directly, n^2 through the Gram matrix.
    gram = gram_matrix(design) / m if 2 * m >= n else None
    target = y @ design / m if gram is not None else y  # D^T y / m, or y itself

    def gradient(c: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if gram is not None:
            return c @ gram - target
        return (c @ design.T - target) @ design / m

    rows = torch.arange(batch, device=y.device)
    c = y.new_zeros(batch, n) if init is None else init.to(y).clone()
    z = c.clone()
    t = y.new_ones(batch, 1)
    iterations = 0
    for k in range(1, max_iter + 1):
        iterations = k
        v = torch.add(z, gradient(z, target), alpha=-step)
        if box:  # prox of alpha|c| + indicator(0 <= c <= 1)
            c_new = v.sub_(threshold).clamp_(0.0, 1.0)
        else:  # soft threshold: v - clip(v, -threshold, threshold)
            c_new = v.sub_(v.clamp(-threshold, threshold))
        z, t, move = fista_momentum(z, c, c_new, t)
        c = c_new
        done = torch.linalg.vector_norm(move, math.inf, dim=1) <= tol * torch.linalg.vector_norm(
            c, math.inf, dim=1).clamp(min=1.0)
        if bool(done.any()):
            out[rows[done]] = c[done]
            keep = ~done
            rows, c, z, t, target = rows[keep], c[keep], z[keep], t[keep], target[keep]
            if rows.numel() == 0:
                break
    if rows.numel():
        out[rows] = c
    return out, iterations
