"""Procedural dSprites (genprior.data.sprites) and the disentanglement scores (genprior.evaluate.disentangle),
checked on codes with known answers (the `disent` reference package needs torchvision and lightning, so it is not
installed here)."""

import math

import numpy as np
import pytest
import torch

from genprior.data.sprites import (
    FACTOR_SIZES,
    N_COMBINATIONS,
    factors_to_index,
    index_to_factors,
    render,
    sample_factors,
    sprites_dataset,
)
from genprior.errors import GenpriorError, InvalidValueError, ShapeError
from genprior.evaluate.disentangle import (
    factorvae_score,
    histogram_discretize,
    mig,
    mig_per_factor,
)

BASE = [1, 3, 5, 10, 20]  # ellipse, scale 0.8, orientation 5 (~46 degrees), mid-canvas


@pytest.mark.parametrize("size", [32, 64])
def test_every_factor_changes_the_image_and_rendering_is_exact(size):
    base = torch.tensor([BASE])
    img = render(base, size=size)
    assert img.shape == (1, 1, size, size) and set(img.unique().tolist()) == {0.0, 1.0}
    for k, other in enumerate([2, 0, 0, 25, 2]):
        changed = base.clone()
        changed[0, k] = other
        assert not torch.equal(render(changed, size=size), img), f"factor {k} left the image unchanged"
    f = sample_factors(300, seed=3)
    assert torch.equal(render(f, size=size), render(f, size=size))
    assert torch.equal(render(f[:7], size=size), render(f, size=size)[:7])  # no dependence on the batch


def test_adjacent_positions_and_scales_differ_at_64():
    f = torch.tensor([BASE] * 4)
    f[1, 3] += 1
    f[2, 4] += 1
    f[3, 1] += 1
    img = render(f)
    assert all(not torch.equal(img[0], img[i]) for i in (1, 2, 3))


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_stay_inside_the_canvas(size):
    # the largest scale at every shape, orientation and extreme position: nothing on the border pixels
    s, o, x, y = torch.meshgrid(torch.arange(3), torch.arange(40), torch.tensor([0, 31]), torch.tensor([0, 31]),
                                indexing="ij")
    f = torch.stack([s, torch.full_like(s, 5), o, x, y], -1).view(-1, 5)
    img = render(f, size=size)[:, 0]
    border = torch.cat([img[:, 0], img[:, -1], img[:, :, 0], img[:, :, -1]], 1)
    assert border.sum() == 0 and (img.sum((1, 2)) > 0).all()


def test_grid_index_round_trip_and_dataset():
    idx = torch.tensor([0, 1, 31, 32, 12345, N_COMBINATIONS - 1])
    f = index_to_factors(idx)
    assert torch.equal(factors_to_index(f), idx) and f[-1].tolist() == [s - 1 for s in FACTOR_SIZES]
    assert f[1].tolist() == [0, 0, 0, 0, 1]  # posY runs fastest
    data = sprites_dataset(50, size=32, seed=1)
    assert data.name == "sprites-32" and data.images.shape == (50, 1, 32, 32)
    assert torch.equal(data.images, render(index_to_factors(data.labels), size=32))
    assert torch.equal(sprites_dataset(50, size=32, seed=1).images, data.images)


def test_sprites_errors_are_one_line():
    for call in (lambda: render(torch.tensor([[3, 0, 0, 0, 0]])), lambda: render(torch.zeros(2, 4, dtype=torch.long)),
                 lambda: render(torch.zeros(2, 5)), lambda: render(torch.zeros(1, 5, dtype=torch.long), size=48),
                 lambda: index_to_factors(torch.tensor([N_COMBINATIONS])), lambda: sample_factors(3, seed=-1)):
        with pytest.raises(GenpriorError) as e:
            call()
        assert "\n" not in str(e.value)


# --- scores on hand-built codes ----------------------------------------------------------------------------------

SIZES = list(FACTOR_SIZES)


def _factor_render(f):  # "images" that are the factors themselves: (B, K, 1, 1)
    return f.double()[:, :, None, None]


def _standardised(f):
    sizes = torch.tensor(SIZES[:f.shape[1]], dtype=torch.float64)
    return (f.double() - (sizes - 1) / 2) / torch.sqrt((sizes ** 2 - 1) / 12)  # zero mean, unit variance


