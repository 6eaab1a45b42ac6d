"""``genprior recover`` (one task, one method, many images) and ``genprior demo`` (the bundled tour)."""

from __future__ import annotations

import argparse
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from genprior import distributed
from genprior.errors import InvalidValueError

if TYPE_CHECKING:
    from genprior.evaluate.recovery import MethodResult

TUNING_IMAGES = 50  # held-out images --alpha auto tunes on


def _alpha_arg(text: str) -> float | str:
    from genprior.cli import MAX_WEIGHT, number_arg

    if text == "auto":
        return text
    try:
        float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got {text!r}") from None
    return number_arg(low=0, high=MAX_WEIGHT)(text)


def _tuning_slice(evaluated: slice, total: int, count: int = TUNING_IMAGES) -> slice:
    """Up to ``count`` images of the split that ``evaluated`` leaves out: those right after it, else right before."""
    start, stop, _ = evaluated.indices(total)
    if stop < total:
        return slice(stop, min(stop + count, total))
    if start > 0:
        return slice(max(0, start - count), start)
    raise InvalidValueError(f"--alpha auto tunes on images of the split outside --indices, and {start}:{stop} "
                            f"leaves none of its {total}")


def add_parsers(sub) -> None:
    from genprior.cli import (
        MAX_COUNT,
        MAX_LR,
        MAX_NOISE,
        MAX_RESTARTS,
        MAX_STEPS,
        MAX_WEIGHT,
        MAX_WIDTH,
        add_data_args,
        add_device_arg,
        integer_arg,
        number_arg,
        seed_arg,
    )
    from genprior.data.images import FIT_RULE
    from genprior.evaluate.recovery import METHODS
    from genprior.operators import TASKS

    p = sub.add_parser("recover", help="recover images from simulated measurements with a prior or a baseline")
    p.add_argument("--task", choices=TASKS, help="the measurement: " + ", ".join(TASKS)
                   + " (required, except with --measurements from genprior recover, which records it)")
    p.add_argument("--m", type=integer_arg(1, MAX_COUNT), help="measurements for --task cs, one-bit (their signs) and phase (their magnitudes)")
    p.add_argument("--keep", type=number_arg(low=0, high=1, strict=True), help="fraction of pixels kept for --task inpaint (default 0.2)")
    p.add_argument("--block", type=integer_arg(1, MAX_WIDTH), help="side of the centred missing square for --task inpaint")
    p.add_argument("--factor", type=integer_arg(1, MAX_WIDTH), help="downsampling factor for --task superres (default 4)")
    p.add_argument("--noise-std", type=number_arg(low=0, high=MAX_NOISE), default=None, help="noise level sigma: sqrt(E||eta||^2) (default 0.1)")
    p.add_argument("--noise", choices=("total", "entry"), default=None,
                   help="total: sigma is the noise vector's expected norm (CSGM); entry: each entry's std")
    p.add_argument("--method", required=True, metavar="NAME",
                   help="the recovery method, by the name every results file uses: "
                        + "; ".join(f"{m.name}: {m.label}" for m in METHODS.values()))
    p.add_argument("--model", default=None,
                   help="zoo name or path to a .safetensors/.json pair, for the methods with a generator (default: "
                        + ", ".join(f"{m.model} for {m.name}" for m in METHODS.values() if m.needs_generator) + ")")
    p.add_argument("--lam", type=number_arg(low=0, high=MAX_WEIGHT), default=None,
                   help="latent prior weight lambda in ||y-AG(z)||^2 + lambda||z||^2 (default 0)")
    p.add_argument("--restarts", type=integer_arg(1, MAX_RESTARTS), default=None,
                   help="random starts (default: " + _defaults(METHODS, "restarts") + ")")
    p.add_argument("--steps", type=integer_arg(1, MAX_STEPS), default=None,
                   help="Adam steps, or DDIM steps of the diffusion samplers (default: " + _defaults(METHODS, "steps")
                        + ")")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=None,
                   help="Adam rate (default: " + _defaults(METHODS, "lr") + ")")
    p.add_argument("--samples", type=integer_arg(1, MAX_RESTARTS), default=None,
                   help="posterior samples K per image, batched; the estimate is their mean, and their per-pixel std "
                        "is written beside it (images/NNNN-std.png, x_std) with coverage_90 in the JSON (default: "
                        + _defaults(METHODS, "samples") + ")")
    p.add_argument("--interval-scale", type=number_arg(low=0, high=MAX_WEIGHT), default=None,
                   help="times the half-widths of the per-pixel 90 %% interval of dps and diffpir (default 1: the "
                        "samples' own); benchmarks/results/diffusion_mnist.md lists the scales calibrated on held-out "
                        "MNIST images per m (genprior.solvers.posterior.calibrate_interval)")
    p.add_argument("--alpha", type=_alpha_arg, default=None,
                   help="Lasso weight, or auto: the best of 1e-4 .. 0.1 (half a decade apart) on up to "
                        f"{TUNING_IMAGES} images of the same split next to --indices, measured alike (default 0.1, the "
                        "CSGM reference's choice for compressed sensing; inpainting, super-resolution and denoising at "
                        "low noise want far less, which auto finds)")
    add_data_args(p)
    p.set_defaults(dataset=None)  # mnist, for data set images only: --image and --measurements refuse a --dataset
    p.add_argument("--split", default=None, help="the data set's split: test or train")
    p.add_argument("--indices", default=None, help="A:B images of the split (default 0:10)")
    p.add_argument("--seed", type=seed_arg, default=None,
                   help="seeds the operator, the noise and the restarts (default 0; with --measurements written by "
                        "genprior recover, the seed recorded there)")
    p.add_argument("--image", nargs="+", default=None, metavar="PATH",
                   help="recover your own images (PNG, JPEG or NPY; grey or colour) instead of a data set's: each is "
                        "fitted to the model's image shape (" + FIT_RULE + "), then measured")
    p.add_argument("--measurements", default=None, metavar="FILE",
                   help="recover from measurements y taken elsewhere: an NPY (m,) or (B, m) array, or a safetensors "
                        "file with a tensor y (a recovery.safetensors of genprior recover brings its own --task, "
                        "operator options and --seed; otherwise give them as they were measured)")
    p.add_argument("--out", default=None,
                   help="folder for the results: images/NNNN-recovered.png (and -truth, -measured; -std for dps and "
                        "diffpir) per image, recovery.safetensors (x_hat, z_hat, x_std, y, x), settings.json (what reproduces them), a PNG grid "
                        "and the JSON/Markdown report")
    p.add_argument("--json", default=None, help="write the result JSON here")
    add_device_arg(p)
    p.set_defaults(func=cmd_recover, torchrun=True)

    p = sub.add_parser("demo", help="compressed sensing and inpainting on the bundled VAE and MNIST images")
    p.add_argument("--out", default="genprior-demo", help="output folder (default ./genprior-demo)")
    p.add_argument("--n-images", type=integer_arg(1, 300), default=20,
                   help="bundled test images recovered, 1..300 (default 20)")
    p.add_argument("--steps", type=integer_arg(1, MAX_STEPS), default=1000,
                   help="Adam steps of csgm (default 1000)")
    p.add_argument("--seed", type=seed_arg, default=0,
                   help="seed of every random draw of the run (the same seed gives the same numbers)")
    add_device_arg(p)
    p.set_defaults(func=cmd_demo)


