import pytest
import torch

from genprior.errors import GeneratorError, InvalidValueError, ShapeError
from genprior.operators import Downsample, Gaussian, Inpaint
from genprior.solvers import csgm, csgm_fast


def test_outside_generator_recovers_its_own_outputs(relu_net):
    """The issue's check: a 20->200->784 ReLU net recovers its noiseless outputs from m=200 to < 1e-4 per pixel."""
    x = relu_net(torch.randn(6, 20, generator=torch.Generator().manual_seed(7))).detach()
    op = Gaussian(m=200, noise_std=0.0, seed=3)
    rec = csgm(relu_net, op, op.measure(x), restarts=4, steps=600, lr=0.01, seed=0)
    assert rec.x.shape == x.shape and rec.z.shape == (6, 20)
    assert (rec.x - x).pow(2).mean().item() < 1e-4
    assert rec.restart_losses.shape == (6, 4)


def test_batched_equals_per_image_loop(relu_net):
    x = relu_net(torch.randn(3, 20)).detach()
    op = Gaussian(m=30, noise_std=0.1, seed=1)
    y = op.measure(x, seed=2)
    z0 = torch.randn(3, 2, 20, generator=torch.Generator().manual_seed(4))
    full = csgm(relu_net, op, y, steps=50, z_init=z0)
    for i in range(3):
        one = csgm(relu_net, op, y[i:i + 1], steps=50, z_init=z0[i:i + 1])
        assert torch.allclose(one.z_all, full.z_all[i:i + 1], atol=1e-5)


def test_winner_is_lowest_measurement_loss_and_seeded(relu_net):
    x = relu_net(torch.randn(4, 20)).detach()
    op = Inpaint(keep=0.3, noise_std=0.05, seed=0)
    y = op.measure(x, seed=1)
    a = csgm(relu_net, op, y, restarts=5, steps=30, seed=9)
    b = csgm(relu_net, op, y, restarts=5, steps=30, seed=9)
    assert torch.equal(a.x, b.x)
    assert torch.equal(a.measurement_loss, a.restart_losses.min(1).values)
    with torch.no_grad():
        resid = (op.forward(relu_net(a.z)) - y).pow(2).sum(1)
    assert torch.allclose(resid, a.measurement_loss, rtol=1e-4)


def test_lambda_shrinks_latents(relu_net):
    x = relu_net(torch.randn(4, 20)).detach()
    op = Gaussian(m=15, noise_std=0.1, seed=1)
    y = op.measure(x, seed=2)
    free = csgm(relu_net, op, y, restarts=3, steps=200, lam=0.0)
    reg = csgm(relu_net, op, y, restarts=3, steps=200, lam=1.0)
    assert reg.z.norm(dim=1).mean() < free.z.norm(dim=1).mean()


class NaNSometimes(torch.nn.Module):
    """Produces NaN for latents whose first coordinate is > 1.5: those restarts must be dropped."""

    latent_dim = 4

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 64)

    def forward(self, z):
        out = torch.sigmoid(self.lin(z))
        bad = (z[:, :1] > 1.5).expand_as(out)
        return torch.where(bad, torch.full_like(out, float("nan")), out).view(-1, 1, 8, 8)


def test_nan_restart_dropped_others_continue():
    g = NaNSometimes()
    op = Gaussian(m=20, shape=(1, 8, 8), seed=0)
    x = g(torch.zeros(2, 4)).detach()
    z0 = torch.zeros(2, 3, 4)
    z0[:, 0, 0] = 3.0  # restart 0 is NaN from the start
    rec = csgm(g, op, op.measure(x), steps=100, z_init=z0)
    assert torch.isinf(rec.restart_losses[:, 0]).all()
    assert torch.isfinite(rec.x).all() and (rec.x - x).pow(2).mean() < 1e-4


def test_works_under_no_grad(relu_net):
    x = relu_net(torch.randn(2, 20)).detach()
    op = Gaussian(m=100, seed=0)
    with torch.no_grad():
        rec = csgm(relu_net, op, op.measure(x), restarts=2, steps=300)
    assert (rec.x - x).pow(2).mean() < 1e-2 and torch.isfinite(rec.x).all()


def test_user_module_keeps_its_state(relu_net):
    relu_net.train()
    op = Gaussian(m=10, seed=0)
    csgm(relu_net, op, torch.zeros(1, 10), restarts=1, steps=2)
    assert relu_net.training and all(p.requires_grad for p in relu_net.parameters())


def test_bad_generators_and_inputs(relu_net):
    op = Gaussian(m=10, seed=0)
    with pytest.raises(GeneratorError, match="no latent_dim"):
        csgm(torch.nn.Linear(3, 784), op, torch.zeros(1, 10))
    with pytest.raises(ShapeError, match="operator takes images"):
        csgm(relu_net, Downsample(factor=2, shape=(1, 8, 8)), torch.zeros(1, 16))
    y = torch.zeros(2, 10)
    y[0, 0] = float("nan")
    with pytest.raises(InvalidValueError, match="NaN"):
        csgm(relu_net, op, y)
    with pytest.raises(InvalidValueError, match="steps"):
        csgm(relu_net, op, torch.zeros(1, 10), steps=0)


def test_fast_solver_reaches_the_paper_schedule_quality(relu_net):
    """csgm_fast (60 Adam steps + Levenberg-Marquardt) recovers as well as 600 Adam steps, with noise."""
    x = relu_net(torch.randn(8, 20, generator=torch.Generator().manual_seed(3))).detach()
    op = Gaussian(m=100, noise_std=0.05, seed=2)
    y = op.measure(x, seed=4)
    slow = csgm(relu_net, op, y, restarts=4, steps=600, seed=1)
    fast = csgm_fast(relu_net, op, y, restarts=4, seed=1)
    err_slow, err_fast = (slow.x - x).pow(2).mean().item(), (fast.x - x).pow(2).mean().item()
    assert err_fast <= 1.05 * err_slow + 1e-6
    assert fast.z_all.shape == (8, 3, 20) and torch.equal(fast.measurement_loss, fast.restart_losses.min(1).values)


def test_fast_solver_noiseless_exact(relu_net):
    x = relu_net(torch.randn(4, 20)).detach()
    op = Inpaint(keep=0.5, seed=0)
    rec = csgm_fast(relu_net, op, op.measure(x), restarts=4, seed=0)
    assert (rec.x - x).pow(2).mean().item() < 1e-6


def test_custom_residual_loss_ignores_a_dead_zone(relu_net):
    """With a loss that ignores |residual| <= 0.3, an image moved by +-0.3 per pixel projects back to itself."""
    x = relu_net(torch.randn(3, 20, generator=torch.Generator().manual_seed(5))).detach()
    shift = 0.3 * torch.sign(torch.randn(x.shape, generator=torch.Generator().manual_seed(6)))
    from genprior.operators import Identity

    op = Identity()
    y = (x + shift).flatten(1)
    dead_zone = lambda r: (r.abs() - 0.31).clamp_min(0).pow(2).sum(1)  # noqa: E731
    plain = csgm(relu_net, op, y, restarts=4, steps=400, seed=0)
    robust = csgm(relu_net, op, y, restarts=4, steps=400, seed=0, residual_loss=dead_zone)
    assert (robust.x - x).pow(2).mean() < 0.5 * (plain.x - x).pow(2).mean()
