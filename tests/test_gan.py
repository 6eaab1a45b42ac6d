"""GANs: packing, toy 2-D data, the PacGAN mode metric, a training step, resume, the CLI."""

from __future__ import annotations

import math

import pytest
import torch

from genprior.cli import main
from genprior.data.toy2d import grid, ring, toy2d
from genprior.errors import InvalidValueError, ShapeError, UnknownNameError
from genprior.evaluate.modes import mode_statistics
from genprior.io import load_tensors
from genprior.models.checkpoint import load_model, save_model
from genprior.models.dcgan import DCGANDiscriminator, DCGANGenerator
from genprior.models.mlp import MLPDiscriminator, MLPGenerator
from genprior.models.pack import PackedDiscriminator
from genprior.train.gan import generator_loss, train_gan

torch.set_num_threads(1)


# ------------------------------------------------------------------ models and packing

def test_dcgan_shapes_and_range():
    for shape in [(1, 28, 28), (3, 64, 64)]:
        G = DCGANGenerator(latent_dim=8, output_shape=shape, base_channels=8)
        x = G(torch.randn(3, 8))
        assert x.shape == (3, *shape) and x.min() >= 0 and x.max() <= 1
        assert G.latent_dim == 8 and G.output_shape == shape
        assert DCGANDiscriminator(input_shape=shape, base_channels=8)(x).shape == (3,)


def test_generator_config_round_trip(tmp_path):
    G = DCGANGenerator(latent_dim=8, base_channels=8).eval()
    save_model(tmp_path / "g", G, data={"dataset": "none"})
    H, cfg = load_model(tmp_path / "g")
    z = torch.randn(2, 8)
    assert cfg["architecture"]["family"] == "dcgan-generator"
    assert torch.equal(G(z), H(z))


def test_packing_vectors_concatenates_m_samples():
    D = MLPDiscriminator(input_dim=6, hidden=(4,), pieces=2)
    P = PackedDiscriminator(D, 3)
    x = torch.arange(12 * 2, dtype=torch.float32).view(12, 2)
    packs = P.pack(x)
    assert packs.shape == (4, 6)
    assert torch.equal(packs[1], torch.cat([x[3], x[4], x[5]]))  # pack j holds samples 3j, 3j+1, 3j+2
    assert P(x).shape == (4,)
    assert torch.allclose(P(x), D(packs))


def test_packing_images_along_channels():
    D = DCGANDiscriminator(input_shape=(2, 28, 28), base_channels=4)
    P = PackedDiscriminator(D, 2)
    x = torch.rand(6, 1, 28, 28)
    packs = P.pack(x)
    assert packs.shape == (3, 2, 28, 28)
    assert torch.equal(packs[2, 0], x[4, 0]) and torch.equal(packs[2, 1], x[5, 0])
    assert P(x).shape == (3,)


def test_packed_discriminator_sees_all_m_samples():
    """Changing any one sample of a pack changes that pack's logit and no other."""
    P = PackedDiscriminator(MLPDiscriminator(input_dim=8, hidden=(16,), pieces=1), 4).eval()
    x = torch.randn(8, 2)
    base = P(x)
    for i in range(4):
        y = x.clone()
        y[4 + i] += 1.0
        out = P(y)
        assert torch.equal(out[0], base[0]) and not torch.equal(out[1], base[1])


def test_packing_rejects_mismatched_shapes():
    with pytest.raises(ShapeError, match="input width 5 is not a multiple of packing 2"):
        PackedDiscriminator(MLPDiscriminator(input_dim=5), 2)
    P = PackedDiscriminator(MLPDiscriminator(input_dim=4), 2)
    with pytest.raises(ShapeError, match="needs a batch that is a multiple of 2, got 3"):
        P(torch.randn(3, 2))  # not a multiple of m
    with pytest.raises(ShapeError, match=r"expects samples of shape \(2,\), got \(3,\)"):
        P(torch.randn(4, 3))  # wrong sample width


# ------------------------------------------------------------------ toy data and the mode metric

