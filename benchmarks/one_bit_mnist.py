"""One-bit compressed sensing on MNIST: a generative prior against sparsity, error vs m.

The first 300 MNIST test images, measured by the signs of m Gaussian measurements (``Sign(m, seed=m)``,
``A_ij ~ N(0, 1/m)``, no noise), recovered by these methods of the registry (rows named by
:func:`genprior.evaluate.recovery.row_name`):

* ``one-bit-csgm`` with ``mnist-vae`` (:mod:`genprior.solvers.one_bit`: a logistic loss on normalised margins,
  10 restarts x 300 Adam steps, its defaults),
* ``biht`` (Jacques et al. 2013) keeping 50 coefficients in the Haar basis (its defaults) and ``biht basis=dct``,
* ``adjoint``, the one-step linear estimate ``A^T y`` (Plan & Vershynin 2013; no prior).

Signs keep only the direction, so the measure is the direction error ``||x_hat/||x_hat|| - x/||x|| ||^2`` (0 is
right, 2 orthogonal); the VAE's recoveries are also images in [0, 1] and get the error per pixel. The choices
of the solvers (``tau``, steps, sparsity, basis) were made on test images 300..339. Writes
results/one_bit_mnist.{json,md,png} and one_bit_mnist_grid.png (m = 200).

    python benchmarks/one_bit_mnist.py [--n-images 300] [--m 25 50 100 200 400 784]
    python benchmarks/one_bit_mnist.py --render-only     # rewrite the Markdown and the curves from the JSON
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
from common import (
    RESULTS,
    curve_table,
    named_rows,
    parser,
    rerender_curves,
    write_results,
)

from genprior import zoo
from genprior.data import load_dataset
from genprior.evaluate.metrics import direction_error, mse_per_pixel
from genprior.evaluate.recovery import method, run_method
from genprior.operators import Sign
from genprior.reports import cpu_name, save_curves, save_image_grid
from genprior.reports.tables import format_mean_ci

M_LIST = (25, 50, 100, 200, 400, 784)
GRID_M = 200
ROWS = named_rows([("one-bit-csgm", {}), ("biht", {"basis": "wavelet"}), ("biht", {"basis": "dct"}), ("adjoint", {})])


def main() -> int:
    a = parser(__doc__, n_images=300, m=M_LIST, data_dir=True, out=RESULTS / "one_bit_mnist", render_only=True).parse_args()
    if a.render_only:
        rerender_curves(a.out, markdown, curves_png)
        return 0
    torch.set_num_threads(1)
    x = load_dataset("mnist", "test", data_dir=a.data_dir).images[: a.n_images]
    vae = zoo.load("mnist-vae")
    curves: dict[str, list[dict]] = {}
    grid = {"truth": x[:10]}
    for m in a.m:
        op = Sign(m=m, seed=m)
        y = op.measure(x)
        for row, (name, options) in ROWS.items():
            with_prior = method(name).needs_generator
            res = run_method(name, x, op, y, generator=vae if with_prior else None, seed=0, progress=True, **options)
            x_hat = res.x.float().detach()
            err = direction_error(x_hat, x)
            point = {"m": m, "direction_error": float(err.mean()),
                     "direction_se": float(err.std(unbiased=True) / math.sqrt(len(err))),
                     "seconds_per_image": res.seconds / len(x)}
            if with_prior:  # G(z) is an image: its error per pixel too
                point["mse_per_pixel"] = float(mse_per_pixel(x_hat, x).mean())
            curves.setdefault(row, []).append(point)
            print(m, row, {k: round(v, 5) for k, v in point.items()}, flush=True)
            point.update(method=name, options=res.options)
            if m == GRID_M:  # G(z) as it is; the scale-free estimates at the truth's norm, clipped to [0, 1]
                shown = x_hat[:10]
                if not with_prior:
                    ratio = x[:10].flatten(1).norm(dim=1) / shown.flatten(1).norm(dim=1).clamp_min(1e-12)
                    shown = shown * ratio.view(-1, 1, 1, 1)
                grid[row] = shown.clamp(0, 1)
    out = Path(a.out)
    curves_png(out, curves, len(x))
    if GRID_M in a.m:
        save_image_grid(out.parent / f"{out.name}_grid.png", grid, title=f"one-bit CS, m = {GRID_M} signs")
    md = markdown(curves, len(x), cpu_name())
    write_results(out, {"curves": curves, "n_images": len(x), "cpu": cpu_name(), "threads": 1}, md)
    print(md)
    return 0


def curves_png(out: Path, curves: dict[str, list[dict]], n_images: int) -> None:
    """``OUT.png``: the direction-error-vs-m curves."""
    save_curves(out.with_suffix(".png"), curves, y="direction_error", err="direction_se",
                ylabel="direction error ||x̂/|x̂| - x/|x| ||²", title=f"one-bit CS on MNIST, first {n_images} test images")


def markdown(curves: dict[str, list[dict]], n_images: int, cpu: str) -> str:
    """The direction-error table (mean ± 1.96 s.e.), the error per pixel of the rows with a prior (images) and the
    seconds per image."""
    ms = sorted({pt["m"] for pts in curves.values() for pt in pts})
    vae = {f"{row}, error per pixel of G(z)": [pt for pt in pts if "mse_per_pixel" in pt] for row, pts in curves.items()
           if any("mse_per_pixel" in pt for pt in pts)}
    return "\n".join([
        "# One-bit compressed sensing on MNIST", "",
        (f"MNIST test images 0..{n_images - 1}; y = sign(A x), A_ij ~ N(0, 1/m), no noise. Mean direction error "
         "||x̂/||x̂|| - x/||x|| ||² ± 1.96 s.e. (0 is right, 2 orthogonal). Rows are `genprior recover --method` "
         "names with the options that differ from the method's defaults: `one-bit-csgm` with `mnist-vae`, `biht` "
         "keeping 50 Haar coefficients (`basis=dct`: DCT), `adjoint` the linear estimate A^T y. Solver choices made "
         f"on test images 300..339. One thread of {cpu}."), "",
        curve_table(curves, ms, lambda pt: format_mean_ci(pt["direction_error"], 1.96 * pt["direction_se"])), "",
        ("The VAE's recoveries are images: their error per pixel, scale included (the signs do not carry it; the "
        "generator's range does):"), "",
        curve_table(vae, ms, lambda pt: pt["mse_per_pixel"]), "",
        "## Seconds per image", "",
        curve_table(curves, ms, lambda pt: pt["seconds_per_image"]), "",
        ("Pictures: `one_bit_mnist.png` (curves), `one_bit_mnist_grid.png` (m = 200; G(z) as it is, the scale-free "
        "estimates at the truth's norm)."), ""])


if __name__ == "__main__":
    sys.exit(main())
