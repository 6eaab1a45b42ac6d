"""Diffusion posterior samplers (DPS, DiffPIR): exact on a Gaussian prior, batched = looped, coverage, the CLI."""

import json

import pytest
import torch

from genprior.cli import main
from genprior.errors import InvalidValueError
from genprior.evaluate.recovery import run_method
from genprior.io import load_tensors_and_metadata
from genprior.models.checkpoint import save_model
from genprior.models.diffusion import Diffusion, noise_schedule
from genprior.operators import Gaussian, Inpaint, Magnitude, Sign
from genprior.solvers.diffpir import diffpir
from genprior.solvers.dps import dps
from genprior.solvers.posterior import (
    calibrate_interval,
    coverage,
    interval_90,
    scaled_interval,
    summarize_samples,
)

SHAPE = (1, 4, 4)


class GaussianOracle(torch.nn.Module):
    """The exact noise predictor of data ``x0 ~ N(mu, d^2 I)`` (model space): ``x_t ~ N(sqrt(a) mu,
    (a d^2 + 1 - a) I)``, so ``E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) mu) / (a d^2 + 1 - a)``."""

    def __init__(self, mu: float, d: float, *, num_steps: int = 1000):
        super().__init__()
        self.image_shape, self.num_steps, self.mu, self.d = SHAPE, num_steps, mu, d
        self.register_buffer("alphas_cumprod", noise_schedule("cosine", num_steps).float())

    def predict_noise(self, x_t, t):
        a = self.alphas_cumprod[t]
        return (1 - a).sqrt() * (x_t - a.sqrt() * self.mu) / (a * self.d ** 2 + 1 - a)


def gaussian_posterior(op, y, mu, d):
    """Closed-form posterior of the image (in [0, 1] units) for prior N(mu, d^2 I) in model space: mean, std."""
    a = op.matrix().double()
    s_y = 2 * op.entry_noise_std
    y_model = 2 * y.double() - a.sum(1)
    cov = torch.linalg.inv(a.T @ a / s_y ** 2 + torch.eye(a.shape[1], dtype=torch.float64) / d ** 2)
    mean = (y_model @ a / s_y ** 2 + mu / d ** 2) @ cov
    return (mean + 1) / 2, cov.diagonal().sqrt() / 2


@pytest.fixture
def problem():
    mu, d = 0.1, 0.3
    op = Gaussian(m=6, shape=SHAPE, noise_std=0.3, seed=0)
    x = 0.35 + 0.4 * torch.rand(2, *SHAPE, generator=torch.Generator().manual_seed(1))
    return GaussianOracle(mu, d), op, x, op.measure(x, seed=2), mu, d


def test_diffpir_matches_the_closed_form_gaussian_posterior(problem):
    model, op, _, y, mu, d = problem
    mean, std = gaussian_posterior(op, y, mu, d)
    res = diffpir(model, op, y, samples=3000, steps=200, eta=0.0, lam=1.0, data_std=d, seed=0)
    # Monte Carlo error of a mean: std / sqrt(3000) ~ 0.0025; max over 32 pixels well inside 0.012
    assert (res.x.flatten(1).double() - mean).abs().max() < 0.012
    ratio = res.std.flatten(1).double() / std
    assert 0.9 < float(ratio.min()) and float(ratio.max()) < 1.1, ratio
    # the posterior is narrower than the prior (d / 2 = 0.15 per pixel in image units) where A sees the image
    assert float(std.max()) < 0.15 and float(res.std.mean()) < 0.15
    # the ancestral schedule converges to the same posterior as it gets finer
    res1 = diffpir(model, op, y, samples=3000, steps=400, eta=1.0, lam=1.0, data_std=d, seed=1)
    assert (res1.x.flatten(1).double() - mean).abs().max() < 0.012
    assert 0.9 < float((res1.std.flatten(1).double() / std).min())


@pytest.mark.parametrize("kind", [Gaussian, Magnitude, Sign])
def test_dps_moves_toward_consistency(problem, kind):
    model, _, x, *_ = problem
    op = kind(m=12, shape=SHAPE, noise_std=0.05, seed=3)
    y = op.measure(x, seed=4)
    prior = dps(model, op, y, samples=64, steps=50, zeta=0.0, seed=0)  # zeta = 0: samples of the prior
    post = dps(model, op, y, samples=64, steps=50, zeta=0.2, seed=0)
    assert float(post.measurement_loss.mean()) < 0.25 * float(prior.measurement_loss.mean())
    assert float(((post.x - x) ** 2).mean()) < 0.5 * float(((prior.x - x) ** 2).mean())


