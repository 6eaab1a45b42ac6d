"""Deep Image Prior: the batched decoders are independent per image, and the fit recovers images no baseline does."""

import json

import pytest
import torch

from genprior.cli import main
from genprior.data import load_dataset
from genprior.errors import InvalidValueError
from genprior.models.dip import DecoderBatch
from genprior.operators import Gaussian, Identity, Sign
from genprior.solvers import deep_image_prior, lasso


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist-bundled", "test").images[:4]


def test_decoder_i_does_not_depend_on_the_batch_it_is_in():
    batch = DecoderBatch(3, channels=8, input_channels=4, seed=5)
    single = DecoderBatch(1, channels=8, input_channels=4, seed=5, first=1)
    for w3, w1 in zip(batch.weights, single.weights):  # image 1's initial weights, bit for bit
        rows = w1.shape[0]
        assert torch.equal(w3[rows:2 * rows], w1)
    assert torch.equal(batch.input[:, 4:8], single.input)
    with torch.no_grad():
        three, alone = batch(), single()
    assert three.shape == (3, 1, 28, 28) and 0 <= float(three.min()) and float(three.max()) <= 1
    assert torch.allclose(alone[0], three[1], atol=1e-6)  # grouped and plain convolutions round alike to 1e-6
    assert not torch.allclose(three[0], three[1], atol=1e-3)  # each image has its own weights


def test_odd_sizes_and_colour_images_come_out_exactly_shaped():
    out = DecoderBatch(2, output_shape=(3, 13, 10), channels=4, input_channels=2, upsamplings=3)()
    assert out.shape == (2, 3, 13, 10)


def test_batched_fit_equals_separate_fits(digits):
    op = Gaussian(m=100, noise_std=0.1, seed=0)
    y = op.measure(digits[:2], seed=1)
    together = deep_image_prior(op, y, steps=30, channels=8, max_batch=2)
    apart = deep_image_prior(op, y, steps=30, channels=8, max_batch=1)
    assert torch.allclose(together.x, apart.x, atol=1e-4)
    assert together.history[-1] < 0.2 * together.history[0]  # the fit does descend


def test_compressed_sensing_beats_the_lasso_by_far(digits):
    op = Gaussian(m=200, noise_std=0.1, seed=0)
    y = op.measure(digits, seed=1)
    x = deep_image_prior(op, y, steps=300, channels=16).x
    dip_error = float((x - digits).pow(2).mean())
    lasso_error = float((lasso(op, y).x - digits).pow(2).mean())
    assert dip_error < 0.2 * lasso_error, (dip_error, lasso_error)


def test_denoising_stops_well_before_the_noise(digits):
    op = Identity(noise_std=0.1, noise="entry")
    y = op.measure(digits, seed=1)
    noisy_error = float((y.view_as(digits) - digits).pow(2).mean())  # about sigma^2 = 0.01
    x = deep_image_prior(op, y, steps=300, channels=16).x
    assert float((x - digits).pow(2).mean()) < 0.4 * noisy_error


@pytest.mark.parametrize("options, message", [({"steps": 0}, "steps must be a positive integer"),
                                              ({"max_batch": 2.5}, "max_batch must be a positive integer"),
                                              ({"lr": float("nan")}, "finite lr > 0"),
                                              ({"lr": "0.1"}, "finite lr > 0"),
                                              ({"channels": 0}, "channels must be a positive integer")])
def test_bad_options_are_named(options, message):
    op = Gaussian(m=10, seed=0)
    with pytest.raises(InvalidValueError, match=message):
        deep_image_prior(op, torch.zeros(1, 10), **options)


def test_bad_measurements_and_operators_are_refused():
    op = Gaussian(m=10, seed=0)
    with pytest.raises(InvalidValueError, match="NaN"):
        deep_image_prior(op, torch.full((1, 10), float("nan")))
    with pytest.raises(InvalidValueError, match="not differentiable"):
        deep_image_prior(Sign(m=10, seed=0), torch.ones(1, 10))


def test_cli_recover_method_dip(tmp_path):
    out = tmp_path / "r.json"
    code = main(["recover", "--task", "denoise", "--method", "dip", "--steps", "20", "--dataset", "mnist-bundled",
                 "--indices", "0:2", "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["method"] == "dip" and result["options"]["steps"] == 20 and result["options"]["lr"] == 0.1
    assert main(["recover", "--task", "denoise", "--method", "dip", "--restarts", "3", "--dataset",
                 "mnist-bundled"]) == 2
