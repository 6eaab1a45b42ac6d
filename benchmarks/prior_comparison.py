"""Zoo generators as compressed-sensing priors: `mnist-vae` vs `mnist-dcgan` at m in {25, 100, 400} (issue #4).

First 100 MNIST test images, Gaussian A_ij ~ N(0, 1/m), sigma = 0.1 (CSGM convention), lambda = 0.
Both priors run through the same methods of the registry: `csgm-fast` with its defaults (40 starts screened to 12,
short Adam, Levenberg-Marquardt), and `csgm` (the paper's schedule: 1000 Adam steps, 10 restarts) unless
--fast-only. Writes results/prior_comparison.{json,md,png}.

    python benchmarks/prior_comparison.py [--models mnist-vae mnist-dcgan] [--m 25 100 400] [--fast-only]
    python benchmarks/prior_comparison.py --render-only     # rewrite the Markdown from the JSON
"""

from __future__ import annotations

from pathlib import Path

from common import RESULTS, parser, rerender, write_results

from genprior import zoo
from genprior.data import load_dataset
from genprior.evaluate.recovery import run_method
from genprior.operators import Gaussian
from genprior.reports import markdown_table, save_image_grid

GRID = ("csgm-fast", 100)  # the method and m drawn in the picture


def main() -> None:
    p = parser(__doc__, n_images=100, m=[25, 100, 400], data_dir=True, out=RESULTS / "prior_comparison",
               render_only=True)
    p.add_argument("--models", nargs="+", default=["mnist-vae", "mnist-dcgan"])
    p.add_argument("--fast-only", action="store_true")
    args = p.parse_args()
    if args.render_only:
        rerender(args.out, lambda data: markdown(data["rows"]))
        return
    images = load_dataset("mnist", "test", data_dir=args.data_dir).images[: args.n_images]
    methods = ["csgm-fast"] + ([] if args.fast_only else ["csgm"])
    rows, grids = [], {}
    for m in args.m:
        op = Gaussian(m=m, shape=(1, 28, 28), noise_std=0.1, seed=m)
        y = op.measure(images, seed=1)
        for model in args.models:
            g = zoo.load(model)
            for name in methods:
                res = run_method(name, images, op, y, generator=g, seed=2)
                rows.append({"model": model, "method": name, "m": m, **res.metrics, "seconds": res.seconds,
                             "options": res.options})
                print(rows[-1], flush=True)
                if (name, m) == GRID:
                    grids[model] = res.x
    md = markdown(rows)
    write_results(args.out, {"rows": rows}, md)
    save_image_grid(Path(args.out).with_suffix(".png"), {"truth": images, **grids}, title=f"m = {GRID[1]}, {GRID[0]}")
    print(md)


def markdown(rows: list[dict]) -> str:
    """The table: one row per model, method and m."""
    n_images = rows[0]["n_images"] if rows else 0
    return ("# Zoo generators as compressed-sensing priors\n\n"
            f"First {n_images} MNIST test images, sigma = 0.1, lambda = 0; `csgm-fast` with its defaults (40 starts "
            "screened to 12), `csgm` with its defaults (1000 Adam steps and 10 restarts).\n\n"
            + markdown_table(rows, ["model", "method", "m", "mse_per_pixel", "mse_se", "psnr", "ssim", "seconds"]))


if __name__ == "__main__":
    main()
