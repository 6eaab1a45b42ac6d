"""The Lasso's entry points: :func:`lasso` (checks, basis, zero columns, the choice of solver) and
:func:`select_alpha` (the weight chosen on held-out images). The objective and the solvers are described in
:mod:`genprior.solvers.lasso`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genprior.errors import InvalidValueError, check_number, unknown
from genprior.operators.base import Operator
from genprior.progress import progress_bar
from genprior.solvers.lasso.bases import BASES, basis_matrix
from genprior.solvers.lasso.checks import (
    kkt_holds,
    orthogonal_columns,
    parallel_columns,
)
from genprior.solvers.lasso.constants import (
    ALPHA_GRID,
    HOMOTOPY_MAX_RATIO,
    POLISH_MAX_ITER,
)
from genprior.solvers.lasso.fista import lasso_fista
from genprior.solvers.lasso.homotopy import homotopy
from genprior.solvers.lasso.polish import polish

SOLVERS = ("auto", "fista", "homotopy", "polish")
DTYPES = (torch.float32, torch.float64)  # the precisions lasso solves in


@dataclass
class SparseRecovery:
    """Result of :func:`lasso` for a batch of ``B`` measurement vectors.

    ``x``: recoveries ``(B, C, H, W)`` in [0, 1]; ``coef``: basis coefficients ``c`` ``(B, n)``;
    ``objective``: ``1/2 ||y - A Psi c||^2 + alpha ||c||_1`` per image ``(B,)``;
    ``iterations``: FISTA iterations run (the most any image needed).
    """

    x: torch.Tensor
    coef: torch.Tensor
    objective: torch.Tensor
    iterations: int


def _linear_matrix(operator: Operator) -> torch.Tensor:
    if not isinstance(operator, Operator) or not getattr(operator, "linear", False) or not hasattr(operator, "matrix"):
        name = getattr(operator, "name", type(operator).__name__)
        raise InvalidValueError(f"lasso needs a linear operator with a matrix; {name} is not linear")
    return operator.matrix()


def _lasso_rows(design: torch.Tensor, yd: torch.Tensor, alpha: float, *, solver: str, boxed: bool, max_iter: int,
                tol: float) -> tuple[torch.Tensor, int]:
    """:func:`lasso`'s solve of every row on design ``(m, n)``: the solver ``solver`` names (``"auto"`` picks one),
    the rows an exact solver does not finish completed by float64 FISTA. Returns ``(coef (B, n), iterations)``."""
    m, n = design.shape
    if solver == "auto" and orthogonal_columns(design):
        # D^T D diagonal: the problem separates per coordinate, and its minimiser is the soft threshold of D^T y
        # scaled by the column norms (clipped to [0, 1] with the box, exact for a one-dimensional convex problem)
        coef = torch.nn.functional.softshrink(yd @ design, alpha) / (design * design).sum(0)
        if boxed:
            return coef.clamp_(0.0, 1.0), 0
        if bool(kkt_holds(design, yd, coef, alpha).all()):
            return coef, 0
    if solver == "auto":
        # with parallel columns the minimiser is not unique; FISTA from zero returns the one that spreads each
        # block's value over its copies (an exact path or support solve would put it on one copy: a blocky image)
        if not (alpha > 0 or boxed) or parallel_columns(design):
            solver = "fista"
        elif boxed:  # the box's problem is a bound-constrained quadratic programme: polish solves it exactly
            solver = "polish"
        elif HOMOTOPY_MAX_RATIO * m <= n:
            solver = "homotopy"
        else:
            solver = "polish"
    if solver == "fista":
        # fista solves scikit-learn's scaling, 1/(2m)||.||^2 + (alpha/m)||c||_1: the same minimiser
        return lasso_fista(design, yd, alpha / m, max_iter=max_iter, tol=tol, box=boxed)
    if solver == "homotopy":
        coef, ok, iterations = homotopy(design, yd, alpha, max_kinks=max_iter)
        ok &= kkt_holds(design, yd, coef, alpha)
    else:  # rows it accepts already passed the optimality check in float64
        coef, ok, iterations = polish(design, yd, alpha, max_iter=min(max_iter, POLISH_MAX_ITER), box=boxed)
    if not bool(ok.all()):  # finish the rows the path could not, by FISTA
        redo = torch.nonzero(~ok).squeeze(1)
        # without the box from where they stopped (a nearby point of the same path); with it from zero, as
        # solver="fista" would: the box rows polish gives up on are those whose minimiser is free on about m
        # pixels, where FISTA rarely converges within max_iter and its early-stopped iterate from zero is the
        # smoother image (lower error on held-out digits than the one reached from ADMM's vertex-like point)
        init = None if boxed else coef[redo]
        coef[redo], extra = lasso_fista(design, yd[redo], alpha / m, max_iter=max_iter, tol=tol, box=boxed, init=init)
        iterations += extra
    return coef, iterations


def lasso(operator: Operator, y: torch.Tensor, *, basis: str = "pixel", alpha: float = 0.1,
          max_iter: int = 5000, tol: float = 1e-7, box: bool = True,
          dtype: torch.dtype = torch.float64, solver: str = "auto") -> SparseRecovery:
    """Lasso recovery of images from linear measurements ``y`` ``(B, m)``, all rows at once.

    Solves ``min_c 1/2 ||y - A Psi c||^2 + alpha||c||_1`` per row (``m`` times scikit-learn's ``Lasso``
    objective with ``alpha / m``, ``fit_intercept=False`` and design ``A Psi``), ``A = operator.matrix()``,
    ``Psi = basis_matrix(basis)``, in ``dtype`` (``torch.float64`` by default, or ``torch.float32``) on ``y``'s
    device. ``alpha >= 0``; the default 0.1 is the CSGM reference's (:func:`select_alpha` picks one from
    :data:`~genprior.solvers.lasso.constants.ALPHA_GRID` on held-out images).

    ``solver``: ``"fista"`` (FISTA with adaptive restart), ``"homotopy"`` (the exact LARS-Lasso path; unboxed
    problems with ``alpha > 0`` only, ``max_iter`` caps its kinks), ``"polish"`` (float32 ADMM with the Gram matrix
    until each row's signs settle, then exact float64 solves on that support and up to two active-set
    corrections, accepted where the optimality conditions hold in float64; ``alpha > 0`` without the box; with it,
    each coordinate's state at 0, free or at 1 in place of its sign) or
    ``"auto"``: without the box and with ``alpha > 0``, the homotopy when ``n >= HOMOTOPY_MAX_RATIO m`` (12.5; its
    cost grows with the number of kinks, about ``1.3 m``) and polish otherwise; polish with the box; FISTA with neither
    ``alpha > 0`` nor the box, or when ``A Psi`` has parallel columns (its minimiser is then not unique, and
    FISTA's spreads over the copies); with orthogonal columns (denoising, inpainting in pixels) the closed-form
    soft threshold. Rows the exact solvers do not finish are finished by float64 FISTA. With ``alpha > 0``,
    columns of ``A Psi`` that are all zero (basis vectors the operator does not see) get coefficient 0 and are
    left out of the solve (and of ``n`` in the choice above).

    ``box``: in the pixel basis, solve with the constraint ``0 <= c <= 1`` (in FISTA, its prox
    ``clip(soft_threshold(.), 0, 1)`` is exact there because the basis is separable); in the other
    bases the problem is solved without it and ``box`` changes nothing. In every case the recovery is
    ``x = clip(Psi c, 0, 1)``, as in the CSGM reference.

    Returns a :class:`SparseRecovery`: ``x`` ``(B, C, H, W)`` in [0, 1] and ``coef`` ``(B, n)`` in
    ``y``'s floating dtype, ``objective`` ``(B,)`` in ``dtype``. Raises ``InvalidValueError`` for a
    non-linear operator, NaN in ``y``, a ``dtype`` other than float32 / float64 or another bad parameter,
    ``ShapeError`` for a wrong ``y`` shape, ``UnknownNameError`` for an unknown basis or solver.
    The solver thresholds are in :mod:`genprior.solvers.lasso.constants` (measurements: ``docs/tuning.md``).

    >>> import torch
    >>> from genprior.operators import Gaussian
    >>> from genprior.solvers import lasso
    >>> x = torch.zeros(1, 1, 8, 8)
    >>> x[0, 0, 2:6, 3] = 1.0  # 4 of 64 pixels
    >>> op = Gaussian(m=32, shape=(1, 8, 8), seed=0)
    >>> rec = lasso(op, op.measure(x), basis="pixel", alpha=1e-3)
    >>> rec.x.shape, bool((rec.x - x).abs().max() < 0.05)
    (torch.Size([1, 1, 8, 8]), True)
    """
    if basis not in BASES:
        raise unknown("basis", basis, BASES)
    if solver not in SOLVERS:
        raise unknown("solver", solver, SOLVERS)
    a = _linear_matrix(operator)
    y = operator.check_measurements(y)
    check_number("alpha", alpha, low=0.0)
    check_number("max_iter", max_iter, low=1, integer=True)
    check_number("tol", tol, low=0.0)
    if dtype not in DTYPES:  # the solvers' linear algebra (spectral norm, Cholesky, LAPACK) has no half precision
        raise InvalidValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    out_dtype = y.dtype if y.is_floating_point() else torch.float32
    device = y.device
    a = a.to(device=device, dtype=dtype)
    yd = y.to(dtype)
    psi = None if basis == "pixel" else basis_matrix(basis, operator.input_shape).to(device=device, dtype=dtype)
    design = a if psi is None else a @ psi
    boxed = bool(box) and psi is None
    if boxed and solver == "homotopy":
        raise InvalidValueError("solver='homotopy' solves the Lasso without the box; pass box=False")
    # a column of zeros (a basis vector the operator does not see: a missing pixel, a wavelet inside a masked block)
    # has coefficient 0 at every minimiser when alpha > 0, so the solvers work on the other columns only
    seen = torch.nonzero(design.abs().amax(0) > 0).squeeze(1) if alpha > 0 else None
    options = {"solver": solver, "boxed": boxed, "max_iter": max_iter, "tol": float(tol)}
    if seen is None or seen.numel() == design.shape[1]:
        coef, iterations = _lasso_rows(design, yd, float(alpha), **options)
    else:
        coef, iterations = torch.zeros(yd.shape[0], design.shape[1], dtype=dtype, device=device), 0
        if seen.numel():
            coef[:, seen], iterations = _lasso_rows(design[:, seen], yd, float(alpha), **options)
    residual = yd - coef @ design.T
    objective = residual.pow(2).sum(1) / 2 + alpha * coef.abs().sum(1)
    x_flat = coef if psi is None else coef @ psi.T
    x = x_flat.clamp(0.0, 1.0).view(-1, *operator.input_shape)
    return SparseRecovery(x=x.to(out_dtype), coef=coef.to(out_dtype), objective=objective, iterations=iterations)


def select_alpha(operator: Operator, images: torch.Tensor, *, basis: str = "pixel", alphas=ALPHA_GRID,
                 seed: int = 0, progress: bool = False, **lasso_kwargs) -> tuple[float, dict[float, float]]:
    """Pick the Lasso weight ``alpha`` from the grid ``alphas`` by error per pixel on ``images``.

    ``images`` ``(B, C, H, W)`` in [0, 1] must be held-out images, not the ones the chosen alpha will be
    evaluated on (choosing on the test images flatters the baseline). They are measured with
    ``operator.measure(images, seed=seed)`` and recovered by :func:`lasso` (extra keyword arguments go
    to it) for each alpha; ``alphas`` defaults to :data:`ALPHA_GRID`, ``progress`` shows a bar over it.
    Returns ``(best_alpha, {alpha: mean((x_hat - x)^2)})``; ties go to the first.
    """
    alphas = [float(check_number("alpha", a, low=0.0)) for a in alphas]
    if not alphas:
        raise InvalidValueError("alphas must hold at least one value")
    y = operator.measure(images, seed=seed)
    truth = images.to(y.device, torch.float32)
    errors = {}
    for a in progress_bar(alphas, desc=f"tuning alpha ({basis})", enabled=progress, leave=False):
        x_hat = lasso(operator, y, basis=basis, alpha=a, **lasso_kwargs).x
        errors[a] = float((x_hat.float() - truth).pow(2).mean())
    best = min(alphas, key=lambda a: errors[a])
    return best, errors


__all__ = ["DTYPES", "SOLVERS", "SparseRecovery", "lasso", "select_alpha"]
