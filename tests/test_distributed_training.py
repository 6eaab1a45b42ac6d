"""Every trainer under torchrun (2 CPU processes, gloo on localhost) follows one process's trajectory with the same
global batch: the per-epoch losses agree within float round-off (1e-5 relative) and so do the final weights. The
GANs' batch norm layers normalise over the global batch (genprior.train.parallel.global_batch_norm), so DCGAN and
the MLP generator are covered too. Bad input to these paths ends with one error line and exit code 2 on every
rank."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch
from test_distributed import (
    assert_refused_by_every_rank,
    plain,
    torchrun,
)

from genprior import zoo
from genprior.io import load_tensors_and_metadata

GAN_RING = ["train", "gan", "--dataset", "ring", "--toy-samples", "1024", "--epochs", "2", "--batch-size", "64",
            "--g-hidden", "32", "32", "--d-hidden", "32", "32", "--samples-every", "0", "--device", "cpu", "--quiet"]
GAN_DIGITS = ["train", "gan", "--dataset", "digits", "--limit", "256", "--epochs", "2", "--batch-size", "16",
              "--g-channels", "4", "--d-channels", "4", "--latent-dim", "4", "--device", "cpu", "--quiet"]
CLASSIFIER = ["train", "classifier", "--dataset", "mnist", "--train-images", "384", "--epochs", "2", "--batch-size",
              "64", "--channels", "4", "8", "--hidden", "16", "--lr", "0.01", "--device", "cpu", "--quiet"]
AUTOENCODER = ["train", "autoencoder", "--dataset", "digits", "--epochs", "2", "--batch-size", "50", "--hidden", "32",
               "--latent-dim", "4", "--device", "cpu", "--quiet"]
BEGAN = ["train", "began", "--arch", "bottleneck", "--dataset", "digits", "--limit", "128", "--epochs", "2",
         "--batch-size", "32", "--channels", "4", "--latent-dim", "4", "--hidden-dim", "4", "--device", "cpu", "--quiet"]
CAUSAL = ["train", "causal", "--steps", "20", "--every", "10", "--labels", "1000", "--batch-size", "32", "--hidden", "8",
          "--critic-hidden", "16", "--quiet"]
TIMINGS = ("seconds",)
# A bias just before a batch norm layer (the MLP generator's linear layers, BEGAN's bottleneck) gets only round-off
# as its gradient (the norm subtracts it again), and Adam turns that into steps of size lr in a random direction, in
# one process as in two: the bias and the running mean of the norm after it wander differently in the two runs (by
# ~5e-4 in 2 epochs) while the training-mode output does not move. Those tensors are left out of the comparison; the
# eval-mode samples are compared instead.
BIAS_BEFORE_NORM = (r"generator\.net\.[03]\.bias|generator\.net\.[14]\.running_mean"
                    r"|bottleneck\.0\.bias|bottleneck\.1\.running_mean")


def same_run(tmp_path: Path, one: str, two: str, *, rel: float = 1e-5, weights: float = 1e-4) -> None:
    """The two runs' histories agree (numbers within ``rel``, relative), and so do their states' float tensors
    (within ``weights``, relative to each tensor's largest entry; but for :data:`BIAS_BEFORE_NORM`), and the
    samples of their generators when they wrote one."""
    a, b = (json.loads((tmp_path / name / "state.json").read_text()) for name in (one, two))
    assert a["epoch"] == b["epoch"] >= 2 and len(a["history"]) == len(b["history"])
    for h1, h2 in zip(a["history"], b["history"], strict=True):
        for key, v in h1.items():
            if key in TIMINGS:
                continue
            # an accuracy counts argmax decisions: round-off (another MKL code path) may flip a near-tie of a barely
            # trained classifier, so a few images of 10,000 may differ
            tol = 1e-3 if key.endswith("accuracy") else 1e-7
            assert math.isclose(v, h2[key], rel_tol=rel, abs_tol=tol), (key, h1, h2)
    w1, _ = load_tensors_and_metadata(tmp_path / one / "state.safetensors")
    w2, _ = load_tensors_and_metadata(tmp_path / two / "state.safetensors")
    assert w1.keys() == w2.keys()
    for key, t in w1.items():
        if re.search(BIAS_BEFORE_NORM, key) and "optim" not in key:
            continue
        if t.is_floating_point():
            scale = max(float(t.abs().max()), 1e-3)
            assert float((t.double() - w2[key].double()).abs().max()) <= weights * scale, key
        else:
            assert torch.equal(t, w2[key]), key
    assert not list((tmp_path / two).glob(".*.tmp"))  # rank 0 alone wrote, atomically
    if (tmp_path / one / "generator.json").is_file() and not a["data"].get("conditional"):
        g1, g2 = (zoo.resolve(str(tmp_path / name / "generator"))[0].eval() for name in (one, two))
        z = torch.randn(16, g1.latent_dim, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            x1, x2 = g1(z), g2(z)
        # eval mode: the running mean lags the wandering bias by up to ~1e-4 (see BIAS_BEFORE_NORM)
        assert float((x1 - x2).abs().max()) <= 1e-3 * max(float(x1.abs().max()), 1.0)


def follows_one_process(tmp_path: Path, args: list[str], **tolerances) -> None:
    one = plain([*args, "--out", "one"], tmp_path)
    two = torchrun([*args, "--out", "two"], tmp_path)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == sorted(p.name for p in (tmp_path / "two").iterdir())
    same_run(tmp_path, "one", "two", **tolerances)


def test_mlp_gan_with_batch_norm_on_two_ranks_follows_one_process(tmp_path):
    follows_one_process(tmp_path, GAN_RING)


def test_packed_dcgan_on_two_ranks_follows_one_process(tmp_path):
    # batch norm in both players, packs of 2 samples: each rank takes whole packs
    follows_one_process(tmp_path, [*GAN_DIGITS, "--packing", "2"])


def test_classifier_on_two_ranks_follows_one_process(tmp_path, data_dir):
    # the dropout mask is drawn for the global batch and shared out, as one process draws it (lr 0.01: a net that
    # learns in 12 steps; near its start Adam would turn round-off in near-zero gradients into steps of size lr)
    follows_one_process(tmp_path, CLASSIFIER)


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    [*GAN_DIGITS, "--conditional"], AUTOENCODER, BEGAN, [*BEGAN[:3], "paper", *BEGAN[4:]], CAUSAL,
    [*CLASSIFIER, "--distill-temperature", "10"],
], ids=["conditional-gan", "autoencoder", "began-bottleneck", "began-paper", "causal", "distillation"])
def test_every_other_trainer_on_two_ranks_follows_one_process(tmp_path, args):
    # BEGAN's bottleneck D and DCGAN G: batch norm over the global batch through two backward passes a step
    follows_one_process(tmp_path, args, weights=1e-3)


@pytest.mark.slow
def test_a_gan_resumed_under_torchrun_continues_as_one_process(tmp_path):
    assert plain([*GAN_RING, "--out", "one"], tmp_path).returncode == 0
    assert torchrun([*GAN_RING, "--epochs", "1", "--out", "two"], tmp_path).returncode == 0
    more = torchrun([*GAN_RING, "--out", "two", "--resume"], tmp_path)
    assert more.returncode == 0, more.stderr
    same_run(tmp_path, "one", "two")


@pytest.mark.parametrize("args, words", [
    ([*GAN_RING, "--batch-size", "63", "--out", "odd"], "must divide by the 2 processes"),
    ([*CLASSIFIER, "--adv-eps", "0.1", "--out", "adv"], "does not run under torchrun"),
])
def test_bad_training_input_gives_one_error_line_and_exit_code_2_on_every_rank(tmp_path, args, words):
    assert_refused_by_every_rank(args, tmp_path, words)
