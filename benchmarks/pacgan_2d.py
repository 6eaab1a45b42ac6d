"""PacGAN's 2-D mode-collapse tables (Lin et al. 2018, Table 1: ring and grid) trained towards convergence.

GAN vs PacGAN2/3/4 on the ring (8 Gaussians on the unit circle, std 0.01) and the grid (25 Gaussians on
{-4, -2, 0, 2, 4}^2, std 0.05), each model on both data sets with ``--seeds`` seeds. The networks are the paper's
shape (generator: ReLU MLP with batch norm on a 2-D Gaussian latent; discriminator: maxout MLP with 5 pieces, its
input ``m`` samples wide), at the widths given (``--g-hidden``, ``--d-hidden``: 4 x 128 and 3 x 128 by default; the
paper's 4 x 400 and 3 x 200 cost 2.3 x as much per step). The game is Goodfellow et al.'s with the non-saturating
generator loss, one discriminator step and one generator step per iteration on ``--batch-size`` packs of fresh
points; Adam from ``--lr`` decaying geometrically to ``--lr-end`` at ``--decay-steps`` (default ``--steps``).

All runs of one model (data sets x seeds) train side by side in one process
(:func:`genprior.train.gan_ensemble.train_gan_ensemble`: the runs stay independent); ``--jobs`` models run as
separate processes. Every ``--every`` steps each run is measured as in PacGAN (VEEGAN's protocol) on 2,500 samples
from fixed latents: high quality within 3 std of the nearest mode; modes captured = modes with at least one
high-quality sample; reverse KL of the high-quality samples' mode histogram against uniform. Those measurements are
the convergence curves; the last of them is the table. The state is saved at the same times under ``--runs``, and a
killed or repeated run resumes there (raise ``--steps`` with a constant learning rate to train further).

Writes ``benchmarks/results/pacgan_2d.{json,md,png}`` and ``pacgan_2d_curves.png``.

    python benchmarks/pacgan_2d.py [--seeds 5] [--steps 40000] [--jobs 2] [--g-hidden 400 400 400 400] ...
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch
from common import RESULTS, parser, write_results

from genprior.data.toy2d import toy2d
from genprior.devices import pick_device
from genprior.evaluate.modes import mode_statistics
from genprior.models.mlp import MLPDiscriminator, MLPGenerator
from genprior.models.pack import PackedDiscriminator
from genprior.plotting import pyplot, save_figure
from genprior.reports import cpu_name
from genprior.train.gan import sample
from genprior.train.gan_ensemble import train_gan_ensemble

MODELS = {"GAN": 1, "PacGAN2": 2, "PacGAN3": 3, "PacGAN4": 4}
# Lin et al. 2018, Table 1 (10 trials, mean ± standard error): modes, high-quality fraction, reverse KL
PUBLISHED = {
    "ring": {"GAN": (6.3, 0.5, 0.982, 0.002, 0.45, 0.09), "PacGAN2": (7.9, 0.1, 0.956, 0.020, 0.07, 0.03),
             "PacGAN3": (7.8, 0.1, 0.977, 0.003, 0.10, 0.02), "PacGAN4": (7.8, 0.1, 0.959, 0.014, 0.07, 0.02)},
    "grid": {"GAN": (17.3, 0.8, 0.948, 0.007, 0.70, 0.07), "PacGAN2": (23.8, 0.7, 0.913, 0.008, 0.13, 0.04),
             "PacGAN3": (24.6, 0.4, 0.942, 0.004, 0.06, 0.02), "PacGAN4": (24.8, 0.2, 0.936, 0.006, 0.04, 0.01)},
}
EVAL_SAMPLES = 2500


def run_names(a: argparse.Namespace) -> list[tuple[str, int]]:
    """The runs of one model: (data set, seed) pairs."""
    return [(ds, seed) for ds in a.datasets for seed in range(a.seeds)]


def statistics_of(generator: torch.nn.Module, dataset: str, seed: int) -> dict:
    """PacGAN's measures of one generator on 2,500 samples from latents fixed by its seed."""
    mix = toy2d(dataset)
    x = sample(generator, EVAL_SAMPLES, rng=torch.Generator().manual_seed(20_000 + seed))
    st = mode_statistics(x, mix.modes, mix.std)
    return {"modes": st["modes"], "high_quality_fraction": st["high_quality_fraction"],
            "reverse_kl": st["reverse_kl"] if st["reverse_kl"] is not None else math.log(len(mix.modes))}


