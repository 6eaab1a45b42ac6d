"""Tests of the Lasso baselines: bases, agreement with scikit-learn, batching, recovery, errors."""

import math

import numpy as np
import pytest
import pywt
import scipy.fft
import scipy.optimize
import torch
from sklearn.linear_model import Lasso

from genprior.errors import (
    GenpriorError,
    InvalidValueError,
    ShapeError,
    UnknownNameError,
)
from genprior.operators import Gaussian, Inpaint, Magnitude
from genprior.solvers.lasso import BASES, basis_matrix, haar_level, lasso, select_alpha
from genprior.solvers.lasso import checks as lasso_checks
from genprior.solvers.lasso import homotopy as lasso_homotopy
from genprior.solvers.lasso import polish as lasso_polish
from genprior.solvers.lasso import solve as lasso_solve
from genprior.solvers.lasso.constants import POLISH_MAX_ITER


def _problem(shape=(1, 8, 8), m=40, batch=4, noise_std=0.1, seed=0):
    op = Gaussian(m=m, shape=shape, noise_std=noise_std, seed=seed)
    x = torch.rand(batch, *shape, generator=torch.Generator().manual_seed(seed + 1))
    return op, x, op.measure(x, seed=seed + 2)


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8)])
@pytest.mark.parametrize("name", BASES)
def test_bases_are_orthonormal(name, shape):
    psi = basis_matrix(name, shape)
    n = int(np.prod(shape))
    assert psi.shape == (n, n)
    eye = torch.eye(n, dtype=psi.dtype)
    assert torch.allclose(psi.T @ psi, eye, atol=1e-5)
    assert torch.allclose(psi @ psi.T, eye, atol=1e-5)


def test_basis_conventions_match_scipy_and_pywavelets():
    x = np.random.default_rng(0).random((28, 28))
    dct = basis_matrix("dct", (1, 28, 28)).numpy()
    np.testing.assert_allclose(dct.T @ x.ravel(), scipy.fft.dctn(x, norm="ortho").ravel(), atol=1e-12)
    assert haar_level(28, 28) == 2 and haar_level(8, 8) == 3 and haar_level(7, 8) == 0
    haar = basis_matrix("wavelet", (1, 28, 28)).numpy()
    coeffs = pywt.wavedec2(x, "haar", mode="periodization", level=2)
    np.testing.assert_allclose(haar.T @ x.ravel(), pywt.coeffs_to_array(coeffs)[0].ravel(), atol=1e-12)
    # several channels: the same basis on each channel, block-diagonal
    two = basis_matrix("dct", (2, 8, 8))
    one = basis_matrix("dct", (1, 8, 8))
    assert torch.equal(two, torch.block_diag(one, one))


def test_basis_matrix_returns_a_copy():
    psi = basis_matrix("dct", (1, 8, 8))
    psi.zero_()
    assert basis_matrix("dct", (1, 8, 8)).abs().sum() > 0


@pytest.mark.parametrize("basis", BASES)
def test_objective_matches_scikit_learn(basis):
    op, _, y = _problem()
    alpha = 0.4
    ours = lasso(op, y, basis=basis, alpha=alpha, box=False)
    design = (op.matrix().double() @ basis_matrix(basis, op.input_shape)).numpy()
    m = op.output_size
    for i in range(y.shape[0]):
        target = y[i].double().numpy()
        # ours is 1/2||r||^2 + alpha|c|_1 = m * (scikit-learn's objective with alpha / m)
        sk = Lasso(alpha=alpha / m, fit_intercept=False, tol=1e-10, max_iter=100000).fit(design, target)
        sk_obj = ((target - design @ sk.coef_) ** 2).sum() / 2 + alpha * np.abs(sk.coef_).sum()
        our_obj = float(ours.objective[i])
        assert abs(our_obj - sk_obj) <= 1e-4 * sk_obj
        assert our_obj <= sk_obj * (1 + 1e-4)
        # the reported objective is the objective of the reported coefficients
        c = ours.coef[i].double().numpy()
        recomputed = ((target - design @ c) ** 2).sum() / 2 + alpha * np.abs(c).sum()
        assert abs(recomputed - our_obj) <= 1e-5 * our_obj


@pytest.mark.parametrize("basis", ["pixel", "wavelet"])
def test_batched_equals_one_row_at_a_time(basis):
    op, _, y = _problem()
    together = lasso(op, y, basis=basis, alpha=0.01)
    for i in range(y.shape[0]):
        alone = lasso(op, y[i:i + 1], basis=basis, alpha=0.01)
        assert torch.allclose(alone.coef[0], together.coef[i], atol=1e-6)
        assert torch.allclose(alone.x[0], together.x[i], atol=1e-6)


def test_output_shapes_ranges_and_box():
    op, _, y = _problem()
    free = lasso(op, y, basis="pixel", alpha=0.01, box=False)
    boxed = lasso(op, y, basis="pixel", alpha=0.01, box=True)
    assert boxed.x.shape == (4, 1, 8, 8) and boxed.coef.shape == (4, 64) and boxed.objective.shape == (4,)
    assert boxed.x.dtype == torch.float32 and isinstance(boxed.iterations, int) and boxed.iterations >= 1
    for r in (free, boxed):
        assert r.x.min() >= 0 and r.x.max() <= 1
    # the box is a constraint inside the solve: coefficients in [0, 1], objective no lower than unconstrained
    assert boxed.coef.min() >= 0 and boxed.coef.max() <= 1
    assert free.coef.min() < 0 or free.coef.max() > 1  # the constraint is active on this problem
    assert torch.all(boxed.objective >= free.objective - 1e-9)


