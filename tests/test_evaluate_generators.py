"""Judging generators: Fréchet distance, classifier score, closest reconstructions, copying, and their CLI."""

import json

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from genprior import zoo
from genprior.cli import main
from genprior.data import load_dataset
from genprior.errors import InvalidValueError, ShapeError, UnknownNameError
from genprior.evaluate.fid import (
    classifier_features,
    classifier_score,
    frechet_distance,
    frechet_distance_gaussians,
    gaussian_fit,
)
from genprior.evaluate.judge import judge_generator
from genprior.evaluate.reconstruction import (
    closest_reconstruction,
    invert,
    memorization,
    nearest_neighbours,
)
from genprior.io import load_tensors


def _random_cov(d, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_frechet_distance_matches_the_closed_form_with_scipy_sqrtm():
    d = 6
    mu1, mu2 = torch.randn(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    c1, c2 = _random_cov(d, 1), _random_cov(d, 2)
    root = scipy.linalg.sqrtm(c1.numpy() @ c2.numpy()).real
    want = float(((mu1 - mu2) ** 2).sum()) + float(np.trace(c1.numpy() + c2.numpy() - 2 * root))
    got = frechet_distance_gaussians(mu1, c1, mu2, c2)
    assert got == pytest.approx(want, rel=1e-9)
    assert frechet_distance_gaussians(mu2, c2, mu1, c1) == pytest.approx(got, rel=1e-9)  # symmetric
    assert abs(frechet_distance_gaussians(mu1, c1, mu1, c1)) < 1e-10


def test_frechet_distance_of_diagonal_gaussians_and_of_samples():
    # N(0, diag(a)) vs N(m, diag(b)): ||m||^2 + sum (sqrt a - sqrt b)^2
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 4.0, 1.0])
    m = torch.tensor([1.0, -2.0, 0.5])
    want = float((m ** 2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum())
    assert frechet_distance_gaussians(torch.zeros(3), torch.diag(a), m, torch.diag(b)) == pytest.approx(want)
    g = torch.Generator().manual_seed(0)
    xa = torch.randn(200_000, 3, generator=g, dtype=torch.float64) * a.sqrt()
    xb = torch.randn(200_000, 3, generator=g, dtype=torch.float64) * b.sqrt() + m
    assert frechet_distance(xa, xb) == pytest.approx(want, rel=0.01)
    mu, cov = gaussian_fit(xa)
    assert torch.allclose(cov, torch.diag(a).double(), atol=0.05) and mu.abs().max() < 0.02


def test_classifier_score_bounds():
    k = 10
    confident_balanced = torch.eye(k).repeat(30, 1)
    assert classifier_score(confident_balanced) == pytest.approx(k)
    assert classifier_score(torch.eye(k)[[3] * 50]) == pytest.approx(1.0)  # one class only
    assert classifier_score(torch.full((40, k), 1 / k)) == pytest.approx(1.0)  # unreadable
    half = torch.eye(k)[torch.arange(200) % 5]  # five classes, confidently
    assert classifier_score(half) == pytest.approx(5.0)


def test_score_inputs_are_checked():
    with pytest.raises(InvalidValueError, match="rows summing to 1"):
        classifier_score(torch.full((4, 3), 0.5))
    with pytest.raises(InvalidValueError, match="NaN"):
        classifier_score(torch.tensor([[float("nan"), 1.0]]))
    with pytest.raises(ShapeError, match="one d"):
        frechet_distance(torch.randn(5, 3), torch.randn(5, 4))
    with pytest.raises(ShapeError, match="N >= 2"):
        gaussian_fit(torch.randn(1, 3))
    with pytest.raises(InvalidValueError, match="no features"):
        classifier_features(nn.Linear(784, 10), torch.rand(2, 1, 28, 28))


def test_classifier_features_are_what_its_logits_are_computed_from():
    clf = zoo.load("mnist-classifier")
    x = load_dataset("mnist-bundled").images[:50]
    feats, probs = classifier_features(clf, x, batch_size=16)
    assert feats.shape == (50, clf.hidden) and probs.shape == (50, 10) and feats.dtype == torch.float64
    with torch.no_grad():
        want = torch.softmax(clf(x).double(), 1)
    assert torch.allclose(probs, want, atol=1e-6)
    assert (feats >= 0).all()  # ReLU activations


def test_nearest_neighbours_match_brute_force():
    g = torch.Generator().manual_seed(3)
    q, r = torch.rand(37, 1, 6, 6, generator=g), torch.rand(50, 1, 6, 6, generator=g)
    dist, idx = nearest_neighbours(q, r, chunk=8)
    full = torch.cdist(q.flatten(1).double(), r.flatten(1).double()) ** 2 / 36
    assert torch.allclose(dist, full.min(1).values, atol=1e-6)
    two = full.topk(2, dim=1, largest=False).values
    assert (two[:, 1] - two[:, 0] > 100 * 1e-6).all()  # no near-ties: float32 round-off cannot pick another index
    assert torch.equal(idx, full.argmin(1))
    with pytest.raises(ShapeError, match="share an image shape"):
        nearest_neighbours(q, torch.rand(5, 1, 7, 7))


def test_memorization_tells_copies_from_new_images():
    x = load_dataset("mnist-bundled").images
    train, held_out, fresh = x[:300], x[300:400], x[400:500]
    copies = memorization(train[:100], train, held_out)
    # a copy's distance to itself is 0 up to the float32 round-off of nearest_neighbours (1e-4 on a 784-pixel sum)
    assert copies["samples_median"] <= 1e-4 / 784 and copies["ratio"] < 1e-3
    assert copies["near_copy_share"] == 1.0
    new = memorization(fresh, train, held_out)
    assert 0.7 < new["ratio"] < 1.4 and new["near_copy_share"] < 0.1


def test_invert_finds_points_of_the_range_and_refuses_bad_input():
    G = zoo.load("mnist-vae")
    z = torch.randn(4, G.latent_dim, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        x = G(z)
    res = invert(G, x, seed=0)
    assert res.z.shape == (4, G.latent_dim) and res.x.shape == x.shape
    assert float(((res.x - x) ** 2).mean()) < 1e-5
    real = load_dataset("mnist-bundled").images[:4]
    err = float(((closest_reconstruction(G, real) - real) ** 2).mean())
    assert 1e-4 < err < 0.03  # real digits lie near, not on, the range
    with pytest.raises(UnknownNameError, match="unknown inversion method 'adam'"):
        invert(G, x, method="adam")
    with pytest.raises(InvalidValueError, match="does not take steps"):
        invert(G, x, method="csgm-fast", steps=10)
    with pytest.raises(ShapeError, match=r"shape \(1, 28, 28\), the images have \(1, 8, 8\)"):
        invert(G, torch.rand(2, 1, 8, 8))
    with pytest.raises(InvalidValueError, match="must lie in"):
        invert(G, x + 2)


def test_invert_by_lp_is_exact_for_an_expansive_relu_mlp():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 100), nn.ReLU(), nn.Linear(100, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))
    net.latent_dim, net.output_shape = 10, (1, 28, 28)
    z = torch.randn(3, 10)
    with torch.no_grad():
        x = net(z)
    res = invert(net, x, method="lp")
    assert torch.allclose(res.z.float(), z, atol=1e-4)
    assert res.x.shape == x.shape


