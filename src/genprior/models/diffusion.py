"""A denoising diffusion model (DDPM: Ho, Jain & Abbeel, NeurIPS 2020) with a small U-Net for 28 x 28 images.

The forward process adds Gaussian noise to an image ``x0`` (in the model's space ``2 * image - 1``, i.e. [-1, 1]) in
``T`` steps; at step ``t`` (0-based, ``t = T - 1`` the noisiest)::

    x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps,    eps ~ N(0, I)                  (Ho et al., Eq. 4)

with ``abar_t = alphas_cumprod[t]``, decreasing in ``t``. The network predicts ``eps`` from ``(x_t, t)`` and is
trained on ``|| eps - eps_theta(x_t, t) ||^2`` (their Eq. 14, "L_simple"). The schedule is the cosine one of Nichol &
Dhariwal (ICML 2021, Eq. 17) or the linear one of Ho et al. (beta from 1e-4 to 0.02).

Sampling here is DDIM (Song, Meng & Ermon, ICLR 2021, Eq. 12) on a subsequence of the ``T`` steps: deterministic for
``eta = 0`` and the DDPM ancestral sampler for ``eta = 1``. Posterior samplers for inverse problems (DPS, ...) live in
:mod:`genprior.solvers` and use :meth:`Diffusion.predict_noise`, :meth:`Diffusion.predict_x0` and
:attr:`Diffusion.alphas_cumprod`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genprior.errors import InvalidValueError

SCHEDULES = ("cosine", "linear")


def noise_schedule(name: str, num_steps: int) -> torch.Tensor:
    """``abar_t`` for ``t = 0 .. num_steps - 1`` (float64, decreasing from about 1 to about 0)."""
    if name not in SCHEDULES:
        raise InvalidValueError(f"unknown noise schedule {name!r}; known: {', '.join(SCHEDULES)}")
    if not (isinstance(num_steps, int) and 2 <= num_steps <= 100_000):
        raise InvalidValueError(f"num_steps must be an integer in 2..100000, got {num_steps!r}")
    t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    if name == "cosine":  # Nichol & Dhariwal: f(t) = cos^2(((t + s) / (1 + s)) pi / 2), s = 0.008, beta <= 0.999
        f = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    else:  # Ho et al.: beta linear from 1e-4 to 0.02 for T = 1000, scaled so other T keep the same end points
        scale = 1000 / num_steps
        betas = torch.linspace(scale * 1e-4, min(scale * 0.02, 0.999), num_steps, dtype=torch.float64)
    return torch.cumprod(1 - betas, dim=0)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding ``(B, dim)`` of integer steps ``t`` ``(B,)`` (Vaswani et al. 2017, as in DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the step's embedding added between, with a 1x1 skip when channels change."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(math.gcd(8, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(math.gcd(8, c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """One-head self-attention over the pixels of a small feature map, with a residual connection."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.GroupNorm(math.gcd(8, channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return x + self.out(a.transpose(1, 2).reshape(b, c, h, w))


