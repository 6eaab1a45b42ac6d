"""What the attacks and the adversarial-training defense do, on small models trained here (8x8 digits) and the zoo
VAE: each is compared with a baseline that lacks the ingredient the method claims (random noise of the same size,
the clean input, a normally trained model)."""

from __future__ import annotations

import pytest
import torch
from conftest import TinyMLP
from torch import nn

from genprior.data import load_dataset
from genprior.robust.attacks import (
    autoencoder_attack,
    fooling_images,
    pgd,
    train_substitute,
    transfer_attack,
)
from genprior.robust.defenses import adversarial_training
from genprior.train.classifier import train_classifier

torch.set_num_threads(1)


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())


def _random_signs(x: torch.Tensor, eps: float, seed: int = 0) -> torch.Tensor:
    """``x`` plus ``eps`` times random signs, clipped to [0, 1]: noise of the attacks' l_inf size."""
    signs = torch.randint(0, 2, x.shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return (x + eps * signs).clamp(0, 1)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train"), load_dataset("digits", "test")


@pytest.fixture(scope="module")
def target(digits):
    """The black box: an MLP trained on the first 1000 training digits (held-out accuracy about 0.87)."""
    train, test = digits
    model = TinyMLP(seed=0)
    train_classifier(model, train.images[:1000], train.labels[:1000], test.images[:50], test.labels[:50],
                     out_dir=None, epochs=15, batch_size=64, lr=3e-3, progress=False)
    assert _accuracy(model.eval(), test.images, test.labels) > 0.8
    return model


class Shifted(nn.Module):
    """A black box that answers class ``c + 1 (mod 10)`` where ``model`` answers ``c``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).roll(1, dims=1)


def test_the_substitute_learns_the_black_boxs_answers_not_the_true_labels(digits, target):
    """Trained only on what the black box says, a substitute copies it, even when it is wrong on every image."""
    train, test = digits
    box = Shifted(target).eval()
    substitute = train_substitute(box, train.images[1000:], substitute=TinyMLP(seed=1), epochs=20, batch_size=50,
                                  lr=3e-3)
    with torch.no_grad():
        agree = float((substitute(test.images).argmax(1) == box(test.images).argmax(1)).double().mean())
    assert agree > 0.75, agree
    assert _accuracy(substitute, test.images, test.labels) < 0.15


@pytest.mark.parametrize("attack, options", [("fgsm", {}), ("pgd", {"steps": 10})])
def test_transfer_examples_fool_the_black_box_far_more_than_noise_of_their_size(digits, target, attack, options):
    """Crafted on a substitute trained from 500 of the target's answers (never from its gradients), eps = 0.2
    examples cut the target's held-out accuracy from about 0.87 to below 0.2; random signs of the same l_inf size
    leave it near 0.84."""
    train, test = digits
    substitute = train_substitute(target, train.images[1000:], substitute=TinyMLP(seed=1), epochs=20, batch_size=50,
                                  lr=3e-3)
    x, y, eps = test.images, test.labels, 0.2
    xa = transfer_attack(substitute, x, y, eps=eps, attack=attack, **options)
    assert xa.shape == x.shape and float((xa - x).abs().max()) <= eps + 1e-6
    assert 0 <= float(xa.min()) and float(xa.max()) <= 1
    clean, noise, adversarial = _accuracy(target, x, y), _accuracy(target, _random_signs(x, eps), y), _accuracy(target, xa, y)
    assert clean > 0.8 and noise > 0.7, (clean, noise)
    assert adversarial < noise - 0.4, (adversarial, noise)


@pytest.fixture(scope="module")
def vae_pairs():
    """The zoo MNIST VAE and 8 bundled test digits, each paired with a later digit of another class."""
    from genprior import zoo

    vae = zoo.load("mnist-vae").eval()
    data = load_dataset("mnist-bundled", "test")
    labels = data.labels
    picks = [next(j for j in range(8, 60) if labels[j] != labels[i]) for i in range(8)]
    return vae, data.images[:8], data.images[picks]


def _reconstruction(vae, x: torch.Tensor) -> torch.Tensor:
    """Decoder of the posterior mean, written out here (not the module's ``reconstruct``)."""
    with torch.no_grad():
        mu, _ = vae.encode(x)
        return vae(mu).view_as(x)


def _distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).pow(2).flatten(1).mean(1)


@pytest.mark.parametrize("loss", ["latent", "output"])
def test_autoencoder_attack_moves_the_reconstruction_to_the_target_within_its_budget(vae_pairs, loss):
    """eps = 0.2: the reconstruction of the attacked digit lands near the other digit's (error per pixel to the
    target about 0.135 -> 0.04), where random signs of the same size leave it (about 0.12)."""
    vae, x, x_target = vae_pairs
    xa = autoencoder_attack(vae, x, x_target, eps=0.2, c=0.1, steps=100, lr=0.01, loss=loss)
    assert xa.shape == x.shape and float((xa - x).abs().max()) <= 0.2 + 1e-6
    assert 0 <= float(xa.min()) and float(xa.max()) <= 1
    clean = _distance(_reconstruction(vae, x), x_target).mean()
    noise = _distance(_reconstruction(vae, _random_signs(x, 0.2)), x_target).mean()
    attacked = _distance(_reconstruction(vae, xa), x_target)
    assert float(attacked.mean()) < 0.5 * float(min(clean, noise)), (float(attacked.mean()), float(clean), float(noise))
    assert float((attacked < _distance(_reconstruction(vae, x), x_target)).double().mean()) == 1.0
    # the reconstruction left the source's: it is now nearer the target than the source's own reconstruction
    # (measured 0.08 from the source's reconstruction, 0.04 from the target)
    assert float(_distance(_reconstruction(vae, xa), _reconstruction(vae, x)).mean()) > 1.3 * float(attacked.mean())


def test_autoencoder_attack_penalty_trades_perturbation_size_for_fit(vae_pairs):
    """The objective's ``c ||d||^2``: a 100 times larger c gives a far smaller perturbation and a worse fit."""
    vae, x, x_target = vae_pairs
    loose = autoencoder_attack(vae, x, x_target, eps=0.2, c=0.1, steps=60, lr=0.01)
    tight = autoencoder_attack(vae, x, x_target, eps=0.2, c=10.0, steps=60, lr=0.01)

    def size(xa):
        return float((xa - x).flatten(1).norm(dim=1).mean())

    assert size(tight) < 0.5 * size(loose), (size(tight), size(loose))
    fit = {k: float(_distance(_reconstruction(vae, v), x_target).mean()) for k, v in (("loose", loose), ("tight", tight))}
    assert fit["loose"] < fit["tight"], fit


def test_fooling_images_are_classified_as_asked_yet_are_no_digits(digits, target):
    """Ten steps of 0.05 from grey noise: every image is given its requested class with probability above 0.9,
    the noise itself mostly was not, and every image lies farther from its nearest training digit than 1.5 times
    the median such distance of held-out digits (measured: at least 2.1 against a median of 1.15)."""
    train, test = digits
    targets = torch.arange(10).repeat(3)
    x, noise = fooling_images(target, targets, shape=(1, 8, 8), eps=0.05, steps=10, seed=0)
    assert x.shape == (30, 1, 8, 8) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert float((x - noise).abs().max()) <= 10 * 0.05 + 1e-6  # each step moves a pixel by at most eps
    with torch.no_grad():
        probs, noise_probs = target(x).softmax(1), target(noise).softmax(1)
    assert torch.equal(probs.argmax(1), targets)
    assert float(probs.gather(1, targets[:, None]).min()) > 0.9
    assert float((noise_probs.argmax(1) == targets).double().mean()) < 0.3
    nearest = torch.cdist(x.flatten(1), train.images.flatten(1)).min(1).values
    real_nearest = torch.cdist(test.images.flatten(1), train.images.flatten(1)).min(1).values
    assert float(nearest.min()) > 1.5 * float(real_nearest.median()), (float(nearest.min()), float(real_nearest.median()))


def test_one_fooling_step_suffices_for_a_linear_classifier(digits):
    train, test = digits
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    train_classifier(linear, train.images, train.labels, test.images[:50], test.labels[:50], out_dir=None, epochs=10,
                     batch_size=64, lr=1e-2, progress=False)
    targets = torch.arange(10).repeat(3)
    x, noise = fooling_images(linear.eval(), targets, shape=(1, 8, 8), eps=0.3, steps=1, seed=0)
    assert float((x - noise).abs().max()) <= 0.3 + 1e-6
    assert _accuracy(linear, x, targets) >= 0.9 and _accuracy(linear, noise, targets) < 0.3


def test_adversarial_training_buys_robustness_that_normal_training_with_the_same_budget_lacks(digits, tmp_path):
    """Ten epochs each, the same MLP and seed: against 20-step PGD at eps = 0.15 the normally trained model keeps
    about 0.15 of the held-out digits, the PGD-trained one about 0.5, at a small cost in clean accuracy."""
    train, test = digits
    x, y, eps = test.images, test.labels, 0.15
    options = {"epochs": 10, "batch_size": 64, "lr": 3e-3, "progress": False}
    plain, robust = TinyMLP(seed=0), TinyMLP(seed=0)
    train_classifier(plain, train.images, train.labels, x[:50], y[:50], out_dir=tmp_path / "plain", **options)
    adversarial_training(robust, train.images, train.labels, x[:50], y[:50], eps=eps, steps=5,
                         out_dir=tmp_path / "adv", **options)
    plain_pgd = _accuracy(plain.eval(), pgd(plain, x, y, eps=eps, steps=20, seed=1), y)
    robust_pgd = _accuracy(robust.eval(), pgd(robust, x, y, eps=eps, steps=20, seed=1), y)
    assert robust_pgd > plain_pgd + 0.2, (plain_pgd, robust_pgd)
    assert _accuracy(robust, x, y) > 0.75