def test_perfect_encoder_has_the_exact_expected_mig():
    f = index_to_factors(torch.arange(N_COMBINATIONS)).numpy()  # the full grid: other dims carry exactly 0 nats
    gaps = mig_per_factor(f * 0.37 + 1.0, f)  # any affine map of the factors is a perfect code
    # 20 equal-width bins: 3 and 6 values stay apart (gap 1); 40 orientations pair up (log 20 / log 40); 32 positions
    # fall 2, 2, 1, ... (12 bins of 2, 8 of 1: entropy 4.25 log 2 over 5 log 2 = 0.85)
    expected = [1.0, 1.0, math.log(20) / math.log(40), 0.85, 0.85]
    np.testing.assert_allclose(gaps, expected, atol=1e-9)
    assert mig(f, f) == pytest.approx(np.mean(expected), abs=1e-9)
    with_nuisance = np.concatenate([f, np.zeros((len(f), 2))], 1)  # constant extra dims carry no information
    assert mig(with_nuisance, f) == pytest.approx(np.mean(expected), abs=1e-9)


def test_perfect_encoder_scores_one_and_mixing_codes_scores_far_lower():
    perfect = factorvae_score(lambda x: _standardised(x[:, :, 0, 0]), factor_sizes=SIZES, render=_factor_render,
                              n_variance_estimate=2000, seed=0)
    assert perfect["score"] == 1.0 and perfect["active_dims"] == 5
    # four factors mixed by a Hadamard rotation: every code dim holds 1/4 of every factor's variance -> chance
    h = torch.tensor([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=torch.float64) / 2
    mixed = factorvae_score(lambda x: _standardised(x[:, :, 0, 0]) @ h, factor_sizes=SIZES[:4],
                            render=_factor_render, n_variance_estimate=2000, seed=0)
    assert mixed["score"] < 0.45
    f = index_to_factors(torch.arange(0, N_COMBINATIONS, 7))
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))
    assert mig(_standardised(f).numpy() @ q, f) < 0.4 < mig(f.numpy(), f)


def test_duplicated_dims_give_zero_gap_and_independent_codes_score_chance():
    f = index_to_factors(torch.arange(0, N_COMBINATIONS, 11)).numpy()
    gaps = mig_per_factor(np.concatenate([f[:, :1], f], 1), f)
    assert gaps[0] == pytest.approx(0.0, abs=1e-12) and (gaps[1:] > 0.8).all()
    noise = np.random.default_rng(0).normal(size=(len(f), 5))
    assert mig(noise, f) < 0.01
    gen = torch.Generator().manual_seed(0)
    chance = factorvae_score(lambda x: torch.randn(x.shape[0], 5, generator=gen), factor_sizes=SIZES,
                             render=_factor_render, n_variance_estimate=2000, seed=1)
    assert 0.1 < chance["score"] < 0.35  # 1 / 5 factors


def test_factorvae_prunes_collapsed_dims_and_is_seeded():
    enc = lambda x: torch.cat([_standardised(x[:, :, 0, 0]), 0.01 * torch.ones(x.shape[0], 1)], 1)
    a = factorvae_score(enc, factor_sizes=SIZES, render=_factor_render, n_variance_estimate=500, seed=4)
    assert a["active_dims"] == 5 and a["score"] == 1.0
    rng = torch.Generator()
    noisy = lambda x: torch.randn(x.shape[0], 3, generator=rng.manual_seed(int(x.sum())))
    s1 = factorvae_score(noisy, factor_sizes=SIZES, render=_factor_render, n_variance_estimate=500, seed=4)
    s2 = factorvae_score(noisy, factor_sizes=SIZES, render=_factor_render, n_variance_estimate=500, seed=4)
    assert s1 == s2


def test_score_errors_are_one_line():
    codes, f = np.zeros((10, 3)), np.zeros((10, 2), dtype=int)
    calls = [
        (ShapeError, lambda: mig(codes, f[:9])),
        (InvalidValueError, lambda: mig(codes, f, n_bins=1)),
        (InvalidValueError, lambda: mig(np.full((10, 3), np.nan), f)),
        (ShapeError, lambda: mig(codes[:, :1], f)),
        (InvalidValueError, lambda: mig(codes, f.astype(float))),
        (InvalidValueError, lambda: histogram_discretize(codes, n_bins=0)),
        (InvalidValueError, lambda: factorvae_score(lambda x: x, factor_sizes=[1, 3], render=_factor_render)),
        (InvalidValueError, lambda: factorvae_score(lambda x: x, factor_sizes=SIZES, render=_factor_render, batch=1)),
        (InvalidValueError, lambda: factorvae_score(lambda x: x[:, :, 0, 0] * np.nan, factor_sizes=SIZES,
                                                    render=_factor_render, n_variance_estimate=10)),
    ]
    for kind, call in calls:
        with pytest.raises(kind) as e:
            call()
        assert "\n" not in str(e.value)
