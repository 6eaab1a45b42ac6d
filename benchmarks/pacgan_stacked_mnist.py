"""Stacked MNIST mode collapse: DCGAN vs PacDCGAN2 (Lin et al. 2018, PacGAN, Sec. 5.2, Tables 2-3) on a CPU budget.

Data: three MNIST training digits drawn independently as the three channels (1,000 modes, see
``genprior.data.stacked``). Each (model, seed) trains a DCGAN generator with the non-saturating loss
(k = 1); PacDCGAN2 is the same G with a discriminator that sees two samples stacked along channels
(6 input channels), everything else identical. Evaluation as in VEEGAN / PacGAN: 26,000 samples, the
zoo's ``mnist-classifier`` labels each channel, modes captured = distinct 3-digit codes hit, KL = KL(Q || U)
of the code histogram against uniform over 1,000 codes. The mean classifier confidence (max softmax,
averaged over channels and samples) is reported as a rough quality check: garbage samples can still
hit many codes.

The default discriminator is tiny (``--d-channels 2``: 2 and 4 channels, about 430 parameters against the
generator's 348,000), the setting of PacGAN's Table 3 taken from the unrolled-GAN paper, "D = 1/4 G": the PacGAN
authors' code for it has a D of 2, 4 and 8 channels (about 550 parameters) against a G of 286,000. With it plain
DCGAN loses modes within 3,000 CPU steps and packing keeps more of them, at a lower KL
(results/pacgan_stacked_mnist.md); a DCGAN shown as many samples per step as PacDCGAN2 (``--batch-size 128 --models
DCGAN``, results/pacgan_stacked_mnist_dcgan_b128.md) loses more, not fewer. With 9,000 steps DCGAN recovers and
the two tie (results/pacgan_stacked_mnist_9k.md). The run is incremental: cells already in the JSON are kept, so the
script can be stopped and resumed, and ``--seed-start`` with ``--merge`` splits the seeds over processes.

Other settings, kept for comparison (results/pacgan_stacked_mnist_*.md): with a wider D (``--d-channels 8`` or
``32``) neither model collapses in 3,000-9,000 CPU steps with the non-saturating loss. ``--loss minimax`` trains G on
the game as written (min log(1 - D(G(z)))), which saturates early: both models mostly fail to train. ``--g-steps 2``
takes two generator steps per discriminator step, as the PacGAN authors' code for their Table 2 (VEEGAN's setting,
full-width D) does.

    python benchmarks/pacgan_stacked_mnist.py [--seeds 10] [--steps 3000] [--d-channels 2] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import torch
from common import RESULTS, earlier_runs, parser, write_results

from genprior import zoo
from genprior.data import load_dataset
from genprior.data.stacked import mode_of_digits, stack_digits
from genprior.devices import pick_device
from genprior.evaluate.modes import discrete_mode_statistics
from genprior.io import atomic_write_bytes, read_json
from genprior.models.dcgan import DCGANDiscriminator, DCGANGenerator
from genprior.plotting import save_tiled
from genprior.reports import cpu_name
from genprior.train.classifier import predict
from genprior.train.gan import sample, train_gan

MODELS = {"DCGAN": 1, "PacDCGAN2": 2}
# the discriminator widths of PacGAN's Table 3, which takes its two tiny-D settings from the unrolled-GAN paper
TABLE3_D_NOTES = {
    2: (" (PacGAN's Table 3 setting \"D = 1/4 G\", from the unrolled-GAN paper: the authors' code has a D of "
        "2, 4 and 8 channels, about 550 parameters, against a G of 286,000)"),
    4: " (PacGAN's Table 3 setting \"D = 1/2 G\": twice the channels of the \"D = 1/4 G\" setting)",
}
# Lin et al. 2018, Table 2 (VEEGAN's stacked-MNIST setup, full-size D, GPU budget): modes captured of 1,000 and KL
PUBLISHED = {"DCGAN": {"modes": 99.0, "kl": 3.40}, "PacDCGAN2": {"modes": 1000.0, "kl": 0.06}}


def classify_channels(classifier: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Digits ``(N, 3)`` and mean max-softmax confidence for stacked samples ``x`` ``(N, 3, H, W)``."""
    prob = predict(classifier, x.reshape(-1, 1, *x.shape[2:]).cpu()).softmax(1)  # computed on the classifier's device
    return prob.argmax(1).view(x.shape[0], x.shape[1]), float(prob.max(1).values.mean())


