"""Bad input to the Python API gets a genprior error naming the problem, before any work (issue 32, item 4)."""

import numpy as np
import pytest
import torch
from torch import nn

from genprior import zoo
from genprior.errors import (
    SEED_LIMIT,
    CheckpointError,
    GeneratorError,
    GenpriorError,
    InvalidValueError,
    check_seed,
)
from genprior.evaluate.judge import judge_generator
from genprior.evaluate.metrics import ratio_of_means_ci
from genprior.evaluate.ood import vae_log_likelihood
from genprior.evaluate.reconstruction import invert
from genprior.models import VAE, load_model, save_model
from genprior.models.walks import latent_walk
from genprior.operators import (
    Gaussian,
    Identity,
    Inpaint,
    Magnitude,
    Sign,
    make_operator,
)
from genprior.robust.attacks.fooling import fooling_images
from genprior.robust.attacks.pgd import pgd
from genprior.robust.defenses import ProjectionDefense
from genprior.solvers import csgm, csgm_fast
from genprior.solvers.dip import deep_image_prior
from genprior.solvers.one_bit import one_bit_csgm

SHAPE = (1, 4, 4)


class TinyGenerator(nn.Module):
    """``z (B, k_in) -> sigmoid(W z) (B, 1, 4, 4)`` claiming ``latent_dim = k``; ``output`` bends the contract:
    ``"tuple"`` returns ``(images, z)``, ``"uint8"`` returns 8-bit images."""

    def __init__(self, k: int = 3, k_in: int = 3, output: str = "images"):
        super().__init__()
        self.latent_dim, self.output_shape, self.output = k, SHAPE, output
        self.linear = nn.Linear(k_in, 16)

    def forward(self, z):
        x = torch.sigmoid(self.linear(z)).view(-1, *SHAPE)
        if self.output == "tuple":
            return x, z
        if self.output == "uint8":
            return (x * 255).to(torch.uint8)
        return x


def images(n: int = 2) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(0))


def gaussian() -> Gaussian:
    return Gaussian(m=10, shape=SHAPE, seed=1)


def signs() -> tuple[Sign, torch.Tensor]:
    op = Sign(m=10, shape=SHAPE, seed=1)
    return op, op.measure(images())


# --- seeds: one rule (integers in 0 .. 2^63 - 1) wherever the API takes one -------------------------------------
BAD_SEEDS = [2 ** 64, SEED_LIMIT, -1, 1.5, "a", True, None, 2.0]

SEED_TAKERS = {
    "Gaussian": lambda s: Gaussian(m=3, shape=SHAPE, seed=s),
    "Inpaint": lambda s: Inpaint(shape=SHAPE, keep=0.5, seed=s),
    "Sign": lambda s: Sign(m=3, shape=SHAPE, seed=s),
    "Magnitude": lambda s: Magnitude(m=3, shape=SHAPE, seed=s),
    "make_operator": lambda s: make_operator("cs", shape=SHAPE, m=3, seed=s),
    "measure": lambda s: Gaussian(m=3, shape=SHAPE, noise_std=0.1).measure(images(), seed=s),
    "measure-noiseless": lambda s: Gaussian(m=3, shape=SHAPE).measure(images(), seed=s),
    "Sign.measure": lambda s: Sign(m=3, shape=SHAPE, noise_std=0.1).measure(images(), seed=s),
    "add_noise": lambda s: Identity(shape=SHAPE, noise_std=0.1).add_noise(torch.zeros(1, 16), seed=s),
    "csgm": lambda s: csgm(TinyGenerator(), gaussian(), gaussian().measure(images()), steps=1, seed=s),
    "csgm_fast": lambda s: csgm_fast(TinyGenerator(), gaussian(), gaussian().measure(images()), seed=s),
    "one_bit_csgm": lambda s: one_bit_csgm(TinyGenerator(), *signs(), steps=1, seed=s),
    "deep_image_prior": lambda s: deep_image_prior(gaussian(), gaussian().measure(images()), steps=1,
                                                                 upsamplings=1, seed=s),
    "invert": lambda s: invert(TinyGenerator(), images(), seed=s),
    "judge_generator": lambda s: judge_generator(TinyGenerator(), nn.Linear(16, 2), images(4), n_samples=2, n_inverted=1,
                                                 seed=s),
    "ProjectionDefense": lambda s: ProjectionDefense(nn.Linear(16, 2), TinyGenerator(), seed=s),
    "latent_walk": lambda s: latent_walk(TinyGenerator(), "linear", seed=s),
    "ratio_of_means_ci": lambda s: ratio_of_means_ci(torch.ones(4), torch.ones(4), seed=s),
    "vae_log_likelihood": lambda s: vae_log_likelihood(VAE(output_shape=SHAPE, hidden=(4,), latent_dim=2), images(),
                                                       seed=s),
    "fooling_images": lambda s: fooling_images(nn.Sequential(nn.Flatten(), nn.Linear(16, 2)), [0], shape=SHAPE, seed=s),
    "pgd": lambda s: pgd(nn.Sequential(nn.Flatten(), nn.Linear(16, 2)), images(), torch.tensor([0, 1]), eps=0.1,
                         steps=1, seed=s),
}


