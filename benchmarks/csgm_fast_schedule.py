"""How ``csgm_fast`` spends its Adam budget, measured on held-out images: successive halving (its default) against
the single-stage search it replaced, both against the registry's ``csgm`` (the CSGM paper's 1000-step schedule).

- ``screened``: ``csgm_fast`` defaults: 40 starts x 8 Adam steps, the best 12 go on for 16 decaying steps
  (512 latent-steps per image), then the best 3 get 6 Levenberg-Marquardt steps.
- ``single-stage``: ``csgm_fast(restarts=10, screen_steps=0, steps=60)``: 10 starts x 60 decaying steps
  (600 latent-steps per image), the same keep and Levenberg-Marquardt.
- ``csgm``: the registry's method with its defaults, Adam lr 0.01 x 1000 steps x 10 restarts (one run, the
  protocol's restart seed).

The images are MNIST test 500..799 by default: outside the benchmark's 0..299, the held-out 300..499 on which
the shrinkage rule was chosen, and the robustness benchmark's 1000..1199; this is where the screening was chosen.
Operators and noise follow the csgm_mnist protocol (``Gaussian(m, seed=m)``, ``y = op.measure(x, seed=1000+m+1)``);
each fast variant runs with several restart seeds, because at m = 50 the spread between seeds (about 3 %) is as
large as the differences being measured.

    python benchmarks/csgm_fast_schedule.py [--m 10 25 50 100 200 750] [--seeds 4]
    python benchmarks/csgm_fast_schedule.py --render-only     # rewrite the Markdown from the JSON

Writes ``benchmarks/results/csgm_fast_schedule.{json,md}``.
"""

from __future__ import annotations

import statistics
import time

import torch
from common import RESULTS, parser, rerender, write_results

from genprior import zoo
from genprior.data import load_dataset
from genprior.evaluate import mse_per_pixel
from genprior.evaluate.recovery import run_method
from genprior.operators import Gaussian
from genprior.reports import markdown_table
from genprior.solvers import csgm_fast

VARIANTS = {"screened": {}, "single-stage": {"restarts": 10, "screen_steps": 0, "steps": 60}}


def main() -> None:
    p = parser(__doc__, n_images=300, m=[10, 25, 50, 100, 200, 750], data_dir=True, out=RESULTS / "csgm_fast_schedule",
               render_only=True)
    p.add_argument("--first-image", type=int, default=500, help="MNIST test images first-image .. "
                   "first-image+n-images-1 (default %(default)s)")
    p.add_argument("--seeds", type=int, default=4, help="restart seeds per fast variant")
    a = p.parse_args()
    if a.render_only:
        rerender(a.out, lambda data: markdown(data["rows"], data["images"], data["n_images"]))
        return
    torch.set_num_threads(1)
    G = zoo.load("mnist-vae")
    x = load_dataset("mnist", "test", data_dir=a.data_dir).images[a.first_image: a.first_image + a.n_images]
    rows = []
    for m in a.m:
        op = Gaussian(m=m, shape=(1, 28, 28), noise_std=0.1, seed=m)
        y = op.measure(x, seed=1000 + m + 1)
        res = run_method("csgm", x, op, y, generator=G, seed=1000 + m + 2)
        paper = float(mse_per_pixel(res.x, x).mean())
        row = {"m": m, "mse_csgm": paper, "seconds_csgm": res.seconds}
        for name, options in VARIANTS.items():
            ratios, seconds = [], []
            for s in range(a.seeds):
                t0 = time.perf_counter()
                x_hat = csgm_fast(G, op, y, seed=1000 + m + 2 + s, **options).x
                seconds.append(time.perf_counter() - t0)
                ratios.append(float(mse_per_pixel(x_hat, x).mean()) / paper)
            row[f"ratio_{name}"] = statistics.mean(ratios)
            row[f"ratio_{name}_seeds"] = ratios
            row[f"seconds_{name}"] = statistics.median(seconds)
        rows.append(row)
        print({k: v for k, v in row.items() if not k.endswith("_seeds")}, flush=True)
    images = f"MNIST test {a.first_image}..{a.first_image + a.n_images - 1}"
    md = markdown(rows, images, len(x))
    write_results(a.out, {"rows": rows, "images": images, "n_images": len(x), "variants": VARIANTS}, md)
    print(md)


def markdown(rows: list[dict], images: str, n_images: int) -> str:
    """The table: per m, csgm's error and each variant's ratio to it (averaged over restart seeds), and their
    seconds."""
    seeds = len(rows[0][f"ratio_{next(iter(VARIANTS))}_seeds"]) if rows else 0
    return ("# `csgm_fast`: successive halving against the single-stage search\n\n"
            f"{images} (held out), sigma = 0.1, the csgm_mnist protocol's operators; 1 thread. `ratio_*`: mean error "
            f"per pixel over `csgm`'s (the paper schedule), averaged over {seeds} restart seeds; `seconds_*`: "
            f"median per run of {n_images} images. screened = `csgm_fast` defaults (40 starts x 8 Adam steps, best 12 "
            "x 16 decaying steps, best 3 x 6 Levenberg-Marquardt); single-stage = 10 starts x 60 decaying steps, the "
            "same keep and Levenberg-Marquardt.\n\n"
            + markdown_table(rows, ["m", "mse_csgm", "ratio_screened", "ratio_single-stage", "seconds_csgm",
                                    "seconds_screened", "seconds_single-stage"]))


if __name__ == "__main__":
    main()