def test_judge_generator_ranks_a_trained_generator_above_noise():
    x = load_dataset("mnist-bundled").images
    clf = zoo.load("mnist-classifier")

    class Noise(nn.Module):  # an untrained generator: a random linear map through a sigmoid
        latent_dim, output_shape = 4, (1, 28, 28)

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 784)

        def forward(self, z):
            return torch.sigmoid(3 * self.lin(z)).view(-1, 1, 28, 28)

    vae = judge_generator(zoo.load("mnist-vae"), clf, x[:300], train=x[300:], n_samples=200, n_inverted=4)
    noise = judge_generator(Noise(), clf, x[:300], train=x[300:], n_samples=200, n_inverted=2)
    s, n = vae.scores, noise.scores
    assert s["real"]["frechet_distance"] < s["frechet_distance"] < 0.5 * n["frechet_distance"]
    assert s["classifier_score"] > 2 * n["classifier_score"]
    assert s["reconstruction"]["mse_per_pixel"] < 0.03 < n["reconstruction"]["mse_per_pixel"]
    assert vae.samples.shape == (200, 1, 28, 28) and vae.nearest_train.shape == (16, 1, 28, 28)
    with pytest.raises(InvalidValueError, match="fewer than the 400"):
        judge_generator(Noise(), clf, x[:300], n_samples=400)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_evaluate_writes_its_report(tmp_path, capsys):
    code, out, _ = run(capsys, "evaluate", "--model", "mnist-cgan", "--dataset", "mnist-bundled", "--samples", "300",
                       "--invert", "3", "--out", str(tmp_path / "ev"))
    assert code == 0 and "Fréchet distance" in out
    report = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert report["n_samples"] == 300 and report["memorization"] is None
    assert report["reconstruction"]["n_images"] == 3 and report["real"]["between"].startswith("two halves")
    assert report["frechet_distance"] > report["real"]["frechet_distance"]
    for name in ("samples.png", "reconstruction.png", "evaluation.md"):
        assert (tmp_path / "ev" / name).is_file()


def test_cli_evaluate_with_a_train_split_checks_copying(tmp_path, capsys, data_dir):
    code, _, _ = run(capsys, "evaluate", "--model", "mnist-vae", "--data-dir", str(data_dir), "--samples", "500",
                     "--invert", "2", "--json", str(tmp_path / "r.json"), "--out", str(tmp_path / "ev"))
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert 0.5 < report["memorization"]["ratio"] < 2 and report["real"]["between"] == "train vs held-out, 500 each"
    assert (tmp_path / "ev" / "nearest-train.png").is_file()