def _defaults(methods: dict, option: str) -> str:
    """``"10 for csgm, 40 for csgm-fast"``: the methods that take ``option``, with their defaults."""
    return ", ".join(f"{m.options[option]} for {m.name}" for m in methods.values() if option in m.options)


def _load_generator(model: str, chosen=None):
    """The model ``model`` (zoo name or path), checked to be what ``chosen`` runs on: a diffusion model for a
    method whose ``prior`` is ``"diffusion"``, a generator with a latent for the others."""
    from genprior import zoo
    from genprior.models.generator import latent_dim_of
    from genprior.solvers.posterior import check_diffusion

    generator, _ = zoo.resolve(model)
    diffusion = hasattr(generator, "alphas_cumprod") and hasattr(generator, "predict_noise")
    if chosen is not None and chosen.prior == "diffusion":
        if not diffusion:
            raise InvalidValueError(f"method {chosen.name} needs a diffusion model (e.g. mnist-ddpm); {model} is a "
                                    f"{type(generator).__name__}")
        return check_diffusion(generator, f"method {chosen.name}")
    if diffusion:
        raise InvalidValueError(f"{model} is a diffusion model (no latent z): use it with --method dps or diffpir")
    latent_dim_of(generator)
    return generator


RECORD_KEY = "genprior.recovery"  # recovery.safetensors' metadata entry holding the settings JSON
OPERATOR_KEYS = ("task", "m", "keep", "block", "factor", "noise_std", "noise", "seed")  # what defines the operator
OPERATOR_DEFAULTS = {"noise_std": 0.1, "noise": "total", "seed": 0}
DATA_DEFAULTS = {"dataset": "mnist", "split": "test", "indices": "0:10"}
DEFAULT_SHAPE = (1, 28, 28)  # the image shape of measurements given without a model or a genprior record
IMAGES = "images"  # --out's folder of per-image PNGs


