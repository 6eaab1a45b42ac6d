"""The Lasso by float32 ADMM that finds each row's support and exact float64 solves on it; see :func:`polish`."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from genprior.devices import bfloat16_units
from genprior.errors import InvalidValueError
from genprior.solvers.lasso.checks import (
    active_set_signs,
    box_active_set_states,
    box_kkt_from_correlation,
    gram_matrix,
    kkt_from_correlation,
    kkt_holds,
    parallel_columns,
)
from genprior.solvers.lasso.constants import (
    ADMM_RHO_SCALE,
    BFLOAT16_RESYNC,
    FACTORED_RATIO,
    GIVE_UP_OVERSIZE,
    GIVE_UP_SINGULAR,
    TAIL_FACTOR,
    TAIL_MIN_RATIO,
)
from genprior.solvers.lasso.homotopy import homotopy


def support_solve(gram: torch.Tensor, b: torch.Tensor, sign: torch.Tensor, alpha: float, *,
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
    """:func:`support_solve` by batched torch Cholesky factorisations, ``chunk`` rows at a time (any device)."""
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
    """:func:`support_solve` on the CPU, row by row: torch's batched Cholesky spends more time zeroing the
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


def fast_bfloat16(device: torch.device) -> bool:
    """Does ``device`` multiply bfloat16 matrices much faster than float32 ones? On the CPU, where it has AMX
    tiles or AVX-512 bfloat16 instructions (:func:`bfloat16_units`; a 300 x 784 x 784 bfloat16 GEMM ran 4-6x the
    float32 rate on both); on other devices it is not used."""
    return device.type == "cpu" and bool(bfloat16_units())