def _tiny_diffusion():
    torch.manual_seed(0)
    return Diffusion(image_shape=(1, 8, 8), channels=(4, 8, 8), num_steps=50).eval()


@pytest.mark.parametrize("sampler", [dps, diffpir])
def test_batched_samples_equal_looped_images(sampler):
    model = _tiny_diffusion()
    op = Inpaint(shape=(1, 8, 8), keep=0.5, noise_std=0.1, seed=0)
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = op.measure(x, seed=1)
    whole = sampler(model, op, y, samples=2, steps=5, seed=7)
    assert whole.samples.shape == (3, 2, 1, 8, 8) and whole.x.shape == (3, 1, 8, 8)
    for i in range(3):
        part = sampler(model, op, y[i:i + 1], samples=2, steps=5, seed=7, offset=i)
        torch.testing.assert_close(part.samples[0], whole.samples[i], atol=2e-4, rtol=0)  # batch round-off
    torch.testing.assert_close(whole.x, whole.samples.mean(1))
    assert float(whole.std.min()) >= 0 and float((whole.samples[:, 0] - whole.samples[:, 1]).abs().max()) > 0
    other = sampler(model, op, y, samples=2, steps=5, seed=8)
    assert float((other.samples - whole.samples).abs().max()) > 1e-2


def test_interval_and_coverage_by_hand():
    # K = 4 < 19: mean -+ t_3(0.95) sqrt(1 + 1/4) std; samples 0, 0, 1, 1 -> mean 0.5, std 1/sqrt(3)
    s = torch.tensor([0.0, 0.0, 1.0, 1.0]).view(1, 4, 1, 1, 1).expand(1, 4, 1, 1, 2).clone()
    low, high = interval_90(s)
    half = 2.353363 * 1.25 ** 0.5 / 3 ** 0.5  # t_3(0.95) = 2.353363
    torch.testing.assert_close(low, torch.full((1, 1, 1, 2), 0.5 - half))
    torch.testing.assert_close(high, torch.full((1, 1, 1, 2), 0.5 + half))
    truth = torch.tensor([0.5 + half - 1e-4, 0.5 + half + 1e-4]).view(1, 1, 1, 2)
    assert float(coverage(truth, low, high)[0]) == pytest.approx(0.5)
    # K = 39 >= 19: order statistics of ranks 2 and 38 (i = floor(0.05 * 40) = 2) of 0, 1, ..., 38 are 1 and 37
    s = torch.arange(39.0).flip(0).view(1, 39, 1, 1, 1)
    low, high = interval_90(s)
    assert float(low) == pytest.approx(1.0) and float(high) == pytest.approx(37.0)
    truths = torch.tensor([0.5, 1.0, 10.0, 37.0, 37.5]).view(5, 1, 1, 1)
    cov = coverage(truths, low.expand(5, 1, 1, 1), high.expand(5, 1, 1, 1))
    assert cov.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    # a single sample: zero std, an interval of one point
    one = summarize_samples(torch.rand(2, 1, 1, 3, 3), torch.zeros(2, 1))
    assert float(one.std.abs().max()) == 0.0 and torch.equal(one.low, one.high)


@pytest.mark.parametrize("k", [4, 10, 25])
def test_interval_holds_a_new_draw_90_percent_of_the_time(k):
    # the truth drawn from the same distribution as the K samples (a calibrated sampler): covered 90 % of the time
    g = torch.Generator().manual_seed(k)
    draws = torch.randn(4000, k + 1, 1, 1, 1, generator=g).exp()  # skewed on purpose (log-normal)
    low, high = interval_90(draws[:, :k])
    rate = float(coverage(draws[:, k], low, high).mean())
    if k >= 19:  # distribution-free: 1 - 2 i / (K + 1) with i = floor(0.05 (K + 1))
        assert abs(rate - (1 - 2 * int(0.05 * (k + 1)) / (k + 1))) < 0.015
    else:
        gauss = torch.randn(4000, k + 1, 1, 1, 1, generator=g)
        lo, hi = interval_90(gauss[:, :k])
        assert abs(float(coverage(gauss[:, k], lo, hi).mean()) - 0.9) < 0.015
        assert 0.8 < rate < 0.97  # Student's interval on a skewed law: roughly right