def test_dct_sparse_signal_is_recovered_better_in_the_dct_basis():
    shape = (1, 16, 16)
    n = 256
    g = torch.Generator().manual_seed(5)
    psi = basis_matrix("dct", shape)
    coef = torch.zeros(3, n, dtype=torch.float64)
    coef[:, 0] = 0.5 * 16  # constant 0.5 image
    for row in coef:
        support = 1 + torch.randperm(n - 1, generator=g)[:8]
        row[support] = 0.4 * torch.sign(torch.randn(8, generator=g, dtype=torch.float64))
    x = (coef @ psi.T).float().view(3, *shape)
    assert x.min() >= 0 and x.max() <= 1
    op = Gaussian(m=80, shape=shape, seed=1)
    y = op.measure(x)
    err = {b: float((lasso(op, y, basis=b, alpha=1e-4).x - x).pow(2).mean()) for b in ("dct", "pixel")}
    assert err["dct"] < 1e-3
    assert err["dct"] < 0.1 * err["pixel"]


def test_errors():
    op, _, y = _problem()
    with pytest.raises(GenpriorError, match="lasso needs a linear operator with a matrix; Magnitude is not linear"):
        lasso(Magnitude(m=10, shape=(1, 8, 8)), torch.zeros(2, 10))
    bad = y.clone()
    bad[1, 3] = float("nan")
    with pytest.raises(InvalidValueError, match="measurements contain NaN"):
        lasso(op, bad)
    with pytest.raises(ShapeError, match=r"expects measurements of shape \(B, 40\), got \(4, 39\)"):
        lasso(op, y[:, :-1])
    with pytest.raises(UnknownNameError, match="unknown basis 'curvelet'"):
        lasso(op, y, basis="curvelet")
    with pytest.raises(UnknownNameError, match="unknown basis 'curvelet'"):
        basis_matrix("curvelet", (1, 8, 8))
    with pytest.raises(InvalidValueError, match="alpha must be a finite number >= 0"):
        lasso(op, y, alpha=-1.0)


def test_select_alpha_returns_a_grid_value_and_covers_the_grid():
    op, x, _ = _problem(batch=3)
    grid = [0.04, 0.4, 100.0]
    best, errors = select_alpha(op, x, basis="dct", alphas=grid, seed=3)
    assert best in grid
    assert set(errors) == set(grid)
    assert all(np.isfinite(v) and v >= 0 for v in errors.values())
    assert errors[best] == min(errors.values())
    # alpha = 100 is far above ||B^T y||_inf: every coefficient is zero, so it cannot be the best here
    assert best != 100.0


# --- the homotopy solver -------------------------------------------------------------------------

def _sklearn_objective(design, target, alpha):
    m = design.shape[0]
    sk = Lasso(alpha=alpha / m, fit_intercept=False, tol=1e-12, max_iter=200000).fit(design, target)
    return ((target - design @ sk.coef_) ** 2).sum() / 2 + alpha * np.abs(sk.coef_).sum()


@pytest.mark.parametrize("shape,m,basis", [((1, 28, 28), 25, "pixel"), ((1, 8, 8), 10, "pixel"),
                                           ((1, 8, 8), 40, "pixel"), ((1, 8, 8), 20, "dct")])
def test_homotopy_reaches_scikit_learn_objective(shape, m, basis):
    op, _, y = _problem(shape=shape, m=m, batch=3)
    y = y.double()  # float64 in, float64 coefficients out
    alpha = 0.1
    ours = lasso(op, y, basis=basis, alpha=alpha, box=False, solver="homotopy")
    design = (op.matrix().double() @ basis_matrix(basis, op.input_shape)).numpy()
    for i in range(y.shape[0]):
        target = y[i].double().numpy()
        sk_obj = _sklearn_objective(design, target, alpha)
        assert float(ours.objective[i]) <= sk_obj * (1 + 1e-9)
        # exact: the optimality conditions hold to rounding
        c = ours.coef[i].double().numpy()
        rho = design.T @ (target - design @ c)
        assert np.abs(rho).max() <= alpha * (1 + 1e-9)
        assert np.allclose(rho[c != 0], alpha * np.sign(c[c != 0]), rtol=0, atol=1e-9)


def test_auto_solver_picks_homotopy_for_few_measurements_and_polish_with_the_box():
    op, _, y = _problem(shape=(1, 8, 8), m=5)  # n = 64 >= HOMOTOPY_MAX_RATIO * m
    y = y.double()
    auto = lasso(op, y, alpha=0.1, box=False)
    path = lasso(op, y, alpha=0.1, box=False, solver="homotopy")
    fista = lasso(op, y, alpha=0.1, box=False, solver="fista", tol=1e-12, max_iter=100000)
    assert torch.equal(auto.coef, path.coef)
    assert torch.all(path.objective <= fista.objective * (1 + 1e-9))
    assert torch.allclose(path.coef, fista.coef, atol=1e-4)
    boxed = lasso(op, y, alpha=0.1, box=True)  # the box is solved by polish, which keeps the constraint
    assert torch.equal(boxed.coef, lasso(op, y, alpha=0.1, box=True, solver="polish").coef)
    assert boxed.coef.min() >= 0 and boxed.coef.max() <= 1
    with pytest.raises(InvalidValueError, match="without the box"):
        lasso(op, y, alpha=0.1, box=True, solver="homotopy")
    with pytest.raises(UnknownNameError, match="unknown solver 'lars'"):
        lasso(op, y, solver="lars")


