"""Out-of-distribution scores: the detection figures, the likelihood bound against exact integration, and the CLI."""

import json
import math

import numpy as np
import pytest
import torch
from scipy.special import softmax

from genprior import zoo
from genprior.cli import main
from genprior.data import load_dataset
from genprior.errors import InvalidValueError, ShapeError, UnknownNameError
from genprior.evaluate.ood import (
    auroc,
    complexity_bits,
    complexity_corrected_score,
    fpr_at_tpr,
    likelihood_score,
    max_softmax_score,
    ood_scores,
    range_score,
    vae_log_likelihood,
)
from genprior.models.pca import PCAGenerator
from genprior.models.vae import VAE


def test_auroc_is_the_pairwise_win_rate_with_ties_as_half():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 6, (37,), generator=g).double()  # many ties
    b = torch.randint(2, 9, (23,), generator=g).double()
    pairwise = ((b[None, :] > a[:, None]).double() + 0.5 * (b[None, :] == a[:, None]).double()).mean()
    assert auroc(a, b) == pytest.approx(float(pairwise), abs=1e-12)
    assert auroc(torch.zeros(5), torch.ones(4)) == 1.0
    assert auroc(torch.ones(5), torch.zeros(4)) == 0.0
    assert auroc(torch.ones(5), torch.ones(3)) == 0.5


def test_fpr_at_tpr_counts_the_in_distribution_scores_above_the_catching_threshold():
    s_in = torch.arange(10.0)  # 0..9
    s_out = torch.arange(5.0, 25.0)  # 5..24: catching 95 % of 20 needs the 19 highest, down to 6
    assert fpr_at_tpr(s_in, s_out, tpr=0.95) == pytest.approx(0.4)  # 6, 7, 8, 9
    assert fpr_at_tpr(s_in, s_out + 100) == 0.0
    with pytest.raises(InvalidValueError, match="tpr"):
        fpr_at_tpr(s_in, s_out, tpr=0)


def test_detection_figures_refuse_empty_or_nan_scores():
    with pytest.raises(ShapeError, match="in_scores is empty"):
        auroc([], [1.0])
    with pytest.raises(InvalidValueError, match="out_scores"):
        auroc([1.0], [float("nan")])


def _exact_log_likelihood(vae: VAE, x: torch.Tensor) -> torch.Tensor:
    """log p(x) = log int p(x | z) N(z; 0, 1) dz for a 1-d latent, on a fine grid (float64), with p(x | z) written
    out here: Bernoulli, or the logistic's mass on each 8-bit level (plain sigmoid differences, float64)."""
    z = torch.linspace(-9, 9, 20001, dtype=torch.float64)[:, None]
    n = x[0].numel()
    with torch.no_grad():
        out = vae.double().decoder(z)[:, None, :]  # (Z, 1, n or 2n)
    vae.float()
    x = x.double().flatten(1)[None]  # (1, B, n)
    if vae.likelihood == "bernoulli":
        log_px_z = -torch.nn.functional.binary_cross_entropy_with_logits(
            out.expand(-1, x.shape[1], -1), x.expand(len(z), -1, -1), reduction="none").sum(-1)
    else:
        loc, scale = torch.sigmoid(out[..., :n]), out[..., n:].clamp(min=-7.0).exp()
        upper = torch.where(x >= 1, 1.0, torch.sigmoid((x + 0.5 / 255 - loc) / scale))
        lower = torch.where(x <= 0, 0.0, torch.sigmoid((x - 0.5 / 255 - loc) / scale))
        log_px_z = torch.log(upper - lower).sum(-1)
    log_prior = -0.5 * (z ** 2 + math.log(2 * math.pi))
    dz = float(z[1] - z[0])
    return torch.logsumexp(log_px_z + log_prior, 0) + math.log(dz)


