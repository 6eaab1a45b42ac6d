"""Fast tests of the robustness tools on tiny models (sklearn digits, 8x8)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genprior.cli import main
from genprior.data import load_dataset
from genprior.robust.attacks import fgsm, fgsm_targeted, pgd
from genprior.robust.defenses import ProjectionDefense
from genprior.robust.saliency import occlusion, saliency
from genprior.train.classifier import accuracy, train_classifier

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits():
    torch.manual_seed(0)
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    train_classifier(model, train.images, train.labels, test.images, test.labels, out_dir=None, epochs=15,
                     batch_size=64, lr=3e-3, progress=False)
    model.eval()
    assert accuracy(model, test.images, test.labels) > 0.9
    return model, test.images[:200], test.labels[:200]


def test_fgsm_within_eps_and_clipped(digits):
    model, x, y = digits
    xa = fgsm(model, x, y, eps=0.1)
    assert xa.shape == x.shape
    assert (xa - x).abs().max() <= 0.1 + 1e-6
    assert xa.min() >= 0 and xa.max() <= 1
    assert accuracy(model, xa, y) < accuracy(model, x, y)


def test_pgd_no_worse_than_fgsm(digits):
    model, x, y = digits
    eps = 0.1
    acc_fgsm = accuracy(model, fgsm(model, x, y, eps=eps), y)
    xp = pgd(model, x, y, eps=eps, steps=20)
    assert (xp - x).abs().max() <= eps + 1e-6 and xp.min() >= 0 and xp.max() <= 1
    assert accuracy(model, xp, y) <= acc_fgsm
    x2 = pgd(model, x, y, eps=1.0, norm="l2", steps=20)
    assert ((x2 - x).flatten(1).norm(dim=1) <= 1.0 + 1e-4).all()


def test_targeted_fgsm_raises_target_logit(digits):
    model, x, _ = digits
    target = 3
    with torch.no_grad():
        before = model(x)[:, target] - model(x).logsumexp(1)
        xa = fgsm_targeted(model, x, target, eps=0.05)
        after = model(xa)[:, target] - model(xa).logsumexp(1)
    assert (after > before).float().mean() > 0.9


def test_targeted_pgd_raises_target_log_probability(digits):
    model, x, _ = digits
    target = torch.full((x.shape[0],), 3)
    with torch.no_grad():
        before = model(x).log_softmax(1)[:, 3]
    xa = pgd(model, x, target, eps=0.05, steps=10, targeted=True, seed=0)
    with torch.no_grad():
        after = model(xa).log_softmax(1)[:, 3]
    assert (after > before).float().mean() > 0.9
    assert (xa - x).abs().max() <= 0.05 + 1e-6


def test_saliency_of_a_linear_model_is_its_weights_and_occlusion_its_logit_drop():
    torch.manual_seed(0)
    lin = nn.Linear(16, 3)
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.rand(2, 1, 4, 4)
    with torch.no_grad():
        lin.weight[:, 5] = 0.0  # pixel (1, 1) is ignored by every class
        pred = model(x).argmax(1)
    sal = saliency(model, x)
    expected = lin.weight.detach()[pred].abs().view(2, 4, 4)
    assert torch.allclose(sal / sal.amax((1, 2), keepdim=True), expected / expected.amax((1, 2), keepdim=True),
                          atol=1e-6)
    occ = occlusion(model, x, size=1, stride=1)
    assert occ.shape == (2, 4, 4)
    assert torch.allclose(occ[:, 1, 1], torch.zeros(2), atol=1e-6)  # covering an ignored pixel changes nothing
    covered = x.clone()
    covered[:, :, 2, 3] = 0.0
    with torch.no_grad():
        drop = model(x).softmax(1).gather(1, pred[:, None]) - model(covered).softmax(1).gather(1, pred[:, None])
    assert torch.allclose(occ[:, 2, 3], drop[:, 0], atol=1e-6)
    assert occ.abs().amax() > 1e-3


def test_saliency_and_occlusion_shapes(digits):
    model, x, _ = digits
    assert saliency(model, x[:5]).shape == (5, 8, 8)
    occ = occlusion(model, x[:5], size=3, stride=1)
    assert occ.shape == (5, 6, 6)
    assert torch.isfinite(occ).all()


class TinyGenerator(nn.Module):
    latent_dim = 4
    output_shape = (1, 8, 8)

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.net = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 64), nn.Sigmoid())

    def forward(self, z):
        return self.net(z).view(-1, *self.output_shape)


def test_projection_recovers_point_in_range():
    g = TinyGenerator().eval()
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        x = g(z)
    defense = ProjectionDefense(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), g, steps=300, restarts=4, lr=0.1,
                                loss="l2")
    r = defense.project(x)
    assert r.x.shape == x.shape
    assert (r.x - x).pow(2).mean() < 1e-4
    band = ProjectionDefense(defense.classifier, g, steps=300, restarts=4, lr=0.1, tau=0.1, loss="deadzone")
    assert (band.project(x).x - x).abs().max() <= 0.1 + 1e-2  # lands inside the l_inf band around x
    with torch.no_grad():  # the projection must still work when the caller disables gradients
        logits = defense(x)
    assert logits.shape == (6, 10)


def test_deadzone_projection_stays_inside_the_band_where_l2_does_not():
    """Input x + delta with |delta| <= tau: some range point (G(z)) lies inside the band, so the dead-zone projection
    reaches zero dead-zone loss; the l2 projection does not aim for the band and leaves part of it outside."""
    g = TinyGenerator().eval()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        x = g(torch.randn(6, 4, generator=gen))
    tau = 0.1
    noisy = (x + tau * (2 * torch.rand(x.shape, generator=gen) - 1) * 0.95).clamp(0, 1)
    clf = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    band = ProjectionDefense(clf, g, steps=300, restarts=4, lr=0.1, tau=tau, loss="deadzone").project(noisy).x
    l2 = ProjectionDefense(clf, g, steps=300, restarts=4, lr=0.1, loss="l2").project(noisy).x
    def outside(r):  # squared excess over the band, written out here rather than taken from the code under test
        return (r.abs() - tau).clamp(min=0).pow(2).sum(1)

    band_loss, l2_loss = outside((band - noisy).flatten(1)), outside((l2 - noisy).flatten(1))
    assert float(band_loss.max()) < 1e-4
    assert float(l2_loss.sum()) > 10 * float(band_loss.sum()) + 1e-6


@pytest.mark.parametrize("argv, message", [
    (["attack", "--eps", "-1"], "argument --eps: must be a finite number >= 0"),
    (["attack", "--indices", "5:3"], "--indices 5:3 is out of range"),
    (["attack", "--defense", "nonsense"], "unknown defense 'nonsense'"),
    (["explain", "--method", "nonsense"], "unknown method 'nonsense'; choose one of: occlusion, saliency"),
])
def test_cli_bad_input_exit_2(capsys, argv, message):
    assert main([*argv, "--dataset", "mnist-bundled"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genprior: error:") and message in lines[0], lines


def test_cli_attack_json(tmp_path):
    import json

    out = tmp_path / "a.json"
    assert main(["attack", "--dataset", "mnist-bundled", "--indices", "0:20", "--eps", "0.3", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["n_images"] == 20 and res["clean_accuracy"] >= 0.9
    assert res["adversarial_accuracy"] < res["clean_accuracy"]
    assert res["linf_max"] <= 0.3 + 1e-6


def test_band_projections_beat_l2_against_fgsm():
    """The l_inf-aware projections (tau = eps) undo FGSM eps 0.3 more often than Defense-GAN's l2 one, and the
    band likelihood more often than the dead zone.

    Real models (zoo classifier and VAE), a cheap projection (L = 100, R = 2) on 100 bundled MNIST images;
    on the selection images 1000..1099 with L = 200, R = 10: 0.90 (band likelihood), 0.78 (dead zone), 0.51 (l2).
    """
    from genprior import zoo
    from genprior.robust.defenses import deadzone_loss

    data = load_dataset("mnist-bundled", "test")
    x, y = data.images[:100], data.labels[:100]
    clf, _ = zoo.resolve("mnist-classifier")
    gen, _ = zoo.resolve("mnist-vae")
    clf.eval()
    with torch.no_grad():
        keep = clf(x).argmax(1) == y
    x, y = x[keep], y[keep]
    xa = fgsm(clf, x, y, eps=0.3)
    assert accuracy(clf, xa, y) < 0.3
    acc = {}
    for loss in ("l2", "deadzone", "band-likelihood"):
        defense = ProjectionDefense(clf, gen, steps=100, restarts=2, loss=loss, tau=0.3)
        with torch.no_grad():
            acc[loss] = accuracy(defense, xa, y)
    assert acc["deadzone"] >= acc["l2"] + 0.05, acc
    assert acc["band-likelihood"] >= acc["deadzone"] + 0.05 and acc["band-likelihood"] >= 0.8, acc
    r = torch.tensor([[0.1, -0.5, 0.3, 1.0]])
    assert torch.allclose(deadzone_loss(0.3)(r, None), torch.tensor([0.2 ** 2 + 0.7 ** 2]))


def test_band_likelihood_loss_values_and_gradient():
    """min over the band of BCE: the band's upper edge where G(z) > 1/2, its lower edge elsewhere."""
    from genprior.robust.defenses import band_likelihood_loss

    x = torch.tensor([[0.3, 0.3, 1.0, 0.5, 0.05, 0.9]])
    p = torch.tensor([[0.2, 0.8, 0.9, 0.4, 0.6, 0.3]], requires_grad=True)
    loss = band_likelihood_loss(0.3)(p - x, x)
    # brute force: each pixel's BCE minimised over a fine grid of the band [x - 0.3, x + 0.3] ∩ [0, 1], in float64
    want = 0.0
    for xi, pi in zip(x[0].double(), p[0].detach().double()):
        v = torch.linspace(float((xi - 0.3).clamp(min=0)), float((xi + 0.3).clamp(max=1)), 2001, dtype=torch.float64)
        want += float(torch.nn.functional.binary_cross_entropy(pi.expand_as(v), v, reduction="none").min())
    got = float(loss.detach())
    assert abs(got - want) < 1e-5 * want, (got, want)
    loss.sum().backward()
    assert torch.isfinite(p.grad).all() and p.grad[0, 0] > 0 and p.grad[0, 2] < 0
    # a saturated wrong pixel still gets a finite, non-zero push (the clamp passes the gradient)
    q = torch.tensor([[0.0, 1.0]], requires_grad=True)
    xq = torch.tensor([[1.0, 0.0]])
    band_likelihood_loss(0.3)(q - xq, xq).sum().backward()
    assert torch.isfinite(q.grad).all() and q.grad[0, 0] < 0 and q.grad[0, 1] > 0