@dataclass
class Problem:
    """What ``genprior recover`` solves, ready before any solving: the true images ``(B, C, H, W)`` (``None`` when
    unknown: measurements given), the measurements ``y`` ``(B, m)`` (CPU), the operator, the generator (or ``None``)
    and its name, held-out images for ``--alpha auto``, and the record of where the images came from."""

    truth: torch.Tensor | None
    y: torch.Tensor
    op: object
    generator: object
    model: str | None
    operator: dict  # OPERATOR_KEYS -> values, and "shape"
    source: dict
    tuning: slice | None = None
    tuning_images: torch.Tensor | None = None
    given: dict = field(default_factory=dict)  # the method options given on the command line


def _mode(args) -> str:
    """``"data"``, ``"image"`` or ``"measurements"``; refuses options of another mode."""
    from genprior.evaluate.recovery import AUTO
    from genprior.operators import TASKS

    if args.image is not None and args.measurements is not None:
        raise InvalidValueError("--image and --measurements are two sources of what to recover: give one")
    mode = "image" if args.image is not None else "measurements" if args.measurements is not None else "data"
    if mode != "data":
        for key in ("dataset", "split", "indices", "data_dir"):
            if getattr(args, key) is not None:
                raise InvalidValueError(f"--{key.replace('_', '-')} picks data set images; --{mode} recovers yours "
                                        "instead: give one of them")
        if args.alpha == AUTO:
            raise InvalidValueError(f"--alpha auto tunes on held-out images of a data set; with --{mode} give a "
                                    "number")
    else:
        for key, default in DATA_DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, default)
    if args.task is None and mode != "measurements":
        raise InvalidValueError("--task is required (the measurement: " + ", ".join(TASKS) + ")")
    return mode


def _check_method(args):
    """The chosen method and the method options given; refuses those it does not take and a --model it does not
    use."""
    from genprior.evaluate.recovery import METHODS, method

    chosen = method(args.method)
    # an option the method does not take is refused rather than ignored (its result would not be what was asked)
    given = {"lam": args.lam, "restarts": args.restarts, "steps": args.steps, "lr": args.lr, "alpha": args.alpha,
             "samples": args.samples, "interval_scale": args.interval_scale}
    for flag, value in given.items():
        if value is not None and flag not in chosen.options:
            users = [m.name for m in METHODS.values() if flag in m.options]
            raise InvalidValueError(f"--{flag.replace('_', '-')} is an option of {', '.join(users)}; method "
                                    f"{args.method} does not use it")
    if args.model is not None and not chosen.needs_generator:
        users = [m.name for m in METHODS.values() if m.needs_generator]
        raise InvalidValueError(f"--model is an option of {', '.join(users)}; method {args.method} does not use it")
    return chosen, given


def read_measurements(path: str | Path) -> tuple[torch.Tensor, dict | None, torch.Tensor | None]:
    """``(y (B, m), record, truth)`` from ``path``: an NPY array ``(m,)`` or ``(B, m)``, or a safetensors file with
    a tensor ``y`` (or a single tensor). A ``recovery.safetensors`` written by ``genprior recover`` also gives its
    settings record and, when it holds one, the truth ``x``; for the others both are ``None``."""
    import numpy as np

    from genprior.io import load_tensors_and_metadata

    path = Path(path)
    if not path.is_file():
        raise InvalidValueError(f"measurements file {path} not found")
    record, truth = None, None
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise InvalidValueError(f"cannot read {path} as NPY: {str(e).splitlines()[0] if str(e) else 'corrupt'}") from None
        if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
            raise InvalidValueError(f"{path}: measurements must be numbers, got {arr.dtype}")
        y = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    else:
        tensors, meta = load_tensors_and_metadata(path)
        if RECORD_KEY in meta:
            try:
                record = json.loads(meta[RECORD_KEY])
            except json.JSONDecodeError:
                raise InvalidValueError(f"{path}: its {RECORD_KEY} record is not valid JSON") from None
            truth = tensors.get("x")
        if "y" in tensors:
            y = tensors["y"]
        elif len(tensors) == 1:
            y = next(iter(tensors.values()))
        else:
            raise InvalidValueError(f"{path} holds tensors {', '.join(sorted(tensors))}: name the measurements y")
        y = y.float()
    if y.dim() == 1:
        y = y[None]
    if y.dim() != 2 or y.shape[0] < 1 or y.shape[1] < 1:
        raise InvalidValueError(f"{path}: measurements must be (m,) or (B, m), got shape {tuple(y.shape)}")
    if not bool(torch.isfinite(y).all()):
        raise InvalidValueError(f"{path}: the measurements hold NaN or infinite values")
    return y, record, truth


