"""CausalGAN's image stage (Kocaoglu et al. 2018): the attribute labeller, G(z, labels) trained with Labeller /
Anti-Labeller, and ``genprior sample`` (conditioning vs intervention)."""

from __future__ import annotations

import json

import pytest
import torch

from genprior.cli import main
from genprior.data.causal_faces import (
    CausalGraph,
    conditional,
    default_graph,
    joint,
    marginals,
)
from genprior.errors import (
    CheckpointError,
    InvalidValueError,
    ShapeError,
    UnknownNameError,
)
from genprior.models.causal import CausalController
from genprior.models.causal_image import (
    AttributeClassifier,
    CausalGAN,
    CausalImageGenerator,
    attribute_accuracy,
)
from genprior.models.checkpoint import load_model, save_model
from genprior.models.dcgan import DCGANDiscriminator
from genprior.train.causal_image import (
    rendered_faces,
    train_causal_images,
    train_labeller,
)

TRUTH = default_graph()


def _tiny_gan(seed: int = 0) -> CausalGAN:
    torch.manual_seed(seed)
    controller = CausalController.from_graph(TRUTH, hidden=(16,), noise_dim=2)
    return CausalGAN(controller, CausalImageGenerator(nodes=TRUTH.nodes, latent_dim=4, base_channels=8))


def test_shapes_ranges_and_config_round_trip(tmp_path):
    model = _tiny_gan()
    images, labels = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert images.shape == (5, 1, 32, 32) and labels.shape == (5, 7)
    assert images.min() >= 0 and images.max() <= 1 and set(labels.unique().tolist()) <= {0.0, 1.0}
    save_model(tmp_path / "gan", model)
    loaded, cfg = load_model(tmp_path / "gan")
    assert cfg["architecture"]["family"] == "causal-gan" and loaded.nodes == model.nodes
    z, lab = torch.randn(3, 4), torch.ones(3, 7)
    assert torch.equal(loaded.generator(z, lab), model.eval().generator(z, lab))
    with pytest.raises(ShapeError):
        model.generator(z, torch.ones(3, 6))
    labeller = AttributeClassifier(nodes=TRUTH.nodes)
    assert labeller(images).shape == (5, 7)
    save_model(tmp_path / "lab", labeller)
    assert load_model(tmp_path / "lab")[1]["architecture"]["family"] == "attribute-classifier"


def test_conditioning_keeps_matching_rows_and_intervention_sets_the_node():
    model = _tiny_gan()
    g = torch.Generator().manual_seed(1)
    seen = model.labels(1, generator=g)[0]  # a label pair the (untrained) controller does make
    cond = model.labels(300, generator=g, condition={"Bald": int(seen[2]), "Male": int(seen[0])})
    assert cond.shape == (300, 7) and bool((cond[:, 2] == seen[2]).all()) and bool((cond[:, 0] == seen[0]).all())
    do = model.labels(300, generator=g, intervention={"Bald": 0})
    assert bool((do[:, 2] == 0).all())
    with pytest.raises(UnknownNameError):
        model.labels(3, condition={"Hat": 1})
    with pytest.raises(InvalidValueError):
        model.labels(3, intervention={"Bald": 2})


def test_labeller_learns_to_read_attributes():
    x, y = rendered_faces(TRUTH, 2000, seed=0, uniform=True)
    tx, ty = rendered_faces(TRUTH, 500, seed=1, uniform=True)
    assert abs(float(y.mean()) - 0.5) < 0.03  # independent fair coins
    torch.manual_seed(0)
    model = AttributeClassifier(nodes=TRUTH.nodes)
    before = attribute_accuracy(model.predict_labels(tx), ty, TRUTH.nodes)
    info = train_labeller(model, x, y, tx, ty, epochs=3, batch_size=64, progress=False)
    after = info["history"][-1]["attribute_accuracy"]
    assert info["history"][-1]["train_loss"] < info["history"][0]["train_loss"]
    for name in ("Male", "Bald", "Eyeglasses", "Mustache"):  # the large features: learnt in 3 epochs
        assert after[name] > 0.9 and after[name] > before[name] + 0.2, (name, after[name], before[name])


