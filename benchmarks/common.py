"""What the benchmark scripts share: their common options, where their results go, the provenance every results
file records (commit, command, machine), the error-vs-m table, the rows named by the method registry, and the
machine's own GEMM rate.

A script builds its parser with :func:`parser` (its docstring as the help text, the common options it declares
with its own defaults) and writes its results with :func:`write_results`: ``STEM.json`` holds the data and a
``"provenance"`` key (a list of results is wrapped as ``{"results": [...], "provenance": {...}}``), ``STEM.md`` the
Markdown and, last, a line ``Command: `...` at commit ...``. A script that adds to results written earlier (an
incremental run, a merge) passes :func:`earlier_runs` of them, and their provenance is kept under
``provenance["earlier"]``. Run a script as ``python benchmarks/NAME.py`` (its folder is then on the path).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from genprior.devices import pick_device
from genprior.errors import GenpriorError
from genprior.evaluate.recovery import row_name
from genprior.io import atomic_write_text, write_json
from genprior.reports import cpu_name, markdown_table

RESULTS = Path(__file__).resolve().parent / "results"
# This repository's data folder beside the checkout, when GENPRIOR_DATA does not name one (the package itself looks
# only in --data-dir, $GENPRIOR_DATA and ./data)
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "GENPRIOR_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["GENPRIOR_DATA"] = str(SHARED_DATA)
# MNIST test images from 300 on are held out: the tuned Lasso's alpha is chosen on 300..399, csgm_fast's and the
# hybrid's defaults on 300..799; the protocol evaluates on 0..299
HELD_OUT_FROM = 300


def parser(doc: str, *, n_images: int | None = None, m: int | Sequence[int] | None = None, data_dir: bool = False,
           out: str | Path | None = None, seed: int | None = None, device: str | None = None,
           render_only: bool = False) -> argparse.ArgumentParser:
    """An argument parser with the script's docstring ``doc`` as its description and the common options the script
    declares, each with the script's default (``None`` / ``False`` leaves the option out): ``--n-images N``,
    ``--m`` (one int, or a list of ints when the default is a sequence), ``--data-dir``, ``--out STEM``, ``--seed``,
    ``--device`` and ``--render-only`` (rewrite ``STEM.md`` from ``STEM.json`` and stop). The script adds its own
    options to it."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if n_images is not None:
        p.add_argument("--n-images", type=int, default=n_images, help="images measured (default %(default)s)")
    if isinstance(m, int):
        p.add_argument("--m", type=int, default=m, help="number of measurements (default %(default)s)")
    elif m is not None:
        p.add_argument("--m", type=int, nargs="*", default=list(m), help="numbers of measurements (default %(default)s)")
    if data_dir:
        p.add_argument("--data-dir", default=None, help="folder of the data sets (default $GENPRIOR_DATA, else "
                       "../shared/data beside the checkout, or ./data)")
    if out is not None:
        p.add_argument("--out", default=str(out), help="results stem: writes OUT.json, OUT.md (and pictures beside "
                       "them; default %(default)s)")
    if seed is not None:
        p.add_argument("--seed", type=int, default=seed, help="random seed (default %(default)s)")
    if device is not None:
        p.add_argument("--device", type=device_name, default=device, help="auto (a CUDA GPU when there is one), cpu, "
                       "cuda, cuda:N (default %(default)s)")
    if render_only:
        p.add_argument("--render-only", action="store_true", help="compute nothing: rewrite OUT.md from OUT.json "
                       "(after a change of the table's layout)")
    return p


def device_name(text: str) -> str:
    """``--device``'s value as given, once :func:`genprior.devices.pick_device` accepts it on this machine (else an
    argument error naming the devices there are)."""
    try:
        pick_device(text)
    except GenpriorError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def refuse_held_out(p: argparse.ArgumentParser, n_images: int, *, first_held_out: int = HELD_OUT_FROM,
                    tuned: str = "the tuned Lasso's alpha is chosen") -> None:
    """Stop (``p.error``: a one-line message and exit code 2) when the first ``n_images`` test images would reach
    the held-out images from ``first_held_out`` on, where ``tuned``: evaluating there would score methods on the
    images their settings were chosen on."""
    if n_images > first_held_out:
        p.error(f"--n-images {n_images} would evaluate on test images {first_held_out}..{n_images - 1}, where "
                f"{tuned}; use at most {first_held_out}")