def test_projection_defense_bad_options():
    g = TinyGenerator().eval()
    clf = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    from genprior.errors import GeneratorError, InvalidValueError, UnknownNameError
    from genprior.models.ensemble import GeneratorEnsemble

    with pytest.raises(UnknownNameError, match="unknown loss 'nonsense'"):
        ProjectionDefense(clf, g, loss="nonsense")
    with pytest.raises(InvalidValueError, match="tau must be a finite number >= 0"):
        ProjectionDefense(clf, g, tau=-1.0)
    with pytest.raises(UnknownNameError, match="unknown preprocess 'blur'"):
        ProjectionDefense(clf, g, preprocess="blur")
    with pytest.raises(GeneratorError, match="needs one generator, not an ensemble"):
        ProjectionDefense(clf, GeneratorEnsemble([g, TinyGenerator()]))


def test_cli_projection_defense_uses_the_band_likelihood(tmp_path):
    import json

    out = tmp_path / "p.json"
    argv = ["attack", "--dataset", "mnist-bundled", "--indices", "0:20", "--eps", "0.3", "--defense", "projection",
            "--steps", "60", "--restarts", "2", "--json", str(out)]
    assert main(argv) == 0
    res = json.loads(out.read_text())
    assert res["loss"] == "band-likelihood" and res["tau"] == 0.3 and res["n_images"] == 20
    assert res["clean_accuracy"] >= 0.8 and res["adversarial_accuracy"] >= 0.6  # undefended FGSM eps 0.3: < 0.3
    assert main([*argv[:-2], "--projection-loss", "nonsense"]) == 2


