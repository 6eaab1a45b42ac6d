"""genprior's SSIM is the standard one (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03):
scikit-image's ``structural_similarity`` with ``gaussian_weights=True, use_sample_covariance=False`` gives the same
number to 1e-5 on random and on MNIST images, gray and RGB."""

import pytest
import torch

from genprior.data import load_dataset
from genprior.errors import InvalidValueError, ShapeError
from genprior.evaluate import ssim, summarize

skimage_metrics = pytest.importorskip("skimage.metrics", reason="scikit-image is not installed")


def reference(x_hat: torch.Tensor, x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """scikit-image's SSIM of each image of a ``(B, C, H, W)`` pair (channels last for it), float64."""
    out = [skimage_metrics.structural_similarity(a.permute(1, 2, 0).double().numpy(), b.permute(1, 2, 0).double().numpy(),
                                                 gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                                 data_range=data_range, channel_axis=2)
           for a, b in zip(x_hat, x)]
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("shape", [(3, 1, 11, 11), (2, 1, 28, 28), (2, 3, 32, 24), (2, 3, 13, 40)])
def test_ssim_matches_scikit_image_on_random_images(shape):
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    x_hat = (x + 0.2 * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    ours, ref = ssim(x_hat, x), reference(x_hat, x)
    assert torch.allclose(ours, ref, atol=1e-5, rtol=0), (ours, ref)
    assert torch.allclose(ssim(2 * x_hat, 2 * x, data_range=2.0), reference(2 * x_hat, 2 * x, 2.0), atol=1e-5, rtol=0)


def test_ssim_matches_scikit_image_on_mnist_gray_and_rgb():
    x = load_dataset("mnist-bundled", "test").images[:6].float()
    g = torch.Generator().manual_seed(0)
    for x_hat in ((x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1), x.roll(1, 0), x.flip(-1)):
        assert torch.allclose(ssim(x_hat, x).double(), reference(x_hat, x), atol=1e-5, rtol=0)
    rgb = torch.cat([x[0:2], x[2:4], x[4:6]], 1)  # three digits as the channels of one colour image
    rgb_hat = (rgb + 0.1 * torch.randn(rgb.shape, generator=g)).clamp(0, 1)
    assert torch.allclose(ssim(rgb_hat, rgb).double(), reference(rgb_hat, rgb), atol=1e-5, rtol=0)
    # per channel, then averaged: the mean of the three one-channel scores
    per_channel = torch.stack([ssim(rgb_hat[:, i:i + 1], rgb[:, i:i + 1]) for i in range(3)], 1).mean(1)
    assert torch.allclose(ssim(rgb_hat, rgb), per_channel, atol=1e-6)


def test_the_old_seven_pixel_window_is_an_option_and_differs():
    x = load_dataset("mnist-bundled", "test").images[:4].float()
    x_hat = x.roll(1, 0)
    assert not torch.allclose(ssim(x_hat, x), ssim(x_hat, x, window=7), atol=1e-3)


def test_images_smaller_than_the_window_are_refused_and_summarize_reports_no_ssim():
    x = torch.rand(2, 1, 10, 28)
    with pytest.raises(ShapeError, match=r"ssim needs images of at least 11x11 pixels \(its window\), got 10x28"):
        ssim(x, x)
    assert float(ssim(x, x, window=7).min()) > 0.99999
    with pytest.raises(InvalidValueError, match="window must be an odd positive integer, got 8"):
        ssim(x, x, window=8)
    s = summarize(x, x)
    assert s["ssim"] is None and s["mse_per_pixel"] == 0
    assert summarize(torch.rand(2, 1, 11, 11), torch.rand(2, 1, 11, 11))["ssim"] is not None
