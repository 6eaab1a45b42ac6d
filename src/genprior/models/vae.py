"""The CSGM MNIST VAE (Kingma & Welling 2014; Bora et al. 2017, Sec. 6.1): 784-500-500-k, softplus, sigmoid output.

Its decoder is Bernoulli, as in CSGM, or a discretized logistic over the 256 levels of an 8-bit image (Salimans et
al. 2017, PixelCNN++, Sec. 2.1, one logistic per pixel): the likelihood of an 8-bit image is then a probability,
``-log2 p(x)`` a length in bits that a compressor's can be set against (:mod:`genprior.evaluate.ood`).
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from genprior.errors import ShapeError, check_sizes, unknown

LIKELIHOODS = ("bernoulli", "logistic")
LEVELS = 255  # an 8-bit image: intensities k / 255
MIN_LOG_SCALE = -7.0  # the logistic's scale stays above e^-7 (a quarter of a level): a finite density on every level


class VAE(nn.Module):
    """Fully connected VAE with a Bernoulli decoder (``likelihood="bernoulli"``, CSGM's) or a discretized logistic
    one over 8-bit levels (``"logistic"``).

    The module is itself a generator: ``vae(z)`` maps ``(B, latent_dim)`` to images ``(B, C, H, W)``
    in [0, 1] through the decoder (the Bernoulli mean, or the logistic's location), so it plugs into every
    solver. ``encode(x)`` returns the posterior mean and log-variance, ``(B, latent_dim)`` each.
    """

    def __init__(self, *, output_shape=(1, 28, 28), hidden=(500, 500), latent_dim: int = 20,
                 likelihood: str = "bernoulli"):
        super().__init__()
        check_sizes("VAE", output_shape=tuple(output_shape), latent_dim=latent_dim, hidden=tuple(hidden))
        if likelihood not in LIKELIHOODS:
            raise unknown("VAE likelihood", likelihood, LIKELIHOODS)
        self.output_shape = tuple(int(s) for s in output_shape)
        self.latent_dim = int(latent_dim)
        self.hidden = tuple(int(h) for h in hidden)
        self.likelihood = likelihood
        n = math.prod(self.output_shape)
        enc, dec = [], []
        sizes = (n, *self.hidden)
        for a, b in itertools.pairwise(sizes):
            enc += [nn.Linear(a, b), nn.Softplus()]
        self.encoder = nn.Sequential(*enc)
        self.to_mu = nn.Linear(sizes[-1], self.latent_dim)
        self.to_logvar = nn.Linear(sizes[-1], self.latent_dim)
        rev = (self.latent_dim, *reversed(self.hidden))
        for a, b in itertools.pairwise(rev):
            dec += [nn.Linear(a, b), nn.Softplus()]
        # the logistic decoder also gives each pixel its log-scale
        dec += [nn.Linear(rev[-1], n if likelihood == "bernoulli" else 2 * n)]
        self.decoder = nn.Sequential(*dec)

    def config(self) -> dict:
        cfg = {"family": "vae", "output_shape": list(self.output_shape), "hidden": list(self.hidden),
               "latent_dim": self.latent_dim}
        return cfg if self.likelihood == "bernoulli" else {**cfg, "likelihood": self.likelihood}

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x.flatten(1))
        return self.to_mu(h), self.to_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of the image, ``(B, n)``: the Bernoulli logits, or the logistic's location before the sigmoid."""
        return self.decoder(z)[..., :math.prod(self.output_shape)]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z)).view(-1, *self.output_shape)

    def log_likelihood(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(x | z)`` in nats, summed over pixels: ``z`` ``(..., latent_dim)``, ``x`` ``(..., n)`` in [0, 1]
        (broadcast against ``z``'s leading dimensions); returns their leading shape.

        Bernoulli: ``-BCE(logits, x)`` of the intensities as they are. Logistic: ``x`` is read as the 8-bit image
        ``round(255 x) / 255`` and each level ``k / 255`` gets the logistic's mass on ``[x - 1/510, x + 1/510]``,
        the end levels the tails beyond (the masses of all 256 levels sum to 1).
        """
        out = self.decoder(z)
        n = math.prod(self.output_shape)
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x.expand_as(out), reduction="none").sum(-1)
        loc, log_scale = torch.sigmoid(out[..., :n]), out[..., n:].clamp(min=MIN_LOG_SCALE)
        x = (x * LEVELS).round() / LEVELS
        inv = torch.exp(-log_scale)
        upper = (x - loc + 0.5 / LEVELS) * inv  # the level's edges in the logistic's standard units
        lower = (x - loc - 0.5 / LEVELS) * inv
        # log(sigmoid(u) - sigmoid(l)) = logsigmoid(u) + logsigmoid(-l) + log(1 - e^(l - u)): stable for any u > l
        middle = F.logsigmoid(upper) + F.logsigmoid(-lower) + torch.log(-torch.expm1(lower - upper))
        levels = torch.where(x <= 0, F.logsigmoid(upper), torch.where(x >= 1, F.logsigmoid(-lower), middle))
        return levels.sum(-1)

    def negative_elbo(self, x: torch.Tensor, *, generator: torch.Generator | None = None,
                      eps: torch.Tensor | None = None) -> torch.Tensor:
        """Per-image negative ELBO in nats, ``(B,)``: ``-log p(x | z)`` (:meth:`log_likelihood`, one posterior
        sample ``z = mu + sigma * eps``) + KL. ``eps`` ``(B, latent_dim)``: the standard normal noise of that sample
        (a process's rows of a larger batch's draw, under torchrun); drawn from ``generator`` when ``None``."""
        mu, logvar = self.encode(x)
        if eps is None:
            # drawn where ``generator`` lives (a CPU generator serves a model on any device: the same noise everywhere)
            where = mu.device if generator is None else generator.device
            eps = torch.randn(mu.shape, generator=generator, device=where, dtype=mu.dtype)
        elif tuple(eps.shape) != tuple(mu.shape):
            raise ShapeError(f"VAE.negative_elbo: eps must have shape {tuple(mu.shape)}, got {tuple(eps.shape)}")
        eps = eps.to(device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        return -self.log_likelihood(z, x.flatten(1)) + kl
