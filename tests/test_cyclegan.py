"""CycleGAN: the styles and the unpaired split, the networks, the image pool, learning, resume, the CLI."""

from __future__ import annotations

import pytest
import torch

from genprior.cli import main
from genprior.data.styles import STYLES, apply_style, dilate, unpaired_domains
from genprior.errors import InvalidValueError, ShapeError, UnknownNameError
from genprior.io import load_tensors
from genprior.models.checkpoint import load_model, save_model
from genprior.models.cyclegan import CycleGAN, CycleGenerator, PatchDiscriminator
from genprior.models.registry import build_model
from genprior.train.cyclegan import ImagePool, lsgan_loss, train_cyclegan

torch.set_num_threads(1)


# ------------------------------------------------------------------ styles and domains

def test_styles_on_a_single_pixel():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 3, 4] = 1.0
    thick = apply_style(x, "thick-inverted")
    assert thick.shape == x.shape and thick.min() >= 0 and thick.max() <= 1
    assert thick[0, 0, 2:5, 3:6].abs().max() < 1e-6      # the 3x3 block around the pixel is black ...
    assert float(thick.sum()) == pytest.approx(64 - 9)    # ... and everything else white
    outline = apply_style(x, "outline")
    assert float(outline.sum()) == pytest.approx(9)      # a 1-pixel stroke: its dilation (erosion is empty)
    flat = apply_style(torch.full((2, 1, 8, 8), 0.7), "outline")
    assert flat.abs().max() < 1e-6                         # no edges in a constant image
    assert torch.allclose(dilate(x), 1 - thick)


def test_unknown_style_and_bad_images():
    with pytest.raises(UnknownNameError, match="style"):
        apply_style(torch.zeros(1, 1, 8, 8), "sepia")
    with pytest.raises(InvalidValueError):
        apply_style(torch.full((1, 1, 8, 8), 2.0), "outline")
    with pytest.raises(UnknownNameError):
        unpaired_domains(torch.zeros(4, 1, 8, 8), torch.zeros(4), "sepia")


def test_unpaired_domains_are_disjoint_and_b_is_styled():
    images = torch.rand(101, 1, 8, 8)
    labels = torch.arange(101)
    dom = unpaired_domains(images, labels, "thick-inverted", seed=3)
    assert len(dom.a) == len(dom.b) == 50
    assert not set(dom.a_index.tolist()) & set(dom.b_index.tolist())  # no image has its counterpart in training
    assert torch.equal(dom.a, images[dom.a_index]) and torch.equal(dom.a_labels, labels[dom.a_index])
    assert torch.allclose(dom.b, apply_style(images[dom.b_index], "thick-inverted"))
    assert len(unpaired_domains(images, labels, "outline", limit=7).b) == 7
    again = unpaired_domains(images, labels, "thick-inverted", seed=3)
    assert torch.equal(again.a_index, dom.a_index)


# ------------------------------------------------------------------ networks

