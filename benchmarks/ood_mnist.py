"""Do our generative models know what they have not seen? MNIST against Fashion-MNIST, in both directions.

For each direction, models trained on one set score 1,000 test images of it and 1,000 of the other, with every
score of :mod:`genprior.evaluate.ood` (higher = more out of distribution); the table gives the AUROC and the share
of in-distribution images flagged when 95 % of the others are caught (FPR at 95 % TPR):

* trained on MNIST: the zoo's ``mnist-vae`` (Bernoulli decoder: likelihood, complexity-corrected likelihood,
  range), ``mnist-vae-8bit`` (the same VAE with a discretized logistic decoder, whose likelihood is a probability
  of the 8-bit image: likelihood, complexity-corrected likelihood), a PCA generator of 20 latents (range),
  ``mnist-dcgan`` (range, on the first 200 images of each set: about 1 s per image) and ``mnist-classifier``
  (max-softmax);
* trained on Fashion-MNIST: the zoo's ``fashion-mnist-vae`` and ``fashion-mnist-vae-8bit`` (the same architectures
  and training commands) and a PCA generator; no classifier.

The compressed length ``L(x)`` alone (no model) is the baseline that shows what the likelihood confounds. Nalisnick
et al. 2019 found likelihood models trained on Fashion-MNIST rate MNIST *more* likely than their own test images;
Serrà et al. 2020 subtract ``L(x)`` to correct it. Writes results/ood_mnist.{json,md,png}.

    python benchmarks/ood_mnist.py [--n 1000]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from common import RESULTS, parser, write_results

from genprior import zoo
from genprior.data import load_dataset
from genprior.evaluate.ood import (
    auroc,
    complexity_bits,
    complexity_corrected_score,
    fpr_at_tpr,
    likelihood_score,
    max_softmax_score,
    range_score,
)
from genprior.models.pca import PCAGenerator
from genprior.reports import cpu_name, markdown_table, save_score_histograms

GAN_IMAGES = 200


def generative_scorers(vae, vae8, pca, n: int) -> dict:
    """The scores both directions share: label -> (function of images, images of each set it scores); ``vae``
    Bernoulli, ``vae8`` with the 8-bit logistic decoder."""
    return {"L(x): compressed bits (no model)": (complexity_bits, n),
            "VAE -log p(x), bits": (lambda x: likelihood_score(vae, x), n),
            "VAE -log p(x) - L(x)": (lambda x: complexity_corrected_score(vae, x), n),
            "8-bit VAE -log p(x), bits": (lambda x: likelihood_score(vae8, x), n),
            "8-bit VAE -log p(x) - L(x)": (lambda x: complexity_corrected_score(vae8, x), n),
            "VAE range": (lambda x: range_score(vae, x), n),
            "PCA-20 range": (lambda x: range_score(pca, x), n)}


def direction(name: str, scorers: dict, images_in: torch.Tensor, images_out: torch.Tensor) -> tuple[list, dict]:
    """Rows (one per score) and the raw scores of one direction; ``scorers``: label -> (function, images used)."""
    rows, raw = [], {}
    for label, (score, n) in scorers.items():
        t0 = time.perf_counter()
        s_in, s_out = score(images_in[:n]), score(images_out[:n])
        raw[label] = (s_in, s_out)
        rows.append({"trained on": name, "score": label, "images": f"{n} + {n}", "auroc": auroc(s_in, s_out),
                     "fpr_at_95_tpr": fpr_at_tpr(s_in, s_out), "mean_in": float(s_in.mean()),
                     "mean_out": float(s_out.mean()), "seconds": time.perf_counter() - t0})
        print(markdown_table(rows[-1:]), flush=True)
    return rows, raw


def main() -> int:
    p = parser(__doc__, data_dir=True, out=RESULTS / "ood_mnist")
    p.add_argument("--n", type=int, default=1000, help="test images of each set scored (default 1000)")
    a = p.parse_args()
    torch.set_num_threads(1)
    sets = {name: (load_dataset(name, "train", data_dir=a.data_dir).images,
                   load_dataset(name, "test", data_dir=a.data_dir).images) for name in ("mnist", "fashion-mnist")}
    n, n_gan = a.n, min(a.n, GAN_IMAGES)
    m_vae, m_dcgan, m_clf = zoo.load("mnist-vae"), zoo.load("mnist-dcgan"), zoo.load("mnist-classifier")
    f_vae, m_vae8, f_vae8 = zoo.load("fashion-mnist-vae"), zoo.load("mnist-vae-8bit"), zoo.load("fashion-mnist-vae-8bit")
    pca = {name: PCAGenerator.fit(train, latent_dim=20).eval() for name, (train, _) in sets.items()}
    scorers = {
        "mnist": {**generative_scorers(m_vae, m_vae8, pca["mnist"], n),
                  "DCGAN range": (lambda x: range_score(m_dcgan, x, progress=True), n_gan),
                  "classifier 1 - max softmax": (lambda x: max_softmax_score(m_clf, x), n)},
        "fashion-mnist": generative_scorers(f_vae, f_vae8, pca["fashion-mnist"], n),
    }
    rows, panels = [], {}
    for name, other in (("mnist", "fashion-mnist"), ("fashion-mnist", "mnist")):
        r, raw = direction(name, scorers[name], sets[name][1][:n], sets[other][1][:n])
        rows += r
        panels.update({f"{name} model: {label}\nAUROC {row['auroc']:.3f}": pair for (label, pair), row in zip(raw.items(), r)})
        panels.update({f"({name}, blank {i})": None for i in range(len(scorers["mnist"]) - len(r))})  # a row each
    out = Path(a.out)
    save_score_histograms(out.with_suffix(".png"), panels, labels=("its own test images", "the other set's"),
                          title="scores of models trained on MNIST (top) and Fashion-MNIST (bottom)",
                          ncol=len(scorers["mnist"]))
    md = "\n".join([
        "# Out-of-distribution detection: MNIST against Fashion-MNIST", "",
        (f"Test images 0..{n - 1} of each set (the DCGAN range: 0..{n_gan - 1}); higher scores read as out of "
         f"distribution, so AUROC 1 separates the sets, 0.5 is chance, below 0.5 the score points the wrong way; "
         f"`fpr_at_95_tpr` the share of the model's own test images flagged when 95 % of the other set is. "
         f"Likelihoods: importance-weighted bound, 100 samples; ranges: csgm-fast closest reconstruction, error per "
         f"pixel; L(x): deflate on the 8-bit image. One thread of {cpu_name()}."), "",
        markdown_table(rows, ["trained on", "score", "images", "auroc", "fpr_at_95_tpr", "mean_in", "mean_out",
                              "seconds"]), "",

        "Histograms: `ood_mnist.png`.", ""])
    write_results(out, {"rows": rows, "n": n, "gan_images": n_gan, "cpu": cpu_name(),
                       "threads": 1}, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