def test_cli_invert_latents_round_trip(tmp_path, capsys):
    code, out, _ = run(capsys, "invert", "--model", "mnist-vae", "--dataset", "mnist-bundled", "--indices", "0:3",
                       "--method", "csgm", "--steps", "50", "--restarts", "2", "--out", str(tmp_path / "inv"))
    assert code == 0 and json.loads(out)["n_images"] == 3
    saved = load_tensors(tmp_path / "inv" / "latents.safetensors")
    G = zoo.load("mnist-vae")
    with torch.no_grad():
        assert torch.allclose(G(saved["z"]), saved["x"], atol=1e-6)
    assert (tmp_path / "inv" / "inversion.png").is_file()


def _mlp_generator(k: int, last: nn.Module) -> nn.Sequential:
    """A fully connected generator ``z (B, k) -> (B, 1, 28, 28)`` that LP inversion accepts."""
    G = nn.Sequential(nn.Linear(k, 784), last, nn.Unflatten(1, (1, 28, 28)))
    G.latent_dim, G.output_shape = k, (1, 28, 28)
    return G


def test_cli_invert_lp_reports_how_many_images_it_certified(tmp_path, capsys, monkeypatch):
    # the identity followed by ReLU makes every image in [0, 1] exactly, from many latents (a pixel at 0 takes any
    # z_i <= 0); a 20-dimensional sigmoid net makes no real digit
    identity = _mlp_generator(784, nn.ReLU())
    with torch.no_grad():
        identity[0].weight.copy_(torch.eye(784))
        identity[0].bias.zero_()
    narrow = _mlp_generator(20, nn.Sigmoid())
    for G, certified in ((identity, 2), (narrow, 0)):
        monkeypatch.setattr("genprior.cli.evaluate.resolve_generator", lambda name, G=G: G)
        out = tmp_path / f"inv{certified}"
        code, printed, _ = run(capsys, "invert", "--model", "mine", "--method", "lp", "--dataset", "mnist-bundled",
                               "--indices", "0:2", "--out", str(out))
        assert code == 0
        line, report = json.loads(printed), json.loads((out / "inversion.json").read_text())
        assert line["certified"] == report["certified"] == certified and line["certified_unique"] == 0
        assert "certified" in (out / "inversion.md").read_text()
    assert report["mse_per_pixel"] > 1e-3  # the narrow net's best fits are far from the digits: not certified


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--model", "mnist-vae-ensemble", "--dataset", "mnist-bundled"], "evaluate or invert one member"),
    (["evaluate", "--model", "mnist-vae", "--dataset", "mnist-bundled", "--samples", "501"],
     "--samples 501 is more than the 500 held-out images"),
    (["evaluate", "--model", "mnist-vae", "--dataset", "mnist-bundled", "--method", "lp"], "csgm-fast or csgm"),
    (["evaluate", "--model", "mnist-vae", "--classifier", "mnist-dcgan", "--dataset", "mnist-bundled"],
     "is not a classifier"),
    (["evaluate", "--model", "nope", "--dataset", "mnist-bundled"], "unknown model 'nope'"),
    (["evaluate", "--model", "mnist-vae", "--dataset", "digits"], "makes images of shape (1, 28, 28)"),
    (["invert", "--model", "mnist-vae", "--dataset", "mnist-bundled", "--method", "lp", "--out", "X"],
     "LP inversion needs an nn.Sequential"),
    (["invert", "--model", "mnist-vae", "--dataset", "mnist-bundled", "--steps", "5", "--out", "X"],
     "method csgm-fast does not take steps"),
    (["invert", "--model", "mnist-vae", "--dataset", "mnist-bundled", "--method", "magic", "--out", "X"],
     "unknown inversion method 'magic'"),
])
def test_cli_bad_input(tmp_path, capsys, argv, message):
    argv = [str(tmp_path / a) if a == "X" else a for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("genprior: error:") and message in err and len(err.strip().splitlines()) == 1, err


def test_pca_generator_spans_the_principal_subspace_and_round_trips(tmp_path):
    from genprior.models import load_model, save_model
    from genprior.models.pca import PCAGenerator

    x = load_dataset("mnist-bundled").images
    G = PCAGenerator.fit(x[:400], latent_dim=10)
    w = G.weight.double()
    gram = w.T @ w
    assert torch.allclose(gram - torch.diag(torch.diagonal(gram)), torch.zeros(10, 10, dtype=torch.float64), atol=1e-3)
    var = torch.diagonal(gram)  # the principal variances, decreasing, summing to less than the total variance
    assert (var[1:] <= var[:-1] + 1e-6).all() and var.sum() < x[:400].flatten(1).var(0).sum()
    held = x[400:420]
    proj = G.mean + ((held.flatten(1) - G.mean) @ w.float() @ torch.diag(1 / var.float())) @ w.float().T
    proj_err = float(((proj.clamp(0, 1).view_as(held) - held) ** 2).mean())
    inv_err = float(((closest_reconstruction(G, held) - held) ** 2).mean())
    assert inv_err <= proj_err * 1.02  # inverting the clipped model is at least as good as the clipped projection
    save_model(tmp_path / "pca", G)
    H, _ = load_model(tmp_path / "pca")
    z = torch.randn(5, 10)
    assert torch.equal(G(z), H(z))
    with pytest.raises(InvalidValueError, match="more than latent_dim = 10 images"):
        PCAGenerator.fit(x[:10], latent_dim=10)
