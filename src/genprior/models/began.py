"""BEGAN generator and discriminator (Berthelot, Schumm & Metz 2017, Sec. 3.5 "model architecture", Fig. 1).

The BEGAN discriminator is an autoencoder, not a classifier: an encoder maps an image to an ``h``-dim
code and a decoder maps the code back to an image; the discriminator's "score" of an image is its
pixel-wise l1 reconstruction error. The generator has the decoder's architecture (with its own
weights) and maps ``z`` to an image.

Blocks follow the paper: 3x3 convolutions with ELU, two per resolution; the decoder starts from a
fully connected layer to ``n x s0 x s0`` and upsamples by nearest neighbour, the encoder downsamples
with stride-2 convolutions and grows the channels linearly (n, 2n, 3n, ...) before a fully connected
layer to the code. Both decoders have a linear output, as in the paper, and BEGAN trains the
generator's unbounded output ``G.raw(z)``: D sees out-of-range pixels and its reconstruction error
pulls them back. ``G(z)`` (forward) clamps that output to [0, 1], the genprior convention. (A sigmoid
output does not train: G first drives the mostly black MNIST pixels far negative, the L1 gradient
through the saturated sigmoid vanishes and G stays stuck on black images. A clamp with the gradient
passed straight through lets the hidden raw values drift, since D never sees them.)

Sizes: as for DCGAN, the image side is halved until it is at most 7 (28 -> 14 -> 7, 64 -> ... -> 4),
so it must be ``s * 2**n`` with ``s <= 7`` (8, 28, 32, 64, ...).

``BEGANBottleneckDiscriminator`` is a lighter autoencoder for small images and CPU budgets: one stride-2
convolution, a fully connected bottleneck whose two layers are batch-normalised, one upsampling
convolution. Batch norm in the bottleneck normalises the codes of a batch of generated images
together, so a batch of near-identical fakes (a collapsed generator) is spread out in code space and
reconstructed badly; that is what keeps a BEGAN on MNIST from settling on one easy-to-reconstruct
digit (thin "1"s) within a few epochs (measured in ``benchmarks/results/began_mnist.md``). It is paired
with the DCGAN generator (``genprior train began --arch bottleneck``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genprior.errors import InvalidValueError
from genprior.models.dcgan import _plan as _dcgan_plan


def _plan(size: int) -> tuple[int, int]:
    """``(start side s0, number of 2x stages n)`` for an image side ``size`` = ``s0 * 2**n``, ``s0 <= 7``."""
    return _dcgan_plan(size, "BEGAN")


def _square(shape, what: str) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or shape[1] != shape[2]:
        raise InvalidValueError(f"BEGAN {what} must be a square (C, H, W) image shape, got {shape}")
    if min(shape) < 1:
        raise InvalidValueError(f"BEGAN {what} must be positive, got {shape}")
    return shape


def reconstruction_error(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """BEGAN's per-image score ``mean |x - D(x)|``: images ``(B, C, H, W)`` -> ``(B,)``."""
    return F.l1_loss(reconstruction, x, reduction="none").flatten(1).mean(1)


def _conv_pair(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, 1, 1), nn.ELU(inplace=True), nn.Conv2d(c_out, c_out, 3, 1, 1), nn.ELU(inplace=True)]


class BEGANDecoder(nn.Module):
    """``code (B, h) -> (B, C, H, W)`` (unbounded): FC to ``n x s0 x s0``, then [conv, conv, upsample x2] blocks."""

    def __init__(self, code_dim: int, output_shape, channels: int):
        super().__init__()
        c, side, _ = _square(output_shape, "output_shape")
        s0, stages = _plan(side)
        self._start = (channels, s0, s0)
        self.project = nn.Linear(code_dim, channels * s0 * s0)
        layers: list[nn.Module] = []
        for i in range(stages):
            layers += _conv_pair(channels, channels) + [nn.Upsample(scale_factor=2, mode="nearest")]
        layers += _conv_pair(channels, channels) + [nn.Conv2d(channels, c, 3, 1, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(h).view(-1, *self._start))


class BEGANEncoder(nn.Module):
    """``(B, C, H, W) -> code (B, h)``: conv to n channels, then [conv, conv, stride-2 conv] blocks with
    channels n, 2n, 3n, ... and a fully connected layer to ``h``."""

    def __init__(self, input_shape, code_dim: int, channels: int):
        super().__init__()
        c, side, _ = _square(input_shape, "input_shape")
        s0, stages = _plan(side)
        layers: list[nn.Module] = [nn.Conv2d(c, channels, 3, 1, 1), nn.ELU(inplace=True)]
        for i in range(stages):
            layers += _conv_pair(channels * (i + 1), channels * (i + 1))
            layers += [nn.Conv2d(channels * (i + 1), channels * (i + 2), 3, 2, 1), nn.ELU(inplace=True)]
        last = channels * (stages + 1)
        layers += _conv_pair(last, last)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(last * s0 * s0, code_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1))


