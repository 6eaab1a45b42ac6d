"""Unsupervised pretraining for few-label MNIST classification (deck 001): does an autoencoder's (or the VAE's)
encoder, learnt from the 60,000 unlabelled training images, help a classifier that sees only 10, 100 or 1,000
labels? The gain is measured, whatever its sign.

Classifier: the encoder trunk 784-500-500 (softplus) and a linear head to 10 classes
(:class:`genprior.models.autoencoder.EncoderClassifier`). Arms:

- scratch: that network from a random initialisation, all weights trained;
- finetune-ae / finetune-vae: the trunk initialised from the pretrained autoencoder's encoder (``--autoencoder``,
  made by ``genprior train autoencoder``) / from the zoo's ``mnist-vae`` encoder (the trunk of its mean path), all
  weights trained;
- probe-ae-500 / probe-vae-500: logistic regression on the frozen trunk's 500-d last hidden layer;
  probe-ae-code / probe-vae-code: logistic regression on the frozen 20-d code (the AE's code, the VAE's posterior
  mean);
- probe-pixels: logistic regression on the 784 raw pixels (a reference).

Labelled sets: balanced, n/10 images per class, drawn from training images 0..54,999 (draw seeds 0..4; one per
class for n = 10). Hyper-parameters are chosen per arm and n, by the same procedure for every arm, on a separate
draw (seed 100) scored on a validation split of 1,000 labelled training images (55,000..55,999; never the test
set): AdamW lr x weight decay over ``LRS`` x ``WEIGHT_DECAYS``, and the number of steps among ``CHECK_AT`` (the
validation accuracy read along each run); batches of 100 (the whole set for n <= 100). Test accuracy on all
10,000 MNIST test images; mean +- standard error over the draws; the gain of each pretrained arm over scratch
with Welch's t-test (scipy). Writes results/pretraining.{json,md,png}.

    nice -n 10 python benchmarks/pretraining.py     # the zoo's mnist-autoencoder, trained by
    genprior train autoencoder --dataset mnist --out runs/mnist-autoencoder --epochs 15
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import torch
from common import RESULTS, parser, read_results, rerender, write_results
from scipy import stats
from torch import nn

from genprior import zoo
from genprior.data import load_dataset
from genprior.errors import GenpriorError
from genprior.models.autoencoder import EncoderClassifier, encoder_classifier
from genprior.plotting import pyplot, save_figure
from genprior.reports import markdown_table
from genprior.train.autoencoder import fit_labelled, linear_probe
from genprior.train.classifier import accuracy

SIZES = (10, 100, 1000)
POOL = 55_000  # labelled draws come from training images 0..POOL-1
VALIDATION = (55_000, 56_000)  # the validation split, labelled training images
TUNING_DRAW = 100  # the draw seed the hyper-parameters are chosen on (evaluation draws: 0..seeds-1)
LRS = (3e-4, 1e-3, 3e-3, 1e-2)
WEIGHT_DECAYS = (0.0, 1.0)  # AdamW's decoupled decay: each step multiplies the weights by 1 - lr * wd
CHECK_AT = (25, 50, 100, 200, 300)
BATCH = 100
ARMS = {
    "scratch": ("finetune", None, False),
    "finetune-ae": ("finetune", "ae", False),
    "finetune-vae": ("finetune", "vae", False),
    "probe-ae-500": ("probe", "ae", False),
    "probe-ae-code": ("probe", "ae", True),
    "probe-vae-500": ("probe", "vae", False),
    "probe-vae-code": ("probe", "vae", True),
    "probe-pixels": ("pixels", None, False),
}
PRETRAINED = [arm for arm in ARMS if arm != "scratch" and arm != "probe-pixels"]


def draw(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of a balanced labelled set: n/10 images of each class from training images 0..POOL-1."""
    g = torch.Generator().manual_seed(seed)
    per_class = n // 10
    picks = []
    for c in range(10):
        where = torch.nonzero(labels[:POOL] == c).flatten()
        picks.append(where[torch.randperm(len(where), generator=g)[:per_class]])
    return torch.cat(picks)


def build(arm: str, sources: dict, seed: int) -> nn.Module:
    """The arm's network before training; its random weights (the head, or all of scratch's) from ``seed``."""
    kind, source, code = ARMS[arm]
    torch.manual_seed(seed)
    if kind == "pixels":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    if source is None:
        return EncoderClassifier()
    return encoder_classifier(sources[source], code=code)


