"""Reproduce the CSGM MNIST figure (Bora et al. 2017, Fig. 1a) and its companion tables.

Protocol (../shared/DESIGN.md): first 300 MNIST test images; Gaussian A_ij ~ N(0, 1/m); noise sigma = 0.1
(sqrt(E||eta||^2) = sigma). Every row runs a method of the registry (:mod:`genprior.evaluate.recovery`) and is
named by :func:`~genprior.evaluate.recovery.row_name` (the method, then the options that differ from its defaults):
``csgm`` (Adam lr 0.01, 1000 steps, 10 restarts) and ``csgm lam=0.1``; ``csgm-fast``; ``lasso-pixel box=False``,
``lasso-dct box=False``, ``lasso-wavelet box=False`` (alpha 0.1, output clipped to [0, 1]: the CSGM reference's
Lasso); ``lasso-pixel alpha=auto`` (alpha chosen on held-out images 300..399, with the [0, 1] box: the baseline the
hybrid must beat at large m); ``hybrid`` (its default prior, the VAE ensemble) and ``hybrid model=mnist-vae``; and
``dip`` (the Deep Image Prior, no model). Writes results/csgm_mnist.{json,md,png}.

    python benchmarks/csgm_mnist.py                         # the full protocol
    python benchmarks/csgm_mnist.py --m 10 25 50 100 750    # a subset of m
    OMP_NUM_THREADS=1 python benchmarks/csgm_mnist.py --methods dip --out /tmp/dip/csgm_mnist
    python benchmarks/csgm_mnist.py --merge /tmp/dip/csgm_mnist.json --methods dip
                                                            # one row run apart (the DIP: about 1 h per core),
                                                            # then folded into the results
    python benchmarks/csgm_mnist.py --render-only           # rewrite the Markdown and the curves from the JSON

``--n-images`` is at most 300: the images from 300 on are held out (the tuned Lasso's alpha is chosen on 300..399,
csgm_fast's and the hybrid's defaults were chosen on 300..799), and a larger value is refused.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import torch
from common import (
    RESULTS,
    earlier_runs,
    named_rows,
    parser,
    read_results,
    refuse_held_out,
    rerender,
    write_results,
)

from genprior import zoo
from genprior.data import load_dataset
from genprior.devices import pick_device
from genprior.evaluate.recovery import AUTO, method, run_method
from genprior.operators import Downsample, Gaussian, Identity, Inpaint
from genprior.reports import cpu_name, markdown_table, save_curves, save_image_grid
from genprior.reports.tables import format_mean_ci, format_value
from genprior.solvers import dip

M_LIST = [10, 25, 50, 100, 200, 300, 400, 500, 750]
MODEL = "mnist-vae"  # the prior of the latent rows (--model)
HYBRID_MODEL = "mnist-vae-ensemble"  # the prior of the hybrid row (--hybrid-model; the hybrid's default)
# error per pixel of the original CSGM code on this kind of machine (issue #3): its VAE trained 100 epochs; each
# label names the registry row that code's method corresponds to
REFERENCE = {
    "CSGM reference code: csgm": {10: 0.0774, 25: 0.0265, 50: 0.0114, 100: 0.0080, 200: 0.0070, 500: 0.0068,
                                  750: 0.0066},
    "CSGM reference code: lasso-pixel box=False": {10: 0.1037, 25: 0.1040, 50: 0.1025, 100: 0.0943, 200: 0.0704,
                                                   500: 0.0079, 750: 0.0034},
}
REFERENCE_SECONDS = {"CSGM reference code: csgm": "0.78 s/image at m=10 .. 1.60 s/image at m=750",
                     "CSGM reference code: lasso-pixel box=False (scikit-learn)": "0.006-0.019 s/image"}
# the methods whose rows are the baselines of the hybrid's goal (issue #3: min(CSGM, best Lasso)), besides REFERENCE
ANCHOR_METHODS = ("csgm", "lasso-pixel", "lasso-dct", "lasso-wavelet")
GRID_M = (25, 100, 400, 750)  # compressed-sensing settings drawn as image grids
GRID_IMAGES = 10  # images per grid (save_image_grid's default)
TASK_SEED = 17
NOT_ROWS = ("tasks", "reference", "reference_seconds", "settings", "provenance")  # the results' other keys


def table_rows(model: str = MODEL, hybrid_model: str = HYBRID_MODEL, *, restarts: int | None = None,
               steps: int | None = None) -> dict[str, tuple[str, dict]]:
    """The rows of the tables, in order: row name -> ``(method, options)`` (:func:`common.named_rows`). ``model``: the
    latent rows' prior; ``hybrid_model``: the ``hybrid`` row's (the ``hybrid`` row with ``model`` is the one-VAE
    hybrid); ``restarts`` / ``steps``: ``csgm``'s (``None``: its defaults)."""
    csgm = {"model": model, "restarts": restarts, "steps": steps}
    return named_rows([("csgm", csgm), ("csgm", {**csgm, "lam": 0.1}), ("csgm-fast", {"model": model}),
                       *((f"lasso-{basis}", {"box": False}) for basis in ("pixel", "dct", "wavelet")),
                       ("lasso-pixel", {"alpha": AUTO}), ("hybrid", {"model": model}),
                       ("hybrid", {"model": hybrid_model}), ("dip", {})])


