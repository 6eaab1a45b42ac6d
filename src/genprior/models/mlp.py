"""MLP generator and discriminator for 2-D toy data (Goodfellow et al. 2014, the GAN game of Eq. 1).

The sizes follow PacGAN's 2-D experiments (Lin et al. 2018, Sec. 5.1 / App. D.1): the generator is a
ReLU MLP with batch norm on a Gaussian latent, the discriminator a maxout MLP returning one logit.
Widths and depths are arguments so that benchmarks can shrink them to a CPU budget.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from genprior.errors import check_sizes


class Maxout(nn.Module):
    """Linear layer with ``pieces`` affine maps per unit, keeping the maximum: ``(B, a) -> (B, b)``."""

    def __init__(self, a: int, b: int, pieces: int):
        super().__init__()
        self.b, self.pieces = b, pieces
        self.linear = nn.Linear(a, b * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(x.shape[0], self.b, self.pieces).amax(-1)


class MLPGenerator(nn.Module):
    """``z (B, latent_dim) -> x (B, output_dim)``, unbounded outputs (2-D points, not images)."""

    def __init__(self, *, latent_dim: int = 2, output_dim: int = 2, hidden=(400, 400, 400, 400), batch_norm: bool = True):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.output_dim = int(output_dim)
        self.output_shape = (self.output_dim,)
        self.hidden = tuple(int(h) for h in hidden)
        self.batch_norm = bool(batch_norm)
        check_sizes("MLP generator", latent_dim=self.latent_dim, output_dim=self.output_dim, hidden=self.hidden)
        layers: list[nn.Module] = []
        sizes = (self.latent_dim, *self.hidden)
        for a, b in itertools.pairwise(sizes):
            layers.append(nn.Linear(a, b))
            if self.batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.ReLU())
        layers.append(nn.Linear(sizes[-1], self.output_dim))
        self.net = nn.Sequential(*layers)

    def config(self) -> dict:
        return {"family": "mlp-generator", "latent_dim": self.latent_dim, "output_dim": self.output_dim,
                "hidden": list(self.hidden), "batch_norm": self.batch_norm}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """``x (B, input_dim) -> logit (B,)``; maxout hidden layers (``pieces`` = 1 gives plain ReLU layers)."""

    def __init__(self, *, input_dim: int = 2, hidden=(200, 200, 200), pieces: int = 5):
        super().__init__()
        self.input_dim = int(input_dim)
        self.input_shape = (self.input_dim,)
        self.hidden = tuple(int(h) for h in hidden)
        self.pieces = int(pieces)
        check_sizes("MLP discriminator", input_dim=self.input_dim, hidden=self.hidden, pieces=self.pieces)
        layers: list[nn.Module] = []
        sizes = (self.input_dim, *self.hidden)
        for a, b in itertools.pairwise(sizes):
            layers += [Maxout(a, b, self.pieces)] if self.pieces > 1 else [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], 1))
        self.net = nn.Sequential(*layers)

    def config(self) -> dict:
        return {"family": "mlp-discriminator", "input_dim": self.input_dim, "hidden": list(self.hidden),
                "pieces": self.pieces}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)