def _operator_settings(args, mode: str, record: dict | None, where: str) -> dict:
    """The operator's settings (OPERATOR_KEYS): the command line's, or with a genprior record its own (a given
    option that differs is refused)."""
    from genprior.operators import TASKS

    if record is None:
        random = args.task in ("cs", "one-bit", "phase") or (args.task == "inpaint" and args.block is None)
        if mode == "measurements" and random and args.seed is None:
            raise InvalidValueError(f"task {args.task} draws its operator at random: give the --seed the measurements "
                                    f"in {where} were taken with")
        return {key: OPERATOR_DEFAULTS[key] if getattr(args, key) is None and key in OPERATOR_DEFAULTS
                else getattr(args, key) for key in OPERATOR_KEYS}
    saved = record.get("operator") or {}
    if saved.get("task") not in TASKS:
        raise InvalidValueError(f"{where}: its record names no operator task")
    for key in OPERATOR_KEYS:
        given = getattr(args, key)
        if given is not None and given != saved.get(key):
            raise InvalidValueError(f"--{key.replace('_', '-')} {given} differs from {saved.get(key)}, with which the "
                                    f"measurements in {where} were taken: leave it out")
    return {key: saved.get(key, OPERATOR_DEFAULTS.get(key)) for key in OPERATOR_KEYS}


def prepare(args, chosen, given: dict) -> Problem:
    """Everything ``genprior recover`` solves, checked: the model, the images (a data set's, the user's files) or
    the given measurements, the operator, and the measurements (simulated on the CPU from ``--seed``: the same on
    every device)."""
    from genprior.cli import sub_seed
    from genprior.data import load_dataset, parse_indices
    from genprior.data.images import load_images
    from genprior.evaluate.recovery import AUTO, METHODS
    from genprior.models.ensemble import GeneratorEnsemble
    from genprior.operators import make_operator

    mode = _mode(args)
    record = truth = y = None
    if mode == "measurements":
        y, record, truth = read_measurements(args.measurements)
    model = chosen.model if args.model is None else args.model
    generator = _load_generator(model, chosen) if chosen.needs_generator else None
    if isinstance(generator, GeneratorEnsemble) and args.method != "hybrid":
        raise InvalidValueError(f"model {model} is an ensemble of generators: only --method hybrid uses ensembles")
    model_shape = None if generator is None else tuple(getattr(generator, "output_shape", ()) or ()) or None
    tuning = tuning_images = None
    if mode == "data":
        data = load_dataset(args.dataset, args.split, data_dir=args.data_dir)
        evaluated = parse_indices(args.indices, len(data))
        truth = data.images[evaluated]
        tuning = _tuning_slice(evaluated, len(data)) if args.alpha == AUTO else None
        tuning_images = None if tuning is None else data.images[tuning]
        if model_shape is not None and model_shape != tuple(truth.shape[1:]):
            raise InvalidValueError(f"model {model} makes images of shape {model_shape}, data set {args.dataset} has "
                                    f"{tuple(truth.shape[1:])}")
        source = {"kind": "dataset", "dataset": args.dataset, "split": args.split, "indices": args.indices,
                  "images": [f"{args.dataset} {args.split} {i}" for i in range(evaluated.start, evaluated.stop)]}
    elif mode == "image":
        from genprior.data.images import FIT_RULE

        if generator is not None and model_shape is None:
            raise InvalidValueError(f"model {model} has no output_shape: --image needs the image shape it makes")
        truth = load_images(args.image, model_shape)
        source = {"kind": "image", "images": [str(p) for p in args.image],
                  "fit": FIT_RULE if model_shape is not None else "none: the images' own shape"}
    else:
        saved_shape = tuple((record or {}).get("operator", {}).get("shape") or ()) or None
        if model_shape is not None and saved_shape is not None and model_shape != saved_shape:
            raise InvalidValueError(f"model {model} makes images of shape {model_shape}; the measurements in "
                                    f"{args.measurements} were taken of images of shape {saved_shape}")
        source = {"kind": "measurements", "file": str(args.measurements), "images": None,
                  "shape": list(saved_shape or model_shape or DEFAULT_SHAPE)}
    shape = tuple(truth.shape[1:]) if truth is not None else tuple(source["shape"])
    settings = _operator_settings(args, mode, record, args.measurements)
    op = make_operator(settings["task"], shape=shape, m=settings["m"], keep=settings["keep"], block=settings["block"],
                       factor=settings["factor"], noise_std=settings["noise_std"], noise=settings["noise"],
                       seed=settings["seed"])
    if op.measurement not in chosen.measurements:
        takers = [m.name for m in METHODS.values() if op.measurement in m.measurements]
        raise InvalidValueError(f"method {args.method} does not take --task {settings['task']}: its measurements are "
                                f"{op.measurement}, which {', '.join(takers)} take")
    if y is None:
        y = op.measure(truth, seed=sub_seed(settings["seed"], 1))  # on the CPU: the same measurements on every device
    elif y.shape[1] != op.output_size:
        raise InvalidValueError(f"{args.measurements} holds {y.shape[1]} measurements per image; task "
                                f"{settings['task']} of images {shape} with these options gives {op.output_size}")
    if truth is not None and truth.shape[0] != y.shape[0]:
        raise InvalidValueError(f"{args.measurements}: {y.shape[0]} measurement rows but {truth.shape[0]} true images")
    if source["images"] is None:
        source["images"] = [f"{args.measurements} row {i}" for i in range(y.shape[0])]
    return Problem(truth, y, op, generator, model if generator is not None else None, {**settings, "shape": list(shape)},
                   source, tuning, tuning_images, given)