ROWS = table_rows()  # the default run's rows


def run_setting(op, images, holdout, *, rows, args, seed, done=()):
    """The ``rows`` (row name -> ``(method, options)``, :func:`table_rows`) on one operator, except those in
    ``done``: measurements ``op.measure(images, seed=seed + 1)``, each method with seed ``seed + 2`` (the tuned
    Lasso's alpha with ``seed + 3`` on ``holdout``). ``args.generators`` caches the zoo models on ``args.device``.
    Returns ``({row: point}, {row: recoveries}, y)``."""
    y = op.measure(images, seed=seed + 1)
    points, recs = {}, {}
    for row, (name, options) in rows.items():
        if row in done:
            continue
        options = dict(options)
        model = options.pop("model", None) or method(name).model  # None: a method without a generator
        generator = _generator(args, model) if model is not None else None
        # a method without a generator runs where y is: the DIP on the device, the Lasso on the CPU
        y_in = y.to(args.device) if name == "dip" else y
        res = run_method(name, images, op, y_in, generator=generator, seed=seed + 2, progress=args.progress,
                         tuning_images=holdout, **options)
        s = res.metrics
        used = {k: v for k, v in res.options.items() if k in method(name).options}
        info = {k: v for k, v in res.options.items() if k not in used}
        points[row] = {"m": op.output_size, "mse_per_pixel": s["mse_per_pixel"], "mse_se": s["mse_se"],
                       "psnr": s["psnr"], "ssim": s["ssim"], "seconds": res.seconds,
                       "seconds_per_image": res.seconds / len(images), "threads": torch.get_num_threads(),
                       "cpu": cpu_name(), "method": name, "options": used,
                       **({"model": model} if model is not None else {}), **info}
        recs[row] = res.x.cpu()
        print(f"  {op.name:10s} m={op.output_size:4d} {row:26s} mse "
              f"{format_mean_ci(s['mse_per_pixel'], 1.96 * s['mse_se'], 5)}  {res.seconds:7.1f}s", flush=True)
    return points, recs, y


def _generator(args, model: str):
    """The zoo model ``model`` on ``args.device``, loaded once per run."""
    if model not in args.generators:
        args.generators[model] = zoo.load(model).to(args.device)
    return args.generators[model]