@pytest.mark.parametrize("seed", BAD_SEEDS, ids=repr)
@pytest.mark.parametrize("where", SEED_TAKERS)
def test_a_seed_out_of_range_or_not_an_integer_is_refused(where, seed):
    if seed is None and where in ("measure", "measure-noiseless", "Sign.measure", "add_noise"):
        pytest.skip("measure(seed=None) is the documented default (seed 0)")
    with pytest.raises(InvalidValueError, match=r"seed must be an integer in 0 \.\. 2\^63 - 1"):
        SEED_TAKERS[where](seed)


@pytest.mark.parametrize("where", ["Gaussian", "measure", "csgm", "deep_image_prior", "latent_walk", "pgd"])
def test_the_largest_seed_and_numpy_integers_are_accepted(where):
    SEED_TAKERS[where](SEED_LIMIT - 1)
    SEED_TAKERS[where](np.int64(7))


def test_deep_image_prior_refuses_images_too_small_for_its_upsamplings():
    op = gaussian()
    with pytest.raises(InvalidValueError, match="start from a 1x1 input; use fewer upsamplings"):
        deep_image_prior(op, op.measure(images()), steps=1, upsamplings=2)


def test_check_seed_keeps_the_value_and_numpy_seeds_give_the_same_numbers():
    assert check_seed("seed", np.uint64(SEED_LIMIT - 1)) == SEED_LIMIT - 1
    assert type(check_seed("seed", np.int32(3))) is int
    assert torch.equal(Gaussian(m=3, shape=SHAPE, seed=np.int64(5)).A, Gaussian(m=3, shape=SHAPE, seed=5).A)


def test_measure_refuses_a_generator_that_is_not_a_torch_generator():
    op = Gaussian(m=3, shape=SHAPE, noise_std=0.1)
    with pytest.raises(InvalidValueError, match="generator must be a torch.Generator, got int"):
        op.measure(images(), generator=5)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(op.measure(images(), generator=g1), op.measure(images(), seed=3))
    assert torch.equal(op.measure(images(), generator=g2), op.measure(images(), seed=3))


# --- the generator contract, checked once by every latent solver -------------------------------------------------
BAD_GENERATORS = {
    "latent_dim-mismatch": (lambda: TinyGenerator(k=5, k_in=3), r"latent_dim = 5 match its input layer"),
    "tuple": (lambda: TinyGenerator(output="tuple"), "returns a tuple, not a tensor"),
    "uint8": (lambda: TinyGenerator(output="uint8"), "returns torch.uint8 values"),
}

GENERATOR_USERS = {
    "csgm": lambda g: csgm(g, gaussian(), gaussian().measure(images()), steps=1),
    "csgm_fast": lambda g: csgm_fast(g, gaussian(), gaussian().measure(images())),
    "csgm_fast-reg": lambda g: csgm_fast(g, gaussian(), gaussian().measure(images()), reg=0.0),
    "one_bit_csgm": lambda g: one_bit_csgm(g, *signs(), steps=1),
    "invert": lambda g: invert(g, images()),
    "invert-csgm": lambda g: invert(g, images(), method="csgm", steps=1),
    "ProjectionDefense": lambda g: ProjectionDefense(nn.Linear(16, 2), g),
    "judge_generator": lambda g: judge_generator(g, nn.Linear(16, 2), images(4), n_samples=2, n_inverted=1),
}


@pytest.mark.parametrize("bad", BAD_GENERATORS)
@pytest.mark.parametrize("where", GENERATOR_USERS)
def test_a_generator_breaking_the_contract_is_refused_by_name(where, bad):
    make, fragment = BAD_GENERATORS[bad]
    with pytest.raises(GeneratorError, match=fragment):
        GENERATOR_USERS[where](make())


def test_the_generator_check_leaves_a_valid_generator_as_it_was():
    g = TinyGenerator().train()
    rec = csgm(g, gaussian(), gaussian().measure(images()), steps=3, restarts=2)
    assert g.training and all(p.requires_grad for p in g.parameters())
    assert rec.x.dtype == torch.float32 and bool(torch.isfinite(rec.x).all())


# --- an operator must be an Operator ------------------------------------------------------------------------------
OPERATOR_TAKERS = {
    "csgm": lambda a, y: csgm(TinyGenerator(), a, y, steps=1),
    "csgm_fast": lambda a, y: csgm_fast(TinyGenerator(), a, y),
    "deep_image_prior": lambda a, y: deep_image_prior(a, y, steps=1, upsamplings=1),
    "one_bit_csgm": lambda a, y: one_bit_csgm(TinyGenerator(), a, y.sign(), steps=1),
}


