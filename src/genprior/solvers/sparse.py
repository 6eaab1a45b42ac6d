"""Sparse-recovery baselines: the Lasso (Tibshirani 1996) in the pixel, DCT or Haar-wavelet basis.

For every row ``y`` of a batch of measurements ``(B, m)`` of a linear operator ``A`` (``m x n``) this solves

    min_c  1/2 ||y - A Psi c||_2^2 + alpha ||c||_1,        x_hat = clip(Psi c, 0, 1),

the Lasso in its standard form. With ``A_ij ~ N(0, 1/m)`` this is exactly the CSGM reference's
problem (scikit-learn's ``Lasso(alpha)`` on the unscaled ``N(0, 1)`` matrix and measurements), so
``alpha = 0.1`` means what it meant there; it equals scikit-learn's ``Lasso(alpha / m,
fit_intercept=False)`` objective on design ``A Psi`` times ``m``. ``Psi`` (``n x n``) is an orthonormal basis whose columns are the basis vectors, so
``x = Psi c`` and ``c = Psi^T x`` (batched over rows: ``x = c @ Psi.T``).

The solver is FISTA (Beck & Teboulle 2009) with step ``1/L``, ``L = ||A Psi||_2^2 / m``, and the
gradient-based adaptive restart of O'Donoghue & Candes (2015); all images are solved at once in one
batched iteration, and each image stops as soon as its own iterates settle.

``solver="auto"`` instead solves exactly where it can. Without the box (and ``alpha > 0``), with few measurements
(``n >= 12.5 m``) it follows the Lasso homotopy path (LARS-Lasso) for all images at once; otherwise it
runs over-relaxed ADMM in float32 with the shared Gram matrix only until each image's signs settle and then solves
on that support exactly in float64, corrected by primal-dual active-set steps ("polish"). With the box (pixels in
[0, 1]) it runs polish on the bound-constrained problem, each coordinate held at 0, free or held at 1 in place of
its sign. Either way it checks the optimality conditions of every result in float64 and finishes any row that
fails them by float64 FISTA (from where it stopped; with the box from zero, as ``solver="fista"`` does). A design
with parallel columns (block averaging: super-resolution in pixels) has no unique minimiser; there ``auto`` uses
FISTA, whose minimiser spreads each block's value over its copies.

This module holds the bases and :func:`lasso`, which picks the solver; each solver has a module of its own
(:mod:`~genprior.solvers.lasso_fista`, :mod:`~genprior.solvers.lasso_homotopy`, :mod:`~genprior.solvers.lasso_polish`),
and :mod:`~genprior.solvers.lasso_checks` holds the optimality conditions and the design tests they share.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from genprior.errors import InvalidValueError, check_number, unknown
from genprior.operators.base import Operator, check_image_shape
from genprior.solvers.lasso_checks import (
    kkt_holds,
    orthogonal_columns,
    parallel_columns,
)
from genprior.solvers.lasso_fista import fista
from genprior.solvers.lasso_homotopy import homotopy
from genprior.solvers.lasso_polish import polish

BASES = ("pixel", "dct", "wavelet")
# select_alpha's default grid: the CSGM reference's 0.1 and below it, half a decade apart (on held-out MNIST digits
# the chosen alphas spread over all of it with the task, the basis and m)
ALPHA_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)
SOLVERS = ("auto", "fista", "homotopy", "polish")
# solver="auto" (no box, alpha > 0) follows the homotopy path when n >= HOMOTOPY_MAX_RATIO * m (few
# kinks, each cheap), else float32 ADMM + exact float64 solves on the support ("polish"); with the box, polish
HOMOTOPY_MAX_RATIO = 12.5  # the crossover with polish is near n = 12.5 m (784 pixels: m = 63)
POLISH_MAX_ITER = 2000  # float32 ADMM iterations before the rows not yet accepted go to float64 FISTA


# --- bases --------------------------------------------------------------------------------------

def haar_level(h: int, w: int) -> int:
    """Depth of the full Haar decomposition of an ``h x w`` image with periodization.

    The largest level at which every level's size is still even before halving, i.e. the number of
    times both ``h`` and ``w`` divide by 2 (2 for 28x28: 28 -> 14 -> 7; 3 for 8x8). 0 for an odd
    side, where the "wavelet" basis is the pixel basis.
    """
    level = 0
    while h % 2 == 0 and w % 2 == 0 and h > 1 and w > 1:
        h, w, level = h // 2, w // 2, level + 1
    return level


def _analysis_of_impulses(name: str, h: int, w: int) -> np.ndarray:
    """Apply the 2-D analysis transform ``W`` to the ``h*w`` unit images; row ``i`` is ``W e_i``.

    Stacked, that is ``W^T``, which for an orthonormal ``W`` is the synthesis matrix ``Psi``.
    """
    impulses = np.eye(h * w).reshape(h * w, h, w)
    if name == "dct":
        import scipy.fft

        coeffs = scipy.fft.dctn(impulses, type=2, norm="ortho", axes=(-2, -1))
        return coeffs.reshape(h * w, h * w)
    import pywt

    level = haar_level(h, w)
    if level == 0:
        return np.eye(h * w)
    coeffs = pywt.wavedec2(impulses, "haar", mode="periodization", level=level, axes=(-2, -1))
    array, _ = pywt.coeffs_to_array(coeffs, axes=(-2, -1))
    return array.reshape(h * w, h * w)


@functools.lru_cache(maxsize=32)
def _basis_cached(name: str, shape: tuple[int, int, int]) -> torch.Tensor:
    c, h, w = shape
    if name == "pixel":
        return torch.eye(c * h * w, dtype=torch.float64)
    per_channel = torch.from_numpy(np.ascontiguousarray(_analysis_of_impulses(name, h, w)))
    return torch.block_diag(*[per_channel] * c) if c > 1 else per_channel


def basis_matrix(name: str, shape=(1, 28, 28)) -> torch.Tensor:
    """The orthonormal basis ``Psi`` (``n x n``, float64, CPU; ``n = C*H*W``) named ``name``.

    Columns are basis vectors over the flattened ``(C, H, W)`` image: ``x = Psi c``, ``c = Psi^T x``.

    - ``"pixel"``: the identity.
    - ``"dct"``: the 2-D orthonormal DCT-II of each channel (``scipy.fft.dctn(norm="ortho")``).
    - ``"wavelet"``: the 2-D orthonormal Haar transform of each channel, periodized, at the depth of
      :func:`haar_level` (level 2 for 28x28); coefficients in PyWavelets' ``coeffs_to_array`` layout.

    Built matrices are cached per ``(name, shape)``; this returns a fresh copy.
    """
    if name not in BASES:
        raise unknown("basis", name, BASES)
    return _basis_cached(name, check_image_shape(shape)).clone()


# --- the solver ---------------------------------------------------------------------------------

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
        return fista(design, yd, alpha / m, max_iter=max_iter, tol=tol, box=boxed)
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
        coef[redo], extra = fista(design, yd[redo], alpha / m, max_iter=max_iter, tol=tol, box=boxed, init=init)
        iterations += extra
    return coef, iterations


def lasso(operator: Operator, y: torch.Tensor, *, basis: str = "pixel", alpha: float = 0.1,
          max_iter: int = 5000, tol: float = 1e-7, box: bool = True,
          dtype: torch.dtype = torch.float64, solver: str = "auto") -> SparseRecovery:
    """Lasso recovery of images from linear measurements ``y`` ``(B, m)``, all rows at once.

    Solves ``min_c 1/2 ||y - A Psi c||^2 + alpha||c||_1`` per row (``m`` times scikit-learn's ``Lasso``
    objective with ``alpha / m``, ``fit_intercept=False`` and design ``A Psi``), ``A = operator.matrix()``,
    ``Psi = basis_matrix(basis)``,
    in ``dtype`` (float64 by default) on ``y``'s device.

    ``solver``: ``"fista"`` (FISTA with adaptive restart), ``"homotopy"`` (the exact LARS-Lasso path; unboxed
    problems with ``alpha > 0`` only, ``max_iter`` caps its kinks), ``"polish"`` (float32 ADMM with the Gram matrix
    until each row's signs settle, then exact float64 solves on that support and up to two active-set
    corrections, accepted where the optimality conditions hold in float64; ``alpha > 0`` without the box; with it,
    each coordinate's state at 0, free or at 1 in place of its sign) or
    ``"auto"``: without the box and with ``alpha > 0``, the homotopy when ``n >= 12.5 m`` (its cost grows
    with the number of kinks, about ``1.3 m``) and polish otherwise; polish with the box; FISTA with neither
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
    non-linear operator, NaN in ``y`` or a bad parameter, ``ShapeError`` for a wrong ``y`` shape,
    ``UnknownNameError`` for an unknown basis.
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
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InvalidValueError(f"dtype must be a real floating torch dtype, got {dtype!r}")
    out_dtype = y.dtype if y.is_floating_point() else torch.float32
    device = y.device
    a = a.to(device=device, dtype=dtype)
    yd = y.to(dtype)
    psi = None if basis == "pixel" else _basis_cached(basis, operator.input_shape).to(device=device, dtype=dtype)
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
    for a in tqdm(alphas, desc=f"tuning alpha ({basis})", disable=not progress, leave=False):
        x_hat = lasso(operator, y, basis=basis, alpha=a, **lasso_kwargs).x
        errors[a] = float((x_hat.float() - truth).pow(2).mean())
    best = min(alphas, key=lambda a: errors[a])
    return best, errors


__all__ = ["ALPHA_GRID", "BASES", "SparseRecovery", "basis_matrix", "haar_level", "lasso", "select_alpha"]
