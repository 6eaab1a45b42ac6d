"""Inverting random ReLU generators: layer-wise linear programming vs gradient descent (Lei, Jalal, Dhillon &
Dimakis, "Inverting Deep Generative Models, One Layer at a Time", NeurIPS 2019).

Nets ``G(z) = W3 ReLU(W2 ReLU(W1 z))`` with ``z`` in R^20, i.i.d. Gaussian weights ``N(0, 2 / fan_in)`` (so every
layer keeps the scale of ``z``), no biases, widths growing by the expansion factor ``r`` per layer
(20 -> 20r -> 20r^2 -> 20r^3). For each ``r``,
``--nets`` random nets x ``--latents`` latents ``z* ~ N(0, I)``; the target is ``x = G(z*)`` exactly (the
realizable case) or ``x + noise`` (uniform in [-noise, noise] per entry). Methods: ``invert_layerwise`` (one
l_inf LP per layer and image, its output-layer threshold set to the noise level, as its docstring advises) and gradient descent on ``||G(z) - x||^2`` (``csgm`` with the identity operator: Adam,
``--restarts`` random starts x ``--steps`` steps, lr 0.05, the best restart by its loss). A recovery counts as
exact when ``||z - z*|| / ||z*|| < 1e-3``. Writes results/lp_inversion.{json,md,png}.

    python benchmarks/lp_inversion.py
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from common import RESULTS, parser, write_results
from torch import nn

from genprior.operators import Identity
from genprior.reports import cpu_name, markdown_table, save_curves
from genprior.solvers import csgm, invert_layerwise
from genprior.solvers.lp import CERTIFY_TOL

K = 20


def random_net(factor: float, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    widths = [K] + [round(K * factor ** i) for i in (1, 2, 3)]
    mods: list[nn.Module] = []
    for i in range(3):
        layer = nn.Linear(widths[i], widths[i + 1], bias=False)
        nn.init.normal_(layer.weight, 0.0, (2.0 / widths[i]) ** 0.5)
        mods.append(layer)
        if i < 2:
            mods.append(nn.ReLU())
    net = nn.Sequential(*mods).double()
    net.latent_dim = K
    return net


def main() -> None:
    p = parser(__doc__, out=RESULTS / "lp_inversion")
    p.add_argument("--factors", type=float, nargs="+", default=[1.5, 2.0, 3.0, 4.0])
    p.add_argument("--nets", type=int, default=5)
    p.add_argument("--latents", type=int, default=10)
    p.add_argument("--noise", type=float, nargs="+", default=[0.0, 1e-3, 1e-2])
    p.add_argument("--restarts", type=int, default=5)
    p.add_argument("--steps", type=int, default=1000)
    args = p.parse_args()

    rows = []
    for factor in args.factors:
        for noise in args.noise:
            stats = {"lp": [], "gd": []}
            certified, unique = [], []
            seconds = {"lp": 0.0, "gd": 0.0}
            for net_seed in range(args.nets):
                net = random_net(factor, net_seed)
                g = torch.Generator().manual_seed(1000 + net_seed)
                z_true = torch.randn(args.latents, K, generator=g, dtype=torch.float64)
                with torch.no_grad():
                    x = net(z_true)
                x = x + noise * (2 * torch.rand(x.shape, generator=g, dtype=torch.float64) - 1)
                z_lp = []
                for target in x.split(1):  # one at a time: each certified within CERTIFY_TOL max|x| + 2 noise
                    t0 = time.perf_counter()
                    lp = invert_layerwise(net, target, threshold=noise,
                                          tol=CERTIFY_TOL + 2 * noise / float(target.abs().max()))
                    seconds["lp"] += time.perf_counter() - t0
                    z_lp.append(lp.z)
                    certified.append(lp.certified)
                    unique.append(lp.certified & lp.unique)
                z_lp = torch.cat(z_lp)
                t0 = time.perf_counter()
                op = Identity(shape=(1, 1, x.shape[1]))
                z_gd = csgm(net, op, x, restarts=args.restarts, steps=args.steps, lr=0.05, seed=net_seed).z
                seconds["gd"] += time.perf_counter() - t0
                for name, z in (("lp", z_lp), ("gd", z_gd)):
                    stats[name].append((z.double() - z_true).norm(dim=1) / z_true.norm(dim=1))
            n = args.nets * args.latents
            row = {"factor": factor, "widths": f"{K}-" + "-".join(str(round(K * factor ** i)) for i in (1, 2, 3)),
                   "noise": noise, "cases": n}
            for name in ("lp", "gd"):
                err = torch.cat(stats[name])
                row[f"{name}_exact"] = float((err < 1e-3).double().mean())
                row[f"{name}_median_error"] = float(err.median())
                row[f"{name}_seconds_per_latent"] = seconds[name] / n
            row["lp_certified"] = float(torch.cat(certified).double().mean())
            row["lp_certified_unique"] = float(torch.cat(unique).double().mean())
            rows.append(row)
            print(f"r={factor} noise={noise}: exact LP {row['lp_exact']:.2f} GD {row['gd_exact']:.2f}; LP certified "
                  f"{row['lp_certified']:.2f} (unique {row['lp_certified_unique']:.2f}); median error "
                  f"LP {row['lp_median_error']:.2e} GD {row['gd_median_error']:.2e}", flush=True)

    out = Path(args.out)
    settings = {"k": K, "nets": args.nets, "latents": args.latents, "gd": {"restarts": args.restarts,
                "steps": args.steps, "lr": 0.05}, "threads": torch.get_num_threads(), "cpu": cpu_name()}
    cols = ["widths", "noise", "cases", "lp_exact", "lp_certified", "lp_certified_unique", "gd_exact",
            "lp_median_error", "gd_median_error", "lp_seconds_per_latent", "gd_seconds_per_latent"]
    md = ("# Inverting random ReLU nets: layer-wise LP vs gradient descent\n\n"
          f"z in R^{K}, three linear layers (Gaussian weights N(0, 2/fan_in), no biases) with ReLU between them, widths "
          "growing by the factor r per layer; "
          f"{args.nets} random nets x {args.latents} latents per row; target G(z*) plus uniform noise of the given "
          f"size per entry (the LP's output threshold = that size). `lp_exact`/`gd_exact`: fraction with ||z - z*|| / ||z*|| < 1e-3. "
          f"`lp_certified`: fraction whose LPs all solved with max |G(z) - x| <= {CERTIFY_TOL:g} max |x| + 2 x noise "
          "(the LP's own certificate, which knows no z*); `lp_certified_unique`: certified with every layer's active "
          "units pinning its input, so that z is the only latent within that tolerance. Gradient descent: Adam, "
          f"{args.restarts} restarts x {args.steps} steps, lr 0.05. CPU {settings['cpu']}, {settings['threads']} "
          "threads.\n\n" + markdown_table(rows, cols))
    write_results(out, {"settings": settings, "rows": rows}, md)
    curves = {}
    for name, label in (("lp", "layer-wise LP"), ("gd", "gradient descent")):
        for noise in args.noise:
            curves[f"{label}, noise {noise:g}"] = [{"factor": r["factor"], "error": max(r[f"{name}_median_error"], 1e-16)}
                                                    for r in rows if r["noise"] == noise]
    save_curves(out.with_suffix(".png"), curves, x="factor", y="error", err=None, xlabel="expansion factor r",
                ylabel="median ||z - z*|| / ||z*||", title="Inverting random ReLU nets: layer-wise LP vs gradient descent")
    print(f"wrote {out}.json/.md/.png")


if __name__ == "__main__":
    main()
