"""causal-faces (an SCM whose truth is known exactly) and CausalGAN's causal controller (Kocaoglu et al. 2018)."""

from __future__ import annotations

import json

import pytest
import torch

from genprior.cli import main
from genprior.data.causal_faces import (
    ATTRIBUTES,
    CausalGraph,
    conditional,
    default_graph,
    fit_graph,
    fitted,
    histogram,
    joint,
    marginals,
    render,
    reorder,
    sample_labels,
    tvd,
)
from genprior.errors import InvalidValueError, UnknownNameError
from genprior.models.causal import CausalController, LabelCritic
from genprior.train.causal import controller_tvd, train_causal

# Z -> X -> Y and Z -> Y: Z confounds X and Y
SMALL = {"nodes": {"Z": {"parents": [], "p": 0.3},
                   "X": {"parents": ["Z"], "p": {"0": 0.2, "1": 0.9}},
                   "Y": {"parents": ["X", "Z"], "p": {"00": 0.1, "01": 0.5, "10": 0.6, "11": 0.95}}}}


def test_joint_sums_to_one_and_matches_sampling():
    g = default_graph()
    p = joint(g)
    assert abs(float(p.sum()) - 1) < 1e-12
    n = 200_000
    emp = histogram(sample_labels(g, n, seed=3))
    tol = 5 * (p * (1 - p) / n).sqrt() + 1e-4  # 5 binomial standard deviations per cell
    assert bool(((emp - p).abs() <= tol).all())
    inter = histogram(sample_labels(g, n, seed=4, intervention={"Bald": 1}))
    q = joint(g, {"Bald": 1})
    assert bool(((inter - q).abs() <= 5 * (q * (1 - q) / n).sqrt() + 1e-4).all())


def test_intervention_is_the_truncated_factorisation_by_hand():
    g = CausalGraph.from_json(SMALL)
    assert g.nodes == ("Z", "X", "Y")
    # P(Y = 1 | do(X = 1)) = sum_z P(z) P(Y = 1 | X = 1, z) = 0.7 * 0.6 + 0.3 * 0.95
    assert marginals(g, joint(g, {"X": 1}))["Y"] == pytest.approx(0.7 * 0.6 + 0.3 * 0.95, abs=1e-12)
    # P(Y = 1 | X = 1) weights z by P(z | X = 1) = P(z) P(X = 1 | z) / P(X = 1)
    px1 = 0.7 * 0.2 + 0.3 * 0.9
    by_hand = (0.7 * 0.2 * 0.6 + 0.3 * 0.9 * 0.95) / px1
    assert marginals(g, conditional(g, {"X": 1}))["Y"] == pytest.approx(by_hand, abs=1e-12)
    # do(X) leaves its ancestor Z alone; conditioning on X moves it
    assert marginals(g, joint(g, {"X": 1}))["Z"] == pytest.approx(0.3, abs=1e-12)
    assert marginals(g, conditional(g, {"X": 1}))["Z"] == pytest.approx(0.3 * 0.9 / px1, abs=1e-12)
    # intervening on Y (no descendants) and conditioning on Z (no parents) give the same as conditioning
    assert tvd(joint(g, {"Z": 1}), conditional(g, {"Z": 1})) < 1e-12


def test_conditioning_differs_from_intervention_only_along_causal_paths():
    g = default_graph()
    cond, do = marginals(g, conditional(g, {"Bald": 1})), marginals(g, joint(g, {"Bald": 1}))
    assert cond["Male"] > 0.9 and do["Male"] == pytest.approx(0.5)
    for other in ("Eyeglasses", "Smiling"):  # independent of Bald: the same either way
        assert cond[other] == pytest.approx(do[other]) == pytest.approx(marginals(g, joint(g))[other])
    # Male has no parents: do(Male = 1) = conditioning on it
    assert tvd(joint(g, {"Male": 1}), conditional(g, {"Male": 1})) < 1e-12


def test_wrong_graph_cannot_fit_and_complete_can():
    g = default_graph()
    for name, low, high in (("true", 0, 1e-12), ("complete", 0, 1e-12), ("wrong", 0.05, 1)):
        f = fitted(fit_graph(name, g), g)
        assert low <= tvd(reorder(joint(f), f.nodes, g.nodes), joint(g)) <= high