def test_toy2d_mixtures():
    r, g = ring(), grid()
    assert r.modes.shape == (8, 2) and torch.allclose(r.modes.norm(dim=1), torch.ones(8))
    assert g.modes.shape == (25, 2) and set(g.modes.flatten().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    for mix in (r, g):
        x = mix.sample(20000, generator=torch.Generator().manual_seed(0))
        _, idx = torch.cdist(x, mix.modes).min(1)
        counts = torch.bincount(idx, minlength=len(mix.modes)).double()
        assert (counts / len(x) - 1 / len(mix.modes)).abs().max() < 0.015  # uniform over modes
        resid = x - mix.modes[idx]
        assert abs(resid.std().item() - mix.std) < 0.05 * mix.std
    a = toy2d("grid").sample(5, generator=torch.Generator().manual_seed(1))
    b = toy2d("grid").sample(5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with pytest.raises(UnknownNameError, match="unknown 2-D data set 'spiral'"):
        toy2d("spiral")


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_mode_metric_perfect_and_collapsed(name):
    mix = toy2d(name)
    g = torch.Generator().manual_seed(0)
    st = mode_statistics(mix.sample(2500, generator=g), mix.modes, mix.std)
    assert st["modes"] == len(mix.modes)
    assert st["high_quality_fraction"] > 0.97  # P(|N(0, I_2)| <= 3) = 1 - exp(-4.5) = 0.989
    assert st["reverse_kl"] < 0.02
    one = mix.modes[2] + mix.std * torch.randn(2500, 2, generator=g)
    st1 = mode_statistics(one, mix.modes, mix.std)
    assert st1["modes"] == 1
    assert math.isclose(st1["reverse_kl"], math.log(len(mix.modes)), rel_tol=1e-9)
    far = mode_statistics(mix.modes[:1] + 10.0, mix.modes, mix.std)
    assert far["modes"] == 0 and far["reverse_kl"] is None
    # the high-quality radius is 3 std: a sample at 2.9 std from a mode counts, one at 3.1 std does not
    direction = torch.tensor([[1.0, 0.0]])
    near = mode_statistics(mix.modes[:1] + 2.9 * mix.std * direction, mix.modes, mix.std)
    beyond = mode_statistics(mix.modes[:1] + 3.1 * mix.std * direction, mix.modes, mix.std)
    assert near["high_quality_fraction"] == 1.0 and near["modes"] == 1
    assert beyond["high_quality_fraction"] == 0.0 and beyond["modes"] == 0


# ------------------------------------------------------------------ training

def _tiny(m: int = 1):
    torch.manual_seed(0)
    return MLPGenerator(latent_dim=2, hidden=(8, 8)), MLPDiscriminator(input_dim=2 * m, hidden=(8,), pieces=2)


def test_generator_losses():
    l = torch.tensor([-2.0, 0.0, 3.0])
    d = torch.sigmoid(l)
    assert torch.allclose(generator_loss(l, "minimax"), torch.log(1 - d).mean(), atol=1e-6)
    assert torch.allclose(generator_loss(l, "nonsaturating"), -torch.log(d).mean(), atol=1e-6)
    with pytest.raises(UnknownNameError, match="unknown generator loss 'wasserstein'"):
        generator_loss(l, "wasserstein")


@pytest.mark.parametrize("packing,loss", [(1, "minimax"), (3, "nonsaturating")])
def test_training_step_changes_both_players(packing, loss):
    G, D = _tiny(packing)
    g0 = [p.clone() for p in G.parameters()]
    d0 = [p.clone() for p in D.parameters()]
    data = ring().sample(16 * packing, generator=torch.Generator().manual_seed(0))
    info = train_gan(G, D, data, packing=packing, epochs=1, batch_size=8, loss=loss, progress=False)
    assert info["d_steps_done"] == 2 and info["g_steps_done"] == 2
    assert any(not torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, D.parameters()))


def test_k_discriminator_steps_per_generator_step():
    G, D = _tiny()
    data = ring().sample(6 * 8, generator=torch.Generator().manual_seed(0))
    info = train_gan(G, D, data, epochs=1, batch_size=8, d_steps=3, progress=False)
    assert info["d_steps_done"] == 6 and info["g_steps_done"] == 2
    G, D = _tiny()
    g0 = [p.detach().clone() for p in G.parameters()]
    info = train_gan(G, D, data, epochs=1, batch_size=8, d_steps=3, g_steps=2, progress=False)
    assert info["d_steps_done"] == 6 and info["g_steps_done"] == 4 and info["g_steps"] == 2
    assert any(not torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    with pytest.raises(InvalidValueError, match="g_steps"):
        train_gan(G, D, data, epochs=1, batch_size=8, g_steps=0, progress=False)


def test_generator_learning_rate_of_its_own(tmp_path):
    """``g_lr`` scales only G's Adam steps: with g_lr = 0.5 lr the first G step moves every weight half as far
    (Adam's first step is lr * sign(grad) up to eps), D's step is unchanged, and the checkpoint records it."""
    data = ring().sample(8, generator=torch.Generator().manual_seed(0))

    def first_moves(tag, **kw):
        G, D = _tiny()
        g0, d0 = [p.detach().clone() for p in G.parameters()], [p.detach().clone() for p in D.parameters()]
        info = train_gan(G, D, data, epochs=1, batch_size=8, progress=False, seed=1, out_dir=tmp_path / tag, **kw)
        return ([p.detach() - q for p, q in zip(G.parameters(), g0)],
                [p.detach() - q for p, q in zip(D.parameters(), d0)], info, g0)

    g_same, d_same, info_same, g0 = first_moves("same", lr=2e-4)
    g_half, d_half, info_half, _ = first_moves("half", lr=2e-4, g_lr=1e-4)
    assert info_same["g_lr"] == 2e-4 and info_half["g_lr"] == 1e-4
    # a move is the difference of two float32 weights, exact to about one ulp of the weight (eps * |w|, ~1e-7 here,
    # far below the ~1e-4 of a step; the biases ahead of batch norm have near-zero gradients and steps of any size)
    for h, s, w in zip(g_half, g_same, g0):
        assert torch.allclose(h, s / 2, rtol=0, atol=2 * torch.finfo(w.dtype).eps * float(w.abs().max()))
    assert max(float(s.abs().max()) for s in g_same) > 1e-4
    assert all(torch.equal(h, s) for h, s in zip(d_half, d_same))  # the same first D step, computed twice
    assert load_model(tmp_path / "half" / "generator")[1]["g_lr"] == 1e-4
    G, D = _tiny()
    with pytest.raises(InvalidValueError, match="g_lr"):
        train_gan(G, D, data, epochs=1, batch_size=8, g_lr=0.0, progress=False)


def test_checkpoint_and_resume_bit_for_bit(tmp_path):
    data = grid().sample(64, generator=torch.Generator().manual_seed(0))
    kw = {"packing": 2, "batch_size": 8, "progress": False, "seed": 3, "samples_every": 0}
    G1, D1 = _tiny(2)
    train_gan(G1, D1, data, epochs=3, out_dir=tmp_path / "straight", **kw)
    G2, D2 = _tiny(2)
    train_gan(G2, D2, data, epochs=2, out_dir=tmp_path / "split", **kw)
    saved = load_tensors(tmp_path / "split" / "state.safetensors")
    assert all(torch.equal(v, saved[f"model.generator.{k}"]) for k, v in G2.state_dict().items())
    G3, D3 = _tiny(2)  # fresh objects; everything must come from the checkpoint
    info = train_gan(G3, D3, data, epochs=3, out_dir=tmp_path / "split", resume=True, **kw)
    assert info["epoch"] == 3 and len(info["history"]) == 3
    for a, b in zip(list(G1.state_dict().values()) + list(D1.state_dict().values()),
                    list(G3.state_dict().values()) + list(D3.state_dict().values())):
        assert torch.equal(a, b)
    G4, cfg = load_model(tmp_path / "split" / "generator")
    assert cfg["epochs"] == 3 and cfg["packing"] == 2
    assert all(torch.equal(v, G3.state_dict()[k]) for k, v in G4.state_dict().items())


def test_image_training_writes_sample_grid(tmp_path):
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=4, base_channels=4)
    D = DCGANDiscriminator(input_shape=(2, 28, 28), base_channels=4)
    train_gan(G, D, torch.rand(16, 1, 28, 28), packing=2, epochs=1, batch_size=4, progress=False, out_dir=tmp_path)
    assert (tmp_path / "samples_epoch001.png").stat().st_size > 0


# ------------------------------------------------------------------ CLI

def test_cli_unknown_loss_exits_2(tmp_path, capsys):
    assert main(["train", "gan", "--dataset", "ring", "--loss", "hinge", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown generator loss 'hinge'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "spiral"], "choose one of: digits, fashion-mnist, grid, mnist, ring"),  # no mnist-bundled: no train split
    (["--dataset", "mnist-bundled"], "it has no train split"),
    (["--dataset", "ring", "--packing", "0"], "argument --packing: must be an integer >= 1 and <= 64, got '0'"),
    (["--dataset", "ring", "--g-steps", "0"], "argument --g-steps: must be an integer >= 1"),
    (["--dataset", "ring", "--g-lr", "0"], "argument --g-lr: must be a finite number > 0"),
    (["--dataset", "ring", "--beta2", "1.0"], "argument --beta2: must be a finite number >= 0 and < 1"),
])
def test_cli_bad_values_exit_2(tmp_path, capsys, argv, message):
    assert main(["train", "gan", *argv, "--out", str(tmp_path / "run")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genprior: error:") and message in lines[0], lines
    assert not (tmp_path / "run").exists()


def test_cli_train_toy_and_walk(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "gan", "--dataset", "ring", "--epochs", "1", "--toy-samples", "256", "--batch-size", "32",
                 "--g-hidden", "8", "--d-hidden", "8", "--packing", "2", "--out", str(out), "--quiet"]) == 0
    assert (out / "generator.safetensors").exists() and (out / "samples_epoch001.png").exists()
    # a walk needs an image generator: the 2-D one is refused with exit 2
    assert main(["walk", "--model", str(out / "generator"), "--out", str(tmp_path / "w.png")]) == 2
    G = DCGANGenerator(latent_dim=5, base_channels=4)
    save_model(tmp_path / "dc", G)
    for kind in ("linear", "spherical", "coordinate"):
        png = tmp_path / f"{kind}.png"
        coord = ["--coord", "4"] if kind == "coordinate" else []
        assert main(["walk", "--model", str(tmp_path / "dc"), "--kind", kind, "--steps", "4", "--rows", "2", *coord,
                     "--out", str(png)]) == 0
        assert png.exists() and png.with_suffix(".gif").exists()
    # --coord belongs to the coordinate walk, and is refused with the others rather than ignored
    assert main(["walk", "--model", str(tmp_path / "dc"), "--kind", "linear", "--coord", "4", "--out", str(png)]) == 2
    assert main(["walk", "--model", str(tmp_path / "dc"), "--kind", "coordinate", "--coord", "5",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert main(["walk", "--model", str(tmp_path / "dc"), "--kind", "zigzag", "--out", str(tmp_path / "x.png")]) == 2


def test_slerp_endpoints_and_norm():
    from genprior.models.walks import lerp, slerp

    z0, z1 = torch.randn(3, 7), torch.randn(3, 7)
    t = torch.linspace(0, 1, 5)
    s = slerp(z0, z1, t)
    assert torch.allclose(s[:, 0], z0, atol=1e-5) and torch.allclose(s[:, -1], z1, atol=1e-5)
    u0 = torch.nn.functional.normalize(z0, dim=1)
    u1 = torch.nn.functional.normalize(z1, dim=1)
    assert torch.allclose(slerp(u0, u1, t).norm(dim=2), torch.ones(3, 5), atol=1e-5)  # stays on the sphere
    assert torch.allclose(lerp(z0, z1, t)[:, 2], (z0 + z1) / 2)


def test_latent_walk_decodes_in_chunks_to_the_same_frames():
    from genprior import zoo
    from genprior.models.walks import latent_walk

    generator = zoo.load("mnist-dcgan")
    whole = latent_walk(generator, "spherical", rows=3, steps=5, seed=1)
    chunked = latent_walk(generator, "spherical", rows=3, steps=5, seed=1, chunk=4)
    assert whole.shape == (3, 5, 1, 28, 28) and torch.allclose(whole, chunked, atol=1e-5)
