"""The local web app: a Starlette application serving one plain page (no external script, style or font: it works
offline) and a small JSON API over :mod:`genprior.web.jobs`.

API: ``GET /api/options`` (models, methods, tasks, limits), ``GET /api/samples/{i}`` (bundled MNIST test image
``i`` as PNG), ``POST /api/images`` (check an upload), ``POST /api/jobs`` (multipart form: start a recovery),
``GET /api/jobs/{id}`` (its progress and results), ``POST /api/jobs/{id}/cancel``, ``GET /api/jobs/{id}/download``
(a zip: PNGs, a safetensors file, a JSON summary). Errors are JSON ``{"error": "one line"}`` with status 400 (bad
value, unknown model / method / task), 404, 413 (too large), 415 (not a PNG or JPEG) or 503 (queue full).

Safe by default: uploads are capped while they are read, only PNG and JPEG are decoded (with capped sides and
pixels), models are zoo names only (no request names a file), and the only files written are the downloads, in one
temporary folder removed at shutdown.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from genprior.errors import GenpriorError, InvalidValueError, unknown
from genprior.web.images import UnsupportedImageError, decode_image, png_bytes
from genprior.web.jobs import CAPS, BusyError, Job, JobQueue, JobSpec, ModelShelf

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_SIDE = 2048
MAX_PIXELS = 2048 * 2048
FORM_OVERHEAD = 256 * 1024  # the form's other fields and a drawn mask, beyond the image itself
WEB_TASKS = ("cs", "inpaint", "superres", "denoise")  # the operators with linear measurements and a picture to draw
TASK_FIELDS = {"cs": ("m",), "inpaint": ("keep", "mask"), "superres": ("factor",), "denoise": ()}
OPTION_BOUNDS = {"steps": (1, CAPS["steps"], True), "restarts": (1, CAPS["restarts"], True),
                 "lam": (0.0, 1e6, False), "alpha": (0.0, 1e6, False)}
FIELDS = {"image", "mask", "model", "methods", "task", "m", "keep", "factor", "noise_std", "noise", "seed", "invert",
          *OPTION_BOUNDS}
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def web_methods() -> list[str]:
    """The registered methods the app offers: those that take linear measurements with a generator prior (or none;
    the diffusion samplers need a diffusion model, which the app does not load)."""
    from genprior.evaluate.recovery import METHODS

    return [name for name, m in METHODS.items() if "linear" in m.measurements and m.prior == "generator"]


def _error(status: int, message: str, **headers) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def _size(n: int) -> str:
    """``n`` bytes as ``"5 MB"`` or ``"97.7 KB"``."""
    return f"{n / 2**20:.3g} MB" if n >= 2**20 else f"{n / 1024:.3g} KB"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _number(values: dict, name: str, *, low: float, high: float, integer: bool = False, strict_low: bool = False):
    """Form field ``name`` as a number in ``[low, high]`` (``(low, high]`` with ``strict_low``), or ``None`` when absent
    or blank; anything else is refused naming the field."""
    text = values.get(name)
    if text is None or not str(text).strip():
        return None
    kind = "an integer" if integer else "a number"
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise InvalidValueError(f"{name} must be {kind}, got {_one_line(text)[:40]!r}") from None
    if not ((low < value) if strict_low else (low <= value)) or not value <= high:  # NaN fails both
        raise InvalidValueError(f"{name} must be {kind} {'>' if strict_low else '>='} {low:g} and <= {high:g}, "
                                f"got {_one_line(text)[:40]!r}")
    return value


def build_spec(values: dict, files: dict[str, bytes], *, models: ModelShelf, max_side: int,
               max_pixels: int) -> JobSpec:
    """Check a job's form (``values``: field -> text, ``methods`` -> list; ``files``: ``image``, optional ``mask``)
    and build its :class:`JobSpec`; every bad value is an ``InvalidValueError`` with a one-line message."""
    from genprior.data.images import fit_image
    from genprior.evaluate.recovery import method
    from genprior.operators import make_operator

    extra = sorted((set(values) | set(files)) - FIELDS)
    if extra:
        raise InvalidValueError(f"unknown form field {extra[0][:40]!r}; the fields are: {', '.join(sorted(FIELDS))}")
    task = values.get("task") or ""
    if task not in WEB_TASKS:
        raise unknown("task", task[:80], WEB_TASKS)
    for key in ("m", "keep", "mask", "factor"):
        given = files.get(key) if key == "mask" else values.get(key)
        if given not in (None, "", b"") and key not in TASK_FIELDS[task]:
            owner = next(t for t, keys in TASK_FIELDS.items() if key in keys)
            raise InvalidValueError(f"{key} is a setting of task {owner}, not of {task}")
    names = values.get("methods") or []
    offered = web_methods()
    if not names:
        raise InvalidValueError("choose at least one method")
    for name in names:
        if name not in offered:
            raise unknown("method", str(name)[:80], offered)
    if len(set(names)) != len(names):
        raise InvalidValueError("a method is chosen twice")
    model = values.get("model") or ""
    shape, ensemble = models.describe(model)  # unknown names refused here: a model is a zoo name, never a path
    if ensemble:
        bad = [n for n in names if method(n).needs_generator and n != "hybrid"]
        if bad:
            raise InvalidValueError(f"model {model} is an ensemble of generators: only hybrid uses one, not {bad[0]}")
    options = {}
    for key, (low, high, integer) in OPTION_BOUNDS.items():
        value = _number(values, key, low=low, high=high, integer=integer)
        if value is None:
            continue
        if not any(key in method(n).options for n in names):
            takers = [n for n in offered if key in method(n).options]
            raise InvalidValueError(f"{key} is an option of {', '.join(takers)}; none of the chosen methods uses it")
        options[key] = value
    if "image" not in files or not files["image"]:
        raise InvalidValueError("no image: upload a PNG or JPEG, pick a sample or draw a digit")
    picture = decode_image(files["image"], max_side=max_side, max_pixels=max_pixels)
    if values.get("invert") in ("1", "on", "true"):
        picture = 1.0 - picture
    image = fit_image(picture, shape)
    n = shape[0] * shape[1] * shape[2]
    mask = None
    if files.get("mask"):
        drawn = fit_image(decode_image(files["mask"], max_side=max_side, max_pixels=max_pixels, what="mask"),
                          (1, *shape[1:]))
        mask = drawn[0] < 0.5  # painted (light) pixels are the missing ones
    noise = values.get("noise") or "total"
    if noise not in ("total", "entry"):
        raise unknown("noise convention", noise[:80], ("total", "entry"))
    noise_std = _number(values, "noise_std", low=0.0, high=10.0)
    seed = _number(values, "seed", low=0, high=2**31 - 1, integer=True)
    m = _number(values, "m", low=1, high=n, integer=True)
    if task == "cs" and m is None:
        raise InvalidValueError(f"task cs needs m, the number of measurements (1 .. {n})")
    keep = _number(values, "keep", low=0.0, high=1.0, strict_low=True)
    if keep is not None and mask is not None:
        raise InvalidValueError("inpainting takes keep (a random fraction) or a drawn mask, not both")
    factor = _number(values, "factor", low=1, high=min(shape[1:]), integer=True)
    seed = 0 if seed is None else seed
    operator = make_operator(task, shape=shape, m=m, keep=keep, mask=mask, factor=factor,
                             noise_std=0.1 if noise_std is None else noise_std, noise=noise, seed=seed)
    return JobSpec(image=image, model=model, methods=tuple(names), task=task, operator=operator, options=options,
                   seed=seed)


class _TooLarge(Exception):
    pass


async def _read_form(request: Request, limit: int) -> tuple[dict, dict[str, bytes]]:
    """The request's multipart form, its body read up to ``limit`` bytes: a larger ``Content-Length``, or more bytes
    than that, stop the reading (:class:`_TooLarge`). Returns ``(values, files)`` (:func:`parse_form`)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidValueError("send the form as multipart/form-data")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _TooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
    return parse_form(content_type, b"".join(chunks))


