"""The CSGM MNIST VAE (Kingma & Welling 2014; Bora et al. 2017, Sec. 6.1): 784-500-500-k, softplus, sigmoid output.

``arch="conv"`` gives the convolutional encoder/decoder of the beta-VAE papers instead (Higgins et al., ICLR 2017;
Burgess et al. 2018, Sec. 3: 4x4 stride-2 convolutions of ``channels`` channels, ReLU, down to 4x4 (7x7 for 28-pixel
images), then fully connected layers of widths ``hidden``; the decoder mirrors it with transposed convolutions), for
32x32 / 64x64 images such as :mod:`genprior.data.sprites`. The beta-VAE objective (Higgins et al. 2017, Eq. 4) weighs
the KL term by ``beta`` (:meth:`VAE.negative_elbo`); ``beta = 1`` is the ELBO.

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

from genprior.errors import InvalidValueError, ShapeError, check_sizes, unknown
from genprior.models.dcgan import _plan

LIKELIHOODS = ("bernoulli", "logistic")
ARCHS = ("mlp", "conv")
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
                 likelihood: str = "bernoulli", arch: str = "mlp", channels: int = 32):
        super().__init__()
        check_sizes("VAE", output_shape=tuple(output_shape), latent_dim=latent_dim, hidden=tuple(hidden),
                    channels=channels)
        if likelihood not in LIKELIHOODS:
            raise unknown("VAE likelihood", likelihood, LIKELIHOODS)
        if arch not in ARCHS:
            raise unknown("VAE architecture", arch, ARCHS)
        self.output_shape = tuple(int(s) for s in output_shape)
        self.latent_dim = int(latent_dim)
        self.hidden = tuple(int(h) for h in hidden)
        self.likelihood = likelihood
        self.arch, self.channels = arch, int(channels)
        n = math.prod(self.output_shape)
        if arch == "conv":
            self._build_conv()
            return
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

    def _build_conv(self) -> None:
        """The convolutional encoder and decoder (``arch="conv"``), in the same attributes as the MLP's."""
        c, h, w = self.output_shape
        if h != w:
            raise InvalidValueError(f"the conv VAE needs square images, got output_shape {self.output_shape}")
        s0, stages = _plan(h, "conv VAE")
        ch, flat = self.channels, self.channels * s0 * s0
        enc: list[nn.Module] = [nn.Unflatten(1, self.output_shape)]
        prev = c
        for _ in range(stages):
            enc += [nn.Conv2d(prev, ch, 4, 2, 1), nn.ReLU()]
            prev = ch
        enc.append(nn.Flatten())
        for a, b in itertools.pairwise((flat, *self.hidden)):
            enc += [nn.Linear(a, b), nn.ReLU()]
        self.encoder = nn.Sequential(*enc)
        self.to_mu = nn.Linear(self.hidden[-1], self.latent_dim)
        self.to_logvar = nn.Linear(self.hidden[-1], self.latent_dim)
        dec: list[nn.Module] = []
        for a, b in itertools.pairwise((self.latent_dim, *reversed(self.hidden), flat)):
            dec += [nn.Linear(a, b), nn.ReLU()]
        dec.append(nn.Unflatten(1, (ch, s0, s0)))
        for i in range(stages):
            last = i == stages - 1
            # the logistic decoder also gives each pixel its log-scale: C more channels
            dec.append(nn.ConvTranspose2d(ch, (c if self.likelihood == "bernoulli" else 2 * c) if last else ch, 4, 2, 1))
            if not last:
                dec.append(nn.ReLU())
        dec.append(nn.Flatten())
        self.decoder = nn.Sequential(*dec)

    def config(self) -> dict:
        cfg = {"family": "vae", "output_shape": list(self.output_shape), "hidden": list(self.hidden),
               "latent_dim": self.latent_dim}
        if self.arch != "mlp":  # the MLP's config stays as it was (the zoo's files)
            cfg.update(arch=self.arch, channels=self.channels)
        return cfg if self.likelihood == "bernoulli" else {**cfg, "likelihood": self.likelihood}

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's raw output ``(..., n or 2n)`` for ``z`` ``(..., latent_dim)`` (any leading shape)."""
        if self.arch == "mlp":
            return self.decoder(z)
        return self.decoder(z.reshape(-1, self.latent_dim)).reshape(*z.shape[:-1], -1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x.flatten(1))
        return self.to_mu(h), self.to_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of the image, ``(B, n)``: the Bernoulli logits, or the logistic's location before the sigmoid."""
        return self._decode(z)[..., :math.prod(self.output_shape)]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z)).view(-1, *self.output_shape)

    def log_likelihood(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(x | z)`` in nats, summed over pixels: ``z`` ``(..., latent_dim)``, ``x`` ``(..., n)`` in [0, 1]
        (broadcast against ``z``'s leading dimensions); returns their leading shape.

        Bernoulli: ``-BCE(logits, x)`` of the intensities as they are. Logistic: ``x`` is read as the 8-bit image
        ``round(255 x) / 255`` and each level ``k / 255`` gets the logistic's mass on ``[x - 1/510, x + 1/510]``,
        the end levels the tails beyond (the masses of all 256 levels sum to 1).
        """
        out = self._decode(z)
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
                      eps: torch.Tensor | None = None, beta: float = 1.0) -> torch.Tensor:
        """Per-image negative ELBO in nats, ``(B,)``: ``-log p(x | z)`` (:meth:`log_likelihood`, one posterior
        sample ``z = mu + sigma * eps``) + ``beta`` KL (``beta = 1``: the ELBO; ``beta > 1``: the beta-VAE loss of
        Higgins et al. 2017, Eq. 4). ``eps`` ``(B, latent_dim)``: the standard normal noise of that sample
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
        return -self.log_likelihood(z, x.flatten(1)) + (kl if beta == 1 else beta * kl)
