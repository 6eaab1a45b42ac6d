"""The CSGM MNIST VAE (Kingma & Welling 2014; Bora et al. 2017, Sec. 6.1): 784-500-500-k, softplus, sigmoid output."""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from genprior.errors import check_sizes


class VAE(nn.Module):
    """Fully connected VAE with a Bernoulli decoder.

    The module is itself a generator: ``vae(z)`` maps ``(B, latent_dim)`` to images ``(B, C, H, W)``
    in [0, 1] through the decoder, so it plugs into every solver. ``encode(x)`` returns the
    posterior mean and log-variance, ``(B, latent_dim)`` each.
    """

    def __init__(self, *, output_shape=(1, 28, 28), hidden=(500, 500), latent_dim: int = 20):
        super().__init__()
        check_sizes("VAE", output_shape=tuple(output_shape), latent_dim=latent_dim, hidden=tuple(hidden))
        self.output_shape = tuple(int(s) for s in output_shape)
        self.latent_dim = int(latent_dim)
        self.hidden = tuple(int(h) for h in hidden)
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
        dec += [nn.Linear(rev[-1], n)]
        self.decoder = nn.Sequential(*dec)

    def config(self) -> dict:
        return {"family": "vae", "output_shape": list(self.output_shape), "hidden": list(self.hidden), "latent_dim": self.latent_dim}

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x.flatten(1))
        return self.to_mu(h), self.to_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits, ``(B, n)``."""
        return self.decoder(z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z)).view(-1, *self.output_shape)

    def negative_elbo(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-image negative ELBO in nats, ``(B,)``: Bernoulli reconstruction (BCE, summed over pixels) + KL."""
        mu, logvar = self.encode(x)
        # drawn where ``generator`` lives (a CPU generator serves a model on any device: the same noise everywhere)
        where = mu.device if generator is None else generator.device
        eps = torch.randn(mu.shape, generator=generator, device=where, dtype=mu.dtype).to(mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        rec = F.binary_cross_entropy_with_logits(self.decode_logits(z), x.flatten(1), reduction="none").sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        return rec + kl
