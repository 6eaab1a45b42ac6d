"""Phase retrieval on MNIST: recover images from the magnitudes ``|A x| + noise`` of Gaussian measurements.

The real-valued phase retrieval of the CSGM deck's nonlinear measurements (Hand, Leong & Voroninski 2018 study it
with generative priors): ``Magnitude(m, seed=m)``, ``A_ij ~ N(0, 1/m)``, noise sigma = 0.1 as in the CS protocol,
first 100 MNIST test images. Methods, by ``genprior recover``'s runner
(:func:`genprior.evaluate.recovery.run_method`) with their defaults:

* ``csgm`` (the CSGM protocol: 10 restarts x 1000 Adam steps at 0.01) and ``csgm-fast`` with ``mnist-vae``,
* ``hybrid`` with ``mnist-vae`` (``G(z) + v``: the restart-averaged ``G(z)``, then a sparse correction fitted to the
  magnitudes by amplitude flow; :mod:`genprior.solvers.hybrid`),
* ``dip``, the Deep Image Prior (no learned prior; the only baseline here, since without a prior real phase
  retrieval needs several times n measurements),
* and, as the reference of what the lost signs cost, ``csgm-fast`` on the same m real-valued measurements
  ``A x + noise`` (the CS task).

Writes results/phase_mnist.{json,md,png} and phase_mnist_grid.png (m = 200).

    python benchmarks/phase_mnist.py [--n-images 100] [--m 50 100 200 400 784]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from mnist_curves import curve_options, curve_table, first_test_images

from genprior import zoo
from genprior.evaluate.recovery import run_method
from genprior.operators import Gaussian, Magnitude
from genprior.reports import (
    cpu_name,
    save_curves,
    save_image_grid,
    write_report,
)

RESULTS = Path(__file__).resolve().parent / "results"
M_LIST = (50, 100, 200, 400, 784)
GRID_M = 200
SIGMA = 0.1
ROWS = {  # label -> (method, operator class)
    "csgm (mnist-vae), magnitudes": ("csgm", Magnitude),
    "csgm-fast (mnist-vae), magnitudes": ("csgm-fast", Magnitude),
    "hybrid (mnist-vae), magnitudes": ("hybrid", Magnitude),
    "dip (no learned prior), magnitudes": ("dip", Magnitude),
    "csgm-fast (mnist-vae), signed Ax (CS)": ("csgm-fast", Gaussian),
}


def main() -> int:
    a = curve_options(__doc__, n_images=100, m_list=M_LIST, out=RESULTS / "phase_mnist")
    torch.set_num_threads(1)
    x = first_test_images(a)
    vae = zoo.load("mnist-vae")
    curves: dict[str, list[dict]] = {}
    grid = {"truth": x[:10]}
    for m in a.m:
        for label, (method, kind) in ROWS.items():
            op = kind(m=m, noise_std=SIGMA, seed=m)
            y = op.measure(x, seed=1)
            res = run_method(method, x, op, y, generator=None if method == "dip" else vae, seed=2, progress=True)
            point = {"m": m, **res.metrics, "seconds_per_image": res.seconds / len(x)}
            curves.setdefault(label, []).append(point)
            print(m, label, {k: round(v, 5) for k, v in point.items() if isinstance(v, float)}, flush=True)
            if m == GRID_M:
                grid[label.split(",")[0] + ("" if kind is Magnitude else ", CS")] = res.x[:10]
    out = Path(a.out)
    save_curves(out.with_suffix(".png"), curves, title=f"MNIST phase retrieval, {len(x)} test images, sigma = {SIGMA}")
    if GRID_M in a.m:
        save_image_grid(out.parent / f"{out.name}_grid.png", grid, title=f"phase retrieval, m = {GRID_M} magnitudes")
    md = "\n".join([
        "# Phase retrieval on MNIST: error per pixel vs m", "",
        (f"MNIST test images 0..{len(x) - 1}; y = |A x| + noise, A_ij ~ N(0, 1/m), sigma = {SIGMA} "
         "(sqrt(E||eta||^2)); the last row measures A x + noise instead (compressed sensing: what the signs are "
         f"worth). Mean ± 1.96 s.e. One thread of {cpu_name()}; `python benchmarks/phase_mnist.py`."), "",
        curve_table(curves, a.m, lambda pt: f"{pt['mse_per_pixel']:.4f} ± {1.96 * pt['mse_se']:.4f}"), "",
        "## Seconds per image", "",
        curve_table(curves, a.m, lambda pt: f"{pt['seconds_per_image']:.3f}"), "",
        "Pictures: `phase_mnist.png` (curves), `phase_mnist_grid.png` (m = 200).", ""])
    write_report(out, {"curves": curves, "n_images": len(x), "sigma": SIGMA, "cpu": cpu_name(), "threads": 1}, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
