"""Conditional GAN on MNIST (Mirza & Osindero 2014): a sample grid with one row per label, and how often the
zoo's MNIST classifier reads each generated digit as the label it was generated for.

    python benchmarks/cgan_mnist.py [--model mnist-cgan] [--per-class 1000]

Writes ``benchmarks/results/cgan_mnist.{json,md}`` and ``cgan_mnist_samples.png`` (10 x 10: row c = label c).
"""

from __future__ import annotations

from pathlib import Path

import torch
from common import RESULTS, parser, write_results

from genprior import zoo
from genprior.plotting import save_tiled
from genprior.reports import markdown_table
from genprior.train.classifier import predict


@torch.no_grad()
def main() -> None:
    p = parser(__doc__, out=RESULTS / "cgan_mnist", seed=0)
    p.add_argument("--model", default="mnist-cgan")
    p.add_argument("--classifier", default="mnist-classifier")
    p.add_argument("--per-class", type=int, default=1000)
    a = p.parse_args()
    torch.set_num_threads(1)
    G, cfg = zoo.resolve(a.model)
    clf, _ = zoo.resolve(a.classifier)
    G.eval()
    g = torch.Generator().manual_seed(a.seed)
    k = G.num_classes
    grid = G(torch.randn(10 * k, G.latent_dim, generator=g), torch.arange(k).repeat_interleave(10))
    out = Path(a.out)
    save_tiled(out.parent / (out.name + "_samples.png"), grid, nrow=10)
    rows = []
    for c in range(k):
        x = G(torch.randn(a.per_class, G.latent_dim, generator=g), torch.full((a.per_class,), c))
        prob = predict(clf, x).softmax(1)
        rows.append({"label": c, "read_as_label": float((prob.argmax(1) == c).float().mean()),
                     "mean_confidence": float(prob.max(1).values.mean())})
    overall = sum(r["read_as_label"] for r in rows) / k
    md = (f"# Conditional GAN on MNIST (`{a.model}`, {cfg.get('epochs')} epochs)\n\n"
          f"![samples, row c = label c]({out.name}_samples.png)\n\n"
          f"{a.per_class} samples per label, read by `{a.classifier}`: the generated digit is read as its label "
          f"**{overall:.1%}** of the time on average.\n\n" + markdown_table(rows, ["label", "read_as_label", "mean_confidence"])
          + f"\nTrained with: `{cfg.get('command')}` ({cfg.get('training_seconds_cpu_1_thread', '?')} s, 1 CPU thread, shared machine).\n")
    # "command" is the model's training command (from its zoo config); this script's own is in "provenance"
    write_results(out, {"model": a.model, "epochs": cfg.get("epochs"), "per_class": a.per_class,
                        "read_as_label_mean": overall, "per_label": rows, "command": cfg.get("command")}, md)
    print(md)


if __name__ == "__main__":
    main()
