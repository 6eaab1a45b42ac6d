"""Time to quality, measured fairly: the CSGM paper's schedule and ``csgm_fast`` timed in one process, on the
same images, the same measurements and the same machine state, one m after the other.

The CSGM curve in ``csgm_mnist.md`` records each method's seconds when its cells were computed, which on a
shared machine can be hours and several load levels apart; this script gives the speed-up figure to quote.
By default it runs on the benchmark's 300 images (MNIST test 0..299, the same operators and noise), so its errors
are those of the csgm_mnist table; each error ratio comes with a 95 % paired bootstrap interval over the images,
which says how finely 300 images can resolve it.

    python benchmarks/time_to_quality.py [--m 10 50 100 200 750] [--n-images 300] [--first-image 0]

Writes ``benchmarks/results/time_to_quality.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from genprior import zoo
from genprior.data import load_dataset
from genprior.devices import pick_device
from genprior.evaluate import mse_per_pixel, ratio_of_means_ci
from genprior.io import atomic_write_text, write_json
from genprior.operators import Gaussian
from genprior.reports import cpu_name, markdown_table
from genprior.solvers import csgm, csgm_fast

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--m", type=int, nargs="+", default=[10, 50, 100, 200, 750])
    p.add_argument("--n-images", type=int, default=300)
    p.add_argument("--first-image", type=int, default=0, help="MNIST test images first-image .. first-image+n-images-1")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=str(RESULTS / "time_to_quality"))
    a = p.parse_args()
    torch.set_num_threads(1)
    device = str(pick_device("auto"))  # the solvers run where the generator is
    G = zoo.load("mnist-vae").to(device)
    x = load_dataset("mnist", "test", data_dir=a.data_dir).images[a.first_image: a.first_image + a.n_images]
    csgm_fast(G, Gaussian(m=10, shape=(1, 28, 28), noise_std=0.1, seed=0), torch.zeros(2, 10), restarts=2)  # warm-up
    rows = []
    for m in a.m:
        op = Gaussian(m=m, shape=(1, 28, 28), noise_std=0.1, seed=m)  # measured on the CPU, solved on `device`
        y = op.measure(x, seed=1000 + m + 1)  # the csgm_mnist protocol's operator and noise for this m
        row = {"m": m, "images": len(x)}
        errors = {}
        for name, solve, options in (("paper", csgm, {"restarts": 10, "steps": 1000, "lr": 0.01}), ("fast", csgm_fast, {})):
            t0 = time.perf_counter()
            x_hat = solve(G, op, y, seed=1000 + m + 2, **options).x.cpu()  # .cpu() waits for a GPU
            row[f"seconds_{name}"] = time.perf_counter() - t0
            errors[name] = mse_per_pixel(x_hat, x)
            row[f"mse_{name}"] = float(errors[name].double().mean())
        row["error_ratio"] = row["mse_fast"] / row["mse_paper"]
        row["ratio_ci_low"], row["ratio_ci_high"] = ratio_of_means_ci(errors["fast"], errors["paper"])
        row["speed_up"] = row["seconds_paper"] / row["seconds_fast"]
        rows.append(row)
        print({k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    meta = {"machine": f"{cpu_name()}, torch {torch.__version__}, " + (
        torch.cuda.get_device_name() if device == "cuda" else "1 thread"),
            "load_average_at_end": load, "images": f"MNIST test {a.first_image}..{a.first_image + a.n_images - 1}",
            "paper": "Adam lr 0.01, 1000 steps, 10 restarts", "fast": "csgm_fast defaults (40 starts, 8 Adam steps, best 12 go on for 16 decaying steps, "
                    "best 3 get 6 Levenberg-Marquardt steps)"}
    write_json(Path(a.out).with_suffix(".json"), {"rows": rows, "meta": meta})
    md = ("# Time to quality: paper schedule vs `csgm_fast`, timed in one process\n\n"
          f"{meta['images']}, sigma = 0.1, the csgm_mnist protocol's operators; {meta['machine']}; "
          f"load average {load:.1f} at the end (2 cores). `ratio_ci_low` / `ratio_ci_high`: 95 % paired bootstrap "
          "interval of the error ratio over the images (the same images and measurements for both).\n\n"
          + markdown_table(rows, ["m", "images", "mse_paper", "mse_fast", "error_ratio", "ratio_ci_low",
                                  "ratio_ci_high", "seconds_paper", "seconds_fast",
                                  "speed_up"]))
    atomic_write_text(Path(a.out).with_suffix(".md"), md)
    print(md)


if __name__ == "__main__":
    main()