def test_homotopy_ends_exact_on_strongly_correlated_columns():
    # the terms of D^T D d cancel there, and the float32 rate's rounding can make the path miss a coordinate that
    # joins near the end: the missed ones are added and solved exactly, or the row is followed again with a float64
    # rate, so every row ends on the minimiser the float64 path finds
    g = torch.Generator().manual_seed(2)
    m, n, alpha = 60, 400, 0.002
    design = (0.03 ** 0.5 * torch.randn(m, n, generator=g, dtype=torch.float64)
              + 0.97 ** 0.5 * torch.randn(m, 1, generator=g, dtype=torch.float64)) / m ** 0.5
    y = torch.randn(16, m, generator=g, dtype=torch.float64)
    coef, ok, _ = lasso_homotopy.homotopy(design, y, alpha, max_kinks=5000)
    exact, exact_ok, _ = lasso_homotopy.homotopy(design, y, alpha, max_kinks=5000, rate_dtype=torch.float64)
    assert bool(ok.all()) and bool(exact_ok.all())
    assert bool(lasso_checks.kkt_holds(design, y, coef, alpha, rtol=1e-9).all())

    def objective(c):
        return 0.5 * ((y - c @ design.T) ** 2).sum(1) + alpha * c.abs().sum(1)

    assert torch.allclose(objective(coef), objective(exact), rtol=1e-12, atol=0)


def test_homotopy_adds_a_missed_coordinate_and_solves_exactly():
    op, _, y = _problem(shape=(1, 28, 28), m=30, batch=6)
    design, y, alpha = op.matrix().double(), y.double(), 0.1
    exact, ok, _ = lasso_homotopy.homotopy(design, y, alpha, max_kinks=1000, rate_dtype=torch.float64)
    assert bool(ok.all())
    # move y so that one active coefficient c_k shrinks to 1e-6 c_k: with the same support, signs and correlations,
    # the moved minimiser is the old one with c_k scaled (D^T D restricted to the support maps e_k to G_Sk); dropping
    # that coefficient gives a path that ended one coordinate short, the case a float32 rate can leave behind
    rows = torch.arange(y.shape[0])
    k = torch.where(exact != 0, exact.abs(), math.inf).argmin(1)
    y = y - (1 - 1e-6) * exact[rows, k].unsqueeze(1) * design[:, k].T
    exact[rows, k] *= 1e-6
    gram, b = design.T @ design, y @ design
    assert bool(lasso_checks.kkt_holds(design, y, exact, alpha, rtol=1e-9).all())
    short = exact.clone()
    short[rows, k] = 0.0
    assert not bool(lasso_checks.kkt_holds(design, y, short, alpha, rtol=1e-9).any())
    repaired, done = lasso_homotopy._add_missed(design, gram, b, y, short, alpha)
    assert bool(done.all())
    assert torch.allclose(repaired, exact, atol=1e-12, rtol=0)
    hopeless = torch.randn(short.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    kept, done = lasso_homotopy._add_missed(design, gram, b, y, hopeless, alpha)
    # more than m coordinates over the threshold (G_SS singular): the rows keep their coefficients
    assert not bool(done.any()) and torch.equal(kept, hopeless)


def test_homotopy_batch_equals_one_row_at_a_time():
    op, _, y = _problem(shape=(1, 28, 28), m=30, batch=5)
    y = y.double()
    together = lasso(op, y, alpha=0.1, box=False, solver="homotopy")
    for i in range(y.shape[0]):
        alone = lasso(op, y[i:i + 1], alpha=0.1, box=False, solver="homotopy")
        assert torch.allclose(alone.coef[0], together.coef[i], atol=1e-10)
        assert torch.allclose(alone.objective[0], together.objective[i], rtol=1e-12)


def test_homotopy_large_alpha_gives_zero_and_unfinished_rows_fall_back_to_fista(monkeypatch):
    op, _, y = _problem(shape=(1, 8, 8), m=10)
    y = y.double()
    zero = lasso(op, y, alpha=1e6, box=False, solver="homotopy")
    assert torch.count_nonzero(zero.coef) == 0
    design = op.matrix().double()
    coef, ok, kinks = lasso_homotopy.homotopy(design, y, 1e-3, max_kinks=1)
    assert kinks == 1 and not bool(ok.any()) and torch.isfinite(coef).all()
    # a row the path hands back unfinished is finished by FISTA from where the path stopped
    exact = lasso(op, y, alpha=0.1, box=False, solver="homotopy")
    real = lasso_homotopy.homotopy

    def stops_early(*args, **kwargs):
        return real(*args, **{**kwargs, "max_kinks": 2})

    monkeypatch.setattr(lasso_solve, "homotopy", stops_early)
    rescued = lasso(op, y, alpha=0.1, box=False, solver="homotopy", tol=1e-12, max_iter=200000)
    assert rescued.iterations > 2
    assert torch.allclose(rescued.objective, exact.objective, rtol=1e-8)


# --- float32 ADMM + exact float64 solves on the support ("polish") --------------------------------

@pytest.mark.parametrize("shape,m,basis", [((1, 8, 8), 40, "pixel"), ((1, 8, 8), 30, "dct"),
                                           ((1, 28, 28), 400, "pixel"), ((1, 28, 28), 200, "pixel")])
def test_polish_reaches_scikit_learn_objective_exactly(shape, m, basis):
    op, _, y = _problem(shape=shape, m=m, batch=3)
    y = y.double()
    alpha = 0.1
    ours = lasso(op, y, basis=basis, alpha=alpha, box=False, solver="polish")
    assert ours.iterations < POLISH_MAX_ITER  # accepted by the polish itself, not rescued by float64 FISTA
    design = (op.matrix().double() @ basis_matrix(basis, op.input_shape)).numpy()
    for i in range(y.shape[0]):
        target = y[i].numpy()
        assert float(ours.objective[i]) <= _sklearn_objective(design, target, alpha) * (1 + 1e-9)
        c = ours.coef[i].double().numpy()
        rho = design.T @ (target - design @ c)
        assert np.abs(rho).max() <= alpha * (1 + 1e-9)
        assert np.allclose(rho[c != 0], alpha * np.sign(c[c != 0]), rtol=0, atol=1e-9)


def test_auto_solver_picks_polish_for_many_measurements_and_it_matches_tight_fista():
    op, _, y = _problem(shape=(1, 8, 8), m=40, batch=5)
    y = y.double()
    auto = lasso(op, y, alpha=0.1, box=False)
    polish = lasso(op, y, alpha=0.1, box=False, solver="polish")
    fista = lasso(op, y, alpha=0.1, box=False, solver="fista", tol=1e-13, max_iter=200000)
    assert torch.equal(auto.coef, polish.coef)
    assert torch.all(polish.objective <= fista.objective * (1 + 1e-9))
    assert torch.allclose(polish.coef, fista.coef, atol=1e-6)


def _box_objective(design, target, coef, alpha):
    """``1/2||y - D c||^2 + alpha sum(c)``: the Lasso's objective on the box ``0 <= c <= 1``."""
    return 0.5 * ((target - design @ coef) ** 2).sum() + alpha * coef.sum()


@pytest.mark.parametrize("shape,m", [((1, 8, 8), 20), ((1, 8, 8), 40), ((1, 28, 28), 50), ((1, 28, 28), 400)])
def test_box_polish_reaches_the_box_minimiser_exactly(shape, m):
    # the reference is scipy's L-BFGS-B on the bound-constrained quadratic programme, run to its tightest tolerances
    op, _, y = _problem(shape=shape, m=m, batch=3)
    y, design, alpha = y.double(), op.matrix().double(), 0.1
    coef, ok, iterations = lasso_polish.polish(design, y, alpha, max_iter=POLISH_MAX_ITER, box=True)
    assert bool(ok.all()) and iterations < POLISH_MAX_ITER
    assert coef.min() >= 0 and coef.max() <= 1 and bool(((coef > 0) & (coef < 1)).any())
    d = design.numpy()
    for i in range(y.shape[0]):
        target, c = y[i].numpy(), coef[i].numpy()

        def f(v, target=target):
            return _box_objective(d, target, v, alpha), alpha - d.T @ (target - d @ v)

        ref = scipy.optimize.minimize(f, np.full(d.shape[1], 0.5), jac=True, method="L-BFGS-B",
                                      bounds=[(0.0, 1.0)] * d.shape[1],
                                      options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 100000, "maxfun": 100000})
        assert _box_objective(d, target, c, alpha) <= ref.fun + 1e-10 * abs(ref.fun)
        # the box's optimality conditions, to rounding: the gradient g = alpha - D^T (y - D c) is 0 on the free
        # coordinates, >= 0 at 0 and <= 0 at 1
        g = f(c)[1]
        free = (c > 0) & (c < 1)
        assert np.abs(g[free]).max() <= 1e-9 and g[c == 0].min() >= -1e-9 and g[c == 1].max(initial=0) <= 1e-9
    # lasso() takes the same path and the same answer
    assert torch.equal(lasso(op, y, alpha=alpha, box=True).coef, coef)