@pytest.mark.parametrize("likelihood", ["bernoulli", "logistic"])
def test_importance_weighted_bound_approaches_the_exact_likelihood_from_below(likelihood):
    torch.manual_seed(3)
    vae = VAE(output_shape=(1, 3, 3), hidden=(16,), latent_dim=1, likelihood=likelihood).eval()
    x = torch.randint(0, 256, (6, 1, 3, 3)) / 255.0  # 8-bit images (the logistic decoder's domain)
    exact = _exact_log_likelihood(vae, x)
    tight = vae_log_likelihood(vae, x, samples=4000, seed=1)
    elbo = torch.stack([vae_log_likelihood(vae, x, samples=1, seed=s) for s in range(200)]).mean(0)
    assert torch.allclose(tight, exact, atol=0.02), (tight, exact)
    assert bool((elbo < exact - 1e-3).all()), (elbo, exact)  # the ELBO is a strict lower bound here
    assert bool((tight > elbo).all())
    assert torch.equal(vae_log_likelihood(vae, x, samples=7, seed=5), vae_log_likelihood(vae, x, samples=7, seed=5))
    # the scores in bits: -log2 p(x) by exact integration, and Serra et al.'s S(x) = -log2 p(x) - L(x)
    exact_bits = -exact / math.log(2)
    assert torch.allclose(likelihood_score(vae, x, samples=4000, seed=1), exact_bits, atol=0.03)
    assert torch.allclose(complexity_corrected_score(vae, x, samples=4000, seed=1), exact_bits - complexity_bits(x),
                          atol=0.03)


def test_likelihood_refuses_a_model_without_an_encoder_and_bad_images():
    with pytest.raises(InvalidValueError, match="no encode"):
        vae_log_likelihood(PCAGenerator(output_shape=(1, 2, 2), latent_dim=2), torch.zeros(1, 1, 2, 2))
    vae = VAE(output_shape=(1, 3, 3), hidden=(4,), latent_dim=1)
    with pytest.raises(ShapeError, match="shape"):
        vae_log_likelihood(vae, torch.zeros(2, 1, 4, 4))
    with pytest.raises(InvalidValueError, match=r"\[0, 1\]"):
        vae_log_likelihood(vae, torch.full((2, 1, 3, 3), float("nan")))
    with pytest.raises(InvalidValueError, match="samples"):
        vae_log_likelihood(vae, torch.zeros(2, 1, 3, 3), samples=0)


def test_complexity_bits_orders_flat_below_noise_and_reads_the_8_bit_image():
    flat = torch.zeros(1, 1, 28, 28)
    noise = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    bits = complexity_bits(torch.cat([flat, noise]))
    assert bits[0] < 200 < 784 * 8 < bits[1]  # noise does not compress; a flat image nearly vanishes
    # L(x) describes the 8-bit image: jitter of under half a level leaves a flat image flat (truncating would not)
    level = torch.full((1, 1, 28, 28), 100 / 255)
    jitter = (torch.rand(level.shape, generator=torch.Generator().manual_seed(1)) - 0.5) * 0.9 / 255
    assert torch.equal(complexity_bits(level + jitter), complexity_bits(level))
    assert float(complexity_bits(noise[..., :14, :])) < float(bits[1])


def test_range_score_is_near_zero_on_the_generators_own_images_and_not_on_others():
    images = load_dataset("mnist-bundled").images[:200]
    pca = PCAGenerator.fit(images, latent_dim=5).eval()
    with torch.no_grad():
        own = pca(0.5 * torch.randn(20, 5, generator=torch.Generator().manual_seed(0)))
    s_own = range_score(pca, own, seed=0)
    s_real = range_score(pca, images[:20], seed=0)
    assert float(s_own.max()) < 1e-5
    assert float(s_real.min()) > 1e-3
    assert auroc(s_own, s_real) == 1.0


def test_max_softmax_score_is_one_minus_the_top_probability_and_higher_on_noise():
    clf = zoo.load("mnist-classifier")
    images = load_dataset("mnist-bundled").images[:50]
    s = max_softmax_score(clf, images)
    with torch.no_grad():  # 1 - the largest class probability, by scipy's softmax of the eval-mode logits
        logits = clf.eval()(images).double().numpy()
    assert s.shape == (50,) and np.allclose(s.numpy(), 1 - softmax(logits, axis=1).max(1), rtol=0, atol=1e-6)
    assert float(s.mean()) < 0.05  # the classifier is sure of real digits
    assert float(max_softmax_score(clf, torch.rand(50, 1, 28, 28)).mean()) > float(s.mean())


def test_ood_scores_by_name_and_unknown_names():
    vae = VAE(output_shape=(1, 3, 3), hidden=(4,), latent_dim=1)
    x = torch.rand(3, 1, 3, 3)
    assert torch.equal(ood_scores("likelihood", vae, x, samples=3), likelihood_score(vae, x, samples=3))
    with pytest.raises(UnknownNameError, match="unknown out-of-distribution score 'elbo'"):
        ood_scores("elbo", vae, x)


