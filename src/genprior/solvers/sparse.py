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

Without the box (and ``alpha > 0``), ``solver="auto"`` instead solves exactly: with few measurements
(``n >= 12.5 m``) it follows the Lasso homotopy path (LARS-Lasso) for all images at once; otherwise it
runs over-relaxed ADMM in float32 with the shared Gram matrix only until each image's signs settle and then solves
on that support exactly in float64, corrected by primal-dual active-set steps ("polish"). Either way it
checks the optimality conditions of every result in float64 and finishes any row that fails them by
float64 FISTA from where it stopped. A design with parallel columns (block averaging: super-resolution in pixels)
has no unique minimiser; there ``auto`` uses FISTA, whose minimiser spreads each block's value over its copies.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from genprior.errors import InvalidValueError, unknown
from genprior.operators.base import Operator

BASES = ("pixel", "dct", "wavelet")
SOLVERS = ("auto", "fista", "homotopy", "polish")
# solver="auto" (no box, alpha > 0) follows the homotopy path when n >= HOMOTOPY_MAX_RATIO * m (few
# kinks, each cheap), else float32 ADMM + exact float64 solves on the support ("polish")
HOMOTOPY_MAX_RATIO = 12.5  # the crossover with polish is near n = 12.5 m (784 pixels: m = 63)
# the homotopy forms D_A d_A from the gathered active columns when n >= HOMOTOPY_GATHER_RATIO * m, else by a
# dense product over all n coordinates
HOMOTOPY_GATHER_RATIO = 16
POLISH_MAX_ITER = 2000  # float32 ADMM iterations before the rows not yet accepted go to float64 FISTA
GIVE_UP_SINGULAR = 3  # singular solves on a row's settled supports before polish hands it to float64 FISTA
GIVE_UP_OVERSIZE = 15  # checks with settled signs on more than m coordinates before the same hand-over
TAIL_FACTOR = 3  # polish hands the rows left after 3x the iterations that accepted half the rows to the homotopy,
TAIL_MIN_RATIO = 4  # when n >= 4 m (a short path); with more measurements ADMM finishes them sooner
FACTORED_RATIO = 2.0  # ADMM applies (G + rho I)^{-1} through the m x m Woodbury factor when n > 2 m
BFLOAT16_RESYNC = 10  # with fast bfloat16 products, ADMM's product is exact (float32) every 10th iteration only


# --- bases --------------------------------------------------------------------------------------

def _check_shape(shape) -> tuple[int, int, int]:
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise InvalidValueError(f"image shape must be (C, H, W), got {shape!r}") from None
    if len(shape) != 3 or min(shape) <= 0:
        raise InvalidValueError(f"image shape must be (C, H, W) with positive sizes, got {shape!r}")
    return shape


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
    return _basis_cached(name, _check_shape(shape)).clone()


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


def _check_number(name: str, value, *, low: float, integer: bool = False, strict: bool = False):
    ok_type = isinstance(value, numbers.Integral if integer else numbers.Real)
    if isinstance(value, bool) or not ok_type or not math.isfinite(value) or value < low or (strict and value == low):
        kind = "an integer" if integer else "a finite number"
        raise InvalidValueError(f"{name} must be {kind} {'>' if strict else '>='} {low}, got {value!r}")
    return value


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