def test_box_polish_rows_it_gives_up_on_end_inside_the_box():
    # a small alpha on dense images: the minimisers have about m free coordinates and ADMM dwells on more than m;
    # polish hands those rows to FISTA with the box from zero, which keeps the constraint and gives them exactly
    # what solver="fista" gives them
    op, _, y = _problem(shape=(1, 8, 8), m=20, batch=4)
    y = y.double()
    _, ok, _ = lasso_polish.polish(op.matrix().double(), y, 0.01, max_iter=POLISH_MAX_ITER, box=True)
    assert not bool(ok.all())
    ours = lasso(op, y, alpha=0.01, box=True, solver="polish")
    tight = lasso(op, y, alpha=0.01, box=True, solver="fista", tol=1e-13, max_iter=200000)
    assert ours.coef.min() >= 0 and ours.coef.max() <= 1
    assert torch.allclose(ours.objective, tight.objective, rtol=1e-3)
    gave_up = torch.nonzero(~ok).squeeze(1)
    plain = lasso(op, y[gave_up], alpha=0.01, box=True, solver="fista")
    assert torch.allclose(ours.coef[gave_up], plain.coef, rtol=0, atol=1e-12)


def test_box_optimality_check_and_active_set_states():
    alpha = 0.5
    coef = torch.tensor([[0.0, 0.3, 1.0], [0.0, 0.3, 1.0], [0.0, 0.3, 1.0], [-0.1, 0.3, 1.0]], dtype=torch.float64)
    # corr - alpha is minus the gradient: <= 0 at 0, 0 when free, >= 0 at 1
    corr = torch.tensor([[0.2, 0.5, 0.9], [0.7, 0.5, 0.9], [0.2, 0.6, 0.9], [0.2, 0.5, 0.9]], dtype=torch.float64)
    held = lasso_checks.box_kkt_from_correlation(corr, coef, alpha)
    assert held.tolist() == [True, False, False, False]  # row 1 wants to rise from 0, row 2 to move, row 3 is outside
    low = lasso_checks.box_kkt_from_correlation(torch.tensor([[0.2, 0.5, 0.1]], dtype=torch.float64), coef[:1], alpha)
    assert not bool(low.any())  # held at 1 but wants to fall
    diag = torch.ones(3, dtype=torch.float64)
    states = lasso_checks.box_active_set_states(coef[:3], corr[:3], diag, alpha)
    assert states.dtype == torch.int8
    # w = c + (corr - alpha) / G_jj: row 0 -> (-0.3, 0.3, 1.4), row 1 -> (0.2, 0.3, 1.4), row 2 -> (-0.3, 0.4, 1.4)
    assert states.tolist() == [[0, 1, 2], [1, 1, 2], [0, 1, 2]]