def fit(arm: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, **options) -> dict:
    """Train the arm's network: every weight (scratch, fine-tuning, the pixel logistic regression) or the head
    alone on frozen features (the probes)."""
    if ARMS[arm][0] == "probe":
        return linear_probe(model, x, y, batch_size=BATCH, **options)
    validation = options.pop("validation", None)
    return fit_labelled(model, x, y, batch_size=BATCH, validation=validation, **options)


def tune(arm: str, n: int, sources: dict, train, validation, max_steps: int) -> dict:
    """The (lr, weight decay, steps) with the best validation accuracy on the tuning draw (ties: the first in
    grid order, fewer steps first)."""
    idx = draw(train.labels, n, TUNING_DRAW)
    checks = [s for s in CHECK_AT if s <= max_steps]
    best = None
    for lr in LRS:
        for wd in WEIGHT_DECAYS:
            model = build(arm, sources, 10_000 + TUNING_DRAW)
            info = fit(arm, model, train.images[idx], train.labels[idx], steps=checks[-1], lr=lr, weight_decay=wd,
                       seed=TUNING_DRAW, validation=validation, check_at=checks)
            for c in info["validation"]:
                if best is None or c["accuracy"] > best["validation_accuracy"]:
                    best = {"lr": lr, "weight_decay": wd, "steps": c["step"], "validation_accuracy": c["accuracy"]}
    return best


def render(data: dict) -> str:
    rows = []
    for arm in data["arms"]:
        row = {"arm": arm}
        for n in data["sizes"]:
            r = data["results"][arm][str(n)]
            row[f"n={n}"] = f"{100 * r['mean']:.1f} ± {100 * r['se']:.1f}"
        rows.append(row)
    gains = []
    for arm in data["arms"]:
        if arm not in data["gains"]:
            continue
        row = {"arm": arm}
        for n in data["sizes"]:
            g = data["gains"][arm][str(n)]
            row[f"n={n}"] = f"{100 * g['gain']:+.1f} (p={g['p_welch']:.2g})"
        gains.append(row)
    hp = [{"arm": arm, **{f"n={n}": "lr {lr:g}, wd {weight_decay:g}, {steps} steps (val {validation_accuracy:.3f})"
                          .format(**data["results"][arm][str(n)]["chosen"]) for n in data["sizes"]}}
          for arm in data["arms"]]
    ae = data["autoencoder"]
    columns = ["arm", *[f"n={n}" for n in data["sizes"]]]
    return "\n".join([
        "# Unsupervised pretraining for few-label MNIST (deck 001)", "",
        f"Test accuracy (%) on the 10,000 MNIST test images, mean ± standard error over {data['seeds']} balanced "
        "label draws (seeds 0..{}), by the number of labelled training images n.".format(data["seeds"] - 1), "",
        markdown_table(rows, columns), "",
        "Gain over scratch (percentage points; Welch's t-test p-value over the draws), whatever its sign:", "",
        markdown_table(gains, columns), "",
        (f"Autoencoder: `{ae['command']}` ({ae['epochs']} epochs on the 60,000 unlabelled training images, binary "
        f"cross-entropy reconstruction; test BCE {ae['test_loss']:.2f} nats per image). VAE: the zoo's mnist-vae "
        "(its encoder trunk and posterior mean). Classifier: trunk 784-500-500 softplus + linear head; probes fit "
        "only the head on frozen features."), "",
        ("Hyper-parameters, chosen per arm and n on a separate draw (seed 100) by the accuracy on 1,000 labelled "
        "validation images from the training set (AdamW, lr x weight decay x steps over "
        f"{list(LRS)} x {list(WEIGHT_DECAYS)} x {data['check_at']}; batches of 100, the whole set for n <= 100). "
        "A validation split of 1,000 labels is far more than the training labels: a real few-label user could not "
        "tune this way, so all arms (scratch included) are tuned more generously than in practice."), "",
        markdown_table(hp, columns), "",
        f"Wall time {data['seconds']:.0f} s on {data['threads']} thread(s).",
    ]) + "\n"


