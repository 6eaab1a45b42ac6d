"""InfoGAN / InfoGAN-CR: networks, the CR pairs and schedule, learning, exact resume, walks and the CLI's refusals."""

from __future__ import annotations

import math

import pytest
import torch

from genprior.cli import main
from genprior.data.sprites import sprites_dataset
from genprior.errors import InvalidValueError
from genprior.models.infogan import CRHead, InfoGANDiscriminator, InfoGANGenerator
from genprior.models.registry import build_model
from genprior.models.walks import latent_walk
from genprior.train import infogan as trainer
from genprior.train.infogan import (
    cr_pair_latents,
    cr_schedule,
    info_loss,
    train_infogan,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _nets(cr: bool = False, size: int = 32):
    torch.manual_seed(0)
    shape = (1, size, size)
    G = InfoGANGenerator(output_shape=shape, channels=8)
    D = InfoGANDiscriminator(input_shape=shape, channels=8, hidden=32)
    H = CRHead(input_shape=shape, channels=8, hidden=32) if cr else None
    return G, D, H


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_ranges_and_configs(size):
    G, D, H = _nets(cr=True, size=size)
    z = G.sample_latent(6, generator=torch.Generator().manual_seed(0))
    assert z.shape == (6, 10) and z.min() >= -1 and z.max() <= 1
    x = G(z).detach()
    assert x.shape == (6, 1, size, size) and 0 <= float(x.min()) and float(x.max()) <= 1
    logit, q = D(x)
    assert logit.shape == (6,) and q.shape == (6, 5) and torch.equal(D.encode(x), q)
    assert H(torch.cat([x, x], 1)).shape == (6, 5)
    for net in (G, D, H):
        rebuilt = build_model(net.config())
        assert type(rebuilt) is type(net) and rebuilt.config() == net.config()


def test_cr_pairs_share_one_code_and_the_noise():
    latent = torch.rand(500, 8) * 2 - 1
    labels = torch.randint(5, (500,))
    a, b = cr_pair_latents(latent, 5, labels, 0.6, torch.Generator().manual_seed(0))
    rows = torch.arange(500)
    assert torch.equal(a[rows, labels], b[rows, labels])
    assert torch.equal(a[:, 5:], latent[:, 5:]) and torch.equal(b[:, 5:], latent[:, 5:])
    other = torch.ones(500, 5, dtype=torch.bool)
    other[rows, labels] = False
    gaps = (a[:, :5] - b[:, :5]).abs()[other]
    assert float(gaps.min()) >= 0.6 - 1e-6 and a.abs().max() <= 1 + 1e-6 and b.abs().max() <= 1 + 1e-6


def test_cr_schedule_is_the_progressive_one():
    assert cr_schedule(89, steps=100, cr_weight=2.0, cr_start=0.9) == (0.0, 0.0)
    assert cr_schedule(90, steps=100, cr_weight=2.0, cr_start=0.9) == (2.0, 0.0)
    weight, gap = cr_schedule(25, steps=100, cr_weight=1.0, cr_start=0.0, gap_start=1.0, gap_decrease=0.25,
                              gap_every=10)
    assert weight == 1.0 and abs(gap - 0.5) < 1e-12
    assert cr_schedule(99, steps=100, cr_weight=1.0, cr_start=0.0, gap_start=1.0, gap_decrease=0.25,
                       gap_every=10)[1] == 0.0


def test_infogan_cr_learns_codes_and_pairs():
    """The Q head learns to read the codes back (the info loss falls well below 5/6, that of a Q head reading
    nothing); H is trained only once the CR weight is on, and its cross-entropy is then a finite loss near or below
    log 5 (on this short budget H stays near chance: the CPU benchmark says so too)."""
    torch.manual_seed(0)
    G = InfoGANGenerator(output_shape=(1, 32, 32), channels=16)
    D = InfoGANDiscriminator(input_shape=(1, 32, 32), channels=16, hidden=64)
    H = CRHead(input_shape=(1, 32, 32), channels=16, hidden=64)
    data = sprites_dataset(2000, size=32, seed=3).images
    info = train_infogan(G, D, data, cr_head=H, steps=300, every=100, batch_size=64, info_weight=1.0, cr_weight=2.0,
                         cr_start=2 / 3, seed=0, progress=False)
    h = info["history"]
    assert h[0]["cr_weight"] == 0.0 and h[0]["cr_accuracy"] == 0.0 and h[-1]["cr_weight"] == 2.0
    assert h[-1]["info_loss"] < 0.7 < 5 / 6 and 0 < h[-1]["cr_loss"] < math.log(5) + 0.2
    assert all(torch.isfinite(p).all() for p in H.parameters())
    with torch.no_grad():
        G.eval()
        z = G.sample_latent(256, generator=torch.Generator().manual_seed(9))
        assert float(info_loss(D.encode(G(z)), z[:, :5])) < 0.7


def test_resume_is_exact(tmp_path, monkeypatch):
    data = sprites_dataset(500, size=32, seed=4).images
    kw = {"steps": 12, "every": 4, "batch_size": 16, "cr_weight": 1.0, "cr_start": 0.3, "cr_lr": 1e-3, "seed": 2,
          "progress": False}
    G, D, H = _nets(cr=True)
    train_infogan(G, D, data, cr_head=H, out_dir=tmp_path / "a", **kw)
    real_save, calls = trainer.save_training_state, []

    def killed_after_two(*args, **kwargs):
        real_save(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "save_training_state", killed_after_two)
    G2, D2, H2 = _nets(cr=True)
    with pytest.raises(KeyboardInterrupt):
        train_infogan(G2, D2, data, cr_head=H2, out_dir=tmp_path / "b", **kw)
    monkeypatch.setattr(trainer, "save_training_state", real_save)
    G2, D2, H2 = _nets(cr=True)
    info = train_infogan(G2, D2, data, cr_head=H2, out_dir=tmp_path / "b", resume=True, **kw)
    assert info["steps_done"] == 12 and info["resumed_with"][0]["after_epoch"] == 2
    for net, again in ((G, G2), (D, D2), (H, H2)):
        for (k, v), w in zip(net.state_dict().items(), again.state_dict().values()):
            assert torch.allclose(v.float(), w.float(), atol=1e-6), k
    for name in ("generator", "discriminator"):
        assert (tmp_path / "b" / f"{name}.safetensors").exists()
    assert (tmp_path / "b" / "traversal.png").exists()


def test_walk_has_one_row_per_code_and_refuses_noise_coordinates():
    G, _, _ = _nets()
    G.eval()
    grid = latent_walk(G, "coordinate", coord=None, steps=7, seed=0)
    assert grid.shape == (5, 7, 1, 32, 32)
    base = latent_walk(G, "coordinate", coord=2, rows=1, steps=7, seed=0)
    assert base.shape == (1, 7, 1, 32, 32)
    with pytest.raises(InvalidValueError):
        latent_walk(G, "coordinate", coord=5, steps=7, seed=0)


def test_cli_trains_walks_and_refuses_bad_input(tmp_path, cli_error):
    out = tmp_path / "run"
    common = ["--images", "256", "--steps", "4", "--every", "2", "--batch-size", "8", "--channels", "4", "--hidden",
              "8", "--quiet"]
    assert main(["train", "infogan", "--out", str(out), "--cr-weight", "2", "--cr-start", "0.5", *common]) == 0
    assert main(["walk", "--model", str(out / "generator.safetensors"), "--kind", "coordinate", "--steps", "5",
                 "--out", str(tmp_path / "w.png"), "--quiet"]) == 0
    from PIL import Image

    assert Image.open(tmp_path / "w.png").size[1] > 4 * 32  # five rows of 32-pixel images
    assert "unknown dataset" in cli_error(["train", "infogan", "--dataset", "mnist", "--out",
                                           str(tmp_path / "x")])
    cli_error(["train", "infogan", "--cr-weight", "-1", "--out", str(tmp_path / "x")])
    cli_error(["train", "infogan", "--size", "48", "--out", str(tmp_path / "x")])
    cli_error(["walk", "--model", str(out / "generator.safetensors"), "--kind", "coordinate", "--coord", "7",
               "--out", str(tmp_path / "w2.png")])
    cli_error(["train", "infogan", "--out", str(out), *common])  # a state there, without --resume