def _polish_beside_homotopy(*, m: int, batch: int, **polish_options):
    """``_gram_polish`` (its coef, ok, iterations) on an 8x8 Gaussian problem, the homotopy's exact result on it, the
    float64 design and measurements."""
    op, _, y = _problem(shape=(1, 8, 8), m=m, batch=batch)
    y = y.double()
    design = op.matrix().double()
    reference = lasso(op, y, alpha=0.1, box=False, solver="homotopy")
    return lasso_polish.polish(design, y, 0.1, max_iter=POLISH_MAX_ITER, **polish_options), reference, design, y


@pytest.mark.parametrize("rho", [3e-3, 10.0])
def test_polish_is_exact_whatever_its_admm_penalty(rho):
    # ADMM converges for any rho > 0 and only its speed depends on it; exactness comes from the solve and the check.
    # Far from the default (about 0.5 here) float32 z can settle a little off the support (the active-set
    # corrections repair that) or, at a large rho, overshoot it until polish hands the row to float64 FISTA
    (coef, ok, iterations), reference, design, y = _polish_beside_homotopy(m=40, batch=4, rho=rho)
    assert bool(ok.any()) and iterations < POLISH_MAX_ITER
    assert torch.allclose(coef[ok], reference.coef[ok], atol=1e-9)
    assert bool(lasso_checks.kkt_holds(design, y[ok], coef[ok], 0.1).all()) and torch.isfinite(coef).all()


@pytest.mark.parametrize("factored_ratio", [0.0, math.inf])
@pytest.mark.parametrize("relax", [1.0, 1.8])
def test_polish_admm_with_and_without_the_woodbury_factor_is_exact(monkeypatch, factored_ratio, relax):
    # (G + rho I)^{-1} applied directly or through the m x m factor, with or without over-relaxation: the same math,
    # so the same minimiser (the homotopy's) and every row accepted by polish itself
    monkeypatch.setattr(lasso_polish, "FACTORED_RATIO", factored_ratio)
    (coef, ok, iterations), reference, _, _ = _polish_beside_homotopy(m=20, batch=5, relax=relax)
    assert bool(ok.all()) and iterations < POLISH_MAX_ITER
    assert torch.allclose(coef, reference.coef, atol=1e-9)


@pytest.mark.parametrize("factored_ratio", [0.0, math.inf])
@pytest.mark.parametrize("resync", [0, 10, 1000])
def test_polish_with_bfloat16_increments_of_its_admm_product_is_exact(monkeypatch, resync, factored_ratio):
    # 0: float32 products only; 10: the default where bfloat16 is fast (forced here on any CPU); 1000: the exact
    # product only at the first iteration, the rest bfloat16 increments; through the n x n inverse or the Woodbury
    # factor. ADMM only finds supports: the same minimiser
    monkeypatch.setattr(lasso_polish, "FACTORED_RATIO", factored_ratio)
    (coef, ok, iterations), reference, _, _ = _polish_beside_homotopy(m=40, batch=5, resync=resync)
    assert bool(ok.all()) and iterations < POLISH_MAX_ITER
    assert torch.allclose(coef, reference.coef, rtol=0, atol=1e-9)
    assert not lasso_polish.fast_bfloat16(torch.device("meta"))  # only a CPU with AMX or AVX-512 bfloat16 turns it on


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gram_is_the_symmetric_product_of_the_design(dtype):
    design = torch.randn(30, 50, generator=torch.Generator().manual_seed(3), dtype=torch.float64).to(dtype)
    gram = lasso_checks.gram_matrix(design)
    assert gram.dtype == dtype and gram.shape == (50, 50) and torch.equal(gram, gram.T)
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    assert torch.allclose(gram, design.T @ design, rtol=0, atol=tol * float(design.abs().max()) ** 2 * 30)
    meta = lasso_checks.gram_matrix(torch.empty(30, 50, device="meta"))  # elsewhere: the plain product
    assert meta.shape == (50, 50) and meta.device.type == "meta"


def test_homotopy_rows_that_end_at_different_slot_counts_are_solved_together():
    # supports of 2..21 coefficients: rows finish while the active slots are 16, 32 and 60 wide, and their end points
    # are solved in one padded batch after the path; each must be the minimiser
    gen = torch.Generator().manual_seed(0)
    design = torch.randn(60, 200, generator=gen, dtype=torch.float64) / 60 ** 0.5
    truth = torch.zeros(20, 200, dtype=torch.float64)
    for i in range(20):
        truth[i, torch.randperm(200, generator=gen)[:2 + i]] = torch.randn(2 + i, generator=gen, dtype=torch.float64)
    y = truth @ design.T
    coef, ok, _ = lasso_homotopy.homotopy(design, y, 0.01, max_kinks=1000)
    sizes = (coef != 0).sum(1)
    assert bool(ok.all()) and bool(lasso_checks.kkt_holds(design, y, coef, 0.01).all())
    assert int(sizes.min()) <= 16 and int(sizes.max()) > 32


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batched_primitives_match_torch(dtype):
    gen = torch.Generator().manual_seed(5)
    mats, vecs = torch.randn(7, 4, 6, generator=gen, dtype=dtype), torch.randn(7, 6, generator=gen, dtype=dtype)
    product = lasso_checks.batched_matvec(mats, vecs)  # NumPy on the CPU
    assert product.dtype == dtype and product.shape == (7, 4)
    assert torch.allclose(product, torch.bmm(mats, vecs.unsqueeze(2)).squeeze(2), rtol=1e-6, atol=0)
    assert lasso_checks.batched_matvec(mats.to("meta"), vecs.to("meta")).shape == (7, 4)  # elsewhere: torch's bmm
    x = torch.tensor([[1.0, 3.0, 3.0, -1.0], [-math.inf, -math.inf, -2.0, -5.0], [0.0, math.nan, 9.0, 1.0]], dtype=dtype)
    assert lasso_checks.row_argmax(x).tolist() == [1, 2, 1]  # the first of ties; NaN counts as the largest
    assert lasso_checks.row_argmax(x).dtype == torch.int64 and lasso_checks.row_argmax(x.to("meta")).shape == (3,)
    assert lasso_checks.row_argmax(x.to(torch.bfloat16)).tolist() == [1, 2, 1]  # NumPy has no bfloat16: torch's


