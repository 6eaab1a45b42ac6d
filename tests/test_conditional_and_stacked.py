"""Conditional GAN (labels into G and D) and stacked MNIST (data and the 1,000-mode metric)."""

from __future__ import annotations

import math

import pytest
import torch

from genprior.cli import main
from genprior.data.stacked import mode_of_digits, stack_digits
from genprior.errors import InvalidValueError, ShapeError
from genprior.evaluate.modes import discrete_mode_statistics
from genprior.io import load_tensors
from genprior.models.checkpoint import load_model
from genprior.models.conditional import ConditionalDiscriminator, ConditionalGenerator
from genprior.operators import Identity
from genprior.solvers import csgm
from genprior.train.gan import train_gan


def _pair(seed: int = 0):
    torch.manual_seed(seed)
    return (ConditionalGenerator(latent_dim=4, num_classes=3, base_channels=4),
            ConditionalDiscriminator(num_classes=3, base_channels=4))


def test_conditional_shapes_and_label_use():
    G, D = _pair()
    z = torch.randn(5, 4)
    x0, x2 = G(z, torch.zeros(5, dtype=torch.long)), G(z, torch.full((5,), 2))
    assert x0.shape == (5, 1, 28, 28) and 0 <= x0.min() and x0.max() <= 1
    assert not torch.allclose(x0, x2)  # the label changes the image
    D.eval()
    assert D(x0, torch.zeros(5, dtype=torch.long)).shape == (5,)
    assert not torch.allclose(D(x0, torch.zeros(5, dtype=torch.long)), D(x0, torch.ones(5, dtype=torch.long)))


def test_conditional_bad_labels_are_clear():
    G, _ = _pair()
    z = torch.randn(2, 4)
    with pytest.raises(ShapeError, match="needs labels"):
        G(z)
    with pytest.raises(InvalidValueError, match=r"\[0, 3\)"):
        G(z, torch.tensor([0, 3]))
    with pytest.raises(ShapeError, match=r"labels must have shape \(2,\), got \(3,\)"):
        G(z, torch.tensor([0, 1, 2]))
    with pytest.raises(InvalidValueError, match=r"label must be in \[0, 3\), got 7"):
        G.fixed(7)


def test_fixed_label_generator_is_a_prior():
    G, _ = _pair()
    G.eval()
    g1 = G.fixed(1)
    z = torch.randn(3, 4)
    assert torch.equal(g1(z), G(z, torch.ones(3, dtype=torch.long)))
    truth = g1(torch.randn(2, 4)).detach()
    rec = csgm(g1, Identity(shape=(1, 28, 28), noise_std=0.0), truth.flatten(1), restarts=2, steps=300, lr=0.05)
    assert ((rec.x - truth) ** 2).mean() < 1e-3


def test_conditional_training_and_resume_bit_for_bit(tmp_path):
    data = torch.rand(48, 1, 28, 28)
    labels = torch.randint(3, (48,), generator=torch.Generator().manual_seed(1))
    kw = {"labels": labels, "batch_size": 8, "progress": False, "seed": 5}
    G1, D1 = _pair()
    train_gan(G1, D1, data, epochs=2, out_dir=tmp_path / "straight", **kw)
    G2, D2 = _pair()
    train_gan(G2, D2, data, epochs=1, out_dir=tmp_path / "split", **kw)
    G3, D3 = _pair(seed=9)  # fresh weights: everything must come from the checkpoint
    train_gan(G3, D3, data, epochs=2, out_dir=tmp_path / "split", resume=True, **kw)
    for a, b in zip(list(G1.state_dict().values()) + list(D1.state_dict().values()),
                    list(G3.state_dict().values()) + list(D3.state_dict().values())):
        assert torch.equal(a, b)
    H, cfg = load_model(tmp_path / "split" / "generator")
    assert cfg["architecture"]["family"] == "conditional-generator" and H.num_classes == 3
    assert (tmp_path / "split" / "samples_epoch002.png").is_file()
    saved = load_tensors(tmp_path / "split" / "state.safetensors")
    assert any(k.startswith("model.discriminator.") for k in saved)


