"""Hybrid prior ``x = G(z) + v`` with ``v`` sparse (Sparse-Gen: Dhar, Grover & Ermon, ICML 2018).

For linear measurements ``y = A x + eta`` (``A``: ``m x n``) :func:`hybrid` estimates

    min_{z, v}  ||y - A (G(z) + v)||^2 + lam ||z||^2 + 2 mu ||v||_1 + 2 mu0 ||G(z) + v||_1,
                0 <= G(z) + v <= 1,

Sparse-Gen's objective with ``v`` sparse in the pixel basis, plus the ``mu0`` term, which asks the image itself to
be sparse as the pixel-basis Lasso does (the factor 2 makes ``mu`` the usual Lasso weight of ``1/2||.||^2``). Three
phases, each batched over images x restarts:

1. **latent step**: :func:`~genprior.solvers.latent.csgm_fast` from ``restarts`` random starts, the ``keep`` best
   refined by Levenberg-Marquardt.
2. **averaging**: the centre ``g = sum_j w_j G(z_j)`` of the kept restarts, ``w_j ~ exp(-(L_j - L_min) / T)``,
   ranked by the measurement loss ``L_j = ||y - A G(z_j)||^2`` alone (never the truth), with
   ``T = temperature (k / m) max(L_min, sigma^2 n / m)``: an estimate of the posterior mean while many restarts
   explain ``y`` about equally well (small ``m``), the best restart (CSGM) as ``m`` grows.
3. **sparse step**: ``x = argmin_{0 <= x <= 1} 1/2||y - A x||^2 + mu ||x - g||_1 + mu0 ||x||_1`` (``v = x - g``) by
   :func:`~genprior.solvers.lasso.fista.fista` from ``g``, with ``mu0 = mu_scale s sqrt(2 log n)`` (``s = sigma /
   sqrt(m)``, the per-entry noise std: the universal threshold) and ``mu = (1 + (n / (3 m))^3) mu0``, which turns
   the correction off where ``v`` cannot be identified (``m`` well below ``n / 3``) and tends to ``mu0`` at large
   ``m``. ``rounds > 0`` alternates: refit every kept latent to ``y - A v``, re-average, redo the sparse step.

**Magnitudes** (``Magnitude``: ``y = |A x| + eta``, real phase retrieval): the same phases; the sparse step fits
``1/2||y - |A x| ||^2`` by amplitude flow (its gradient re-reads the signs of ``A x`` at every step), a non-convex
problem, so the pull towards ``g`` is stronger: ``mu = (PHASE_MU + (n / (3 m))^3) mu0``. ``rounds`` must be 0.

**Ensemble prior**: ``generator`` may be several generators of one latent size (a sequence, or a
:class:`~genprior.models.ensemble.GeneratorEnsemble` such as the zoo's ``mnist-vae-ensemble``). Each runs the latent
step with its own ``restarts``; all kept restarts are ranked by the same loss and averaged with one set of weights,
so ``g`` is a posterior mean under the mixture of the decoders.

Defaults (``restarts=150, survivors=50, keep=20, temperature=2, mu_scale=0.06, lam=0``, the ``n / (3 m)`` knee,
``PHASE_MU = 30``) were chosen with the MNIST 784-500-500-20 VAE on test images 300..799, never the benchmark's
0..299: ``docs/tuning.md``, section "Hybrid".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch

from genprior.errors import InvalidValueError, check_number, sub_seed
from genprior.models.ensemble import GeneratorEnsemble
from genprior.models.generator import as_images, frozen, latent_dim_of
from genprior.operators.base import Operator
from genprior.solvers.lasso.fista import fista
from genprior.solvers.latent import _check_positive_int, _levenberg_marquardt, csgm_fast


@dataclass
class HybridRecovery:
    """Result of :func:`hybrid` for ``B`` images and ``K`` kept restarts.

    ``x``: ``(B, C, H, W)`` recoveries in [0, 1]; ``z``: ``(B, k)`` latent of the best restart;
    ``center``: ``(B, C, H, W)`` the weighted mean ``g`` of the kept restarts' ``G(z_j)``;
    ``v``: ``(B, C, H, W)`` the sparse part ``x - g``; ``weights``: ``(B, K)`` restart weights;
    ``z_all``: ``(B, K, k)``; ``restart_losses``: ``(B, K)`` measurement losses ``||y - A G(z_j)||^2``;
    ``measurement_loss``: ``(B,)`` ``||y - A x||^2`` (``||y - |A x| ||^2`` for magnitudes); ``mu``, ``mu0``: the l1
    weights used;
    ``source``: ``(K,)`` index of the generator each restart ran through (all 0 for one generator);
    ``best_source``: ``(B,)`` that index for the best restart (the one ``z`` belongs to).
    """

    x: torch.Tensor
    z: torch.Tensor
    center: torch.Tensor
    v: torch.Tensor
    weights: torch.Tensor
    z_all: torch.Tensor
    restart_losses: torch.Tensor
    measurement_loss: torch.Tensor
    mu: float
    mu0: float
    source: torch.Tensor
    best_source: torch.Tensor


PHASE_MU = 30.0  # with magnitudes, mu = (PHASE_MU + (n / (3m))^3) mu0 (docs/tuning.md, "Hybrid")


def _check_nonneg(name: str, v) -> float:
    return float(check_number(name, v, low=0))


def restart_weights(losses: torch.Tensor, *, temperature: float, scale: float, floor: float) -> torch.Tensor:
    """Weights ``(B, K)`` ``~ exp(-(L_j - L_min) / T)`` with ``T = temperature * scale * max(L_min, floor)``.

    :func:`hybrid` passes ``scale = k / m`` and ``floor = sigma^2 n / m``. ``temperature = 0`` puts all the
    weight on the best restart (plain CSGM). Infinite losses get weight 0.
    """
    finite = torch.isfinite(losses)
    lmin = torch.where(finite, losses, torch.full_like(losses, float("inf"))).min(1, keepdim=True).values
    if temperature == 0:
        w = ((losses == lmin) & finite).to(losses.dtype)
    else:
        t = (temperature * scale * lmin.clamp(min=floor)).clamp(min=1e-12)
        w = torch.exp(-(losses - lmin) / t)
        w = torch.where(finite, w, torch.zeros_like(w))
    return w / w.sum(1, keepdim=True).clamp(min=1e-30)


def _sparse_step(a: torch.Tensor, y: torch.Tensor, center: torch.Tensor, mu: float, *, max_iter: int,
                 tol: float, mu0: float = 0.0, magnitudes: bool = False) -> torch.Tensor:
    """The sparse step: ``argmin 1/2||y - A x||^2 + mu||x - center||_1 + mu0||x||_1`` over ``0 <= x <= 1`` by
    :func:`~genprior.solvers.lasso.fista.fista` from ``center``, all rows together until every row's pixels move
    less than ``tol``; with ``magnitudes``, ``1/2||y - |A x| ||^2`` in place of the first term.

    ``a``: ``(m, n)``; ``y``: ``(B, m)``; ``center``: ``(B, n)`` in [0, 1]; all of one dtype. The prox is exact and
    separable (on the box ``||x||_1`` is linear, a shift by ``mu0/L``):
    ``x = center + clip(soft(u - mu0/L - center, mu/L), -center, 1 - center)``. The magnitudes' loss is not
    convex: its gradient ``A^T (A x - y sign(A x))`` (amplitude flow, Wang, Giannakis & Eldar 2018) reads the
    signs of ``A x`` afresh at every step, and the result is the stationary point nearest ``center``.
    """
    m, n = a.shape
    lipschitz = float(torch.linalg.matrix_norm(a, 2)) ** 2
    if lipschitz == 0.0:
        return center.clone()
    thr, shift = mu / lipschitz, mu0 / lipschitz
    gram = a.T @ a if 2 * m >= n and not magnitudes else None

    def grad(x: torch.Tensor, y: torch.Tensor, aty: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        if magnitudes:
            ax = x @ a.T
            return (ax - y * torch.sign(ax)) @ a
        if gram is not None:
            return x @ gram - aty
        return (x @ a.T - y) @ a

    def prox(v: torch.Tensor, y: torch.Tensor, aty: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        u = v - center - shift  # x >= 0 makes mu0 ||x||_1 linear: a shift
        u = u - u.clamp(-thr, thr)  # soft threshold
        return center + torch.minimum(torch.maximum(u, -center), 1.0 - center)

    x, _ = fista(grad, prox, center, 1.0 / lipschitz, max_iter=max_iter, tol=tol, data=(y, y @ a, center),
                 each_row=False)
    return x


def hybrid(generator, operator: Operator, y: torch.Tensor, *, lam: float = 0.0, restarts: int = 150, keep: int = 20,
           screen_steps: int = 8, survivors: int = 50, steps: int = 24, lr: float = 0.3, lm_steps: int = 8, temperature: float = 2.0, mu_scale: float = 0.06,
           mu: float | None = None, mu0: float | None = None, rounds: int = 0, refit_steps: int = 4,
           max_iter: int = 3000, tol: float = 1e-6, seed: int = 0, max_batch: int = 8192,
           offset: int = 0) -> HybridRecovery:
    """Sparse-Gen recovery ``x = G(z) + v`` around a posterior-averaged ``G(z)`` (see the module docstring).

    ``generator``: any module with ``latent_dim`` mapping ``(N, k)`` to images ``(N, *operator.input_shape)``,
    or a sequence of such modules with the same ``latent_dim`` or a :class:`GeneratorEnsemble` (an ensemble prior: each runs the latent step
    with ``restarts`` restarts of its own, and all kept restarts are ranked and averaged together);
    ``operator``: a linear operator with ``matrix()`` (e.g. ``Gaussian``) or magnitudes ``|A x|`` (``Magnitude``,
    phase retrieval: see the module docstring); ``y``: ``(B, m)``. The averaging and the sparse step run in the
    generators' dtype (float32 or float64), at least float32.

    - ``lam``: weight of ``||z||^2`` in the latent step.
    - ``restarts``, ``screen_steps``, ``survivors``, ``steps``, ``lr``, ``lm_steps``, ``keep``: the latent step
      (:func:`csgm_fast`: ``screen_steps`` Adam steps from every start, ``steps`` more on the ``survivors`` best,
      ``screen_steps=0`` for a single stage); the ``keep`` best restarts (per generator) are refined and averaged
      (all of them when ``keep >= restarts``: lowering ``restarts`` alone needs no matching ``keep``).
    - ``temperature``: averaging temperature in units of ``(k/m) max(L_min, sigma^2 n/m)``; 0 = best restart only.
    - ``mu_scale``: ``mu0`` in units of ``s sqrt(2 log n)``; ``mu = (1 + (n/(3m))^3) mu0``. ``mu`` and ``mu0``
      override the rule with absolute values (needed for a noiseless operator, where the rule gives 0: then a
      box-constrained least-squares fit around ``g``). ``mu0 > mu`` is refused (it would pull ``x`` below ``g``).
    - ``rounds``, ``refit_steps``: alternations (refit latents to ``y - A v``; re-average; sparse step).
    - ``max_iter``, ``tol``: the sparse step's FISTA (stops when no pixel moves more than ``tol``).
    - ``offset``: as in :func:`csgm_fast` (``y`` is a part of a larger batch, from its row ``offset``).

    Returns a :class:`HybridRecovery` (``x``, ``center``, ``v`` in ``y``'s floating dtype). Raises
    ``InvalidValueError`` (a ``GenpriorError``) for a non-linear operator, NaN measurements, an empty or mixed-latent
    ensemble or a bad option; ``ShapeError`` for a wrong ``y`` shape. Defaults chosen on MNIST test images 300..799
    (``docs/tuning.md``, section "Hybrid").
    """
    measurement = operator.measurement if isinstance(operator, Operator) else None
    magnitudes = measurement == "magnitude"
    if measurement not in ("linear", "magnitude"):
        name = getattr(operator, "name", type(operator).__name__)
        raise InvalidValueError(f"hybrid needs a linear operator with a matrix or magnitudes |A x| (Magnitude); "
                                f"{name} is neither")
    y = operator.check_measurements(y)
    if isinstance(generator, GeneratorEnsemble):
        generators = tuple(generator.members)
    else:
        generators = tuple(generator) if isinstance(generator, (list, tuple)) else (generator,)
    if not generators:
        raise InvalidValueError("hybrid needs at least one generator, got an empty sequence")
    dims = [latent_dim_of(g) for g in generators]
    if len(set(dims)) > 1:
        raise InvalidValueError(f"an ensemble prior needs one latent size for all generators, got {dims}")
    k = dims[0]
    for name, v in (("restarts", restarts), ("keep", keep), ("steps", steps), ("lm_steps", lm_steps),
                    ("max_iter", max_iter), ("refit_steps", refit_steps), ("survivors", survivors)):
        _check_positive_int(name, v)
    _check_positive_int("screen_steps", screen_steps, allow_zero=True)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise InvalidValueError(f"rounds must be an integer >= 0, got {rounds!r}")
    if magnitudes and rounds:
        raise InvalidValueError("rounds (refitting the latents to y - A v) needs linear measurements; "
                                "with magnitudes pass rounds=0")
    lam = _check_nonneg("lam", lam)
    temperature = _check_nonneg("temperature", temperature)
    mu_scale = _check_nonneg("mu_scale", mu_scale)
    tol = _check_nonneg("tol", tol)
    n, m = operator.input_size, operator.output_size
    base = mu_scale * operator.entry_noise_std * math.sqrt(2.0 * math.log(n))
    knee = PHASE_MU if magnitudes else 1.0
    mu = _check_nonneg("mu", (knee + (n / (3.0 * m)) ** 3) * base if mu is None else mu)
    mu0 = _check_nonneg("mu0", min(base, mu) if mu0 is None else mu0)
    if mu0 > mu:
        raise InvalidValueError(f"need mu0 <= mu (else x is pulled below the prior for free), got mu0={mu0}, mu={mu}")
    keep = min(keep, restarts)
    noise_power = operator.entry_noise_std ** 2 * m  # E||eta||^2 = sigma^2
    weigh = partial(restart_weights, temperature=temperature, scale=k / m, floor=noise_power * n / m)

    # reg=0: the restart average below does the small-m regularisation (csgm_fast's default shrinkage is off here);
    # the first generator keeps the single-generator seed, so a one-element ensemble is the plain method
    fits = [csgm_fast(g, operator, y, lam=lam, restarts=restarts, screen_steps=screen_steps,
                      survivors=survivors, steps=steps, lr=lr, keep=keep,
                      lm_steps=lm_steps, reg=0.0, seed=sub_seed(seed, 7919 * i), max_batch=max_batch, offset=offset)
            for i, g in enumerate(generators)]
    z_all = torch.cat([f.z_all for f in fits], 1)  # (B, K, k), K = restarts per generator x generators
    losses = torch.cat([f.restart_losses for f in fits], 1)  # (B, K); inf for restarts not kept
    b = z_all.shape[0]
    device = z_all.device
    source = torch.cat([torch.full((f.z_all.shape[1],), i, device=device) for i, f in enumerate(fits)])  # (K,)
    shape = operator.input_shape
    work = torch.promote_types(z_all.dtype, torch.float32)  # a float64 generator keeps float64 throughout
    a = operator.linear_part.matrix().to(device=device, dtype=work)
    yf = y.to(device=device, dtype=work)

    def images_of(z):  # (B, K, k) -> (B, K, n), each column through its own generator
        parts = []
        for i, g in enumerate(generators):
            zi = z[:, source == i]
            with torch.no_grad(), frozen(g):
                parts.append(as_images(g(zi.reshape(-1, k)), shape).reshape(b, zi.shape[1], n).to(work))
        return torch.cat(parts, 1)

    gz = images_of(z_all)
    w = weigh(losses)
    center = (w[..., None] * gz).sum(1).clamp(0.0, 1.0)
    x = _sparse_step(a, yf, center, mu, mu0=mu0, max_iter=max_iter, tol=tol, magnitudes=magnitudes)
    for _ in range(rounds):
        target = yf - (x - center) @ a.T
        refit = []
        for i, g in enumerate(generators):
            zi = z_all[:, source == i]
            with frozen(g):
                refit.append(_levenberg_marquardt(g, operator, target.repeat_interleave(zi.shape[1], dim=0),
                                                  zi.reshape(-1, k), lam=lam, steps=refit_steps).view(b, -1, k))
        z_all = torch.cat(refit, 1)
        gz = images_of(z_all)
        losses = (yf[:, None, :] - gz @ a.T).pow(2).sum(2)
        w = weigh(losses)
        center = (w[..., None] * gz).sum(1).clamp(0.0, 1.0)
        x = _sparse_step(a, yf, center, mu, mu0=mu0, max_iter=max_iter, tol=tol)

    best = losses.argmin(1)
    z = z_all[torch.arange(b, device=device), best]
    fitted = (x @ a.T).abs() if magnitudes else x @ a.T
    out_dtype = y.dtype if y.is_floating_point() else torch.float32
    return HybridRecovery(x=x.view(b, *shape).to(out_dtype), z=z, center=center.view(b, *shape).to(out_dtype),
                          v=(x - center).view(b, *shape).to(out_dtype), weights=w, z_all=z_all,
                          restart_losses=losses, measurement_loss=(yf - fitted).pow(2).sum(1), mu=float(mu),
                          mu0=float(mu0), source=source, best_source=source[best])


__all__ = ["HybridRecovery", "hybrid", "restart_weights"]
