"""Time to quality, measured fairly: the registry's ``csgm`` (the CSGM paper's schedule) and ``csgm-fast`` timed in
one process, on the same images, the same measurements and the same machine state, one m after the other.

The CSGM curve in ``csgm_mnist.md`` records each method's seconds when its cells were computed, which on a
shared machine can be hours and several load levels apart; this script gives the speed-up figure to quote.
By default it runs on the benchmark's 300 images (MNIST test 0..299, the same operators and noise), so its errors
are those of the csgm_mnist table; each error ratio comes with a 95 % paired bootstrap interval over the images,
which says how finely 300 images can resolve it.

    python benchmarks/time_to_quality.py [--m 10 50 100 200 750] [--n-images 300] [--first-image 0]
    python benchmarks/time_to_quality.py --render-only     # rewrite the Markdown from the JSON

Writes ``benchmarks/results/time_to_quality.{json,md}``.
"""

from __future__ import annotations

import os

import torch
from common import RESULTS, parser, rerender, write_results

from genprior import zoo
from genprior.data import load_dataset
from genprior.devices import pick_device
from genprior.evaluate import mse_per_pixel, ratio_of_means_ci
from genprior.evaluate.recovery import method, run_method
from genprior.operators import Gaussian
from genprior.reports import cpu_name, markdown_table

SLOW, FAST = "csgm", "csgm-fast"  # the registry's methods, with their defaults


def main() -> None:
    p = parser(__doc__, n_images=300, m=[10, 50, 100, 200, 750], data_dir=True, out=RESULTS / "time_to_quality",
               render_only=True)
    p.add_argument("--first-image", type=int, default=0, help="MNIST test images first-image .. first-image+n-images-1")
    a = p.parse_args()
    if a.render_only:
        rerender(a.out, lambda data: markdown(data["rows"], data["meta"]))
        return
    torch.set_num_threads(1)
    device = str(pick_device("auto"))  # the solvers run where the generator is
    G = zoo.load("mnist-vae").to(device)
    x = load_dataset("mnist", "test", data_dir=a.data_dir).images[a.first_image: a.first_image + a.n_images]
    warm = Gaussian(m=10, shape=(1, 28, 28), noise_std=0.1, seed=0)
    run_method(FAST, x[:2], warm, torch.zeros(2, 10), generator=G, restarts=2)  # warm-up
    rows = []
    for m in a.m:
        op = Gaussian(m=m, shape=(1, 28, 28), noise_std=0.1, seed=m)  # measured on the CPU, solved on `device`
        y = op.measure(x, seed=1000 + m + 1)  # the csgm_mnist protocol's operator and noise for this m
        row = {"m": m, "images": len(x)}
        errors = {}
        for name in (SLOW, FAST):
            res = run_method(name, x, op, y, generator=G, seed=1000 + m + 2)
            row[f"seconds_{name}"] = res.seconds
            errors[name] = mse_per_pixel(res.x.cpu(), x)
            row[f"mse_{name}"] = float(errors[name].double().mean())
        row["error_ratio"] = row[f"mse_{FAST}"] / row[f"mse_{SLOW}"]
        row["ratio_ci_low"], row["ratio_ci_high"] = ratio_of_means_ci(errors[FAST], errors[SLOW])
        row["speed_up"] = row[f"seconds_{SLOW}"] / row[f"seconds_{FAST}"]
        rows.append(row)
        print({k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    meta = {"machine": f"{cpu_name()}, torch {torch.__version__}, " + (
        torch.cuda.get_device_name() if device == "cuda" else "1 thread"),
            "load_average_at_end": load, "images": f"MNIST test {a.first_image}..{a.first_image + a.n_images - 1}",
            SLOW: "its defaults: Adam lr {lr}, {steps} steps, {restarts} restarts".format(**method(SLOW).settings()),
            FAST: "its defaults (40 starts, 8 Adam steps, best 12 go on for 16 decaying steps, best 3 get 6 "
                  "Levenberg-Marquardt steps)"}
    md = markdown(rows, meta)
    write_results(a.out, {"rows": rows, "meta": meta}, md, device=device)
    print(md)


def markdown(rows: list[dict], meta: dict) -> str:
    """The table of errors, their ratio with its interval, and the seconds of both methods, m by m."""
    return (f"# Time to quality: `{SLOW}` (the paper's schedule) vs `{FAST}`, timed in one process\n\n"
            f"{meta['images']}, sigma = 0.1, the csgm_mnist protocol's operators; {meta['machine']}; "
            f"load average {meta['load_average_at_end']:.1f} at the end (2 cores). `{SLOW}`: {meta[SLOW]}; "
            f"`{FAST}`: {meta[FAST]}. `error_ratio`: `mse_{FAST}` / `mse_{SLOW}`; `ratio_ci_low` / `ratio_ci_high`: "
            "95 % paired bootstrap interval of the error ratio over the images (the same images and measurements for "
            "both).\n\n"
            + markdown_table(rows, ["m", "images", f"mse_{SLOW}", f"mse_{FAST}", "error_ratio", "ratio_ci_low",
                                    "ratio_ci_high", f"seconds_{SLOW}", f"seconds_{FAST}", "speed_up"]))


if __name__ == "__main__":
    main()