def git_commit() -> str:
    """The checkout's commit (40 hex digits of ``git rev-parse HEAD``), with ``+changes`` when tracked files differ
    from it; ``""`` outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return rev + ("+changes" if dirty else "")


def short_commit(commit: str) -> str:
    """``commit`` for a table or a sentence: its first 7 hex digits, ``+changes`` kept; ``"unknown"`` when empty."""
    if not commit:
        return "unknown"
    rev, plus, rest = commit.partition("+")
    return rev[:7] + plus + rest


def provenance(device: str | torch.device | None = None) -> dict[str, Any]:
    """Where results come from: ``commit`` (:func:`git_commit`), ``command`` (``"python " + shlex.join(sys.argv)``),
    ``cpu`` (:func:`genprior.reports.cpu_name`), ``torch`` (its version), ``threads`` (torch's intra-op threads),
    ``date`` (UTC, ISO 8601) and, given a ``device``, ``device`` (and ``gpu``, its name, on CUDA)."""
    record: dict[str, Any] = {"commit": git_commit(), "command": "python " + shlex.join(sys.argv), "cpu": cpu_name(),
                              "torch": torch.__version__, "threads": torch.get_num_threads(),
                              "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if device is not None:
        device = torch.device(device)
        record["device"] = str(device)
        if device.type == "cuda":
            record["gpu"] = torch.cuda.get_device_name(device)
    return record


def earlier_runs(*results: Any) -> list[dict]:
    """The provenance of earlier results (JSON data read back, any of them ``None`` or without one) that a run adds
    to, flattened: each one's own record, then the runs it had kept under ``"earlier"``."""
    runs = []
    for data in results:
        record = data.get("provenance") if isinstance(data, dict) else None
        if record:
            runs += [{k: v for k, v in record.items() if k != "earlier"}, *record.get("earlier", [])]
    return runs


def results_of(data: Any) -> Any:
    """The results inside a results file's JSON data: a wrapped list (``{"results": [...], "provenance": ...}``)
    unwrapped; a list written before provenance was recorded, or a dict, as it is."""
    if isinstance(data, dict) and set(data) <= {"results", "provenance"} and isinstance(data.get("results"), list):
        return data["results"]
    return data


def provenance_line(record: dict | None) -> str:
    """The Markdown line naming a run's command and commit, its machine and date, how it was recorded or migrated
    where the record says (``recorded``, ``migrated``), and the earlier runs it added to; ``""`` without a record."""
    if not record:
        return ""

    def run(r: dict) -> str:
        where = ", ".join(str(r[k]) for k in ("gpu", "cpu") if r.get(k))
        details = "; ".join(x for x in (where, f"{r['threads']} thread(s)" if r.get("threads") else "",
                                        f"torch {r['torch']}" if r.get("torch") else "", r.get("date", ""),
                                        r.get("recorded", ""), r.get("migrated", "")) if x)
        return f"`{r['command']}` at commit {short_commit(r.get('commit', ''))}" + (f" ({details})" if details else "")

    line = "Command: " + run(record) + "."
    if record.get("earlier"):
        line += " Added to the results of: " + "; ".join(run(r) for r in record["earlier"]) + "."
    return line + "\n"


def with_provenance_line(markdown: str, record: dict | None) -> str:
    """``markdown`` with :func:`provenance_line` of ``record`` appended after a blank line."""
    line = provenance_line(record)
    return markdown.rstrip("\n") + "\n\n" + line if line else markdown


def write_results(stem: str | Path, data: dict | list, markdown: str, *, earlier: Sequence[dict] = (),
                  device: str | torch.device | None = None) -> dict:
    """Write ``stem.json`` (``data`` with this run's :func:`provenance` under ``"provenance"``; a list is wrapped as
    ``{"results": data, "provenance": ...}``; ``earlier``: the :func:`earlier_runs` this run added to, kept under
    ``provenance["earlier"]``) and ``stem.md`` (``markdown`` and the provenance line), atomically. Returns the
    provenance."""
    stem = Path(stem)
    record = provenance(device)
    if earlier:
        record["earlier"] = list(earlier)
    body = {"results": data} if isinstance(data, list) else {k: v for k, v in data.items() if k != "provenance"}
    write_json(stem.with_suffix(".json"), {**body, "provenance": record})
    atomic_write_text(stem.with_suffix(".md"), with_provenance_line(markdown, record))
    return record


def read_results(stem: str | Path) -> Any:
    """The JSON data of ``stem.json``; ``None`` where there is no such file."""
    path = Path(stem).with_suffix(".json")
    return json.loads(path.read_text()) if path.exists() else None


def rerender(stem: str | Path, render: Callable[[Any], str]) -> Path:
    """``--render-only``: rewrite only ``stem.md`` as ``render(data)`` of the JSON data of ``stem.json``, with the
    provenance line of that data (the JSON is left as it is). Returns the path of the Markdown."""
    data = read_results(stem)
    if data is None:
        raise SystemExit(f"--render-only: there is no {Path(stem).with_suffix('.json')} to render")
    path = Path(stem).with_suffix(".md")
    atomic_write_text(path, with_provenance_line(render(data), data.get("provenance") if isinstance(data, dict) else None))
    print(f"rewrote {path} from {path.with_suffix('.json')}")
    return path


def rerender_curves(stem: str | Path, markdown: Callable[[dict, int, str], str],
                    draw: Callable[[Path, dict, int], Any]) -> None:
    """``--render-only`` for an error-vs-m script whose JSON holds ``curves``, ``n_images`` and ``cpu``: the Markdown
    as ``markdown(curves, n_images, cpu)`` (:func:`rerender`), then the curve picture as
    ``draw(stem, curves, n_images)``."""
    rerender(stem, lambda data: markdown(data["curves"], data["n_images"], data["cpu"]))
    data = read_results(stem)
    draw(Path(stem), data["curves"], data["n_images"])


def curve_table(curves: dict[str, list[dict]], ms: Sequence[int], cell: Callable[[dict], Any]) -> str:
    """A Markdown table of ``curves`` (method -> points with an ``m``), a row per method and a column per m of
    ``ms``, each cell ``cell(point)`` (a string, or a number that :func:`genprior.reports.markdown_table` formats;
    empty where a method has no point at that m)."""
    return markdown_table([{"method": k, **{f"m={p['m']}": cell(p) for p in pts}} for k, pts in curves.items()],
                          ["method", *[f"m={m}" for m in ms]])


def named_rows(specs: Sequence[tuple[str, dict]]) -> dict[str, tuple[str, dict]]:
    """A table's rows: ``(method, options)`` pairs keyed by their :func:`genprior.evaluate.recovery.row_name`, in
    order. ``options`` holds the registry method's options (``None``: its default, dropped) and ``"model"``, the zoo
    name of its generator (for a method that takes one; absent: the method's default)."""
    specs = [(name, {k: v for k, v in options.items() if v is not None}) for name, options in specs]
    return {row_name(name, **options): (name, options) for name, options in specs}


def sync(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (a no-op on the CPU), so that a timer reads finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def gemm_peak(device: torch.device, *, sizes: Sequence[int] = (1024, 2048), repeats: int = 7,
              dtype: torch.dtype = torch.float32) -> dict:
    """Median GFLOP/s of a square ``dtype`` matmul per size; the best size is the machine's peak:
    ``{"gflops": peak, "by_size": {n: GFLOP/s}}``."""
    best = {}
    for n in sizes:
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        for _ in range(2):
            a @ b
        times = []
        for _ in range(repeats):
            sync(device)
            t0 = time.perf_counter()
            a @ b
            sync(device)
            times.append(time.perf_counter() - t0)
        best[n] = 2 * n ** 3 / statistics.median(times) / 1e9
    return {"gflops": max(best.values()), "by_size": best}
