"""Compressed sensing on Fashion-MNIST: does the MNIST picture (a VAE prior ahead at small m, Lasso at large m) hold
on images with texture and grey levels?

The CSGM protocol of ``benchmarks/csgm_mnist.py`` (its runner, ``run_setting``: Gaussian ``A_ij ~ N(0, 1/m)``,
operator seed m, noise sigma = 0.1) on the first 200 Fashion-MNIST test images, with the zoo's
``fashion-mnist-vae`` (the CSGM architecture trained on Fashion-MNIST) as the prior. Rows, by their registry names
(:func:`genprior.evaluate.recovery.row_name`): ``csgm`` (10 restarts x 1000 Adam steps at 0.01), ``csgm-fast`` and
``hybrid`` (``x = G(z) + v``), each with ``model=fashion-mnist-vae``, and ``lasso-pixel``, ``lasso-dct`` and
``lasso-wavelet`` with ``alpha=auto`` (tuned on test images 300..399, inside the [0, 1] box). Writes
results/csgm_fashion.{json,md,png} and csgm_fashion_grid.png (m = 100).

    python benchmarks/csgm_fashion.py [--n-images 200] [--m 10 25 50 100 200 500 750]
    python benchmarks/csgm_fashion.py --render-only      # rewrite the Markdown and the curves from the JSON

``--n-images`` is at most 300 (the Lasso's alpha is chosen on the held-out images 300..399; a larger value is
refused).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from common import (
    RESULTS,
    curve_table,
    named_rows,
    parser,
    refuse_held_out,
    rerender_curves,
    write_results,
)
from csgm_mnist import run_setting

from genprior.data import load_dataset
from genprior.evaluate.recovery import AUTO
from genprior.operators import Gaussian
from genprior.reports import cpu_name, markdown_table, save_curves, save_image_grid
from genprior.reports.tables import format_mean_ci, format_value

M_LIST = (10, 25, 50, 100, 200, 500, 750)
MODEL = "fashion-mnist-vae"
ROWS = named_rows([("csgm", {"model": MODEL}), ("csgm-fast", {"model": MODEL}), ("hybrid", {"model": MODEL}),
                   *((f"lasso-{basis}", {"alpha": AUTO}) for basis in ("pixel", "dct", "wavelet"))])
GRID_M = 100


def main() -> int:
    p = parser(__doc__, n_images=200, m=M_LIST, data_dir=True, out=RESULTS / "csgm_fashion", render_only=True)
    a = p.parse_args()
    refuse_held_out(p, a.n_images)
    if a.render_only:
        rerender_curves(a.out, markdown, curves_png)
        return 0
    torch.set_num_threads(1)
    test = load_dataset("fashion-mnist", "test", data_dir=a.data_dir).images
    images, holdout = test[: a.n_images], test[300:400]
    runner = argparse.Namespace(device=torch.device("cpu"), generators={}, progress=False)
    curves: dict[str, list[dict]] = {}
    grid = {}
    for m in a.m:
        op = Gaussian(m=m, shape=tuple(images.shape[1:]), noise_std=0.1, seed=m)
        points, recs, _ = run_setting(op, images, holdout, rows=ROWS, args=runner, seed=1000 + m)
        for row, point in points.items():
            curves.setdefault(row, []).append(point)
        if m == GRID_M:
            grid = {"truth": images[:10], **{k: v[:10] for k, v in recs.items()}}
    out = Path(a.out)
    curves_png(out, curves, len(images))
    if grid:
        save_image_grid(out.parent / f"{out.name}_grid.png", grid, title=f"Fashion-MNIST, m = {GRID_M}")
    md = markdown(curves, len(images), cpu_name())
    write_results(out, {"curves": curves, "model": MODEL, "n_images": len(images), "cpu": cpu_name(), "threads": 1}, md)
    print(md)
    return 0


def curves_png(out: Path, curves: dict[str, list[dict]], n_images: int) -> None:
    """``OUT.png``: the error-vs-m curves."""
    save_curves(out.with_suffix(".png"), curves, title=f"Fashion-MNIST compressed sensing, {n_images} test images, "
                                                        "sigma = 0.1")


def markdown(curves: dict[str, list[dict]], n_images: int, cpu: str) -> str:
    """The error table (mean ± 1.96 s.e. per method and m), the lowest method per m and the seconds per image."""
    ms = sorted({pt["m"] for pts in curves.values() for pt in pts})
    best = {}
    for m in ms:
        at_m = {k: pt["mse_per_pixel"] for k, pts in curves.items() for pt in pts if pt["m"] == m}
        best[f"m={m}"] = min(at_m, key=at_m.get)
    return "\n".join([
        "# Compressed sensing on Fashion-MNIST: error per pixel vs m", "",
        (f"Fashion-MNIST test images 0..{n_images - 1}, sigma = 0.1, prior `{MODEL}`. Rows are `genprior recover "
         "--method` names with the options that differ from the method's defaults: `csgm` is Adam lr 0.01 x 1000 "
         "steps x 10 restarts; `alpha=auto`: the Lasso's alpha tuned on test images 300..399 ([0, 1] box). Mean ± "
         f"1.96 s.e. One thread of {cpu}."), "",
        curve_table(curves, ms, lambda pt: format_mean_ci(pt["mse_per_pixel"], 1.96 * pt["mse_se"])), "",
        markdown_table([{"method": "lowest", **best}], ["method", *[f"m={m}" for m in ms]]), "",
        "## Seconds per image", "",
        curve_table(curves, ms, lambda pt: format_value(pt["seconds_per_image"], 3)), "",
        "Pictures: `csgm_fashion.png` (curves), `csgm_fashion_grid.png` (m = 100).", ""])


if __name__ == "__main__":
    sys.exit(main())
