"""Batched FISTA (Beck & Teboulle 2009) with the gradient-based adaptive restart of O'Donoghue & Candes (2015):
:func:`fista` for any smooth term and proximal map (the hybrid's sparse step uses it too), :func:`lasso_fista` for
the Lasso (the box ``0 <= c <= 1`` is an option of its prox).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from genprior.solvers.lasso.checks import gram_matrix


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


def fista(grad: Callable[..., torch.Tensor], prox: Callable[..., torch.Tensor], x0: torch.Tensor, step: float, *,
          max_iter: int, tol: float, data: tuple[torch.Tensor, ...] = (), each_row: bool = True
          ) -> tuple[torch.Tensor, int]:
    """Batched FISTA with adaptive restart: ``min_x f(x) + h(x)`` for every row of ``x0`` ``(B, n)`` at once.

    An iteration is ``x_new = prox(z - step * grad(z))`` followed by :func:`fista_momentum`. ``grad(x, *data)``: the
    gradient of ``f`` at ``x`` ``(R, n)`` (it may re-read ``x`` in any way, e.g. the signs of ``A x``);
    ``prox(v, *data)``: the proximal map of ``step * h`` at ``v`` ``(R, n)`` (it may overwrite ``v``); ``data``:
    per-row tensors ``(B, ...)`` (targets, centres), passed to both sliced to the ``R`` rows still running;
    ``step``: ``1 / L`` for a Lipschitz constant ``L`` of ``grad``. A row has settled when ``||x_k - x_{k-1}||_inf
    <= tol * max(1, ||x_k||_inf)``; with ``each_row`` it is then frozen and dropped from the batch, else every row
    runs until all have settled (or ``max_iter``). Returns the iterates ``(B, n)`` and the iterations run.
    """
    batch = x0.shape[0]
    out = x0.clone()
    if batch == 0:
        return out, 0
    rows = torch.arange(batch, device=x0.device)
    x = x0.clone()
    z = x.clone()
    t = x0.new_ones(batch, 1)
    iterations = 0
    for k in range(1, max_iter + 1):
        iterations = k
        x_new = prox(torch.add(z, grad(z, *data), alpha=-step), *data)
        z, t, move = fista_momentum(z, x, x_new, t)
        x = x_new
        done = torch.linalg.vector_norm(move, math.inf, dim=1) <= tol * torch.linalg.vector_norm(
            x, math.inf, dim=1).clamp(min=1.0)
        if not each_row:
            if bool(done.all()):
                break
        elif bool(done.any()):
            out[rows[done]] = x[done]
            keep = ~done
            rows, x, z, t = rows[keep], x[keep], z[keep], t[keep]
            data = tuple(d[keep] for d in data)
            if rows.numel() == 0:
                break
    if rows.numel():
        out[rows] = x
    return out, iterations


def lasso_fista(design: torch.Tensor, y: torch.Tensor, alpha: float, *, max_iter: int, tol: float,
                box: bool, init: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """:func:`fista` for ``1/(2m)||y - D c||^2 + alpha||c||_1`` (``+ 0 <= c <= 1`` if ``box``), each row on its own.

    ``design``: ``(m, n)``; ``y``: ``(B, m)``; ``init``: an optional starting point ``(B, n)`` (default zero).
    Returns the coefficients ``(B, n)`` (zero where ``D = 0``) and the iterations run.
    """
    m, n = design.shape
    batch = y.shape[0]
    lipschitz = float(torch.linalg.matrix_norm(design, 2)) ** 2 / m
    if batch == 0 or lipschitz == 0.0:
        return y.new_zeros(batch, n), 0
    step, threshold = 1.0 / lipschitz, alpha / lipschitz
    # The gradient D^T (D c - y) / m costs 2mn per row directly, n^2 through the Gram matrix.
    gram = gram_matrix(design) / m if 2 * m >= n else None
    target = y @ design / m if gram is not None else y  # D^T y / m, or y itself

    def gradient(c: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if gram is not None:
            return c @ gram - target
        return (c @ design.T - target) @ design / m

    def prox(v: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if box:  # prox of alpha|c| + indicator(0 <= c <= 1)
            return v.sub_(threshold).clamp_(0.0, 1.0)
        return v.sub_(v.clamp(-threshold, threshold))  # soft threshold: v - clip(v, -threshold, threshold)

    x0 = y.new_zeros(batch, n) if init is None else init.to(y)
    return fista(gradient, prox, x0, step, max_iter=max_iter, tol=tol, data=(target,))


__all__ = ["fista", "fista_momentum", "lasso_fista"]