def _train_images(out=None, *, steps=6, resume=False, seed=0):
    model = _tiny_gan(seed)
    torch.manual_seed(seed)
    d = DCGANDiscriminator(input_shape=(1, 32, 32), base_channels=8)
    lab = AttributeClassifier(nodes=TRUTH.nodes, channels=(4, 8), hidden=16)
    anti = AttributeClassifier(nodes=TRUTH.nodes, channels=(4, 8), hidden=16)
    x, y = rendered_faces(TRUTH, 256, seed=3)
    info = train_causal_images(model, d, lab, anti, x, y, steps=steps, every=3, batch_size=16, seed=seed,
                               fidelity_samples=64, out_dir=out, resume=resume, progress=False)
    return model, info


def test_image_stage_resumes_exactly_and_writes_the_gan(tmp_path):
    full, _ = _train_images(tmp_path / "a")
    _train_images(tmp_path / "b", steps=3)
    resumed, info = _train_images(tmp_path / "b", resume=True)
    assert info["steps_done"] == 6 and len(info["resumed_with"]) == 1 and len(info["history"]) == 2
    for (k, v), w in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(v, w, atol=1e-6), k
    _, cfg = load_model(tmp_path / "b" / "generator")
    assert cfg["architecture"]["family"] == "causal-gan" and cfg["steps"] == 6
    assert 0 <= cfg["fidelity"] <= 1


def test_image_stage_learns_the_labels():
    # two attributes (Male -> Bald), small nets, the Labeller term weighted up so that 120 steps suffice: after
    # training, G's images answer to the labels it is given: the co-trained Labeller reads Male = 1 far more often
    # when G is asked for it than when not, at the same z; the same for Bald
    graph = CausalGraph.from_json({"nodes": {"Male": {"parents": [], "p": 0.5},
                                             "Bald": {"parents": ["Male"], "p": {"0": 0.2, "1": 0.6}}}})
    torch.manual_seed(0)
    controller = CausalController.from_graph(graph, hidden=(8,), noise_dim=2)
    with torch.no_grad():  # each node an independent fair coin: sigmoid(own noise), so G is asked for every label
        for i, net in enumerate(controller.nets.values()):
            first, last = net[0], net[-1]
            first.weight.zero_(), first.bias.zero_(), last.weight.zero_(), last.bias.zero_()
            first.weight[0, -2], first.weight[1, -2] = 1.0, -1.0  # ReLU(z) and ReLU(-z) of the node's noise
            last.weight[0, 0], last.weight[0, 1] = 1.0, -1.0
    asked = controller.sample(2000, generator=torch.Generator().manual_seed(3)).mean(0)
    assert bool(((asked - 0.5).abs() < 0.05).all())
    model = CausalGAN(controller, CausalImageGenerator(nodes=graph.nodes, latent_dim=4, base_channels=8))
    d = DCGANDiscriminator(input_shape=(1, 32, 32), base_channels=8)
    lab, anti = (AttributeClassifier(nodes=graph.nodes, channels=(4, 8), hidden=16) for _ in range(2))
    x, y = rendered_faces(graph, 1000, seed=4)

    def response() -> list[float]:  # per attribute: P(read 1 | asked 1) - P(read 1 | asked 0), the same z
        z = torch.randn(200, 4, generator=torch.Generator().manual_seed(9))
        out = []
        for i in range(2):
            asked = torch.zeros(200, 2)
            asked[:100, i] = 1  # the other attribute random but equal in both halves
            asked[:, 1 - i] = (torch.arange(200) % 2).float()
            model.eval()
            with torch.no_grad():
                read = (lab(model.generator(torch.cat([z[:100], z[:100]]), asked)) > 0).float()
            out.append(float(read[:100, i].mean() - read[100:, i].mean()))
        return out

    info = train_causal_images(model, d, lab, anti, x, y, steps=120, every=60, batch_size=16, lr=1e-3,
                               labeller_weight=10.0, fidelity_samples=200, progress=False)
    h = info["history"]
    assert h[-1]["labeller_loss"] < 0.5 * h[0]["labeller_loss"]  # the Labeller learns on the real faces
    assert min(response()) > 0.6, (response(), h)


def _save_tiny(tmp_path):
    save_model(tmp_path / "gan", _tiny_gan(), data={"graph": TRUTH.to_json()})
    return str(tmp_path / "gan")