def test_shapes_ranges_and_registry(tmp_path):
    g = CycleGenerator(image_shape=(1, 12, 12), channels=4, res_blocks=1)
    d = PatchDiscriminator(input_shape=(1, 12, 12), channels=4)
    x = torch.rand(3, 1, 12, 12)
    y = g(x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert d(x).shape == (3, 1, 3, 3)
    m = CycleGAN(image_shape=(1, 12, 12), channels=4, res_blocks=1, d_channels=4)
    for net in (g, d, m):
        assert type(build_model(net.config())) is type(net)
    save_model(tmp_path / "m", m)
    back, _ = load_model(tmp_path / "m")
    assert torch.allclose(back.translate(x, "b2a"), m.translate(x, "b2a"), atol=1e-6)
    with pytest.raises(UnknownNameError):
        m.translate(x, "sideways")
    with pytest.raises(InvalidValueError, match="multiples of 4"):
        CycleGenerator(image_shape=(1, 10, 10))


def test_lsgan_loss_and_pool():
    assert float(lsgan_loss(torch.full((2, 1, 3, 3), 0.5), 1.0)) == pytest.approx(0.25)
    rng = torch.Generator().manual_seed(0)
    pool = ImagePool(4, (1, 2, 2), torch.device("cpu"))
    first = torch.rand(4, 1, 2, 2)
    assert torch.equal(pool.query(first, rng), first) and pool.fill == 4  # filling: the new fakes themselves
    new = torch.rand(200, 1, 2, 2) + 2.0                                  # marked: values >= 2
    out = pool.query(new, rng)
    swapped = float((out != new).flatten(1).any(1).float().mean())
    assert 0.35 < swapped < 0.65                                          # about half are older fakes
    assert bool(((out < 2).flatten(1).all(1)).sum() == 4)                 # the first 4 swaps return the first fakes
    assert ImagePool(0, (1, 2, 2), torch.device("cpu")).query(new, rng) is new


# ------------------------------------------------------------------ training

def _blocks(n: int, seed: int) -> torch.Tensor:
    """Images of one bright random rectangle on black, 12x12."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 12, 12)
    for i in range(n):
        r, c = torch.randint(1, 8, (2,), generator=g).tolist()
        h, w = torch.randint(2, 4, (2,), generator=g).tolist()
        x[i, 0, r:r + h, c:c + w] = 1.0
    return x


def test_cyclegan_learns_the_translation():
    a, b = _blocks(256, 0), apply_style(_blocks(256, 1), "thick-inverted")
    test = _blocks(64, 2)
    truth = apply_style(test, "thick-inverted")
    torch.manual_seed(0)
    m = CycleGAN(image_shape=(1, 12, 12), channels=8, res_blocks=1, d_channels=8)

    def error() -> float:
        return float((m.translate(test, "a2b") - truth).pow(2).mean())

    before = error()
    info = train_cyclegan(m, a, b, epochs=8, batch_size=16, lr=2e-3, identity=0.0, progress=False)
    hist = info["history"]
    assert info["steps_done"] == 8 * 16 and len(hist) == 8
    assert hist[-1]["cycle"] < 0.5 * hist[0]["cycle"]
    assert error() < 0.3 * before and error() < 0.08  # G(a) is close to a's true (unseen) counterpart


def test_resume_continues_the_same_run(tmp_path):
    a, b = _blocks(64, 0), apply_style(_blocks(64, 1), "outline")
    kw = {"batch_size": 16, "identity": 0.5, "pool_size": 8, "progress": False}

    def fresh():
        torch.manual_seed(0)
        return CycleGAN(image_shape=(1, 12, 12), channels=4, res_blocks=1, d_channels=4)

    train_cyclegan(fresh(), a, b, epochs=3, out_dir=tmp_path / "one", **kw)
    train_cyclegan(fresh(), a, b, epochs=1, out_dir=tmp_path / "two", **kw)
    info = train_cyclegan(fresh(), a, b, epochs=3, out_dir=tmp_path / "two", resume=True, **kw)
    assert info["epoch"] == 3 and len(info["resumed_with"]) == 1
    one, two = load_tensors(tmp_path / "one/state.safetensors"), load_tensors(tmp_path / "two/state.safetensors")
    assert set(one) == set(two)
    for k in one:
        if one[k].is_floating_point():
            assert torch.allclose(one[k], two[k], atol=1e-5), k
    assert (tmp_path / "two/model.safetensors").exists() and (tmp_path / "two/samples_epoch003.png").exists()
    with pytest.raises(Exception, match="resume"):
        train_cyclegan(fresh(), a, b, epochs=3, out_dir=tmp_path / "two", **kw)  # a state there, no resume


def test_cycle_noise_changes_the_way_back_and_is_recorded(tmp_path):
    a, b = _blocks(64, 0), apply_style(_blocks(64, 1), "thick-inverted")
    kw = {"batch_size": 16, "identity": 0.0, "pool_size": 8, "progress": False, "epochs": 1}

    def run(noise, out=None, resume=False):
        torch.manual_seed(0)
        m = CycleGAN(image_shape=(1, 12, 12), channels=4, res_blocks=1, d_channels=4)
        info = train_cyclegan(m, a, b, cycle_noise=noise, out_dir=out, resume=resume, **kw)
        return m, info

    plain, info0 = run(0.0)
    noisy, info1 = run(0.3)
    # the noise enters the cycle term only: another cycle error, other weights after the steps
    assert info1["history"][0]["cycle"] != pytest.approx(info0["history"][0]["cycle"], rel=1e-3)
    assert float((plain.g_ba.net[1].weight - noisy.g_ba.net[1].weight).detach().abs().max()) > 0
    again, _ = run(0.3)
    assert torch.equal(again.g_ab.net[1].weight, noisy.g_ab.net[1].weight)  # the noise comes from the seeded stream
    run(0.3, tmp_path / "r")
    assert load_model(tmp_path / "r/model")[1]["cycle_noise"] == 0.3
    with pytest.raises(Exception, match="cycle_noise"):
        run(0.1, tmp_path / "r", resume=True)


@pytest.mark.parametrize("kw, err", [({"lambda_cyc": -1.0}, InvalidValueError), ({"lr": 0.0}, InvalidValueError),
                                     ({"identity": float("nan")}, InvalidValueError),
                                     ({"cycle_noise": -0.1}, InvalidValueError),
                                     ({"batch_size": 0}, InvalidValueError)])
def test_trainer_refuses_bad_values(kw, err):
    m = CycleGAN(image_shape=(1, 12, 12), channels=4, res_blocks=0, d_channels=4)
    with pytest.raises(err):
        train_cyclegan(m, _blocks(16, 0), _blocks(16, 1), epochs=1, batch_size=kw.pop("batch_size", 8),
                       progress=False, **kw)


def test_trainer_refuses_wrong_shapes():
    m = CycleGAN(image_shape=(1, 12, 12), channels=4, res_blocks=0, d_channels=4)
    with pytest.raises(ShapeError):
        train_cyclegan(m, torch.rand(16, 1, 8, 8), _blocks(16, 1), epochs=1, batch_size=8, progress=False)


# ------------------------------------------------------------------ command line

def test_cli_trains_resumes_and_refuses(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "cyclegan", "--dataset", "digits", "--out", str(out), "--limit", "64", "--batch-size", "16",
            "--channels", "4", "--res-blocks", "1", "--d-channels", "4", "--quiet"]
    assert main([*base, "--epochs", "1"]) == 0
    model, cfg = load_model(out / "model")
    assert isinstance(model, CycleGAN) and cfg["epochs"] == 1 and cfg["data"]["style"] == "thick-inverted"
    assert main([*base, "--epochs", "2", "--resume"]) == 0
    assert load_model(out / "model")[1]["epochs"] == 2
    capsys.readouterr()
    for bad in (["--style", "sepia"], ["--lambda-cyc", "-1"], ["--identity", "-0.5"], ["--lr", "0"],
                ["--cycle-noise", "-1"],
                ["--batch-size", "0"], ["--dataset", "nope"]):
        assert main([*base, "--epochs", "1", "--out", str(tmp_path / "bad"), *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("genprior") and len(err.splitlines()) == 1, (bad, err)
    assert sorted(STYLES) == ["outline", "thick-inverted"]
