"""The classical density baselines (genprior.models.classical): exact conditionals, likelihoods, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from genprior.errors import GenpriorError, InvalidValueError, ShapeError
from genprior.models.classical import (
    LEVELS,
    GaussianDensity,
    GaussianMixtureDensity,
    PixelMarginals,
    SparseCodePrior,
    gaussian_log_density,
)

SHAPE = (1, 3, 3)


def _gaussian(seed: int = 0) -> GaussianDensity:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(9, 9, generator=g, dtype=torch.float64)
    cov = 0.01 * (a @ a.T / 9 + 0.5 * torch.eye(9, dtype=torch.float64))
    mean = 0.3 + 0.4 * torch.rand(9, generator=g, dtype=torch.float64)
    return GaussianDensity.from_moments(mean, cov, output_shape=SHAPE)


def test_gaussian_imputation_is_the_closed_form_conditional_mean():
    model = _gaussian()
    x = 0.3 + 0.4 * torch.rand(5, *SHAPE, generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([[True, False, True], [False, True, False], [True, True, False]])
    o, m = mask.flatten(), ~mask.flatten()
    mu, s = model.mean, model.covariance
    xf = x.flatten(1).double()
    expected = mu[m] + (s[m][:, o] @ torch.linalg.inv(s[o][:, o]) @ (xf[:, o] - mu[o]).T).T
    out = model.impute(x, mask).flatten(1).double()
    assert torch.allclose(out[:, m], expected.clamp(0, 1), atol=1e-6)
    assert torch.equal(out[:, o].float(), x.flatten(1)[:, o])


def test_gaussian_log_likelihood_of_its_samples_is_near_its_entropy():
    model = _gaussian()
    z = torch.randn(20000, 9, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x = model.mean + z @ model.chol.T

    logp = gaussian_log_density(x, model.mean, model.chol)
    entropy = 0.5 * torch.logdet(2 * math.pi * math.e * model.covariance)
    assert abs(float(-logp.mean()) - float(entropy)) < 0.05  # the s.e. of the mean is sqrt(9/2)/sqrt(20000) = 0.015


def test_gmm_with_one_component_reduces_to_the_gaussian():
    gauss = _gaussian()
    gmm = GaussianMixtureDensity.from_parameters(torch.ones(1, dtype=torch.float64), gauss.mean[None],
                                                 gauss.covariance[None], output_shape=SHAPE)
    x = 0.3 + 0.4 * torch.rand(4, *SHAPE, generator=torch.Generator().manual_seed(3))
    mask = torch.zeros(3, 3, dtype=torch.bool)
    mask[0] = True
    assert torch.allclose(gmm.impute(x, mask), gauss.impute(x, mask), atol=1e-6)
    assert torch.allclose(gmm.log_prob(x, seed=5), gauss.log_prob(x, seed=5), atol=1e-8)


def test_gmm_diag_posterior_picks_the_component_the_observed_pixels_come_from():
    means = torch.stack([torch.full((9,), 0.1), torch.full((9,), 0.9)]).double()
    gmm = GaussianMixtureDensity.from_parameters(torch.tensor([0.5, 0.5], dtype=torch.float64), means,
                                                 torch.full((2, 9), 0.01, dtype=torch.float64), output_shape=SHAPE)
    x = torch.full((1, *SHAPE), 0.9)
    mask = torch.zeros(3, 3, dtype=torch.bool)
    mask[0] = True
    assert float(gmm.posterior(x, mask)[0, 1]) > 0.999
    assert torch.allclose(gmm.impute(x, mask), torch.full((1, *SHAPE), 0.9), atol=1e-3)


def test_gmm_fit_by_sklearn_runs_on_a_tiny_set():
    x = torch.rand(40, *SHAPE, generator=torch.Generator().manual_seed(4))
    gmm = GaussianMixtureDensity.fit(x, components=2, max_iter=20)
    assert gmm.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, *SHAPE)
    assert torch.isfinite(gmm.log_prob(x)).all()


def test_marginal_bits_per_pixel_by_hand():
    levels = torch.tensor([[0, 255, 0, 0], [0, 255, 255, 0]], dtype=torch.float32)  # two 1x2x2 images
    x = (levels / LEVELS).view(2, 1, 2, 2)
    model = PixelMarginals.fit(x, alpha=1.0)
    # pixel counts (level 0 / 255): p0 (2, 0), p1 (0, 2), p2 (1, 1), p3 (2, 0); N + 256 alpha = 258
    p_hit2, p_hit1 = 3 / 258, 2 / 258
    nats_first = -(3 * math.log(p_hit2) + math.log(p_hit1))
    nats_second = -(3 * math.log(p_hit2) + math.log(p_hit1))
    expected = (nats_first + nats_second) / 2 / (4 * math.log(2))
    assert model.bits_per_pixel(x) == pytest.approx(expected, rel=1e-12)
    # imputation by the marginal mean: pixel 2 is 0 once and 1 once, plus alpha = 1 on every level
    mean2 = (1 * 0 + 1 * 1 + sum(k / 255 for k in range(256))) / 258
    mask = torch.tensor([[True, True], [False, True]])
    assert float(model.impute(x[:1], mask)[0, 0, 1, 0]) == pytest.approx(mean2, abs=1e-6)


def test_marginal_samples_follow_the_histogram():
    x = torch.zeros(10, *SHAPE)
    x[:7, 0, 0, 0] = 1.0  # pixel 0 is white in 7 of 10 images
    model = PixelMarginals.fit(x, alpha=1e-6)
    s = model.sample(4000, generator=torch.Generator().manual_seed(0))
    assert float((s[:, 0, 0, 0] == 1).float().mean()) == pytest.approx(0.7, abs=0.03)
    assert float(s[:, 0, 1:].mean()) < 1e-3  # the other pixels are black but for the smoothing's 1e-6 counts


def test_sparse_prior_projection_is_the_best_k_term_approximation():
    basis = torch.linalg.qr(torch.randn(9, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64))[0]
    x = torch.rand(6, *SHAPE, generator=torch.Generator().manual_seed(1))
    prior = SparseCodePrior.fit(x, basis, k=9)
    assert torch.allclose(prior.project(x), x, atol=1e-6)  # k = n keeps everything
    prior = SparseCodePrior.fit(x, basis, k=2)
    assert int((prior.codes != 0).sum(1).max()) == 2
    assert prior.sample(5, generator=torch.Generator().manual_seed(2)).shape == (5, *SHAPE)


def _one_line(exc_info) -> None:
    assert isinstance(exc_info.value, GenpriorError)
    assert "\n" not in str(exc_info.value)


@pytest.mark.parametrize("call, error", [
    (lambda: PixelMarginals.fit(torch.rand(4, 9)), ShapeError),  # not (B, C, H, W)
    (lambda: PixelMarginals.fit(torch.full((2, *SHAPE), 1.5)), InvalidValueError),  # outside [0, 1]
    (lambda: PixelMarginals.fit(torch.full((2, *SHAPE), float("nan"))), InvalidValueError),
    (lambda: PixelMarginals.fit(torch.rand(2, *SHAPE), alpha=0), InvalidValueError),
    (lambda: GaussianDensity.fit(torch.rand(3, *SHAPE), shrinkage=1.5), InvalidValueError),
    (lambda: GaussianDensity.fit(torch.rand(1, *SHAPE)), InvalidValueError),
    (lambda: GaussianMixtureDensity.fit(torch.rand(5, *SHAPE), components=0), InvalidValueError),
    (lambda: GaussianMixtureDensity.fit(torch.rand(5, *SHAPE), components=2, covariance="tied"), InvalidValueError),
    (lambda: GaussianMixtureDensity(output_shape=SHAPE, components=0), InvalidValueError),
    (lambda: _gaussian().impute(torch.rand(2, 1, 4, 4), torch.ones(3, 3, dtype=torch.bool)), ShapeError),
    (lambda: _gaussian().impute(torch.rand(2, *SHAPE), torch.ones(4, 4, dtype=torch.bool)), ShapeError),
    (lambda: _gaussian().impute(torch.rand(2, *SHAPE), torch.ones(3, 3)), InvalidValueError),  # not boolean
    (lambda: _gaussian().log_prob(torch.full((2, *SHAPE), -0.1)), InvalidValueError),
    (lambda: _gaussian().sample(0), InvalidValueError),
    (lambda: SparseCodePrior.fit(torch.rand(2, *SHAPE), torch.eye(4), k=2), ShapeError),
    (lambda: SparseCodePrior.fit(torch.rand(2, *SHAPE), 2 * torch.eye(9), k=2), InvalidValueError),
    (lambda: SparseCodePrior.fit(torch.rand(2, *SHAPE), torch.eye(9), k=0), InvalidValueError),
    (lambda: SparseCodePrior.fit(torch.rand(2, *SHAPE), torch.eye(9), k=10), InvalidValueError),
])
def test_bad_input_raises_one_line(call, error):
    with pytest.raises(error) as exc_info:
        call()
    _one_line(exc_info)