def test_renderer_is_deterministic_and_every_attribute_shows():
    base = torch.zeros(1, len(ATTRIBUTES))
    a = render(base, seed=5)
    assert a.shape == (1, 1, 32, 32) and 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(a, render(base, seed=5))
    assert not torch.equal(a, render(base, seed=6))  # noise varies within one label combination
    for i, name in enumerate(ATTRIBUTES):
        on = base.clone()
        on[0, i] = 1
        assert float((render(on, seed=5) - a).abs().sum()) > 3, name  # several pixels change


@pytest.mark.parametrize("spec, message", [
    ({"nodes": {"A": {"parents": ["B"], "p": {"0": 0.1, "1": 0.2}}}}, "unknown parent"),
    ({"nodes": {"A": {"parents": ["B"], "p": {"0": 0.1, "1": 0.2}},
                "B": {"parents": ["A"], "p": {"0": 0.1, "1": 0.2}}}}, "cycle"),
    ({"nodes": {"A": {"parents": [], "p": 1.5}}}, r"in \[0, 1\]"),
    ({"nodes": {"A": {"parents": [], "p": float("nan")}}}, r"in \[0, 1\]"),
    ({"nodes": {"A": {"parents": [], "p": 0.5}, "B": {"parents": ["A"], "p": {"0": 0.1}}}}, "must map each"),
    ({"nodes": {"1A": {"parents": [], "p": 0.5}}}, "identifier"),
])
def test_graph_validation_errors_are_one_line(spec, message):
    with pytest.raises(InvalidValueError, match=message) as e:
        CausalGraph.from_json(spec)
    assert "\n" not in str(e.value)


def test_unknown_attributes_are_refused():
    g = default_graph()
    with pytest.raises(UnknownNameError):
        joint(g, {"Hat": 1})
    controller = CausalController.from_graph(g)
    with pytest.raises(UnknownNameError):
        controller.intervene({"Hat": 1})
    with pytest.raises(InvalidValueError):
        controller.intervene({"Bald": 2})


def _train(steps: int, out=None, resume=False, **kw):
    g = CausalGraph.from_json(SMALL)
    torch.manual_seed(0)
    controller, critic = CausalController.from_graph(g), LabelCritic(input_dim=3)
    labels = sample_labels(g, 5000, seed=1)
    kw.setdefault("every", 50)
    info = train_causal(controller, critic, labels, g, steps=steps, batch_size=256, lr=2e-3, seed=0,
                        tvd_samples=20_000, out_dir=out, resume=resume, progress=False, **kw)
    return controller, info


def test_controller_learns_and_intervenes():
    g = CausalGraph.from_json(SMALL)
    torch.manual_seed(0)  # the same initial weights as _train's
    before = controller_tvd(CausalController.from_graph(g), g, n=20_000, seed=1)
    controller, info = _train(400, every=100)
    assert info["history"][-1]["tvd"] < 0.25 and info["history"][-1]["tvd"] < 0.4 * before
    got = marginals(g, histogram(controller.intervene({"X": 1}).sample(20_000, generator=torch.Generator().manual_seed(0))))
    assert got["X"] == 1 and abs(got["Z"] - 0.3) < 0.1  # do(X) leaves Z's distribution alone


def test_controller_resumes_exactly(tmp_path):
    full, _ = _train(100, out=tmp_path / "a")
    _train(50, out=tmp_path / "b")
    resumed, info = _train(100, out=tmp_path / "b", resume=True)
    assert len(info["resumed_with"]) == 1 and info["steps_done"] == 100
    for (k, v), w in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(v, w, atol=1e-6), k


def test_cli_refuses_bad_graphs_with_exit_2(tmp_path, capsys):
    cases = {"cycle": SMALL | {"nodes": {**SMALL["nodes"], "Z": {"parents": ["Y"], "p": {"0": 0.1, "1": 0.2}}}},
             "p": {"nodes": {"A": {"parents": [], "p": 1.5}}},
             "parent": {"nodes": {"A": {"parents": ["Hat"], "p": {"0": 0.1, "1": 0.2}}}}}
    for name, spec in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(spec))
        out = tmp_path / f"out-{name}"
        assert main(["train", "causal", "--graph", str(path), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("genprior: error:") and "\n" not in err
        assert not out.exists()
    assert main(["train", "causal", "--fit-graph", "upside-down", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
