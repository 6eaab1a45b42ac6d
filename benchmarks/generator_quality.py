"""How good are the zoo's MNIST generators? Sample quality, reach, and copying, beside real data and two baselines.

The deck's question (Dimakis, deck 000, "Problem 3: how to evaluate a generator"): samples that look right can come
from a generator that covers little of the data, or that copies training images; "given a natural image, show me
the closest reconstruction" is the measure inverse problems care about. For each generator (`genprior evaluate`'s
:func:`genprior.evaluate.judge.judge_generator`, the same code):

* **Fréchet distance** (Heusel et al. 2017) between 5,000 samples and the first 5,000 MNIST test images, on the
  256 penultimate features of `mnist-classifier` (not Inception: nothing is downloaded, and MNIST is not ImageNet);
  its floor is the same distance from 5,000 training images;
* **classifier score** (Salimans et al. 2016's Inception score with `mnist-classifier`): 1 .. 10, and how evenly
  the ten digits are drawn (KL of the top-class histogram from uniform);
* **closest reconstruction**: error per pixel of ``min_z ||G(z) - x||^2`` on the first 100 test images
  (csgm-fast: screened Adam + Levenberg-Marquardt);
* **copying**: the median per-pixel distance from a sample to its nearest of the 60,000 training images, against
  the same for unseen test images, and the share of samples nearer than the nearest 1 % of test images are.

Baselines: a PCA generator with the VAE's 20 latents (``x = mu + W z``, the best linear 20-d model: Tipping & Bishop
1999) and the DCGAN architecture untrained (random weights). Writes results/generator_quality.{json,md,png}.

    python benchmarks/generator_quality.py [--samples 5000] [--invert 100]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from common import RESULTS, parser, write_results

from genprior import zoo
from genprior.data import load_dataset
from genprior.evaluate.judge import judge_generator
from genprior.models.conditional import ClassUnionGenerator
from genprior.models.pca import PCAGenerator
from genprior.models.registry import build_model
from genprior.reports import cpu_name, markdown_table, save_image_grid

ZOO = ("mnist-vae", "mnist-dcgan", "mnist-began", "mnist-cgan")


def generators(train: torch.Tensor) -> dict:
    """Name -> (generator, what it is)."""
    out = {}
    for name in ZOO:
        g, cfg = zoo.resolve(name)
        what = cfg.get("architecture", {}).get("family", "")
        out[name] = (ClassUnionGenerator(g) if name == "mnist-cgan" else g, what)
    out["pca-20 (baseline)"] = (PCAGenerator.fit(train, latent_dim=20).eval(), "mu + W z, top 20 principal directions")
    torch.manual_seed(0)
    untrained = build_model(zoo.config("mnist-dcgan")["architecture"]).eval()
    out["dcgan untrained (baseline)"] = (untrained, "mnist-dcgan's architecture, random weights")
    return out


def main() -> int:
    p = parser(__doc__, data_dir=True, out=RESULTS / "generator_quality")
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--invert", type=int, default=100)
    a = p.parse_args()
    torch.set_num_threads(1)
    train = load_dataset("mnist", "train", data_dir=a.data_dir).images
    test = load_dataset("mnist", "test", data_dir=a.data_dir).images
    classifier = zoo.load("mnist-classifier")
    rows, reports, grid = [], {}, {"real test": test[:10]}
    samples = {}
    real = None
    for name, (g, what) in generators(train).items():
        t0 = time.perf_counter()
        j = judge_generator(g, classifier, test, train=train, n_samples=a.samples, n_inverted=a.invert, seed=0,
                            progress=True)
        s = j.scores
        real = s["real"]
        reports[name] = {"what": what, **s, "seconds": time.perf_counter() - t0}
        rec, mem = s["reconstruction"], s["memorization"]
        rows.append({"generator": name, "frechet_distance": s["frechet_distance"],
                     "classifier_score": s["classifier_score"], "mean_confidence": s["mean_confidence"],
                     "class_kl_to_uniform": s["class_kl_to_uniform"], "closest_reconstruction": rec["mse_per_pixel"],
                     "ci95": 1.96 * rec["mse_se"], "nearest_train_median": mem["samples_median"],
                     "near_copy_share": mem["near_copy_share"], "invert_s_per_image": rec["seconds"] / a.invert})
        grid[name] = j.reconstructions[:10]
        samples[name] = j.samples[:10]
        print(markdown_table(rows[-1:]), flush=True)
    rows.append({"generator": "real images (train vs test)", "frechet_distance": real["frechet_distance"],
                 "classifier_score": real["classifier_score"], "mean_confidence": real["mean_confidence"],
                 "class_kl_to_uniform": real["class_kl_to_uniform"], "closest_reconstruction": 0.0,
                 "nearest_train_median": reports[name]["memorization"]["held_out_median"], "near_copy_share": 0.01})
    out = Path(a.out)
    save_image_grid(out.with_suffix(".png"), grid, title="closest reconstructions of MNIST test images (csgm-fast)")
    save_image_grid(out.parent / f"{out.name}_samples.png", samples, title="samples (z ~ N(0, I), same seed)")
    md = "\n".join([
        "# How good are the MNIST generators?", "",
        (f"{a.samples:,} samples per generator, read by `mnist-classifier` (features: its 256 hidden units); "
         f"closest reconstructions of MNIST test images 0..{a.invert - 1} by csgm-fast; nearest neighbours among the "
         f"60,000 training images. One thread of {cpu_name()}."), "",
        markdown_table(rows, ["generator", "frechet_distance", "classifier_score", "mean_confidence",
                              "class_kl_to_uniform", "closest_reconstruction", "ci95", "nearest_train_median",
                              "near_copy_share", "invert_s_per_image"]), "",
        ("Columns: `frechet_distance` lower is better, its floor the real row; `classifier_score` 1..10, higher is "
         "better; `class_kl_to_uniform` 0 when every digit is drawn equally often; `closest_reconstruction` the mean "
         "error per pixel of the best G(z) for a real test image (`ci95` its 1.96 s.e.): what no inverse problem "
         "solved with this prior can get below; `nearest_train_median` the median per-pixel squared distance from a "
         "sample to its nearest training image (the real row: from a test image); `near_copy_share` the share of "
         "samples nearer to a training image than the nearest 1 % of test images are (about 0.01 when nothing is "
         "copied). mnist-cgan is read as the union of its ten class ranges (its latent carries the class)."), "",
        "Pictures: closest reconstructions `generator_quality.png`, samples `generator_quality_samples.png`.", ""])
    write_results(out, {"rows": rows, "reports": reports, "samples": a.samples, "invert": a.invert,
                       "cpu": cpu_name(), "threads": 1}, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