def _generator(setup: dict) -> DCGANGenerator:
    return DCGANGenerator(latent_dim=setup["latent_dim"], output_shape=(3, 28, 28), base_channels=setup["g_channels"])


def _discriminator(name: str, setup: dict) -> DCGANDiscriminator:
    return DCGANDiscriminator(input_shape=(3 * MODELS[name], 28, 28), base_channels=setup["d_channels"])


def _learning_rates(setup: dict) -> str:
    g_lr = setup.get("g_lr")
    return f"{setup['lr']}" if g_lr in (None, setup["lr"]) else f"{setup['lr']} (D) and {g_lr} (G)"


def _parameters(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def run_one(name: str, seed: int, data: torch.Tensor, classifier, a: argparse.Namespace) -> tuple[dict, torch.Tensor]:
    packing = MODELS[name]
    torch.manual_seed(seed)
    G, D = _generator(vars(a)), _discriminator(name, vars(a))
    G.to(a.device), D.to(a.device)  # train_gan trains on G's device; data and z are drawn on the CPU
    per_epoch = len(data) // (a.batch_size * packing)
    epochs = math.ceil(a.steps / per_epoch)
    if epochs == 1:  # one partial pass gives exactly a.steps steps
        data = data[: a.steps * a.batch_size * packing]
    t0 = time.perf_counter()
    # the same number of discriminator steps for both models: PacDCGAN2 sees 2x the samples per step
    train_gan(G, D, data, packing=packing, epochs=epochs, batch_size=a.batch_size, g_steps=a.g_steps, loss=a.loss, lr=a.lr,
              g_lr=a.g_lr, betas=(0.5, a.beta2), seed=seed, progress=False, command="benchmarks/pacgan_stacked_mnist.py")
    train_seconds = time.perf_counter() - t0
    x = sample(G, a.eval_samples, rng=torch.Generator().manual_seed(50_000 + seed))
    digits, confidence = classify_channels(classifier, x)
    st = discrete_mode_statistics(mode_of_digits(digits), 1000)
    return {"modes": st["modes"], "kl": st["kl"], "confidence": confidence, "train_seconds": train_seconds,
            "steps": a.steps if epochs == 1 else epochs * per_epoch}, x[:64]


def summarize(rows: list[dict]) -> dict:
    def mean_se(key):
        v = torch.tensor([r[key] for r in rows], dtype=torch.float64)
        return float(v.mean()), float(v.std(unbiased=True) / math.sqrt(len(v))) if len(v) > 1 else float("nan")

    (mm, ms), (km, ks), (cm, _) = mean_se("modes"), mean_se("kl"), mean_se("confidence")
    return {"modes_mean": mm, "modes_se": ms, "kl_mean": km, "kl_se": ks, "confidence_mean": cm, "seeds": len(rows)}


def packing_difference(results: dict, key: str) -> tuple[float, float, float] | None:
    """PacDCGAN2 minus DCGAN in the per-seed mean of ``key``: ``(difference, its standard error, two-sided p of
    Welch's t-test)``, or None without at least two seeds of each."""
    from scipy.stats import ttest_ind

    if not all(len(results.get(n, {}).get("per_seed", {})) >= 2 for n in MODELS):
        return None
    pac, plain = (list(results[n]["per_seed"].values()) for n in ("PacDCGAN2", "DCGAN"))
    pac_s, plain_s = summarize(pac), summarize(plain)
    with warnings.catch_warnings():  # identical per-seed values (p = nan) make scipy warn
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ttest_ind([r[key] for r in pac], [r[key] for r in plain], equal_var=False).pvalue)
    return pac_s[f"{key}_mean"] - plain_s[f"{key}_mean"], math.hypot(pac_s[f"{key}_se"], plain_s[f"{key}_se"]), p


def _difference_lines(results: dict) -> list[str]:
    modes, kl = packing_difference(results, "modes"), packing_difference(results, "kl")
    if modes is None:
        return []
    return ["", (f"PacDCGAN2 minus DCGAN: modes {modes[0]:+.1f} ± {modes[1]:.1f} (Welch's t-test, two-sided p = {modes[2]:.3f}); "
                 f"KL {kl[0]:+.2f} ± {kl[1]:.2f} (p = {kl[2]:.3f}).")]


