"""InfoGAN (Chen et al., NeurIPS 2016) and InfoGAN-CR (Lin, Thekumparampil, Fanti & Oh, ICML 2020) networks.

* :class:`InfoGANGenerator` ``G(c, z)``: latent ``(B, codes + noise_dim)`` = the continuous codes ``c ~ U[-1, 1]^codes``
  (first ``codes`` coordinates) then the nuisance noise ``z ~ U[-1, 1]^noise_dim`` (InfoGAN-CR's dSprites setting:
  5 codes + 5 noise, both uniform) -> images ``(B, C, H, W)`` in [0, 1]; H = W = 32 or 64 (any ``s * 2^n``, s <= 7).
* :class:`InfoGANDiscriminator` ``D`` with the Q head: one convolutional trunk, a real/fake logit ``(B,)`` and
  ``Q(x)`` ``(B, codes)``, the mean of a Gaussian ``q(c | x)`` of fixed unit variance (so ``-log q`` is
  ``1/2 ||Q(x) - c||^2`` up to a constant). :meth:`InfoGANDiscriminator.encode` is the model's encoder: the codes
  that the disentanglement scores read (:mod:`genprior.evaluate.disentangle`).
* :class:`CRHead` ``H``: InfoGAN-CR's contrastive regularizer (Sec. 3 of the paper): sees a pair of images
  stacked on the channel axis ``(B, 2C, H, W)`` and returns ``codes`` logits, which code coordinate the pair shares.

The nets are small DCGAN-style convolutions for CPU budgets (the paper's are wider, with spectral norm on D).
"""

from __future__ import annotations

import torch
from torch import nn

from genprior.errors import InvalidValueError, check_sizes
from genprior.models.dcgan import _plan


def _square(shape, what: str) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or shape[1] != shape[2]:
        raise InvalidValueError(f"{what}: needs a square image shape (C, S, S), got {shape}")
    check_sizes(what, image_shape=shape)
    return shape


