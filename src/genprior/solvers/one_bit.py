"""One-bit compressed sensing: recover images from the signs ``y = sign(A x)`` of Gaussian measurements.

The signs keep only the direction of ``x``: ``sign(A (c x)) = sign(A x)`` for every ``c > 0``, so a recovery is
judged by its direction (:func:`genprior.evaluate.metrics.direction_error`). Two solvers:

* :func:`one_bit_csgm`, a generative prior (Liu, Gomes, Jalal & Scarlett 2020, "Sample complexity bounds for
  1-bit compressive sensing and binary stable embeddings with generative priors"; Qiu, Wei & Yang 2020): search
  the latent space for ``G(z)`` whose measurements agree with the signs, through a logistic loss on the
  normalised margins ``u_i = y_i (A G(z))_i sqrt(m) / ||A G(z)||``:

      L(z) = sum_i log(1 + exp(-u_i / tau)),

  which is scale-free like the measurements (a scaled ``G(z)`` has the same loss), rewards consistent signs and,
  among consistent ``G(z)``, large margins. ``sign()`` has no gradient; ``L`` has one. It is CSGM
  (:func:`genprior.solvers.latent.csgm`) on the Gaussian ``A`` with this loss in place of ``||y - A G(z)||^2``:
  restarts, batching and the winner (lowest ``L``, from ``y`` alone) are the same.
* :func:`biht`, the classic sparsity baseline: binary iterative hard thresholding (Jacques, Laska, Boufounos &
  Baraniuk 2013, "Robust 1-bit compressive sensing via binary stable embeddings", Algorithm 1), in a basis, with
  the iterate normalised to the unit sphere each step.
"""

from __future__ import annotations

import math

import torch

from genprior.errors import InvalidValueError, check_sizes
from genprior.operators.base import Operator
from genprior.solvers.lasso.bases import basis_matrix
from genprior.solvers.latent import LatentRecovery, csgm

# the logistic loss's temperature and the search, chosen on MNIST test images 300..339 (m = 50..784) with mnist-vae
TAU, RESTARTS, STEPS, LR = 0.2, 10, 300, 0.05


def _check_sign_operator(operator, y: torch.Tensor, owner: str) -> torch.Tensor:
    if getattr(operator, "measurement", None) != "sign":
        name = operator.name if isinstance(operator, Operator) else type(operator).__name__
        raise InvalidValueError(f"{owner} needs one-bit measurements from a Sign operator, got {name}")
    y = operator.check_measurements(y)
    if not bool(((y == 1) | (y == -1)).all()):
        raise InvalidValueError(f"{owner}: one-bit measurements must be +1 or -1 (as Sign.measure gives them); "
                                f"{int(((y != 1) & (y != -1)).sum())} entries are not")
    return y


def sign_agreement_loss(tau: float = TAU):
    """The loss ``L`` above as a ``residual_loss`` for :func:`csgm`: a map ``(A G(z) - y, y) -> (N,)``."""
    if not (isinstance(tau, (int, float)) and 0 < tau < math.inf):
        raise InvalidValueError(f"tau must be a finite number > 0, got {tau!r}")

    def loss(residual: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        v = residual + y  # the real-valued measurements A G(z)
        scale = v.norm(dim=1, keepdim=True).clamp_min(1e-12) / math.sqrt(v.shape[1])
        return torch.nn.functional.softplus(-(y * v) / (tau * scale)).sum(1)

    return loss


def one_bit_csgm(generator, operator: Operator, y: torch.Tensor, *, tau: float = TAU, restarts: int = RESTARTS,
                 steps: int = STEPS, lr: float = LR, seed: int = 0, progress: bool = False,
                 offset: int = 0) -> LatentRecovery:
    """Recover images from one-bit measurements ``y`` ``(B, m)`` (entries +1/-1) of a :class:`Sign` operator with
    the prior ``generator``: Adam on ``L(z)`` from ``restarts`` starts of ``steps`` steps at ``lr``. Returns
    :func:`csgm`'s :class:`LatentRecovery` (``x = G(z)`` ``(B, C, H, W)``; its ``measurement_loss`` is ``L``).
    ``restarts``, ``steps``, ``lr`` and ``tau`` were chosen with ``mnist-vae`` on MNIST test images 300..339.
    ``offset``: as in :func:`csgm` (a part of a larger batch)."""
    y = _check_sign_operator(operator, y, "one_bit_csgm")
    return csgm(generator, operator.linear_part, y, restarts=restarts, steps=steps, lr=lr, seed=seed,
                residual_loss=sign_agreement_loss(tau), progress=progress, offset=offset)


def biht(operator: Operator, y: torch.Tensor, *, basis: str = "wavelet", sparsity: int = 50, steps: int = 300,
         step: float = 0.5) -> torch.Tensor:
    """Binary iterative hard thresholding: ``c <- H_s(c + (step / sqrt(m)) Psi^T A^T (y - sign(A Psi c)))``,
    then ``c / ||c||``, from ``c = 0``, keeping the ``sparsity`` largest coefficients in ``basis`` (``pixel``,
    ``dct``, ``wavelet``). With ``A_ij ~ N(0, 1/m)``, ``A^T sign(A x) ~ sqrt(2m/pi) x/||x||``, so ``step/sqrt(m)``
    makes each correction of order ``step``. Returns unit-norm images ``(B, C, H, W)`` (float64; their
    direction is the estimate). ``sparsity = 50`` in the Haar basis was the best of 25..200 and three bases on
    MNIST test images 300..339."""
    y = _check_sign_operator(operator, y, "biht")
    check_sizes("biht", steps=steps, sparsity=sparsity)
    n = operator.input_size
    if sparsity > n:
        raise InvalidValueError(f"biht: sparsity {sparsity} is more than the {n} coefficients of an image")
    if not (isinstance(step, (int, float)) and 0 < step < math.inf):
        raise InvalidValueError(f"biht: step must be a finite number > 0, got {step!r}")
    psi = basis_matrix(basis, operator.input_shape)
    design = operator.linear_part.matrix().double().cpu() @ psi  # (m, n)
    y = y.double().cpu()
    rate = step / math.sqrt(design.shape[0])
    c = torch.zeros(y.shape[0], n, dtype=torch.float64)
    for _ in range(steps):
        c = c + rate * (y - torch.sign(c @ design.T)) @ design
        keep = torch.zeros_like(c, dtype=torch.bool).scatter_(1, c.abs().topk(sparsity, dim=1).indices, True)
        c = torch.where(keep, c, torch.zeros_like(c))
        c = c / c.norm(dim=1, keepdim=True).clamp_min(1e-300)
    return (c @ psi.T).view(-1, *operator.input_shape)
