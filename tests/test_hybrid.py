import math

import pytest
import torch

from genprior.errors import GenpriorError, InvalidValueError, ShapeError
from genprior.operators import Gaussian, Magnitude
from genprior.solvers import csgm, hybrid
from genprior.solvers.hybrid import _sparse_step, restart_weights


def _sparse_plus_range(relu_net, b=4, nnz=25, seed=7):
    """``x* = G(z*) + v*`` with ``v*`` supported on ``nnz`` pixels and ``x*`` in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        base = relu_net(torch.randn(b, 20, generator=g)).flatten(1)
    v = torch.zeros_like(base)
    for i in range(b):
        idx = torch.randperm(784, generator=g)[:nnz]
        v[i, idx] = torch.where(base[i, idx] < 0.5, 1.0 - base[i, idx], -base[i, idx])  # jump to 1 or to 0
    return (base + v).view(b, 1, 28, 28), v.view(b, 1, 28, 28)


def test_recovers_range_plus_sparse_better_than_csgm(relu_net):
    """Sparse-Gen's point: a signal off the generator's range by a sparse v is recovered far better than by CSGM."""
    x, _ = _sparse_plus_range(relu_net, nnz=10)
    op = Gaussian(m=250, noise_std=0.1, seed=3)
    y = op.measure(x, seed=1)
    h = hybrid(relu_net, op, y, restarts=4, keep=2, lm_steps=3, seed=0, max_iter=500)
    c = csgm(relu_net, op, y, restarts=4, steps=300, lr=0.02, seed=0)
    err_h, err_c = (h.x - x).pow(2).mean().item(), (c.x - x).pow(2).mean().item()
    assert err_h < 0.4 * err_c, (err_h, err_c)  # measured 0.0012 vs 0.0055
    assert err_h < 2.5e-3


def test_shapes_range_and_fields(relu_net):
    x, _ = _sparse_plus_range(relu_net, b=3)
    op = Gaussian(m=60, noise_std=0.1, seed=0)
    y = op.measure(x, seed=2)
    r = hybrid(relu_net, op, y, restarts=5, keep=4, steps=20, lm_steps=2)
    assert r.x.shape == x.shape and r.center.shape == x.shape and r.v.shape == x.shape
    assert r.z.shape == (3, 20) and r.z_all.shape == (3, 4, 20)
    assert r.weights.shape == (3, 4) and r.restart_losses.shape == (3, 4)
    assert torch.allclose(r.weights.sum(1), torch.ones(3))
    assert float(r.x.min()) >= 0.0 and float(r.x.max()) <= 1.0
    with torch.no_grad():  # the centre is the weighted mean of the kept restarts' images, clipped to [0, 1]
        gz = relu_net(r.z_all.flatten(0, 1)).reshape(3, 4, -1)
    assert torch.allclose(r.center.flatten(1), (r.weights[..., None] * gz).sum(1).clamp(0, 1), atol=1e-5)
    assert torch.allclose(r.measurement_loss, (y - r.x.flatten(1) @ op.matrix().T).pow(2).sum(1), rtol=1e-4)
    assert float(r.v.abs().sum()) > 0  # the sparse part is used
    # the winner's latent is the restart with the lowest measurement loss
    assert torch.equal(r.z, r.z_all[torch.arange(3), r.restart_losses.argmin(1)])


def test_seeded_and_reproducible(relu_net):
    x, _ = _sparse_plus_range(relu_net, b=2)
    op = Gaussian(m=40, noise_std=0.1, seed=5)
    y = op.measure(x, seed=3)
    kw = {"restarts": 4, "keep": 2, "steps": 15, "lm_steps": 2}
    a, b = hybrid(relu_net, op, y, seed=11, **kw), hybrid(relu_net, op, y, seed=11, **kw)
    assert torch.equal(a.x, b.x) and torch.equal(a.z_all, b.z_all)
    c = hybrid(relu_net, op, y, seed=12, **kw)
    assert not torch.equal(a.z_all, c.z_all)


def test_alternating_rounds_run(relu_net):
    x, _ = _sparse_plus_range(relu_net, b=2)
    op = Gaussian(m=150, noise_std=0.1, seed=5)
    y = op.measure(x, seed=3)
    errors = []
    for rounds in (0, 1):
        r = hybrid(relu_net, op, y, restarts=4, keep=2, steps=20, lm_steps=3, rounds=rounds, max_iter=200, seed=0)
        assert r.x.shape == x.shape and torch.isfinite(r.x).all()
        errors.append((r.x - x).pow(2).flatten(1).mean(1))
    with torch.no_grad():  # after the refit, the losses (and so the weights and the best restart) are the new latents'
        gz = relu_net(r.z_all.flatten(0, 1)).reshape(2, r.z_all.shape[1], -1)
        expected = (y[:, None, :] - gz @ op.matrix().T).pow(2).sum(2)
    assert torch.allclose(r.restart_losses, expected, rtol=1e-4, atol=1e-5)
    assert torch.equal(r.z, r.z_all[torch.arange(2), expected.argmin(1)])
    # a round of re-fitting z against y - A v and v against y - A G(z) lowers the error of both images
    assert bool((errors[1] < errors[0]).all()), errors


def test_restart_weights():
    L = torch.tensor([[3.0, 1.0, 2.0], [0.5, float("inf"), 0.5]])
    w0 = restart_weights(L, temperature=0.0, scale=1.0, floor=0.0)
    assert torch.equal(w0[0], torch.tensor([0.0, 1.0, 0.0]))
    assert w0[1, 1] == 0 and torch.allclose(w0[1], torch.tensor([0.5, 0.0, 0.5]))
    w = restart_weights(L, temperature=1.0, scale=1.0, floor=0.0)
    assert torch.allclose(w.sum(1), torch.ones(2)) and w[1, 1] == 0
    assert w[0, 1] > w[0, 2] > w[0, 0]
    assert math.isclose(float(w[0, 2] / w[0, 1]), math.exp(-1.0), rel_tol=1e-5)  # T = 1 * 1 * L_min = 1


def test_sparse_step_stays_at_the_centre_where_the_data_term_is_flat():
    """Where ``y = A c`` (the data term's gradient is 0 at the centre ``c``), ``x = c`` minimises when ``mu >= mu0``:
    the step stays there; with ``mu0 > mu`` the l1 term of ``x`` itself pulls every positive pixel below ``c``."""
    g = torch.Generator().manual_seed(1)
    a = torch.randn(5, 10, generator=g, dtype=torch.float64) * 1e-2
    c = torch.rand(3, 10, generator=g, dtype=torch.float64) * 0.8 + 0.1
    x = _sparse_step(a, c @ a.T, c, 0.1, mu0=0.05, max_iter=50, tol=0.0)
    assert torch.allclose(x, c, rtol=0, atol=1e-12)
    below = _sparse_step(a, c @ a.T, c, 0.05, mu0=0.1, max_iter=50, tol=0.0)
    assert bool((below < c - 1e-3).all())


def test_sparse_step_reaches_the_minimiser_of_a_small_problem():
    """Against L-BFGS-B on the split x = c + p - q, 0 <= p <= 1 - c, 0 <= q <= c (smooth, bounds only)."""
    import numpy as np
    from scipy.optimize import minimize

    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 10, generator=g, dtype=torch.float64)
    y = torch.randn(1, 6, generator=g, dtype=torch.float64)
    c = torch.rand(1, 10, generator=g, dtype=torch.float64)
    mu, mu0 = 0.3, 0.1

    def objective(x):
        return float(0.5 * (y - x @ a.T).pow(2).sum() + mu * (x - c).abs().sum() + mu0 * x.abs().sum())

    an, yn, cn = a.numpy(), y.numpy()[0], c.numpy()[0]

    def split(v):
        x = cn + v[:10] - v[10:]
        r = an @ x - yn
        f = 0.5 * r @ r + mu * v.sum() + mu0 * x.sum()
        gx = an.T @ r + mu0
        return f, np.concatenate([gx + mu, -gx + mu])

    bounds = [(0, 1 - ci) for ci in cn] + [(0, ci) for ci in cn]
    ref = minimize(split, np.zeros(20), jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
    x_ref = torch.from_numpy(cn + ref.x[:10] - ref.x[10:])[None]
    x = _sparse_step(a, y, c, mu, mu0=mu0, max_iter=20_000, tol=1e-13)
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert objective(x) <= objective(x_ref) + 1e-9
    assert torch.allclose(x, x_ref, atol=1e-5)
    assert not torch.allclose(x, c, atol=1e-3)  # the data term moved it off the centre


def test_a_float64_generator_runs_in_float64(relu_net):
    """A float64 copy of the generator: the averaging and the sparse step run in float64 (the centre is the float64
    weighted mean; a float32 one misses it by ~3e-8), the outputs take ``y``'s dtype, and the recovery is the float32
    generator's (measured equal to 1e-6 relative), for linear measurements with a refit round and for magnitudes."""
    import copy

    net64 = copy.deepcopy(relu_net).double()
    x, _ = _sparse_plus_range(relu_net, b=2)
    for op, rounds in ((Gaussian(m=150, noise_std=0.1, seed=5), 1), (Magnitude(m=300, noise_std=0.1, seed=5), 0)):
        y = op.measure(x, seed=3)
        kw = {"restarts": 4, "keep": 2, "steps": 20, "lm_steps": 3, "seed": 0, "max_iter": 300, "rounds": rounds}
        r64, r32 = hybrid(net64, op, y.double(), **kw), hybrid(relu_net, op, y, **kw)
        assert r64.x.dtype == r64.center.dtype == r64.weights.dtype == torch.float64
        assert hybrid(net64, op, y, **kw).x.dtype == torch.float32  # y's dtype
        with torch.no_grad():
            gz = net64(r64.z_all.flatten(0, 1)).reshape(2, 2, -1)
        center = (r64.weights[..., None] * gz).sum(1).clamp(0, 1)
        assert torch.allclose(r64.center.flatten(1), center, rtol=0, atol=1e-12)
        a = (op.inner if isinstance(op, Magnitude) else op).matrix().double()
        fitted = r64.x.flatten(1) @ a.T
        fitted = fitted.abs() if isinstance(op, Magnitude) else fitted
        assert torch.allclose(r64.measurement_loss, (y.double() - fitted).pow(2).sum(1), rtol=1e-10, atol=0)
        err64, err32 = ((r.x.float() - x).pow(2).mean().item() for r in (r64, r32))
        assert abs(err64 - err32) <= 0.05 * err32, (err64, err32)


def test_bad_inputs_raise(relu_net):
    op = Gaussian(m=30, noise_std=0.1, seed=0)
    y = torch.randn(2, 30)
    from genprior.operators import Sign

    with pytest.raises(GenpriorError, match=r"needs a linear operator with a matrix or magnitudes \|A x\| \(Magnitude\); "
                                            "Sign is neither"):
        hybrid(relu_net, Sign(m=30), y.sign())
    with pytest.raises(InvalidValueError, match="with magnitudes pass rounds=0"):
        hybrid(relu_net, Magnitude(m=30), y.abs(), rounds=1)
    with pytest.raises(ShapeError, match=r"expects measurements of shape \(B, 30\), got \(2, 31\)"):
        hybrid(relu_net, op, torch.randn(2, 31))
    bad = y.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(InvalidValueError, match="measurements contain NaN"):
        hybrid(relu_net, op, bad)
    with pytest.raises(InvalidValueError, match="mu_scale must be a finite number >= 0, got -1.0"):
        hybrid(relu_net, op, y, mu_scale=-1.0)
    with pytest.raises(InvalidValueError, match="need mu0 <= mu"):
        hybrid(relu_net, op, y, mu=0.1, mu0=0.2)
    with pytest.raises(InvalidValueError, match="restarts must be a positive integer, got 0"):
        hybrid(relu_net, op, y, restarts=0)
    with pytest.raises(InvalidValueError, match="rounds must be an integer >= 0, got -1"):
        hybrid(relu_net, op, y, rounds=-1)
    for bad_search in ({"screen_steps": -1}, {"survivors": 0}, {"screen_steps": 2.5}):
        with pytest.raises(InvalidValueError, match=next(iter(bad_search))):
            hybrid(relu_net, op, y, **bad_search)


def test_screening_keeps_the_best_survivors(relu_net):
    """With screening on, only ``survivors`` restarts go on, ``keep`` of them come back; screening off
    (``screen_steps=0``) is the single-stage search; each is seeded and different from the other."""
    x, _ = _sparse_plus_range(relu_net, b=2)
    op = Gaussian(m=60, noise_std=0.1, seed=4)
    y = op.measure(x, seed=5)
    kw = {"restarts": 12, "survivors": 5, "keep": 3, "steps": 6, "lm_steps": 1, "seed": 9}
    screened = hybrid(relu_net, op, y, screen_steps=4, **kw)
    single = hybrid(relu_net, op, y, screen_steps=0, **kw)
    assert screened.z_all.shape == single.z_all.shape == (2, 3, 20)
    assert torch.equal(screened.x, hybrid(relu_net, op, y, screen_steps=4, **kw).x)
    assert not torch.equal(screened.z_all, single.z_all)


def test_one_generator_ensemble_is_the_plain_method(relu_net):
    x, _ = _sparse_plus_range(relu_net, b=2)
    op = Gaussian(m=40, noise_std=0.1, seed=5)
    y = op.measure(x, seed=3)
    kw = {"restarts": 4, "keep": 2, "steps": 15, "lm_steps": 2, "seed": 3}
    a, b = hybrid(relu_net, op, y, **kw), hybrid([relu_net], op, y, **kw)
    assert torch.equal(a.x, b.x) and torch.equal(a.z_all, b.z_all)
    assert torch.equal(a.source, torch.zeros(2, dtype=torch.long)) and torch.equal(a.best_source, torch.zeros(2, dtype=torch.long))


def test_ensemble_finds_the_generator_whose_range_holds_the_signal(relu_net):
    """Signals from a second net: the ensemble [first, second] ranks the second's restarts best and recovers them
    far better than the first net alone, and as well as the second alone."""
    from conftest import ReluNet

    other = ReluNet(seed=2)
    with torch.no_grad():
        x = other(torch.randn(3, 20, generator=torch.Generator().manual_seed(4)))
    op = Gaussian(m=120, noise_std=0.1, seed=5)
    y = op.measure(x, seed=3)
    kw = {"restarts": 6, "keep": 3, "steps": 40, "lm_steps": 4, "max_iter": 300}
    both = hybrid([relu_net, other], op, y, **kw)
    first, second = hybrid(relu_net, op, y, **kw), hybrid(other, op, y, **kw)
    err = {k: (r.x - x).pow(2).mean().item() for k, r in (("both", both), ("first", first), ("second", second))}
    assert torch.equal(both.best_source, torch.ones(3, dtype=torch.long))
    assert both.z_all.shape == (3, 6, 20) and torch.equal(both.source, torch.tensor([0, 0, 0, 1, 1, 1]))
    assert err["both"] < 0.3 * err["first"], err
    assert err["both"] < 1.5 * err["second"] + 1e-4, err


def test_ensemble_needs_one_latent_size(relu_net):
    from conftest import ReluNet

    op = Gaussian(m=40, noise_std=0.1, seed=5)
    y = op.measure(torch.rand(1, 1, 28, 28), seed=3)
    with pytest.raises(InvalidValueError, match="one latent size"):
        hybrid([relu_net, ReluNet(k=10)], op, y, restarts=2, keep=1, steps=2, lm_steps=1)
    with pytest.raises(InvalidValueError, match="at least one generator"):
        hybrid([], op, y)


def test_zoo_vae_ensemble_beats_one_vae_on_mnist(data_dir):
    """The zoo's three-VAE ensemble against its first member alone, hybrid at m = 50 with a cut-down search
    (30 restarts, 10 kept), on MNIST test images 500..519 (outside the benchmark's 0..299 and the held-out 300..499)."""
    from genprior import zoo
    from genprior.data import load_dataset

    x = load_dataset("mnist", "test", data_dir=data_dir).images[500:520]
    op = Gaussian(m=50, shape=(1, 28, 28), noise_std=0.1, seed=50)
    y = op.measure(x, seed=51)
    kw = {"restarts": 30, "keep": 10, "seed": 52}
    ens = zoo.load("mnist-vae-ensemble")
    one = (hybrid(ens.members[0], op, y, **kw).x - x).pow(2).mean().item()
    three = hybrid(ens, op, y, **kw)
    err = (three.x - x).pow(2).mean().item()
    assert err < 0.93 * one, (err, one)
    assert set(three.best_source.tolist()) == {0, 1, 2}  # every member wins some images


def test_sparse_step_on_magnitudes_is_amplitude_flow():
    """With ``magnitudes``, the sparse step fits ``|A x|``: from a centre off by a sparse v it finds the signal (the
    signs of ``A x`` re-read each step), where the same step on the magnitudes read as signed values cannot."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(300, 100, generator=g) / math.sqrt(300)
    x = torch.rand(3, 100, generator=g)
    center = x.clone()
    center[:, :5] = (center[:, :5] + 0.5) % 1.0  # five pixels off
    y = (x @ a.T).abs()
    fit = _sparse_step(a, y, center, 1e-3, max_iter=3000, tol=1e-9, magnitudes=True)
    linear = _sparse_step(a, y, center, 1e-3, max_iter=3000, tol=1e-9)  # the magnitudes read as signed values
    err, err_linear, err_center = ((v - x).pow(2).mean().item() for v in (fit, linear, center))
    assert err < 1e-3 * err_center and err < 1e-2 * err_linear, (err, err_linear, err_center)


def test_hybrid_on_magnitudes_beats_csgm_fast_off_the_range(relu_net):
    """Phase retrieval of range-plus-sparse signals: the amplitude-flow sparse step recovers what csgm_fast's
    best range point cannot (on the test suite's ReLU-net generator)."""
    from genprior.solvers import csgm_fast

    x, _ = _sparse_plus_range(relu_net, nnz=10)
    op = Magnitude(m=500, noise_std=0.1, seed=3)
    y = op.measure(x, seed=1)
    h = hybrid(relu_net, op, y, restarts=8, keep=4, lm_steps=3, seed=0, max_iter=1000)
    c = csgm_fast(relu_net, op, y, restarts=8, seed=0)
    err_h, err_c = (h.x - x).pow(2).mean().item(), (c.x - x).pow(2).mean().item()
    assert err_h < 0.4 * err_c, (err_h, err_c)
    assert h.measurement_loss.shape == (4,) and bool((h.measurement_loss < (y - op(c.x)).pow(2).sum(1)).all())