def compute(args, problem: Problem, device) -> MethodResult:
    """Recover every image of ``problem`` on ``device`` (scored when the truth is known; under torchrun each rank
    solves a block of rows and every rank gets the whole result). A run whose every restart diverged, or whose
    recoveries are not finite, ends with an error."""
    from genprior.cli import sub_seed
    from genprior.evaluate.recovery import run_method

    truth = problem.truth
    y = problem.y.to(device)
    if problem.generator is not None:
        problem.generator.to(device)
    problem.op.to(device)
    tuning_images = None if problem.tuning_images is None else problem.tuning_images.to(device)
    with warnings.catch_warnings():  # a latent solver warns when every restart of an image diverged: a failed run
        warnings.filterwarnings("error", message="every restart diverged", category=RuntimeWarning)
        try:
            res = run_method(args.method, truth, problem.op, y, generator=problem.generator,
                             seed=sub_seed(problem.operator["seed"], 2), progress=True, tuning_images=tuning_images,
                             shard=True, **problem.given)  # shard: under torchrun each rank takes a block of rows
        except RuntimeWarning as e:
            raise InvalidValueError(f"{args.method}: {str(e).replace('lower lr', 'lower --lr')}; no result written") from None
    if not bool(torch.isfinite(res.x).all()):
        raise InvalidValueError(f"{args.method} diverged: its recoveries hold NaN or infinite values (a lower --lr may "
                                "help); no result written")
    return res


def _image_files(n: int) -> list[str]:
    """The names, inside ``--out``, of ``n`` images' PNGs: ``images/NNNN-{recovered,truth,measured}.png``."""
    width = max(4, len(str(n - 1)))
    return [f"{IMAGES}/{i:0{width}d}-{kind}.png" for i in range(n) for kind in ("recovered", "truth", "measured")]


