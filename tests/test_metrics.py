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


def test_ssim_of_constant_images_and_float32_input_match_the_formula_in_float64():
    a, b = torch.full((1, 1, 28, 28), 0.9), torch.full((1, 1, 28, 28), 0.6)
    c1 = 0.01 ** 2  # constant images: no variance, SSIM is its luminance term alone
    assert abs(float(ssim(b, a)) - (2 * 0.6 * 0.9 + c1) / (0.6 ** 2 + 0.9 ** 2 + c1)) < 1e-7
    # nearly flat images: the local variances are small differences of large moments, which float32 loses
    g = torch.Generator().manual_seed(0)
    x = 0.9 + 0.002 * torch.rand(4, 1, 28, 28, generator=g, dtype=torch.float64)
    x_hat = x + 0.002 * torch.rand(4, 1, 28, 28, generator=g, dtype=torch.float64)
    exact = ssim(x_hat, x)
    assert exact.dtype == torch.float64 and (exact < 0.99999).all()
    single = ssim(x_hat.float(), x.float())  # float32 in, float32 out, computed in float64 (was 3e-5 off)
    assert single.dtype == torch.float32 and torch.allclose(single.double(), exact, rtol=2e-7, atol=0)


def test_summarize_standard_error():
    x = torch.zeros(4, 1, 2, 2)
    x_hat = torch.tensor([0.1, 0.2, 0.3, 0.4]).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    s = summarize(x_hat, x)
    errs = torch.tensor([0.01, 0.04, 0.09, 0.16], dtype=torch.float64)
    assert s["mse_per_pixel"] == pytest.approx(0.075) and s["n_images"] == 4
    assert s["mse_se"] == pytest.approx(float(errs.std() / math.sqrt(4)))


def test_shape_mismatch():
    with pytest.raises(ShapeError, match=r"one shape, got \(2, 1, 4, 4\) and \(2, 1, 4, 5\)"):
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


@pytest.mark.parametrize("metric", [mse_per_pixel, psnr, ssim])
@pytest.mark.parametrize("bad, message", [(float("nan"), "the recovery contains NaN"),
                                          (float("inf"), "the recovery contains NaN or infinite")])
def test_metrics_refuse_non_finite_recoveries(metric, bad, message):
    x = torch.rand(2, 1, 8, 8)
    x_hat = x.clone()
    x_hat[1, 0, 3, 3] = bad
    with pytest.raises(InvalidValueError, match=message):
        metric(x_hat, x)
    with pytest.raises(InvalidValueError, match="the reference image contains NaN"):
        metric(x, x_hat)


def test_metrics_refuse_empty_integer_and_non_tensor_input():
    with pytest.raises(ShapeError, match="non-empty"):
        mse_per_pixel(torch.zeros(0, 1, 4, 4), torch.zeros(0, 1, 4, 4))
    with pytest.raises(InvalidValueError, match="real floating values, got dtype torch.uint8"):
        psnr(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ShapeError, match="two tensors, got list"):
        ssim([0.0], torch.zeros(1, 1, 4, 4))


@pytest.mark.parametrize("options, message", [({"window": 0}, "ssim: window must be a positive integer"),
                                              ({"window": 2.5}, "window must be a positive integer"),
                                              ({"sigma": 0.0}, "ssim sigma must be a finite number > 0"),
                                              ({"sigma": float("nan")}, "ssim sigma"),
                                              ({"data_range": "1"}, "data_range must be a finite number")])
def test_ssim_refuses_bad_window_and_sigma(options, message):
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(InvalidValueError, match=message):
        ssim(x, x, **options)


@pytest.mark.parametrize("a, b, options, message", [
    (torch.ones(3), torch.ones(3), {"resamples": 0}, "resamples must be a positive integer"),
    (torch.ones(3), torch.ones(3), {"resamples": 10.0}, "resamples must be a positive integer"),
    (torch.tensor([1.0, float("nan"), 1.0]), torch.ones(3), {}, "a contains NaN"),
    (torch.ones(3), torch.zeros(3), {}, "mean > 0"),
    (torch.ones(3), torch.tensor([1, 1, 1]), {}, "b must hold real floating values"),
])
def test_ratio_of_means_ci_refuses_bad_resamples_and_values(a, b, options, message):
    with pytest.raises(InvalidValueError, match=message):
        ratio_of_means_ci(a, b, **options)


