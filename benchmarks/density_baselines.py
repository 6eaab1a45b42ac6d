"""Classical density models against the zoo's deep generators, under one yardstick (deck 000, "Ideas 0-4"; deck 002).

Rows: independent pixel marginals (Idea 0), one full-covariance Gaussian (Idea 1), a diagonal Gaussian mixture
(Idea 2), a sparse-DCT prior (Idea 3), PCA with 20 latents, the zoo's mnist-vae / mnist-vae-8bit / mnist-dcgan, and
two imputation baselines (the mean training image, k nearest neighbours). Columns:

* ``bits_per_pixel``: ``-log2 P(8-bit image) / 784`` on the 10,000 MNIST test images: exact for the marginals; the
  dequantised bound (``genprior.models.classical``: each level k/255 owns a 1/255 bin, one uniform draw) for the
  Gaussian and the mixture; for mnist-vae-8bit its zoo JSON's test ELBO (also a bound on the same 8-bit images).
* ``frechet_distance`` / ``classifier_score`` of ``--samples`` samples against the first ``--samples`` test images,
  read by ``mnist-classifier`` (``genprior.evaluate.fid``; the real row: that many training images).
* ``closest_reconstruction``: error per pixel of the closest image the model makes to test images 0..``--invert``-1
  (csgm-fast, ``--restarts`` restarts; the sparse prior: its best 50-term DCT approximation; full-rank models:
  every image is in their range, left blank).
* ``impute_bottom`` / ``impute_random``: error per pixel *on the missing pixels* of test images 0..``--n-images``-1
  with the bottom half missing, or a fixed random 50 % of pixels missing: Gaussian / mixture / marginals by their
  exact conditional mean; VAE / DCGAN / PCA by csgm-fast on the observed pixels (``Inpaint(mask=...)``, noiseless);
  the sparse prior by ``lasso-dct`` (alpha chosen on held-out training images); mean image; k-NN.
  ``digit_read_bottom`` / ``digit_read_random``: the share of those imputed images that ``mnist-classifier`` reads
  as their true digit (squared error rewards a blurry conditional mean; this asks whether the fill is the right
  digit).

Every setting is chosen on training images 50,000..59,999 (never on test images): the marginals' smoothing, the
Gaussian's shrinkage, the mixture's K, k of k-NN, the Lasso's alpha. The models are fitted on training images
0..49,999 (the mixture on 0..``--gmm-train``-1, for time).

    python benchmarks/density_baselines.py [--samples 10000] [--n-images 300] [--invert 100] [--restarts 10]
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch
from common import RESULTS, parser, write_results

from genprior import zoo
from genprior.data import load_dataset
from genprior.evaluate.fid import (
    classifier_features,
    classifier_score,
    frechet_distance,
)
from genprior.evaluate.reconstruction import closest_reconstruction
from genprior.evaluate.recovery import recover
from genprior.models.classical import (
    GaussianDensity,
    GaussianMixtureDensity,
    PixelMarginals,
    SparseCodePrior,
)
from genprior.models.pca import PCAGenerator
from genprior.operators import Inpaint
from genprior.reports import cpu_name, markdown_table, save_image_grid
from genprior.solvers.lasso.bases import basis_matrix
from genprior.train.gan import sample as sample_generator

FIT, HELD_OUT = slice(0, 50000), slice(50000, 60000)
SPARSITY = 50  # DCT coefficients kept per image by the sparse prior


def masks() -> dict[str, torch.Tensor]:
    """The two missing-data patterns, true = observed: the top half kept; a fixed random half of the pixels kept."""
    top = torch.zeros(28, 28, dtype=torch.bool)
    top[:14] = True
    return {"bottom": top, "random": Inpaint(shape=(1, 28, 28), keep=0.5, seed=0).mask.view(28, 28).bool()}


def missing_mse(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean squared error over the missing pixels (where ``mask`` is false), averaged over images."""
    missing = ~mask.reshape(-1)
    return float(((x_hat.flatten(1)[:, missing] - x.flatten(1)[:, missing]) ** 2).mean())