def parse_form(content_type: str, body: bytes, *, max_parts: int = 40) -> tuple[dict, dict[str, bytes]]:
    """A multipart form's fields as ``(values, files)``: ``values`` maps a field's name to its text (``methods`` to
    the list of its values), ``files`` a file field's name to its bytes. Everything stays in memory (``body`` is
    capped by the caller): nothing is spooled to a temporary file. More than ``max_parts`` parts, a field given twice
    or a malformed form are refused."""
    from python_multipart import FormParser
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidValueError("the multipart form has no boundary")
    values: dict = {}
    files: dict[str, bytes] = {}
    parts = []

    def keep(name: str, value, into: dict) -> None:
        parts.append(name)
        if len(parts) > max_parts:
            raise InvalidValueError(f"the form has more than {max_parts} fields")
        if name == "methods" and into is values:
            values.setdefault("methods", []).append(value)
        elif name in values or name in files:
            raise InvalidValueError(f"form field {name[:40]!r} is given twice")
        else:
            into[name] = value

    def on_field(field) -> None:
        keep(field.field_name.decode("utf-8", "replace"), (field.value or b"").decode("utf-8", "replace"), values)

    def on_file(file) -> None:
        file.file_object.seek(0)
        keep(file.field_name.decode("utf-8", "replace"), file.file_object.read(), files)

    # files are kept in memory up to the whole body's size: never written to the system's temporary folder
    parser = FormParser("multipart/form-data", on_field, on_file, boundary=boundary,
                        config={"MAX_MEMORY_FILE_SIZE": len(body) + 1, "MAX_BODY_SIZE": len(body) + 1})
    try:
        parser.write(body)
        parser.finalize()
    except FormParserError as e:
        raise InvalidValueError(f"the multipart form is malformed: {_one_line(e)[:100]}") from None
    return values, files


