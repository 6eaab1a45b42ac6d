import math

import pytest
import torch

from genprior.errors import InvalidValueError, ShapeError
from genprior.evaluate import mse_per_pixel, psnr, ratio_of_means_ci, ssim, summarize


def test_mse_and_psnr_values():
    x = torch.zeros(2, 1, 4, 4)
    x_hat = x.clone()
    x_hat[0] += 0.1
    assert torch.allclose(mse_per_pixel(x_hat, x), torch.tensor([0.01, 0.0]))
    assert abs(psnr(x_hat, x)[0].item() - 20.0) < 1e-4 and psnr(x_hat, x)[1].item() == pytest.approx(100.0)


def test_ssim_properties():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 28, 28, generator=g)
    assert torch.allclose(ssim(x, x), torch.ones(3), atol=1e-5)
    noisy = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    noisier = (x + 0.5 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert (ssim(noisier, x) < ssim(noisy, x)).all() and (ssim(noisy, x) < 1).all()


def test_summarize_standard_error():
    x = torch.zeros(4, 1, 2, 2)
    x_hat = torch.tensor([0.1, 0.2, 0.3, 0.4]).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    s = summarize(x_hat, x)
    errs = torch.tensor([0.01, 0.04, 0.09, 0.16], dtype=torch.float64)
    assert s["mse_per_pixel"] == pytest.approx(0.075) and s["n_images"] == 4
    assert s["mse_se"] == pytest.approx(float(errs.std() / math.sqrt(4)))


def test_shape_mismatch():
    with pytest.raises(ShapeError):
        mse_per_pixel(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 5))


@pytest.mark.parametrize("data_range", [0.0, -1.0, math.nan, math.inf])
def test_psnr_and_ssim_need_a_positive_data_range(data_range):
    x = torch.rand(2, 1, 8, 8)
    for metric in (psnr, ssim):
        with pytest.raises(InvalidValueError, match="data_range must be a finite number > 0"):
            metric(x, x, data_range=data_range)


def test_ratio_of_means_ci_is_exact_for_proportional_errors_and_covers_the_ratio():
    g = torch.Generator().manual_seed(0)
    b = torch.rand(200, generator=g) + 0.1
    low, high = ratio_of_means_ci(2 * b, b)
    assert abs(low - 2) < 1e-12 and abs(high - 2) < 1e-12  # a paired resample keeps the ratio exactly
    a = b * (1.05 + 0.2 * torch.randn(200, generator=g))  # about 5 % worse, noisily
    low, high = ratio_of_means_ci(a, b)
    assert low < float(a.mean() / b.mean()) < high and high - low < 0.1
    assert low < 1.05 < high


def test_ratio_of_means_ci_rejects_bad_input():
    with pytest.raises(ShapeError, match="one shape"):
        ratio_of_means_ci(torch.ones(3), torch.ones(4))
    with pytest.raises(InvalidValueError, match="level"):
        ratio_of_means_ci(torch.ones(3), torch.ones(3), level=1.5)
