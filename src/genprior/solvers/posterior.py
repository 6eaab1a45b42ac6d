"""What the diffusion posterior samplers (:mod:`~genprior.solvers.dps`, :mod:`~genprior.solvers.diffpir`) share:
the check of the prior, the DDIM step, the measurements moved into the model's space, per-image random streams,
and the summary of ``K`` posterior samples per image (mean, per-pixel std, the per-pixel 90 % interval, and its
calibration on held-out images: :func:`calibrate_interval`).

A *diffusion prior* is any module with ``image_shape`` ``(C, H, W)``, ``num_steps`` ``T``, a buffer
``alphas_cumprod`` ``(T,)`` (``abar_t``, decreasing) and ``predict_noise(x_t, t)`` (``t`` a Python int for the whole
batch), working in the model's space ``2 * image - 1`` (:class:`genprior.models.diffusion.Diffusion` is one; a test's
exact Gaussian "oracle" is another).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genprior.errors import InvalidValueError, check_number, sub_seed
from genprior.operators.base import Operator, check_operator

QUANTILE_SAMPLES = 19  # from this many samples on, the 90 % interval is distribution-free (order statistics)


@dataclass
class PosteriorSamples:
    """``K`` posterior samples for each of ``B`` images, all in [0, 1].

    ``x``: ``(B, C, H, W)`` the posterior mean (the average of the samples); ``std``: ``(B, C, H, W)`` the per-pixel
    standard deviation of the samples (``K - 1`` in the denominator; zeros for ``K = 1``); ``samples``:
    ``(B, K, C, H, W)``; ``low``, ``high``: ``(B, C, H, W)`` the per-pixel 90 % prediction interval
    (:func:`interval_90`);
    ``measurement_loss``: ``(B, K)`` the data term of each sample (``||y - A(x)||^2``, in image space)."""

    x: torch.Tensor
    std: torch.Tensor
    samples: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor
    measurement_loss: torch.Tensor

    def info(self) -> dict:
        """What :mod:`genprior.evaluate.recovery` keeps beside ``x``: ``x_std``, ``x_low``, ``x_high``."""
        return {"x_std": self.std, "x_low": self.low, "x_high": self.high}


def check_diffusion(model, owner: str):
    """``model`` if it is a diffusion prior (see the module's text), else ``InvalidValueError`` naming ``owner``."""
    missing = [a for a in ("image_shape", "num_steps", "alphas_cumprod", "predict_noise") if not hasattr(model, a)]
    if missing:
        raise InvalidValueError(f"{owner} needs a diffusion model (e.g. the zoo's mnist-ddpm), got "
                                f"{type(model).__name__}, which has no {', '.join(missing)}")
    return model


def check_options(model, operator, y, *, samples: int, steps: int, eta: float, owner: str) -> tuple[int, ...]:
    """Checks shared by the samplers; returns the image shape ``(C, H, W)``."""
    check_diffusion(model, owner)
    check_operator(operator, owner)
    y = operator.check_measurements(y)
    shape = tuple(int(s) for s in model.image_shape)
    if shape != tuple(operator.input_shape):
        raise InvalidValueError(f"{owner}: the model makes images of shape {shape}, the operator takes "
                                f"{tuple(operator.input_shape)}")
    for name, value, high in (("samples", samples, 100_000), ("steps", steps, int(model.num_steps))):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise InvalidValueError(f"{owner}: {name} must be an integer in 1..{high}, got {value!r}")
    check_number("eta", eta, low=0.0)
    if eta > 1:
        raise InvalidValueError(f"{owner}: eta must be in [0, 1], got {eta}")
    return shape


def timesteps(model, steps: int) -> list[int]:
    """``steps`` evenly spaced steps from ``T - 1`` down to 0, descending (the DDIM subsequence;
    :meth:`Diffusion.timesteps` where the model has it)."""
    if hasattr(model, "timesteps"):
        return list(model.timesteps(steps))
    t_max = int(model.num_steps) - 1
    return sorted({round(i * t_max / max(steps - 1, 1)) for i in range(steps)}, reverse=True)


def streams(seed: int, offset: int, count: int) -> list[torch.Generator]:
    """One CPU generator per image, seeded ``sub_seed(seed, offset + i)``: image ``i``'s draws do not depend on the
    other images of the batch (a torchrun part draws what the whole batch draws for it)."""
    return [torch.Generator().manual_seed(sub_seed(seed, offset + i)) for i in range(count)]


def draw(gens: list[torch.Generator], samples: int, shape: tuple[int, ...], device, dtype) -> torch.Tensor:
    """Standard normal noise ``(B * K, *shape)``: ``K`` draws from each image's generator, image-major."""
    return torch.cat([torch.randn((samples, *shape), generator=g) for g in gens]).to(device=device, dtype=dtype)


def ddim_step(x_t: torch.Tensor, x0: torch.Tensor, a: torch.Tensor, a_prev: torch.Tensor, eta: float,
              noise: torch.Tensor | None) -> torch.Tensor:
    """One DDIM step (Song, Meng & Ermon, ICLR 2021, Eq. 12) from ``x_t`` at ``abar = a`` to ``abar = a_prev``
    given the estimate ``x0`` (model space): ``x' = sqrt(a') x0 + sqrt(1 - a' - s^2) eps + s noise`` with
    ``eps = (x_t - sqrt(a) x0) / sqrt(1 - a)`` (the noise consistent with ``x0``) and
    ``s = eta sqrt((1 - a') / (1 - a) (1 - a / a'))``; ``noise`` ``None`` on the last step (``a' = 1``)."""
    eps = (x_t - a.sqrt() * x0) / (1 - a).sqrt()
    s = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).clamp(min=0).sqrt()
    out = a_prev.sqrt() * x0 + (1 - a_prev - s ** 2).clamp(min=0).sqrt() * eps
    if noise is not None and eta > 0:
        out = out + s * noise
    return out