def create_app(*, max_upload_bytes: int = MAX_UPLOAD_BYTES, max_side: int = MAX_SIDE, max_pixels: int = MAX_PIXELS,
               workers: int = 1, queue_size: int = 4, allowed_hosts: tuple[str, ...] | None = LOOPBACK) -> Starlette:
    """The app. ``max_upload_bytes``: the largest image upload; ``max_side`` / ``max_pixels``: the largest picture
    decoded; ``workers`` threads run jobs, ``queue_size`` more may wait (beyond: 503). ``allowed_hosts``: the
    ``Host`` headers answered (the loopback names by default, against DNS rebinding; ``None``: any). Its temporary
    folder (``app.state.folder``) is removed when the app shuts down (or the process exits)."""
    from genprior.errors import check_number

    for name, value in (("max_upload_bytes", max_upload_bytes), ("max_side", max_side), ("max_pixels", max_pixels),
                        ("workers", workers)):
        check_number(name, value, low=1, integer=True)
    check_number("queue_size", queue_size, low=0, integer=True)
    folder = Path(tempfile.mkdtemp(prefix="genprior-serve-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    models = ModelShelf()
    queue = JobQueue(workers=workers, queue_size=queue_size, folder=folder, models=models)
    body_limit = max_upload_bytes + FORM_OVERHEAD
    page = {name: (resources.files("genprior.web") / "static" / name).read_bytes() for name in ("index.html", "app.js", "style.css")}
    samples: dict = {}

    def too_large() -> JSONResponse:
        return _error(413, f"the upload is larger than the limit of {_size(max_upload_bytes)}")

    def static(name: str, media_type: str):
        async def endpoint(request: Request) -> Response:
            return Response(page[name], media_type=media_type,
                            headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                     "Cache-Control": "no-store"})
        return endpoint

    async def options(request: Request) -> JSONResponse:
        from genprior.evaluate.recovery import method

        available = await run_in_threadpool(models.available)
        methods = [{"name": n, "label": method(n).label, "options": dict(method(n).options),
                    "needs_generator": method(n).needs_generator, "model": method(n).model} for n in web_methods()]
        return JSONResponse({"models": available, "methods": methods, "tasks": list(WEB_TASKS),
                             "task_fields": {k: list(v) for k, v in TASK_FIELDS.items()},
                             "limits": {"max_upload_bytes": max_upload_bytes, "max_side": max_side,
                                        "max_pixels": max_pixels, **{f"max_{k}": v for k, v in CAPS.items()}},
                             "samples": await run_in_threadpool(lambda: len(_samples())),
                             "workers": workers, "queue_size": queue_size})

    def _samples():
        if "images" not in samples:
            from genprior.data import load_dataset

            samples["images"] = load_dataset("mnist-bundled", "test").images
        return samples["images"]

    async def sample(request: Request) -> Response:
        index = request.path_params["index"]
        images = await run_in_threadpool(_samples)
        if not 0 <= index < len(images):
            return _error(404, f"sample {index} does not exist: there are {len(images)} (0 .. {len(images) - 1})")
        return Response(png_bytes(images[index]), media_type="image/png")

    async def check_image(request: Request) -> JSONResponse:
        try:
            _, files = await _read_form(request, body_limit)
        except _TooLarge:
            return too_large()
        if not files.get("image"):
            raise InvalidValueError("no image in the form (field 'image')")
        if len(files["image"]) > max_upload_bytes:
            return too_large()
        x = await run_in_threadpool(decode_image, files["image"], max_side=max_side, max_pixels=max_pixels)
        return JSONResponse({"channels": x.shape[0], "height": x.shape[1], "width": x.shape[2]})

    async def submit(request: Request) -> JSONResponse:
        try:
            values, files = await _read_form(request, body_limit)
        except _TooLarge:
            return too_large()
        if len(files.get("image", b"")) > max_upload_bytes:
            return too_large()
        queue.check_room()  # before decoding anything: a full queue answers 503 at once
        spec = await run_in_threadpool(build_spec, values, files, models=models, max_side=max_side,
                                       max_pixels=max_pixels)
        job = queue.submit(spec)
        return JSONResponse({"id": job.id, "url": f"/api/jobs/{job.id}"}, status_code=202)

    def find(request: Request) -> Job:
        job = queue.get(request.path_params["job"])
        if job is None:
            raise HTTPException(404, "no such job (finished jobs are kept for a while only)")
        return job

    async def status(request: Request) -> JSONResponse:
        job = find(request)
        import time

        end = job.finished or time.monotonic()
        return JSONResponse({
            "id": job.id, "state": job.state, "stage": job.stage, "done": job.done, "total": len(job.spec.methods),
            "position": queue.position(job) if job.state == "queued" else 0,
            "elapsed": None if job.started is None else end - job.started, "error": job.error,
            "model": job.spec.model, "operator": job.operator, "truth": job.truth, "measured": job.measured,
            "results": list(job.results),
            "download": f"/api/jobs/{job.id}/download" if job.archive is not None else None})

    async def cancel(request: Request) -> JSONResponse:
        job = find(request)
        queue.cancel(job)
        return JSONResponse({"id": job.id, "state": job.state})

    async def download(request: Request) -> Response:
        job = find(request)
        if job.archive is None or not job.archive.is_file():
            return _error(409, f"job {job.id} has no download yet (it is {job.state})")
        return FileResponse(job.archive, media_type="application/zip", filename=f"genprior-{job.id}.zip")

    async def on_genprior_error(request: Request, exc: GenpriorError) -> JSONResponse:
        return _error(415 if isinstance(exc, UnsupportedImageError) else 400, _one_line(exc))

    async def on_busy(request: Request, exc: BusyError) -> JSONResponse:
        return _error(503, str(exc), **{"Retry-After": "5"})

    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, _one_line(exc.detail), **(exc.headers or {}))

    async def on_other(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"internal error: {type(exc).__name__}: {_one_line(exc)[:200]}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        try:
            yield
        finally:
            queue.shutdown()
            shutil.rmtree(folder, ignore_errors=True)

    routes = [
        Route("/", static("index.html", "text/html; charset=utf-8")),
        Route("/app.js", static("app.js", "text/javascript; charset=utf-8")),
        Route("/style.css", static("style.css", "text/css; charset=utf-8")),
        Route("/api/options", options),
        Route("/api/samples/{index:int}", sample),
        Route("/api/images", check_image, methods=["POST"]),
        Route("/api/jobs", submit, methods=["POST"]),
        Route("/api/jobs/{job}", status),
        Route("/api/jobs/{job}/cancel", cancel, methods=["POST"]),
        Route("/api/jobs/{job}/download", download),
    ]
    middleware = [] if allowed_hosts is None else [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={GenpriorError: on_genprior_error, BusyError: on_busy, HTTPException: on_http,
                                        Exception: on_other})
    app.state.folder, app.state.queue, app.state.models = folder, queue, models
    return app