def plot(stem: Path, data: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm in data["arms"]:
        r = data["results"][arm]
        means = [100 * r[str(n)]["mean"] for n in data["sizes"]]
        errs = [100 * r[str(n)]["se"] for n in data["sizes"]]
        ax.errorbar(data["sizes"], means, yerr=errs, marker="o", capsize=3, label=arm,
                    linestyle="--" if arm.startswith("probe") else "-")
    ax.set_xscale("log")
    ax.set_xlabel("labelled training images n (balanced)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"MNIST few-label classification, mean ± s.e. over {data['seeds']} draws")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, stem.with_suffix(".png"))


def main() -> None:
    p = parser(__doc__, data_dir=True, out=RESULTS / "pretraining", render_only=True)
    p.add_argument("--autoencoder", default="mnist-autoencoder",
                   help="the pretrained autoencoder: a genprior train folder, a model.* pair or a zoo name (default "
                        "%(default)s)")
    p.add_argument("--seeds", type=int, default=5, help="label draws per n (default %(default)s)")
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="labelled set sizes (multiples of 10)")
    p.add_argument("--max-steps", type=int, default=CHECK_AT[-1], help="largest step count tried (default "
                   "%(default)s)")
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS), help="arms to run (default: all)")
    args = p.parse_args()
    if args.render_only:
        stem = rerender(args.out, render)
        plot(stem.with_suffix(""), read_results(args.out))
        return
    if args.seeds < 2 or any(n < 10 or n % 10 for n in args.sizes) or args.max_steps < CHECK_AT[0]:
        p.error(f"--seeds must be >= 2, --sizes multiples of 10, --max-steps >= {CHECK_AT[0]}")
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    try:
        ae, ae_config = zoo.resolve(args.autoencoder, family="autoencoder")
    except GenpriorError as e:
        p.error(str(e))
    sources = {"ae": ae, "vae": zoo.load("mnist-vae")}
    train = load_dataset("mnist", "train", data_dir=args.data_dir)
    test = load_dataset("mnist", "test", data_dir=args.data_dir)
    train = type(train)(train.name, train.split, train.images, train.labels.long())
    test = type(test)(test.name, test.split, test.images, test.labels.long())
    validation = (train.images[VALIDATION[0]:VALIDATION[1]], train.labels[VALIDATION[0]:VALIDATION[1]])
    results: dict = {}
    for arm in args.arms:
        results[arm] = {}
        for n in args.sizes:
            t = time.perf_counter()
            chosen = tune(arm, n, sources, train, validation, args.max_steps)
            accs = []
            for seed in range(args.seeds):
                idx = draw(train.labels, n, seed)
                model = build(arm, sources, 10_000 + seed)
                fit(arm, model, train.images[idx], train.labels[idx], steps=chosen["steps"], lr=chosen["lr"],
                    weight_decay=chosen["weight_decay"], seed=seed)
                accs.append(accuracy(model, test.images, test.labels))
            mean = statistics.fmean(accs)
            results[arm][str(n)] = {"accuracies": accs, "mean": mean, "se": statistics.stdev(accs) / math.sqrt(len(accs)),
                                    "chosen": chosen}
            print(f"{arm:15s} n={n:5d}: {100 * mean:.1f} ± {100 * results[arm][str(n)]['se']:.1f}  "
                  f"({chosen}; {time.perf_counter() - t:.0f} s)", flush=True)
    gains: dict = {}
    if "scratch" in results:
        for arm in results:
            if arm in PRETRAINED:
                gains[arm] = {}
                for n in args.sizes:
                    a, b = results[arm][str(n)]["accuracies"], results["scratch"][str(n)]["accuracies"]
                    welch = stats.ttest_ind(a, b, equal_var=False)
                    gains[arm][str(n)] = {"gain": statistics.fmean(a) - statistics.fmean(b),
                                          "p_welch": float(welch.pvalue)}
    data = {"sizes": args.sizes, "seeds": args.seeds, "arms": list(results), "results": results, "gains": gains,
            "check_at": [s for s in CHECK_AT if s <= args.max_steps], "lrs": list(LRS),
            "weight_decays": list(WEIGHT_DECAYS), "batch_size": BATCH, "validation_images": list(VALIDATION),
            "pool": POOL, "tuning_draw": TUNING_DRAW,
            "autoencoder": {"path": str(args.autoencoder), "command": ae_config.get("command", ""),
                            "epochs": ae_config.get("epochs"), "test_loss": ae_config.get("test_loss"),
                            "train_loss": ae_config.get("train_loss"), "seconds": ae_config.get("seconds")},
            "seconds": time.perf_counter() - t0, "threads": torch.get_num_threads()}
    write_results(args.out, data, render(data))
    plot(Path(args.out), data)
    print(render(data))


if __name__ == "__main__":
    main()
