"""examples/xor.py (deck 003): no linear model of any depth fits XOR; one hidden ReLU layer does."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

PATH = Path(__file__).resolve().parents[1] / "examples" / "xor.py"
spec = importlib.util.spec_from_file_location("xor_example", PATH)
xor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(xor)


def test_best_linear_fit_is_the_constant_one_half_with_loss_one_quarter():
    loss, coef = xor.best_linear_loss()
    assert abs(loss - 0.25) < 1e-12
    assert torch.allclose(coef, torch.tensor([0.0, 0.0, 0.5], dtype=torch.float64), atol=1e-12)


def test_trained_deep_linear_net_cannot_beat_one_quarter():
    for seed in (0, 1):
        loss = xor.train(xor.deep_linear_net(depth=3, seed=seed), steps=1500)
        assert loss >= 0.25 - 1e-9  # the best any linear map can do
        assert loss < 0.25 + 1e-3  # and training does get there


def test_deck_weights_compute_xor_exactly():
    out = xor.deck_relu_net(xor.X)
    assert out.tolist() == [0.0, 1.0, 1.0, 0.0]  # small integers in float: exact
    assert out.tolist() == xor.Y.tolist()


def test_trained_relu_net_fits_xor():
    loss = xor.train(xor.relu_net(seed=0), steps=1500)
    assert loss < 1e-3
    with torch.no_grad():
        pred = xor.relu_net(seed=0)(xor.X)  # untrained: the same seed starts elsewhere
    assert float(((pred[:, 0] - xor.Y) ** 2).mean()) > 1e-3


def test_main_prints_the_four_results(capsys):
    assert xor.main(["--steps", "300"]) == 0
    out = capsys.readouterr().out
    assert "loss 0.2500" in out and "[0.0, 1.0, 1.0, 0.0]" in out and "one-hidden-layer ReLU net" in out
