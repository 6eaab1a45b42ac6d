"""DiffPIR: diffusion sampling with a closed-form data proximal step per step (Zhu, Zhang, Liang, Cao, Wen, Timofte &
Van Gool, CVPR 2023, Algorithm 1), for linear operators, through an SVD of ``A``.

Measurements ``y = A x + eta`` of images ``x`` in [0, 1] become ``y' = 2 y - A 1 = A x' + 2 eta`` of the model-space
image ``x' = 2 x - 1``, with noise std ``s_y = 2 * operator.entry_noise_std`` per entry. Each of ``K`` samples per
image runs a DDIM schedule of ``steps`` steps; at step ``t``:

1. Tweedie's estimate ``x0 = (x_t - sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(abar_t)``, clamped to [-1, 1];
2. the data step (DiffPIR's Eq. 13, the proximal problem solved exactly)::

       x0' = argmin_z ||y' - A z||^2 / s_y^2 + ||z - x0||^2 / r_t^2
           = x0 + V diag(s_i / (s_i^2 + s_y^2 / r_t^2)) U^T (y' - A x0),        A = U diag(s) V^T,

   the mean of ``p(x0 | x_t, y)`` when ``p(x0 | x_t)`` is ``N(x0, r_t^2 I)``. DiffPIR takes
   ``r_t^2 = sigmabar_t^2 / lam``, ``sigmabar_t^2 = (1 - abar_t) / abar_t``; here ``r_t^2 = sigmabar_t^2 d^2 /
   (sigmabar_t^2 + d^2) / lam`` (the posterior variance of ``x0`` given ``x_t`` for a prior of per-pixel std
   ``d = data_std``, as in PiGDM, Song et al. ICLR 2023), which is DiffPIR's for ``sigmabar_t << d`` and stays finite
   at the noisy end. For a Gaussian prior ``N(mu, d^2 I)`` with the exact noise predictor and ``lam = 1`` this
   ``x0'`` is exactly ``E[x0 | x_t, y]``, so the sampler is DDIM run on the posterior's own score: exact as the
   steps get finer (the property the tests check);
3. the DDIM step (Song et al. ICLR 2021, Eq. 12, noise ``eta``) from ``x_t`` with ``x0'`` clamped to [-1, 1] in
   place of ``x0`` (DiffPIR's Eq. 15 with its ``zeta`` is the same family of steps).

The SVD of ``A`` (its dense matrix, ``m x n``) is computed once per call, in float64, and shared by the batch;
fine for MNIST's ``n = 784``. All ``B * K`` chains run in one batch; image ``i`` draws its noise from its own
generator (seed ``sub_seed(seed, offset + i)``). No gradient through the network: about a third of DPS's time.

``lam = 0.5`` and ``eta = 1`` were chosen on MNIST test images 300..305 at m = 10, 25, 100 (K = 4, an early
checkpoint of mnist-ddpm: ``benchmarks/results/diffusion_tuning-diffpir.md``; at sigma = 0.1 ``lam`` hardly matters
there, the data step being a near-exact projection); ``data_std = 0.5`` (about MNIST's per-pixel std in the model's
space) was not tuned. On compressed sensing with a dense Gaussian ``A`` it is far behind :mod:`~genprior.solvers.dps`
(the range-space correction is spread over every pixel and the next denoising step treats it as noise); on
inpainting, super-resolution and denoising it is competitive and three times faster.
"""

from __future__ import annotations

import torch

from genprior.errors import InvalidValueError, check_number
from genprior.operators.base import Operator
from genprior.progress import progress_bar
from genprior.solvers.posterior import (
    PosteriorSamples,
    abar_pair,
    check_options,
    data_loss,
    ddim_step,
    draw,
    model_measurements,
    streams,
    summarize_samples,
    timesteps,
)

SAMPLES = 4
STEPS = 50
ETA = 1.0
LAM = 0.5
DATA_STD = 0.5


def svd(operator: Operator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(U (m, r), s (r,), V (n, r))`` of the operator's dense matrix (float64), keeping the singular values above
    ``1e-10`` times the largest."""
    if not getattr(operator, "linear", False):
        raise InvalidValueError(f"diffpir needs a linear operator (its SVD); {operator.name} gives "
                                f"{operator.measurement} measurements: use dps")
    a = operator.matrix().double()
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    keep = s > 1e-10 * s.max().clamp_min(1e-300)
    return u[:, keep], s[keep], vh[keep].T


def diffpir(model, operator: Operator, y: torch.Tensor, *, samples: int = SAMPLES, steps: int = STEPS,
            eta: float = ETA, lam: float = LAM, data_std: float = DATA_STD, seed: int = 0, offset: int = 0,
            interval_scale: float = 1.0, progress: bool = False) -> PosteriorSamples:
    """``samples`` DiffPIR posterior samples per image of linear measurements ``y`` ``(B, m)``.

    ``model``: a diffusion prior on images ``operator.input_shape``; ``steps``: DDIM steps (1..T); ``eta``: DDIM's
    noise in [0, 1]; ``lam`` (> 0): DiffPIR's weight of the prior in the data step (larger: closer to the prior's
    ``x0``); ``data_std`` (> 0): the per-pixel std ``d`` of the prior in ``r_t``. ``seed``/``offset``: image ``i``
    draws from ``sub_seed(seed, offset + i)``. ``interval_scale``: the 90 % interval's half-widths times this (1: the
    samples' own; :func:`~genprior.solvers.posterior.calibrate_interval` finds the scale on held-out images). Returns
    :class:`~genprior.solvers.posterior.PosteriorSamples`."""
    shape = check_options(model, operator, y, samples=samples, steps=steps, eta=eta, owner="diffpir")
    check_number("lam", lam, low=0.0, strict=True)
    check_number("data_std", data_std, low=0.0, strict=True)
    check_number("interval_scale", interval_scale, low=0.0)
    u, s, v = svd(operator)
    b, k = y.shape[0], samples
    dtype, device = y.dtype, y.device
    u, s, v = u.to(device), s.to(device), v.to(device)
    y_model, s_y = model_measurements(operator, y)
    y_model = y_model.repeat_interleave(k, 0)
    gens = streams(seed, offset, b)
    x = draw(gens, k, shape, device, dtype)
    ts = timesteps(model, steps)
    with torch.no_grad():
        for i in progress_bar(range(len(ts)), desc="diffpir", enabled=progress):
            a, a_prev = abar_pair(model, ts, i, x)
            eps = model.predict_noise(x, ts[i])
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
            sbar2 = float((1 - a) / a)
            r2 = sbar2 * data_std ** 2 / (sbar2 + data_std ** 2) / lam
            gain = s / (s ** 2 + s_y ** 2 / r2)                                  # (r,)
            resid = (y_model - operator.forward(x0)).double()                      # (B K, m)
            x0 = x0 + ((resid @ u) * gain @ v.T).to(dtype).view_as(x0)
            noise = draw(gens, k, shape, device, dtype) if i + 1 < len(ts) and eta > 0 else None
            x = ddim_step(x, x0.clamp(-1, 1), a, a_prev, eta, noise)
        images = ((x + 1) / 2).clamp(0, 1)
        loss = data_loss(operator, y, images, k).view(b, k)
    return summarize_samples(images.view(b, k, *shape), loss, interval_scale=interval_scale)
