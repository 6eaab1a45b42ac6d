"""The DDPM model and its trainer: the schedule, the forward process and Tweedie's inverse, DDIM sampling, that
training lowers the held-out loss, exact resume, and the command's refusals."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from genprior.errors import GenpriorError, InvalidValueError
from genprior.models.checkpoint import load_model, save_model
from genprior.models.diffusion import Diffusion, noise_schedule
from genprior.train.diffusion import held_out_loss, train_diffusion

TINY = {"channels": (4, 8, 8), "num_steps": 50}


@pytest.mark.parametrize("name", ["cosine", "linear"])
def test_schedule_decreases_from_one_to_near_zero(name):
    a = noise_schedule(name, 1000)
    assert a.shape == (1000,)
    assert bool((a[1:] < a[:-1]).all())
    assert 0.99 < float(a[0]) <= 1.0
    assert float(a[-1]) < 0.01


def test_schedule_refuses_bad_names_and_sizes():
    with pytest.raises(InvalidValueError, match="unknown noise schedule"):
        noise_schedule("quadratic", 100)
    with pytest.raises(InvalidValueError, match="num_steps"):
        noise_schedule("cosine", 1)


def test_tweedie_inverts_the_forward_process_with_the_true_noise():
    torch.manual_seed(0)
    model = Diffusion(**TINY)
    x0 = model.to_model_space(torch.rand(6, 1, 28, 28))
    eps = torch.randn_like(x0)
    t = torch.tensor([0, 5, 10, 20, 30, 45])
    x_t = model.add_noise(x0, t, eps)
    # the noisy image has the variance the schedule says: abar x0^2 + (1 - abar)
    back = model.predict_x0(x_t, t, eps=eps)
    assert torch.allclose(back, x0, atol=1e-3)


def test_output_shapes_and_config_round_trip(tmp_path):
    torch.manual_seed(0)
    model = Diffusion(**TINY)
    x = torch.randn(3, 1, 28, 28)
    assert model(x, torch.tensor([0, 10, 49])).shape == (3, 1, 28, 28)
    assert model.predict_noise(x, 7).shape == (3, 1, 28, 28)
    save_model(tmp_path / "m", model)
    loaded, config = load_model(tmp_path / "m")
    assert config["architecture"]["family"] == "diffusion"
    assert torch.allclose(loaded(x, torch.tensor([1, 2, 3])), model(x, torch.tensor([1, 2, 3])), atol=1e-6)


def test_ddim_sampling_is_deterministic_and_in_range():
    torch.manual_seed(0)
    model = Diffusion(**TINY).eval()
    a = model.sample(4, steps=10, generator=torch.Generator().manual_seed(3))
    b = model.sample(4, steps=10, generator=torch.Generator().manual_seed(3))
    assert a.shape == (4, 1, 28, 28)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.allclose(a, b)
    assert model.timesteps(10)[0] == 49 and model.timesteps(10)[-1] == 0
    with pytest.raises(InvalidValueError):
        model.sample(0)
    with pytest.raises(InvalidValueError):
        model.timesteps(51)


def _digits():
    from genprior.data import load_dataset

    images = load_dataset("mnist-bundled", "test").images
    return images[:400], images[400:500]


def test_training_lowers_the_held_out_loss_and_resumes_exactly(tmp_path):
    torch.manual_seed(0)
    train, test = _digits()
    untrained = Diffusion(**TINY)
    before = held_out_loss(untrained, test)
    options = {"steps_per_epoch": 30, "batch_size": 32, "lr": 2e-3, "warmup": 10, "ema_decay": 0.9, "seed": 1,
               "progress": False, "samples_every": 0}
    torch.manual_seed(0)
    model = Diffusion(**TINY)
    info = train_diffusion(model, train, test, out_dir=tmp_path / "a", steps=60, **{**options, "samples_every": 2})
    assert info["steps_done"] == 60 and info["epoch"] == 2
    after = info["history"][-1]["test_loss"]
    assert after < 0.8 * before, (before, after)
    # a run stopped after 30 steps and resumed reaches the uninterrupted run's weights
    torch.manual_seed(0)
    part = Diffusion(**TINY)
    train_diffusion(part, train, test, out_dir=tmp_path / "b", steps=30, **options)
    torch.manual_seed(5)  # the resume must not depend on the global stream
    resumed = Diffusion(**TINY)
    info_b = train_diffusion(resumed, train, test, out_dir=tmp_path / "b", steps=60, resume=True, **options)
    assert info_b["steps_done"] == 60 and len(info_b["resumed_with"]) == 1
    for (name, p), q in zip(model.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-6), name
    _, config = load_model(tmp_path / "a" / "model")
    assert config["steps"] == 60
    assert (tmp_path / "a" / "samples_epoch002.png").exists()


def test_trainer_refuses_bad_settings(tmp_path):
    train, test = _digits()
    model = Diffusion(**TINY)
    with pytest.raises(InvalidValueError, match="ema_decay"):
        train_diffusion(model, train, test, out_dir=tmp_path, steps=1, ema_decay=1.0)
    with pytest.raises(GenpriorError):
        train_diffusion(model, train[:, :, :20], test, out_dir=tmp_path, steps=1)
    with pytest.raises(InvalidValueError, match="Diffusion"):
        train_diffusion(torch.nn.Linear(2, 2), train, test, out_dir=tmp_path, steps=1)


@pytest.mark.parametrize("args, message", [
    (["--ema-decay", "1"], "ema-decay"),
    (["--channels", "4", "8"], "channels"),
    (["--schedule", "quadratic"], "schedule"),
    (["--steps", "0"], "steps"),
])
def test_cli_refuses_bad_options_with_exit_code_2(tmp_path, args, message):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "genprior", "train", "diffusion", "--out", str(out), *args],
                       check=False, capture_output=True, text=True)
    assert r.returncode == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2
    assert not out.exists()


def test_evaluate_judges_a_diffusion_model_by_its_samples(tmp_path):
    torch.manual_seed(0)
    save_model(tmp_path / "ddpm", Diffusion(**TINY))
    out = tmp_path / "eval"
    r = subprocess.run([sys.executable, "-m", "genprior", "evaluate", "--model", str(tmp_path / "ddpm"), "--dataset",
                        "mnist-bundled", "--samples", "20", "--invert", "5", "--out", str(out), "-q"],
                       check=False, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import json

    report = json.loads((out / "evaluation.json").read_text())
    assert report["reconstruction"] is None
    assert report["frechet_distance"] > report["real"]["frechet_distance"]  # an untrained model is worse than data
    assert (out / "samples.png").exists() and not (out / "reconstruction.png").exists()
