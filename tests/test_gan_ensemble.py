"""Many GANs trained at once (genprior.train.gan_ensemble): stacked modules are the modules, runs stay independent,
the ensemble learns, resumes exactly and refuses bad input."""

from __future__ import annotations

import pytest
import torch

from genprior.data.toy2d import ring
from genprior.errors import InvalidValueError, ShapeError
from genprior.evaluate.modes import mode_statistics
from genprior.models.mlp import MLPDiscriminator, MLPGenerator
from genprior.models.pack import PackedDiscriminator
from genprior.train.gan import discriminator_loss, sample
from genprior.train.gan_ensemble import Stacked, train_gan_ensemble

torch.set_num_threads(1)


def _players(runs: int, *, packing: int = 1, batch_norm: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    gens = [MLPGenerator(latent_dim=2, hidden=(16, 16), batch_norm=batch_norm) for _ in range(runs)]
    discs = [PackedDiscriminator(MLPDiscriminator(input_dim=2 * packing, hidden=(16, 16), pieces=3), packing)
             for _ in range(runs)]
    return gens, discs


def _ring_points(runs: int):
    mix = ring()
    return lambda n, rng: torch.stack([mix.sample(n, generator=rng) for _ in range(runs)])


def test_stacked_modules_compute_what_each_module_computes():
    gens, discs = _players(3, packing=2)
    z = torch.randn(3, 8, 2)
    for training in (False, True):
        G = Stacked(gens).train(training)
        for g in gens:
            g.train(training)
        out = G(z)
        assert out.shape == (3, 8, 2)
        for r, g in enumerate(gens):  # batch norm in training mode: each run on its own batch statistics
            assert torch.allclose(out[r], g(z[r]), atol=1e-5)
    logits = Stacked(discs)(torch.randn(3, 8, 2))
    assert logits.shape == (3, 4)


def test_each_run_gets_its_own_gradient():
    _, discs = _players(3)
    D = Stacked(discs)
    real, fake = torch.randn(3, 10, 2), torch.randn(3, 10, 2)
    torch.func.vmap(discriminator_loss)(D(real), D(fake)).sum().backward()
    for r, d in enumerate(discriminators := discs):
        d.zero_grad()
        discriminator_loss(d(real[r]), d(fake[r])).backward()
        for name, p in d.named_parameters():
            assert torch.allclose(D.weights[name.replace(".", ":")].grad[r], p.grad, atol=1e-5)
    assert len(discriminators) == 3


def test_ensemble_learns_the_ring():
    gens, discs = _players(2, packing=2, batch_norm=False)
    mix = ring()
    before = [mode_statistics(sample(g, 1000, rng=torch.Generator().manual_seed(1)), mix.modes, mix.std) for g in gens]
    far = [float(torch.cdist(sample(g, 1000, rng=torch.Generator().manual_seed(1)), mix.modes).min(1).values.mean())
           for g in gens]
    seen = []
    train_gan_ensemble(gens, discs, _ring_points(2), steps=400, packing=2, batch_size=32, lr=3e-3, every=200,
                       progress=False, monitor=lambda g: seen.append(len(g)) or {"ok": 1})
    after = [float(torch.cdist(sample(g, 1000, rng=torch.Generator().manual_seed(1)), mix.modes).min(1).values.mean())
             for g in gens]
    assert seen == [2, 2]
    for b, a in zip(far, after):  # the samples moved onto the circle's modes
        assert a < 0.5 * b, (far, after)
    assert all(s["high_quality_fraction"] < 0.5 for s in before)
    assert not gens[0].training  # handed back in eval mode


def test_resume_continues_exactly(tmp_path):
    kw = {"packing": 2, "batch_size": 8, "every": 2, "progress": False, "seed": 5}
    g1, d1 = _players(2, packing=2)
    train_gan_ensemble(g1, d1, _ring_points(2), steps=4, out_dir=tmp_path / "straight", **kw)
    g2, d2 = _players(2, packing=2)
    train_gan_ensemble(g2, d2, _ring_points(2), steps=2, out_dir=tmp_path / "split", **kw)
    g3, d3 = _players(2, packing=2, seed=9)  # other weights: everything must come from the state
    info = train_gan_ensemble(g3, d3, _ring_points(2), steps=4, out_dir=tmp_path / "split", resume=True, **kw)
    assert info["steps_done"] == 4 and len(info["history"]) == 2
    for a, b in zip(g1 + d1, g3 + d3):
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.allclose(x.float(), y.float(), atol=1e-6, rtol=0), name


def test_bad_input_is_refused():
    gens, discs = _players(2)
    with pytest.raises(InvalidValueError, match="as many discriminators"):
        train_gan_ensemble(gens, discs[:1], _ring_points(2), steps=1, progress=False)
    with pytest.raises(ShapeError, match="architecture"):
        Stacked([gens[0], MLPGenerator(latent_dim=2, hidden=(8,), batch_norm=True)])
    with pytest.raises(InvalidValueError, match="steps"):
        train_gan_ensemble(gens, discs, _ring_points(2), steps=-1, progress=False)
    with pytest.raises(ShapeError, match="real"):
        train_gan_ensemble(gens, discs, _ring_points(3), steps=1, batch_size=4, progress=False)


def test_a_decaying_rate_trains_in_parts_and_a_changed_schedule_is_refused(tmp_path):
    from genprior.errors import CheckpointError
    from genprior.io import read_json

    kw = {"batch_size": 8, "every": 2, "progress": False, "lr": 1e-2, "lr_end": 1e-4}
    g, d = _players(2)
    train_gan_ensemble(g, d, _ring_points(2), steps=2, decay_steps=5, out_dir=tmp_path, **kw)
    info = train_gan_ensemble(g, d, _ring_points(2), steps=4, decay_steps=5, out_dir=tmp_path, resume=True, **kw)
    assert info["steps_done"] == 4 and info["decay_steps"] == 5
    rates = [group["lr"] for group in read_json(tmp_path / "state.json")["optimizers"]["generator"]["param_groups"]]
    assert rates == [pytest.approx(1e-2 * (1e-2) ** (3 / 4))]  # the rate of step 3 (0-based) of the 5-step decay
    with pytest.raises(CheckpointError, match="decay_steps"):
        train_gan_ensemble(g, d, _ring_points(2), steps=6, decay_steps=8, out_dir=tmp_path, resume=True, **kw)