@pytest.mark.parametrize("stable,every", [(10, 10), (0, 10), (12, 10)])
def test_polish_refuses_a_check_schedule_that_cannot_see_settled_signs(stable, every):
    op, _, y = _problem(shape=(1, 8, 8), m=40, batch=2)
    with pytest.raises(InvalidValueError, match="stable"):
        lasso_polish.polish(op.matrix().double(), y.double(), 0.1, max_iter=100, stable=stable, every=every)


def test_polish_hands_its_slow_tail_to_the_homotopy(monkeypatch):
    op, _, y = _problem(shape=(1, 8, 8), m=16, batch=8)  # n = TAIL_MIN_RATIO * m
    y = y.double()
    design = op.matrix().double()
    reference = lasso_polish.polish(design, y, 0.1, max_iter=POLISH_MAX_ITER)
    calls = []
    real = lasso_homotopy.homotopy

    def spy(design_, y_, *args, **kwargs):
        calls.append(y_.shape[0])
        return real(design_, y_, *args, **kwargs)

    monkeypatch.setattr(lasso_polish, "homotopy", spy)
    monkeypatch.setattr(lasso_polish, "TAIL_FACTOR", 1)  # hand over at the check that accepted half the rows
    coef, ok, iterations = lasso_polish.polish(design, y, 0.1, max_iter=POLISH_MAX_ITER)
    assert len(calls) == 1 and 0 < calls[0] <= 4 and iterations <= reference[2]
    assert bool(ok.all()) and torch.allclose(coef, reference[0], atol=1e-9)
    # with more measurements (n < TAIL_MIN_RATIO * m) the path is long and ADMM keeps its rows
    op, _, y = _problem(shape=(1, 8, 8), m=20, batch=8)
    calls.clear()
    lasso_polish.polish(op.matrix().double(), y.double(), 0.1, max_iter=POLISH_MAX_ITER)
    assert not calls


def test_polish_hands_a_degenerate_design_to_fista_early():
    # 2x2 block averaging: every column appears four times, G_SS of any support with two copies is singular and
    # the minimiser is not unique (ADMM settles on all the copies, more than m of them); polish must give such rows
    # up soon instead of running to POLISH_MAX_ITER
    from genprior.operators import Downsample
    op = Downsample(factor=2, shape=(1, 8, 8), noise_std=0.1)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = op.measure(x, seed=3).double()
    _, ok, iterations = lasso_polish.polish(op.matrix().double(), y, 0.1, max_iter=POLISH_MAX_ITER)
    assert not bool(ok.any()) and iterations < POLISH_MAX_ITER // 8
    ours = lasso(op, y, alpha=0.1, box=False, solver="polish")
    tight = lasso(op, y, alpha=0.1, box=False, solver="fista", tol=1e-13, max_iter=200000)
    assert torch.allclose(ours.objective, tight.objective, rtol=1e-7)
    # of the many minimisers it returns the one that spreads each block's value over its four copies (FISTA's,
    # from a symmetric start), not a vertex that puts it on one copy: the same objective, but a vertex is a
    # blocky image with about twice the error per pixel (0.084 against 0.042 on MNIST, x2 super-resolution)
    blocks = ours.coef.double().view(4, 4, 2, 4, 2).permute(0, 1, 3, 2, 4).reshape(4, 16, 4)
    assert torch.allclose(blocks, blocks.mean(2, keepdim=True).expand_as(blocks), atol=1e-6)


@pytest.mark.parametrize("basis", BASES)
@pytest.mark.parametrize("box", [False, True])
def test_orthogonal_designs_get_the_closed_form_soft_threshold(basis, box):
    # denoising: A Psi = Psi has orthonormal columns, the problem separates and auto solves it with no iterations
    from genprior.operators import Identity
    op = Identity(shape=(1, 8, 8), noise_std=0.1, noise="entry")
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    y = op.measure(x, seed=4).double()
    ours = lasso(op, y, basis=basis, alpha=0.1, box=box)
    tight = lasso(op, y, basis=basis, alpha=0.1, box=box, solver="fista", tol=1e-13, max_iter=200000)
    assert ours.iterations == 0
    assert torch.all(ours.objective <= tight.objective * (1 + 1e-12))
    assert torch.allclose(ours.coef.double(), tight.coef.double(), atol=1e-9)
    assert lasso_checks.orthogonal_columns(op.matrix().double() @ basis_matrix(basis, (1, 8, 8)))
    assert not lasso_checks.orthogonal_columns(Gaussian(m=64, shape=(1, 8, 8), seed=0).matrix().double())


