"""Conditional GAN networks (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets", Sec. 3.2, Eq. 2).

The label ``y`` is fed to both players: the game becomes

    min_G max_D  E_{x,y}[log D(x | y)] + E_{z,y}[log(1 - D(G(z | y) | y))]

Here G gets the one-hot label concatenated to ``z`` (so a DCGAN generator with ``latent_dim + K`` inputs)
and D gets it as ``K`` constant one-hot feature maps stacked on the image's channels (so a DCGAN
discriminator with ``C + K`` input channels). ``ConditionalGenerator.fixed(label)`` turns the model into an
ordinary generator ``z -> x`` for one class, usable as a class-specific prior by every solver.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genprior.errors import InvalidValueError, ShapeError, check_sizes
from genprior.models.dcgan import DCGANDiscriminator, DCGANGenerator


def _one_hot(labels: torch.Tensor, num_classes: int, batch: int, like: torch.Tensor) -> torch.Tensor:
    """``(B,)`` integer labels in ``[0, K)`` -> ``(B, K)`` one-hot of ``like``'s dtype and device."""
    if labels is None:
        raise ShapeError("a conditional model needs labels: call model(x, labels) or use generator.fixed(label)")
    labels = torch.as_tensor(labels, device=like.device)
    if labels.dim() != 1 or labels.shape[0] != batch:
        raise ShapeError(f"labels must have shape ({batch},), got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.min() < 0 or labels.max() >= num_classes:
        raise InvalidValueError(f"labels must be integers in [0, {num_classes}), got {labels.tolist()[:8]}...")
    return F.one_hot(labels.long(), num_classes).to(like.dtype)


class ConditionalGenerator(nn.Module):
    """``(z (B, latent_dim), labels (B,)) -> x (B, C, H, W)`` in [0, 1]; a DCGAN generator on ``[z, onehot(y)]``."""

    def __init__(self, *, latent_dim: int = 100, num_classes: int = 10, output_shape=(1, 28, 28),
                 base_channels: int = 64):
        super().__init__()
        if int(num_classes) < 2:
            raise InvalidValueError(f"num_classes must be >= 2, got {num_classes}")
        check_sizes("conditional generator", latent_dim=int(latent_dim))
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_classes)
        self.net = DCGANGenerator(latent_dim=self.latent_dim + self.num_classes, output_shape=output_shape,
                                  base_channels=base_channels)
        self.output_shape = self.net.output_shape

    def config(self) -> dict:
        return {"family": "conditional-generator", "latent_dim": self.latent_dim, "num_classes": self.num_classes,
                "output_shape": list(self.output_shape), "base_channels": self.net.base_channels}

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(z, _one_hot(labels, self.num_classes, z.shape[0], z))

    def decode(self, z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Images from latents ``z`` ``(B, latent_dim)`` and one-hot class ``codes`` ``(B, num_classes)``, unchecked."""
        return self.net(torch.cat([z, codes], 1))

    def fixed(self, label: int) -> FixedLabelGenerator:
        """The generator of one class: ``z -> G(z | label)`` (shares the weights)."""
        return FixedLabelGenerator(self, label)


class FixedLabelGenerator(nn.Module):
    """``z (B, latent_dim) -> G(z | label)``: a conditional generator with its label held fixed."""

    def __init__(self, generator: ConditionalGenerator, label: int):
        super().__init__()
        if not 0 <= int(label) < generator.num_classes:
            raise InvalidValueError(f"label must be in [0, {generator.num_classes}), got {label}")
        self.generator = generator
        self.label = int(label)
        self.latent_dim = generator.latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z, torch.full((z.shape[0],), self.label, dtype=torch.long, device=z.device))


class ConditionalDiscriminator(nn.Module):
    """``(x (B, C, H, W), labels (B,)) -> logit (B,)``; a DCGAN discriminator on ``[x, K one-hot maps]``."""

    def __init__(self, *, input_shape=(1, 28, 28), num_classes: int = 10, base_channels: int = 64):
        super().__init__()
        c, h, w = (int(s) for s in input_shape)
        self.input_shape = (c, h, w)
        self.num_classes = int(num_classes)
        self.net = DCGANDiscriminator(input_shape=(c + self.num_classes, h, w), base_channels=base_channels)

    def config(self) -> dict:
        return {"family": "conditional-discriminator", "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "base_channels": self.net.base_channels}

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ShapeError(f"discriminator expects images {self.input_shape}, got {tuple(x.shape[1:])}")
        maps = _one_hot(labels, self.num_classes, x.shape[0], x)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.net(torch.cat([x, maps], 1))


class ClassUnionGenerator(nn.Module):
    """The union of a conditional generator's class ranges as one ordinary generator ``w -> x``.

    The latent is ``w = [z, code]`` with ``code`` ``(K,)``; the class is ``code.argmax()``, so the solvers'
    latent descent moves ``z`` while the class of each restart stays what :meth:`initial_latents` set (the
    argmax has zero gradient). Projecting onto this generator searches every class's range at once and the
    winning restart's latent carries its class.
    """

    def __init__(self, generator: ConditionalGenerator):
        super().__init__()
        self.generator = generator
        self.num_classes = generator.num_classes
        self.latent_dim = generator.latent_dim + generator.num_classes
        self.output_shape = generator.output_shape

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        k = self.generator.latent_dim
        code = w[:, k:]
        # one-hot of the argmax by comparison, not by label lookup: no data-dependent checks, so the solvers'
        # vmap/jacfwd Jacobians (csgm-fast's Levenberg-Marquardt) go through it
        one_hot = (code == code.max(1, keepdim=True).values).to(w.dtype)
        return self.generator.decode(w[:, :k], one_hot)

    def classes(self, w: torch.Tensor) -> torch.Tensor:
        """The class ``(N,)`` each latent ``w`` ``(N, latent_dim)`` generates."""
        return w[:, self.generator.latent_dim:].argmax(1)

    def initial_latents(self, batch: int, per_class: int = 1, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Starts ``(batch, K * per_class, latent_dim)``: ``z ~ N(0, I)``, ``per_class`` restarts for every class."""
        k, n_cls = self.generator.latent_dim, self.num_classes
        z = torch.randn(batch, n_cls * per_class, k, generator=generator)
        code = F.one_hot(torch.arange(n_cls).repeat_interleave(per_class), n_cls).to(z.dtype)
        return torch.cat([z, code.expand(batch, -1, -1)], 2)
