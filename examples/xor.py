"""XOR, and why networks need a nonlinearity (deck 003; Goodfellow, Bengio & Courville, "Deep Learning", §6.1).

Four points ``x`` in {0, 1}², target ``x1 XOR x2``, mean squared loss.

1. The best linear model ``f(x) = wᵀx + b`` (least squares) is ``w = 0``, ``b = 1/2``: loss 0.25 on every point
   set's average. A deep *linear* net is still linear end-to-end (``w₃ᵀ W₂ W₁ x + ...``), so training one (here 3
   layers, Adam) cannot get below 0.25 either.
2. One hidden ReLU layer can: the deck's weights ``h = ReLU(W x + c)``, ``f = wᵀh + b`` with ``W = [[1, 1], [1, 1]]``,
   ``c = [0, −1]``, ``w = [1, −2]``, ``b = 0`` give exactly ``[0, 1, 1, 0]``.
3. And gradient descent finds such weights: a one-hidden-layer ReLU net (8 units, Adam, seeded) trained on the four
   points reaches a loss below 1e-3.

    python examples/xor.py
"""

from __future__ import annotations

import argparse
import itertools

import torch
from torch import nn

X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
Y = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64)


def best_linear_loss() -> tuple[float, torch.Tensor]:
    """The least-squares linear fit ``f(x) = wᵀx + b`` to XOR: (its mean squared loss, ``[w1, w2, b]``)."""
    A = torch.cat([X, torch.ones(4, 1, dtype=torch.float64)], 1)
    coef = torch.linalg.lstsq(A, Y[:, None]).solution[:, 0]
    return float(((A @ coef - Y) ** 2).mean()), coef


def deck_relu_net(x: torch.Tensor) -> torch.Tensor:
    """The deck's hand-set one-hidden-layer ReLU net ``wᵀ ReLU(W x + c) + b`` on ``x`` ``(B, 2)`` -> ``(B,)``."""
    W = torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=x.dtype)
    c = torch.tensor([0.0, -1.0], dtype=x.dtype)
    w = torch.tensor([1.0, -2.0], dtype=x.dtype)
    return torch.relu(x @ W.T + c) @ w + 0.0


def train(net: nn.Module, *, steps: int = 2000, lr: float = 0.01) -> float:
    """Full-batch Adam on the mean squared loss of ``net`` on the four points; returns the final loss."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        loss = ((net(X)[:, 0] - Y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(((net(X)[:, 0] - Y) ** 2).mean())


def deep_linear_net(*, depth: int = 3, width: int = 8, seed: int = 0) -> nn.Module:
    """``depth`` linear layers 2 -> width -> ... -> 1 with no nonlinearity between them (float64, seeded)."""
    torch.manual_seed(seed)
    sizes = [2] + [width] * (depth - 1) + [1]
    return nn.Sequential(*(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))).double()


def relu_net(*, width: int = 8, seed: int = 0) -> nn.Module:
    """One hidden ReLU layer 2 -> width -> 1 (float64, seeded)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, 1)).double()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="Adam steps for the trained nets (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the trained nets' initial weights (default 0)")
    args = parser.parse_args(argv)
    loss, coef = best_linear_loss()
    print(f"best linear fit: w = [{coef[0]:.3f}, {coef[1]:.3f}], b = {coef[2]:.3f}, loss {loss:.4f}")
    deep = train(deep_linear_net(seed=args.seed), steps=args.steps)
    print(f"3-layer linear net, trained: loss {deep:.4f} (a product of linear maps is linear: >= 0.25)")
    print(f"deck's ReLU net ReLU(Wx + c)ᵀw + b on (0,0) (0,1) (1,0) (1,1): {deck_relu_net(X).tolist()}")
    trained = train(relu_net(seed=args.seed), steps=args.steps)
    print(f"one-hidden-layer ReLU net (8 units), trained: loss {trained:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