def test_conditional_training_rejects_packing_and_bad_labels():
    G, D = _pair()
    data = torch.rand(32, 1, 28, 28)
    # batch_size 8: enough data, so the refusals are the label checks (the default 64 failed on the data size first)
    with pytest.raises(InvalidValueError, match="labels need a conditional generator .* and packing 1"):
        train_gan(G, D, data, labels=torch.zeros(32, dtype=torch.long), packing=2, batch_size=8, progress=False)
    with pytest.raises(InvalidValueError, match=r"labels must be \(32,\) integers in \[0, 3\)"):
        train_gan(G, D, data, labels=torch.full((32,), 5), batch_size=8, progress=False)


def test_cli_conditional_needs_images(tmp_path, capsys):
    assert main(["train", "gan", "--conditional", "--dataset", "ring", "--out", str(tmp_path)]) == 2
    assert "--conditional" in capsys.readouterr().err


def test_stacked_digits_channels_match_modes():
    # image i is filled with its label / 10, so each channel tells which digit it holds
    labels = torch.arange(50) % 10
    images = (labels.float() / 10).view(-1, 1, 1, 1).expand(-1, 1, 28, 28).contiguous()
    x, modes = stack_digits(images, labels, 200, generator=torch.Generator().manual_seed(0))
    assert x.shape == (200, 3, 28, 28) and modes.shape == (200,)
    digits = (x[:, :, 0, 0] * 10).round().long()
    assert modes.tolist() == [100 * a + 10 * b + c for a, b, c in digits.tolist()]  # channel 0 is the hundreds
    assert mode_of_digits(torch.tensor([[1, 2, 3], [0, 0, 7]])).tolist() == [123, 7]
    # the three digits are drawn independently and uniformly: 20,000 samples fill the 1,000 modes evenly
    from scipy.stats import chisquare

    _, many = stack_digits(images, labels, 20000, generator=torch.Generator().manual_seed(1))
    assert chisquare(torch.bincount(many, minlength=1000).numpy()).pvalue > 1e-3
    with pytest.raises(ShapeError, match=r"need images \(N, 1, H, W\) and labels \(N,\)"):
        stack_digits(images[:, 0], labels, 5)


def test_discrete_mode_statistics_uniform_and_collapsed():
    uniform = discrete_mode_statistics(torch.arange(1000).repeat(26), 1000)
    assert uniform["modes"] == 1000 and abs(uniform["kl"]) < 1e-12
    collapsed = discrete_mode_statistics(torch.full((500,), 42), 1000)
    assert collapsed["modes"] == 1 and math.isclose(collapsed["kl"], math.log(1000))
    half = discrete_mode_statistics(torch.arange(500), 1000)
    assert half["modes"] == 500 and math.isclose(half["kl"], math.log(2))
    # any histogram: the count of distinct modes and KL(Q || U) by scipy's relative entropy
    import numpy as np
    from scipy.stats import entropy

    modes = torch.randint(0, 300, (2000,), generator=torch.Generator().manual_seed(0)) ** 2 % 1000
    stats = discrete_mode_statistics(modes, 1000)
    counts = np.bincount(modes.numpy(), minlength=1000)
    assert stats["modes"] == len(np.unique(modes.numpy()))
    assert math.isclose(stats["kl"], entropy(counts, np.ones(1000)), rel_tol=1e-9)
    with pytest.raises(ShapeError, match=r"mode index 1000 outside \[0, 1000\)"):
        discrete_mode_statistics(torch.tensor([1000]), 1000)


def test_class_union_projection_finds_the_class():
    from genprior.models.conditional import ClassUnionGenerator
    from genprior.robust.defenses import ProjectionDefense

    G, _ = _pair(seed=3)
    G.eval()
    union = ClassUnionGenerator(G)
    w0 = union.initial_latents(2, per_class=2, generator=torch.Generator().manual_seed(0))
    assert w0.shape == (2, 6, 4 + 3) and union.classes(w0[0]).tolist() == [0, 0, 1, 1, 2, 2]
    target = G(torch.randn(4, 4), torch.tensor([2, 0, 1, 2])).detach()
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 3))
    defense = ProjectionDefense(classifier, G, steps=150, restarts=6, loss="l2", lr=0.05)
    assert isinstance(defense.generator, ClassUnionGenerator)
    rec = defense.project(target)
    assert union.classes(rec.z).tolist() == [2, 0, 1, 2]  # the latent's class never moves during descent
    assert ((rec.x - target) ** 2).mean() < 1e-3
