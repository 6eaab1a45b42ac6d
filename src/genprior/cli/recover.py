"""``genprior recover`` (one task, one method, many images) and ``genprior demo`` (the bundled tour)."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch

from genprior.errors import InvalidValueError

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
    from genprior.evaluate.recovery import METHODS
    from genprior.operators import TASKS

    p = sub.add_parser("recover", help="recover images from simulated measurements with a prior or a baseline")
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--m", type=integer_arg(1, MAX_COUNT), help="measurements for --task cs, one-bit (their signs) and phase (their magnitudes)")
    p.add_argument("--keep", type=number_arg(low=0, high=1, strict=True), help="fraction of pixels kept for --task inpaint (default 0.2)")
    p.add_argument("--block", type=integer_arg(1, MAX_WIDTH), help="side of the centred missing square for --task inpaint")
    p.add_argument("--factor", type=integer_arg(1, MAX_WIDTH), help="downsampling factor for --task superres (default 4)")
    p.add_argument("--noise-std", type=number_arg(low=0, high=MAX_NOISE), default=0.1, help="noise level sigma: sqrt(E||eta||^2) (default 0.1)")
    p.add_argument("--noise", choices=("total", "entry"), default="total",
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
                   help="Adam steps (default: " + _defaults(METHODS, "steps") + ")")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=None,
                   help="Adam rate (default: " + _defaults(METHODS, "lr") + ")")
    p.add_argument("--alpha", type=_alpha_arg, default=None,
                   help="Lasso weight, or auto: the best of 1e-4 .. 0.1 (half a decade apart) on up to "
                        f"{TUNING_IMAGES} images of the same split next to --indices, measured alike (default 0.1, the "
                        "CSGM reference's choice for compressed sensing; inpainting, super-resolution and denoising at "
                        "low noise want far less, which auto finds)")
    add_data_args(p)
    p.add_argument("--split", default="test")
    p.add_argument("--indices", default="0:10", help="A:B images of the split (default 0:10)")
    p.add_argument("--seed", type=seed_arg, default=0, help="seeds the operator, the noise and the restarts")
    p.add_argument("--out", default=None, help="folder for a PNG grid and the JSON/Markdown report")
    p.add_argument("--json", default=None, help="write the result JSON here")
    add_device_arg(p)
    p.set_defaults(func=cmd_recover)

    p = sub.add_parser("demo", help="compressed sensing and inpainting on the bundled VAE and MNIST images")
    p.add_argument("--out", default="genprior-demo", help="output folder (default ./genprior-demo)")
    p.add_argument("--n-images", type=integer_arg(1, 300), default=20,
                   help="bundled test images recovered, 1..300 (default 20)")
    p.add_argument("--steps", type=integer_arg(1, MAX_STEPS), default=1000,
                   help="Adam steps of csgm (default 1000)")
    p.add_argument("--seed", type=seed_arg, default=0)
    add_device_arg(p)
    p.set_defaults(func=cmd_demo)


def _defaults(methods: dict, option: str) -> str:
    """``"10 for csgm, 40 for csgm-fast"``: the methods that take ``option``, with their defaults."""
    return ", ".join(f"{m.options[option]} for {m.name}" for m in methods.values() if option in m.options)


def _load_generator(model: str):
    from genprior import zoo
    from genprior.models.generator import latent_dim_of

    generator, _ = zoo.resolve(model)
    latent_dim_of(generator)
    return generator


def cmd_recover(args) -> int:
    from genprior.cli import check_report_outputs, sub_seed
    from genprior.data import load_dataset, parse_indices
    from genprior.devices import pick_device
    from genprior.evaluate.recovery import AUTO, METHODS, method, run_method
    from genprior.io import write_json
    from genprior.models.ensemble import GeneratorEnsemble
    from genprior.operators import make_operator
    from genprior.reports import markdown_table, save_image_grid, write_report

    chosen = method(args.method)
    # an option the method does not take is refused rather than ignored (its result would not be what was asked)
    given = {"lam": args.lam, "restarts": args.restarts, "steps": args.steps, "lr": args.lr, "alpha": args.alpha}
    for flag, value in given.items():
        if value is not None and flag not in chosen.options:
            users = [m.name for m in METHODS.values() if flag in m.options]
            raise InvalidValueError(f"--{flag} is an option of {', '.join(users)}; method {args.method} does not use it")
    if args.model is not None and not chosen.needs_generator:
        users = [m.name for m in METHODS.values() if m.needs_generator]
        raise InvalidValueError(f"--model is an option of {', '.join(users)}; method {args.method} does not use it")
    device = pick_device(args.device)
    check_report_outputs(args, "recovery", ("recovery.png",))
    data = load_dataset(args.dataset, args.split, data_dir=args.data_dir)
    evaluated = parse_indices(args.indices, len(data))
    images = data.images[evaluated]
    tuning = _tuning_slice(evaluated, len(data)) if args.alpha == AUTO else None
    model = chosen.model if args.model is None else args.model
    generator = _load_generator(model) if chosen.needs_generator else None
    if isinstance(generator, GeneratorEnsemble) and args.method != "hybrid":
        raise InvalidValueError(f"model {model} is an ensemble of generators: only --method hybrid uses ensembles")
    if generator is not None and tuple(generator.output_shape) != tuple(images.shape[1:]):
        raise InvalidValueError(f"model {model} makes images of shape {tuple(generator.output_shape)}, "
                                f"data set {args.dataset} has {tuple(images.shape[1:])}")
    op = make_operator(args.task, shape=tuple(images.shape[1:]), m=args.m, keep=args.keep, block=args.block,
                       factor=args.factor, noise_std=args.noise_std, noise=args.noise, seed=args.seed)
    if op.measurement not in chosen.measurements:
        takers = [m.name for m in METHODS.values() if op.measurement in m.measurements]
        raise InvalidValueError(f"method {args.method} does not take --task {args.task}: its measurements are "
                                f"{op.measurement}, which {', '.join(takers)} take")
    y = op.measure(images, seed=sub_seed(args.seed, 1))  # on the CPU: the same measurements on every device
    if generator is not None:
        generator.to(device)
    op.to(device)
    y = y.to(device)
    # alpha auto: the same operator, its own noise draw, on images of the split that are not evaluated
    tuning_images = None if tuning is None else data.images[tuning].to(device)
    with warnings.catch_warnings():  # a latent solver warns when every restart of an image diverged: a failed run
        warnings.filterwarnings("error", message="every restart diverged", category=RuntimeWarning)
        try:
            res = run_method(args.method, images, op, y, generator=generator, seed=sub_seed(args.seed, 2),
                             progress=True, tuning_images=tuning_images, **given)
        except RuntimeWarning as e:
            raise InvalidValueError(f"{args.method}: {str(e).replace('lower lr', 'lower --lr')}; no result written") from None
    if not bool(torch.isfinite(res.x).all()):
        raise InvalidValueError(f"{args.method} diverged: its recoveries hold NaN or infinite values (a lower --lr may "
                                "help); no result written")
    options = dict(res.options)
    if tuning is not None:
        options["alpha_tuned_on"] = f"{args.split} {tuning.start}:{tuning.stop}"
    result = {"task": args.task, "method": args.method, "m": op.output_size, "n": op.input_size, **res.metrics,
              "seconds": res.seconds, "seconds_per_image": res.seconds / len(images), "device": str(device),
              "model": model if generator is not None else None, "dataset": args.dataset, "split": args.split,
              "indices": args.indices, "noise_std": args.noise_std, "noise": args.noise, "seed": args.seed,
              "options": {**options, "keep": args.keep, "block": args.block, "factor": args.factor}}
    # one-bit measurements keep only the direction: their recoveries are judged by it first
    shown = ("task", "method", "m", "n_images", *(("direction_error",) if args.task == "one-bit" else ()),
             "mse_per_pixel", "mse_se", "psnr", "ssim", "seconds")
    print(json.dumps({k: result[k] for k in shown}))
    if args.json is not None:
        write_json(args.json, result)
    if args.out is not None:
        out = Path(args.out)
        shown_x, label = res.x, args.method
        if args.method == "biht":  # its estimates are unit-norm directions (dark at the pixel scale): shown at max 1
            shown_x, label = res.x / res.x.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1), "biht (x / max x)"
        save_image_grid(out / "recovery.png", {"truth": images, "measured": op.as_image(y), label: shown_x},
                        title=f"{args.task}, m={op.output_size}, {args.method}")
        write_report(out / "recovery", result, markdown_table([result], list(shown)))
    return 0


def cmd_demo(args) -> int:
    """Compressed sensing at m in {25, 100, 400} (CSGM vs Lasso) and inpainting, on bundled data; < 2 min on 2 cores."""
    from tqdm.auto import tqdm

    from genprior import zoo
    from genprior.cli import sub_seed
    from genprior.data import load_dataset
    from genprior.devices import pick_device
    from genprior.evaluate.recovery import run_method
    from genprior.io import check_outputs
    from genprior.operators import Gaussian, Inpaint
    from genprior.reports import markdown_table, save_image_grid, write_report

    device = pick_device(args.device)
    out = check_outputs({"--out": args.out}, contents={"--out": ("demo.json", "demo.md")})["--out"]
    generator = zoo.load("mnist-vae").to(device)
    images = load_dataset("mnist-bundled", "test").images[: args.n_images]
    shape = tuple(images.shape[1:])
    setups = [("compressed sensing", Gaussian(m=m, shape=shape, noise_std=0.1, seed=args.seed)) for m in (25, 100, 400)]
    setups.append(("inpaint, 20% of pixels kept", Inpaint(shape=shape, keep=0.2, noise_std=0.1, seed=args.seed)))
    setups.append(("inpaint, 12x12 block missing", Inpaint(shape=shape, block=12, noise_std=0.1, seed=args.seed)))
    methods = ("csgm", "lasso-pixel", "lasso-dct", "lasso-wavelet")
    rows = []
    for label, op in tqdm(setups, desc="demo"):
        y = op.measure(images, seed=sub_seed(args.seed, 1))  # on the CPU: the same measurements on every device
        grid = {"truth": images, "measured": op.as_image(y)}
        op.to(device)
        y = y.to(device)
        for method in methods:
            steps = {"steps": args.steps} if method == "csgm" else {}
            res = run_method(method, images, op, y, generator=generator, seed=sub_seed(args.seed, 2), **steps)
            grid[method] = res.x
            rows.append({"setup": label, "m": op.output_size, "method": method, **res.metrics, "seconds": res.seconds})
        stem = "cs" if label.startswith("compressed") else "inpaint"
        save_image_grid(out / f"{stem}-{op.output_size}.png", grid, title=f"{label}: m={op.output_size}, sigma=0.1")
    md = ("# genprior demo\n\nBundled VAE `mnist-vae` as the prior (CSGM: Adam lr 0.01, "
          f"{args.steps} steps, 10 restarts, lambda 0) against Lasso (alpha 0.1) in three bases, on the first "
          f"{args.n_images} bundled MNIST test images; noise sigma = 0.1 (CSGM convention); device {device}.\n\n"
          + markdown_table(rows, ["setup", "m", "method", "mse_per_pixel", "mse_se", "psnr", "ssim", "seconds"]))
    write_report(out / "demo", {"n_images": args.n_images, "device": str(device), "rows": rows}, md)
    print(md)
    print(f"pictures and tables written to {out}/")
    return 0