def test_calibrated_scale_by_hand():
    # 10 images of 10 pixels, interval [mean - 1, mean + 2]; image j's pixel i sits at scale (i + 1) / 10 on the
    # upper side (truth = mean + 2 s): pixels with s <= s_hat are covered
    n, pixels = 10, 10
    mean = torch.zeros(n, 1, 1, pixels)
    low, high = mean - 1, mean + 2
    s = torch.arange(1, pixels + 1).double().div(10).expand(n, 1, 1, pixels)
    truth = (2 * s).float()
    # at most pixels * (0.1 * 11 - 1) = 1 pixel (of all 100) may stay outside: the second largest scale, 1.0
    assert calibrate_interval(truth, mean, low, high) == pytest.approx(1.0, rel=1e-4)
    # level 0.5: at most 10 * (0.5 * 11 - 1) = 45 outside -> the 46th largest scale of 10 x (0.1 .. 1.0) is 0.6
    s_half = calibrate_interval(truth, mean, low, high, level=0.5)
    assert s_half == pytest.approx(0.6, rel=1e-4)
    lo, hi = scaled_interval(mean, low, high, s_half)
    assert float(coverage(truth, lo, hi).mean()) == pytest.approx(0.6)  # 0.1 .. 0.6 covered, ties included
    # the lower side counts its own half-width: truth = mean - s (half-width 1)
    assert calibrate_interval(-s.float(), mean, low, high) == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("spread", [0.3, 3.0])
def test_calibration_brings_a_wrong_spread_to_90_percent(spread):
    # samples drawn with the wrong spread (a miscalibrated sampler): the raw interval misses 90 % by far, the scale
    # calibrated on 50 held-out images holds 90 % of new images' pixels on average (a bit more: the +1 of the bound)
    g = torch.Generator().manual_seed(int(spread * 10))

    def run(n):
        truth = torch.randn(n, 1, 8, 8, generator=g)
        samples = spread * torch.randn(n, 4, 1, 8, 8, generator=g)
        res = summarize_samples(samples, torch.zeros(n, 4))
        return truth, res

    truth, res = run(50)
    scale = calibrate_interval(truth, res.x, res.low, res.high)
    new_truth, new = run(4000)
    raw = float(coverage(new_truth, new.low, new.high).mean())
    lo, hi = scaled_interval(new.x, new.low, new.high, scale)
    calibrated = float(coverage(new_truth, lo, hi).mean())
    assert (raw < 0.6) if spread < 1 else (raw > 0.96)
    assert 0.895 < calibrated < 0.95, (scale, calibrated)


def test_calibration_refuses_what_it_cannot_calibrate():
    x = torch.zeros(8, 1, 2, 2)
    with pytest.raises(InvalidValueError, match="8 held-out images cannot calibrate a 90% interval; give at least 9"):
        calibrate_interval(x, x, x - 1, x + 1)
    with pytest.raises(InvalidValueError, match="one shape"):
        calibrate_interval(torch.zeros(9, 1, 2, 2), torch.zeros(9, 1, 2, 3), x, x)
    with pytest.raises(InvalidValueError, match="zero-width"):  # every interval a point, every truth elsewhere
        calibrate_interval(torch.ones(20, 1, 2, 2), torch.zeros(20, 1, 2, 2), torch.zeros(20, 1, 2, 2),
                           torch.zeros(20, 1, 2, 2))
    with pytest.raises(InvalidValueError, match="level"):
        calibrate_interval(x, x, x, x, level=1.0)
    with pytest.raises(InvalidValueError, match="interval_scale"):
        scaled_interval(x, x, x, -1.0)


def test_sampler_scales_its_interval():
    model = _tiny_diffusion()
    op = Gaussian(m=20, shape=(1, 8, 8), noise_std=0.1, seed=0)
    y = op.measure(torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)), seed=1)
    for sampler in (dps, diffpir):
        own = sampler(model, op, y, samples=3, steps=4)
        half = sampler(model, op, y, samples=3, steps=4, interval_scale=0.5)
        torch.testing.assert_close(half.high - half.x, 0.5 * (own.high - own.x))
        torch.testing.assert_close(half.x - half.low, 0.5 * (own.x - own.low))
        with pytest.raises(InvalidValueError, match="interval_scale"):
            sampler(model, op, y, samples=3, steps=4, interval_scale=float("nan"))


