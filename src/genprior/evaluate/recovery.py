"""Run a named recovery method on measured images and score it: what ``genprior recover``, the demo and
the benchmarks share.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from genprior.errors import InvalidValueError, unknown
from genprior.evaluate.metrics import summarize
from genprior.operators.base import Operator
from genprior.operators.nonlinear import Sign
from genprior.solvers import dip, one_bit
from genprior.solvers.one_bit import biht, one_bit_csgm

LATENT_METHODS = ("csgm", "csgm-fast", "hybrid")
LASSO_METHODS = ("lasso-pixel", "lasso-dct", "lasso-wavelet")
METHODS = LATENT_METHODS + LASSO_METHODS + ("dip", "biht")
ONE_BIT_METHODS = ("csgm", "biht")  # what one-bit measurements (a Sign operator) take
DEFAULT_ALPHA = 0.1  # the CSGM reference's Lasso weight (scikit-learn's objective scaling)
# the methods that take Adam steps and a rate, with their defaults (csgm's: the CSGM paper's protocol)
SCHEDULES = {"csgm": {"steps": 1000, "lr": 0.01}, "dip": {"steps": dip.STEPS, "lr": dip.LR}}


def schedule(method: str, *, steps: int | None = None, lr: float | None = None) -> dict:
    """``{"steps", "lr"}`` of a method in :data:`SCHEDULES`, ``None`` replaced by the method's default."""
    if method not in SCHEDULES:
        raise InvalidValueError(f"method {method} takes no steps or lr (only {', '.join(SCHEDULES)} do)")
    default = SCHEDULES[method]
    return {"steps": default["steps"] if steps is None else steps, "lr": default["lr"] if lr is None else lr}


@dataclass
class MethodResult:
    """A method's recoveries ``x`` ``(B, C, H, W)``, its metrics (dict) and its wall time inside the solver."""

    method: str
    x: torch.Tensor
    metrics: dict
    seconds: float


def recover(method: str, operator: Operator, y: torch.Tensor, *, generator=None, lam: float = 0.0, restarts: int | None = None,
            steps: int | None = None, lr: float | None = None, alpha: float | None = None, seed: int = 0,
            progress: bool = False) -> torch.Tensor:
    """Recover images ``(B, *operator.input_shape)`` from ``y`` ``(B, m)`` with a named method.

    ``restarts``: random starts of a latent method (``None``: its own default, 10 for ``csgm``, 40 screened to 12
    for ``csgm-fast``); ``steps`` and ``lr`` are ``csgm``'s and ``dip``'s (``None``: :data:`SCHEDULES`).
    ``hybrid`` always runs with its tested defaults; ``dip`` (Deep Image Prior) needs no generator.
    """
    if method not in METHODS:
        raise unknown("method", method, METHODS)
    if isinstance(operator, Sign) or method == "biht":
        return _recover_one_bit(method, operator, y, generator=generator, lam=lam, restarts=restarts, steps=steps,
                                lr=lr, alpha=alpha, seed=seed, progress=progress)
    if method == "dip":
        return dip.deep_image_prior(operator, y, seed=seed, progress=progress, **schedule(method, steps=steps, lr=lr)).x
    if method in LATENT_METHODS:
        if generator is None:
            raise InvalidValueError(f"method {method} needs a generator (--model)")
        from genprior.solvers.hybrid import hybrid
        from genprior.solvers.latent import csgm, csgm_fast

        if method == "hybrid":  # its defaults (restarts, schedule, sparse weights) are the tested setting;
            # it checks the operator itself (linear, or magnitudes)
            return hybrid(generator, operator, y, lam=lam, seed=seed).x
        starts = {} if restarts is None else {"restarts": restarts}  # None: the solver's own default
        if method == "csgm-fast":  # its own schedule: screened Adam + Levenberg-Marquardt (steps/lr not used)
            return csgm_fast(generator, operator, y, lam=lam, seed=seed, progress=progress, **starts).x
        return csgm(generator, operator, y, lam=lam, seed=seed, progress=progress, **starts,
                    **schedule(method, steps=steps, lr=lr)).x
    if not operator.linear:
        raise InvalidValueError(f"method {method} needs a linear operator, {operator.name} is not")
    from genprior.solvers.sparse import lasso

    return lasso(operator, y, basis=lasso_basis(method), alpha=DEFAULT_ALPHA if alpha is None else alpha).x


def _recover_one_bit(method: str, operator: Operator, y: torch.Tensor, *, generator, lam: float, restarts, steps, lr,
                     alpha, seed: int, progress: bool) -> torch.Tensor:
    """One-bit measurements: ``csgm`` is :func:`one_bit_csgm` (its own loss and schedule), ``biht`` the baseline."""
    if not isinstance(operator, Sign):
        raise InvalidValueError(f"method biht needs one-bit measurements (task one-bit), {operator.name} is not")
    if method not in ONE_BIT_METHODS:
        raise InvalidValueError(f"one-bit measurements take method csgm (one_bit_csgm) or biht, not {method}")
    if method == "biht":
        return biht(operator, y).float()
    if generator is None:
        raise InvalidValueError("method csgm needs a generator (--model)")
    if lam or alpha is not None:
        raise InvalidValueError("one-bit csgm takes no lam or alpha: its loss is scale-free")
    return one_bit_csgm(generator, operator, y, seed=seed, progress=progress,
                        restarts=one_bit.RESTARTS if restarts is None else restarts,
                        steps=one_bit.STEPS if steps is None else steps, lr=one_bit.LR if lr is None else lr).x


def lasso_basis(method: str) -> str:
    """The basis of a Lasso method: ``"lasso-dct"`` -> ``"dct"``."""
    if method not in LASSO_METHODS:
        raise unknown("Lasso method", method, LASSO_METHODS)
    return method.split("-", 1)[1]


def run_method(method: str, images: torch.Tensor, operator: Operator, y: torch.Tensor, **options) -> MethodResult:
    """``recover`` then score against the true ``images``; times the solver only."""
    t0 = time.perf_counter()
    x_hat = recover(method, operator, y, **options)
    seconds = time.perf_counter() - t0
    return MethodResult(method, x_hat, summarize(x_hat.cpu(), images.cpu()), seconds)
