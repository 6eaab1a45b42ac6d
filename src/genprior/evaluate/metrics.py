"""Image-quality metrics on [0, 1] images ``(B, C, H, W)``; each returns one value per image ``(B,)``."""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from genprior.errors import (
    InvalidValueError,
    ShapeError,
    check_number,
    check_seed,
    check_sizes,
)


def check_finite(name: str, t: torch.Tensor) -> None:
    """A metric's input must be real floats without NaN or inf (a NaN would silently become the mean)."""
    if not t.is_floating_point():
        raise InvalidValueError(f"{name} must hold real floating values, got dtype {t.dtype}")
    if not bool(torch.isfinite(t).all()):
        raise InvalidValueError(f"{name} contains NaN or infinite values")


def _check_pair(x_hat: torch.Tensor, x: torch.Tensor) -> None:
    if not (torch.is_tensor(x_hat) and torch.is_tensor(x)):
        raise ShapeError(f"metrics need two tensors, got {type(x_hat).__name__} and {type(x).__name__}")
    if x_hat.shape != x.shape or x.dim() != 4 or x.numel() == 0:
        raise ShapeError("metrics need two non-empty (B, C, H, W) tensors of one shape, "
                         f"got {tuple(x_hat.shape)} and {tuple(x.shape)}")
    check_finite("the recovery", x_hat)
    check_finite("the reference image", x)


def _check_range(data_range: float) -> None:
    check_number("data_range", data_range, low=0, strict=True)