def main() -> None:
    p = parser(__doc__, n_images=300, m=M_LIST, data_dir=True, out=RESULTS / "csgm_mnist", render_only=True)
    p.add_argument("--steps", type=int, default=method("csgm").options["steps"], help="csgm's Adam steps "
                   "(default %(default)s; another value names the rows csgm steps=N)")
    p.add_argument("--restarts", type=int, default=method("csgm").options["restarts"], help="csgm's restarts "
                   "(default %(default)s)")
    p.add_argument("--model", default=MODEL, help="prior of the latent rows (default %(default)s; another one is "
                   "named in the rows, model=NAME)")
    p.add_argument("--hybrid-model", default=HYBRID_MODEL, help="prior of the hybrid row (default %(default)s; the "
                   "hybrid row with --model is the one-VAE hybrid)")
    p.add_argument("--methods", nargs="*", default=None, metavar="ROW",
                   help="the rows to run, by their names (default: all: " + ", ".join(ROWS) + ")")
    p.add_argument("--fresh", action="store_true", help="ignore existing results instead of adding to them")
    p.add_argument("--skip-tasks", action="store_true", help="only the compressed-sensing curve")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--merge", nargs="*", default=[], help="results JSON files of other runs to fold in (their cells win)")
    p.add_argument("--grids-only", action="store_true",
                   help="only redraw the all-method image grids, every method on the first 10 images (tables unchanged)")
    args = p.parse_args()
    refuse_held_out(p, args.n_images, tuned="the tuned Lasso's alpha is chosen (csgm_fast's and the hybrid's defaults "
                    "on 300..799)")
    if args.render_only:
        rerender(args.out, lambda data: _markdown(_curves_of(data), data.get("tasks", {}), data["settings"]))
        data = read_results(args.out)
        _curves_png(Path(args.out), _curves_of(data), data["settings"]["n_images"])
        return
    args.all_rows = table_rows(args.model, args.hybrid_model, restarts=args.restarts, steps=args.steps)
    unknown_rows = [r for r in args.methods or () if r not in args.all_rows]
    if unknown_rows:
        p.error(f"--methods: no row {', '.join(map(repr, unknown_rows))}; the rows are: {', '.join(args.all_rows)}")
    args.rows = {r: spec for r, spec in args.all_rows.items() if args.methods is None or r in args.methods}

    args.device = pick_device("auto")
    args.generators = {}
    test = load_dataset("mnist", "test", data_dir=args.data_dir).images
    images, holdout = test[: args.n_images], test[300:400]
    shape = tuple(images.shape[1:])
    out = Path(args.out)
    if args.grids_only:
        _grids(out, images[:GRID_IMAGES], holdout, args)
        return
    old = {} if args.fresh else read_results(out) or {}
    curves: dict[str, list] = _curves_of(old)
    tasks: dict[str, dict] = old.get("tasks", {})
    t_all = time.perf_counter()
    others = [json.loads(Path(extra).read_text()) for extra in args.merge]
    args.earlier = earlier_runs(old, *others)  # the runs whose cells these results keep
    for other in others:
        for row, points in _curves_of(other).items():
            if row in args.rows:
                ms = {r["m"] for r in points}
                curves[row] = sorted([r for r in curves.get(row, []) if r["m"] not in ms] + points, key=lambda r: r["m"])
        for name, points in other.get("tasks", {}).items():
            tasks.setdefault(name, {}).update({r: pt for r, pt in points.items() if r in args.rows})
    if args.merge:
        _write(out, curves, tasks, args, t_all)
    for m in args.m:
        done = {row for row, points in curves.items() if any(r["m"] == m for r in points)}
        points, recs, _ = _cs_setting(m, images, holdout, rows=args.rows, args=args, done=done)
        for row, point in points.items():
            curves.setdefault(row, []).append(point)
            curves[row].sort(key=lambda r: r["m"])
        if points:
            _write(out, curves, tasks, args, t_all)
        if m in GRID_M and points:
            _cs_grid(_grid_stem(out, recs, args.all_rows), m, images, recs)

    if not args.skip_tasks:
        for name, op in _task_operators(shape).items():
            points, recs, y = run_setting(op, images, holdout, rows=args.rows, args=args, seed=TASK_SEED,
                                          done=set(tasks.get(name, {})))
            tasks.setdefault(name, {}).update(points)
            _write(out, curves, tasks, args, t_all)
            if points:
                _task_grid(_grid_stem(out, recs, args.all_rows), name, op, images, y, recs)
    print(f"wrote {out}.json/.md/.png")


def _curves_of(data: dict) -> dict[str, list]:
    """The compressed-sensing curves of results data (row name -> points), in the order of the rows."""
    return {k: data[k] for k in sorted((k for k in data if k not in NOT_ROWS), key=_row_order)}


def _cs_setting(m: int, images, holdout, *, rows, args, done=()):
    """run_setting on the protocol's Gaussian operator for ``m`` (operator seed ``m``, run seed ``1000 + m``)."""
    op = Gaussian(m=m, shape=tuple(images.shape[1:]), noise_std=0.1, seed=m)
    return run_setting(op, images, holdout, rows=rows, args=args, seed=1000 + m, done=done)


