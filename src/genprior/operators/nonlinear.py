"""Nonlinear measurement operators (forward only): magnitudes of Gaussian measurements, 1-bit signs.

See Bora et al. 2017 and the CSGM deck on nonlinear measurements; recovery uses the same latent solver.
"""

from __future__ import annotations

import torch

from genprior.operators.base import Operator
from genprior.operators.linear import Gaussian


class _Pointwise(Operator):
    """``f(A x)`` for a fixed elementwise ``f`` applied to Gaussian measurements (noise added after ``f``)."""

    def __init__(self, *, m: int, shape=(1, 28, 28), noise_std: float = 0.0, noise: str = "total", seed: int = 0):
        self.inner = Gaussian(m=m, shape=shape, seed=seed)
        super().__init__(shape, m, noise_std=noise_std, noise=noise)

    @property
    def linear_part(self) -> Gaussian:
        return self.inner

    def forward(self, x):
        return self.pointwise(self.inner.forward(x))


class Magnitude(_Pointwise):
    """Phase-less measurements ``|A x|`` (real-valued phase retrieval)."""

    measurement = "magnitude"

    @staticmethod
    def pointwise(v):
        return v.abs()


class Sign(_Pointwise):
    """One-bit measurements ``sign(A x + eta)``: the noise acts before the sign and flips the bits of measurements
    near 0 (the usual noisy one-bit model), so measurements stay +1/-1. Not differentiable: the latent solvers
    refuse it; :mod:`genprior.solvers.one_bit` solves it."""

    measurement = "sign"
    differentiable = False  # gradients through sign() are zero

    @staticmethod
    def pointwise(v):
        return torch.sign(v)

    def measure(self, x: torch.Tensor, *, generator: torch.Generator | None = None, seed: int | None = None) -> torch.Tensor:
        """``sign(A x + eta)``, ``eta`` drawn as :meth:`Operator.measure` draws it."""
        x = self.check_input(x)  # errors name this operator, not its inner Gaussian
        return torch.sign(self.add_noise(self.inner.measure(x), generator=generator, seed=seed))
