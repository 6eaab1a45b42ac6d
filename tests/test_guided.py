"""Guided recovery (``genprior.solvers.guided`` and ``genprior edit``): CSGM plus a classifier's log-likelihood."""

import importlib
import json
import math

import pytest
import torch
import torch.nn.functional as F

from genprior import zoo
from genprior.cli import main
from genprior.data import load_dataset
from genprior.errors import GenpriorError, InvalidValueError, ShapeError
from genprior.operators import Gaussian, Identity, Inpaint
from genprior.solvers import csgm, guided


class LinearClassifier(torch.nn.Module):
    """A random linear classifier of 28x28 images into ``classes`` classes."""

    def __init__(self, classes: int = 10, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.lin = torch.nn.Linear(784, classes)

    def forward(self, x):
        return self.lin(x.flatten(1))


def _measured(relu_net, op, n=3):
    x = relu_net(torch.randn(n, 20, generator=torch.Generator().manual_seed(5))).detach()
    return op.measure(x, seed=1)


def test_weight_zero_is_csgm(relu_net):
    op = Gaussian(m=60, noise_std=0.1, seed=2)
    y = _measured(relu_net, op)
    plain = csgm(relu_net, op, y, restarts=3, steps=40, lr=0.03, seed=4)
    edit = guided(relu_net, op, y, LinearClassifier(), 3, weight=0.0, restarts=3, steps=40, lr=0.03, seed=4)
    assert torch.allclose(edit.x, plain.x, atol=1e-6) and torch.allclose(edit.z, plain.z, atol=1e-6)
    assert torch.allclose(edit.measurement_loss, plain.measurement_loss, rtol=1e-5)


def test_winner_has_the_lowest_full_objective(relu_net):
    op = Inpaint(keep=0.5, noise_std=0.05, seed=0)
    y = _measured(relu_net, op)
    clf = LinearClassifier(seed=1)
    weight, lam, target = 2.0, 0.1, torch.tensor([1, 7, 7])
    edit = guided(relu_net, op, y, clf, target, weight=weight, lam=lam, restarts=4, steps=30, lr=0.05, seed=3)
    b, r, k = edit.z_all.shape
    with torch.no_grad():
        x = relu_net(edit.z_all.reshape(b * r, k))
        fit = (op.forward(x) - y.repeat_interleave(r, 0)).pow(2).sum(1)
        log_p = F.log_softmax(clf(x), 1).gather(1, target.repeat_interleave(r)[:, None])[:, 0]
        objective = (fit + lam * edit.z_all.reshape(b * r, k).pow(2).sum(1) - weight * log_p).view(b, r)
    assert torch.allclose(edit.restart_objectives, objective, rtol=1e-4, atol=1e-4)
    best = objective.argmin(1)
    assert torch.equal(edit.z, edit.z_all[torch.arange(b), best])
    assert torch.allclose(edit.objective, objective.min(1).values, rtol=1e-4, atol=1e-4)
    assert torch.allclose(edit.target_prob, log_p.view(b, r)[torch.arange(b), best].exp(), rtol=1e-4)


def test_target_probability_rises_with_weight():
    """Zoo VAE and classifier on bundled MNIST fours, denoised toward 9: p(9) grows with beta, the fit worsens."""
    data = load_dataset("mnist-bundled", "test")
    x = data.images[(data.labels == 4).nonzero()[:3, 0]]
    generator, classifier = zoo.load("mnist-vae"), zoo.load("mnist-classifier")
    op = Identity(noise_std=0.1)
    y = op.measure(x, seed=1)
    runs = [guided(generator, op, y, classifier, 9, weight=w, restarts=2, steps=60, lr=0.05, seed=0) for w in (0, 1, 10)]
    probs = [run.target_prob.mean().item() for run in runs]
    assert probs[0] < probs[1] < probs[2] and probs[2] > 0.9, probs
    assert runs[0].measurement_loss.mean() < runs[2].measurement_loss.mean()
    with torch.no_grad():
        assert torch.allclose(classifier(runs[2].x).softmax(1)[:, 9], runs[2].target_prob, atol=1e-5)


@pytest.mark.parametrize("change, error, pattern", [
    ({"target": 10}, InvalidValueError, "target must be a class in 0 .. 9, got 10"),
    ({"target": -1}, InvalidValueError, "target must be a class in 0 .. 9"),
    ({"target": True}, InvalidValueError, "target must be an int or a (3,) tensor"),
    ({"target": 2.0}, InvalidValueError, "target must be an int or a (3,) tensor"),
    ({"target": torch.tensor([1.0, 2.0, 3.0])}, InvalidValueError, "torch.float32"),
    ({"target": torch.tensor([1, 2])}, ShapeError, "target must have shape (3,)"),
    ({"target": torch.tensor([1, 2, 10])}, InvalidValueError, "target classes must be in 0 .. 9, got 1 .. 10"),
    ({"weight": -1.0}, InvalidValueError, "weight must be a finite number >= 0.0, got -1.0"),
    ({"weight": math.nan}, InvalidValueError, "weight must be a finite number >= 0.0, got nan"),
    ({"weight": math.inf}, InvalidValueError, "weight must be a finite number >= 0.0, got inf"),
    ({"classifier": LinearClassifier(classes=1)}, ShapeError, "returns 1 logit per image; it needs K >= 2"),
    ({"classifier": torch.nn.Linear(100, 10)}, ShapeError, "fails on an image of shape (1, 1, 28, 28)"),
    ({"classifier": torch.nn.Flatten(0)}, ShapeError, "must return floating logits of shape (1, K)"),
    ({"classifier": "mnist-classifier"}, InvalidValueError, "is not callable"),
    ({"y": torch.zeros(3, 59)}, ShapeError, "expects measurements of shape (B, 60)"),
    ({"y": torch.full((3, 60), math.nan)}, InvalidValueError, "NaN"),
])
def test_bad_input_is_refused_before_any_work(relu_net, monkeypatch, change, error, pattern):
    # the module (genprior.solvers.guided as an attribute is the function)
    monkeypatch.setattr(importlib.import_module("genprior.solvers.guided"), "csgm",
                        lambda *a, **k: pytest.fail("work started"))
    op = Gaussian(m=60, noise_std=0.1, seed=2)
    args = {"y": torch.zeros(3, 60), "classifier": LinearClassifier(), "target": 9, "weight": 1.0, **change}
    with pytest.raises(error) as info:
        guided(relu_net, op, args["y"], args["classifier"], args["target"], weight=args["weight"], steps=2)
    assert pattern in str(info.value) and "\n" not in str(info.value)


def test_bad_solver_options_are_refused_as_in_csgm(relu_net):
    op = Gaussian(m=60, noise_std=0.1, seed=2)
    for options in ({"steps": 0}, {"lr": -1.0}, {"restarts": 0}, {"seed": -1}, {"lam": math.nan}):
        with pytest.raises(GenpriorError):
            guided(relu_net, op, torch.zeros(2, 60), LinearClassifier(), 1, weight=1.0, **options)


EDIT = ["edit", "--dataset", "mnist-bundled", "--indices", "0:3", "--target", "9", "--steps", "4", "--restarts", "2"]


def test_cli_edit_writes_grid_and_report(capsys, tmp_path):
    out = tmp_path / "edit"
    code = main([*EDIT, "--weight", "2", "--judge", "mnist-classifier-seed1", "--out", str(out),
                 "--json", str(tmp_path / "r.json")])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["edit.json", "edit.md", "edit.png"]
    report = json.loads((out / "edit.json").read_text())
    assert report == json.loads((tmp_path / "r.json").read_text())
    assert report["target"] == 9 and report["weight"] == 2.0 and report["judge"] == "mnist-classifier-seed1"
    assert len(report["images"]) == 3 and report["summary"]["n_images"] == 3
    row = report["images"][0]
    for key in ("p_target_before", "p_target_after", "judge_p_target", "mse_per_pixel", "l2", "measurement_loss"):
        assert math.isfinite(row[key])
    assert 0 <= report["summary"]["judge_read_as_target"] <= 1
    assert "# genprior edit: toward class 9, beta = 2" in stdout


@pytest.mark.parametrize("options, pattern", [
    (["--target", "10"], "target must be a class in 0 .. 9, got 10"),
    (["--weight", "-1"], "argument --weight: must be a finite number >= 0"),
    (["--weight", "nan"], "argument --weight: must be a finite number >= 0"),
    (["--steps", "0"], "argument --steps: must be an integer >= 1"),
    (["--task", "one-bit"], "argument --task: invalid choice: 'one-bit'"),
    (["--m", "20"], "task denoise does not use --m"),
    (["--classifier", "mnist-vae"], "mnist-vae is not a classifier"),
    (["--judge", "nope"], "unknown model 'nope'"),
    (["--indices", "0:999"], "0:999"),
])
def test_cli_edit_bad_options_exit_2_and_write_nothing(capsys, tmp_path, options, pattern):
    args = ["edit", "--dataset", "mnist-bundled", "--indices", "0:2", "--target", "9", "--steps", "2",
            "--restarts", "1", *options, "--out", str(tmp_path / "o"), "--json", str(tmp_path / "r.json")]
    code = main(args)
    _, err = capsys.readouterr()
    lines = [line for line in err.split("\r")[-1].strip().splitlines() if line]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("genprior: error:") and pattern in lines[0], err
    assert list(tmp_path.iterdir()) == []
