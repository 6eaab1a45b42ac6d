"""CycleGAN networks (Zhu, Park, Isola & Efros, ICCV 2017, "Unpaired image-to-image translation using
cycle-consistent adversarial networks", Sec. 4 and appendix 7.2), scaled down for 28x28 images.

* :class:`CycleGenerator` ``G: (B, C, H, W) -> (B, C, H, W)``, both in [0, 1]: the paper's ResNet generator
  (Johnson et al. 2016) at a small size: ``c3s1-n, d2n, R2n x res_blocks, un, c3s1-C`` (3x3 convolutions where the
  paper has 7x7 at the ends, one down- and one up-sampling stage where it has two), instance normalisation and ReLU,
  a sigmoid output (the paper's tanh, rescaled to [0, 1]). Inputs are mapped to [-1, 1] first. H and W must be even.
* :class:`PatchDiscriminator` ``D: (B, C, H, W) -> (B, 1, H/4, W/4)`` real-valued patch scores: the paper's
  PatchGAN (``C64-C128-...``, 4x4 stride-2 convolutions, instance norm from the second layer, LeakyReLU 0.2) with two
  stride-2 layers and a 3x3 output layer, so each score sees a 14x14 patch of a 28x28 image. No sigmoid: the
  least-squares GAN loss (Mao et al. 2017) is taken on the raw scores (paper Sec. 4, "Training details").
* :class:`CycleGAN`: the four networks in one module (``g_ab``: A -> B, ``g_ba``: B -> A, ``d_a``, ``d_b``), what
  ``genprior train cyclegan`` saves as ``model.*``; :meth:`CycleGAN.translate` maps a batch in either direction.
"""

from __future__ import annotations

import torch
from torch import nn

from genprior.devices import device_of
from genprior.errors import InvalidValueError, check_sizes, unknown

DIRECTIONS = ("a2b", "b2a")


def _image_shape(shape, owner: str) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise InvalidValueError(f"{owner}: image_shape must be (C, H, W), got {shape}")
    check_sizes(owner, image_shape=shape)
    if shape[1] % 4 or shape[2] % 4:
        raise InvalidValueError(f"{owner}: H and W must be multiples of 4, got {shape[1]}x{shape[2]}")
    return shape


class ResidualBlock(nn.Module):
    """``x + conv-IN-ReLU-conv-IN(x)`` with 3x3 convolutions (reflection padding), channels kept."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class CycleGenerator(nn.Module):
    """A CycleGAN translator ``(B, C, H, W) -> (B, C, H, W)``, in [0, 1] both ways (see the module docstring)."""

    def __init__(self, *, image_shape=(1, 28, 28), channels: int = 32, res_blocks: int = 3):
        super().__init__()
        self.image_shape = _image_shape(image_shape, "CycleGenerator")
        self.channels, self.res_blocks = int(channels), int(res_blocks)
        check_sizes("CycleGenerator", channels=self.channels)
        if self.res_blocks < 0:
            raise InvalidValueError(f"CycleGenerator: res_blocks must be >= 0, got {res_blocks}")
        c, n = self.image_shape[0], self.channels
        self.net = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, n, 3), nn.InstanceNorm2d(n), nn.ReLU(inplace=True),
            nn.Conv2d(n, 2 * n, 3, 2, 1), nn.InstanceNorm2d(2 * n), nn.ReLU(inplace=True),
            *[ResidualBlock(2 * n) for _ in range(self.res_blocks)],
            nn.ConvTranspose2d(2 * n, n, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(n), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(n, c, 3), nn.Sigmoid())

    def config(self) -> dict:
        return {"family": "cyclegan-generator", "image_shape": list(self.image_shape), "channels": self.channels,
                "res_blocks": self.res_blocks}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, C, H, W)`` in [0, 1] -> its translation, same shape, in [0, 1]."""
        return self.net(x * 2.0 - 1.0)


class PatchDiscriminator(nn.Module):
    """A small PatchGAN: ``(B, C, H, W)`` in [0, 1] -> patch scores ``(B, 1, H/4, W/4)`` (real values)."""

    def __init__(self, *, input_shape=(1, 28, 28), channels: int = 32):
        super().__init__()
        self.input_shape = _image_shape(input_shape, "PatchDiscriminator")
        self.channels = int(channels)
        check_sizes("PatchDiscriminator", channels=self.channels)
        c, n = self.input_shape[0], self.channels
        self.net = nn.Sequential(
            nn.Conv2d(c, n, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(n, 2 * n, 4, 2, 1), nn.InstanceNorm2d(2 * n), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * n, 1, 3, 1, 1))

    def config(self) -> dict:
        return {"family": "patch-discriminator", "input_shape": list(self.input_shape), "channels": self.channels}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, C, H, W)`` in [0, 1] -> scores ``(B, 1, H/4, W/4)``: high for patches D takes as real."""
        return self.net(x * 2.0 - 1.0)


class CycleGAN(nn.Module):
    """The two translators and two discriminators of CycleGAN: ``g_ab`` (A -> B), ``g_ba`` (B -> A), ``d_a`` (real A
    vs ``g_ba`` output), ``d_b`` (real B vs ``g_ab`` output); both domains have images of ``image_shape``."""

    def __init__(self, *, image_shape=(1, 28, 28), channels: int = 32, res_blocks: int = 3, d_channels: int = 32):
        super().__init__()
        self.g_ab = CycleGenerator(image_shape=image_shape, channels=channels, res_blocks=res_blocks)
        self.g_ba = CycleGenerator(image_shape=image_shape, channels=channels, res_blocks=res_blocks)
        self.d_a = PatchDiscriminator(input_shape=image_shape, channels=d_channels)
        self.d_b = PatchDiscriminator(input_shape=image_shape, channels=d_channels)
        self.image_shape = self.g_ab.image_shape

    def config(self) -> dict:
        return {"family": "cyclegan", "image_shape": list(self.image_shape), "channels": self.g_ab.channels,
                "res_blocks": self.g_ab.res_blocks, "d_channels": self.d_a.channels}

    def generators(self) -> nn.ModuleList:
        """``[g_ab, g_ba]`` (one optimiser takes both, as in the paper's code)."""
        return nn.ModuleList([self.g_ab, self.g_ba])

    def discriminators(self) -> nn.ModuleList:
        """``[d_a, d_b]``."""
        return nn.ModuleList([self.d_a, self.d_b])

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str = "a2b", *, batch_size: int = 500) -> torch.Tensor:
        """``images`` ``(N, C, H, W)`` in [0, 1] translated by ``g_ab`` (``"a2b"``) or ``g_ba`` (``"b2a"``), in eval
        mode, on the model's device, in batches; returned on the images' device, same shape, in [0, 1]."""
        if direction not in DIRECTIONS:
            raise unknown("direction", direction, DIRECTIONS)
        g = self.g_ab if direction == "a2b" else self.g_ba
        g.eval()
        device = device_of(g)
        return torch.cat([g(images[i:i + batch_size].to(device)).to(images.device)
                          for i in range(0, len(images), batch_size)])
