"""Phase retrieval on MNIST: recover images from the magnitudes ``|A x| + noise`` of Gaussian measurements.

The real-valued phase retrieval of the CSGM deck's nonlinear measurements (Hand, Leong & Voroninski 2018 study it
with generative priors): ``Magnitude(m, seed=m)``, ``A_ij ~ N(0, 1/m)``, noise sigma = 0.1 as in the CS protocol,
first 100 MNIST test images. Methods, by ``genprior recover``'s runner
(:func:`genprior.evaluate.recovery.run_method`) with their defaults, rows named by
:func:`~genprior.evaluate.recovery.row_name`:

* ``csgm`` (the CSGM protocol: 10 restarts x 1000 Adam steps at 0.01) and ``csgm-fast`` with ``mnist-vae``,
* ``hybrid model=mnist-vae`` (``G(z) + v``: the restart-averaged ``G(z)``, then a sparse correction fitted to the
  magnitudes by amplitude flow; :mod:`genprior.solvers.hybrid`),
* ``dip``, the Deep Image Prior (no learned prior; the only baseline here, since without a prior real phase
  retrieval needs several times n measurements),
* and, as the reference of what the lost signs cost, ``csgm-fast task=cs``: ``csgm-fast`` on the same m
  real-valued measurements ``A x + noise`` (``genprior recover --task cs``).

Writes results/phase_mnist.{json,md,png} and phase_mnist_grid.png (m = 200).

    python benchmarks/phase_mnist.py [--n-images 100] [--m 50 100 200 400 784]
    python benchmarks/phase_mnist.py --render-only       # rewrite the Markdown and the curves from the JSON
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from common import RESULTS, curve_table, parser, rerender_curves, write_results

from genprior import zoo
from genprior.data import load_dataset
from genprior.evaluate.recovery import method, row_name, run_method
from genprior.operators import Gaussian, Magnitude
from genprior.reports import cpu_name, save_curves, save_image_grid
from genprior.reports.tables import format_mean_ci, format_value

M_LIST = (50, 100, 200, 400, 784)
GRID_M = 200
SIGMA = 0.1
MODEL = "mnist-vae"  # the prior of every row with one
# row name (the registry's, the model named where it is not the method's default; " task=cs" on the signed
# measurements) -> (method, operator class)
ROWS = {row_name(name, model=MODEL if method(name).needs_generator else None) + suffix: (name, kind)
        for name, kind, suffix in (("csgm", Magnitude, ""), ("csgm-fast", Magnitude, ""), ("hybrid", Magnitude, ""),
                                   ("dip", Magnitude, ""), ("csgm-fast", Gaussian, " task=cs"))}


def main() -> int:
    a = parser(__doc__, n_images=100, m=M_LIST, data_dir=True, out=RESULTS / "phase_mnist", render_only=True).parse_args()
    if a.render_only:
        rerender_curves(a.out, markdown, curves_png)
        return 0
    torch.set_num_threads(1)
    x = load_dataset("mnist", "test", data_dir=a.data_dir).images[: a.n_images]
    vae = zoo.load(MODEL)
    curves: dict[str, list[dict]] = {}
    grid = {"truth": x[:10]}
    for m in a.m:
        for row, (name, kind) in ROWS.items():
            op = kind(m=m, noise_std=SIGMA, seed=m)
            y = op.measure(x, seed=1)
            res = run_method(name, x, op, y, generator=vae if method(name).needs_generator else None, seed=2,
                             progress=True)
            point = {"m": m, **res.metrics, "seconds_per_image": res.seconds / len(x), "method": name,
                     "options": res.options}
            curves.setdefault(row, []).append(point)
            print(m, row, {k: round(v, 5) for k, v in point.items() if isinstance(v, float)}, flush=True)
            if m == GRID_M:
                grid[row] = res.x[:10]
    out = Path(a.out)
    curves_png(out, curves, len(x))
    if GRID_M in a.m:
        save_image_grid(out.parent / f"{out.name}_grid.png", grid, title=f"phase retrieval, m = {GRID_M} magnitudes")
    md = markdown(curves, len(x), cpu_name())
    write_results(out, {"curves": curves, "n_images": len(x), "sigma": SIGMA, "cpu": cpu_name(), "threads": 1}, md)
    print(md)
    return 0


def curves_png(out: Path, curves: dict[str, list[dict]], n_images: int) -> None:
    """``OUT.png``: the error-vs-m curves."""
    save_curves(out.with_suffix(".png"), curves, title=f"MNIST phase retrieval, {n_images} test images, sigma = {SIGMA}")


def markdown(curves: dict[str, list[dict]], n_images: int, cpu: str) -> str:
    """The error table (mean ± 1.96 s.e. per row and m) and the seconds per image."""
    ms = sorted({pt["m"] for pts in curves.values() for pt in pts})
    return "\n".join([
        "# Phase retrieval on MNIST: error per pixel vs m", "",
        (f"MNIST test images 0..{n_images - 1}; y = |A x| + noise, A_ij ~ N(0, 1/m), sigma = {SIGMA} "
         "(sqrt(E||eta||^2)); the last row (`task=cs`) measures A x + noise instead (compressed sensing: what the "
         "signs are worth). Rows are `genprior recover --method` names with the options that differ from the "
         f"method's defaults; every prior is `{MODEL}`. Mean ± 1.96 s.e. One thread of {cpu}."), "",
        curve_table(curves, ms, lambda pt: format_mean_ci(pt["mse_per_pixel"], 1.96 * pt["mse_se"])), "",
        "## Seconds per image", "",
        curve_table(curves, ms, lambda pt: format_value(pt["seconds_per_image"], 3)), "",
        "Pictures: `phase_mnist.png` (curves), `phase_mnist_grid.png` (m = 200).", ""])


if __name__ == "__main__":
    sys.exit(main())
