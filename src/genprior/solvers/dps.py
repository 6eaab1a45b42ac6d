"""Diffusion posterior sampling (DPS: Chung, Kim, Mccann, Klasky & Ye, ICLR 2023, Algorithm 1), for any operator.

Given a diffusion prior (:mod:`genprior.solvers.posterior`) and measurements ``y = A(x) + eta`` of images ``x`` in
[0, 1], each of ``K`` samples per image runs a DDIM schedule of ``steps`` steps (a deterministic fast schedule for
``eta = 0``; DPS's own Algorithm 1 is the ancestral ``eta = 1`` one over all ``T`` steps) in the model's space
``x' = 2 x - 1``. At each step ``t``:

1. Tweedie's estimate ``x0(x_t) = (x_t - sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(abar_t)`` (their Eq. 10);
2. the prior's DDIM step ``x_t -> x_{t-1}`` from ``x0`` clamped to [-1, 1];
3. the measurement step (their Algorithm 1, line 7, with the step of their App. C.2)::

       x_{t-1} <- x_{t-1} - zeta grad_{x_t} L(x_t) / sqrt(L(x_t)),   L = || y - A((x0(x_t) + 1) / 2) ||^2,

   the gradient taken through the network. For signs ``L`` is the probit negative log-likelihood
   (:func:`~genprior.solvers.posterior.data_loss`), since ``sign`` has no gradient. The step is skipped where
   ``abar_t < ABAR_MIN = 1e-5``: the cosine schedule's last step has ``abar = 2e-9``, where Tweedie's estimate divides
   by ``sqrt(abar) = 5e-5`` and its gradient through the network is 10^4 times that of the next step (measured on
   mnist-ddpm), enough to throw every chain out of range; DPS's own linear schedule ends at ``abar = 4e-5``.

It needs only ``A``'s forward (linear, magnitude, sign and any differentiable operator). The samples are returned
as images in [0, 1]; the estimate is their mean and the per-pixel std is kept beside it. All ``B * K`` chains run
in one batch; image ``i`` draws its noise from its own generator (seed ``sub_seed(seed, offset + i)``).

``zeta = 1`` was chosen from 0.02 .. 2 on MNIST test images 300..305 at m = 10, 25, 100 (50 steps, K = 4, an early
checkpoint of mnist-ddpm: ``benchmarks/results/diffusion_tuning-dps.md``); ``steps = 100`` is the paper's fast-schedule
range, ``eta = 1`` its ancestral sampler.
"""

from __future__ import annotations

import torch

from genprior.errors import check_number
from genprior.operators.base import Operator
from genprior.progress import progress_bar
from genprior.solvers.posterior import (
    PosteriorSamples,
    abar_pair,
    check_options,
    data_loss,
    ddim_step,
    draw,
    streams,
    summarize_samples,
    timesteps,
)

SAMPLES = 4
STEPS = 100
ETA = 1.0
ZETA = 1.0
ABAR_MIN = 1e-5  # no measurement step at noisier steps (see the module's text)


def dps(model, operator: Operator, y: torch.Tensor, *, samples: int = SAMPLES, steps: int = STEPS, eta: float = ETA,
        zeta: float = ZETA, seed: int = 0, offset: int = 0, interval_scale: float = 1.0,
        progress: bool = False) -> PosteriorSamples:
    """``samples`` DPS posterior samples per image of measurements ``y`` ``(B, m)``.

    ``model``: a diffusion prior on images ``operator.input_shape``; ``steps``: DDIM steps (1..T); ``eta``: DDIM's
    noise (0: deterministic given the start, 1: ancestral); ``zeta``: the measurement step (>= 0; 0 samples the
    prior). ``seed``/``offset``: image ``i`` draws from ``sub_seed(seed, offset + i)``. ``interval_scale``: the
    90 % interval's half-widths times this (1: the samples' own; :func:`~genprior.solvers.posterior.calibrate_interval`
    finds the scale on held-out images). Returns
    :class:`~genprior.solvers.posterior.PosteriorSamples` (mean ``(B, C, H, W)`` in [0, 1], per-pixel std, the
    samples ``(B, K, C, H, W)``, the 90 % interval, the data terms ``(B, K)``)."""
    shape = check_options(model, operator, y, samples=samples, steps=steps, eta=eta, owner="dps")
    check_number("zeta", zeta, low=0.0)
    check_number("interval_scale", interval_scale, low=0.0)
    b, k = y.shape[0], samples
    dtype = y.dtype if y.is_floating_point() else torch.float32
    device = y.device
    gens = streams(seed, offset, b)
    x = draw(gens, k, shape, device, dtype)
    ts = timesteps(model, steps)
    params = [p for p in model.parameters()] if isinstance(model, torch.nn.Module) else []
    was = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        for i in progress_bar(range(len(ts)), desc="dps", enabled=progress):
            a, a_prev = abar_pair(model, ts, i, x)
            guided = zeta > 0 and float(a) >= ABAR_MIN
            x = x.detach().requires_grad_(guided)
            with torch.set_grad_enabled(guided):
                eps = model.predict_noise(x, ts[i])
                x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
                if guided:
                    loss = data_loss(operator, y, (x0 + 1) / 2, k)
                    grad, = torch.autograd.grad(loss.sum(), x)
            with torch.no_grad():
                noise = draw(gens, k, shape, device, dtype) if i + 1 < len(ts) and eta > 0 else None
                x = ddim_step(x.detach(), x0.detach().clamp(-1, 1), a, a_prev, eta, noise)
                if guided:
                    x = x - (zeta / loss.detach().clamp_min(1e-12).sqrt()).view(-1, 1, 1, 1) * grad
    finally:
        for p, w in zip(params, was):
            p.requires_grad_(w)
    with torch.no_grad():
        images = ((x.detach() + 1) / 2).clamp(0, 1)
        loss = data_loss(operator, y, images, k).view(b, k)
    return summarize_samples(images.view(b, k, *shape), loss, interval_scale=interval_scale)
