"""``genprior recover`` (one task, one method, many images) and ``genprior demo`` (the bundled tour)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from genprior.errors import InvalidValueError

TUNING_IMAGES = 50  # held-out images --alpha auto tunes on


def _alpha_arg(text: str) -> float | str:
    from genprior.cli import number_arg

    if text == "auto":
        return text
    try:
        float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got {text!r}") from None
    return number_arg(low=0)(text)


def _tuning_slice(evaluated: slice, total: int, count: int = TUNING_IMAGES) -> slice:
    """Up to ``count`` images of the split that ``evaluated`` leaves out: those right after it, else right before."""
    start, stop, _ = evaluated.indices(total)
    if stop < total:
        return slice(stop, min(stop + count, total))
    if start > 0:
        return slice(max(0, start - count), start)
    raise InvalidValueError(f"--alpha auto tunes on images of the split outside --indices, and {start}:{stop} "
                            f"leaves none of its {total}")


def add_parsers(sub, train_sub) -> None:
    from genprior.cli import add_data_args, add_device_arg, number_arg, seed_arg
    from genprior.evaluate.recovery import METHODS, SCHEDULES
    from genprior.operators import TASKS

    p = sub.add_parser("recover", help="recover images from simulated measurements with a prior or a baseline")
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--m", type=int, help="measurements for --task cs, one-bit (their signs) and phase (their magnitudes)")
    p.add_argument("--keep", type=number_arg(low=0, strict=True), help="fraction of pixels kept for --task inpaint (default 0.2)")
    p.add_argument("--block", type=int, help="side of the centred missing square for --task inpaint")
    p.add_argument("--factor", type=int, help="downsampling factor for --task superres (default 4)")
    p.add_argument("--noise-std", type=number_arg(low=0), default=0.1, help="noise level sigma: sqrt(E||eta||^2) (default 0.1)")
    p.add_argument("--noise", choices=("total", "entry"), default="total",
                   help="total: sigma is the noise vector's expected norm (CSGM); entry: each entry's std")
    p.add_argument("--method", required=True, help=f"one of: {', '.join(METHODS)}")
    p.add_argument("--model", default=None,
                   help="zoo name or path to a .safetensors/.json pair (default: mnist-vae; for --method hybrid "
                        "mnist-vae-ensemble, three VAEs trained alike from different seeds)")
    p.add_argument("--lam", type=number_arg(low=0), default=None,
                   help="latent prior weight lambda in ||y-AG(z)||^2 + lambda||z||^2 (default 0)")
    p.add_argument("--restarts", type=int, default=None,
                   help="random starts (default: 10 for csgm, 40 screened to 12 for csgm-fast)")
    p.add_argument("--steps", type=int, default=None,
                   help=f"Adam steps of csgm (default {SCHEDULES['csgm']['steps']}) or dip (default {SCHEDULES['dip']['steps']})")
    p.add_argument("--lr", type=number_arg(low=0, strict=True), default=None,
                   help=f"Adam rate of csgm (default {SCHEDULES['csgm']['lr']}) or dip (default {SCHEDULES['dip']['lr']})")
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
    p.add_argument("--n-images", type=int, default=20)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--seed", type=seed_arg, default=0)
    add_device_arg(p)
    p.set_defaults(func=cmd_demo)


def _load_generator(model: str):
    from genprior import zoo
    from genprior.solvers.generator import latent_dim_of

    generator, _ = zoo.resolve(model)
    latent_dim_of(generator)
    return generator


def cmd_recover(args) -> int:
    from genprior.cli import check_outputs
    from genprior.data import load_dataset, parse_indices
    from genprior.devices import pick_device
    from genprior.errors import unknown
    from genprior.evaluate.recovery import (
        DEFAULT_ALPHA,
        LASSO_METHODS,
        LATENT_METHODS,
        METHODS,
        SCHEDULES,
        lasso_basis,
        run_method,
        schedule,
    )
    from genprior.io import write_json
    from genprior.models.ensemble import GeneratorEnsemble
    from genprior.operators import make_operator
    from genprior.reports import markdown_table, save_image_grid, write_report
    from genprior.solvers import one_bit, select_alpha

    if args.method not in METHODS:
        raise unknown("method", args.method, METHODS)
    # an option the method does not use is refused rather than ignored (its result would not be what was asked);
    # csgm-fast and hybrid run their own tested schedules
    for flag, users in (("model", LATENT_METHODS), ("lam", LATENT_METHODS), ("restarts", ("csgm", "csgm-fast")),
                        ("steps", tuple(SCHEDULES)), ("lr", tuple(SCHEDULES)), ("alpha", LASSO_METHODS)):
        if getattr(args, flag) is not None and args.method not in users:
            raise InvalidValueError(f"--{flag} is an option of {', '.join(users)}; method {args.method} does not use it")
    device = pick_device(args.device)
    check_outputs(args)
    data = load_dataset(args.dataset, args.split, data_dir=args.data_dir)
    evaluated = parse_indices(args.indices, len(data))
    images = data.images[evaluated]
    tuning = None
    if args.alpha == "auto":
        tuning = _tuning_slice(evaluated, len(data))
    if args.model is None:
        args.model = "mnist-vae-ensemble" if args.method == "hybrid" else "mnist-vae"
    generator = _load_generator(args.model) if args.method in LATENT_METHODS else None
    if isinstance(generator, GeneratorEnsemble) and args.method != "hybrid":
        raise InvalidValueError(f"model {args.model} is an ensemble of generators: only --method hybrid uses ensembles")
    if generator is not None and tuple(generator.output_shape) != tuple(images.shape[1:]):
        raise InvalidValueError(f"model {args.model} makes images of shape {tuple(generator.output_shape)}, "
                                f"data set {args.dataset} has {tuple(images.shape[1:])}")
    op = make_operator(args.task, shape=tuple(images.shape[1:]), m=args.m, keep=args.keep, block=args.block,
                       factor=args.factor, noise_std=args.noise_std, noise=args.noise, seed=args.seed)
    y = op.measure(images, seed=args.seed + 1)  # on the CPU: the same measurements on every device
    if generator is not None:
        generator.to(device)
    op.to(device)
    y = y.to(device)
    tuned = {}
    if tuning is not None:  # the same operator, its own noise draw, on images that are not evaluated
        t0 = time.perf_counter()
        args.alpha, _ = select_alpha(op, data.images[tuning].to(device), basis=lasso_basis(args.method),
                                     seed=args.seed + 3, progress=True)
        tuned = {"alpha_tuned_on": f"{args.split} {tuning.start}:{tuning.stop}",
                 "alpha_tuning_seconds": time.perf_counter() - t0}
    if args.method in LATENT_METHODS and args.lam is None:
        args.lam = 0.0
    if args.task == "one-bit" and args.method == "csgm":  # one_bit_csgm's own schedule
        vars(args).update(steps=one_bit.STEPS if args.steps is None else args.steps,
                          lr=one_bit.LR if args.lr is None else args.lr)
    elif args.method in SCHEDULES:  # the options record the steps and rate used
        vars(args).update(schedule(args.method, steps=args.steps, lr=args.lr))
    if args.method in LASSO_METHODS and args.alpha is None:  # and the Lasso weight
        args.alpha = DEFAULT_ALPHA
    res = run_method(args.method, images, op, y, generator=generator, lam=args.lam or 0.0, restarts=args.restarts,
                     steps=args.steps, lr=args.lr, alpha=args.alpha, seed=args.seed + 2, progress=True)
    result = {"task": args.task, "method": args.method, "m": op.output_size, "n": op.input_size, **res.metrics,
              "seconds": res.seconds, "seconds_per_image": res.seconds / len(images), "device": str(device),
              "model": args.model if generator is not None else None, "dataset": args.dataset, "split": args.split,
              "indices": args.indices, "noise_std": args.noise_std, "noise": args.noise, "seed": args.seed,
              "options": {"lam": args.lam, "restarts": args.restarts, "steps": args.steps, "lr": args.lr,
                          "alpha": args.alpha, **tuned, "keep": args.keep, "block": args.block, "factor": args.factor}}
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
    from genprior.data import load_dataset
    from genprior.devices import pick_device
    from genprior.evaluate.recovery import run_method
    from genprior.io import check_writable
    from genprior.operators import Gaussian, Inpaint
    from genprior.reports import markdown_table, save_image_grid, write_report

    if not (1 <= args.n_images <= 300):
        raise InvalidValueError(f"--n-images must be in 1..300, got {args.n_images}")
    if args.steps < 1:
        raise InvalidValueError(f"--steps must be >= 1, got {args.steps}")
    device = pick_device(args.device)
    out = check_writable(args.out, folder=True)
    generator = zoo.load("mnist-vae").to(device)
    images = load_dataset("mnist-bundled", "test").images[: args.n_images]
    shape = tuple(images.shape[1:])
    setups = [("compressed sensing", Gaussian(m=m, shape=shape, noise_std=0.1, seed=args.seed)) for m in (25, 100, 400)]
    setups.append(("inpaint, 20% of pixels kept", Inpaint(shape=shape, keep=0.2, noise_std=0.1, seed=args.seed)))
    setups.append(("inpaint, 12x12 block missing", Inpaint(shape=shape, block=12, noise_std=0.1, seed=args.seed)))
    methods = ("csgm", "lasso-pixel", "lasso-dct", "lasso-wavelet")
    rows = []
    for label, op in tqdm(setups, desc="demo"):
        y = op.measure(images, seed=args.seed + 1)  # on the CPU: the same measurements on every device
        grid = {"truth": images, "measured": op.as_image(y)}
        op.to(device)
        y = y.to(device)
        for method in methods:
            res = run_method(method, images, op, y, generator=generator, steps=args.steps, seed=args.seed + 2)
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