def settings_record(args, problem: Problem, res: MethodResult, device) -> dict:
    """What reproduces a recovery: the genprior version, the command, the method and its options, the model, the
    operator (its task, options, seed and image shape) and where the images or measurements came from."""
    from genprior import __version__
    from genprior.cli import sub_seed
    from genprior.train.state import command_line

    seed = problem.operator["seed"]
    return {"genprior_version": __version__, "command": command_line(), "method": args.method,
            "options": dict(res.options), "model": problem.model, "operator": problem.operator,
            "measurement_noise_seed": sub_seed(seed, 1) if problem.source["kind"] != "measurements" else None,
            "solver_seed": sub_seed(seed, 2), "source": problem.source, "device": str(device),
            "n_images": int(problem.y.shape[0]), "m": problem.op.output_size, "n": problem.op.input_size}


def write_results(args, problem: Problem, res: MethodResult, device) -> None:
    """Print the summary line; write ``--json`` and, in ``--out``, the per-image PNGs, ``recovery.safetensors``
    (``x_hat`` ``(B, C, H, W)``, ``z_hat`` ``(B, k)`` for a method with a latent, ``x_std`` ``(B, C, H, W)`` the
    per-pixel std of a posterior method's samples (also as ``images/NNNN-std.png``), ``y`` ``(B, m)``, ``x`` the truth
    when known, and the settings record in its metadata), ``settings.json``, the grid and the JSON/Markdown
    report."""
    from genprior.data.images import save_png
    from genprior.io import save_tensors, write_json
    from genprior.progress import say
    from genprior.reports import markdown_table, save_image_grid, write_report

    b = problem.y.shape[0]
    options = dict(res.options)
    if problem.tuning is not None:
        options["alpha_tuned_on"] = f"{args.split} {problem.tuning.start}:{problem.tuning.stop}"
    op_settings = problem.operator
    metrics = res.metrics or {"n_images": b}
    result = {"task": op_settings["task"], "method": args.method, "m": problem.op.output_size,
              "n": problem.op.input_size, **metrics, "seconds": res.seconds, "seconds_per_image": res.seconds / b,
              "device": str(device), "model": problem.model, "dataset": args.dataset, "split": args.split,
              "indices": args.indices, "source": problem.source["kind"], "noise_std": op_settings["noise_std"],
              "noise": op_settings["noise"], "seed": op_settings["seed"],
              "options": {**options, "keep": op_settings["keep"], "block": op_settings["block"],
                          "factor": op_settings["factor"]}}
    # one-bit measurements keep only the direction: their recoveries are judged by it first
    shown = [k for k in ("task", "method", "m", "n_images",
                         *(("direction_error",) if op_settings["task"] == "one-bit" else ()),
                         "mse_per_pixel", "mse_se", "psnr", "ssim", "seconds") if k in result]
    print(json.dumps({k: result[k] for k in shown}))
    if args.json is not None:
        write_json(args.json, result)
    if args.out is None:
        return
    out = Path(args.out)
    x_hat = res.x.detach().cpu()
    shown_x, label = x_hat, args.method
    if args.method == "biht":  # its estimates are unit-norm directions (dark at the pixel scale): shown at max 1
        shown_x, label = x_hat / x_hat.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1), "biht (x / max x)"
    measured = problem.op.to("cpu").as_image(problem.y)
    files = iter(_image_files(b))
    for i in range(b):
        for picture in (shown_x[i], problem.truth, measured):
            name = next(files)
            if picture is not None:
                save_png(out / name, picture if picture.dim() == 3 else picture[i])
    record = settings_record(args, problem, res, device)
    tensors = {"x_hat": x_hat, "y": problem.y}
    if res.z is not None:
        tensors["z_hat"] = res.z
    if res.x_std is not None:  # a posterior method: the per-pixel std of its samples, as tensor and pictures
        tensors["x_std"] = res.x_std.detach().cpu()
        width = max(4, len(str(b - 1)))
        for i in range(b):
            save_png(out / IMAGES / f"{i:0{width}d}-std.png", tensors["x_std"][i].clamp(0, 1))
    if problem.truth is not None:
        tensors["x"] = problem.truth
    save_tensors(out / "recovery.safetensors", tensors, metadata={RECORD_KEY: json.dumps(record)})
    write_json(out / "settings.json", record)
    save_image_grid(out / "recovery.png", {"truth": problem.truth, "measured": measured, label: shown_x},
                    title=f"{op_settings['task']}, m={problem.op.output_size}, {args.method}")
    write_report(out / "recovery", result, markdown_table([result], shown))
    say(f"{b} recovered image(s) written to {out / IMAGES}/, tensors to {out / 'recovery.safetensors'}")