def _cs_grid(stem: str, m: int, images, recs) -> None:
    save_image_grid(Path(f"{stem}-cs-m{m}.png"), {"truth": images, **recs}, title=f"compressed sensing m={m}")


def _task_operators(shape) -> dict:
    return {
        "inpaint keep 20%": Inpaint(shape=shape, keep=0.2, noise_std=0.1, seed=7),
        "inpaint block 12": Inpaint(shape=shape, block=12, noise_std=0.1),
        "superres x2": Downsample(factor=2, shape=shape, noise_std=0.1),
        "superres x4": Downsample(factor=4, shape=shape, noise_std=0.1),
        "denoise sigma/pixel 0.1": Identity(shape=shape, noise_std=0.1, noise="entry"),
    }


def _task_grid(stem: str, name: str, op, images, y, recs) -> None:
    slug = "-".join(name.split()[:2]).replace("/", "-")  # "denoise sigma/pixel 0.1" -> denoise-sigma-pixel
    save_image_grid(Path(f"{stem}-{slug}.png"), {"truth": images, "measured": op.as_image(y), **recs},
                    title=f"{name} (m={op.output_size})")


def _grids(out: Path, images, holdout, args) -> None:
    """Every method on ``images`` (the grids' first images), with the full run's operators and seeds, drawn to the
    all-method grids ``OUT-cs-m*.png`` and ``OUT-<task>.png``: after a re-run of some methods, the pictures show
    them again beside the others without re-running every method on all 300 images."""
    shape = tuple(images.shape[1:])
    for m in GRID_M:
        _, recs, _ = _cs_setting(m, images, holdout, rows=args.all_rows, args=args)
        _cs_grid(str(out), m, images, recs)
    for name, op in _task_operators(shape).items():
        _, recs, y = run_setting(op, images, holdout, rows=args.all_rows, args=args, seed=TASK_SEED)
        _task_grid(str(out), name, op, images, y, recs)
    print(f"redrew the grids {out}-*.png")


def _grid_stem(out: Path, recs: dict, rows: dict) -> str:
    """Grids of a run of every row of ``rows`` go to ``OUT-...png``; a run of some rows only (an incremental rerun)
    writes ``OUT-<rows>-...png`` instead (``"hybrid model=mnist-vae"`` -> ``hybrid-model-mnist-vae``), so that it
    never overwrites the all-method grids with fewer rows."""
    if set(recs) >= set(rows):
        return str(out)
    return f"{out}-" + "-".join(re.sub(r"[^a-z0-9]+", "-", row.lower()).strip("-") for row in recs)


def _write(out: Path, curves, tasks, args, t_all) -> None:
    curves = _curves_of(curves)
    settings = {"n_images": args.n_images, "images": f"MNIST test 0..{args.n_images - 1}", "alpha_tuned_on": "MNIST test 300..399",
                "noise_std": 0.1, "noise": "total (CSGM)", "csgm": {"optimizer": "Adam", "lr": 0.01, "steps": args.steps,
                                                                    "restarts": args.restarts}, "model": args.model,
                "hybrid_model": args.hybrid_model,
                "device": str(args.device), "threads": torch.get_num_threads(),
                "seconds_this_run": time.perf_counter() - t_all}
    data = {**curves, "tasks": tasks, "reference": {k: [{"m": m, "mse_per_pixel": v} for m, v in ref.items()]
                                                    for k, ref in REFERENCE.items()},
            "reference_seconds": REFERENCE_SECONDS, "settings": settings}
    _curves_png(out, curves, args.n_images)
    write_results(out, data, _markdown(curves, tasks, settings), earlier=args.earlier, device=args.device)


def _curves_png(out: Path, curves, n_images: int) -> None:
    """``OUT.png``: the error-vs-m curves of ``curves`` and of the reference code."""
    save_curves(out.with_suffix(".png"), curves, title=f"MNIST compressed sensing, {n_images} test images, sigma=0.1",
                references={k: sorted(v.items()) for k, v in REFERENCE.items()})


