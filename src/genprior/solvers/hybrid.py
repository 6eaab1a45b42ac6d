"""Hybrid prior ``x = G(z) + v`` with ``v`` sparse (Sparse-Gen: Dhar, Grover & Ermon, ICML 2018).

For linear measurements ``y = A x + eta`` this estimates

    min_{z, v}  ||y - A (G(z) + v)||^2 + lam ||z||^2 + 2 mu ||v||_1 + 2 mu0 ||G(z) + v||_1,
                0 <= G(z) + v <= 1,

(the Sparse-Gen objective; the factor 2 only makes ``mu`` the usual Lasso weight of ``1/2||.||^2``;
the extra ``mu0`` term, which Sparse-Gen does not have, also asks the image itself to be sparse, as
the pixel-basis Lasso does -- on the box it is linear, so the prox stays exact) with ``v`` sparse in
the pixel basis, where the box is an exact, separable part of the prox. Three batched phases over
images x restarts:

1. **latent step** -- :func:`~genprior.solvers.latent.csgm_fast` (Adam from ``restarts`` random starts,
   then Levenberg-Marquardt on the ``keep`` best); no new latent optimiser.
2. **posterior averaging** -- the centre is not the single best restart but a weighted mean
   ``g = sum_j w_j G(z_j)`` of the kept restarts, ``w_j ~ exp(-(L_j - L_min) / T)``, ranked by the
   measurement loss ``L_j = ||y - A G(z_j)||^2`` alone (never the truth). The temperature adapts by
   itself: ``T = temperature * (k / m) * max(L_min, sigma^2 n / m)``. At small ``m`` (fewer
   measurements than latent dimensions, or not many more) many restarts explain ``y`` about equally
   well and their mean is a lower-MSE estimate than any one of them (an estimate of the posterior
   mean); as ``m`` grows, ``T`` shrinks like ``k/m`` and ``g`` becomes the best restart (CSGM).
   ``L_min`` measures the prior's misfit (representation error plus noise); the floor
   ``sigma^2 n / m`` takes over when ``m <= k`` and the best restart fits ``y`` exactly.
3. **sparse step** -- ``x = argmin 1/2||y - A x||^2 + mu ||x - g||_1 + mu0 ||x||_1`` over
   ``0 <= x <= 1`` (so ``v = x - g``), FISTA with adaptive restart, started from ``g``, with
   ``mu0 = mu_scale * s * sqrt(2 log n)`` and ``mu = (1 + (n / (3 m))^3) * mu0``, ``s = sigma / sqrt(m)``
   the per-entry noise std (``s sqrt(2 log n)`` is the universal threshold for unit-norm columns,
   ``A_ij ~ N(0, 1/m)``). The factor ``1 + (n/(3m))^3`` makes the correction vanish where ``v`` cannot
   be identified (``m`` well below ``n/3``: there the averaged prior does the work) and tends to 1 at
   large ``m``, where the estimate is a box-constrained Lasso pulled half towards ``g`` and half
   towards 0; it beats the tuned box Lasso there (a centre of 0 alone is the Lasso; ``g`` alone
   leaves the prior's faint background in). ``mu0 <= mu`` always, so ``x`` is never pulled below ``g``
   for free.
   ``rounds > 0`` alternates: refit every kept latent to ``y - A v`` (Levenberg-Marquardt), re-average,
   redo the sparse step (off by default: not measured on MNIST; on the test suite's ReLU-net signal it
   helps a little, because the latent step absorbs part of ``v``).

Defaults (``keep=20, temperature=2, mu_scale=0.06``, the ``n/(3m)`` knee; first ``restarts=100``) were chosen on
MNIST test images 300..399 (never on the benchmark's images 0..299), one setting for every ``m`` in
{10, ..., 750}, sigma = 0.1, with the 784-500-500-20 VAE: ``temperature`` from {1, 2, 4} (flat between 1 and 2;
its ``k/m`` and floor form from a sweep of fixed temperatures, whose best value fell with ``m``);
``mu_scale`` from {0.04, 0.06, 0.09} (flat), the knee from sweeps of ``mu`` at each ``m`` (best ``mu`` in units
of ``s sqrt(2 log n)``: >= 8 at m <= 50, about 2 at m = 100, 0.1-0.25 at m = 200, <= 0.125 beyond);
``restarts`` 40 over 20 at m = 25 and 50 (averaged error 0.0238 -> 0.0194 and 0.0130 -> 0.0100), then
``restarts=100, keep=20`` over 40 and 10 (final error at m = 10 / 25 / 50 / 100: 0.0475 -> 0.0450,
0.0198 -> 0.0167, 0.0100 -> 0.0091, 0.0062 -> 0.0057; m = 200 unchanged; on images 300..499 at m = 50:
0.0102 -> 0.0095, with keep 10 0.0097, and 200 restarts no better). Those restarts then ran 60 Adam steps each
(lr 0.1 decaying on a cosine). The search is now screened as in :func:`csgm_fast`: 150 starts take 8 Adam steps at
lr 0.3, the 50 best per image go on for 24 steps (0.3 decaying to 0.003), and the 20 best of those are refined.
That is 2,400 Adam steps per image and generator instead of 6,000, about half the hybrid's time. With the
ensemble, on held-out images 500..579 it changed the error from 0.0424 / 0.0168 / 0.0085 / 0.0053 / 0.00138 /
1.68e-5 to 0.0422 / 0.0155 / 0.0083 / 0.0053 / 0.00133 / 1.68e-5 at m = 10 / 25 / 50 / 100 / 200 / 500, and on
700..779 from 0.0425 / 0.0120 / 0.0067 to 0.0428 / 0.0118 / 0.0065 at m = 10 / 25 / 50. With 100 starts and 40
survivors it was 1-4 % worse at every m at lr 0.1, and mixed at lr 0.3. The latent step still costs about 6x
``csgm_fast``'s defaults per generator.

**Magnitudes** (``Magnitude``: ``y = |A x| + eta``, real phase retrieval). The latent step and the averaging are
the same (``csgm_fast`` fits magnitudes); the sparse step minimises ``1/2||y - |A x| ||^2 + mu ||x - g||_1 + mu0
||x||_1`` over the box by the same FISTA, whose gradient then reads the signs of ``A x`` afresh at every step
(amplitude flow), from ``g``: a non-convex problem, so the pull towards ``g`` is stronger,
``mu = (PHASE_MU + (n / (3 m))^3) mu0`` with ``PHASE_MU = 30`` (chosen on MNIST test images 300..339 with the
784-500-500-20 VAE from 0.25-64 times the linear rule at m = 200, 400 and 784 and checked at 50 and 100: error
0.0067 -> 0.0043, 0.0061 -> 0.0020 and 0.0061 -> 0.00037 against the average ``g`` at m = 200, 400, 784; at m = 50
the cubic term keeps ``x`` at ``g``). ``rounds`` must be 0.

**Ensemble prior.** ``generator`` may be several generators of one latent size (a sequence, or a
:class:`~genprior.models.ensemble.GeneratorEnsemble` such as the zoo's ``mnist-vae-ensemble``: three VAEs trained
by the same command from seeds 0, 1, 2). Each runs the latent step with its own ``restarts``; all kept restarts
are ranked by the same measurement loss and averaged with one set of weights, so the centre ``g`` is a posterior
mean under the mixture of the decoders. Independently trained decoders misrepresent a digit differently, and at
``m`` = 25-100 (where the single VAE's representation error binds) the mixture gains what more restarts of one VAE
could not. On held-out MNIST test images 300..399 (defaults unchanged, sigma = 0.1), one VAE -> two -> three:
m = 10: 0.0450 -> 0.0439; m = 25: 0.0167 -> 0.0150; m = 50: 0.0091 -> 0.0081 -> 0.0077; m = 100: 0.0057 -> 0.0050;
on images 400..499 at m = 50, one -> three: 0.0098 -> 0.0083. About half of the best restarts come from
each extra member. The price is time: the latent step runs once per member. At equal work the ensemble still
wins (m = 50, images 300..399: 34 restarts / 7 kept per member 0.0081, 50 / 10 per member 0.0078, against one VAE
with 100 / 20: 0.0091), so ``restarts`` can be cut when time matters.

The latents this step finds are far outside the prior's typical set (``||z||^2`` in the thousands against
``k = 20`` for ``z ~ N(0, I)``: the decoder extrapolates there and fits ``y`` better), and ranking or
weighting restarts by ``||z||`` as well as by the measurement loss makes the estimate much worse (at m = 50 on
images 300..499, even ``exp(-0.005 ||z||^2)`` in the weights: 0.0095 -> 0.0143), so ``lam = 0`` by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch

from genprior.errors import InvalidValueError, check_number
from genprior.models.ensemble import GeneratorEnsemble
from genprior.operators.base import Operator
from genprior.operators.nonlinear import Magnitude
from genprior.solvers.generator import as_images, frozen, latent_dim_of
from genprior.solvers.lasso_fista import fista_momentum
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


PHASE_MU = 30.0  # with magnitudes, mu = (PHASE_MU + (n / (3m))^3) mu0: see the module docstring


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


def _box_l1_fista(a: torch.Tensor, y: torch.Tensor, center: torch.Tensor, mu: float, *, max_iter: int,
                  tol: float, mu0: float = 0.0, magnitudes: bool = False) -> torch.Tensor:
    """Batched FISTA (adaptive restart): ``1/2||y - A x||^2 + mu||x - center||_1 + mu0||x||_1``, ``0 <= x <= 1``;
    with ``magnitudes``, ``1/2||y - |A x| ||^2`` in place of the first term.

    ``a``: ``(m, n)``; ``y``: ``(B, m)``; ``center``: ``(B, n)`` in [0, 1]. Starts from ``center``.
    The prox is exact and separable (on the box ``||x||_1`` is linear, a shift by ``mu0/L``):
    ``x = center + clip(soft(u - mu0/L - center, mu/L), -center, 1 - center)``. The magnitudes' loss is not
    convex: its gradient ``A^T (A x - y sign(A x))`` (amplitude flow, Wang, Giannakis & Eldar 2018) reads the
    signs of ``A x`` afresh at every step, and the result is the stationary point nearest ``center``.
    """
    m, n = a.shape
    lipschitz = float(torch.linalg.matrix_norm(a, 2)) ** 2
    if lipschitz == 0.0:
        return center.clone()
    step, thr, shift = 1.0 / lipschitz, mu / lipschitz, mu0 / lipschitz
    gram = a.T @ a if 2 * m >= n and not magnitudes else None
    aty = y @ a

    def grad(x):
        if magnitudes:
            ax = x @ a.T
            return (ax - y * torch.sign(ax)) @ a
        if gram is not None:
            return x @ gram - aty
        return (x @ a.T - y) @ a

    x = center.clone()
    z = x.clone()
    t = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
    for _ in range(max_iter):
        u = z - step * grad(z) - center - shift  # x >= 0 makes mu0 ||x||_1 linear: a shift
        u = u - u.clamp(-thr, thr)  # soft threshold
        x_new = center + torch.minimum(torch.maximum(u, -center), 1.0 - center)
        z, t, move = fista_momentum(z, x, x_new, t)
        x = x_new
        if float(move.abs().max()) <= tol:
            break
    return x


def hybrid(generator, operator: Operator, y: torch.Tensor, *, lam: float = 0.0, restarts: int = 150, keep: int = 20,
           screen_steps: int = 8, survivors: int = 50, steps: int = 24, lr: float = 0.3, lm_steps: int = 8, temperature: float = 2.0, mu_scale: float = 0.06,
           mu: float | None = None, mu0: float | None = None, rounds: int = 0, refit_steps: int = 4,
           max_iter: int = 3000, tol: float = 1e-6, seed: int = 0, max_batch: int = 8192) -> HybridRecovery:
    """Sparse-Gen recovery ``x = G(z) + v`` around a posterior-averaged ``G(z)`` (see the module docstring).

    ``generator``: any module with ``latent_dim`` mapping ``(N, k)`` to images ``(N, *operator.input_shape)``,
    or a sequence of such modules with the same ``latent_dim`` or a :class:`GeneratorEnsemble` (an ensemble prior: each runs the latent step
    with ``restarts`` restarts of its own, and all kept restarts are ranked and averaged together);
    ``operator``: a linear operator with ``matrix()`` (e.g. ``Gaussian``) or magnitudes ``|A x|`` (``Magnitude``,
    phase retrieval: see the module docstring); ``y``: ``(B, m)``.

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

    Returns a :class:`HybridRecovery`. Raises ``InvalidValueError`` (a ``GenpriorError``) for a non-linear
    operator, NaN measurements, an empty or mixed-latent ensemble or a bad option; ``ShapeError`` for a wrong
    ``y`` shape. Defaults chosen on MNIST test images 300..399, see the module docstring.
    """
    magnitudes = isinstance(operator, Magnitude)
    if not magnitudes and not (isinstance(operator, Operator) and getattr(operator, "linear", False)
                               and hasattr(operator, "matrix")):
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
                      lm_steps=lm_steps, reg=0.0, seed=seed + 7919 * i, max_batch=max_batch)
            for i, g in enumerate(generators)]
    z_all = torch.cat([f.z_all for f in fits], 1)  # (B, K, k), K = restarts per generator x generators
    losses = torch.cat([f.restart_losses for f in fits], 1)  # (B, K); inf for restarts not kept
    b = z_all.shape[0]
    device = z_all.device
    source = torch.cat([torch.full((f.z_all.shape[1],), i, device=device) for i, f in enumerate(fits)])  # (K,)
    shape = operator.input_shape
    a = (operator.inner if magnitudes else operator).matrix().to(device=device, dtype=torch.float32)
    yf = y.to(device=device, dtype=torch.float32)

    def images_of(z):  # (B, K, k) -> (B, K, n), each column through its own generator
        parts = []
        for i, g in enumerate(generators):
            zi = z[:, source == i]
            with torch.no_grad(), frozen(g):
                parts.append(as_images(g(zi.reshape(-1, k)), shape).reshape(b, zi.shape[1], n).float())
        return torch.cat(parts, 1)

    gz = images_of(z_all)
    w = weigh(losses)
    center = (w[..., None] * gz).sum(1).clamp(0.0, 1.0)
    x = _box_l1_fista(a, yf, center, mu, mu0=mu0, max_iter=max_iter, tol=tol, magnitudes=magnitudes)
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
        x = _box_l1_fista(a, yf, center, mu, mu0=mu0, max_iter=max_iter, tol=tol)

    best = losses.argmin(1)
    z = z_all[torch.arange(b, device=device), best]
    fitted = (x @ a.T).abs() if magnitudes else x @ a.T
    out_dtype = y.dtype if y.is_floating_point() else torch.float32
    return HybridRecovery(x=x.view(b, *shape).to(out_dtype), z=z, center=center.view(b, *shape).to(out_dtype),
                          v=(x - center).view(b, *shape).to(out_dtype), weights=w, z_all=z_all,
                          restart_losses=losses, measurement_loss=(yf - fitted).pow(2).sum(1), mu=float(mu),
                          mu0=float(mu0), source=source, best_source=source[best])


__all__ = ["HybridRecovery", "hybrid", "restart_weights"]
