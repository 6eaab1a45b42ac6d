"""Procedural dSprites (Matthey, Higgins, Hassabis & Lerchner 2017): binary 2-D shapes rendered from five factors.

The factor grid is the original's (its ``color`` factor, constant white, is left out):

====  ===========  ======  =====================================================
 k    factor       values  meaning
====  ===========  ======  =====================================================
 0    shape        3       square, ellipse, heart
 1    scale        6       ``linspace(0.5, 1, 6)``
 2    orientation  40      ``linspace(0, 2 pi, 40)`` (both ends, as the original)
 3    posX         32      ``linspace(0, 1, 32)``, left to right (image column)
 4    posY         32      ``linspace(0, 1, 32)``, top to bottom (image row)
====  ===========  ======  =====================================================

3 * 6 * 40 * 32 * 32 = 737,280 combinations, indexed in mixed radix with posY fastest (the original's order).
Note the symmetries the original has too: orientations 0 and 2 pi give the same image, a square repeats every
90 degrees and an ellipse every 180 degrees, so the orientation factor is not identifiable from every image.

Rendering (:func:`render`) is exact and deterministic: each pixel centre ``((j + 1/2) / S, (i + 1/2) / S)`` of the
``S x S`` canvas (``S`` = 64, or 32 for CPU budgets) is moved into the shape's frame (translated, inverse-rotated,
divided by the scale) and tested with an analytic inequality; a pixel is 1 inside, 0 outside (no anti-aliasing).
In the shape's frame every shape fits the unit disc:

* square ``max(|u|, |v|) <= 1/sqrt(2)`` (corners on the unit circle);
* ellipse ``u^2 + (v / 0.5)^2 <= 1`` (aspect 2 : 1, long axis horizontal at orientation 0);
* heart ``(x^2 + y^2 - 1)^3 - x^2 y^3 <= 0`` with ``(x, y) = 1.35 * (u, -v) + (0, 0.12)`` (upright at orientation 0).

Map to the canvas (in canvas units, the canvas being ``[0, 1]^2``): a shape of scale ``s`` has radius
``R = 0.16 s`` (at scale 1 it spans at most 0.32 of the canvas: ~20 px of 64); its centre is
``0.19 + 0.62 * pos`` on each axis, so every shape at every position, scale and orientation keeps at least
0.03 of the canvas (1.9 px at 64) inside the border. This differs from the original, whose positions run over
more of the canvas (shapes there can touch the border) and whose sprites were drawn as anti-aliased bitmaps
then binarised; the factor grid and labels are the same.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from genprior.data.registry import Dataset
from genprior.errors import InvalidValueError, ShapeError, check_number, check_seed

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPES = ("square", "ellipse", "heart")
SIZES = (32, 64)
N_COMBINATIONS = math.prod(FACTOR_SIZES)  # 737,280
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * math.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
RADIUS = 0.16  # shape radius at scale 1, in canvas units
MARGIN = 0.19  # centre range [MARGIN, 1 - MARGIN]
_CHUNK = 4096  # images rendered at once (bounds the temporary memory)


def factor_sizes() -> tuple[int, ...]:
    """The number of values of each factor: ``(3, 6, 40, 32, 32)`` for (shape, scale, orientation, posX, posY)."""
    return FACTOR_SIZES


def check_factors(factors, sizes=FACTOR_SIZES) -> torch.Tensor:
    """``factors`` as an ``(N, K)`` int64 tensor if it is an integer array with ``0 <= factors[:, k] < sizes[k]``,
    else a one-line ``ShapeError`` / ``InvalidValueError``."""
    f = torch.as_tensor(factors)
    if f.dim() != 2 or f.shape[1] != len(sizes):
        raise ShapeError(f"factors must be (N, {len(sizes)}), got {tuple(f.shape)}")
    if f.dtype.is_floating_point or f.dtype == torch.bool or f.is_complex():
        raise InvalidValueError(f"factors must be integers, got {f.dtype}")
    f = f.long()
    high = torch.tensor(sizes)
    bad = ((f < 0) | (f >= high)).any(0)
    if bad.any():
        k = int(bad.nonzero()[0])
        raise InvalidValueError(f"factor {k} must lie in 0..{sizes[k] - 1}, got values {int(f[:, k].min())}..{int(f[:, k].max())}")
    return f


def _check_size(size) -> int:
    if isinstance(size, bool) or size not in SIZES:
        raise InvalidValueError(f"sprites size must be one of {SIZES}, got {size!r}")
    return int(size)


def _square(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.maximum(u.abs(), v.abs()) <= 1 / math.sqrt(2)


def _ellipse(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return u * u + 4 * v * v <= 1


def _heart(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    x, y = 1.35 * u, 0.12 - 1.35 * v
    r = x * x + y * y - 1
    return r * r * r <= x * x * y * y * y


_INSIDE = (_square, _ellipse, _heart)  # membership tests in the shape's frame, in the order of SHAPES


def render(factors, *, size: int = 64) -> torch.Tensor:
    """Images ``(N, 1, size, size)`` float32 with values in {0, 1} for ``factors`` ``(N, 5)`` (integers, factor ``k``
    in ``0 .. factor_sizes()[k] - 1``); ``size`` 64 (as dSprites) or 32. Deterministic: the same factors always give
    the same pixels (see the module docstring for the geometry)."""
    size = _check_size(size)
    f = check_factors(factors)
    n = f.shape[0]
    out = torch.zeros(n, size * size)
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # pixel centres, canvas units
    cos_t = torch.from_numpy(np.cos(ORIENTATIONS)).float()
    sin_t = torch.from_numpy(np.sin(ORIENTATIONS)).float()
    radii = torch.from_numpy(SCALES * RADIUS).float()
    centres = torch.from_numpy(MARGIN + (1 - 2 * MARGIN) * POSITIONS).float()
    # Only a P x P patch around the centre can hold the shape (its radius is at most RADIUS): compute that, paste it
    patch = math.ceil(2 * RADIUS * size) + 1
    corner = ((centres - RADIUS) * size).floor().long().clamp(0, size - patch)  # first pixel of the patch
    offs = torch.arange(patch)
    for a in range(0, n, _CHUNK):
        c = f[a:a + _CHUNK]
        cols = corner[c[:, 3]].view(-1, 1) + offs  # (m, P) pixel columns of the patch
        rows = corner[c[:, 4]].view(-1, 1) + offs
        r = radii[c[:, 1]].view(-1, 1, 1)
        dx = ((grid[cols] - centres[c[:, 3]].view(-1, 1)) / r.view(-1, 1)).view(-1, 1, patch)
        dy = ((grid[rows] - centres[c[:, 4]].view(-1, 1)) / r.view(-1, 1)).view(-1, patch, 1)
        ct, st = cos_t[c[:, 2]].view(-1, 1, 1), sin_t[c[:, 2]].view(-1, 1, 1)
        u = ct * dx + st * dy  # inverse rotation: the pixel in the shape's frame, (m, P, P)
        v = ct * dy - st * dx
        mask = torch.empty_like(u, dtype=torch.bool)
        for k, inside in enumerate(_INSIDE):  # each image tested only against its own shape
            pick = c[:, 0] == k
            if pick.any():
                mask[pick] = inside(u[pick], v[pick])
        where = (rows.view(-1, patch, 1) * size + cols.view(-1, 1, patch)).view(-1, patch * patch)
        out[a:a + _CHUNK].scatter_(1, where, mask.view(-1, patch * patch).float())
    return out.view(n, 1, size, size)


def sample_factors(n: int, *, seed: int = 0) -> torch.Tensor:
    """``n`` factor vectors ``(n, 5)`` int64, each factor drawn independently and uniformly from its values."""
    check_number("n", n, low=0, integer=True)
    rng = np.random.default_rng(check_seed("seed", seed))
    return torch.from_numpy(np.stack([rng.integers(0, k, size=n) for k in FACTOR_SIZES], 1).astype(np.int64))


def _radix() -> torch.Tensor:
    return torch.tensor([math.prod(FACTOR_SIZES[k + 1:]) for k in range(len(FACTOR_SIZES))])


def factors_to_index(factors) -> torch.Tensor:
    """Full-grid index ``(N,)`` in ``0 .. 737,279`` of ``factors`` ``(N, 5)`` (mixed radix, posY fastest)."""
    return (check_factors(factors) * _radix()).sum(1)


def index_to_factors(index) -> torch.Tensor:
    """Factors ``(N, 5)`` int64 of full-grid indices ``(N,)`` in ``0 .. 737,279``; the inverse of
    :func:`factors_to_index`."""
    i = torch.as_tensor(index)
    if i.dim() != 1 or i.dtype.is_floating_point or i.dtype == torch.bool:
        raise ShapeError(f"index must be a 1-D integer tensor, got shape {tuple(i.shape)} and {i.dtype}")
    i = i.long()
    if i.numel() and (int(i.min()) < 0 or int(i.max()) >= N_COMBINATIONS):
        raise InvalidValueError(f"index must lie in 0..{N_COMBINATIONS - 1}, got {int(i.min())}..{int(i.max())}")
    return (i.view(-1, 1) // _radix()) % torch.tensor(FACTOR_SIZES)


def sprites_dataset(n: int, *, size: int = 64, seed: int = 0) -> Dataset:
    """``n`` sprites with uniformly drawn factors (:func:`sample_factors` with ``seed``): a ``Dataset`` named
    ``sprites`` (``sprites-32`` at ``size=32``), split ``train``, images ``(n, 1, size, size)`` in {0, 1} and labels the
    full-grid indices ``(n,)`` (:func:`index_to_factors` gives the ``(n, 5)`` factors back)."""
    size = _check_size(size)
    check_number("n", n, low=1, integer=True)
    f = sample_factors(n, seed=seed)
    return Dataset("sprites" if size == 64 else f"sprites-{size}", "train", render(f, size=size), factors_to_index(f))