def mse_per_pixel(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Error per pixel: ``mean((x_hat - x)^2)`` over each image (the CSGM paper's measure).

    >>> import torch
    >>> x = torch.zeros(2, 1, 4, 4)
    >>> mse_per_pixel(x + 0.5, x)
    tensor([0.2500, 0.2500])
    """
    _check_pair(x_hat, x)
    return (x_hat - x).pow(2).flatten(1).mean(1)


def direction_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``||x_hat/||x_hat|| - x/||x|| ||^2`` per image (float64), 0 for the right direction, 2 for an orthogonal
    one, up to 4: the error of one-bit recoveries, whose measurements keep only the direction. A zero image has
    no direction and counts as 2."""
    _check_pair(x_hat, x)

    def unit(t: torch.Tensor) -> torch.Tensor:
        t = t.flatten(1).double()
        norm = t.norm(dim=1, keepdim=True)
        return torch.where(norm > 0, t / norm.clamp_min(1e-300), torch.zeros_like(t))

    return (2.0 - 2.0 * (unit(x_hat) * unit(x)).sum(1)).clamp_min(0.0)  # = ||u - v||^2 for unit u, v


def psnr(x_hat: torch.Tensor, x: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, capped at 100 dB for exact recoveries.

    >>> import torch
    >>> x = torch.zeros(2, 1, 4, 4)
    >>> psnr(x + 0.1, x).round()  # an error per pixel of 0.01 on images in [0, 1]
    tensor([20., 20.])
    >>> psnr(x, x)
    tensor([100., 100.])
    """
    _check_range(data_range)
    mse = mse_per_pixel(x_hat, x).clamp_min(data_range ** 2 * 1e-10)
    return 10.0 * torch.log10(data_range ** 2 / mse)


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


SSIM_WINDOW, SSIM_SIGMA = 11, 1.5  # Wang et al. 2004's 11x11 Gaussian window of sigma 1.5


def ssim(x_hat: torch.Tensor, x: torch.Tensor, *, data_range: float = 1.0, window: int = SSIM_WINDOW,
         sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004, Eq. 13, averaged as their MSSIM, Eq. 17) per image, ``(B,)``.

    ``SSIM = (2 mu_a mu_b + C1)(2 cov_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2))`` with
    ``C1 = (0.01 R)^2``, ``C2 = (0.03 R)^2`` (``R = data_range``), the local moments weighted by a ``window`` x
    ``window`` Gaussian of standard deviation ``sigma`` (the population, not the sample, covariance), averaged over
    the positions where the window lies wholly inside the image ("valid", ``H - window + 1`` x ``W - window + 1`` of
    them), then over the channels. The defaults are the paper's (11x11, sigma 1.5): the same as scikit-image's
    ``structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=R)``,
    which crops the same border. Results before genprior's SSIM change used ``window=7`` (``docs/tuning.md``).

    ``x_hat``, ``x``: ``(B, C, H, W)`` of one shape, on the ``data_range`` scale (``[0, 1]`` by default), with
    ``H, W >= window``: a smaller image is refused (``ShapeError``; :func:`summarize` reports no SSIM for it).
    ``window``: an odd positive integer. Computed in float64 (the local variances are differences of nearly equal
    moments: in float32 they lose up to 1e-4 on flat images); returns ``(B,)`` in the dtype of ``x``.
    """
    _check_pair(x_hat, x)
    _check_range(data_range)
    check_sizes("ssim", window=window)
    if window % 2 == 0:
        raise InvalidValueError(f"ssim: window must be an odd positive integer, got {window!r}")
    check_number("ssim sigma", sigma, low=0, strict=True)
    if min(x.shape[2], x.shape[3]) < window:
        raise ShapeError(f"ssim needs images of at least {window}x{window} pixels (its window), "
                         f"got {x.shape[2]}x{x.shape[3]}")
    dtype = x.dtype
    x_hat, x = x_hat.double(), x.double()
    c = x.shape[1]
    w = _gaussian_window(window, sigma, c, x.device, x.dtype)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = F.conv2d(x_hat, w, groups=c), F.conv2d(x, w, groups=c)
    var_a = F.conv2d(x_hat * x_hat, w, groups=c) - mu_a ** 2
    var_b = F.conv2d(x * x, w, groups=c) - mu_b ** 2
    cov = F.conv2d(x_hat * x, w, groups=c) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1).to(dtype)


def ratio_of_means_ci(a: torch.Tensor, b: torch.Tensor, *, level: float = 0.95, resamples: int = 4000,
                      seed: int = 0) -> tuple[float, float]:
    """Paired bootstrap interval for ``mean(a) / mean(b)`` over images (percentile method).

    ``a``, ``b``: ``(B,)`` per-image errors of two methods on the same images (paired: one resample of image
    indices is applied to both). Returns the ``level`` interval ``(low, high)``.
    """
    if not (torch.is_tensor(a) and torch.is_tensor(b)):
        raise ShapeError(f"need two (B,) tensors, got {type(a).__name__} and {type(b).__name__}")
    if a.dim() != 1 or a.shape != b.shape or a.numel() < 2:
        raise ShapeError(f"need two (B,) tensors of one shape with B >= 2, got {tuple(a.shape)} and {tuple(b.shape)}")
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise InvalidValueError(f"level must be in (0, 1), got {level!r}")
    check_sizes("ratio_of_means_ci", resamples=resamples)
    check_finite("a", a)
    check_finite("b", b)
    if not bool((b >= 0).all()) or float(b.sum()) == 0:
        raise InvalidValueError("b must be non-negative errors with a mean > 0 (the ratio's denominator)")
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    idx = torch.randint(a.numel(), (resamples, a.numel()), generator=torch.Generator().manual_seed(check_seed("seed", seed)))
    ratios = a[idx].mean(1) / b[idx].mean(1)
    tail = (1 - level) / 2
    low, high = torch.quantile(ratios, torch.tensor([tail, 1 - tail], dtype=torch.float64))
    return float(low), float(high)


def summarize(x_hat: torch.Tensor, x: torch.Tensor) -> dict:
    """Mean error per pixel with its standard error, mean PSNR, SSIM (:func:`ssim`'s standard 11x11 window) and
    direction error, as plain floats; ``"ssim"`` is ``None`` for images smaller than 11x11 (no window fits)."""
    err = mse_per_pixel(x_hat, x).double()
    n = err.numel()
    se = float(err.std(unbiased=True) / math.sqrt(n)) if n > 1 else 0.0
    fits = min(x.shape[2], x.shape[3]) >= SSIM_WINDOW
    return {"n_images": n, "mse_per_pixel": float(err.mean()), "mse_se": se,
            "psnr": float(psnr(x_hat, x).mean()), "ssim": float(ssim(x_hat, x).mean()) if fits else None,
            "direction_error": float(direction_error(x_hat, x).mean())}
