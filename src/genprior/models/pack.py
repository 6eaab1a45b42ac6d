"""PacGAN packing (Lin et al. 2018, Sec. 3): the discriminator judges m samples jointly.

``PackedDiscriminator(D, m)`` takes ``m * B`` samples, all real or all fake, groups consecutive runs of
``m`` into one pack and hands ``B`` packs to ``D``: vectors ``(m B, d)`` become ``(B, m d)`` (features
concatenated), images ``(m B, C, H, W)`` become ``(B, m C, H, W)`` (channels concatenated). The
generator is unchanged; only D's input layer is m times wider. The objective is the usual GAN
objective (Eq. 1 of Goodfellow et al. 2014) on the product distributions P^m and Q^m.
"""

from __future__ import annotations

import torch
from torch import nn

from genprior.errors import InvalidValueError, ShapeError


class PackedDiscriminator(nn.Module):
    """Wrap any discriminator ``D`` whose input is ``m`` times a sample along features/channels.

    ``forward(x)``: ``x`` of shape ``(m B, *sample_shape)`` -> logits ``(B,)``. If ``D`` exposes
    ``input_shape``, its first entry must be ``m`` times the sample's first dimension.
    """

    def __init__(self, discriminator: nn.Module, packing: int = 2):
        super().__init__()
        if int(packing) < 1:
            raise InvalidValueError(f"packing degree must be >= 1, got {packing}")
        self.discriminator = discriminator
        self.packing = int(packing)
        shape = getattr(discriminator, "input_shape", None)
        self.input_shape = tuple(shape) if shape is not None else None
        if self.input_shape is not None and self.input_shape[0] % self.packing:
            raise ShapeError(f"discriminator input width {self.input_shape[0]} is not a multiple of packing {self.packing}")
        self.sample_shape = ((self.input_shape[0] // self.packing, *self.input_shape[1:])
                             if self.input_shape is not None else None)

    def config(self) -> dict:
        return {"family": "packed", "packing": self.packing, "discriminator": self.discriminator.config()}

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """``(m B, d) -> (B, m d)`` or ``(m B, C, H, W) -> (B, m C, H, W)``."""
        m = self.packing
        if x.shape[0] % m:
            raise ShapeError(f"packing {m} needs a batch that is a multiple of {m}, got {x.shape[0]}")
        if self.sample_shape is not None and tuple(x.shape[1:]) != self.sample_shape:
            raise ShapeError(f"packed discriminator expects samples of shape {self.sample_shape}, got {tuple(x.shape[1:])}")
        b = x.shape[0] // m
        # (m B, C, ...) -> (B, m, C, ...) -> (B, m C, ...): pack j holds samples j m ... j m + m - 1
        return x.reshape(b, m * x.shape[1], *x.shape[2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(self.pack(x))