def train_model(name: str, a: argparse.Namespace) -> dict:
    """Train every run of model ``name`` in one ensemble; its per-run curves, final statistics and seed-0 samples."""
    torch.set_num_threads(1)
    device = pick_device(a.device)
    m = MODELS[name]
    runs = run_names(a)
    gens, discs = [], []
    for ds, seed in runs:  # the same initial generator for a seed on every model
        torch.manual_seed(1000 * a.datasets.index(ds) + seed)
        gens.append(MLPGenerator(latent_dim=2, output_dim=2, hidden=tuple(a.g_hidden), batch_norm=a.batch_norm))
        discs.append(PackedDiscriminator(MLPDiscriminator(input_dim=2 * m, hidden=tuple(a.d_hidden), pieces=a.pieces), m))
    mixes = [toy2d(ds) for ds, _ in runs]
    for module in (*gens, *discs):
        module.to(device)

    def real(n: int, rng: torch.Generator) -> torch.Tensor:
        return torch.stack([mix.sample(n, generator=rng) for mix in mixes])

    def monitor(generators) -> list[dict]:
        return [statistics_of(g, ds, seed) for g, (ds, seed) in zip(generators, runs, strict=True)]

    t0 = time.perf_counter()
    info = train_gan_ensemble(gens, discs, real, steps=a.steps, packing=m, batch_size=a.batch_size, lr=a.lr,
                              lr_end=a.lr_end, decay_steps=a.decay_steps, betas=(a.beta1, 0.999), seed=m, every=a.every,
                              out_dir=Path(a.runs) / name, resume=True, progress=not a.quiet, monitor=monitor,
                              command="python benchmarks/pacgan_2d.py",
                              settings={"runs_named": [f"{ds}-s{seed}" for ds, seed in runs],
                                        "g_hidden": a.g_hidden, "d_hidden": a.d_hidden, "pieces": a.pieces,
                                        "batch_norm": a.batch_norm})
    history = info["history"]
    final = history[-1]["monitor"] if history else monitor(gens)
    shown = {ds: sample(g, EVAL_SAMPLES, rng=torch.Generator().manual_seed(20_000)).tolist()
             for g, (ds, seed) in zip(gens, runs, strict=True) if seed == 0}
    return {"name": name, "runs": runs, "final": final, "steps": [h["step"] for h in history],
            "curves": [h["monitor"] for h in history], "seconds_this_call": time.perf_counter() - t0,
            "seconds_recorded": sum(h["seconds"] for h in history), "steps_done": info["steps_done"], "shown": shown}


