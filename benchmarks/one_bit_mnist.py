"""One-bit compressed sensing on MNIST: a generative prior against sparsity, error vs m.

The first 300 MNIST test images, measured by the signs of m Gaussian measurements (``Sign(m, seed=m)``,
``A_ij ~ N(0, 1/m)``, no noise), recovered by

* ``one_bit_csgm`` with ``mnist-vae`` (:mod:`genprior.solvers.one_bit`: a logistic loss on normalised margins,
  10 restarts x 300 Adam steps, its defaults),
* BIHT (Jacques et al. 2013) keeping 50 coefficients in the Haar basis (its defaults) and in the DCT basis,
* the one-step linear estimate ``A^T y`` (Plan & Vershynin 2013; no prior).

Signs keep only the direction, so the measure is the direction error ``||x_hat/||x_hat|| - x/||x|| ||^2`` (0 is
right, 2 orthogonal); the VAE's recoveries are also images in [0, 1] and get the error per pixel. The choices
of the solvers (``tau``, steps, sparsity, basis) were made on test images 300..339. Writes
results/one_bit_mnist.{json,md,png} and one_bit_mnist_grid.png (m = 200).

    python benchmarks/one_bit_mnist.py [--n-images 300] [--m 25 50 100 200 400 784]
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch
from mnist_curves import curve_options, first_test_images

from genprior import zoo
from genprior.evaluate.metrics import direction_error, mse_per_pixel
from genprior.operators import Sign
from genprior.reports import (
    cpu_name,
    markdown_table,
    save_curves,
    save_image_grid,
    write_report,
)
from genprior.solvers.one_bit import biht, one_bit_csgm

RESULTS = Path(__file__).resolve().parent / "results"
M_LIST = (25, 50, 100, 200, 400, 784)
GRID_M = 200


def methods(vae) -> dict:
    """Name -> function ``(operator, y) -> x_hat (B, C, H, W)``."""
    return {
        "one-bit CSGM (mnist-vae)": lambda op, y: one_bit_csgm(vae, op, y, progress=True).x,
        "BIHT Haar, 50 coefficients": lambda op, y: biht(op, y, basis="wavelet"),
        "BIHT DCT, 50 coefficients": lambda op, y: biht(op, y, basis="dct"),
        "linear estimate A^T y": lambda op, y: op.inner.adjoint(y),
    }


def main() -> int:
    a = curve_options(__doc__, n_images=300, m_list=M_LIST, out=RESULTS / "one_bit_mnist")
    torch.set_num_threads(1)
    x = first_test_images(a)
    vae = zoo.load("mnist-vae")
    curves: dict[str, list[dict]] = {}
    grid = {"truth": x[:10]}
    for m in a.m:
        op = Sign(m=m, seed=m)
        y = op.measure(x)
        for name, solve in methods(vae).items():
            t0 = time.perf_counter()
            x_hat = solve(op, y).float().detach()
            seconds = time.perf_counter() - t0
            err = direction_error(x_hat, x)
            point = {"m": m, "direction_error": float(err.mean()),
                     "direction_se": float(err.std(unbiased=True) / math.sqrt(len(err))),
                     "seconds_per_image": seconds / len(x)}
            if name.startswith("one-bit CSGM"):
                point["mse_per_pixel"] = float(mse_per_pixel(x_hat, x).mean())
            curves.setdefault(name, []).append(point)
            print(m, name, {k: round(v, 5) for k, v in point.items()}, flush=True)
            if m == GRID_M:  # G(z) as it is; the scale-free estimates at the truth's norm, clipped to [0, 1]
                shown = x_hat[:10]
                if "mse_per_pixel" not in point:
                    ratio = x[:10].flatten(1).norm(dim=1) / shown.flatten(1).norm(dim=1).clamp_min(1e-12)
                    shown = shown * ratio.view(-1, 1, 1, 1)
                grid[name.split(" (")[0].split(",")[0]] = shown.clamp(0, 1)
    out = Path(a.out)
    save_curves(out.with_suffix(".png"), curves, y="direction_error", err="direction_se",
                ylabel="direction error ||x̂/|x̂| - x/|x| ||²", title=f"one-bit CS on MNIST, first {len(x)} test images")
    if GRID_M in a.m:
        save_image_grid(out.parent / f"{out.name}_grid.png", grid, title=f"one-bit CS, m = {GRID_M} signs")
    ms = list(a.m)
    table = [{"method": name, **{f"m={p['m']}": f"{p['direction_error']:.4f} ± {1.96 * p['direction_se']:.4f}"
                                 for p in pts}} for name, pts in curves.items()]
    seconds = [{"method": name, **{f"m={p['m']}": p["seconds_per_image"] for p in pts}} for name, pts in curves.items()]
    vae_rows = [{"method": "one-bit CSGM (mnist-vae), error per pixel of G(z)",
                 **{f"m={p['m']}": p["mse_per_pixel"] for p in curves["one-bit CSGM (mnist-vae)"]}}]
    cols = ["method", *[f"m={m}" for m in ms]]
    md = "\n".join([
        "# One-bit compressed sensing on MNIST", "",
        (f"MNIST test images 0..{len(x) - 1}; y = sign(A x), A_ij ~ N(0, 1/m), no noise. Mean direction error "
         "||x̂/||x̂|| - x/||x|| ||² ± 1.96 s.e. (0 is right, 2 orthogonal). Solver choices made on test images "
         f"300..339. One thread of {cpu_name()}; `python benchmarks/one_bit_mnist.py`."), "",
        markdown_table(table, cols), "",
        ("The VAE's recoveries are images: their error per pixel, scale included (the signs do not carry it; the "
        "generator's range does):"), "",
        markdown_table(vae_rows, cols), "",
        "## Seconds per image", "",
        markdown_table(seconds, cols), "",
        ("Pictures: `one_bit_mnist.png` (curves), `one_bit_mnist_grid.png` (m = 200; G(z) as it is, the scale-free "
        "estimates at the truth's norm)."), ""])
    write_report(out, {"curves": curves, "n_images": len(x), "cpu": cpu_name(), "threads": 1}, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
