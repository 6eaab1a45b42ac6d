"""Evaluation: metrics on recoveries (and, elsewhere in this package, on generators)."""

from genprior.evaluate.metrics import (
    mse_per_pixel,
    psnr,
    ratio_of_means_ci,
    ssim,
    summarize,
)

__all__ = ["mse_per_pixel", "psnr", "ratio_of_means_ci", "ssim", "summarize"]
