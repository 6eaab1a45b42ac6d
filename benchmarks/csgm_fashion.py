"""Compressed sensing on Fashion-MNIST: does the MNIST picture (a VAE prior ahead at small m, Lasso at large m) hold
on images with texture and grey levels?

The CSGM protocol of ``benchmarks/csgm_mnist.py`` (its runner, ``run_setting``: Gaussian ``A_ij ~ N(0, 1/m)``,
operator seed m, noise sigma = 0.1) on the first 200 Fashion-MNIST test images, with the zoo's
``fashion-mnist-vae`` (the CSGM architecture trained on Fashion-MNIST) as the prior: CSGM (10 restarts x 1000 Adam
steps at 0.01), ``csgm-fast``, the hybrid ``x = G(z) + v`` with that one VAE, and the Lasso in the pixel, DCT and
Haar bases with its alpha tuned on test images 300..399 and the [0, 1] box. Writes
results/csgm_fashion.{json,md,png} and csgm_fashion_grid.png (m = 100).

    python benchmarks/csgm_fashion.py [--n-images 200] [--m 10 25 50 100 200 500 750]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from csgm_mnist import run_setting
from mnist_curves import curve_options, curve_table

from genprior import zoo
from genprior.data import load_dataset
from genprior.operators import Gaussian
from genprior.reports import (
    cpu_name,
    markdown_table,
    save_curves,
    save_image_grid,
    write_report,
)

RESULTS = Path(__file__).resolve().parent / "results"
M_LIST = (10, 25, 50, 100, 200, 500, 750)
METHODS = ("CSGM-VAE", "CSGM-VAE fast", "Hybrid one VAE", "Lasso pixel tuned", "Lasso dct tuned", "Lasso wavelet tuned")
MODEL = "fashion-mnist-vae"
GRID_M = 100


def main() -> int:
    a = curve_options(__doc__, n_images=200, m_list=M_LIST, out=RESULTS / "csgm_fashion")
    torch.set_num_threads(1)
    test = load_dataset("fashion-mnist", "test", data_dir=a.data_dir).images
    images, holdout = test[: a.n_images], test[300:400]
    runner = argparse.Namespace(generator=zoo.load(MODEL), restarts=10, steps=1000, progress=False)
    curves: dict[str, list[dict]] = {}
    grid = {}
    for m in a.m:
        op = Gaussian(m=m, shape=tuple(images.shape[1:]), noise_std=0.1, seed=m)
        rows, recs, _ = run_setting(op, images, holdout, methods=METHODS, args=runner, seed=1000 + m)
        for method, row in rows.items():
            curves.setdefault(method, []).append(row)
        if m == GRID_M:
            grid = {"truth": images[:10], **{k: v[:10] for k, v in recs.items()}}
    out = Path(a.out)
    save_curves(out.with_suffix(".png"), curves, title=f"Fashion-MNIST compressed sensing, {len(images)} test images, "
                                                        "sigma = 0.1")
    if grid:
        save_image_grid(out.parent / f"{out.name}_grid.png", grid, title=f"Fashion-MNIST, m = {GRID_M}")
    cols = ["method", *[f"m={m}" for m in a.m]]

    best = {}
    for m in a.m:
        at_m = {k: next(p for p in pts if p["m"] == m)["mse_per_pixel"] for k, pts in curves.items()}
        best[f"m={m}"] = min(at_m, key=at_m.get)
    md = "\n".join([
        "# Compressed sensing on Fashion-MNIST: error per pixel vs m", "",
        (f"Fashion-MNIST test images 0..{len(images) - 1}, sigma = 0.1, prior `{MODEL}`; CSGM Adam lr 0.01 x 1000 "
         "steps x 10 restarts; Lasso alpha tuned on test images 300..399 ([0, 1] box). Mean ± 1.96 s.e. One thread "
         f"of {cpu_name()}; `python benchmarks/csgm_fashion.py`."), "",
        curve_table(curves, a.m, lambda p: f"{p['mse_per_pixel']:.4f} ± {1.96 * p['mse_se']:.4f}"), "",
        markdown_table([{"method": "lowest", **best}], cols), "",
        "## Seconds per image", "",
        curve_table(curves, a.m, lambda p: f"{p['seconds_per_image']:.3f}"), "",
        "Pictures: `csgm_fashion.png` (curves), `csgm_fashion_grid.png` (m = 100).", ""])
    write_report(out, {"curves": curves, "model": MODEL, "n_images": len(images), "cpu": cpu_name(), "threads": 1}, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