def test_sample_cli_conditioning_and_intervention(tmp_path, capsys):
    model = _save_tiny(tmp_path)
    common = ["--model", model, "--n", "8", "--label-samples", "2000", "--quiet"]
    assert main(["sample", *common, "--intervene", "Bald=1", "--out", str(tmp_path / "do")]) == 0
    report = json.loads((tmp_path / "do.json").read_text())
    assert (tmp_path / "do.png").stat().st_size > 0
    assert report["model_marginals"]["Bald"] == 1.0 and report["labels"]["Bald"] == [1] * 8
    truth = marginals(TRUTH, joint(TRUTH, {"Bald": 1}))
    assert all(abs(report["truth_marginals"][n] - truth[n]) < 1e-9 for n in TRUTH.nodes)
    bald, male = (int(v) for v in _tiny_gan().labels(1)[0, [2, 0]])  # a pair the untrained controller makes
    assert main(["sample", *common, "--condition", f"Bald={bald}", f"Male={male}", "--out",
                 str(tmp_path / "c.png")]) == 0
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["labels"]["Bald"] == [bald] * 8 and report["labels"]["Male"] == [male] * 8
    exact = marginals(TRUTH, conditional(TRUTH, {"Bald": bald, "Male": male}))
    assert abs(report["truth_marginals"]["Makeup"] - exact["Makeup"]) < 1e-9
    assert main(["sample", *common, "--out", str(tmp_path / "obs.png")]) == 0  # observational
    report = json.loads((tmp_path / "obs.json").read_text())
    assert report["condition"] == {} and report["intervention"] == {}
    assert abs(report["truth_marginals"]["Male"] - 0.5) < 1e-9


