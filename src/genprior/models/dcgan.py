"""DCGAN generator and discriminator (Radford et al. 2016, Sec. 3 "approach and model architecture").

Strided (transposed) convolutions instead of pooling, batch norm in both nets (not on D's input layer
nor G's output layer), ReLU in G, LeakyReLU(0.2) in D. The generator's last layer is a sigmoid so that
``G(z)`` is an image in [0, 1] of shape ``(B, C, H, W)`` (the genprior convention) instead of tanh.

Sizes: the spatial size is halved until it is at most 7 (28 -> 14 -> 7, 64 -> 32 -> 16 -> 8 -> 4), so
28x28 (MNIST) and 64x64 (the DCGAN paper's size) both work; the size must be ``s * 2**n`` with ``s <= 7``.
"""

from __future__ import annotations

import torch
from torch import nn

from genprior.errors import InvalidValueError, check_sizes


def _plan(size: int, what: str = "DCGAN") -> tuple[int, int]:
    """``(start size s0, number of 2x stages n)`` for an image side ``size = s0 * 2**n`` with ``s0 <= 7``, ``n >= 1``."""
    if size < 8:
        raise InvalidValueError(f"{what} image side must be at least 8, got {size}")
    n = 0
    while size > 7:
        if size % 2:
            raise InvalidValueError(f"{what} image side must be s * 2**n with s <= 7 (8, 28, 32, 64, ...), got {size}")
        size //= 2
        n += 1
    return size, n


def _init(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """``z (B, latent_dim) -> x (B, C, H, W)`` in [0, 1]; H == W."""

    def __init__(self, *, latent_dim: int = 100, output_shape=(1, 28, 28), base_channels: int = 64):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.output_shape = tuple(int(s) for s in output_shape)
        self.base_channels = int(base_channels)
        check_sizes("DCGAN generator", latent_dim=self.latent_dim, base_channels=self.base_channels)
        c, h, w = self.output_shape
        if h != w:
            raise InvalidValueError(f"DCGAN generates square images, got output_shape {self.output_shape}")
        s0, n = _plan(h)
        ch = [self.base_channels * 2 ** (n - 1 - i) for i in range(n)]  # channels entering each up-stage
        self._start = (ch[0], s0, s0)
        self.project = nn.Sequential(nn.Linear(self.latent_dim, ch[0] * s0 * s0, bias=False))
        self.project_bn = nn.Sequential(nn.BatchNorm2d(ch[0]), nn.ReLU(True))
        ups: list[nn.Module] = []
        for i in range(n):
            out = ch[i + 1] if i + 1 < n else c
            ups.append(nn.ConvTranspose2d(ch[i], out, 4, 2, 1, bias=i + 1 == n))
            if i + 1 < n:
                ups += [nn.BatchNorm2d(out), nn.ReLU(True)]
        self.upsample = nn.Sequential(*ups)
        _init(self)

    def config(self) -> dict:
        return {"family": "dcgan-generator", "latent_dim": self.latent_dim, "output_shape": list(self.output_shape),
                "base_channels": self.base_channels}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project_bn(self.project(z).view(-1, *self._start))
        return torch.sigmoid(self.upsample(h))


class DCGANDiscriminator(nn.Module):
    """``x (B, C, H, W)`` in [0, 1] ``-> logit (B,)``. For PacGAN give ``C`` = packing x image channels."""

    def __init__(self, *, input_shape=(1, 28, 28), base_channels: int = 64):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.base_channels = int(base_channels)
        check_sizes("DCGAN discriminator", base_channels=self.base_channels)
        c, h, w = self.input_shape
        if h != w:
            raise InvalidValueError(f"DCGAN discriminates square images, got input_shape {self.input_shape}")
        s0, n = _plan(h)
        layers: list[nn.Module] = []
        prev = c
        for i in range(n):
            out = self.base_channels * 2 ** i
            layers.append(nn.Conv2d(prev, out, 4, 2, 1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2, True))
            prev = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(prev * s0 * s0, 1)
        _init(self)

    def config(self) -> dict:
        return {"family": "dcgan-discriminator", "input_shape": list(self.input_shape),
                "base_channels": self.base_channels}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x * 2.0 - 1.0).flatten(1)).squeeze(1)