def test_latent_attacks_stay_in_the_band():
    from genprior.robust.defenses import latent_space_attack

    g = TinyGenerator().eval()
    torch.manual_seed(0)
    clf = nn.Sequential(nn.Flatten(), nn.Linear(64, 4)).eval()
    defense = ProjectionDefense(clf, g, steps=30, restarts=2, loss="l2")
    with torch.no_grad():
        x = g(torch.randn(5, 4, generator=torch.Generator().manual_seed(3)))
        y = clf(x).argmax(1)
    for kw in ({}, {"every_class": True, "c": 1.0}):
        xa = latent_space_attack(defense, x, y, eps=0.1, steps=40, **kw)
        assert xa.shape == x.shape and (xa - x).abs().max() <= 0.1 + 1e-6 and 0 <= xa.min() and xa.max() <= 1


def test_attacks_and_maps_check_the_classifier_input_shape():
    from genprior import zoo
    from genprior.errors import ShapeError
    from genprior.robust.attacks.transfer import train_substitute

    model, _ = zoo.resolve("mnist-classifier", family="classifier")
    small = torch.rand(2, 1, 8, 8)
    for call in (lambda: fgsm(model, small, torch.zeros(2, dtype=torch.long), eps=0.1),
                 lambda: pgd(model, small, torch.zeros(2, dtype=torch.long), eps=0.1, steps=2),
                 lambda: saliency(model, small), lambda: occlusion(model, small, size=2),
                 lambda: train_substitute(model, small)):
        with pytest.raises(ShapeError, match=r"takes images of shape \(1, 28, 28\), got \(1, 8, 8\)"):
            call()
    from genprior.errors import InvalidValueError

    with pytest.raises(ShapeError, match="empty batch"):
        train_substitute(model, torch.rand(0, 1, 28, 28))
    x = torch.rand(2, 1, 28, 28)
    for bad, pattern in ((torch.tensor([10, 0]), r"class indices 0 \.\. 9, got values 0 \.\. 10"),
                         (torch.tensor([1.5, 0.0]), "integer class indices, got torch.float32")):
        with pytest.raises(InvalidValueError, match=pattern):
            fgsm(model, x, bad, eps=0.1)
        with pytest.raises(InvalidValueError, match=pattern):
            pgd(model, x, bad, eps=0.1, steps=1)
    nan = x.clone()
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(InvalidValueError, match=r"must lie in \[0, 1\] \(1 values outside it or NaN\)"):
        fgsm(model, nan, torch.zeros(2, dtype=torch.long), eps=0.1)


