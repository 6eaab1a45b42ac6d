"""2-D Gaussian mixtures for mode-collapse experiments (Metz et al. 2017; Srivastava et al. 2017 VEEGAN;
Lin et al. 2018 PacGAN, Sec. 5.1).

* ``ring``: 8 equal-weight Gaussians with means on the unit circle (angles 2 pi i / 8), std 0.01.
* ``grid``: 25 equal-weight Gaussians with means on {-4, -2, 0, 2, 4}^2, std 0.05.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genprior.errors import InvalidValueError, unknown

TOY2D = ("ring", "grid")


@dataclass(frozen=True)
class GaussianMixture2D:
    """Equal-weight isotropic mixture: ``modes`` ``(M, 2)`` and one ``std`` for every component."""

    name: str
    modes: torch.Tensor
    std: float

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points ``(n, 2)`` float32: a uniformly drawn mode plus N(0, std^2 I) noise."""
        if n < 0:
            raise InvalidValueError(f"number of samples must be >= 0, got {n}")
        idx = torch.randint(len(self.modes), (n,), generator=generator)
        return self.modes[idx] + self.std * torch.randn(n, 2, generator=generator)


def ring(n_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> GaussianMixture2D:
    a = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    modes = torch.stack([radius * torch.cos(a), radius * torch.sin(a)], 1).float()
    return GaussianMixture2D("ring", modes, std)


def grid(values=(-4.0, -2.0, 0.0, 2.0, 4.0), std: float = 0.05) -> GaussianMixture2D:
    v = torch.tensor(values, dtype=torch.float32)
    modes = torch.cartesian_prod(v, v)
    return GaussianMixture2D("grid", modes, std)


def toy2d(name: str) -> GaussianMixture2D:
    """The mixture called ``name`` (``ring`` or ``grid``) with PacGAN's parameters."""
    if name == "ring":
        return ring()
    if name == "grid":
        return grid()
    raise unknown("2-D data set", name, TOY2D)