class BEGANGenerator(nn.Module):
    """``z (B, latent_dim) -> x (B, C, H, W)`` in [0, 1]: the decoder architecture, its output clamped."""

    def __init__(self, *, latent_dim: int = 64, output_shape=(1, 28, 28), channels: int = 32):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.output_shape = _square(output_shape, "output_shape")
        self.channels = int(channels)
        if self.latent_dim < 1 or self.channels < 1:
            raise InvalidValueError(f"BEGAN latent_dim and channels must be >= 1, got {latent_dim}, {channels}")
        self.decoder = BEGANDecoder(self.latent_dim, self.output_shape, self.channels)

    def config(self) -> dict:
        return {"family": "began-generator", "latent_dim": self.latent_dim, "output_shape": list(self.output_shape),
                "channels": self.channels}

    def raw(self, z: torch.Tensor) -> torch.Tensor:
        """The unbounded (linear) decoder output: what BEGAN trains, as in the paper."""
        return self.decoder(z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.raw(z).clamp(0.0, 1.0)


class BEGANDiscriminator(nn.Module):
    """The BEGAN discriminator: an autoencoder ``x (B, C, H, W) -> D(x)`` of the same shape.

    ``encode(x)`` gives the ``hidden_dim`` code; ``loss(x)`` is the per-image l1 reconstruction error
    ``mean |x - D(x)|`` (shape ``(B,)``), the quantity BEGAN's losses are built from.
    """

    def __init__(self, *, input_shape=(1, 28, 28), hidden_dim: int = 64, channels: int = 32):
        super().__init__()
        self.input_shape = _square(input_shape, "input_shape")
        self.hidden_dim = int(hidden_dim)
        self.channels = int(channels)
        if self.hidden_dim < 1 or self.channels < 1:
            raise InvalidValueError(f"BEGAN hidden_dim and channels must be >= 1, got {hidden_dim}, {channels}")
        self.encoder = BEGANEncoder(self.input_shape, self.hidden_dim, self.channels)
        self.decoder = BEGANDecoder(self.hidden_dim, self.input_shape, self.channels)

    def config(self) -> dict:
        return {"family": "began-discriminator", "input_shape": list(self.input_shape), "hidden_dim": self.hidden_dim,
                "channels": self.channels}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x * 2.0 - 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """``L(v) = mean |v - D(v)|`` per image, shape ``(B,)``."""
        return reconstruction_error(x, self(x))


class BEGANBottleneckDiscriminator(nn.Module):
    """A light BEGAN discriminator: ``x (B, C, H, W) -> D(x)`` of the same shape, with a batch-normalised bottleneck.

    ``conv 3x3 stride 2 (C -> n), ReLU -> FC to h, BN, ReLU -> FC back, BN, ReLU -> upsample x2, conv 3x3 (n -> C)``;
    ``H`` and ``W`` must be even. ``loss(x)`` is the per-image l1 reconstruction error, as for
    :class:`BEGANDiscriminator`. The batch norm couples the images of a batch (see the module docstring), so
    real and generated images must be scored in separate batches, as the BEGAN trainer does.
    """

    def __init__(self, *, input_shape=(1, 28, 28), hidden_dim: int = 32, channels: int = 64):
        super().__init__()
        shape = tuple(int(s) for s in input_shape)
        if len(shape) != 3 or min(shape) < 1 or shape[1] % 2 or shape[2] % 2:
            raise InvalidValueError(f"the bottleneck discriminator needs a (C, H, W) shape with even H and W, got {input_shape}")
        c, h, w = self.input_shape = shape
        self.hidden_dim = int(hidden_dim)
        self.channels = int(channels)
        if self.hidden_dim < 1 or self.channels < 1:
            raise InvalidValueError(f"BEGAN hidden_dim and channels must be >= 1, got {hidden_dim}, {channels}")
        self._half = (self.channels, h // 2, w // 2)
        flat = self.channels * (h // 2) * (w // 2)
        self.down = nn.Sequential(nn.Conv2d(c, self.channels, 3, 2, 1), nn.ReLU(inplace=True))
        self.bottleneck = nn.Sequential(nn.Linear(flat, self.hidden_dim), nn.BatchNorm1d(self.hidden_dim), nn.ReLU(inplace=True),
                                        nn.Linear(self.hidden_dim, flat), nn.BatchNorm1d(flat), nn.ReLU(inplace=True))
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(self.channels, c, 3, 1, 1))

    def config(self) -> dict:
        return {"family": "began-bottleneck-discriminator", "input_shape": list(self.input_shape),
                "hidden_dim": self.hidden_dim, "channels": self.channels}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = self.bottleneck(self.down(x * 2.0 - 1.0).flatten(1))
        return (self.up(code.view(-1, *self._half)) + 1.0) / 2.0

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """``L(v) = mean |v - D(v)|`` per image, shape ``(B,)``."""
        return reconstruction_error(x, self(x))