def knn_impute(pool: torch.Tensor, images: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """Missing pixels = the mean of the ``k`` pool images nearest on the observed pixels."""
    o = mask.reshape(-1)
    p, q = pool.flatten(1)[:, o], images.flatten(1)[:, o]
    d = (q ** 2).sum(1, keepdim=True) - 2 * q @ p.T + (p ** 2).sum(1)
    idx = d.topk(k, dim=1, largest=False).indices
    out = images.flatten(1).clone()
    out[:, ~o] = pool.flatten(1)[idx][:, :, ~o].mean(1)
    return out.view_as(images)


def main() -> int:
    p = parser(__doc__, data_dir=True, out=RESULTS / "density_baselines", n_images=300)
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--invert", type=int, default=100)
    p.add_argument("--restarts", type=int, default=10)
    p.add_argument("--gmm-train", type=int, default=10000)
    a = p.parse_args()
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    train = load_dataset("mnist", "train", data_dir=a.data_dir).images
    test_set = load_dataset("mnist", "test", data_dir=a.data_dir)
    test, labels = test_set.images, test_set.labels[:a.n_images]
    fit, held = train[FIT], train[HELD_OUT]
    truth, pattern = test[:a.n_images], masks()
    classifier = zoo.load("mnist-classifier")
    f_real, _ = classifier_features(classifier, test[:a.samples])
    choices: dict = {}

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.0f} s] {msg}", flush=True)

    # ---- fit the classical models, settings chosen on held-out training images
    best = min((PixelMarginals.fit(fit, alpha=al).bits_per_pixel(held), al) for al in (0.01, 0.1, 1.0))
    choices["marginals_alpha"] = best[1]
    marginals = PixelMarginals.fit(fit, alpha=best[1])
    scores = {lam: GaussianDensity.fit(fit, shrinkage=lam).bits_per_pixel(held) for lam in (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)}
    choices["gaussian_shrinkage"] = min(scores, key=scores.get)
    choices["gaussian_held_out_bpp"] = scores
    gaussian = GaussianDensity.fit(fit, shrinkage=choices["gaussian_shrinkage"])
    log(f"marginals alpha {choices['marginals_alpha']}, gaussian shrinkage {choices['gaussian_shrinkage']}")
    gmms, gmm_scores = {}, {}
    for k in (10, 25, 50, 100):
        gmms[k] = GaussianMixtureDensity.fit(fit[:a.gmm_train], components=k, seed=0)
        gmm_scores[k] = gmms[k].bits_per_pixel(held[:5000])
        log(f"gmm K={k}: held-out {gmm_scores[k]:.3f} bits/pixel")
    choices["gmm_components"] = min(gmm_scores, key=gmm_scores.get)
    choices["gmm_held_out_bpp"] = gmm_scores
    gmm = gmms[choices["gmm_components"]]
    sparse = SparseCodePrior.fit(fit[:10000], basis_matrix("dct"), k=SPARSITY)
    pca = PCAGenerator.fit(fit, latent_dim=20).eval()
    mean_image = fit.mean(0, keepdim=True)
    knn_k = {}
    for name, mask in pattern.items():
        errs = {k: missing_mse(knn_impute(fit, held[:300], mask, k), held[:300], mask) for k in (1, 3, 5, 10, 20)}
        knn_k[name] = min(errs, key=errs.get)
    choices["knn_k"] = knn_k
    log(f"fitted; choices {choices}")

    rows, grid, imputed = [], {}, {}
    gen = torch.Generator().manual_seed(0)

    def sample_scores(samples: torch.Tensor) -> dict:
        f, pr = classifier_features(classifier, samples)
        return {"frechet_distance": frechet_distance(f, f_real), "classifier_score": classifier_score(pr)}

    def readable(x_hat: torch.Tensor) -> float:
        """Share of imputed images that mnist-classifier reads as their true digit."""
        return float((classifier_features(classifier, x_hat)[1].argmax(1) == labels).double().mean())

    def add_row(name_model: str, samples: torch.Tensor, impute, t0: float, *, bits: float | None = None,
                closest: float | None = None) -> None:
        """One model's row: sample scores, then ``impute(mask, name)`` scored on each missing-pixel pattern."""
        row = {"model": name_model, "bits_per_pixel": bits, **sample_scores(samples), "closest_reconstruction": closest}
        for name, mask in pattern.items():
            imputed[(name_model, name)] = impute(mask, name)
            row[f"impute_{name}"] = missing_mse(imputed[(name_model, name)], truth, mask)
            row[f"digit_read_{name}"] = readable(imputed[(name_model, name)])
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        grid[name_model] = samples[:10]
        log(markdown_table(rows[-1:]))

    def by_latent(g, mask) -> torch.Tensor:
        op = Inpaint(shape=(1, 28, 28), mask=mask)
        x, _ = recover("csgm-fast", op, op.measure(truth), generator=g, seed=1, restarts=a.restarts)
        return x.cpu()

    def by_lasso(mask, name: str) -> torch.Tensor:
        op = Inpaint(shape=(1, 28, 28), mask=mask)
        x, info = recover("lasso-dct", op, op.measure(truth), alpha="auto", tuning_images=held[:100], seed=1)
        choices.setdefault("lasso_alpha", {})[name] = info["alpha"]
        return x.cpu()

    densities = {"pixel marginals (Idea 0)": marginals, "gaussian, full covariance (Idea 1)": gaussian,
                 f"gaussian mixture, diag, K={choices['gmm_components']} (Idea 2)": gmm}
    for name_model, model in densities.items():
        t0 = time.perf_counter()
        add_row(name_model, model.sample(a.samples, generator=gen), lambda mask, _, m=model: m.impute(truth, mask), t0,
                bits=model.bits_per_pixel(test))

    t0 = time.perf_counter()
    add_row(f"sparse DCT, {SPARSITY} terms (Idea 3)", sparse.sample(a.samples, generator=gen), by_lasso, t0,
            closest=missing_mse(sparse.project(test[:a.invert]), test[:a.invert], torch.zeros(28, 28, dtype=torch.bool)))

    vae8 = zoo.config("mnist-vae-8bit")
    latent = {"pca-20": pca, "mnist-vae": zoo.resolve("mnist-vae")[0], "mnist-dcgan": zoo.resolve("mnist-dcgan")[0]}
    for name_model, g in latent.items():
        t0 = time.perf_counter()
        s = sample_generator(g, a.samples, rng=gen).clamp(0, 1)
        recon = closest_reconstruction(g, test[:a.invert], method="csgm-fast", restarts=a.restarts, seed=1)
        add_row(name_model, s, lambda mask, _, g=g: by_latent(g, mask), t0,
                closest=missing_mse(recon, test[:a.invert], torch.zeros(28, 28, dtype=torch.bool)))
    g8 = zoo.resolve("mnist-vae-8bit")[0]
    s = sample_generator(g8, a.samples, rng=gen).clamp(0, 1)
    rows.append({"model": "mnist-vae-8bit (bits: zoo test ELBO)",
                 "bits_per_pixel": -vae8["test_elbo"] / (784 * math.log(2)), **sample_scores(s)})
    grid["mnist-vae-8bit"] = s[:10]

    for name_model, fn in (("mean image (imputation)", lambda m: mean_image.expand_as(truth)),
                           ("k-NN (imputation)", None)):
        row = {"model": name_model}
        for name, mask in pattern.items():
            x_hat = fn(mask) if fn else knn_impute(fit, truth, mask, knn_k[name])
            x_hat = torch.where(mask, truth, x_hat)
            imputed[(name_model, name)] = x_hat
            row[f"impute_{name}"] = missing_mse(x_hat, truth, mask)
            row[f"digit_read_{name}"] = readable(x_hat)
        rows.append(row)
    f_train, p_train = classifier_features(classifier, train[:a.samples])
    rows.append({"model": "real images (train vs test)", "frechet_distance": frechet_distance(f_train, f_real),
                 "classifier_score": classifier_score(p_train), "closest_reconstruction": 0.0,
                 "digit_read_bottom": readable(truth), "digit_read_random": readable(truth)})

    out = Path(a.out)
    panel = dict(grid)
    panel["truth (imputation)"] = truth[:10]
    panel["bottom half hidden"] = torch.where(pattern["bottom"], truth[:10], torch.full_like(truth[:10], 0.5))
    for name_model in ("pixel marginals (Idea 0)", "gaussian, full covariance (Idea 1)", f"sparse DCT, {SPARSITY} terms (Idea 3)",
                       "pca-20", "mnist-vae", "mnist-dcgan", "k-NN (imputation)"):
        key = next(k for k in imputed if k[0].startswith(name_model.split(",")[0]) and k[1] == "bottom")
        panel[f"{name_model.split(' (')[0]}: bottom filled"] = imputed[key][:10]
    save_image_grid(out.with_suffix(".png"), panel, title="samples (one row per model), then bottom-half imputation")
    columns = ["model", "bits_per_pixel", "frechet_distance", "classifier_score", "closest_reconstruction",
               "impute_bottom", "impute_random", "digit_read_bottom", "digit_read_random"]
    md = "\n".join([
        "# Classical density baselines vs deep generators on MNIST", "",
        (f"{a.samples:,} samples per model read by `mnist-classifier` against {a.samples:,} test images; closest "
         f"reconstruction of test images 0..{a.invert - 1}; imputation of test images 0..{a.n_images - 1} (error per "
         f"pixel on the missing pixels only); latent models by csgm-fast with {a.restarts} restarts. Settings chosen on "
         f"training images 50,000..59,999: {choices}. One thread of {cpu_name()}."), "",
        markdown_table(rows, columns), "",
        ("`bits_per_pixel`: -log2 P(8-bit test image)/784 on all 10,000 test images (marginals exact; Gaussian and "
         "mixture a dequantised lower bound on log P; mnist-vae-8bit the zoo's test ELBO); lower is better. "
         "`frechet_distance` lower is better (floor: the real row); `classifier_score` 1..10 higher is better. "
         "Full-rank densities reach every image, so their closest reconstruction is left blank. `impute_*` is the "
         "mean squared error on the missing pixels (lower is better; a conditional mean is what minimises it, so "
         "blurry averages score well); `digit_read_*` the share of imputed images `mnist-classifier` reads as the "
         "true digit (higher is better; the real row: the complete images)."), "",
        "Pictures: `density_baselines.png`.", ""])
    settings = {"pixel": {"alpha": choices["marginals_alpha"]},
                "gaussian,": {"shrinkage": choices["gaussian_shrinkage"],
                              "held_out_bpp": choices["gaussian_held_out_bpp"]},
                "gaussian mixture": {"components": choices["gmm_components"], "held_out_bpp": choices["gmm_held_out_bpp"],
                                     "fitted_on": a.gmm_train},
                "sparse": {"lasso_alpha": choices.get("lasso_alpha")}, "k-NN": {"k": choices["knn_k"]},
                "mnist": {"restarts": a.restarts}, "pca": {"restarts": a.restarts}}
    for row in rows:
        row["settings"] = next((v for k, v in settings.items() if row["model"].startswith(k)), {})
        row.update(samples=a.samples, n_images=a.n_images, invert=a.invert)
    write_results(out, rows, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