def test_sample_cli_refuses_bad_input_with_exit_2(tmp_path, capsys):
    model = _save_tiny(tmp_path)
    graphs = {
        "missing": {"nodes": {n: v for n, v in TRUTH.to_json()["nodes"].items() if n != "Smiling"}},
        "cycle": {"nodes": {**TRUTH.to_json()["nodes"], "Male": {"parents": ["Bald"], "p": {"0": 0.5, "1": 0.5}}}},
        "p": {"nodes": {**TRUTH.to_json()["nodes"], "Smiling": {"parents": [], "p": 1.5}}},
    }
    cases = [["--intervene", "Hat=1"], ["--condition", "Bald=2"], ["--intervene", "Bald"], ["--condition", "Bald=0.5"],
             ["--intervene", "Bald=1", "Bald=0"], ["--model", str(tmp_path / "nothing")]]
    for name, spec in graphs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(spec))
        cases.append(["--graph", str(tmp_path / f"{name}.json")])
    for extra in cases:
        out = tmp_path / "bad.png"
        assert main(["sample", "--model", model, "--n", "4", "--label-samples", "100", *extra, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("genprior: error:") and "\n" not in err, (extra, err)
        assert not out.exists() and not out.with_suffix(".json").exists()


def test_train_cli_stages(tmp_path, capsys):
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps(TRUTH.to_json()))
    ctrl = tmp_path / "ctrl"
    assert main(["train", "causal", "--graph", str(graph), "--out", str(ctrl), "--steps", "4", "--every", "2",
                 "--labels", "500", "--quiet"]) == 0
    out = tmp_path / "img"
    args = ["train", "causal-image", "--graph", str(graph), "--controller", str(ctrl), "--out", str(out),
            "--steps", "4", "--every", "2", "--images", "64", "--batch-size", "8", "--g-channels", "8",
            "--d-channels", "8", "--latent-dim", "4", "--quiet"]
    assert main(args) == 0
    assert main(args[:-1] + ["--steps", "6", "--resume", "--quiet"]) == 0
    cfg = json.loads((out / "generator.json").read_text())
    assert cfg["steps"] == 6 and cfg["architecture"]["family"] == "causal-gan"
    assert main(["sample", "--model", str(out), "--n", "4", "--label-samples", "100", "--out",
                 str(tmp_path / "s.png"), "--quiet"]) == 0
    lab = tmp_path / "lab"
    assert main(["train", "causal-labeller", "--out", str(lab), "--images", "64", "--test-images", "32",
                 "--epochs", "1", "--channels", "4", "8", "--hidden", "8", "--quiet"]) == 0
    cfg = json.loads((lab / "model.json").read_text())
    assert set(cfg["attribute_accuracy"]) == set(TRUTH.nodes) and 0 <= cfg["test_accuracy"] <= 1
    assert main(["sample", "--model", str(out), "--labeller", str(lab), "--n", "4", "--label-samples", "100",
                 "--out", str(tmp_path / "r.png"), "--quiet"]) == 0
    assert set(json.loads((tmp_path / "r.json").read_text())["read_marginals"]) == set(TRUTH.nodes)
    assert main(["train", "causal-image", "--controller", str(lab), "--out", str(tmp_path / "no")]) == 2
    assert "not a causal controller" in capsys.readouterr().err


def test_labeller_init_starts_the_labeller_from_the_given_weights_and_is_recorded(tmp_path):
    torch.manual_seed(5)
    trained = AttributeClassifier(nodes=TRUTH.nodes, channels=(4, 8), hidden=16)
    save_model(tmp_path / "lab", trained)
    model = _tiny_gan()
    d = DCGANDiscriminator(input_shape=(1, 32, 32), base_channels=8)
    lab, anti = (AttributeClassifier(nodes=TRUTH.nodes, channels=(4, 8), hidden=16) for _ in range(2))
    assert not torch.equal(next(lab.parameters()), next(trained.parameters()))
    x, y = rendered_faces(TRUTH, 64, seed=3)
    out = tmp_path / "run"
    kw = {"every": 2, "batch_size": 8, "fidelity_samples": 16, "out_dir": out, "progress": False}
    info = train_causal_images(model, d, lab, anti, x, y, steps=0, labeller_init=str(tmp_path / "lab"), **kw)
    for (k, v), w in zip(trained.state_dict().items(), lab.state_dict().values()):
        assert torch.equal(v, w), k
    assert info["labeller_init"] == str(tmp_path / "lab")
    train_causal_images(model, d, lab, anti, x, y, steps=2, labeller_init=str(tmp_path / "lab"), resume=True, **kw)
    assert json.loads((out / "generator.json").read_text())["labeller_init"] == str(tmp_path / "lab")
    with pytest.raises(CheckpointError, match="labeller_init"):  # a resume must ask for the same start
        train_causal_images(model, d, lab, anti, x, y, steps=4, resume=True, **kw)
    wrong = AttributeClassifier(nodes=TRUTH.nodes, channels=(4, 8), hidden=16)
    with pytest.raises(ShapeError, match="architecture"):
        train_causal_images(model, d, AttributeClassifier(nodes=TRUTH.nodes), anti, x, y, steps=0,
                            labeller_init=str(tmp_path / "lab"), progress=False)
    save_model(tmp_path / "reversed", AttributeClassifier(nodes=TRUTH.nodes[::-1], channels=(4, 8), hidden=16))
    with pytest.raises(InvalidValueError, match="same order"):
        train_causal_images(model, d, wrong, anti, x, y, steps=0, labeller_init=str(tmp_path / "reversed"),
                            progress=False)


def test_train_cli_refuses_a_bad_labeller_init_with_exit_2(tmp_path, capsys):
    torch.manual_seed(0)
    save_model(tmp_path / "controller", CausalController.from_graph(TRUTH, hidden=(8,), noise_dim=2))
    save_model(tmp_path / "small", AttributeClassifier(nodes=TRUTH.nodes, channels=(4, 8), hidden=16))
    (tmp_path / "empty").mkdir()
    args = ["train", "causal-image", "--controller", str(tmp_path / "controller"), "--steps", "2", "--every", "1",
            "--images", "16", "--batch-size", "4", "--g-channels", "8", "--d-channels", "8", "--latent-dim", "4",
            "--quiet"]
    for init, words in ((tmp_path / "nothing", "unknown model"), (tmp_path / "empty", "holds no model"),
                        (tmp_path / "controller", "not a attribute-classifier"), (tmp_path / "small", "architecture")):
        out = tmp_path / "out"
        assert main([*args, "--out", str(out), "--labeller-init", str(init)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("genprior: error: labeller init") and "\n" not in err and words in err, err
        assert not out.exists()