def test_parallel_columns_are_found_whatever_their_scale_and_sign():
    from genprior.operators import Downsample
    gaussian = Gaussian(m=30, shape=(1, 8, 8), seed=0).matrix().double()
    assert not lasso_checks.parallel_columns(gaussian)
    assert lasso_checks.parallel_columns(Downsample(factor=2, shape=(1, 8, 8)).matrix().double())
    for multiple in (1.0, -2.5, 1e-3):
        design = gaussian.clone()
        design[:, 40] = multiple * design[:, 7]
        assert lasso_checks.parallel_columns(design)
    design = gaussian.clone()
    design[:, [3, 9]] = 0.0  # zero columns are not parallel to anything
    assert not lasso_checks.parallel_columns(design)
    design[:, 40] = design[:, 7] + 1e-6 * design[:, 8]  # nearly parallel is not parallel
    assert not lasso_checks.parallel_columns(design)


def test_auto_solver_spreads_over_parallel_columns_and_the_homotopy_will_not_end_on_a_tie():
    # x2 block averaging repeats each column four times: auto goes to FISTA, whose minimiser spreads each block's
    # value over its copies. The homotopy, asked directly, ends with the copies of an active column on the
    # boundary (|rho| = lambda, a minimiser that is not unique): it reports those rows as unfinished
    from genprior.operators import Downsample
    op = Downsample(factor=2, shape=(1, 8, 8), noise_std=0.1)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = op.measure(x, seed=3).double()
    tight = lasso(op, y, alpha=0.1, box=False, solver="fista", tol=1e-13, max_iter=200000)
    _, done, _ = lasso_homotopy.homotopy(op.matrix().double(), y, 0.1, max_kinks=1000)
    assert not bool(done.any())
    path = lasso(op, y, alpha=0.1, box=False, solver="homotopy")
    assert torch.allclose(path.objective, tight.objective, rtol=1e-7)
    ours = lasso(op, y, alpha=0.1, box=False)
    assert ours.iterations < 50 and torch.allclose(ours.objective, tight.objective, rtol=1e-7)
    blocks = ours.coef.double().view(4, 4, 2, 4, 2).permute(0, 1, 3, 2, 4).reshape(4, 16, 4)
    assert torch.allclose(blocks, blocks.mean(2, keepdim=True).expand_as(blocks), atol=1e-6)


@pytest.mark.parametrize("solve", ["_support_solve_lapack", "_support_solve_batched"])
def test_support_solve_finds_the_minimiser_on_its_support_and_flags_singular_rows(solve):
    solve = getattr(lasso_polish, solve)  # the CPU path (LAPACK per row) and the batched path other devices take
    op, _, y = _problem(shape=(1, 8, 8), m=40, batch=4)
    y = y.double()
    exact = lasso(op, y, alpha=0.1, box=False, solver="polish")
    design = op.matrix().double()
    gram, b = design.T @ design, y @ design
    # the solve on the minimiser's own support and signs gives the minimiser back; no support gives 0
    signs = torch.sign(exact.coef).to(torch.int8)
    assert torch.allclose(solve(gram, b, signs, 0.1), exact.coef, rtol=0, atol=1e-10)
    assert torch.count_nonzero(solve(gram, b, torch.zeros_like(signs), 0.1)) == 0
    # a support larger than m makes G_SS singular: that row alone comes back as NaN (and is then rejected)
    signs[1] = 1
    mixed = solve(gram, b, signs, 0.1)
    assert torch.isnan(mixed[1]).all()
    keep = torch.tensor([0, 2, 3])
    assert torch.allclose(mixed[keep], exact.coef[keep], rtol=0, atol=1e-10)


def test_polish_fallback(monkeypatch):
    op, _, y = _problem(shape=(1, 8, 8), m=40, batch=4)
    y = y.double()
    exact = lasso(op, y, alpha=0.1, box=False, solver="polish")
    design = op.matrix().double()
    # rows not accepted in time are finished by float64 FISTA from the float32 iterate
    coef, ok, iterations = lasso_polish.polish(design, y, 0.1, max_iter=3)
    assert iterations == 3 and not bool(ok.any()) and torch.isfinite(coef).all()
    monkeypatch.setattr(lasso_solve, "POLISH_MAX_ITER", 3)
    rescued = lasso(op, y, alpha=0.1, box=False, solver="polish", tol=1e-12, max_iter=200000)
    assert rescued.iterations > 3
    assert torch.allclose(rescued.objective, exact.objective, rtol=1e-8)


def test_polish_hands_the_rows_it_gives_up_on_to_the_homotopy_only_on_a_short_path(monkeypatch):
    monkeypatch.setattr(lasso_polish, "GIVE_UP_OVERSIZE", 0)  # every row is given up on at the first check
    op, _, y = _problem(shape=(1, 8, 8), m=12, batch=4)  # n = 64 >= TAIL_MIN_RATIO * m: a short path
    y, design = y.double(), op.matrix().double()
    coef, ok, iterations = lasso_polish.polish(design, y, 0.1, max_iter=POLISH_MAX_ITER)
    path, done, _ = lasso_homotopy.homotopy(design, y, 0.1, max_kinks=1000)
    assert bool(done.all()) and bool(ok.all()) and iterations == 20  # the first check
    assert torch.allclose(coef, path, rtol=0, atol=1e-12)
    op, _, y = _problem(shape=(1, 8, 8), m=40, batch=4)  # 64 < 4 * 40: given up rows come back unfinished
    coef, ok, iterations = lasso_polish.polish(op.matrix().double(), y.double(), 0.1, max_iter=POLISH_MAX_ITER)
    # (a row whose settled support was solved and accepted at that same check keeps its exact answer)
    assert not bool(ok.all()) and iterations == 20 and torch.isfinite(coef).all()