def _markdown(curves, tasks, settings) -> str:
    ms = sorted({r["m"] for rows in curves.values() for r in rows})
    head = "| method | " + " | ".join(f"m={m}" for m in ms) + " |\n|---|" + "---|" * len(ms) + "\n"
    body = ""
    for row, points in curves.items():
        by_m = {r["m"]: r for r in points}
        body += f"| {row} | " + " | ".join(
            format_mean_ci(by_m[m]["mse_per_pixel"], 1.96 * by_m[m]["mse_se"]) if m in by_m else "" for m in ms) + " |\n"
    for label, ref in REFERENCE.items():
        body += f"| {label} | " + " | ".join(format_value(ref[m]) if m in ref else "–" for m in ms) + " |\n"
    times = "| method | " + " | ".join(f"m={m}" for m in ms) + " |\n|---|" + "---|" * len(ms) + "\n"
    for row, points in curves.items():
        by_m = {r["m"]: r for r in points}
        times += f"| {row} | " + " | ".join(format_value(by_m[m]["seconds_per_image"]) if m in by_m else ""
                                               for m in ms) + " |\n"
    has_dip = "dip" in curves or any("dip" in rows for rows in tasks.values())
    dip_note = (f" `dip`: the Deep Image Prior with its defaults (an untrained decoder per image, {dip.STEPS} Adam "
                f"steps at lr {dip.LR}; no model)." if has_dip else "")
    model = settings["model"]
    md = (f"# CSGM on MNIST: error per pixel vs measurements\n\n{settings['images']}, sigma = 0.1. Each row is a "
          "`genprior recover --method` name with the options that differ from the method's defaults: `csgm` is Adam "
          f"lr 0.01 x {settings['csgm']['steps']} steps x {settings['csgm']['restarts']} restarts (`lam=0.1`: the "
          "latent penalty); `lasso-* box=False`: alpha 0.1, the output clipped to [0, 1] (the CSGM reference's Lasso); "
          f"`lasso-pixel alpha=auto`: alpha chosen on {settings['alpha_tuned_on']}, inside the [0, 1] box; `hybrid`: "
          f"its defaults and its default prior `{settings.get('hybrid_model', HYBRID_MODEL)}`; `hybrid model={model}`: "
          f"the same with `{model}` alone.{dip_note} Mean ± 1.96 s.e. Device {settings['device']}, "
          f"{settings['threads']} threads.\n\n"
          + head + body + "\n## Seconds per image inside the estimator\n\n"
          + "; ".join(f"{label}: {seconds}" for label, seconds in REFERENCE_SECONDS.items()) + ".\n\n" + times)
    md += _other_threads(curves, tasks, settings["threads"]) + _machines(curves, tasks) + _time_to_quality(curves) + _goal(curves)
    for name, rows in tasks.items():
        md += f"\n## {name} (m = {next(iter(rows.values()))['m']})\n\n" + markdown_table(
            [{**rows[k], "method": k} for k in sorted(rows, key=_row_order)], ["method", "mse_per_pixel", "mse_se", "psnr", "ssim", "seconds"])
    return md


def _all_rows(curves, tasks) -> list[tuple[str, dict]]:
    """Every cell of the tables as ``(method, row)``: the compressed-sensing curves, then the tasks."""
    return [(k, r) for k, rs in curves.items() for r in rs] + [(k, r) for t in tasks.values() for k, r in t.items()]


def _other_threads(curves, tasks, threads: int) -> str:
    """A line naming the methods whose seconds were measured (by a later, merged run) on another thread count."""
    rows = _all_rows(curves, tasks)
    other: dict[int, set] = {}
    for name, row in rows:
        if row.get("threads", threads) != threads:
            other.setdefault(row["threads"], set()).add(name)
    return "".join(f"\nSeconds of {', '.join(sorted(ms, key=_row_order))} were measured by a later "
                   f"run on {n} thread{'s' if n != 1 else ''}.\n" for n, ms in sorted(other.items()))


def _machines(curves, tasks) -> str:
    """A line naming, per CPU, the methods whose seconds were measured on it (cells run before the CPU was recorded
    count as "not recorded"); empty while no cell records one. Sessions land on different CPUs."""
    by_cpu: dict[str, dict[str, set]] = {}  # cpu -> method -> which tables ("CS", "tasks")
    for table, rows in (("CS", _all_rows(curves, {})), ("tasks", _all_rows({}, tasks))):
        for name, row in rows:
            by_cpu.setdefault(row.get("cpu", "not recorded"), {}).setdefault(name, set()).add(table)
    if set(by_cpu) <= {"not recorded"}:
        return ""

    def named(methods: dict[str, set]) -> str:  # a method whose cells of one table only ran there says which
        return ", ".join(m + ("" if len(methods[m]) == 2 else f" ({next(iter(methods[m]))})")
                         for m in sorted(methods, key=_row_order))

    return "\nCPU of the seconds: " + "; ".join(f"{cpu}: {named(ms)}" for cpu, ms in sorted(by_cpu.items())) + ".\n"


