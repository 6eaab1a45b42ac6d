"""Latent walks for any generator: linear and spherical interpolation, traversal of one coordinate."""

from __future__ import annotations

import math

import torch

from genprior.devices import device_of
from genprior.errors import InvalidValueError, ShapeError, check_seed, unknown
from genprior.progress import progress_bar

WALKS = ("linear", "spherical", "coordinate")


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation: ``z0, z1`` ``(R, k)``, ``t`` ``(T,)`` in [0, 1] -> ``(R, T, k)``."""
    t = t.view(1, -1, 1)
    return (1 - t) * z0[:, None] + t * z1[:, None]


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for GAN latents): ``(R, k), (R, k), (T,) -> (R, T, k)``.

    ``sin((1-t) W) / sin W z0 + sin(t W) / sin W z1`` with ``W`` the angle between ``z0`` and ``z1``;
    falls back to linear where the two are (anti)parallel.
    """
    cos = (torch.nn.functional.normalize(z0, dim=1) * torch.nn.functional.normalize(z1, dim=1)).sum(1).clamp(-1, 1)
    omega = torch.arccos(cos).view(-1, 1, 1)
    so = torch.sin(omega)
    tt = t.view(1, -1, 1)
    safe = so.abs() > 1e-6
    a = torch.where(safe, torch.sin((1 - tt) * omega) / torch.where(safe, so, 1.0), 1 - tt)
    b = torch.where(safe, torch.sin(tt * omega) / torch.where(safe, so, 1.0), tt)
    return a * z0[:, None] + b * z1[:, None]


def traverse(z: torch.Tensor, coord: int, values: torch.Tensor) -> torch.Tensor:
    """Set latent coordinate ``coord`` of each ``z`` ``(R, k)`` to each of ``values`` ``(T,)`` -> ``(R, T, k)``."""
    if not 0 <= coord < z.shape[1]:
        raise InvalidValueError(f"--coord must be in [0, {z.shape[1] - 1}] for a {z.shape[1]}-dimensional latent, got {coord}")
    out = z[:, None].repeat(1, len(values), 1)
    out[:, :, coord] = values
    return out


def latent_walk(generator, kind: str, *, rows: int = 6, steps: int = 10, coord: int = 0, span: float = 3.0,
                seed: int = 0, chunk: int = 1024, progress: bool = False) -> torch.Tensor:
    """Images of a latent walk, ``(rows, steps, C, H, W)`` in [0, 1] on the CPU; ``z ~ N(0, I)`` drawn on the CPU from
    ``seed`` (the same walk on every device) and decoded on the generator's device, ``chunk`` latents at a time
    (``progress``: a bar over them)."""
    if kind not in WALKS:
        raise unknown("walk", kind, WALKS)
    if rows < 1 or steps < 1:
        raise InvalidValueError(f"a walk needs rows >= 1 and steps >= 1, got rows={rows}, steps={steps}")
    if not math.isfinite(span):
        raise InvalidValueError(f"--span must be a finite number, got {span}")
    k = int(generator.latent_dim)
    g = torch.Generator().manual_seed(check_seed("seed", seed))
    z0, z1 = torch.randn(rows, k, generator=g), torch.randn(rows, k, generator=g)
    t = torch.linspace(0, 1, steps)
    if kind == "linear":
        zs = lerp(z0, z1, t)
    elif kind == "spherical":
        zs = slerp(z0, z1, t)
    else:
        zs = traverse(z0, coord, torch.linspace(-span, span, steps))
    flat, device = zs.reshape(rows * steps, k), device_of(generator)
    with torch.no_grad():
        x = torch.cat([generator(flat[i:i + chunk].to(device)).cpu()
                       for i in progress_bar(range(0, len(flat), chunk), desc="decoding", enabled=progress, leave=False)])
    if x.dim() != 4:
        raise ShapeError(f"walks need an image generator (output (B, C, H, W)); this one gives {tuple(x.shape[1:])}")
    return x.reshape(rows, steps, *x.shape[1:]).clamp(0, 1)
