"""The web app's work: the models it offers, one recovery job (an image, an operator, some methods), and a bounded
queue of jobs run by a few worker threads, each cancellable at any step of a solver
(:func:`genprior.progress.stop_when`) or between two method runs.

Nothing here knows HTTP: :mod:`genprior.web.app` turns requests into :class:`JobSpec` objects and jobs into JSON.
"""

from __future__ import annotations

import copy
import io
import json
import math
import secrets
import threading
import time
import zipfile
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genprior.errors import InvalidValueError, sub_seed, unknown
from genprior.operators import Operator

CAPS = {"steps": 1000, "restarts": 40}
"""Upper bounds of the app's solver options: one method run stays short (seconds on a laptop CPU for a 28x28 image,
about half a minute at worst: csgm at 1000 steps and 40 restarts); a cancel stops the running method at its next
step (a solver that reports no steps, such as the Lasso's, at its end)."""
MAX_JOBS_KEPT = 32  # finished jobs remembered (their results and download); the oldest finished ones are dropped


class BusyError(Exception):
    """The queue is full: the app answers 503."""


class ModelShelf:
    """The zoo's generators (shipped and the user zoo's, by name only), loaded once; each job gets its own copy, so
    that concurrent jobs never share a module's parameters or flags."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[torch.nn.Module | None, str]] = {}  # name -> (generator or None, why not)

    @staticmethod
    def zoo_names() -> list[str]:
        """Every zoo entry's name: shipped and, where the zoo has one, the user zoo's."""
        from genprior import zoo

        try:
            return zoo.names(include_user=True)
        except TypeError:  # a zoo without a user part
            return zoo.names()

    def _load(self, name: str) -> tuple[torch.nn.Module | None, str]:
        """The entry as a generator the app can use (a ``latent_dim``, an image ``output_shape`` of 1 or 3 channels,
        a forward from ``(1, k)`` latents), or ``(None, reason)``."""
        from genprior import zoo
        from genprior.errors import GenpriorError
        from genprior.models.generator import check_generator

        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
            try:
                generator, _ = zoo.load_with_config(name)
                shape = tuple(getattr(generator, "output_shape", ()))
                if len(shape) != 3 or shape[0] not in (1, 3):
                    raise InvalidValueError(f"model {name} does not make images of 1 or 3 channels")
                for member in getattr(generator, "members", None) or [generator]:  # an ensemble: each of its generators
                    check_generator(member, shape)
                generator.requires_grad_(False)
                found = (generator.eval(), "")
            except (GenpriorError, TypeError, RuntimeError, AttributeError, ValueError) as e:
                found = (None, f"model {name} is not a generator the app can use: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
            self._loaded[name] = found
            return found

    def available(self) -> list[dict]:
        """``[{"name", "shape", "ensemble"}]`` for every zoo entry that is a usable generator."""
        from genprior.models.ensemble import GeneratorEnsemble

        out = []
        for name in self.zoo_names():
            generator, _ = self._load(name)
            if generator is not None:
                out.append({"name": name, "shape": list(generator.output_shape),
                            "ensemble": isinstance(generator, GeneratorEnsemble)})
        return out

    def get(self, name: str) -> torch.nn.Module:
        """A private copy of generator ``name`` (a name in :meth:`zoo_names`; never a path)."""
        return copy.deepcopy(self._usable(name))

    def describe(self, name: str) -> tuple[tuple[int, int, int], bool]:
        """The image shape ``(C, H, W)`` generator ``name`` makes, and whether it is an ensemble."""
        from genprior.models.ensemble import GeneratorEnsemble

        generator = self._usable(name)
        return tuple(int(s) for s in generator.output_shape), isinstance(generator, GeneratorEnsemble)

    def _usable(self, name: str) -> torch.nn.Module:
        if not isinstance(name, str) or name not in self.zoo_names():
            raise unknown("model", str(name)[:80], [m["name"] for m in self.available()])
        generator, why = self._load(name)
        if generator is None:
            raise InvalidValueError(why)
        return generator


@dataclass(frozen=True)
class JobSpec:
    """One recovery job, checked: the true ``image`` ``(C, H, W)`` (already fitted to the model's shape), the zoo
    ``model`` name, the registered ``methods``, the ``task`` and its ``operator`` (built by
    :func:`genprior.operators.make_operator` from the request), the solver ``options`` (each given only to the methods
    that take it) and the ``seed`` (of the measurement noise and the methods, as ``genprior recover`` uses it)."""

    image: torch.Tensor
    model: str
    methods: tuple[str, ...]
    task: str
    operator: Operator
    options: dict = field(default_factory=dict)
    seed: int = 0


@dataclass
class Job:
    """A job's state, as the page polls it. ``state``: queued, running, done, failed or cancelled."""

    id: str
    spec: JobSpec
    state: str = "queued"
    stage: str = "waiting for a worker"
    done: int = 0
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    truth: dict | None = None
    measured: dict | None = None
    operator: dict | None = None
    results: list = field(default_factory=list)
    archive: Path | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future | None = None

    @property
    def finished_state(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


def _error_text(e: BaseException) -> str:
    text = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
    return text if isinstance(e, (InvalidValueError, ValueError)) else f"{type(e).__name__}: {text}"


def _data_url(png: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _scores(x_hat: torch.Tensor, x: torch.Tensor) -> dict:
    from genprior.evaluate.metrics import summarize

    s = summarize(x_hat.float().clamp(0, 1), x)
    return {"mse_per_pixel": s["mse_per_pixel"], "psnr": s["psnr"] if math.isfinite(s["psnr"]) else None,
            "ssim": s.get("ssim")}


def run_job(job: Job, models: ModelShelf, folder: Path) -> None:
    """Do ``job``: measure its image, run its methods one after another (a cancel stops the running one at its
    next step, which leaves no row, and the job there), fill in its results as they come and write its archive ``folder/ID.zip`` (PNGs, a safetensors file of
    every tensor, a JSON summary). A method that fails is reported in its row; the others still run."""
    from genprior.evaluate.recovery import method, run_method
    from genprior.progress import Cancelled, stop_when
    from genprior.web.images import png_bytes

    spec = job.spec
    x = spec.image[None].float()
    job.stage = "measuring"
    op = spec.operator
    y = op.measure(x, seed=sub_seed(spec.seed, 1))
    job.operator = {"task": spec.task, "m": op.output_size, "n": op.input_size, "noise_std": op.noise_std,
                    "noise": op.noise}
    pngs = {"truth.png": png_bytes(x[0])}
    tensors = {"truth": x.contiguous(), "y": y.contiguous()}
    job.truth = {"png": _data_url(pngs["truth.png"])}
    view = op.as_image(y)
    if view is not None:
        pngs["measured.png"] = png_bytes(view[0])
        tensors["measured_view"] = view.contiguous()
        job.measured = {"png": _data_url(pngs["measured.png"]), **_scores(view, x)}
    generator = models.get(spec.model) if any(method(n).needs_generator for n in spec.methods) else None
    for k, name in enumerate(spec.methods):
        if job.cancel.is_set():
            break
        job.stage = f"method {k + 1} of {len(spec.methods)}: {name}"
        chosen = method(name)
        options = {key: value for key, value in spec.options.items() if key in chosen.options}
        row = {"method": name, "label": chosen.label, "options": dict(chosen.settings(**options))}
        try:
            with stop_when(job.cancel.is_set):
                res = run_method(name, x, op, y, generator=generator if chosen.needs_generator else None,
                                 seed=sub_seed(spec.seed, 2), **options)
            if not bool(torch.isfinite(res.x).all()):
                raise InvalidValueError(f"{name} diverged: its recovery holds NaN or infinite values")
            x_hat = res.x.detach().float().cpu()
            pngs[f"{name}.png"] = png_bytes(x_hat[0])
            tensors[name] = x_hat.contiguous()
            row.update(png=_data_url(pngs[f"{name}.png"]), seconds=res.seconds, **_scores(x_hat, x))
        except Cancelled:
            break
        except Exception as e:  # noqa: BLE001 - one method's failure is its row's message; the job and the server go on
            row["error"] = _error_text(e)
        job.results.append(row)
        job.done = k + 1
    cancelled = job.cancel.is_set() and job.done < len(spec.methods)
    job.stage = "writing the download"
    summary = {"model": spec.model, "operator": job.operator, "seed": spec.seed,
               "measured": None if job.measured is None else {k: v for k, v in job.measured.items() if k != "png"},
               "results": [{k: v for k, v in r.items() if k != "png"} for r in job.results],
               "cancelled": cancelled}
    job.archive = _write_archive(folder / f"{job.id}.zip", pngs, tensors, summary)
    job.state = "cancelled" if cancelled else "done"
    job.stage = "cancelled" if cancelled else "done"


def _write_archive(path: Path, pngs: dict[str, bytes], tensors: dict[str, torch.Tensor], summary: dict) -> Path:
    from safetensors.torch import save

    from genprior.io import atomic_write_bytes

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in pngs.items():
            z.writestr(name, data)
        z.writestr("tensors.safetensors", save({k: v.float().cpu().clone() for k, v in tensors.items()}))
        z.writestr("results.json", json.dumps(summary, indent=2))
    atomic_write_bytes(path, buf.getvalue())
    return path


class JobQueue:
    """Jobs run by ``workers`` threads, at most ``workers + queue_size`` at a time (running or waiting); beyond that
    :meth:`submit` raises :class:`BusyError`. Finished jobs are kept (up to :data:`MAX_JOBS_KEPT`) for their
    results and download; their archives live in ``folder``."""

    def __init__(self, *, workers: int, queue_size: int, folder: Path, models: ModelShelf) -> None:
        self.workers, self.queue_size, self.folder, self.models = workers, queue_size, Path(folder), models
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genprior-job")
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._active = 0  # jobs queued or running

    def check_room(self) -> None:
        """Raise :class:`BusyError` when no job can be added now."""
        with self._lock:
            self._check_room()

    def _check_room(self) -> None:
        if self._active >= self.workers + self.queue_size:
            raise BusyError(f"busy: {self._active} jobs are running or waiting; try again in a moment")

    def submit(self, spec: JobSpec) -> Job:
        with self._lock:
            self._check_room()
            self._active += 1
            job = Job(id=secrets.token_urlsafe(12), spec=spec)
            self._jobs[job.id] = job
            self._forget_old()
        job.future = self._pool.submit(self._run, job)
        return job

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.finished_state]
        for job in finished[: max(0, len(finished) - MAX_JOBS_KEPT)]:
            del self._jobs[job.id]
            if job.archive is not None:
                job.archive.unlink(missing_ok=True)

    def _run(self, job: Job) -> None:
        try:
            if job.cancel.is_set():
                job.state = job.stage = "cancelled"
                return
            job.state, job.started = "running", time.monotonic()
            run_job(job, self.models, self.folder)
        except Exception as e:  # noqa: BLE001 - a job's failure is its message; the server stays up
            job.state, job.error, job.stage = "failed", _error_text(e), "failed"
        finally:
            job.finished = time.monotonic()
            with self._lock:
                self._active -= 1

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def position(self, job: Job) -> int:
        """How many jobs wait ahead of ``job`` (0 when it runs or is next)."""
        with self._lock:
            waiting = [j for j in self._jobs.values() if j.state == "queued" and not j.cancel.is_set()]
        return waiting.index(job) if job in waiting else 0

    def cancel(self, job: Job) -> None:
        """Ask ``job`` to stop: a waiting job ends at once, a running one before its next method run."""
        job.cancel.set()
        if job.future is not None and job.future.cancel():  # never started: it frees its place now
            job.state = job.stage = "cancelled"
            job.finished = time.monotonic()
            with self._lock:
                self._active -= 1

    def shutdown(self) -> None:
        """Cancel every job and stop the workers (without waiting for a running method run to end)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