def test_zoo_resolve_checks_the_family():
    from genprior import zoo
    from genprior.errors import InvalidValueError

    assert zoo.resolve("mnist-classifier-distilled", family="classifier")[1]["architecture"]["family"] == "classifier"
    with pytest.raises(InvalidValueError, match="mnist-vae is not a classifier"):
        zoo.resolve("mnist-vae", family="classifier")
    with pytest.raises(InvalidValueError, match=r"its family is ensemble"):
        zoo.resolve("mnist-vae-ensemble", family="classifier")


@pytest.mark.parametrize("options,pattern", [({"steps": 0}, "steps must be a positive integer"),
                                             ({"restarts": -1}, "restarts must be a positive integer"),
                                             ({"attack_steps": 0}, "attack_steps must be a positive integer"),
                                             ({"lr": float("nan")}, "finite lr > 0"),
                                             ({"tau": float("inf")}, "tau must be a finite number")])
def test_projection_defense_checks_its_settings(options, pattern):
    from genprior import zoo
    from genprior.errors import InvalidValueError
    from genprior.robust.defenses import ProjectionDefense

    with pytest.raises(InvalidValueError, match=pattern):
        ProjectionDefense(zoo.load("mnist-classifier"), zoo.load("mnist-vae"), **options)


def test_distillation_checks_the_students_state_before_training_a_teacher(tmp_path):
    from genprior.errors import CheckpointError
    from genprior.models.classifier import Classifier
    from genprior.robust.defenses import defensive_distillation
    from genprior.train.classifier import train_classifier

    g = torch.Generator().manual_seed(0)
    x, labels = torch.rand(32, 1, 16, 16, generator=g), torch.randint(0, 3, (32,), generator=g)
    model = Classifier(input_shape=(1, 16, 16), channels=(2, 4), hidden=8, num_classes=3)
    options = {"epochs": 1, "batch_size": 16, "progress": False}
    train_classifier(model, x, labels, x, labels, out_dir=tmp_path, **options)  # a plain run, T = 1
    with pytest.raises(CheckpointError, match="trained with temperature = 1.0, this run asks for 10.0"):
        defensive_distillation(model, x, labels, x, labels, temperature=10.0, out_dir=tmp_path, resume=True, **options)
    assert not (tmp_path / "teacher").exists()
