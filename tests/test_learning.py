"""Each trainer improves its objective on a small budget, measured in the test, on held-out data where there is one.

The measures are computed here, not read from the trainers' own histories: an ELBO with a closed-form KL from
``torch.distributions``, distances to the known modes of a 2-D mixture, BEGAN's convergence measure from the
autoencoder's raw output, a classifier's accuracy by arg-max.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import TinyMLP
from torch.distributions import Normal, kl_divergence

from genprior.data import load_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits: 1500 training images, 297 held out (the registry's split)."""
    return load_dataset("digits", "train"), load_dataset("digits", "test")


def _elbo(vae, x: torch.Tensor, samples: int = 16) -> float:
    """Mean ELBO (nats per image) of a Bernoulli-decoder VAE, written out here: the reconstruction term by
    ``binary_cross_entropy_with_logits`` averaged over ``samples`` posterior draws, the KL by ``torch.distributions``."""
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        q = Normal(mu, (0.5 * logvar).exp())
        kl = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1)
        log_px = torch.zeros(len(x))
        for _ in range(samples):
            z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g)
            log_px -= F.binary_cross_entropy_with_logits(vae.decode_logits(z), x.flatten(1), reduction="none").sum(1)
    return float((log_px / samples - kl).mean())


def test_vae_training_raises_the_held_out_elbo_past_the_best_factorised_model(digits, tmp_path):
    """20 epochs on 1000 digits (early stopping on 500 others) lift the ELBO of the 297 held-out digits by about
    22 nats, and past the log-likelihood of the best pixel-independent Bernoulli model (each pixel's training mean),
    which no latent-free model can beat: the VAE has learned how pixels vary together (measured: -24.8 against
    -26.5 nats; untrained -48.4)."""
    from genprior.models.vae import VAE
    from genprior.train.vae import train_vae

    train, test = digits
    torch.manual_seed(0)
    vae = VAE(output_shape=(1, 8, 8), hidden=(64,), latent_dim=4)
    before = _elbo(vae, test.images)
    train_vae(vae, train.images[:1000], train.images[1000:], out_dir=tmp_path, max_epochs=20, patience=100,
              batch_size=50, lr=3e-3, progress=False)
    after = _elbo(vae.eval(), test.images)
    p = train.images[:1000].mean(0).flatten().clamp(1e-4, 1 - 1e-4)
    factorised = -float(F.binary_cross_entropy(p.expand(len(test.images), -1), test.images.flatten(1),
                                               reduction="none").sum(1).mean())
    assert after > before + 15.0, (before, after)
    assert after > factorised + 0.8, (after, factorised)


def test_gan_training_brings_samples_onto_the_modes_of_the_ring(tmp_path):
    """250 steps of the GAN game on PacGAN's ring (8 modes, std 0.01) pull the generator's samples from about
    0.82 from the nearest mode to about 0.2, and onto the unit circle (mean | |x| - 1 |: 0.81 -> 0.07); both measured
    here from the mixture's known modes."""
    from genprior.data.toy2d import ring
    from genprior.models.mlp import MLPDiscriminator, MLPGenerator
    from genprior.train.gan import sample, train_gan

    mix = ring()
    data = mix.sample(3200, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    G = MLPGenerator(latent_dim=2, hidden=(64, 64))
    D = MLPDiscriminator(hidden=(64, 64), pieces=1)

    def measures():
        x = sample(G, 2000, rng=torch.Generator().manual_seed(5))
        nearest = torch.cdist(x.double(), mix.modes.double()).min(1).values
        return float(nearest.mean()), float((x.double().norm(dim=1) - 1).abs().mean())

    near0, radius0 = measures()
    train_gan(G, D, data, epochs=5, batch_size=64, lr=1e-3, out_dir=tmp_path, samples_every=0, progress=False)
    near1, radius1 = measures()
    assert near0 > 0.6 and near1 < 0.45 * near0, (near0, near1)
    assert radius1 < 0.25 * radius0, (radius0, radius1)


def test_began_training_lowers_its_convergence_measure_and_moves_samples_toward_the_data(digits):
    """One epoch (23 steps) on the 8x8 digits: M_global = L(x) + |gamma L(x) - L(G(z))|, computed here on the
    held-out digits and fresh latents, falls from about 0.61 to 0.26, and the generated images come closer to
    their nearest training digit (l2 distance about 3.1 -> 2.1)."""
    from genprior.models.began import BEGANDiscriminator, BEGANGenerator
    from genprior.train.began import train_began

    train, test = digits
    gamma = 0.5
    torch.manual_seed(0)
    G = BEGANGenerator(latent_dim=8, output_shape=(1, 8, 8), channels=4)
    D = BEGANDiscriminator(input_shape=(1, 8, 8), hidden_dim=8, channels=4)
    z = torch.randn(300, 8, generator=torch.Generator().manual_seed(7))

    def measures():
        with torch.no_grad():
            real, fake = test.images, G.raw(z)
            l_real, l_fake = float((D(real) - real).abs().mean()), float((D(fake) - fake).abs().mean())
            nearest = torch.cdist(G(z).flatten(1), train.images.flatten(1)).min(1).values
        return l_real + abs(gamma * l_real - l_fake), float(nearest.mean())

    m0, dist0 = measures()
    train_began(G, D, train.images, epochs=1, batch_size=64, lr=2e-3, gamma=gamma, lambda_k=0.01, progress=False)
    G.eval()
    D.eval()
    m1, dist1 = measures()
    assert m1 < 0.7 * m0, (m0, m1)
    assert dist1 < 0.85 * dist0, (dist0, dist1)


def test_classifier_training_lifts_held_out_accuracy_far_above_chance(digits, tmp_path):
    """Ten epochs of Adam on the digits: accuracy on the 297 held-out digits, counted here by arg-max, goes from
    chance (about 0.1) to about 0.9."""
    from genprior.train.classifier import train_classifier

    train, test = digits
    model = TinyMLP(seed=0)

    def held_out_accuracy():
        with torch.no_grad():
            return float((model.eval()(test.images).argmax(1) == test.labels).double().mean())

    before = held_out_accuracy()
    train_classifier(model, train.images, train.labels, test.images[:50], test.labels[:50], out_dir=tmp_path,
                     epochs=10, batch_size=64, lr=3e-3, progress=False)
    after = held_out_accuracy()
    assert before < 0.25, before
    assert after > 0.8 and after > before + 0.55, (before, after)
