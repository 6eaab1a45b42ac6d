"""The Lasso's optimality conditions and the design tests its solvers rely on.

``D^T D`` (:func:`gram_matrix`), whether coefficients satisfy the optimality conditions in float64 (:func:`kkt_holds`),
the signs of the active-set step that corrects them (:func:`active_set_signs`),
and two structure tests of a design ``D`` ``(m, n)`` in ``O(mn)`` (:func:`orthogonal_columns`,
:func:`parallel_columns`) that decide which solver :func:`genprior.solvers.lasso.lasso` uses; and two batched
primitives the exact solvers call at every step (:func:`batched_matvec`, :func:`row_argmax`), which on the CPU go
through NumPy (timed alone, 6x and 10x faster there than torch's at the homotopy's shapes).
"""

from __future__ import annotations

import numpy as np
import torch


def gram_matrix(design: torch.Tensor) -> torch.Tensor:
    """``D^T D`` ``(n, n)`` of ``design`` ``(m, n)``. On the CPU by the BLAS's symmetric rank-k update (half the
    flops of the general product, and exactly symmetric), elsewhere (or with autograd) by ``design.T @ design``."""
    if design.device.type != "cpu" or design.dtype not in (torch.float32, torch.float64) or design.requires_grad:
        return design.T @ design
    from scipy.linalg.blas import get_blas_funcs

    d = design.numpy()
    lower = get_blas_funcs("syrk", (d,))(1.0, d.T, trans=0, lower=1)  # d.T is the Fortran view of d: no copy
    full = lower + lower.T
    np.fill_diagonal(full, lower.diagonal())
    return torch.from_numpy(full)


def _numpy_ok(*tensors: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" and not t.requires_grad and t.dtype in (torch.float32, torch.float64)
               for t in tensors)


def batched_matvec(mats: torch.Tensor, vecs: torch.Tensor) -> torch.Tensor:
    """``mats[b] @ vecs[b]`` for every ``b``: ``(B, p, q)``, ``(B, q)`` -> ``(B, p)``. On the CPU NumPy's stacked
    ``matmul`` (timed alone, about 6x torch's ``bmm`` at ``B = 300``, ``p = q = 50``, which pays a call per matrix)."""
    if _numpy_ok(mats, vecs) and mats.dtype == vecs.dtype:
        return torch.from_numpy(np.matmul(mats.numpy(), vecs.numpy()[:, :, None])[:, :, 0])
    return torch.bmm(mats, vecs.unsqueeze(2)).squeeze(2)


def row_argmax(x: torch.Tensor) -> torch.Tensor:
    """Index of each row's largest entry, ``(B, n)`` -> ``(B,)`` int64 (the first on ties, NaN counts as largest).
    On the CPU NumPy's (timed alone, about 10x torch's ``max(1)`` for a 300 x 784 float32 array)."""
    if _numpy_ok(x):
        return torch.from_numpy(x.numpy().argmax(1))
    return x.argmax(1)


def kkt_holds(design: torch.Tensor, y: torch.Tensor, coef: torch.Tensor, alpha: float,
              rtol: float = 1e-6) -> torch.Tensor:
    """Per row: do ``coef`` satisfy the Lasso optimality conditions (to ``rtol`` relative to ``alpha``)?

    ``|D_j^T r| <= alpha`` everywhere and ``D_j^T r = alpha sign(c_j)`` on the support, ``r = y - D c``.
    A violation of ``rtol * alpha`` can lower the objective by only ``O((rtol * alpha)^2)``.
    """
    return kkt_from_correlation((y - coef @ design.T) @ design, coef, alpha, rtol=rtol)


def kkt_from_correlation(corr: torch.Tensor, coef: torch.Tensor, alpha: float, *, rtol: float = 1e-6
                         ) -> torch.Tensor:
    """:func:`kkt_holds` given the correlations ``corr = D^T (y - D c)`` ``(B, n)``."""
    slack = alpha * rtol + 1e-12 * corr.abs().amax(1, keepdim=True)
    within = (corr.abs() <= alpha + slack).all(1)
    on_support = torch.where(coef != 0, (corr - alpha * torch.sign(coef)).abs() <= slack, True).all(1)
    return within & on_support


