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


def code_count(generator) -> int:
    """How many leading latent coordinates of ``generator`` are codes (its integer ``codes``: an InfoGAN's), else 0."""
    codes = getattr(generator, "codes", 0)
    return codes if isinstance(codes, int) and not isinstance(codes, bool) else 0


def code_rows(generator, base: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """One row per code of a generator with ``codes`` leading code coordinates (an InfoGAN's): row ``i`` sets code
    ``i`` of the one latent ``base`` ``(k,)`` to each of ``values`` ``(T,)``, the rest fixed -> ``(codes, T, k)``."""
    codes = code_count(generator)
    if codes < 1:
        raise InvalidValueError("a traversal of every code (coord None) needs a generator with codes (an InfoGAN's); "
                                "give a coordinate")
    return torch.cat([traverse(base[None], i, values) for i in range(codes)])


def latent_walk(generator, kind: str, *, rows: int = 6, steps: int = 10, coord: int | None = 0,
                span: float | None = 3.0, seed: int = 0, chunk: int = 1024, progress: bool = False) -> torch.Tensor:
    """Images of a latent walk, ``(rows, steps, C, H, W)`` in [0, 1] on the CPU; latents drawn on the CPU from ``seed``
    (the same walk on every device) from the generator's own prior where it has one (``sample_latent(n,
    generator=...)``, an InfoGAN's uniform codes and noise), else ``N(0, I)``, and decoded on the generator's device,
    ``chunk`` latents at a time (``progress``: a bar over them).

    ``coordinate`` with ``coord=None`` (generators with ``codes``, an InfoGAN's): one row per code, each traversing
    its code over ``[-span, span]`` from one shared latent (``rows`` is then the number of codes); ``span=None``
    is 1 for such a generator (its codes' support) and 3 otherwise. A ``coord`` at or beyond an InfoGAN's codes is
    refused (its other coordinates are noise, not codes)."""
    codes = code_count(generator)
    if span is None:
        span = 1.0 if codes else 3.0
    if kind == "coordinate" and coord is not None and codes and coord >= codes:
        raise InvalidValueError(f"--coord must be one of the generator's {codes} codes, 0..{codes - 1}, got {coord} "
                                "(the coordinates after them are noise)")
    if kind not in WALKS:
        raise unknown("walk", kind, WALKS)
    if rows < 1 or steps < 1:
        raise InvalidValueError(f"a walk needs rows >= 1 and steps >= 1, got rows={rows}, steps={steps}")
    if not math.isfinite(span):
        raise InvalidValueError(f"--span must be a finite number, got {span}")
    k = int(generator.latent_dim)
    g = torch.Generator().manual_seed(check_seed("seed", seed))
    draw = getattr(generator, "sample_latent", None)
    z0, z1 = (draw(rows, generator=g) for _ in range(2)) if draw else (torch.randn(rows, k, generator=g) for _ in range(2))
    t = torch.linspace(0, 1, steps)
    if kind == "linear":
        zs = lerp(z0, z1, t)
    elif kind == "spherical":
        zs = slerp(z0, z1, t)
    elif coord is None:
        zs = code_rows(generator, z0[0], torch.linspace(-span, span, steps))
        rows = zs.shape[0]
    else:
        zs = traverse(z0, coord, torch.linspace(-span, span, steps))
    flat, device = zs.reshape(rows * steps, k), device_of(generator)
    with torch.no_grad():
        x = torch.cat([generator(flat[i:i + chunk].to(device)).cpu()
                       for i in progress_bar(range(0, len(flat), chunk), desc="decoding", enabled=progress, leave=False)])
    if x.dim() != 4:
        raise ShapeError(f"walks need an image generator (output (B, C, H, W)); this one gives {tuple(x.shape[1:])}")
    return x.reshape(rows, steps, *x.shape[1:]).clamp(0, 1)