def _row_order(row: str) -> int:
    """Rows of a table in the order of ROWS (cells added by a later run go to their place, not to the end; rows of
    other settings after them)."""
    order = list(ROWS)
    return order.index(row) if row in order else len(order)


def _time_to_quality(curves) -> str:
    """csgm (the paper's schedule) against csgm-fast, m by m: error ratio and speed-up in the same run."""
    slow = {r["m"]: r for r in curves.get("csgm", [])}
    fast = {r["m"]: r for r in curves.get("csgm-fast", [])}
    ms = sorted(set(slow) & set(fast))
    if not ms:
        return ""
    md = ("\n## Time to quality: `csgm` (the paper's schedule) vs `csgm-fast`\n\n`csgm-fast`: 40 random starts, 8 Adam steps "
          "(lr 0.3), the best 12 go on for 16 steps (lr 0.3 decaying to 0.003 on a cosine), the best 3 get 6 "
          "Levenberg-Marquardt steps, all on ||y - A G(z)||^2 + reg ||z||^2 with reg = 10/m up to m = 3k, ramping to 0 "
          "at m = 4k (k = 20; the rule chosen on MNIST test 300..499, the screening on 500..799). Goal: same mean error (within 2 %) in at most a tenth of the time. "
          "The seconds here are each cell's own, measured when it was computed (cells of one table can be hours and "
          "load levels apart); the speed-up to quote, with a 95 % interval on each error ratio, is timed in one process "
          "by `benchmarks/time_to_quality.py` (results/time_to_quality.md).\n\n"
          "| m | error, csgm | error, csgm-fast | error ratio | seconds, csgm | seconds, csgm-fast | speed-up |\n"
          "|---|---|---|---|---|---|---|\n")
    for m in ms:
        a, b = slow[m], fast[m]
        md += (f"| {m} | {format_value(a['mse_per_pixel'], 5)} | {format_value(b['mse_per_pixel'], 5)} | "
               f"{b['mse_per_pixel'] / a['mse_per_pixel']:.3f} | "
               f"{a['seconds']:.1f} | {b['seconds']:.1f} | {a['seconds'] / b['seconds']:.1f}x |\n")
    return md


def _goal(curves) -> str:
    """hybrid against 0.7 x min(csgm, best Lasso), ours and the reference rows, m by m."""
    hyb = {r["m"]: r for r in curves.get("hybrid", [])}
    if not hyb:
        return ""
    md = ("\n## Beyond both curves: `--method hybrid` against 0.7 x the better baseline\n\n"
          "Baseline at each m: the lowest of our `csgm` rows, our Lasso rows (`box=False` and `alpha=auto`) and the "
          "reference rows (the issue's anchors; our other methods, `csgm-fast`, the one-VAE hybrid and `dip`, are not "
          "baselines of this goal). "
          "Goal: hybrid <= 0.7 x baseline; where the baseline is below 1e-3, hybrid <= baseline.\n\n"
          "| m | hybrid | best baseline | which | ratio | goal met |\n|---|---|---|---|---|---|\n")
    for m in sorted(hyb):
        cands = {name: r["mse_per_pixel"] for name, rows in curves.items() if name.split()[0] in ANCHOR_METHODS
                 for r in rows if r["m"] == m}  # a row's name starts with its method's
        cands.update({name: ref[m] for name, ref in REFERENCE.items() if m in ref})
        if not cands:
            md += f"| {m} | {format_value(hyb[m]['mse_per_pixel'], 5)} | – | no baseline measured | – | – |\n"
            continue
        which = min(cands, key=cands.get)
        base = cands[which]
        h = hyb[m]["mse_per_pixel"]
        target = base if base < 1e-3 else 0.7 * base
        md += (f"| {m} | {format_value(h, 5)} | {format_value(base, 5)} | {which} | {h / base:.2f} | "
               f"{'yes' if h <= target else '**no**'} |\n")
    return md


if __name__ == "__main__":
    main()