def active_set_signs(coef: torch.Tensor, corr: torch.Tensor, diag: torch.Tensor, alpha: float, *,
                     slack: float = 0.0) -> torch.Tensor:
    """The next signs of a primal-dual active-set step (Fan, Jiao & Lu 2014) from ``coef`` ``(B, n)`` and its
    correlations ``corr = D^T (y - D c)``: ``sign(w_j)`` where ``|w_j| > (1 - slack) alpha / G_jj``, ``w = c +
    corr / G_jj`` (``diag`` = ``G_jj``), else 0. It adds the coordinates over ``alpha`` and drops those whose sign does
    not hold; ``slack`` > 0 also takes those within ``slack`` (relative) of the boundary."""
    w = coef + corr / diag
    return torch.where(w.abs() > alpha * (1.0 - slack) / diag, torch.sign(w), torch.zeros_like(w))


def box_kkt_from_correlation(corr: torch.Tensor, coef: torch.Tensor, alpha: float, *, rtol: float = 1e-6
                             ) -> torch.Tensor:
    """Per row: does ``coef`` ``(B, n)`` minimise ``1/2||y - D c||^2 + alpha||c||_1`` over the box ``0 <= c <= 1``
    (to ``rtol``), given ``corr = D^T (y - D c)``? On the box the l1 term is ``alpha sum_j c_j``, and with ``q = corr -
    alpha`` (minus the objective's gradient) the conditions are ``q_j <= 0`` where ``c_j = 0``, ``q_j >= 0`` where
    ``c_j = 1`` and ``q_j = 0`` in between, with every ``c_j`` in [0, 1]; the slack is
    :func:`kkt_from_correlation`'s."""
    q = corr - alpha
    slack = alpha * rtol + 1e-12 * corr.abs().amax(1, keepdim=True)
    holds = torch.where(coef == 0, q <= slack, torch.where(coef == 1, q >= -slack, q.abs() <= slack))
    return (holds & (coef >= 0) & (coef <= 1)).all(1)


def box_active_set_states(coef: torch.Tensor, corr: torch.Tensor, diag: torch.Tensor, alpha: float) -> torch.Tensor:
    """The next states of a primal-dual active-set step for the box ``0 <= c <= 1`` (Hintermueller, Ito & Kunisch 2002):
    ``w = c + (corr - alpha) / G_jj`` is 0 (held at 0) where ``w <= 0``, 2 (held at 1) where ``w >= 1`` and 1 (free)
    in between; ``corr = D^T (y - D c)``, ``diag`` = ``G_jj``. Returns int8 ``(B, n)``."""
    w = coef + (corr - alpha) / diag
    return (w > 0).to(torch.int8) + (w >= 1).to(torch.int8)


def _probe(size: int, like: torch.Tensor) -> torch.Tensor:
    """The fixed random vector ``(size,)`` (in ``like``'s dtype and device) that the design-structure checks use:
    the same on every call, so a design is always classified the same way."""
    return torch.randn(size, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(like)


def orthogonal_columns(design: torch.Tensor) -> bool:
    """Are the columns of ``design`` ``(m, n)`` nonzero and mutually orthogonal (``D^T D`` diagonal: denoising in an
    orthonormal basis, inpainting in pixels once the missing ones are left out)? Checked on one fixed random
    ``r``: ``D^T (D r) = diag(D^T D) r`` to 1e-9 of its scale (``O(mn)``, no Gram matrix)."""
    norms2 = (design * design).sum(0)
    if not bool((norms2 > 0).all()):
        return False
    probe = _probe(design.shape[1], design)
    scaled = norms2 * probe
    return bool(((design @ probe) @ design - scaled).abs().max() <= 1e-9 * scaled.abs().max())


def parallel_columns(design: torch.Tensor) -> bool:
    """Has ``design`` ``(m, n)`` two nonzero columns that are multiples of each other (block averaging repeats each
    column over its block)? Then the Lasso minimiser is not unique. Parallel columns share ``|r^T D_j| / ||D_j||``
    for any ``r``: the columns are sorted by it for one fixed random ``r`` and neighbours that tie are compared
    exactly (``O(mn)``, no Gram matrix)."""
    norms = design.norm(dim=0)
    cols = torch.nonzero(norms > 0).squeeze(1)
    if cols.numel() < 2:
        return False
    key = (_probe(design.shape[0], design) @ design[:, cols]).abs() / norms[cols]
    key, order = key.sort()
    close = torch.nonzero(key[1:] - key[:-1] <= 1e-9 * key[1:] + 1e-300).squeeze(1)
    if close.numel() == 0:
        return False
    first, second = cols[order[close]], cols[order[close + 1]]
    cosine = (design[:, first] * design[:, second]).sum(0).abs() / (norms[first] * norms[second])
    return bool((cosine >= 1.0 - 1e-9).any())
