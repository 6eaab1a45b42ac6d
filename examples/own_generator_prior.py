"""Use your own generator as a prior: recover a signal from a few random measurements with CSGM.

Any ``torch.nn.Module`` works with every genprior solver, without subclassing anything of genprior's, as long as it
has a ``latent_dim`` attribute and its forward maps ``z`` ``(B, latent_dim)`` to images ``(B, C, H, W)`` in [0, 1].
Here the generator is a small random ReLU network (replace it by your own trained one: build the module, then
``load_state_dict(torch.load(...))``), the truth is one of its outputs, and we measure it with ``m`` Gaussian
measurements, far fewer than its pixels. CSGM searches the latent space for the ``G(z)`` that best explains the
measurements; the Lasso, which knows nothing about ``G``, is the baseline.

    python examples/own_generator_prior.py --m 40
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from genprior.evaluate.metrics import mse_per_pixel, psnr
from genprior.operators import Gaussian
from genprior.solvers import csgm, csgm_fast, lasso


class MyGenerator(nn.Module):
    """A generator genprior has never seen: ``latent_dim`` (and, optionally, ``output_shape``) is all it asks for."""

    def __init__(self, latent_dim: int = 10, side: int = 16, width: int = 128, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.latent_dim = latent_dim
        self.output_shape = (1, side, side)
        self.net = nn.Sequential(nn.Linear(latent_dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, side * side), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.output_shape)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=40, help="number of measurements (the image has 256 pixels)")
    parser.add_argument("--images", type=int, default=4, help="signals recovered at once")
    parser.add_argument("--noise-std", type=float, default=0.01, help="noise level sigma = sqrt(E||eta||^2)")
    parser.add_argument("--restarts", type=int, default=5, help="CSGM random starts")
    parser.add_argument("--steps", type=int, default=300, help="CSGM Adam steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    G = MyGenerator(seed=args.seed).eval()
    for p in G.parameters():
        p.requires_grad_(False)
    with torch.no_grad():  # the truth: images G can produce
        x = G(torch.randn(args.images, G.latent_dim, generator=torch.Generator().manual_seed(args.seed + 1)))

    op = Gaussian(m=args.m, shape=G.output_shape, noise_std=args.noise_std, seed=args.seed)
    y = op.measure(x, seed=args.seed + 2)  # (images, m)

    results = {
        "csgm": csgm(G, op, y, restarts=args.restarts, steps=args.steps, lr=0.05, seed=args.seed).x,
        "csgm_fast": csgm_fast(G, op, y, seed=args.seed).x,
        "lasso (dct)": lasso(op, y, basis="dct", alpha=0.01).x,
    }
    print(f"{args.images} images of {x[0].numel()} pixels, m = {args.m} measurements")
    print(f"{'method':<12} {'error per pixel':>16} {'PSNR (dB)':>10}")
    for name, x_hat in results.items():
        x_hat = x_hat.float()
        print(f"{name:<12} {mse_per_pixel(x_hat, x).mean():16.2e} {psnr(x_hat, x).mean():10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