def abar_pair(model, ts: list[int], i: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(abar_t, abar_t')`` of step ``i`` of ``ts`` (``abar_t' = 1`` after the last step), as 0-d tensors."""
    abar = model.alphas_cumprod.to(device=like.device, dtype=like.dtype)
    a = abar[ts[i]]
    a_prev = abar[ts[i + 1]] if i + 1 < len(ts) else torch.ones((), device=like.device, dtype=like.dtype)
    return a, a_prev


def interval_90(samples: torch.Tensor, mean: torch.Tensor | None = None,
                std: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-pixel 90 % interval ``(low, high)`` ``(B, C, H, W)`` from ``K`` samples ``(B, K, C, H, W)``: a
    *prediction* interval, meant to hold a further draw from the distribution the samples come from (the truth, for
    a calibrated posterior sampler) 90 % of the time. For ``K >= 19``, distribution-free: the order statistics of
    ranks ``i = floor(0.05 (K + 1))`` and ``K + 1 - i``, which hold a new draw with probability
    ``1 - 2 i / (K + 1) >= 0.9``. For ``2 <= K < 19``, Student's: ``mean -+ t_{K-1}(0.95) sqrt(1 + 1/K) std``
    (exact for Gaussian samples; ``mean -+ 1.645 std`` would hold a new draw only 76 % of the time at ``K = 4``).
    For ``K = 1`` the interval is the sample itself. ``mean``/``std`` (``K - 1`` in the denominator): computed here
    when not given."""
    k = samples.shape[1]
    if k >= QUANTILE_SAMPLES:
        i = int(0.05 * (k + 1))
        ordered = samples.sort(dim=1).values
        return ordered[:, i - 1], ordered[:, k - i]
    mean = samples.mean(1) if mean is None else mean
    std = sample_std(samples) if std is None else std
    half = t_factor(k) * std
    return mean - half, mean + half


def t_factor(k: int) -> float:
    """``t_{K-1}(0.95) sqrt(1 + 1/K)``: the half-width of the 90 % Student prediction interval in units of the
    sample std of ``K >= 2`` samples (0 for ``K = 1``)."""
    if k < 2:
        return 0.0
    from scipy.stats import t

    return float(t.ppf(0.95, k - 1)) * (1 + 1 / k) ** 0.5


def sample_std(samples: torch.Tensor) -> torch.Tensor:
    """Per-pixel std ``(B, C, H, W)`` of ``samples`` ``(B, K, C, H, W)`` (``K - 1`` in the denominator; zeros for
    ``K = 1``)."""
    if samples.shape[1] < 2:
        return torch.zeros_like(samples[:, 0])
    return samples.std(1, correction=1)


def coverage(truth: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Per-image fraction ``(B,)`` of pixels whose true value lies in ``[low, high]`` (all ``(B, C, H, W)``)."""
    inside = (truth >= low) & (truth <= high)
    return inside.flatten(1).float().mean(1)


def scaled_interval(mean: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
                    scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean - scale (mean - low), mean + scale (high - mean))``: the interval's two half-widths times ``scale``
    (>= 0; 1 keeps it), all ``(B, C, H, W)``."""
    scale = check_number("interval_scale", scale, low=0.0)
    return mean - scale * (mean - low), mean + scale * (high - mean)


def calibrate_interval(truth: torch.Tensor, mean: torch.Tensor, low: torch.Tensor, high: torch.Tensor, *,
                       level: float = 0.9) -> float:
    """The scale of the interval's half-widths that makes it hold ``level`` of the pixels of a *new* image on
    average, from ``n`` held-out images with known truth (all ``(n, C, H, W)``; the interval from the same sampler,
    operator and noise as the images it will be used on).

    Conformal risk control (Angelopoulos, Bates, Fisch, Lei & Schuster, ICLR 2024, Theorem 1) with the loss
    ``L_j(s)`` = the fraction of image ``j``'s pixels outside :func:`scaled_interval` at scale ``s`` (non-increasing
    in ``s``, at most 1): ``s_hat = inf { s : (n R_n(s) + 1) / (n + 1) <= 1 - level }``, ``R_n`` the mean of ``L_j``
    over the held-out images. Then ``E[coverage of a new image] >= level`` for images exchangeable with the held-out
    ones. Each pixel is covered from the scale ``s_i = |truth - mean| / half-width on truth's side`` on, so
    ``s_hat`` is an order statistic of the pooled ``s_i``. Needs ``n >= level / (1 - level)`` images (9 for 90 %);
    ``InvalidValueError`` otherwise, or when no finite scale reaches ``level`` (zero-width intervals that miss)."""
    level = check_number("level", level, low=0.0, strict=True)
    if level >= 1:
        raise InvalidValueError(f"calibrate_interval: level must be in (0, 1), got {level}")
    if not truth.shape == mean.shape == low.shape == high.shape or truth.dim() < 2:
        raise InvalidValueError("calibrate_interval: truth, mean, low and high must have one shape (n, C, H, W), got "
                                + ", ".join(str(tuple(t.shape)) for t in (truth, mean, low, high)))
    n, pixels = truth.shape[0], truth[0].numel()
    budget = pixels * ((1 - level) * (n + 1) - 1)  # pixels (summed over images) that may stay outside
    if budget < 0:
        need = math.ceil(level / (1 - level) - 1e-9)
        raise InvalidValueError(f"calibrate_interval: {n} held-out images cannot calibrate a {level:.0%} interval; "
                                f"give at least {need}")
    d = (truth - mean).double()
    side = torch.where(d > 0, (high - mean).double(), (mean - low).double())
    need_scale = torch.where(d == 0, torch.zeros_like(d), d.abs() / side.clamp_min(0))  # inf where the width is 0
    ordered = need_scale.flatten().sort(descending=True).values
    outside = math.floor(budget + 1e-9)  # at most this many pixels may need more than s_hat
    s_hat = float(ordered[outside]) if outside < ordered.numel() else 0.0
    s_hat *= 1 + 1e-5  # so that float32 round-off in scaled_interval does not uncover the pixels at the boundary
    if not math.isfinite(s_hat):
        raise InvalidValueError("calibrate_interval: too many pixels miss a zero-width interval; no scale reaches "
                                f"{level:.0%}")
    return s_hat


def summarize_samples(samples: torch.Tensor, loss: torch.Tensor, *, interval_scale: float = 1.0) -> PosteriorSamples:
    """:class:`PosteriorSamples` from images ``(B, K, C, H, W)`` in [0, 1] and their data terms ``(B, K)``; the
    interval's half-widths times ``interval_scale`` (:func:`scaled_interval`)."""
    mean = samples.mean(1)
    std = sample_std(samples)
    low, high = scaled_interval(mean, *interval_90(samples, mean, std), interval_scale)
    return PosteriorSamples(mean, std, samples, low, high, loss)


def model_measurements(operator: Operator, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """For a linear ``operator``: ``(y', sigma')`` with ``y' = 2 y - A 1 = A x' + 2 eta`` the measurements of the
    image in the model's space ``x' = 2 x - 1``, and ``sigma' = 2 * operator.entry_noise_std`` their noise std per
    entry."""
    ones = torch.ones((1, *operator.input_shape), device=y.device, dtype=y.dtype)
    return 2 * y - operator.forward(ones), 2 * operator.entry_noise_std


def data_loss(operator: Operator, y: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
    """The data term ``(B * K,)`` of images ``x`` ``(B * K, C, H, W)`` (not clamped) against ``y`` ``(B, m)``
    repeated ``k`` times: ``||y - A(x)||^2`` for linear and magnitude measurements; for signs (whose gradient through
    ``sign`` is 0) ``2 s^2`` times the probit negative log-likelihood ``-sum_i log Phi(y_i (A x)_i / s)`` of the
    noise-before-sign model (``s`` the entry noise std, at least 1e-3): about ``sum_i min(y_i (A x)_i, 0)^2``, the
    squared violation of the signs, in the units of a squared residual."""
    yk = y.repeat_interleave(k, 0)
    if operator.measurement == "sign":
        s = max(operator.entry_noise_std, 1e-3)
        return -2 * s ** 2 * torch.special.log_ndtr(yk * operator.linear_part.forward(x) / s).sum(1)
    return (yk - operator.forward(x)).pow(2).sum(1)