def test_psnr_uses_its_data_range():
    x = torch.full((1, 1, 4, 4), 0.5)
    assert math.isclose(float(psnr(x + 0.1, x, data_range=2.0)), 10 * math.log10(4 / 0.01), rel_tol=1e-5)


def test_ssim_of_constant_images_is_the_luminance_term():
    a, b = torch.full((1, 1, 11, 11), 0.2, dtype=torch.float64), torch.full((1, 1, 11, 11), 0.6, dtype=torch.float64)
    c1 = (0.01 * 1.0) ** 2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2 ** 2 + 0.6 ** 2 + c1)
    assert math.isclose(float(ssim(a, b)), expected, rel_tol=1e-5)


def test_ssim_on_one_window_matches_wangs_formula_with_numpys_weighted_moments():
    # an 11x11 image has one 11x11 window: SSIM is Wang et al.'s formula over that window's Gaussian-weighted moments,
    # here with scipy's Gaussian window (sigma 1.5) and numpy's weighted mean and (biased) weighted covariance
    import numpy as np
    from scipy.signal.windows import gaussian

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(1, 1, 11, 11, generator=g, dtype=torch.float64), torch.rand(1, 1, 11, 11, generator=g, dtype=torch.float64)
    w = np.outer(gaussian(11, 1.5), gaussian(11, 1.5)).ravel()
    a, b = x.numpy().ravel(), y.numpy().ravel()
    mx, my = np.average(a, weights=w), np.average(b, weights=w)
    (vx, cov), (_, vy) = np.cov(a, b, aweights=w, bias=True)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    expected = (2 * mx * my + c1) * (2 * cov + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    assert math.isclose(float(ssim(x, y)), float(expected), rel_tol=1e-9)
    assert math.isclose(float(ssim(x * 2, y * 2, data_range=2.0)), float(expected), rel_tol=1e-9)


def test_ratio_of_means_ci_agrees_with_scipys_paired_percentile_bootstrap():
    """scipy.stats.bootstrap (paired, percentile, 20,000 resamples of its own) gives the same 80 % interval to within
    a tenth of its width (the Monte Carlo error of 4,000 resamples is about 2 %); the errors are strongly correlated
    between the two methods, so an unpaired resample would give an interval four times wider."""
    import numpy as np
    from scipy.stats import bootstrap

    g = torch.Generator().manual_seed(1)
    b = torch.rand(50, generator=g, dtype=torch.float64) + 0.5
    a = b * (0.9 + 0.4 * torch.rand(50, generator=g, dtype=torch.float64))
    low, high = ratio_of_means_ci(a, b, level=0.8, resamples=4000, seed=3)
    ref = bootstrap((a.numpy(), b.numpy()), lambda u, v, axis: u.mean(axis) / v.mean(axis), paired=True,
                    vectorized=True, method="percentile", confidence_level=0.8, n_resamples=20000,
                    rng=np.random.default_rng(0)).confidence_interval
    width = ref.high - ref.low
    assert abs(low - ref.low) < 0.1 * width and abs(high - ref.high) < 0.1 * width, ((low, high), ref)


def test_summarize_reports_the_metrics_means():
    import numpy as np
    import scipy.stats

    g = torch.Generator().manual_seed(2)
    x = torch.rand(3, 1, 11, 11, generator=g)
    x_hat = (x + 0.05 * torch.randn(3, 1, 11, 11, generator=g)).clamp(0, 1)
    s = summarize(x_hat, x)
    assert math.isclose(s["ssim"], float(ssim(x_hat, x).mean()), rel_tol=1e-6)
    err = ((x_hat - x).double().numpy() ** 2).reshape(3, -1).mean(1)  # error per pixel, by numpy
    assert math.isclose(s["mse_per_pixel"], float(err.mean()), rel_tol=1e-5)
    assert math.isclose(s["mse_se"], float(scipy.stats.sem(err)), rel_tol=1e-5)
    assert math.isclose(s["psnr"], float((10 * np.log10(1 / err)).mean()), rel_tol=1e-5)