def mean_se(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan"))


def summarise(done: dict, a: argparse.Namespace) -> dict:
    """Per data set and model: means ± standard errors over seeds, per-seed rows, mean curves; the PacGAN2 - GAN
    difference in modes (Welch's t-test)."""
    from scipy.stats import ttest_ind

    results: dict = {}
    for ds in a.datasets:
        results[ds] = {}
        for name, out in done.items():
            idx = [i for i, (d, _) in enumerate(out["runs"]) if d == ds]
            rows = [out["final"][i] for i in idx]
            entry = {"seeds": len(rows), "per_seed": rows}
            for key, short in (("modes", "modes"), ("high_quality_fraction", "high_quality"), ("reverse_kl", "reverse_kl")):
                entry[f"{short}_mean"], entry[f"{short}_se"] = mean_se([r[key] for r in rows])
            entry["curve"] = {"step": out["steps"], **{
                key: [statistics.fmean(c[i][key] for i in idx) for c in out["curves"]]
                for key in ("modes", "high_quality_fraction", "reverse_kl")}}
            p = PUBLISHED[ds][name]
            entry["published"] = {"modes": p[0], "modes_se": p[1], "high_quality": p[2], "high_quality_se": p[3],
                                  "reverse_kl": p[4], "reverse_kl_se": p[5], "trials": 10}
            results[ds][name] = entry
        if {"GAN", "PacGAN2"} <= set(done):
            pac, plain = ([r["modes"] for r in results[ds][n]["per_seed"]] for n in ("PacGAN2", "GAN"))
            with warnings.catch_warnings():  # identical per-seed values (p = nan) make scipy warn
                warnings.simplefilter("ignore", RuntimeWarning)
                p = float(ttest_ind(pac, plain, equal_var=False).pvalue) if len(pac) > 1 else float("nan")
            results[ds]["pacgan2_minus_gan"] = {
                "modes": statistics.fmean(pac) - statistics.fmean(plain),
                "se": math.hypot(results[ds]["PacGAN2"]["modes_se"], results[ds]["GAN"]["modes_se"]), "p_welch": p}
    return results


def main() -> None:
    p = parser(__doc__, out=RESULTS / "pacgan_2d", device="cpu")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=40000, help="discriminator (= generator) steps per run")
    p.add_argument("--batch-size", type=int, default=100, help="packs per step (PacGAN-m draws m x this many samples)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate at the start (paper 1e-4, constant)")
    p.add_argument("--lr-end", type=float, default=1e-5, help="decay the rate geometrically to this (0: constant)")
    p.add_argument("--decay-steps", type=int, default=None,
                   help="the step at which the decay reaches --lr-end (default --steps; set it to train in parts)")
    p.add_argument("--beta1", type=float, default=0.5, help="Adam beta1 (paper 0.8)")
    p.add_argument("--g-hidden", type=int, nargs="+", default=[128, 128, 128, 128], help="paper: 400 400 400 400")
    p.add_argument("--d-hidden", type=int, nargs="+", default=[128, 128, 128], help="paper: 200 200 200")
    p.add_argument("--pieces", type=int, default=5, help="maxout pieces in D")
    p.add_argument("--no-batch-norm", dest="batch_norm", action="store_false", help="no batch norm in G")
    p.add_argument("--datasets", nargs="+", default=["ring", "grid"], choices=["ring", "grid"])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--every", type=int, default=1000, help="steps between measurements and saved states")
    p.add_argument("--jobs", type=int, default=1, help="models trained at once, one process (one thread) each")
    p.add_argument("--runs", default="runs/pacgan_2d", help="folder of the training states (resumed)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    a = p.parse_args()
    a.lr_end = a.lr_end or None

    t_all = time.perf_counter()
    if a.jobs > 1:
        with ProcessPoolExecutor(max_workers=a.jobs, mp_context=get_context("spawn")) as pool:
            done = dict(zip(a.models, pool.map(train_model, a.models, [a] * len(a.models)), strict=True))
    else:
        done = {name: train_model(name, a) for name in a.models}
    done = {name: done[name] for name in MODELS if name in done}
    results = summarise(done, a)
    setup = {"steps": a.steps, "steps_done": {n: o["steps_done"] for n, o in done.items()}, "batch_size_packs": a.batch_size,
             "lr": a.lr, "lr_end": a.lr_end, "decay_steps": a.decay_steps or a.steps, "adam_betas": [a.beta1, 0.999],
             "generator": {"hidden": a.g_hidden, "batch_norm": a.batch_norm, "latent_dim": 2},
             "discriminator": {"hidden": a.d_hidden, "maxout_pieces": a.pieces}, "loss": "nonsaturating",
             "d_steps_per_g_step": 1, "eval_samples": EVAL_SAMPLES, "every": a.every, "threads_per_model": 1,
             "jobs": a.jobs, "training_seconds": {n: o["seconds_recorded"] for n, o in done.items()},
             "seconds_this_call": time.perf_counter() - t_all,
             "machine": f"{cpu_name() if a.device == 'cpu' else pick_device(a.device)}, torch {torch.__version__}"}
    out = Path(a.out)
    write_results(out, {**results, "setup": setup}, markdown(results, setup), device=pick_device(a.device))
    plot_samples({n: o["shown"] for n, o in done.items()}, out.with_suffix(".png"))
    plot_curves(results, out.with_name(out.name + "_curves.png"))
    print(markdown(results, setup))


def markdown(results: dict, setup: dict) -> str:
    datasets = [ds for ds in ("ring", "grid") if ds in results]
    some = next(v for v in results[datasets[0]].values() if "seeds" in v)
    lines = ["# PacGAN 2-D mode collapse (Lin et al. 2018, Table 1)", "",
             (f"Ours: mean ± standard error over {some['seeds']} seeds, after {max(setup['steps_done'].values()):,} steps "
              "per run; published: the paper's Table 1 (10 trials, 400,000 steps). 2,500 samples per run; a sample is "
              "high quality within 3 std of its nearest mode; a mode is captured when it has one; reverse KL of the "
              "high-quality samples' mode histogram against uniform."), ""]
    for ds in datasets:
        rows = {n: r for n, r in results[ds].items() if n in MODELS}
        M = len(toy2d(ds).modes)
        lines += [f"## {ds} ({M} modes)", "",
                  "| model | modes (ours) | modes (paper) | high quality (ours) | high quality (paper) | reverse KL (ours) | reverse KL (paper) |",
                  "|---|---|---|---|---|---|---|"]
        for name, r in rows.items():
            pub = r["published"]
            lines.append(f"| {name} | {r['modes_mean']:.1f} ± {r['modes_se']:.1f} | {pub['modes']} ± {pub['modes_se']} | "
                         f"{r['high_quality_mean']:.3f} ± {r['high_quality_se']:.3f} | {pub['high_quality']:.3f} ± {pub['high_quality_se']:.3f} | "
                         f"{r['reverse_kl_mean']:.2f} ± {r['reverse_kl_se']:.2f} | {pub['reverse_kl']:.2f} ± {pub['reverse_kl_se']:.2f} |")
        d = results[ds].get("pacgan2_minus_gan")
        if d:
            lines += ["", (f"PacGAN2 minus GAN, modes captured: {d['modes']:+.1f} ± {d['se']:.1f} (Welch's t-test, two-sided "
                           f"p = {d['p_welch']:.3f}).")]
        lines.append("")
    done, horizon = max(setup["steps_done"].values()), setup.get("decay_steps") or setup["steps"]
    if setup["lr_end"] and done < horizon:
        lines += ["## Not finished", "",
                  (f"These runs are at step {done:,} of their {horizon:,}-step schedule (the rate is still "
                   f"{setup['lr'] * (setup['lr_end'] / setup['lr']) ** (done / max(horizon - 1, 1)):.1e}, on its way "
                   f"to {setup['lr_end']:g}). Their states are kept; the same command with a larger --steps "
                   "continues them exactly."), ""]
    lines += ["![samples](pacgan_2d.png)", "", (f"Convergence (mean over seeds, every {setup['every']:,} steps): "
                                               "![curves](pacgan_2d_curves.png)"), "",
              "## Budget and deviations from the paper", "",
              (f"- Networks: G {setup['generator']['hidden']} ReLU{' + batch norm' if setup['generator']['batch_norm'] else ''} "
               f"(paper 4 x 400 + batch norm), D {setup['discriminator']['hidden']} maxout-{setup['discriminator']['maxout_pieces']} "
               "(paper 3 x 200 maxout-5); PyTorch's default initialisation (paper: N(0, 0.02) weights, zero biases). "
               "Why: on this CPU the paper's widths cost 2.3 x as much per step (25 ms per run-step on one thread), "
               "so its 400,000 steps for the 40 runs would take about 110 core-hours; `gpu_checks.sh pacgan2d` runs "
               "them on a GPU."),
              (f"- Optimiser: Adam lr {setup['lr']}" + (f" decaying geometrically to {setup['lr_end']} at step {setup['decay_steps']:,}" if setup["lr_end"] else "")
               + f", betas {tuple(setup['adam_betas'])}, {setup['batch_size_packs']} packs of fresh points per step, "
               f"{max(setup['steps_done'].values()):,} steps (paper: lr 1e-4, beta1 0.8, batch 100, 400 epochs of 1,000 "
               "batches = 400,000 steps, a fixed set of 100,000 points)."),
              ("- The discriminator and the generator step alternately (the paper's code updates both from one batch); "
               "PacGAN-m draws m x the points per step for the same number of packs, as the paper."),
              "- Samples are drawn with the generator in eval mode (batch norm on running statistics).",
              ("- The widths and the schedule were chosen on short runs of PacGAN2 on the grid from other "
               "initialisations and data streams (5 runs each, 8,000-12,000 steps, constant or decaying rates from "
               "3e-4 to 1e-3), not on the runs reported here."),
              ("- CPU time: " + ", ".join(f"{n} {s / 60:.0f} min" for n, s in setup["training_seconds"].items())
               + f" of one thread each ({setup['machine']}); all seeds and both data sets of a model train side by "
               "side in one process."), ""]
    return "\n".join(lines)


def plot_samples(shown: dict, path: Path) -> None:
    datasets = [ds for ds in ("ring", "grid") if any(ds in s for s in shown.values())]
    fig, axes = pyplot().subplots(len(datasets), len(shown), figsize=(3 * len(shown), 3 * len(datasets)), squeeze=False)
    for i, ds in enumerate(datasets):
        mix = toy2d(ds)
        for j, (name, by_ds) in enumerate(shown.items()):
            ax = axes[i, j]
            x = torch.tensor(by_ds[ds])
            ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.4, c="tab:blue")
            ax.scatter(mix.modes[:, 0], mix.modes[:, 1], s=12, marker="x", c="tab:red")
            lim = 1.5 if ds == "ring" else 5.5
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
            ax.set_title(f"{ds}: {name} (seed 0)", fontsize=9)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_curves(results: dict, path: Path) -> None:
    datasets = [ds for ds in ("ring", "grid") if ds in results]
    keys = (("modes", "modes captured"), ("high_quality_fraction", "high-quality fraction"), ("reverse_kl", "reverse KL"))
    fig, axes = pyplot().subplots(len(datasets), 3, figsize=(12, 3.2 * len(datasets)), squeeze=False)
    for i, ds in enumerate(datasets):
        for j, (key, label) in enumerate(keys):
            ax = axes[i, j]
            for name, r in results[ds].items():
                if name in MODELS:
                    ax.plot(r["curve"]["step"], r["curve"][key], label=name)
            ax.set_title(f"{ds}: {label}", fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[i, 0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


if __name__ == "__main__":
    main()