def cmd_recover(args) -> int:
    from genprior.cli import check_report_outputs
    from genprior.devices import pick_device
    from genprior.io import check_outputs

    chosen, given = _check_method(args)
    _mode(args)
    device = pick_device(args.device)
    check_report_outputs(args, "recovery", ("recovery.png", "recovery.safetensors", "settings.json",
                                            _image_files(1)[0]))
    problem = prepare(args, chosen, given)
    if args.out is not None:
        check_outputs({"--out": args.out}, contents={"--out": _image_files(problem.y.shape[0])})
    device = distributed.setup(device)  # under torchrun: join the process group, this rank's GPU
    res = compute(args, problem, device)
    if not distributed.is_main():  # every rank holds the whole result (run_method's shard); rank 0 writes it
        return 0
    write_results(args, problem, res, device)
    return 0


def cmd_demo(args) -> int:
    """Compressed sensing at m in {25, 100, 400} (CSGM vs Lasso) and inpainting, on bundled data; < 2 min on 2 cores."""
    from genprior import zoo
    from genprior.cli import sub_seed
    from genprior.data import load_dataset
    from genprior.data.images import save_png
    from genprior.devices import pick_device
    from genprior.evaluate.recovery import run_method
    from genprior.io import check_outputs, save_tensors
    from genprior.operators import Gaussian, Inpaint
    from genprior.progress import progress_bar, say
    from genprior.reports import markdown_table, save_image_grid, write_report

    device = pick_device(args.device)
    out = check_outputs({"--out": args.out}, contents={"--out": ("demo.json", "demo.md", IMAGES)})["--out"]
    generator = zoo.load("mnist-vae").to(device)
    images = load_dataset("mnist-bundled", "test").images[: args.n_images]
    shape = tuple(images.shape[1:])
    setups = [("compressed sensing", Gaussian(m=m, shape=shape, noise_std=0.1, seed=args.seed)) for m in (25, 100, 400)]
    setups.append(("inpaint, 20% of pixels kept", Inpaint(shape=shape, keep=0.2, noise_std=0.1, seed=args.seed)))
    setups.append(("inpaint, 12x12 block missing", Inpaint(shape=shape, block=12, noise_std=0.1, seed=args.seed)))
    methods = ("csgm", "lasso-pixel", "lasso-dct", "lasso-wavelet")
    rows = []
    for label, op in progress_bar(setups, desc="demo"):
        y = op.measure(images, seed=sub_seed(args.seed, 1))  # on the CPU: the same measurements on every device
        grid = {"truth": images, "measured": op.as_image(y)}
        op.to(device)
        y = y.to(device)
        for method in methods:
            steps = {"steps": args.steps} if method == "csgm" else {}
            res = run_method(method, images, op, y, generator=generator, seed=sub_seed(args.seed, 2), **steps)
            grid[method] = res.x.cpu()
            rows.append({"setup": label, "m": op.output_size, "method": method, **res.metrics, "seconds": res.seconds})
        name = f"{'cs' if label.startswith('compressed') else 'inpaint'}-{op.output_size}"
        save_image_grid(out / f"{name}.png", grid, title=f"{label}: m={op.output_size}, sigma=0.1")
        # one PNG per image and method, and the tensors: images/NAME/NNNN-{truth,measured,METHOD}.png, NAME.safetensors
        for kind, batch in grid.items():
            for i, picture in enumerate(batch if batch is not None else ()):  # no picture of Gaussian measurements
                save_png(out / IMAGES / name / f"{i:04d}-{kind}.png", picture)
        save_tensors(out / IMAGES / f"{name}.safetensors",
                     {"x": images, "y": y.cpu(), **{f"x_hat_{method}": grid[method] for method in methods}})
    md = ("# genprior demo\n\nBundled VAE `mnist-vae` as the prior (CSGM: Adam lr 0.01, "
          f"{args.steps} steps, 10 restarts, lambda 0) against Lasso (alpha 0.1) in three bases, on the first "
          f"{args.n_images} bundled MNIST test images; noise sigma = 0.1 (CSGM convention); device {device}.\n\n"
          + markdown_table(rows, ["setup", "m", "method", "mse_per_pixel", "mse_se", "psnr", "ssim", "seconds"]))
    write_report(out / "demo", {"n_images": args.n_images, "device": str(device), "rows": rows}, md)
    print(md)
    say(f"pictures and tables written to {out}/, one PNG per image and the tensors in {out / IMAGES}/")
    return 0