def _trunk(in_channels: int, size: int, channels: int, hidden: int, what: str) -> tuple[nn.Sequential, int]:
    """Strided 4x4 convolutions (LeakyReLU 0.2) from ``size`` down to ``s0 <= 7`` (4 for 32 and 64), channels
    ``channels * 2^min(i, 1)``, then a fully connected layer of ``hidden`` units: ``(B, in_channels, size, size) ->
    (B, hidden)``."""
    layers: list[nn.Module] = []
    prev = in_channels
    s0, n = _plan(size, what)
    for i in range(n):
        out = channels * (2 if i else 1)
        layers += [nn.Conv2d(prev, out, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        prev = out
    layers += [nn.Flatten(), nn.Linear(prev * s0 * s0, hidden), nn.LeakyReLU(0.2, True)]
    return nn.Sequential(*layers), hidden


class InfoGANGenerator(nn.Module):
    """``G``: latent ``(B, codes + noise_dim)`` with values in [-1, 1] -> images ``(B, C, H, W)`` in [0, 1].

    A fully connected layer to ``2 channels x 4 x 4``, then 4x4 transposed convolutions doubling the side (batch
    norm and ReLU between them), a sigmoid at the end. ``codes`` is the number of leading latent coordinates that
    are InfoGAN codes (the Q head estimates them; walks traverse them one row each)."""

    def __init__(self, *, codes: int = 5, noise_dim: int = 5, output_shape=(1, 32, 32), channels: int = 32):
        super().__init__()
        check_sizes("InfoGAN generator", codes=codes, channels=channels)
        if isinstance(noise_dim, bool) or not isinstance(noise_dim, int) or noise_dim < 0:
            raise InvalidValueError(f"InfoGAN generator: noise_dim must be an integer >= 0, got {noise_dim!r}")
        self.codes, self.noise_dim, self.channels = int(codes), int(noise_dim), int(channels)
        self.output_shape = _square(output_shape, "InfoGAN generator")
        self.latent_dim = self.codes + self.noise_dim
        s0, n = _plan(self.output_shape[1], "InfoGAN generator")
        width = [self.channels * (2 if i < n - 1 else 1) for i in range(n)]  # channels entering each stage
        self._start = (width[0], s0, s0)
        self.project = nn.Sequential(nn.Linear(self.latent_dim, 128), nn.ReLU(True),
                                     nn.Linear(128, width[0] * s0 * s0), nn.BatchNorm1d(width[0] * s0 * s0),
                                     nn.ReLU(True))
        ups: list[nn.Module] = []
        for i in range(n):
            last = i == n - 1
            out = self.output_shape[0] if last else width[i + 1]
            ups.append(nn.ConvTranspose2d(width[i], out, 4, 2, 1))
            if not last:
                ups += [nn.BatchNorm2d(out), nn.ReLU(True)]
        self.upsample = nn.Sequential(*ups)

    def config(self) -> dict:
        return {"family": "infogan-generator", "codes": self.codes, "noise_dim": self.noise_dim,
                "output_shape": list(self.output_shape), "channels": self.channels}

    def sample_latent(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latents ``(n, codes + noise_dim)`` from the prior, uniform on [-1, 1] (on the CPU)."""
        return torch.rand(n, self.latent_dim, generator=generator) * 2 - 1

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.upsample(self.project(z).view(-1, *self._start)))


class InfoGANDiscriminator(nn.Module):
    """``D`` and ``Q`` on one trunk: images ``(B, C, H, W)`` in [0, 1] -> (real/fake logit ``(B,)``, ``Q(x)``
    ``(B, codes)``). ``encode(x)`` is ``Q(x)``, the code estimate."""

    def __init__(self, *, input_shape=(1, 32, 32), codes: int = 5, channels: int = 32, hidden: int = 128):
        super().__init__()
        check_sizes("InfoGAN discriminator", codes=codes, channels=channels, hidden=hidden)
        self.input_shape = _square(input_shape, "InfoGAN discriminator")
        self.codes, self.channels, self.hidden = int(codes), int(channels), int(hidden)
        self.trunk, width = _trunk(self.input_shape[0], self.input_shape[1], self.channels, self.hidden,
                                   "InfoGAN discriminator")
        self.d_head = nn.Linear(width, 1)
        self.q_head = nn.Sequential(nn.Linear(width, width), nn.LeakyReLU(0.2, True), nn.Linear(width, self.codes))

    def config(self) -> dict:
        return {"family": "infogan-discriminator", "input_shape": list(self.input_shape), "codes": self.codes,
                "channels": self.channels, "hidden": self.hidden}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x * 2.0 - 1.0)
        return self.d_head(h).squeeze(1), self.q_head(h)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The codes ``Q(x)`` ``(B, codes)`` of images ``(B, C, H, W)`` in [0, 1]."""
        return self(x)[1]


class CRHead(nn.Module):
    """InfoGAN-CR's contrastive regularizer ``H``: a pair of images ``(B, 2C, H, W)`` (the two stacked on the channel
    axis) -> ``(B, codes)`` logits of which code coordinate the two were generated with equal."""

    def __init__(self, *, input_shape=(1, 32, 32), codes: int = 5, channels: int = 32, hidden: int = 128):
        super().__init__()
        check_sizes("InfoGAN-CR head", codes=codes, channels=channels, hidden=hidden)
        self.input_shape = _square(input_shape, "InfoGAN-CR head")
        self.codes, self.channels, self.hidden = int(codes), int(channels), int(hidden)
        self.trunk, width = _trunk(2 * self.input_shape[0], self.input_shape[1], self.channels, self.hidden,
                                   "InfoGAN-CR head")
        self.head = nn.Linear(width, self.codes)

    def config(self) -> dict:
        return {"family": "infogan-cr-head", "input_shape": list(self.input_shape), "codes": self.codes,
                "channels": self.channels, "hidden": self.hidden}

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(pair * 2.0 - 1.0))