def polish(design: torch.Tensor, y: torch.Tensor, alpha: float, *, max_iter: int, rho: float | None = None,
           first: int = 20, every: int = 10, stable: int = 5, rounds: int = 3, relax: float = 1.8,
           resync: int | None = None, box: bool = False) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The Lasso ``1/2||y - D c||^2 + alpha||c||_1`` (``alpha > 0``) per row of ``y``: float32 ADMM finds each row's
    support, exact float64 solves on it finish.

    ADMM: over-relaxed, in scaled form (Boyd et al. 2011, sections 3.4.3 and 6.4), all rows at once with the inverse
    of ``D^T D + rho I`` shared by the rows: ``x = (D^T y + rho (z - u)) (D^T D + rho I)^{-1}``,
    ``x' = relax x + (1 - relax) z``, ``z = soft_threshold(x' + u, alpha / rho)``, ``u += x' - z``. When
    ``n > FACTORED_RATIO m`` the inverse is applied through the ``m x m`` Woodbury factor
    ``rho (D^T D + rho I)^{-1} = I - D^T (rho I + D D^T)^{-1} D``. Where bfloat16 products are fast
    (:func:`fast_bfloat16`; ``resync=None``) the product is updated by bfloat16 products of the increments, exact in
    float32 every ``resync`` (``BFLOAT16_RESYNC``) iterations; ``resync=0``: always float32. ADMM only finds the
    supports, so neither changes a result. It converges for any ``rho > 0`` and ``0 < relax < 2``; ``rho=None``:
    ``ADMM_RHO_SCALE min(m / n, 1) tr(D^T D) / n``.

    Exact solves: from iteration ``first`` on, every ``every`` iterations, each row whose signs of ``z`` have not
    changed for ``stable`` iterations (``0 < stable < every``), and that was not yet tried on these signs, is solved
    on that support in float64 (:func:`support_solve`). A result that satisfies the optimality conditions
    (:func:`kkt_from_correlation`) is accepted and its row leaves the batch; one that does not gets up to
    ``rounds - 1`` primal-dual active-set corrections (Fan, Jiao & Lu 2014, :func:`active_set_signs`). Supports of
    more than ``m`` coordinates are not solved (``G_SS`` is singular for any design). A row is given up on after
    ``GIVE_UP_SINGULAR`` singular settled supports or ``GIVE_UP_OVERSIZE`` checks settled on more than ``m``
    coordinates. When ``n >= TAIL_MIN_RATIO m``, the rows given up on and those left after ``TAIL_FACTOR`` times the
    iterations that accepted half the rows go to the exact :func:`homotopy`. Rows accepted by neither within
    ``max_iter`` iterations come back unfinished at their float32 ``z``.

    ``box=True``: the problem over ``0 <= c <= 1`` instead (the pixel basis's box; ``alpha >= 0``), a
    bound-constrained quadratic programme (the l1 term is ``alpha sum_j c_j``): ADMM's prox is the clip to [0, 1],
    each coordinate's state (held at 0, free, held at 1) plays the role of its sign, the exact solve is on the free
    coordinates, checked by :func:`box_kkt_from_correlation` and corrected by :func:`box_active_set_states`; no
    homotopy.

    ``design``: ``(m, n)`` float64; ``y``: ``(B, m)``. Returns the coefficients ``(B, n)`` (in ``y``'s dtype), the
    ``(B,)`` mask of accepted rows and the iterations run. The defaults ``relax = 1.8`` and the rho rule were chosen
    on MNIST test images 300..499; the constants are in :mod:`genprior.solvers.lasso.constants` (``docs/tuning.md``,
    section "Lasso").
    """
    if not 0 < stable < every:  # the signs compared at a check are taken ``stable`` iterations before it
        raise InvalidValueError(f"polish needs 0 < stable < every, got stable={stable}, every={every}")
    m, n = design.shape
    batch = y.shape[0]
    dev = y.device
    gram = gram_matrix(design)
    diag = gram.diagonal().clamp(min=1e-300)
    b = y @ design
    # the box's l1 term is alpha sum(c): its linear part joins D^T y
    lin = b - alpha if box else b
    out = torch.zeros_like(b)
    ok = torch.zeros(batch, dtype=torch.bool, device=dev)
    scale = float(gram.trace()) / n
    if batch == 0 or scale == 0.0:
        return out, ok, 0
    rho = ADMM_RHO_SCALE * min(m / n, 1.0) * scale if rho is None else float(rho)
    # x = (b + rho w) M with w = z - u and M = (G + rho I)^{-1}; rho M = I - D^T (rho I + D D^T)^{-1} D
    # (Woodbury) is the cheaper product when 2m < n: 4mn instead of 2n^2 flops per row
    factored = FACTORED_RATIO * m < n
    # ADMM only has to find the support, so its matrices are float32 (the (G + rho I) factor too: its condition
    # number is at most 1 + ||G|| / rho); the solves on the support are float64
    if factored:
        small = design @ design.T + rho * torch.eye(m, dtype=gram.dtype, device=dev)
        right = torch.cholesky_solve(design, torch.linalg.cholesky(small))  # (rho I + D D^T)^{-1} D, (m, n)
        shift = ((lin - (lin @ design.T) @ right) * (relax / rho)).to(torch.float32)
        left, right = design.T.to(torch.float32).contiguous(), right.to(torch.float32)
    else:
        shifted = gram.to(torch.float32) + rho * torch.eye(n, dtype=torch.float32, device=dev)
        inverse = torch.cholesky_inverse(torch.linalg.cholesky(shifted))
        shift = (lin.to(torch.float32) @ inverse).mul_(relax)
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
        resync = BFLOAT16_RESYNC if fast_bfloat16(dev) else 0
    resync = int(resync)
    maps16 = tuple(mat.to(torch.bfloat16) for mat in maps) if resync else ()
    short_path = n >= TAIL_MIN_RATIO * m and not box  # the homotopy's path has few kinks: it finishes the rows ADMM
    # is slow on (it solves the problem without the box)

    def prox(v: torch.Tensor) -> torch.Tensor:
        return v.clamp(0.0, 1.0) if box else torch.nn.functional.softshrink(v, threshold)

    def state_of(c: torch.Tensor) -> torch.Tensor:
        """int8 per coordinate: its sign, or in the box 0 (held at 0), 1 (free), 2 (held at 1)."""
        return (c > 0).to(torch.int8) + (c >= 1).to(torch.int8) if box else torch.sign(c).to(torch.int8)

    def free_of(state: torch.Tensor) -> torch.Tensor:
        return state == 1 if box else state != 0

    def solve(sel: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Exact float64 solve of rows ``sel`` on ``state``; in the box, with the coordinates held at 1 on the right."""
        if not box:
            return support_solve(gram, b[sel], state, alpha)
        upper = state == 2
        rhs = lin[sel] - upper.to(gram.dtype) @ gram if bool(upper.any()) else lin[sel]
        return torch.where(upper, 1.0, support_solve(gram, rhs, free_of(state).to(torch.int8), 0.0))

    rows = torch.arange(batch, device=dev)
    v = torch.zeros(batch, n, dtype=torch.float32, device=dev)
    z = torch.zeros_like(v)
    q = reflected_prev = v  # q and the reflected iterate v - 2z it was last updated with
    before = torch.zeros(batch, n, dtype=torch.int8, device=dev)
    # the signs (in the box, the states) of the row's last solve; 3: none yet
    tried = torch.full((batch, n), 3, dtype=torch.int8, device=dev)
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
        z = prox(v)
        if k >= first - stable and (k - first + stable) % every == 0:
            before = state_of(z)  # the signs ``stable`` iterations before the next check
        if k < first or (k - first) % every:
            continue
        sign = state_of(z)
        settled = (sign == before).all(1)
        # more than m nonzeros make G_SS singular whatever the design: not solved, and not counted as singular
        # unless it lasts (at small m, ADMM can dwell on such signs for a long time and still get there)
        over = settled & (free_of(sign).sum(1) > m)
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
            coef = solve(rows[cand], trial)
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
            good = finite & (box_kkt_from_correlation if box else kkt_from_correlation)(corr, coef, alpha)
            out[rows[cand[good]]] = coef[good]
            ok[rows[cand[good]]] = True
            leaving.append(cand[good])
            retry = finite & ~good
            trial = (box_active_set_states(coef[retry], corr[retry], diag, alpha) if box
                     else active_set_signs(coef[retry], corr[retry], diag, alpha).to(torch.int8))
            # a correction onto more than m free coordinates has a singular G_SS whatever the design: not solved
            solvable = free_of(trial).sum(1) <= m
            cand, trial = cand[retry][solvable], trial[solvable]
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
    if short_path and rest.numel() and not parallel_columns(design):  # the slow rows and those given up on
        coef, done, _ = homotopy(design, y[rest], alpha, max_kinks=max_iter)
        done &= kkt_holds(design, y[rest], coef, alpha)
        out[rest] = torch.where(done.unsqueeze(1), coef, out[rest])
        ok[rest] = done
    return out, ok, iterations
