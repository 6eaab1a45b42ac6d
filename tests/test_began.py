"""BEGAN: model shapes and registry, the k_t controller, a training epoch, resume, the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from genprior import zoo
from genprior.cli import main
from genprior.data import load_dataset
from genprior.errors import InvalidValueError, ShapeError
from genprior.io import load_tensors
from genprior.models.began import (
    BEGANBottleneckDiscriminator,
    BEGANDiscriminator,
    BEGANGenerator,
)
from genprior.models.checkpoint import load_model, save_model
from genprior.train.began import convergence_measure, train_began, update_k

torch.set_num_threads(1)


# ------------------------------------------------------------------ models

@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_shapes_and_range(shape):
    G = BEGANGenerator(latent_dim=6, output_shape=shape, channels=4)
    D = BEGANDiscriminator(input_shape=shape, hidden_dim=5, channels=4)
    x = G(torch.randn(3, 6))
    assert x.shape == (3, *shape) and x.min() >= 0 and x.max() <= 1
    assert G.latent_dim == 6 and G.output_shape == shape
    assert D(x).shape == x.shape and D.encode(x).shape == (3, 5)
    loss = D.loss(x)
    assert loss.shape == (3,) and torch.allclose(loss, (D(x) - x).abs().flatten(1).mean(1))


def test_bottleneck_discriminator_shapes_registry_and_batch_coupling(tmp_path):
    D = BEGANBottleneckDiscriminator(input_shape=(1, 28, 28), hidden_dim=5, channels=4)
    x = torch.rand(6, 1, 28, 28)
    assert D(x).shape == x.shape and D.loss(x).shape == (6,)
    assert torch.allclose(D.loss(x), (D(x) - x).abs().flatten(1).mean(1))
    # batch norm in the bottleneck couples the batch (train mode): an image's score depends on its batch-mates
    assert not torch.allclose(D.loss(x)[:3], D.loss(torch.cat([x[:3], torch.zeros(3, 1, 28, 28)]))[:3])
    D.eval()
    save_model(tmp_path / "d", D)
    E, cfg = load_model(tmp_path / "d")
    assert cfg["architecture"]["family"] == "began-bottleneck-discriminator" and torch.equal(D(x), E(x))
    for bad in [(1, 27, 27), (1, 28), (0, 28, 28)]:
        with pytest.raises(InvalidValueError, match=r"needs a \(C, H, W\) shape with even H and W"):
            BEGANBottleneckDiscriminator(input_shape=bad)


def test_bad_sizes_are_refused():
    for shape, message in [((1, 28, 27), "must be a square"), ((1, 6, 6), "at least 8, got 6"),
                           ((1, 30, 30), r"s \* 2\*\*n with s <= 7")]:
        with pytest.raises(InvalidValueError, match=message):
            BEGANGenerator(output_shape=shape)
    with pytest.raises(InvalidValueError, match="hidden_dim and channels must be >= 1, got 0"):
        BEGANDiscriminator(hidden_dim=0)


def test_generator_round_trip_through_registry(tmp_path):
    G = BEGANGenerator(latent_dim=7, channels=4).eval()
    save_model(tmp_path / "g", G, data={"dataset": "none"})
    H, cfg = load_model(tmp_path / "g")
    K, _ = zoo.resolve(str(tmp_path / "g.safetensors"))
    z = torch.randn(2, 7)
    assert cfg["architecture"]["family"] == "began-generator" and isinstance(H, BEGANGenerator)
    assert torch.equal(G(z), H(z)) and torch.equal(G(z), K(z))
    D = BEGANDiscriminator(hidden_dim=3, channels=4).eval()
    save_model(tmp_path / "d", D)
    E, _ = load_model(tmp_path / "d")
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(D(x), E(x))


# ------------------------------------------------------------------ the controller

def test_k_update_sign_and_clipping():
    # generated images reconstructed too well (L(G(z)) < gamma L(x)): k grows by lambda_k * (gamma L(x) - L(G(z)))
    assert update_k(0.5, 0.4, 0.1, gamma=0.5, lambda_k=0.01) == pytest.approx(0.5 + 0.01 * (0.2 - 0.1))
    # reconstructed too badly: k shrinks
    assert update_k(0.5, 0.4, 0.3, gamma=0.5, lambda_k=0.01) == pytest.approx(0.5 - 0.01 * 0.1)
    # at equilibrium it stays; clipped to [0, 1]
    assert update_k(0.3, 0.4, 0.2, gamma=0.5, lambda_k=0.01) == pytest.approx(0.3)
    assert update_k(0.0, 0.1, 0.9, gamma=0.5, lambda_k=1.0) == 0.0
    assert update_k(0.99, 0.9, 0.0, gamma=1.0, lambda_k=1.0) == 1.0
    assert convergence_measure(0.4, 0.3, gamma=0.5) == pytest.approx(0.4 + 0.1)
    assert convergence_measure(0.4, 0.1, gamma=0.5) == pytest.approx(0.4 + 0.1)


# ------------------------------------------------------------------ training

def _nets(seed: int = 0):
    torch.manual_seed(seed)
    return BEGANGenerator(latent_dim=4, channels=4), BEGANDiscriminator(hidden_dim=4, channels=4)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return load_dataset("mnist-bundled", "test").images[:192]


def test_one_epoch_writes_state_and_samples(tmp_path, digits):
    G, D = _nets()
    g0 = [p.clone() for p in G.parameters()]
    d0 = [p.clone() for p in D.parameters()]
    info = train_began(G, D, digits, epochs=1, batch_size=48, lambda_k=0.01, progress=False, out_dir=tmp_path)
    assert info["epoch"] == 1 and info["steps_done"] == 4
    h = info["history"][0]
    assert h["steps"] == 4 and 0.0 <= h["k"] <= 1.0 and h["k"] == info["k"]
    assert h["m_global"] >= h["loss_real"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, D.parameters()))
    for name in ("state.safetensors", "state.json", "generator.safetensors", "generator.json", "samples_epoch001.png"):
        assert (tmp_path / name).stat().st_size > 0
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["k"] == info["k"] and state["history"][0]["m_global"] == h["m_global"]
    H, cfg = load_model(tmp_path / "generator")
    assert cfg["gamma"] == 0.5 and cfg["epochs"] == 1
    z = torch.randn(3, 4)
    assert torch.equal(H(z), G(z))


def test_resume_bit_for_bit(tmp_path, digits):
    data = digits[:64]
    kw = {"batch_size": 16, "lambda_k": 0.05, "progress": False, "seed": 3, "samples_every": 0}
    G1, D1 = _nets()
    info1 = train_began(G1, D1, data, epochs=2, out_dir=tmp_path / "straight", **kw)
    G2, D2 = _nets()
    train_began(G2, D2, data, epochs=1, out_dir=tmp_path / "split", **kw)
    saved = load_tensors(tmp_path / "split" / "state.safetensors")
    assert all(torch.equal(v, saved[f"model.generator.{k}"]) for k, v in G2.state_dict().items())
    G3, D3 = _nets(seed=1)  # different initial weights: everything must come from the checkpoint
    info3 = train_began(G3, D3, data, epochs=2, out_dir=tmp_path / "split", resume=True, **kw)
    assert info3["epoch"] == 2 and len(info3["history"]) == 2 and info3["k"] == info1["k"] > 0
    assert [h["m_global"] for h in info3["history"]] == [h["m_global"] for h in info1["history"]]
    for a, b in zip(list(G1.state_dict().values()) + list(D1.state_dict().values()),
                    list(G3.state_dict().values()) + list(D3.state_dict().values())):
        assert torch.equal(a, b)


def test_train_rejects_bad_inputs():
    G, D = _nets()
    x = torch.rand(32, 1, 28, 28)
    for bad, message in (({"gamma": 0.0}, r"gamma must be in \(0, 1\]"), ({"gamma": 1.5}, r"gamma must be in \(0, 1\]"),
                         ({"epochs": -1}, "epochs must be >= 0"), ({"lambda_k": -0.1}, "lambda_k must be >= 0"),
                         ({"batch_size": 64}, "at least batch_size = 64 training images, got 32")):
        with pytest.raises(InvalidValueError, match=message):
            train_began(G, D, x, progress=False, **{"batch_size": 8, **bad})
    with pytest.raises(ShapeError, match=r"BEGAN needs images of shape \(N, 1, 28, 28\)"):
        train_began(G, D, torch.rand(32, 1, 8, 8), batch_size=8, progress=False)


# ------------------------------------------------------------------ CLI

def test_cli_bad_inputs_exit_2(tmp_path, capsys):
    out = str(tmp_path / "run")
    for argv, message in ((["--gamma", "0"], "argument --gamma: must be a finite number > 0"),
                          (["--gamma", "1.2"], "argument --gamma: must be a finite number > 0 and <= 1, got '1.2'"),
                          (["--epochs", "-1"], "argument --epochs: must be an integer >= 1"),
                          (["--dataset", "cifar"], "unknown dataset 'cifar'"),
                          (["--channels", "0"], "argument --channels: must be an integer >= 1"),
                          (["--lambda-k", "-1"], "argument --lambda-k: must be a finite number >= 0"),
                          (["--arch", "resnet"], "unknown BEGAN architecture 'resnet'")):
        assert main(["train", "began", "--out", out, *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("genprior: error:") and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "run").exists()


def test_cli_trains_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "began", "--dataset", "digits", "--limit", "64", "--batch-size", "16", "--channels", "4",
            "--latent-dim", "4", "--hidden-dim", "4", "--out", str(out), "--quiet"]
    assert main([*argv, "--epochs", "1"]) == 0
    assert capsys.readouterr().out == ""  # --quiet: no epoch lines and no summary, only the files
    assert main([*argv[:-1], "--epochs", "2", "--resume"]) == 0
    assert "trained 2 epochs (8 steps)" in capsys.readouterr().out
    G, cfg = zoo.resolve(str(out / "generator"))
    assert G(torch.randn(2, 4)).shape == (2, 1, 8, 8) and cfg["epochs"] == 2
    assert (out / "samples_epoch002.png").exists()


def test_cli_bottleneck_arch_trains_a_dcgan_generator(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "began", "--arch", "bottleneck", "--dataset", "digits", "--limit", "64", "--batch-size", "16",
            "--channels", "4", "--latent-dim", "4", "--hidden-dim", "4", "--out", str(out), "--quiet", "--epochs", "1"]
    assert main(argv) == 0
    G, cfg = zoo.resolve(str(out / "generator"))
    assert cfg["architecture"]["family"] == "dcgan-generator" and cfg["data"]["arch"] == "bottleneck"
    x = G.eval()(torch.randn(2, 4))
    assert x.shape == (2, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    state = json.loads((out / "state.json").read_text())
    assert state["architecture"]["discriminator"]["family"] == "began-bottleneck-discriminator"


def test_training_names_a_generator_that_does_not_fit_its_data():
    from genprior.errors import GeneratorError
    from genprior.train.gan import train_gan

    data = torch.rand(32, 1, 8, 8)
    D = BEGANDiscriminator(input_shape=(1, 8, 8), hidden_dim=4, channels=4)
    wrong = BEGANGenerator(latent_dim=4, output_shape=(1, 16, 16), channels=4)
    with pytest.raises(ShapeError, match=r"train_began: the generator makes samples of shape \(1, 16, 16\)"):
        train_began(wrong, D, data, epochs=1, batch_size=16, progress=False)
    with pytest.raises(GeneratorError, match="generator Linear has no latent_dim attribute"):
        train_gan(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1), torch.rand(64, 2), epochs=1, batch_size=16,
                  progress=False)
