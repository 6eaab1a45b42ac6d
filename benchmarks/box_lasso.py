"""The box-constrained pixel Lasso (``box=True``, the ``lasso-pixel alpha=auto`` row of ``csgm_mnist.py``):
``solver="auto"`` against ``solver="fista"``.

``auto`` runs polish on the bound-constrained problem (each pixel held at 0, free or held at 1 in place of its sign)
and hands the rows it does not accept to FISTA from zero; ``fista`` is FISTA alone. Protocol of ``csgm_mnist.py``:
first 300 MNIST test images, Gaussian ``A`` (seed ``m``), sigma = 0.1, measurement seed ``1001 + m``, and the alpha
that row chose (read from ``results/csgm_mnist.json``; chosen again on held-out images 300..399 where it is
missing). Per m: median seconds over ``--rounds`` rounds that alternate the two solvers, their ratio, each one's
error per pixel and the mean relative gap of the box objective ``1/2||y - A c||^2 + alpha sum(c)`` (auto against
fista; negative: auto lower). Run with one thread (``OMP_NUM_THREADS=1``); writes ``results/box_lasso.json`` / ``.md``.
``--n-images`` is at most 300 (the alpha is chosen on the held-out images 300..399; a larger value is refused).

    OMP_NUM_THREADS=1 python benchmarks/box_lasso.py [--m 10 25 ...] [--rounds 3]
"""

from __future__ import annotations

import statistics
import time

import torch
from common import RESULTS, parser, read_results, refuse_held_out, write_results

# run as a script, benchmarks/ is on the path: the protocol's m list is csgm_mnist's
from csgm_mnist import M_LIST

from genprior.data import load_dataset
from genprior.devices import pick_device
from genprior.operators import Gaussian
from genprior.reports import cpu_name, markdown_table
from genprior.reports.tables import format_value
from genprior.solvers import ALPHA_GRID, lasso, select_alpha

TUNED_ROW = "lasso-pixel alpha=auto"  # csgm_mnist's row of the box Lasso with a tuned alpha


def tuned_alphas() -> dict[int, float]:
    """The alpha per m of csgm_mnist's tuned row, where its results file has it (in the row's options; older
    files: beside them)."""
    data = read_results(RESULTS / "csgm_mnist") or {}
    return {r["m"]: r["options"]["alpha"] if "options" in r else r["alpha"] for r in data.get(TUNED_ROW, [])}


def box_objective(op: Gaussian, y: torch.Tensor, coef: torch.Tensor, alpha: float) -> torch.Tensor:
    """``1/2||y - A c||^2 + alpha sum(c)`` per row (``c`` in the box), float64."""
    c = coef.reshape(coef.shape[0], -1).cpu().to(torch.float64)
    a = op.matrix().cpu().to(torch.float64)
    return 0.5 * (y.cpu().to(torch.float64) - c @ a.T).pow(2).sum(1) + alpha * c.sum(1)


def main() -> None:
    p = parser(__doc__, n_images=300, m=M_LIST, data_dir=True, out=RESULTS / "box_lasso")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of the two solvers (default %(default)s)")
    args = p.parse_args()
    refuse_held_out(p, args.n_images)
    test = load_dataset("mnist", "test", data_dir=args.data_dir).images
    images, holdout = test[:args.n_images], test[300:400]
    alphas = tuned_alphas()
    device = pick_device("auto")  # a CUDA GPU when there is one; the measurements are drawn on the CPU
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = []
    for m in args.m:
        op = Gaussian(m=m, shape=tuple(images.shape[1:]), noise_std=0.1, seed=m)
        y = op.measure(images, seed=1001 + m).to(device)  # csgm_mnist's run seed 1000 + m, plus 1
        alpha = alphas.get(m)
        if alpha is None:
            alpha, _ = select_alpha(op, holdout, basis="pixel", alphas=ALPHA_GRID, seed=1003 + m)
        seconds: dict[str, list[float]] = {"auto": [], "fista": []}
        results = {}
        for round_ in range(args.rounds):
            for solver in (("auto", "fista") if round_ % 2 == 0 else ("fista", "auto")):
                sync()
                t0 = time.perf_counter()
                results[solver] = lasso(op, y, basis="pixel", alpha=alpha, box=True, solver=solver)
                sync()
                seconds[solver].append(time.perf_counter() - t0)
        objective = {s: box_objective(op, y, r.coef, alpha) for s, r in results.items()}
        mse = {s: float((r.x.cpu() - images).pow(2).mean()) for s, r in results.items()}
        auto_s, fista_s = statistics.median(seconds["auto"]), statistics.median(seconds["fista"])
        gap = (objective["auto"] - objective["fista"]) / objective["fista"]
        rows.append({"m": m, "alpha": alpha, "auto_s": auto_s, "fista_s": fista_s, "speedup": fista_s / auto_s,
                     "mse_auto": mse["auto"], "mse_fista": mse["fista"], "objective_gap_mean": float(gap.mean())})
        print(f"m={m:4d} alpha={alpha:g}  auto {auto_s:6.2f}s  fista {fista_s:6.2f}s  x{fista_s / auto_s:.2f}  "
              f"mse {format_value(mse['auto'], 5)} / {format_value(mse['fista'], 5)}", flush=True)
    settings = {"n_images": args.n_images, "rounds": args.rounds, "threads": torch.get_num_threads(), "cpu": cpu_name()}
    table = markdown_table([{**r, "auto_s": f"{r['auto_s']:.2f}", "fista_s": f"{r['fista_s']:.2f}",
                             "speedup": f"{r['speedup']:.2f}", "mse_auto": format_value(r["mse_auto"]),
                             "mse_fista": format_value(r["mse_fista"]),
                             "objective_gap_mean": f"{r['objective_gap_mean']:.2e}"} for r in rows])
    md = (f"# Box-constrained pixel Lasso: solver='auto' vs 'fista'\n\n{settings['n_images']} MNIST test images, "
          f"median of {args.rounds} alternating rounds, {settings['threads']} thread(s), {settings['cpu']}.\n\n"
          f"{table}\n")
    write_results(args.out, {"rows": rows, "settings": settings}, md, device=device)
    print(f"wrote {args.out}.json/.md")


if __name__ == "__main__":
    main()