class Diffusion(nn.Module):
    """A DDPM on images ``(C, H, W)`` with ``H`` and ``W`` divisible by 4: a U-Net ``eps_theta(x_t, t)`` at three
    resolutions (``channels`` per level, one residual block per level on the way down and up, self-attention at the
    coarsest), and the noise schedule as a buffer.

    ``forward(x_t, t)`` / :meth:`predict_noise`: ``x_t`` ``(B, C, H, W)`` in the model's space, ``t`` ``(B,)``
    integers in ``0 .. num_steps - 1``; returns the predicted noise ``(B, C, H, W)``.
    """

    def __init__(self, *, image_shape: tuple[int, int, int] | list[int] = (1, 28, 28),
                 channels: tuple[int, int, int] | list[int] = (32, 64, 64), num_steps: int = 1000,
                 schedule: str = "cosine"):
        super().__init__()
        if len(image_shape) != 3 or any(int(s) < 1 for s in image_shape) or image_shape[1] % 4 or image_shape[2] % 4:
            raise InvalidValueError(f"image_shape must be (C, H, W) with H and W divisible by 4, got {image_shape}")
        if len(channels) != 3 or any(int(c) < 1 for c in channels):
            raise InvalidValueError(f"channels must be three positive widths, got {channels}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.output_shape = self.image_shape
        self.channels = tuple(int(c) for c in channels)
        self.num_steps = int(num_steps)
        self.schedule = schedule
        self.register_buffer("alphas_cumprod", noise_schedule(schedule, num_steps).float())
        c1, c2, c3 = self.channels
        emb = 4 * c1
        self.emb_dim = emb
        self.time_mlp = nn.Sequential(nn.Linear(c1, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inc = nn.Conv2d(self.image_shape[0], c1, 3, padding=1)
        self.down1 = ResBlock(c1, c1, emb)
        self.pool1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.down2 = ResBlock(c2, c2, emb)
        self.pool2 = nn.Conv2d(c2, c3, 3, stride=2, padding=1)
        self.mid1 = ResBlock(c3, c3, emb)
        self.attn = SelfAttention(c3)
        self.mid2 = ResBlock(c3, c3, emb)
        self.up2 = ResBlock(c3 + c2, c2, emb)
        self.up1 = ResBlock(c2 + c1, c1, emb)
        self.out = nn.Sequential(nn.GroupNorm(math.gcd(8, c1), c1), nn.SiLU(), nn.Conv2d(c1, self.image_shape[0], 3, padding=1))

    def config(self) -> dict:
        return {"family": "diffusion", "image_shape": list(self.image_shape), "channels": list(self.channels),
                "num_steps": self.num_steps, "schedule": self.schedule}

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        e = self.time_mlp(timestep_embedding(t, self.channels[0]))
        h1 = self.down1(self.inc(x_t), e)                     # (B, c1, H, W)
        h2 = self.down2(self.pool1(h1), e)                    # (B, c2, H/2, W/2)
        h = self.mid1(self.pool2(h2), e)                      # (B, c3, H/4, W/4)
        h = self.mid2(self.attn(h), e)
        h = F.interpolate(h, size=h2.shape[-2:], mode="nearest")
        h = self.up2(torch.cat([h, h2], dim=1), e)
        h = F.interpolate(h, size=h1.shape[-2:], mode="nearest")
        h = self.up1(torch.cat([h, h1], dim=1), e)
        return self.out(h)

    # --- the process, in the model's space -------------------------------------------------------------------

    @staticmethod
    def to_model_space(images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> ``2 * images - 1`` in [-1, 1]."""
        return 2 * images - 1

    @staticmethod
    def to_images(x0: torch.Tensor) -> torch.Tensor:
        """``(x0 + 1) / 2`` clamped to [0, 1]."""
        return ((x0 + 1) / 2).clamp(0, 1)

    def predict_noise(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``eps_theta(x_t, t)``: ``x_t`` ``(B, C, H, W)``, ``t`` ``(B,)`` or a Python int for the whole batch."""
        if not torch.is_tensor(t):
            t = torch.full((len(x_t),), int(t), dtype=torch.long, device=x_t.device)
        return self(x_t, t)

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor | None = None) -> torch.Tensor:
        """Tweedie's estimate ``E[x0 | x_t] = (x_t - sqrt(1 - abar_t) eps_theta) / sqrt(abar_t)`` (not clamped)."""
        if eps is None:
            eps = self.predict_noise(x_t, t)
        a = self._abar(t, x_t)
        return (x_t - (1 - a).sqrt() * eps) / a.sqrt()

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps`` for per-image steps ``t`` ``(B,)``."""
        a = self._abar(t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * eps

    def loss(self, images: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Per-image ``L_simple = mean over pixels of (eps - eps_theta(x_t, t))^2`` ``(B,)`` for images in [0, 1]."""
        x_t = self.add_noise(self.to_model_space(images), t, eps)
        return (self(x_t, t) - eps).pow(2).flatten(1).mean(1)

    def _abar(self, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(t):
            return self.alphas_cumprod[int(t)].to(like.dtype).reshape(1, 1, 1, 1)
        return self.alphas_cumprod[t].to(like.dtype).reshape(-1, 1, 1, 1)

    def timesteps(self, steps: int) -> list[int]:
        """``steps`` evenly spaced steps from ``num_steps - 1`` down to 0 (the DDIM subsequence), descending."""
        if not (isinstance(steps, int) and 1 <= steps <= self.num_steps):
            raise InvalidValueError(f"steps must be an integer in 1..{self.num_steps}, got {steps!r}")
        return sorted({round(i * (self.num_steps - 1) / max(steps - 1, 1)) for i in range(steps)}, reverse=True)

    @torch.no_grad()
    def sample(self, n: int, *, steps: int = 50, eta: float = 0.0, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """``n`` images ``(n, C, H, W)`` in [0, 1] by DDIM over ``steps`` steps (``eta = 0``: deterministic given
        the starting noise; ``eta = 1``: DDPM-like). Noise is drawn on the CPU from ``generator`` and moved."""
        if not (isinstance(n, int) and n >= 1):
            raise InvalidValueError(f"n must be a positive integer, got {n!r}")
        if not 0.0 <= eta <= 1.0:
            raise InvalidValueError(f"eta must be in [0, 1], got {eta}")
        device = self.alphas_cumprod.device
        x = torch.randn((n, *self.image_shape), generator=generator).to(device)
        ts = self.timesteps(steps)
        for i, t in enumerate(ts):
            a = self.alphas_cumprod[t]
            a_prev = self.alphas_cumprod[ts[i + 1]] if i + 1 < len(ts) else torch.ones((), device=device)
            eps = self.predict_noise(x, t)
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
            eps = (x - a.sqrt() * x0) / (1 - a).sqrt()  # the noise consistent with the clamped x0
            sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).clamp(min=0).sqrt()
            x = a_prev.sqrt() * x0 + (1 - a_prev - sigma ** 2).clamp(min=0).sqrt() * eps
            if eta > 0 and i + 1 < len(ts):
                x = x + sigma * torch.randn(x.shape, generator=generator).to(device)
        return self.to_images(x)