@pytest.mark.parametrize("solver", ["auto", "fista", "polish"])
def test_lasso_leaves_the_columns_the_operator_cannot_see_at_zero(solver):
    # inpainting in the pixel basis: A Psi selects the kept pixels, so the Lasso minimiser is the soft threshold
    # of y on them and 0 on the missing ones (whose columns are zero and are left out of the solve)
    op = Inpaint(shape=(1, 8, 8), keep=0.3, noise_std=0.1, seed=3)
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    y = op.measure(x, seed=5).double()
    ours = lasso(op, y, alpha=0.1, box=False, solver=solver, tol=1e-12, max_iter=20000)
    expected = torch.zeros(5, 64, dtype=torch.float64)
    expected[:, op.index] = torch.sign(y) * (y.abs() - 0.1).clamp(min=0)
    assert torch.allclose(ours.coef.double(), expected, rtol=0, atol=1e-9)
    assert ours.coef.shape == (5, 64)


def test_polish_solves_no_support_larger_than_m(monkeypatch):
    # G_SS of more than m coordinates is singular for any design: neither a settled support nor an active-set
    # correction that large may be factored (on digits at m = 100 the corrections reach 300-400 coordinates)
    from genprior.data import load_dataset

    images = load_dataset("mnist-bundled").images[:300]
    m = 100
    op = Gaussian(m=m, shape=(1, 28, 28), noise_std=0.1, seed=m)
    y = op.measure(images, seed=1).double()
    sizes = []
    real = lasso_polish.support_solve

    def spy(gram, b, sign, alpha, **kwargs):
        sizes.extend((sign != 0).sum(1).tolist())
        return real(gram, b, sign, alpha, **kwargs)

    monkeypatch.setattr(lasso_polish, "support_solve", spy)
    _, ok, _ = lasso_polish.polish(op.matrix().double(), y, 0.1, max_iter=POLISH_MAX_ITER)
    assert bool(ok.all()) and len(sizes) >= images.shape[0]
    assert max(sizes) <= m


@pytest.mark.parametrize("dtype", [torch.int64, torch.complex128, "float64", torch.float16, torch.bfloat16])
def test_lasso_refuses_a_dtype_it_cannot_solve_in(dtype):
    op = Gaussian(m=10, shape=(1, 4, 4), seed=0)
    with pytest.raises(InvalidValueError, match=r"dtype must be torch.float32 or torch.float64, got") as caught:
        lasso(op, torch.rand(2, 10), dtype=dtype)
    assert "\n" not in str(caught.value) and repr(dtype) in str(caught.value)  # one line, naming what was passed


@pytest.mark.parametrize("solver", ["auto", "fista", "homotopy", "polish"])
def test_lasso_in_float32_solves_the_float64_problem(solver):
    op, _, y = _problem(shape=(1, 8, 8), m=40)
    exact = lasso(op, y, alpha=0.1, box=False, solver=solver)
    single = lasso(op, y, alpha=0.1, box=False, solver=solver, dtype=torch.float32)
    assert single.objective.dtype == torch.float32 and single.x.dtype == y.dtype
    # measured: objectives 2e-7 apart (relative), pixels 1e-5
    assert torch.allclose(single.objective.double(), exact.objective, rtol=1e-5, atol=0)
    assert torch.allclose(single.x, exact.x, rtol=0, atol=1e-4)


def test_fista_with_any_gradient_and_prox_solves_each_row():
    """``fista`` with the gradient of ``1/2||y - A x||^2`` and the prox of ``x >= 0`` is non-negative least squares:
    every row matches scipy's ``nnls``, whether the rows stop one by one (``each_row``: the batch, and the per-row
    data the callables get, shrink as rows settle) or all together."""
    from scipy.optimize import nnls

    from genprior.solvers.lasso.fista import fista

    g = torch.Generator().manual_seed(0)
    a = torch.randn(30, 12, generator=g, dtype=torch.float64)
    # rows of very different scales settle at different iterations
    y = torch.randn(5, 30, generator=g, dtype=torch.float64) * torch.tensor([[0.01], [0.1], [1.0], [3.0], [10.0]])
    reference = torch.stack([torch.from_numpy(nnls(a.numpy(), row.numpy())[0]) for row in y])
    step = 1.0 / float(torch.linalg.matrix_norm(a, 2)) ** 2
    for each_row in (True, False):
        batch_sizes: list[int] = []

        def grad(x, target, sizes=batch_sizes):
            sizes.append(x.shape[0])
            assert target.shape[0] == x.shape[0]
            return (x @ a.T - target) @ a

        x, iterations = fista(grad, lambda v, target: v.clamp_(min=0.0), torch.zeros(5, 12, dtype=torch.float64),
                              step, max_iter=20_000, tol=1e-14, data=(y,), each_row=each_row)
        assert iterations < 20_000 and len(batch_sizes) == iterations
        assert torch.allclose(x, reference, rtol=0, atol=1e-9 * float(reference.abs().max()))
        if each_row:
            assert batch_sizes[0] == 5 and 0 < min(batch_sizes) < 5
        else:
            assert set(batch_sizes) == {5}


def test_the_lasso_package_and_its_function_share_a_name():
    """``from genprior.solvers import lasso`` is the solver function (README's usage); the package's modules import
    with ``from genprior.solvers.lasso import ...``."""
    import genprior.solvers
    from genprior.solvers.lasso import polish, solve

    assert genprior.solvers.lasso is solve.lasso is lasso and callable(genprior.solvers.lasso)
    assert polish.__name__ == "genprior.solvers.lasso.polish"