@pytest.mark.parametrize("where", OPERATOR_TAKERS)
def test_a_matrix_in_place_of_an_operator_is_refused(where):
    op = gaussian()
    with pytest.raises(InvalidValueError, match="got Tensor"):
        OPERATOR_TAKERS[where](op.A, op.measure(images()))


# --- noise levels and measurements that float32 cannot hold --------------------------------------------------------
@pytest.mark.parametrize("noise_std, fragment", [
    (1e300, "float32 range"), (float("inf"), "noise_std must be a finite number"),
    (float("nan"), "noise_std must be a finite number"), (-0.1, "noise_std must be a finite number >= 0"),
    ("0.1", "noise_std must be a finite number"), (True, "noise_std must be a finite number"),
])
@pytest.mark.parametrize("make", [
    lambda s: Gaussian(m=3, shape=SHAPE, noise_std=s), lambda s: Identity(shape=SHAPE, noise_std=s),
    lambda s: Sign(m=3, shape=SHAPE, noise_std=s), lambda s: make_operator("inpaint", shape=SHAPE, noise_std=s),
], ids=["Gaussian", "Identity", "Sign", "make_operator"])
def test_a_noise_level_beyond_float32_or_not_finite_is_refused_at_construction(make, noise_std, fragment):
    with pytest.raises(InvalidValueError, match=fragment):
        make(noise_std)


@pytest.mark.parametrize("op, x", [
    (Identity(shape=SHAPE, noise_std=3e38, noise="entry"), images()),  # noise entries beyond float32's 3.4e38
    (Gaussian(m=10, shape=SHAPE, noise_std=3e38, noise="entry"), images()),
    (Gaussian(m=10, shape=SHAPE), torch.full((1, *SHAPE), 3e38)),  # finite images whose measurements overflow
    (Sign(m=10, shape=SHAPE, noise_std=3e38, noise="entry"), images()),
], ids=["identity-noise", "gaussian-noise", "gaussian-images", "sign-noise"])
def test_measurements_that_overflow_float32_are_refused(op, x):
    with pytest.raises(InvalidValueError, match="NaN or infinite measurements in torch.float32"):
        op.measure(x, seed=0)


def test_the_largest_noise_level_float32_holds_still_measures():
    y = Gaussian(m=10, shape=SHAPE, noise_std=1e30).measure(images(), seed=0)
    assert bool(torch.isfinite(y).all()) and float(y.abs().max()) > 1e28


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("where", ["csgm", "csgm_fast", "deep_image_prior", "one_bit_csgm"])
def test_measurements_with_nan_or_inf_are_refused_by_every_solver(where, bad):
    op = gaussian()
    y = op.measure(images())
    y[0, 3] = bad
    with pytest.raises(InvalidValueError, match="NaN or infinite"):
        OPERATOR_TAKERS[where](op, y) if where != "one_bit_csgm" else one_bit_csgm(
            TinyGenerator(), Sign(m=10, shape=SHAPE, seed=1), y, steps=1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_images_with_nan_or_inf_are_refused(bad):
    x = images()
    x[1, 0, 2, 2] = bad
    with pytest.raises(InvalidValueError, match="images contain NaN or infinite"):
        gaussian().measure(x)
    with pytest.raises(InvalidValueError, match="outside it or NaN"):
        invert(TinyGenerator(), x)


# --- models with NaN or infinite weights are refused at load -------------------------------------------------------
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("load", [load_model, lambda p: zoo.resolve(str(p))], ids=["load_model", "zoo.resolve"])
def test_a_model_with_non_finite_weights_is_refused_at_load(tmp_path, load, bad):
    vae = VAE(output_shape=SHAPE, hidden=(4,), latent_dim=2)
    names = list(vae.state_dict())
    with torch.no_grad():
        vae.state_dict()[names[2]].view(-1)[1] = bad  # the third tensor: the message names it, not the first
    save_model(tmp_path / "m", vae)
    with pytest.raises(CheckpointError) as err:
        load(tmp_path / "m.safetensors")
    message = str(err.value)
    assert "m.safetensors" in message and f"first in {names[2]}: 1 of" in message
    assert "\n" not in message


def test_a_model_with_finite_weights_still_loads(tmp_path):
    vae = VAE(output_shape=SHAPE, hidden=(4,), latent_dim=2)
    save_model(tmp_path / "m", vae)
    back, _ = load_model(tmp_path / "m.safetensors")
    for (name, a), b in zip(vae.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a, b), name


def test_every_error_here_is_a_genprior_error():
    for kind in (InvalidValueError, GeneratorError, CheckpointError):
        assert issubclass(kind, GenpriorError)