def test_registry_keeps_std_and_reports_coverage():
    model = _tiny_diffusion()
    op = Gaussian(m=20, shape=(1, 8, 8), noise_std=0.1, seed=0)
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    res = run_method("diffpir", x, op, op.measure(x, seed=1), generator=model, samples=3, steps=4)
    assert res.x_std.shape == (2, 1, 8, 8) and 0.0 <= res.metrics["coverage_90"] <= 1.0
    assert "x_std" not in res.options and res.options["samples"] == 3


def test_bad_options_are_refused():
    model = _tiny_diffusion()
    op = Gaussian(m=20, shape=(1, 8, 8), noise_std=0.1, seed=0)
    y = torch.zeros(1, 20)
    with pytest.raises(InvalidValueError, match="samples"):
        dps(model, op, y, samples=0)
    with pytest.raises(InvalidValueError, match="linear operator"):
        diffpir(model, Magnitude(m=20, shape=(1, 8, 8)), y)
    with pytest.raises(InvalidValueError, match="diffusion model"):
        dps(torch.nn.Linear(2, 2), op, y)
    with pytest.raises(InvalidValueError, match="shape"):
        dps(model, Gaussian(m=10, shape=(1, 4, 4)), torch.zeros(1, 10))


def _one_line_error(code, err, pattern):
    assert code == 2
    lines = [line for line in err.split("\r")[-1].strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("genprior: error:") and pattern in lines[0], err


@pytest.fixture
def ddpm_file(tmp_path):
    model = Diffusion(image_shape=(1, 28, 28), channels=(4, 8, 8), num_steps=20)
    save_model(tmp_path / "ddpm", model)
    return str(tmp_path / "ddpm")


def test_cli_end_to_end_writes_std_and_coverage(ddpm_file, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["recover", "--task", "cs", "--m", "30", "--method", "dps", "--model", ddpm_file, "--samples", "3",
                 "--steps", "3", "--dataset", "mnist-bundled", "--indices", "0:2", "--out", str(out),
                 "--json", str(tmp_path / "r.json")])
    assert code == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "r.json").read_text())
    assert 0.0 <= result["coverage_90"] <= 1.0 and result["options"]["samples"] == 3
    assert result["options"]["interval_scale"] == 1.0
    code = main(["recover", "--task", "cs", "--m", "30", "--method", "dps", "--model", ddpm_file, "--samples", "3",
                 "--steps", "3", "--dataset", "mnist-bundled", "--indices", "0:2", "--interval-scale", "0",
                 "--json", str(tmp_path / "r0.json")])
    assert code == 0, capsys.readouterr().err
    narrow = json.loads((tmp_path / "r0.json").read_text())  # same samples, a point interval: covers less
    assert narrow["options"]["interval_scale"] == 0.0 and narrow["coverage_90"] < result["coverage_90"]
    assert {"mse_per_pixel", "psnr", "ssim", "seconds_per_image"} <= set(result)
    tensors, _ = load_tensors_and_metadata(out / "recovery.safetensors")
    assert tensors["x_std"].shape == (2, 1, 28, 28) and float(tensors["x_std"].min()) >= 0
    assert (out / "images" / "0001-std.png").is_file() and (out / "images" / "0001-recovered.png").is_file()


@pytest.mark.parametrize("argv, pattern", [
    (["--method", "dps", "--samples", "0"], "argument --samples"),
    (["--method", "diffpir", "--task", "phase"], "does not take --task phase"),
    (["--method", "dps", "--model", "mnist-vae"], "needs a diffusion model"),
    (["--method", "diffpir", "--model", "mnist-vae"], "needs a diffusion model"),
    (["--method", "csgm", "--model", "DDPM"], "is a diffusion model"),
    (["--method", "hybrid", "--model", "DDPM"], "is a diffusion model"),
    (["--method", "dip", "--model", "DDPM"], "--model is an option of"),
    (["--method", "csgm", "--model", "mnist-vae", "--interval-scale", "0.5"], "--interval-scale is an option of dps, diffpir"),
    (["--method", "dps", "--interval-scale", "-1"], "argument --interval-scale"),
])
def test_cli_refuses_bad_input(ddpm_file, capsys, argv, pattern):
    argv = [ddpm_file if a == "DDPM" else a for a in argv]
    if "--model" not in argv:
        argv += ["--model", ddpm_file]
    task = [] if "--task" in argv else ["--task", "cs"]
    code = main(["recover", *task, "--m", "20", *argv, "--dataset", "mnist-bundled", "--indices", "0:1"])
    _one_line_error(code, capsys.readouterr().err, pattern)