def test_zoo_vae_likelihood_tells_mnist_from_fashion_mnist(data_dir):
    vae = zoo.load("mnist-vae")
    mnist = load_dataset("mnist", "test", data_dir=data_dir).images[:200]
    fashion = load_dataset("fashion-mnist", "test", data_dir=data_dir).images[:200]
    s_in, s_out = likelihood_score(vae, mnist, samples=10), likelihood_score(vae, fashion, samples=10)
    assert auroc(s_in, s_out) > 0.99
    assert 100 < float(s_in.mean()) < 250  # bits per digit: the zoo's test ELBO is about 141 bits


def test_zoo_8_bit_vaes_let_the_complexity_correction_work_in_both_directions(data_dir):
    """With the logistic decoder -log2 p(x) counts bits of the 8-bit image, as L(x) does: Serrà's score then keeps
    the MNIST model's separation (the Bernoulli VAE's correction turned it to 0.33) and repairs the Fashion one's."""
    sets = {name: load_dataset(name, "test", data_dir=data_dir).images[:150] for name in ("mnist", "fashion-mnist")}
    for name, other in (("mnist", "fashion-mnist"), ("fashion-mnist", "mnist")):
        vae = zoo.load(f"{name}-vae-8bit")
        assert vae.likelihood == "logistic" and zoo.config(f"{name}-vae-8bit")["data"]["dataset"] == name
        s_in, s_out = (complexity_corrected_score(vae, sets[k], samples=10) for k in (name, other))
        assert auroc(s_in, s_out) > 0.95, name
    # bits per MNIST digit: near the zoo's test ELBO (969.5 nats = 1399 bits), a little below deflate's ~1470
    bits = likelihood_score(zoo.load("mnist-vae-8bit"), sets["mnist"], samples=10)
    assert 1100 < float(bits.mean()) < 1450, float(bits.mean())


def test_cli_ood_writes_its_report_and_refuses_bad_options(tmp_path, data_dir, capsys):
    out = tmp_path / "ood"
    rc = main(["ood", "--model", "mnist-classifier", "--score", "max-softmax", "--indices", "0:100",
               "--data-dir", str(data_dir), "--out", str(out), "--device", "cpu"])
    assert rc == 0
    report = json.loads((out / "ood.json").read_text())
    assert report["n_in"] == report["n_out"] == 100 and report["auroc"] > 0.95
    assert (out / "ood.png").stat().st_size > 1000 and (out / "ood.md").exists()
    for argv, message in (
        (["--model", "mnist-dcgan", "--score", "likelihood"], "has no encode"),
        (["--model", "mnist-vae", "--score", "entropy"], "unknown out-of-distribution score"),
        (["--model", "mnist-vae", "--ood-dataset", "mnist"], "--ood-dataset is --dataset"),
        (["--model", "mnist-vae", "--score", "range", "--samples", "5"], "--samples is for the likelihood"),
        (["--model", "mnist-vae", "--samples", "0"], "argument --samples: must be an integer >= 1"),
        (["--model", "mnist-vae", "--ood-dataset", "digits", "--indices", "0:10"], "takes images of shape"),
    ):
        rc = main(["ood", *argv, "--data-dir", str(data_dir)] + ([] if "--indices" in argv else ["--indices", "0:10"]))
        err = capsys.readouterr().err
        assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_histogram_range_gathers_a_long_tail_only():
    from genprior.reports.figures import histogram_range

    body = torch.linspace(0, 1, 1000)
    assert histogram_range(body, body + 0.5) == (0.0, 1.5, "")  # no tail: min to max
    lo, hi, note = histogram_range(body, torch.cat([body, torch.tensor([1e6])]))  # one score 1e6 times the rest
    assert lo == 0.0 and 0.99 < hi < 1.0 and note.startswith("end bins hold the values above 0.99")


def test_score_histograms_leave_none_panels_blank(tmp_path):
    from PIL import Image

    from genprior.reports import save_score_histograms

    pair = (torch.zeros(10), torch.ones(10))
    path = save_score_histograms(tmp_path / "h.png", {"a": pair, "blank": None, "b": pair, "c": pair}, ncol=2)
    with Image.open(path) as im:
        width, height = im.size
    assert height > width * 0.6  # two rows of two: the blank keeps its place