def _fista(design: torch.Tensor, y: torch.Tensor, alpha: float, *, max_iter: int, tol: float,
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
    gram = design.T @ design / m if 2 * m >= n else None
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


def _homotopy(design: torch.Tensor, y: torch.Tensor, alpha: float, *,
              max_kinks: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Batched Lasso homotopy (the LARS-Lasso path) for ``1/2||y - D c||^2 + alpha||c||_1``, ``alpha > 0``.

    Every row follows the exact piecewise-linear solution path from ``lambda = ||D^T y||_inf`` (where
    ``c = 0``) down to ``lambda = alpha`` (Osborne, Presnell & Turlach 2000; Efron et al. 2004): along a
    segment the active coefficients move in the direction ``d = (D_A^T D_A)^{-1} s_A`` and the
    correlations ``rho = D^T (y - D c)`` by ``a = D^T D d``; a segment ends where an inactive
    correlation reaches ``+-lambda`` (the coordinate joins) or an active coefficient reaches zero (it
    leaves). All rows advance together, one kink each per pass; the inverse of each row's active Gram
    matrix is kept in padded slots and updated by rank-one bordering/deflation, so a kink costs
    ``O(mn + |A|^2)`` per row. The result at ``lambda = alpha`` is the exact minimiser, finished with a
    fresh solve on its support.

    ``design``: ``(m, n)``; ``y``: ``(B, m)``. Returns the coefficients ``(B, n)``, a ``(B,)`` mask of rows
    that completed (a row fails on a (near-)singular active set, after ``max_kinks`` kinks, or when it ends with
    an inactive coordinate on the boundary, a tie or a copy of an active column, where the minimiser need not be
    unique; its entry holds where the path stopped) and the most kinks any row took.
    """
    m, n = design.shape
    batch = y.shape[0]
    dt, dev = design.dtype, design.device
    gram = _gram(design)
    gram_flat = gram.reshape(-1)
    diag = gram.diagonal()
    b = y @ design  # D^T y
    out = y.new_zeros(batch, n)
    ok = torch.ones(batch, dtype=torch.bool, device=dev)
    lam, first = b.abs().max(1)
    rows = torch.nonzero(lam > alpha).squeeze(1)  # the others have c = 0
    if rows.numel() == 0:
        return out, ok, 0
    limit = min(m, n)  # a Lasso solution of a design in general position has at most m nonzeros
    use_gram = 2 * m >= n  # a = d @ G (n^2 per row) or (d @ D^T) @ D (2mn per row)
    gather = HOMOTOPY_GATHER_RATIO * m <= n  # small m: D_A d_A from gathered columns beats the dense product
    rho, lam, first, bb = b[rows].clone(), lam[rows], first[rows], b[rows]
    live_n = rows.numel()
    ar = torch.arange(live_n, device=dev)
    cap = min(limit, 16)
    idx = torch.zeros(live_n, cap, dtype=torch.long, device=dev)  # slot -> coordinate
    occ = torch.zeros(live_n, cap, dtype=torch.bool, device=dev)
    sgn = torch.zeros(live_n, cap, dtype=dt, device=dev)
    coef = torch.zeros(live_n, cap, dtype=dt, device=dev)
    inv = torch.zeros(live_n, cap, cap, dtype=dt, device=dev)  # (G_AA)^{-1}, zero on empty slots
    idx[:, 0], occ[:, 0] = first, True
    sgn[:, 0] = torch.sign(rho[ar, first])
    inv[:, 0, 0] = 1.0 / diag[first]
    d = sgn * inv[:, :, 0]  # direction of the active coefficients, (G_AA)^{-1} s_A
    # rho holds the correlations of the inactive coordinates; an active one's is +-lambda by construction and is
    # kept at +inf instead, which makes both of its join rates 0 (never joins) without a masking pass
    rho[ar, first] = math.inf
    live = torch.ones(live_n, dtype=torch.bool, device=dev)
    neg_inf = torch.tensor(-math.inf, dtype=dt, device=dev)
    inf = torch.tensor(math.inf, dtype=dt, device=dev)
    one = torch.ones(1, 1, dtype=dt, device=dev)

    def finish(sel: torch.Tensor, completed: bool) -> None:
        """Write rows ``sel`` (local indices) to ``out``: on their active set, solve exactly."""
        if sel.numel() == 0:
            return
        i_, o_, s_, inv_ = idx[sel], occ[sel], sgn[sel], inv[sel]
        if completed:
            rhs = (bb[sel].gather(1, i_) - alpha * s_) * o_
            c_ = torch.bmm(inv_, rhs.unsqueeze(2)).squeeze(2)
            g_aa = gram_flat.take(i_.unsqueeze(2) * n + i_.unsqueeze(1)) * (o_.unsqueeze(2) & o_.unsqueeze(1))
            for _ in range(2):  # iterative refinement against the drift of the updated inverse
                res = rhs - torch.bmm(g_aa, c_.unsqueeze(2)).squeeze(2)
                c_ = c_ + torch.bmm(inv_, res.unsqueeze(2)).squeeze(2)
            c_ = c_ * o_
            # an inactive coordinate still on the boundary, |rho_j| = lambda, is a tie or a column that depends on
            # the active ones (a copy of one): the minimiser need not be unique, and FISTA's is the one that spreads
            # over the copies; such rows are reported as not completed
            r_ = rho[sel]
            tie = ((r_.abs() >= lam[sel].unsqueeze(1) * (1.0 - 1e-9)) & (r_ != math.inf)).any(1)
            ok[rows[sel[tie]]] = False
        else:
            c_ = coef[sel] * o_
            ok[rows[sel]] = False
        out[rows[sel]] = torch.zeros(sel.numel(), n, dtype=dt, device=dev).scatter_add_(1, i_, c_)

    design_t = design.T.contiguous()
    buf1, buf2, buf3 = (torch.empty(live_n, n, dtype=dt, device=dev) for _ in range(3))

    last_left = torch.zeros(live_n, dtype=torch.long, device=dev)
    has_left = torch.zeros(live_n, dtype=torch.bool, device=dev)
    kinks = 0
    while True:
        kinks += 1
        if kinks % 16 == 0:  # refresh the direction against drift of its rank-one updates
            d = torch.bmm(inv, sgn.unsqueeze(2)).squeeze(2)
        if use_gram:
            a = torch.zeros(live_n, n, dtype=dt, device=dev).scatter_add_(1, idx, d) @ gram
        elif gather:  # u = D_A d_A from the gathered active columns, then a = D^T u
            u = torch.bmm(d.unsqueeze(1), design_t[idx]).squeeze(1)
            a = u @ design
        else:
            a = (torch.zeros(live_n, n, dtype=dt, device=dev).scatter_add_(1, idx, d) @ design_t) @ design
        lam1 = lam.unsqueeze(1)
        # a coordinate joins at step gamma = (lam - s rho)/(1 - s a) with s = +-1; compare 1/gamma (<= 0: never
        # joins). For |rho| < lam the larger of the two rates is the one with s = sign(rho - a lam), so one
        # division per entry suffices (an active coordinate, rho = +inf, gets a rate of 0)
        if buf1.shape[0] != live_n:
            buf1, buf2, buf3 = buf1[:live_n], buf2[:live_n], buf3[:live_n]
        side = torch.addcmul(rho, lam1, a, value=-1.0, out=buf1).sign_()
        rate = torch.addcmul(one, side, a, value=-1.0, out=buf2)
        rate = rate.div_(torch.addcmul(lam1, side, rho, value=-1.0, out=buf3))
        # the coordinate that has just left sits on the boundary, moving inward: it may not rejoin at once
        rate[ar, last_left] = torch.where(has_left, neg_inf, rate[ar, last_left])
        rate_join, j = rate.max(1)
        g_join = torch.where(rate_join > 0, 1.0 / rate_join, inf)
        leave = (-coef).div_(d)  # an active coefficient reaches zero at gamma = -c / d
        leave = torch.where(occ & (leave > 0), leave, inf)
        g_leave, k_leave = leave.min(1)
        g_end = lam - alpha
        g_event = torch.minimum(g_join, g_leave)
        done = live & (g_end <= g_event)
        gam = torch.where(live, torch.minimum(g_event, g_end), torch.zeros_like(lam))
        coef.addcmul_(gam.unsqueeze(1), d)
        rho.addcmul_(gam.unsqueeze(1), a, value=-1.0)
        lam = lam - gam
        join = live & ~done & (g_join <= g_leave)
        drop = live & ~done & ~join
        free = ~occ
        if bool((join & ~free.any(1)).any()) and cap < limit:  # grow the slots
            new_cap = min(2 * cap, limit)
            pad = new_cap - cap
            idx = torch.nn.functional.pad(idx, (0, pad))
            occ = torch.nn.functional.pad(occ, (0, pad))
            sgn, coef, d = (torch.nn.functional.pad(t, (0, pad)) for t in (sgn, coef, d))
            inv = torch.nn.functional.pad(inv, (0, pad, 0, pad))
            cap, free = new_cap, ~occ
        full = join & ~free.any(1)
        k = torch.where(join, free.to(torch.uint8).argmax(1), k_leave)
        # join: border the inverse with g = G[A, j]; leave: deflate it by its column k
        g = gram_flat.take(j.unsqueeze(1) * n + idx) * occ
        h = torch.where(join.unsqueeze(1), g, torch.nn.functional.one_hot(k, cap).to(dt))
        v = torch.bmm(inv, h.unsqueeze(2)).squeeze(2)
        schur = diag[j] - (g * v).sum(1)
        v_k = v[ar, k]
        bad = join & ~(schur > 1e-10 * diag[j])  # (near-)singular active set
        fail = full | bad
        join = join & ~fail
        s_j = torch.sign(rho[ar, j])
        zero = torch.zeros_like(v_k)
        scale = torch.where(join, 1.0 / schur, torch.where(drop, -1.0 / v_k, zero))
        d_k = d[ar, k]
        t = torch.where(join, (v * sgn).sum(1) - s_j, d_k)
        over = kinks >= max_kinks
        failed = (live & ~done) if over else fail
        finish(ar[done], True)
        finish(ar[failed], False)
        live = live & ~done & ~failed
        # from here every live row joins or drops, and the other rows are finished: the updates are written to
        # all rows, with no selection of the live ones
        d = d + (scale * t).unsqueeze(1) * v
        inv.baddbmm_((v * scale.unsqueeze(1)).unsqueeze(2), v.unsqueeze(1))
        border = torch.where(join.unsqueeze(1), -v * scale.unsqueeze(1), torch.zeros_like(v))
        inv[ar, k, :] = border
        inv[ar, :, k] = border
        inv[ar, k, k] = torch.where(join, scale, zero)
        d[ar, k] = torch.where(join, -t * scale, zero)
        left = idx[ar, k]  # on a drop, the coordinate that leaves
        # a joining coordinate's correlation is kept at +inf; a leaving one sits on the boundary, |rho| = lambda
        rho[ar, torch.where(join, j, left)] = torch.where(join, inf, sgn[ar, k] * lam)
        idx[ar, k] = torch.where(join, j, 0)
        occ[ar, k] = join
        sgn[ar, k] = torch.where(join, s_j, zero)
        coef[ar, k] = 0.0
        last_left = torch.where(drop, left, last_left)
        has_left = drop
        remaining = int(live.sum())
        if remaining == 0:
            break
        if remaining <= 0.75 * live_n:  # drop the finished rows from the batch
            keep = torch.nonzero(live).squeeze(1)
            rows, rho, lam, bb, idx, occ, sgn, coef, inv, d, last_left, has_left = (t_[keep] for t_ in (
                rows, rho, lam, bb, idx, occ, sgn, coef, inv, d, last_left, has_left))
            live_n = remaining
            ar = torch.arange(live_n, device=dev)
            live = torch.ones(live_n, dtype=torch.bool, device=dev)
    return out, ok, kinks


def _gram(design: torch.Tensor) -> torch.Tensor:
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


def _support_solve(gram: torch.Tensor, b: torch.Tensor, sign: torch.Tensor, alpha: float, *,
                   chunk: int = 4) -> torch.Tensor:
    """Per row, the Lasso stationary point on the support and signs ``sign`` ``(B, n)`` (entries -1, 0, 1).

    Solves ``G_SS c_S = b_S - alpha s_S`` exactly (Cholesky, in ``gram``'s dtype) with ``c = 0`` off the
    support ``S = {j : sign_j != 0}``; ``gram = D^T D`` ``(n, n)``, ``b = D^T y`` ``(B, n)``. On the CPU each row
    is one LAPACK ``potrf`` / ``potrs`` pair on its gathered ``G_SS``; elsewhere rows are solved in batched
    chunks of similar support size, each padded to its largest support with identity rows. If the support and
    signs are those of the minimiser, the result is the minimiser; a row whose ``G_SS`` is not positive
    definite comes back as NaNs.
    """
    if b.device.type == "cpu":
        return _support_solve_lapack(gram, b, sign, alpha)
    return _support_solve_batched(gram, b, sign, alpha, chunk=chunk)


def _support_solve_batched(gram: torch.Tensor, b: torch.Tensor, sign: torch.Tensor, alpha: float, *,
                           chunk: int = 4) -> torch.Tensor:
    """:func:`_support_solve` by batched torch Cholesky factorisations, ``chunk`` rows at a time (any device)."""
    batch, n = b.shape
    out = torch.zeros_like(b)
    support = sign != 0
    sizes = support.sum(1)
    if batch == 0 or int(sizes.max()) == 0:
        return out
    flat = gram.reshape(-1)
    order_rows = torch.argsort(sizes)
    for start in range(0, batch, chunk):
        rows = order_rows[start:start + chunk]
        size = int(sizes[rows].max())
        if size == 0:
            continue
        # the support's coordinates first (in increasing order); padding slots repeat coordinate 0 and are
        # masked to identity rows and columns
        cols = torch.argsort(support[rows].to(torch.int8), dim=1, descending=True, stable=True)[:, :size]
        valid = torch.arange(size, device=b.device) < sizes[rows].unsqueeze(1)
        cols = cols.masked_fill(~valid, 0)
        pair = valid.unsqueeze(2) & valid.unsqueeze(1)
        sub = flat.take(cols.unsqueeze(2) * n + cols.unsqueeze(1)).masked_fill_(~pair, 0.0)
        sub.diagonal(dim1=1, dim2=2).masked_fill_(~valid, 1.0)
        rhs = (b[rows].gather(1, cols) - alpha * sign[rows].gather(1, cols).to(b.dtype)).masked_fill_(~valid, 0.0)
        factor, info = torch.linalg.cholesky_ex(sub)
        sol = torch.linalg.solve_triangular(factor, rhs.unsqueeze(2), upper=False)
        sol = torch.linalg.solve_triangular(factor.mT, sol, upper=True).squeeze(2)
        sol = torch.where((info == 0).unsqueeze(1), sol, torch.full_like(sol, math.nan))
        sol = sol.masked_fill(~valid, 0.0)
        out[rows] = torch.zeros(rows.numel(), n, dtype=b.dtype, device=b.device).scatter_add_(1, cols, sol)
    return out


def _support_solve_lapack(gram: torch.Tensor, b: torch.Tensor, sign: torch.Tensor, alpha: float) -> torch.Tensor:
    """:func:`_support_solve` on the CPU, row by row: torch's batched Cholesky spends more time zeroing the
    factors' upper triangles and gathering padded blocks than factoring (it was 2x slower here)."""
    from scipy.linalg import get_lapack_funcs

    g = gram.detach().numpy()
    rhs_all = b.detach().numpy()
    signs = sign.detach().numpy()
    n = g.shape[0]
    potrf, potrs = get_lapack_funcs(("potrf", "potrs"), (g,))
    out = np.zeros_like(rhs_all)
    for i in range(rhs_all.shape[0]):
        cols = np.flatnonzero(signs[i])
        if not cols.size:
            continue
        # G_SS is symmetric, so its C-ordered gather read as Fortran order (.T) is the same matrix with no copy
        sub = g.take(cols[:, None] * n + cols)
        factor, info = potrf(sub.T, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            out[i] = math.nan
            continue
        sol, info = potrs(factor, rhs_all[i, cols] - alpha * signs[i, cols], lower=1)
        out[i, cols] = sol if info == 0 else math.nan
    return torch.from_numpy(out)


def _fast_bfloat16(device: torch.device) -> bool:
    """Does ``device`` multiply bfloat16 matrices much faster than float32 ones? On the CPU, where it has AMX
    tiles or AVX-512 bfloat16 instructions (a 300 x 784 x 784 bfloat16 GEMM ran 4-6x the float32 rate on both);
    on other devices it is not used."""
    if device.type != "cpu":
        return False
    cpu = getattr(torch, "cpu", None)
    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(cpu, name, None)
        if callable(check) and check():
            return True
    return False


def _gram_polish(design: torch.Tensor, y: torch.Tensor, alpha: float, *, max_iter: int, rho: float | None = None,
                 first: int = 20, every: int = 10, stable: int = 5, rounds: int = 3, relax: float = 1.8,
                 resync: int | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Lasso ``1/2||y - D c||^2 + alpha||c||_1`` (``alpha > 0``): float32 ADMM finds each row's support, exact
    float64 solves on it finish.

    Over-relaxed ADMM in its scaled form for the Lasso (Boyd et al. 2011, sections 3.4.3 and 6.4), all rows at
    once, with the inverse of ``D^T D + rho I`` shared by the rows: ``x = (D^T y + rho (z - u)) (D^T D + rho I)^{-1}``,
    ``x' = relax x + (1 - relax) z``, ``z = soft_threshold(x' + u, alpha / rho)``, ``u += x' - z``. When ``n >
    FACTORED_RATIO m`` the inverse is applied through the ``m x m`` matrix of the Woodbury identity,
    ``rho (D^T D + rho I)^{-1} = I - D^T (rho I + D D^T)^{-1} D`` (``4mn`` instead of ``2n^2`` flops per row).
    Where bfloat16 products are fast (:func:`_fast_bfloat16`; ``resync=None``), ``w M`` (either form) is updated
    by bfloat16 products of the increments of ``w``, with an exact float32 product every ``resync``
    (``BFLOAT16_RESYNC``) iterations; ``resync=0`` always multiplies in float32. ADMM only finds the supports, so
    neither changes the results, only how soon the signs settle. The loop carries one vector per row,
    ``v = x' + u`` (``z`` and ``u`` follow from it), so that an iteration is one product and four passes.
    It converges for any ``rho > 0`` and ``0 < relax < 2``; the defaults ``relax = 1.8`` and ``rho = 0.8 (m / n)
    tr(D^T D) / n`` (growing with the share of measurements, like the spread of the restricted spectrum it has to
    balance) were chosen on held-out images 300..499.

    From iteration ``first`` on, every ``every`` iterations, each row whose signs of ``z`` have not changed
    for ``stable`` iterations, and which was not yet tried on these signs, is solved exactly on that support in
    float64 (:func:`_support_solve`). A result that satisfies the optimality conditions
    (:func:`_kkt_from_correlation`) is accepted and its row leaves the batch; one that does not gets up to
    ``rounds - 1`` primal-dual active-set corrections (Fan, Jiao & Lu 2014: the next support is where
    ``|c_j + q_j / G_jj| > alpha / G_jj``, ``q = D^T r``). Settled signs on more than ``m`` coordinates are not
    solved (``G_SS`` is singular for any design). ADMM gives up on a row whose settled support had a singular
    ``G_SS`` ``GIVE_UP_SINGULAR`` times, or stayed on more than ``m`` coordinates for ``GIVE_UP_OVERSIZE`` checks
    (a design with repeated columns, where the minimiser need not be unique, or a minimiser on nearly ``m``
    coordinates). When ``n >= TAIL_MIN_RATIO m`` (a short path), the rows given up on, and those left once
    ``TAIL_FACTOR`` times the iterations that accepted half the rows have run, are handed to the exact homotopy
    (:func:`_homotopy`). Rows not accepted by either, or within ``max_iter`` iterations, come back unfinished at
    their float32 ``z``.

    ``design``: ``(m, n)`` float64; ``y``: ``(B, m)``. Returns the coefficients ``(B, n)`` (in ``y``'s
    dtype), the ``(B,)`` mask of accepted rows and the iterations run.
    """
    m, n = design.shape
    batch = y.shape[0]
    dev = y.device
    gram = _gram(design)
    diag = gram.diagonal().clamp(min=1e-300)
    b = y @ design
    out = torch.zeros_like(b)
    ok = torch.zeros(batch, dtype=torch.bool, device=dev)
    scale = float(gram.trace()) / n
    if batch == 0 or scale == 0.0:
        return out, ok, 0
    rho = 0.8 * min(m / n, 1.0) * scale if rho is None else float(rho)
    # x = (b + rho w) M with w = z - u and M = (G + rho I)^{-1}; rho M = I - D^T (rho I + D D^T)^{-1} D
    # (Woodbury) is the cheaper product when 2m < n: 4mn instead of 2n^2 flops per row
    factored = FACTORED_RATIO * m < n
    # ADMM only has to find the support, so its matrices are float32 (the (G + rho I) factor too: its condition
    # number is at most 1 + ||G|| / rho); the solves on the support are float64
    if factored:
        small = design @ design.T + rho * torch.eye(m, dtype=gram.dtype, device=dev)
        right = torch.cholesky_solve(design, torch.linalg.cholesky(small))  # (rho I + D D^T)^{-1} D, (m, n)
        shift = ((b - (b @ design.T) @ right) * (relax / rho)).to(torch.float32)
        left, right = design.T.to(torch.float32).contiguous(), right.to(torch.float32)
    else:
        shifted = gram.to(torch.float32) + rho * torch.eye(n, dtype=torch.float32, device=dev)
        inverse = torch.cholesky_inverse(torch.linalg.cholesky(shifted))
        shift = (b.to(torch.float32) @ inverse).mul_(relax)
    threshold = alpha / rho
    # ADMM carries one vector per row, v = x' + u (z = soft_threshold(v), u = v - z), and its update is
    # v <- q + z_coef z + v_coef v with q = shift - gain (v - 2z) M, M's product w -> w @ maps[0] @ maps[1] ...
    # (non-factored: relax x = shift + rho relax w M and (1 - relax) z + u = v - relax z; factored: relax x =
    # shift + relax (w - (w D^T) right) and relax w + (1 - relax) z + u = relax z + (1 - relax) v; w = z - u = 2z - v)
    if factored:
        maps, gain, z_coef, v_coef = (left, right), -relax, relax, 1.0 - relax
    else:
        maps, gain, z_coef, v_coef = (inverse,), rho * relax, -relax, 1.0
    if resync is None:
        resync = BFLOAT16_RESYNC if _fast_bfloat16(dev) else 0
    resync = int(resync)
    maps16 = tuple(mat.to(torch.bfloat16) for mat in maps) if resync else ()
    short_path = n >= TAIL_MIN_RATIO * m  # the homotopy's path has few kinks: it finishes the rows ADMM is slow on
    rows = torch.arange(batch, device=dev)
    v = torch.zeros(batch, n, dtype=torch.float32, device=dev)
    z = torch.zeros_like(v)
    q = reflected_prev = v  # q and the reflected iterate v - 2z it was last updated with
    before = torch.zeros(batch, n, dtype=torch.int8, device=dev)
    tried = torch.full((batch, n), 2, dtype=torch.int8, device=dev)  # the signs of the row's last solve (2: none)
    was_singular = torch.zeros(batch, dtype=torch.bool, device=dev)  # and whether its G_SS was singular
    oversize = torch.zeros(batch, dtype=torch.long, device=dev)  # checks with settled signs on more than m
    singular = torch.zeros(batch, dtype=torch.long, device=dev)  # settled supports that were singular
    iterations, half_at = 0, None  # half_at: the check by which half the rows were accepted
    for k in range(1, max_iter + 1):
        iterations = k
        reflected = torch.sub(v, z, alpha=2.0)  # -w
        if not resync or (k - 1) % resync == 0:
            first_maps = functools.reduce(torch.matmul, maps[:-1], reflected)
            q = torch.addmm(shift, first_maps, maps[-1], alpha=-gain)
        else:
            # q from the last exact product plus bfloat16 products of the increments of w: their rounding
            # errors scale with the increments, which shrink as ADMM converges, and the exact product every
            # ``resync`` iterations clears what they add up to
            step = torch.sub(reflected, reflected_prev).to(torch.bfloat16)
            q.add_(functools.reduce(torch.matmul, maps16, step), alpha=-gain)
        reflected_prev = reflected
        v = torch.add(q, z, alpha=z_coef).add_(v, alpha=v_coef)
        z = torch.nn.functional.softshrink(v, threshold)
        if k >= first - stable and (k - first + stable) % every == 0:
            before = torch.sign(z).to(torch.int8)  # the signs ``stable`` iterations before the next check
        if k < first or (k - first) % every:
            continue
        sign = torch.sign(z).to(torch.int8)
        settled = (sign == before).all(1)
        # more than m nonzeros make G_SS singular whatever the design: not solved, and not counted as singular
        # unless it lasts (at small m, ADMM can dwell on such signs for a long time and still get there)
        over = settled & ((sign != 0).sum(1) > m)
        oversize += over.long()
        hopeless = torch.nonzero(oversize >= GIVE_UP_OVERSIZE).squeeze(1)
        # a row already tried on its present signs would fail the same way again: it waits for new signs (unless
        # G_SS was singular: that is tried and counted again, below)
        untried = (sign != tried).any(1) | was_singular
        cand = torch.nonzero(settled & untried & ~over).squeeze(1)
        trial, leaving = sign[cand], [hopeless]
        out[rows[hopeless]] = z[hopeless].to(out.dtype)
        for round_ in range(rounds):
            if not cand.numel():
                break
            coef = _support_solve(gram, b[rows[cand]], trial, alpha)
            finite = torch.isfinite(coef).all(1)
            if round_ == 0:
                # a settled support whose G_SS is singular again and again has dependent columns (a degenerate design:
                # repeated or zero columns, where ADMM's iterate spreads over the copies); float64 FISTA finishes it
                singular[cand] += (~finite).long()
                tried[cand], was_singular[cand] = sign[cand], ~finite
                given_up = cand[singular[cand] >= GIVE_UP_SINGULAR]
                out[rows[given_up]] = z[given_up].to(out.dtype)
                leaving.append(given_up)
            coef = torch.where(finite.unsqueeze(1), coef, torch.zeros_like(coef))
            # D^T (y - D c): through D when that is fewer flops (2mn instead of n^2 per row)
            corr = (y[rows[cand]] - coef @ design.T) @ design if 2 * m < n else b[rows[cand]] - coef @ gram
            good = finite & _kkt_from_correlation(corr, coef, alpha)
            out[rows[cand[good]]] = coef[good]
            ok[rows[cand[good]]] = True
            leaving.append(cand[good])
            retry = finite & ~good
            w = coef[retry] + corr[retry] / diag
            trial = torch.where(w.abs() > alpha / diag, torch.sign(w), torch.zeros_like(w)).to(torch.int8)
            cand = cand[retry]
        gone = torch.cat(leaving) if leaving else cand[:0]
        if gone.numel():
            keep = torch.ones(rows.numel(), dtype=torch.bool, device=dev)
            keep[gone] = False
            rows, v, z, q, reflected_prev, before, tried, was_singular, singular, oversize, shift = (
                t_[keep] for t_ in (rows, v, z, q, reflected_prev, before, tried, was_singular, singular, oversize,
                                    shift))
            if rows.numel() == 0:
                break
        if half_at is None and int(ok.sum()) * 2 >= batch:
            half_at = k
        if half_at is not None and k >= TAIL_FACTOR * half_at and short_path:
            break  # a few slow rows would keep the loop going for hundreds of iterations: the exact path finishes them
    if rows.numel():
        out[rows] = z.to(out.dtype)
    rest = torch.nonzero(~ok).squeeze(1)
    if short_path and rest.numel() and not _parallel_columns(design):  # the slow rows and those given up on
        coef, done, _ = _homotopy(design, y[rest], alpha, max_kinks=max_iter)
        done &= _kkt_holds(design, y[rest], coef, alpha)
        out[rest] = torch.where(done.unsqueeze(1), coef, out[rest])
        ok[rest] = done
    return out, ok, iterations


def _kkt_holds(design: torch.Tensor, y: torch.Tensor, coef: torch.Tensor, alpha: float,
               rtol: float = 1e-6) -> torch.Tensor:
    """Per row: do ``coef`` satisfy the Lasso optimality conditions (to ``rtol`` relative to ``alpha``)?

    ``|D_j^T r| <= alpha`` everywhere and ``D_j^T r = alpha sign(c_j)`` on the support, ``r = y - D c``.
    A violation of ``rtol * alpha`` can lower the objective by only ``O((rtol * alpha)^2)``.
    """
    return _kkt_from_correlation((y - coef @ design.T) @ design, coef, alpha, rtol=rtol)


def _kkt_from_correlation(corr: torch.Tensor, coef: torch.Tensor, alpha: float, *, rtol: float = 1e-6
                          ) -> torch.Tensor:
    """:func:`_kkt_holds` given the correlations ``corr = D^T (y - D c)`` ``(B, n)``."""
    slack = alpha * rtol + 1e-12 * corr.abs().amax(1, keepdim=True)
    within = (corr.abs() <= alpha + slack).all(1)
    on_support = torch.where(coef != 0, (corr - alpha * torch.sign(coef)).abs() <= slack, True).all(1)
    return within & on_support


def _linear_matrix(operator: Operator) -> torch.Tensor:
    if not isinstance(operator, Operator) or not getattr(operator, "linear", False) or not hasattr(operator, "matrix"):
        name = getattr(operator, "name", type(operator).__name__)
        raise InvalidValueError(f"lasso needs a linear operator with a matrix; {name} is not linear")
    return operator.matrix()


def _probe(size: int, like: torch.Tensor) -> torch.Tensor:
    """The fixed random vector ``(size,)`` (in ``like``'s dtype and device) that the design-structure checks use:
    the same on every call, so a design is always classified the same way."""
    return torch.randn(size, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(like)


def _orthogonal_columns(design: torch.Tensor) -> bool:
    """Are the columns of ``design`` ``(m, n)`` nonzero and mutually orthogonal (``D^T D`` diagonal: denoising in an
    orthonormal basis, inpainting in pixels once the missing ones are left out)? Checked on one fixed random
    ``r``: ``D^T (D r) = diag(D^T D) r`` to 1e-9 of its scale (``O(mn)``, no Gram matrix)."""
    norms2 = (design * design).sum(0)
    if not bool((norms2 > 0).all()):
        return False
    probe = _probe(design.shape[1], design)
    scaled = norms2 * probe
    return bool(((design @ probe) @ design - scaled).abs().max() <= 1e-9 * scaled.abs().max())


def _parallel_columns(design: torch.Tensor) -> bool:
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


def _lasso_rows(design: torch.Tensor, yd: torch.Tensor, alpha: float, *, solver: str, boxed: bool, max_iter: int,
                tol: float) -> tuple[torch.Tensor, int]:
    """:func:`lasso`'s solve of every row on design ``(m, n)``: the solver ``solver`` names (``"auto"`` picks one),
    the rows an exact solver does not finish completed by float64 FISTA. Returns ``(coef (B, n), iterations)``."""
    m, n = design.shape
    if solver == "auto" and _orthogonal_columns(design):
        # D^T D diagonal: the problem separates per coordinate, and its minimiser is the soft threshold of D^T y
        # scaled by the column norms (clipped to [0, 1] with the box, exact for a one-dimensional convex problem)
        coef = torch.nn.functional.softshrink(yd @ design, alpha) / (design * design).sum(0)
        if boxed:
            return coef.clamp_(0.0, 1.0), 0
        if bool(_kkt_holds(design, yd, coef, alpha).all()):
            return coef, 0
    if solver == "auto":
        # with parallel columns the minimiser is not unique; FISTA from zero returns the one that spreads each
        # block's value over its copies (an exact path or support solve would put it on one copy: a blocky image)
        if boxed or not alpha > 0 or _parallel_columns(design):
            solver = "fista"
        elif HOMOTOPY_MAX_RATIO * m <= n:
            solver = "homotopy"
        else:
            solver = "polish"
    if solver == "fista":
        # _fista solves scikit-learn's scaling, 1/(2m)||.||^2 + (alpha/m)||c||_1: the same minimiser
        return _fista(design, yd, alpha / m, max_iter=max_iter, tol=tol, box=boxed)
    if solver == "homotopy":
        coef, ok, iterations = _homotopy(design, yd, alpha, max_kinks=max_iter)
        ok &= _kkt_holds(design, yd, coef, alpha)
    else:  # rows it accepts already passed the optimality check in float64
        coef, ok, iterations = _gram_polish(design, yd, alpha, max_iter=min(max_iter, POLISH_MAX_ITER))
    if not bool(ok.all()):  # finish the rows the path could not, by FISTA from where they stopped
        redo = torch.nonzero(~ok).squeeze(1)
        coef[redo], extra = _fista(design, yd[redo], alpha / m, max_iter=max_iter, tol=tol, box=False, init=coef[redo])
        iterations += extra
    return coef, iterations


def lasso(operator: Operator, y: torch.Tensor, *, basis: str = "pixel", alpha: float = 0.1,
          max_iter: int = 5000, tol: float = 1e-7, box: bool = True,
          dtype: torch.dtype = torch.float64, solver: str = "auto") -> SparseRecovery:
    """Lasso recovery of images from linear measurements ``y`` ``(B, m)``, all rows at once.

    Solves ``min_c 1/2 ||y - A Psi c||^2 + alpha||c||_1`` per row (``m`` times scikit-learn's ``Lasso``
    objective with ``alpha / m``, ``fit_intercept=False`` and design ``A Psi``), ``A = operator.matrix()``,
    ``Psi = basis_matrix(basis)``,
    by FISTA with adaptive restart in ``dtype`` (float64 by default) on ``y``'s device.

    ``solver``: ``"fista"``, ``"homotopy"`` (the exact LARS-Lasso path; unboxed problems with
    ``alpha > 0`` only, ``max_iter`` caps its kinks), ``"polish"`` (float32 ADMM with the Gram matrix
    until each row's signs settle, then exact float64 solves on that support and up to two active-set
    corrections, accepted where the optimality conditions hold in float64; unboxed, ``alpha > 0``) or
    ``"auto"``: without the box and with ``alpha > 0``, the homotopy when ``n >= 12.5 m`` (its cost grows
    with the number of kinks, about ``1.3 m``) and polish otherwise; FISTA with the box or when ``A Psi`` has
    parallel columns (its minimiser is then not unique, and FISTA's spreads over the copies); with orthogonal
    columns (denoising, inpainting in pixels) the closed-form soft threshold. Rows the exact
    solvers do not finish are finished by float64 FISTA. With ``alpha > 0``, columns of ``A Psi`` that are all
    zero (basis vectors the operator does not see) get coefficient 0 and are left out of the solve (and of
    ``n`` in the choice above).

    ``box``: in the pixel basis, solve with the constraint ``0 <= c <= 1`` inside FISTA (its prox,
    ``clip(soft_threshold(.), 0, 1)``, is exact there because the basis is separable); in the other
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
    _check_number("alpha", alpha, low=0.0)
    _check_number("max_iter", max_iter, low=1, integer=True)
    _check_number("tol", tol, low=0.0)
    out_dtype = y.dtype if y.is_floating_point() else torch.float32
    device = y.device
    a = a.to(device=device, dtype=dtype)
    yd = y.to(dtype)
    psi = None if basis == "pixel" else _basis_cached(basis, operator.input_shape).to(device=device, dtype=dtype)
    design = a if psi is None else a @ psi
    boxed = bool(box) and psi is None
    if boxed and solver in ("homotopy", "polish"):
        raise InvalidValueError(f"solver={solver!r} solves the Lasso without the box; pass box=False")
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


def select_alpha(operator: Operator, images: torch.Tensor, *, basis: str = "pixel", alphas,
                 seed: int = 0, **lasso_kwargs) -> tuple[float, dict[float, float]]:
    """Pick the Lasso weight ``alpha`` from the grid ``alphas`` by error per pixel on ``images``.

    ``images`` ``(B, C, H, W)`` in [0, 1] must be held-out images, not the ones the chosen alpha will be
    evaluated on (choosing on the test images flatters the baseline). They are measured with
    ``operator.measure(images, seed=seed)`` and recovered by :func:`lasso` (extra keyword arguments go
    to it) for each alpha. Returns ``(best_alpha, {alpha: mean((x_hat - x)^2)})``; ties go to the first.
    """
    alphas = [float(_check_number("alpha", a, low=0.0)) for a in alphas]
    if not alphas:
        raise InvalidValueError("alphas must hold at least one value")
    y = operator.measure(images, seed=seed)
    truth = images.to(y.device, torch.float32)
    errors = {}
    for a in alphas:
        x_hat = lasso(operator, y, basis=basis, alpha=a, **lasso_kwargs).x
        errors[a] = float((x_hat.float() - truth).pow(2).mean())
    best = min(alphas, key=lambda a: errors[a])
    return best, errors


__all__ = ["BASES", "SparseRecovery", "basis_matrix", "haar_level", "lasso", "select_alpha"]
