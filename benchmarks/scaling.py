"""Throughput with 1 and more processes under torchrun: VAE and DCGAN training and csgm-fast recovery, images per
second.

Each configuration launches the real command line (``python -m genprior ...`` alone, or under
``python -m torch.distributed.run --standalone --nproc_per_node P``) with ``OMP_NUM_THREADS`` = threads / P, so
that every configuration gets the same cores: by default 1 process x 1 thread, 1 process x 2 threads and
2 processes x 1 thread on a 2-core machine. What is timed is the work itself, as the command records it:

- training: ``genprior train vae`` for one epoch on the data set's train split (default MNIST, 60000 images, the CSGM
  VAE 784-500-500-20, batch 100); images/s = train images / the epoch's seconds in ``state.json`` (rank 0's clock:
  the epoch's steps and the test ELBO, which every rank computes on the whole test split);
- GAN training: ``genprior train gan`` (DCGAN, 64 base channels, batch 64, the defaults) for one epoch on the first
  ``--gan-images`` train images (default 3200: 50 discriminator and 50 generator steps); images/s = those images /
  the epoch's seconds (both players' steps, batch norm over the global batch);
- recovery: ``genprior recover --task cs --m 100 --method csgm-fast`` on the first N MNIST test images;
  images/s = N / the ``seconds`` of its JSON (the solve, sharded over the ranks, and the gather).

The start of the processes, imports, data loading and the rendezvous are not in these figures; ``wall_seconds``
gives each whole command for comparison. Medians over ``--repeats`` runs; on a shared machine other jobs take cores
too, and the load average is recorded.

    python benchmarks/scaling.py [--threads 2] [--processes 1 2] [--repeats 3] [--device cpu] [--work gan-training]
    python benchmarks/scaling.py --render-only

Writes ``benchmarks/results/scaling.{json,md,png}``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import RESULTS, parser, rerender, write_results

from genprior.plotting import pyplot, save_figure
from genprior.reports import cpu_name, markdown_table


def launch(args: list[str], *, processes: int, threads: int, cwd: Path) -> float:
    """Run ``genprior ARGS`` on ``processes`` ranks (torchrun when more than 1) with ``threads`` threads each;
    returns its wall seconds. A failure stops the benchmark with the command's error."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TQDM_DISABLE": "1"}
    head = [sys.executable, "-m", "genprior"] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "-m",
        "genprior", "--"]
    t0 = time.perf_counter()
    run = subprocess.run([*head, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        sys.exit(f"scaling.py: {' '.join(args[:2])} failed on {processes} process(es):\n{run.stderr[-2000:]}")
    return time.perf_counter() - t0


def measure(kind: str, a, *, processes: int, threads: int) -> dict:
    """One run of ``kind`` (``"training"`` or ``"recovery"``): its images per second and wall seconds."""
    # the commands run in a temporary folder: the data folder is given as an absolute path
    folder = a.data_dir or os.environ.get("GENPRIOR_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
    data = ["--data-dir", str(Path(folder).resolve())]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if kind == "training":
            wall = launch(["train", "vae", "--dataset", a.dataset, *data, "--epochs", "1", "--batch-size", "100",
                           "--seed", "0", "--device", a.device, "--out", "vae", "--quiet"],
                          processes=processes, threads=threads, cwd=tmp)
            state = json.loads((tmp / "vae" / "state.json").read_text())
            seconds, images = state["history"][0]["seconds"], state["data"]["train_images"]
        elif kind == "gan-training":
            wall = launch(["train", "gan", "--dataset", a.dataset, *data, "--limit", str(a.gan_images), "--epochs", "1",
                           "--batch-size", "64", "--samples-every", "0", "--seed", "0", "--device", a.device,
                           "--out", "gan", "--quiet"], processes=processes, threads=threads, cwd=tmp)
            state = json.loads((tmp / "gan" / "state.json").read_text())
            seconds, images = state["history"][0]["seconds"], state["data"]["train_images"]
        else:
            wall = launch(["recover", "--task", "cs", "--m", "100", "--method", "csgm-fast", "--dataset", a.dataset,
                           *data, "--indices", f"0:{a.n_images}", "--seed", "0", "--device", a.device,
                           "--json", "r.json", "--quiet"], processes=processes, threads=threads, cwd=tmp)
            result = json.loads((tmp / "r.json").read_text())
            seconds, images = result["seconds"], result["n_images"]
    return {"images": images, "seconds": seconds, "images_per_second": images / seconds, "wall_seconds": wall}


def main() -> None:
    p = parser(__doc__, n_images=40, data_dir=True, out=RESULTS / "scaling", device="cpu", render_only=True)
    p.add_argument("--dataset", default="mnist", help="mnist or fashion-mnist (default %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="threads in all, shared by the processes (default 2)")
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="process counts (default 1 2)")
    p.add_argument("--repeats", type=int, default=3, help="runs per configuration; medians (default 3)")
    p.add_argument("--gan-images", type=int, default=3200, help="train images of the GAN's epoch (default 3200)")
    p.add_argument("--work", nargs="+", choices=KINDS, default=list(KINDS), help="what to measure (default: all)")
    a = p.parse_args()
    if a.render_only:
        rerender(a.out, markdown)
        return
    configs = sorted({(1, 1), *((n, max(1, a.threads // n)) for n in a.processes)}) if a.device == "cpu" else [
        (n, max(1, a.threads // n)) for n in a.processes]
    load_start = os.getloadavg()[0]
    rows = []
    for kind in a.work:
        for processes, threads in configs:
            runs = [measure(kind, a, processes=processes, threads=threads) for _ in range(a.repeats)]
            row = {"work": kind, "processes": processes, "threads_per_process": threads, "images": runs[0]["images"],
                   **{key: statistics.median(r[key] for r in runs)
                      for key in ("images_per_second", "seconds", "wall_seconds")},
                   "runs_images_per_second": [r["images_per_second"] for r in runs]}
            rows.append(row)
            print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
        base = max((r for r in rows if r["work"] == kind and r["processes"] == 1),
                   key=lambda r: r["threads_per_process"])  # 1 process with all the threads
        for r in rows:
            if r["work"] == kind:
                r["speed_up"] = r["images_per_second"] / base["images_per_second"]
    meta = {"machine": f"{cpu_name()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}",
            "device": a.device, "dataset": a.dataset, "threads": a.threads, "repeats": a.repeats,
            "gan_images": a.gan_images,
            "load_average_start": load_start, "load_average_end": os.getloadavg()[0]}
    data = {"rows": rows, "meta": meta}
    md = markdown(data)
    write_results(a.out, data, md, device=a.device)
    plot(rows, Path(a.out).with_suffix(".png"), meta)
    print(md)


KINDS = ("training", "gan-training", "recovery")
TITLES = {"training": "VAE, 1 epoch", "gan-training": "DCGAN, 1 epoch", "recovery": "csgm-fast, cs m=100"}


def markdown(data: dict) -> str:
    meta = data["meta"]
    return (f"# Throughput under torchrun: 1 vs more processes\n\n{meta['machine']}; device {meta['device']}; "
            f"{meta['threads']} threads in all; medians of {meta['repeats']} runs. Load average "
            f"{meta['load_average_start']:.1f} at the start, {meta['load_average_end']:.1f} at the end: where it is "
            f"above {meta['threads']}, other jobs shared the cores and every figure is lower than on a quiet machine. "
            "`images_per_second`: VAE training, the train images of one epoch (including the test ELBO, computed "
            f"whole on every rank) over its seconds ({meta['dataset']}, batch 100); GAN training, DCGAN (batch 64, "
            f"both players' steps, batch norm over the global batch) on the first "
            f"{meta.get('gan_images', 3200)} train images for one epoch over its seconds; recovery, csgm-fast on "
            "compressed "
            "sensing (m = 100) of the first test images over the solve's seconds (sharded solve and gather). "
            "`speed_up`: against 1 process using all the threads. `wall_seconds`: the whole command (process "
            "start, imports, data, rendezvous).\n\n"
            + markdown_table(data["rows"], ["work", "processes", "threads_per_process", "images", "images_per_second",
                                            "speed_up", "seconds", "wall_seconds"]))


def plot(rows: list[dict], path: Path, meta: dict) -> None:
    plt = pyplot()
    kinds = [k for k in KINDS if any(r["work"] == k for r in rows)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 3.4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        mine = [r for r in rows if r["work"] == kind]
        labels = [f"{r['processes']} proc x {r['threads_per_process']} thr" for r in mine]
        ax.bar(labels, [r["images_per_second"] for r in mine], color="tab:blue")
        for i, r in enumerate(mine):
            ax.plot([i] * len(r["runs_images_per_second"]), r["runs_images_per_second"], "k.", ms=4)
        ax.set_title(f"{kind} ({TITLES[kind]})")
        ax.set_ylabel("images / s")
    fig.suptitle(f"{meta['device']}, {meta['threads']} threads in all; load {meta['load_average_end']:.1f}",
                 fontsize=9)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