def markdown(results: dict, setup: dict) -> str:
    lines = ["# Stacked MNIST mode collapse (PacGAN, Lin et al. 2018) on a CPU budget", "",
             (f"1,000 modes (3 independent MNIST digits as channels); {setup['eval_samples']:,} samples per run, each "
              "channel labelled by the zoo's `mnist-classifier` (99.3 % test accuracy); mean ± standard error over seeds."),
             "", "| model | seeds | D parameters | modes (ours) | KL (ours) | classifier confidence | modes (published) | KL (published) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        s = r["summary"]
        lines.append(f"| {name} | {s['seeds']} | {_parameters(_discriminator(name, setup)):,} | "
                     f"{s['modes_mean']:.1f} ± {s['modes_se']:.1f} | {s['kl_mean']:.2f} ± {s['kl_se']:.2f} | "
                     f"{s['confidence_mean']:.3f} | {PUBLISHED[name]['modes']:.0f} | {PUBLISHED[name]['kl']} |")
    lines += _difference_lines(results)
    lines += ["", "Per seed:", "", "| model | seed | modes | KL | confidence | D steps | train s |", "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for seed, c in sorted(r["per_seed"].items(), key=lambda kv: int(kv[0])):
            lines.append(f"| {name} | {seed} | {c['modes']} | {c['kl']:.2f} | {c['confidence']:.3f} | {c['steps']} | {c['train_seconds']:.0f} |")
    lines += ["", "## Budget and deviations from the paper", "",
              (f"- {'CPU, 1 thread' if setup.get('device', 'cpu') == 'cpu' else 'GPU'} ({setup['machine']}); {setup['steps']} discriminator steps of "
               f"{setup['batch_size']} packs per run, Adam lr {_learning_rates(setup)}, betas (0.5, {setup.get('beta2', 0.999)}), "
               f"{setup.get('loss', 'nonsaturating')} generator loss, {setup.get('g_steps', 1)} generator step(s) per "
               "discriminator step."),
              (f"- Generator: DCGAN, latent {setup['latent_dim']}, base width {setup['g_channels']} "
               f"({_parameters(_generator(setup)):,} parameters); discriminator: DCGAN, base width {setup['d_channels']}"
               f"{TABLE3_D_NOTES.get(setup['d_channels'], '')}. Training set: "
               f"{setup['train_samples']:,} stacked samples drawn once from the 60,000 MNIST training digits."),
              ("- The published row is PacGAN's Table 2 (VEEGAN's architecture, full-size D, about 100,000 GPU steps); their "
               "Table 3 (the tiny-D setting, 500,000 steps of 128 in the authors' code) shows the same ordering. Our budget is "
               "a small fraction of either, so absolute mode counts are not comparable, only the ordering."),
              "- PacDCGAN2 uses the same number of packs per step, so its D and G see twice the samples per step.", ""]
    return "\n".join(lines)


def _write(out: Path, results: dict, setup: dict, earlier: list[dict]) -> str:
    """Write ``out``.json and .md for the models with results (their summaries recomputed), with the provenance of
    ``earlier`` runs whose seeds they keep; returns the Markdown."""
    results = {n: r for n, r in results.items() if r["per_seed"]}
    for r in results.values():
        r["summary"] = summarize(list(r["per_seed"].values()))
    md = markdown(results, setup)
    write_results(out, {"results": results, "setup": setup}, md, earlier=earlier, device=setup.get("device"))
    return md


# settings added after the first runs were recorded: a setup without one of them ran with this value
LATER_SETTINGS = {"loss": "nonsaturating", "g_steps": 1, "g_lr": None, "beta2": 0.999, "device": "cpu"}


def _same_settings(one: dict, other: dict) -> bool:
    """Do two runs' setups agree on every training setting (the machine line aside)? An empty setup (no run yet)
    agrees with any."""
    if not one or not other:
        return True
    keys = (set(one) | set(other)) - {"machine"}
    return all(one.get(k, LATER_SETTINGS.get(k)) == other.get(k, LATER_SETTINGS.get(k)) for k in keys)


def merge_runs(parts: list[Path], out: Path) -> dict:
    """Merge the per-seed results of runs ``parts`` (their JSON files) into ``out`` (``.json``/``.md``, and the seed-0
    sample PNGs); refuses runs with other settings or a seed computed twice. Returns the merged results."""
    runs = [read_json(f) for f in parts]
    if out.with_suffix(".json").exists():
        runs.insert(0, read_json(out.with_suffix(".json")))
        parts = [out.with_suffix(".json"), *parts]
    setup = runs[0]["setup"]
    results: dict = {}
    for f, run in zip(parts, runs):
        if not _same_settings(run["setup"], setup):
            raise SystemExit(f"{f} was run with other settings than {parts[0]}; it cannot be merged")
        for name, r in run["results"].items():
            for seed, row in r["per_seed"].items():
                if seed in results.setdefault(name, {"per_seed": {}})["per_seed"]:
                    raise SystemExit(f"{name} seed {seed} is in more than one of the files to merge")
                results[name]["per_seed"][seed] = row
                png = f.parent / f"{f.stem}_{name.lower()}_samples.png"
                if seed == "0" and png.exists() and f.stem != out.name:
                    atomic_write_bytes(out.parent / f"{out.name}_{name.lower()}_samples.png", png.read_bytes())
    results = {n: results[n] for n in MODELS if n in results}
    print(_write(out, results, setup, earlier_runs(*runs)))
    return results


def main() -> None:
    p = parser(__doc__, data_dir=True, out=RESULTS / "pacgan_stacked_mnist", device="auto")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--seed-start", type=int, default=0, help="first seed; runs seeds seed-start .. seed-start+seeds-1 "
                   "(split seeds over processes with separate --out files)")
    p.add_argument("--steps", type=int, default=3000, help="discriminator steps per run (each followed by --g-steps generator steps)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (of both players unless --g-lr)")
    p.add_argument("--g-lr", type=float, default=None, help="the generator's own learning rate (PacGAN's tiny-D code: 1e-4)")
    p.add_argument("--beta2", type=float, default=0.999, help="Adam beta2 (PacGAN's tiny-D code: 0.99)")
    p.add_argument("--loss", default="nonsaturating", help="generator loss: nonsaturating or minimax")
    p.add_argument("--g-steps", type=int, default=1, help="generator steps per discriminator step (PacGAN's code: 2)")
    p.add_argument("--latent-dim", type=int, default=100)
    p.add_argument("--g-channels", type=int, default=32)
    p.add_argument("--d-channels", type=int, default=2)
    p.add_argument("--train-samples", type=int, default=50_000)
    p.add_argument("--eval-samples", type=int, default=26_000)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                   help="train nothing: merge these runs' seeds (same settings, e.g. one process per seed) into --out")
    a = p.parse_args()
    if a.merge:
        merge_runs([Path(f) for f in a.merge], Path(a.out))
        return
    a.device = str(pick_device(a.device))
    if a.device == "cpu":
        torch.set_num_threads(1)
    out = Path(a.out)
    setup = {k: getattr(a, k) for k in ("steps", "batch_size", "lr", "g_lr", "beta2", "loss", "g_steps", "latent_dim",
                                         "g_channels", "d_channels", "train_samples", "eval_samples")}
    setup["machine"] = f"{cpu_name()}, torch {torch.__version__}" + (
        f", {torch.cuda.get_device_name()}" if a.device.startswith("cuda") else "")
    setup["device"] = a.device
    previous = read_json(out.with_suffix(".json")) if out.with_suffix(".json").exists() else {}
    if not _same_settings(previous.get("setup", {}), setup):
        raise SystemExit(f"{out.with_suffix('.json')} holds a run with other settings; move it away or use --out")
    results = {name: previous.get("results", {}).get(name, {"per_seed": {}}) for name in MODELS}
    earlier = earlier_runs(previous)  # the runs whose seeds these results keep

    mnist = load_dataset("mnist", "train", data_dir=a.data_dir)
    data, _ = stack_digits(mnist.images, mnist.labels, a.train_samples, generator=torch.Generator().manual_seed(1234))
    classifier, _ = zoo.load_with_config("mnist-classifier")
    classifier.to(a.device)
    for seed in range(a.seed_start, a.seed_start + a.seeds):
        for name in a.models:
            if str(seed) in results[name]["per_seed"]:
                continue
            row, x = run_one(name, seed, data, classifier, a)
            results[name]["per_seed"][str(seed)] = row
            print(f"{name:9s} seed {seed}: modes {row['modes']:4d}  KL {row['kl']:.3f}  confidence {row['confidence']:.3f}"
                  f"  ({row['train_seconds']:.0f}s)", flush=True)
            if seed == 0:
                save_tiled(out.parent / f"{out.name}_{name.lower()}_samples.png", x)
            _write(out, results, setup, earlier)
    if any(r["per_seed"] for r in results.values()):
        print(_write(out, results, setup, earlier))


if __name__ == "__main__":
    main()
