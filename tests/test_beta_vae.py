"""The beta-VAE: the KL weight, the convolutional variant for sprites, the MLP VAE unchanged, and the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from genprior import zoo
from genprior.cli import main
from genprior.data.sprites import sprites_dataset
from genprior.errors import InvalidValueError
from genprior.models.registry import build_model
from genprior.models.vae import VAE
from genprior.train.vae import mean_negative_elbo, train_vae

pytestmark = pytest.mark.usefixtures("one_thread")


def test_mlp_vae_config_and_zoo_model_unchanged():
    assert VAE().config() == {"family": "vae", "output_shape": [1, 28, 28], "hidden": [500, 500], "latent_dim": 20}
    model, cfg = zoo.resolve("mnist-vae")
    assert cfg["architecture"] == model.config() and "arch" not in cfg["architecture"]
    assert list(model.state_dict())[:2] == ["encoder.0.weight", "encoder.0.bias"]


@pytest.mark.parametrize("size,likelihood", [(32, "bernoulli"), (64, "logistic")])
def test_conv_vae_shapes_and_round_trip(size, likelihood):
    torch.manual_seed(0)
    vae = VAE(output_shape=(1, size, size), hidden=(64,), latent_dim=10, arch="conv", channels=8, likelihood=likelihood)
    x = sprites_dataset(4, size=size, seed=0).images
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (4, 10)
    out = vae(mu)
    assert out.shape == (4, 1, size, size) and 0 <= float(out.min()) and float(out.max()) <= 1
    assert vae.log_likelihood(torch.randn(3, 4, 10), x.flatten(1)).shape == (3, 4)  # leading latent dimensions
    rebuilt = build_model(vae.config())
    assert rebuilt.config() == vae.config() and vae.config()["arch"] == "conv"
    with pytest.raises(InvalidValueError):
        VAE(output_shape=(1, 32, 32), arch="conv", channels=0)


def test_beta_weighs_the_kl_term():
    torch.manual_seed(0)
    vae = VAE(output_shape=(1, 32, 32), hidden=(32,), latent_dim=6, arch="conv", channels=4)
    x = sprites_dataset(8, size=32, seed=1).images
    eps = torch.randn(8, 6)
    mu, logvar = vae.encode(x)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    one, four = vae.negative_elbo(x, eps=eps), vae.negative_elbo(x, eps=eps, beta=4.0)
    assert torch.allclose(four - one, 3 * kl, rtol=1e-4, atol=1e-3)


def test_beta_vae_learns_sprites(tmp_path):
    train = sprites_dataset(1536, size=32, seed=2).images
    test = sprites_dataset(256, size=32, seed=3).images
    torch.manual_seed(0)
    vae = VAE(output_shape=(1, 32, 32), hidden=(64,), latent_dim=8, arch="conv", channels=16)
    before = mean_negative_elbo(vae, test, beta=4.0)
    info = train_vae(vae, train, test, out_dir=tmp_path, max_epochs=3, patience=3, batch_size=64, lr=2e-3,
                     progress=False, beta=4.0)
    assert info["beta"] == 4.0 and info["best_test_nelbo"] < 0.4 * before
    saved = json.loads((tmp_path / "model.json").read_text())
    assert saved["beta"] == 4.0 and saved["architecture"]["arch"] == "conv"
    with pytest.raises(InvalidValueError):
        train_vae(vae, train, test, out_dir=tmp_path / "bad", beta=0.0, progress=False)


def test_cli_trains_a_beta_vae_on_sprites_and_refuses_bad_input(tmp_path, cli_error):
    out = tmp_path / "bvae"
    assert main(["train", "vae", "--dataset", "sprites", "--arch", "conv", "--beta", "4", "--images", "256",
                 "--epochs", "1", "--hidden", "16", "--latent-dim", "4", "--channels", "4", "--out", str(out),
                 "--quiet"]) == 0
    cfg = json.loads((out / "model.json").read_text())
    assert cfg["beta"] == 4.0 and cfg["architecture"]["output_shape"] == [1, 32, 32]
    for beta in ("0", "-1", "nan"):
        cli_error(["train", "vae", "--dataset", "sprites", "--beta", beta, "--out", str(tmp_path / "x")])
    assert "sprites" in cli_error(["train", "vae", "--dataset", "mnist", "--size", "32", "--out",
                                   str(tmp_path / "x")])
    cli_error(["train", "vae", "--dataset", "mnist", "--channels", "8", "--out", str(tmp_path / "x")])
    assert "unknown dataset" in cli_error(["train", "vae", "--dataset", "nope", "--out",
                                           str(tmp_path / "x")])
