"""``genprior evaluate`` (judge a generator) and ``genprior invert`` (find the latents of real images)."""

from __future__ import annotations

import json
import time

from genprior.errors import InvalidValueError
from genprior.progress import say

SAMPLES = 5000  # samples the Fréchet distance and the classifier score read (fewer when the data set is smaller)


def add_parsers(sub) -> None:
    from genprior.cli import (
        MAX_COUNT,
        MAX_RESTARTS,
        MAX_STEPS,
        add_data_args,
        add_device_arg,
        integer_arg,
        seed_arg,
    )
    from genprior.evaluate.reconstruction import INVERSION_METHODS

    p = sub.add_parser("evaluate", help="judge a generator: Fréchet distance and classifier score of its samples, "
                                        "closest reconstructions of real images, copying of training images")
    p.add_argument("--model", required=True, help="zoo name or path to a .safetensors/.json pair")
    p.add_argument("--classifier", default="mnist-classifier", help="whose features and labels read the images "
                                                                    "(default mnist-classifier)")
    add_data_args(p)
    p.add_argument("--samples", type=integer_arg(2, MAX_COUNT), default=None,
                   help=f"samples scored, >= 2 (default {SAMPLES}, or all held-out images when there are fewer)")
    p.add_argument("--invert", type=integer_arg(1, MAX_COUNT), default=100, help="held-out images inverted (default 100)")
    p.add_argument("--method", default="csgm-fast", help="inversion method: csgm-fast (default) or csgm")
    p.add_argument("--seed", type=seed_arg, default=0,
                   help="seed of every random draw of the run (the same seed gives the same numbers)")
    p.add_argument("--out", default=None, help="folder for the report (JSON/Markdown) and PNG grids")
    p.add_argument("--json", default=None, help="write the report JSON here")
    add_device_arg(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("invert", help="the latents z whose G(z) are closest to real images")
    p.add_argument("--model", required=True, help="zoo name or path to a .safetensors/.json pair")
    p.add_argument("--method", default="csgm-fast", help=f"one of: {', '.join(INVERSION_METHODS)} (default csgm-fast; "
                                                         "lp only for ReLU MLP generators)")
    p.add_argument("--restarts", type=integer_arg(1, MAX_RESTARTS), default=None,
                   help="random starts of csgm (10) and csgm-fast (40)")
    p.add_argument("--steps", type=integer_arg(1, MAX_STEPS), default=None, help="Adam steps of csgm (default 1000)")
    add_data_args(p)
    p.add_argument("--split", default="test", help="the data set's split: test or train")
    p.add_argument("--indices", default="0:10", help="A:B images of the split (default 0:10)")
    p.add_argument("--seed", type=seed_arg, default=0,
                   help="seed of every random draw of the run (the same seed gives the same numbers)")
    p.add_argument("--out", required=True, help="folder for latents.safetensors (z and G(z)), a PNG grid and a report")
    add_device_arg(p)
    p.set_defaults(func=cmd_invert)


def resolve_generator(name: str):
    """A zoo or saved generator as an ordinary ``z -> x`` module (a conditional one as the union of its classes)."""
    from genprior import zoo
    from genprior.evaluate.judge import is_diffusion
    from genprior.models.conditional import ClassUnionGenerator, ConditionalGenerator
    from genprior.models.ensemble import GeneratorEnsemble
    from genprior.models.generator import latent_dim_of

    generator, _ = zoo.resolve(name)
    if isinstance(generator, GeneratorEnsemble):
        raise InvalidValueError(f"model {name} is an ensemble of generators: evaluate or invert one member")
    if isinstance(generator, ConditionalGenerator):
        generator = ClassUnionGenerator(generator)
    if is_diffusion(generator):  # judged by its samples (it has no z to invert)
        return generator
    latent_dim_of(generator)
    if not hasattr(generator, "output_shape"):
        raise InvalidValueError(f"model {name} has no output_shape: it is not a generator")
    return generator


def _check_shape(generator, name: str, images, dataset: str) -> None:
    if tuple(generator.output_shape) != tuple(images.shape[1:]):
        raise InvalidValueError(f"model {name} makes images of shape {tuple(generator.output_shape)}, data set "
                                f"{dataset} has {tuple(images.shape[1:])}")


def cmd_evaluate(args) -> int:
    from genprior import zoo
    from genprior.cli import check_report_outputs, write_outputs
    from genprior.data import load_dataset
    from genprior.devices import pick_device
    from genprior.evaluate.judge import judge_generator
    from genprior.plotting import save_tiled
    from genprior.reports import markdown_table, save_image_grid

    if args.method not in ("csgm-fast", "csgm"):
        raise InvalidValueError(f"--method must be csgm-fast or csgm, got {args.method!r}")
    device = pick_device(args.device)
    check_report_outputs(args, "evaluation", ("samples.png", "reconstruction.png", "nearest-train.png"))
    generator = resolve_generator(args.model).to(device)
    classifier, _ = zoo.resolve(args.classifier, family="classifier")
    classifier.to(device)
    test = load_dataset(args.dataset, "test", data_dir=args.data_dir)
    _check_shape(generator, args.model, test.images, args.dataset)
    if tuple(classifier.input_shape) != tuple(test.images.shape[1:]):
        raise InvalidValueError(f"classifier {args.classifier} reads images of shape {tuple(classifier.input_shape)}, "
                                f"data set {args.dataset} has {tuple(test.images.shape[1:])}")
    train = None  # the bundled set is test images only: no copying check there, as the report says
    if args.dataset != "mnist-bundled":
        train = load_dataset(args.dataset, "train", data_dir=args.data_dir).images
    n = args.samples if args.samples is not None else min(SAMPLES, len(test))
    if n > len(test):
        raise InvalidValueError(f"--samples {n} is more than the {len(test)} held-out images of {args.dataset}")
    if args.invert > len(test):
        raise InvalidValueError(f"--invert {args.invert} is more than the {len(test)} held-out images of {args.dataset}")
    j = judge_generator(generator, classifier, test.images, train=train, n_samples=n, n_inverted=args.invert,
                        method=args.method, seed=args.seed, progress=True)
    report = {"model": args.model, "classifier": args.classifier, "dataset": args.dataset, "device": str(device),
              "seed": args.seed, **j.scores}
    rows = _rows(report)
    md = (f"# {args.model}, judged on {args.dataset}\n\n"
          f"Features and labels read by `{args.classifier}`; {n} samples and test images (Fréchet distances at "
          f"{j.scores['frechet_sizes']}); "
          + (f"{args.invert} test images inverted with {args.method}" if j.scores["reconstruction"] is not None
             else "samples by DDIM (50 steps); nothing inverted") + ".\n\n" + markdown_table(rows, ["score", "model", "real"]))
    out = write_outputs(args, "evaluation", report, md)
    if out is not None:
        save_tiled(out / "samples.png", j.samples[:64], nrow=8)
        if j.scores["reconstruction"] is not None:
            save_image_grid(out / "reconstruction.png", {"real": j.inverted, "closest G(z)": j.reconstructions},
                            title=f"{args.model}: closest reconstructions ({args.method})")
        if j.nearest_train is not None:
            save_image_grid(out / "nearest-train.png", {"sample": j.samples[:10], "nearest train": j.nearest_train},
                            title=f"{args.model}: samples and their nearest training images")
        say(f"report and pictures written to {out}/")
    return 0


def _rows(report: dict) -> list[dict]:
    """The report as score / model / real rows (real: the same score of real images in the same sizes)."""
    real, rec, mem = report["real"], report["reconstruction"], report["memorization"]
    rows = [{"score": "Fréchet distance (lower is better)", "model": report["frechet_distance"],
             "real": f"{real['frechet_distance']:.4g} ({real['between']})"}]
    for key, label in (("classifier_score", "classifier score (1..10)"), ("mean_confidence", "mean confidence"),
                       ("classes_seen", "classes seen"), ("class_kl_to_uniform", "class KL to uniform")):
        rows.append({"score": label, "model": report[key], "real": real[key]})
    if rec is None:
        rows.append({"score": "closest reconstruction", "model": "n/a (a diffusion model has no latent to invert)",
                     "real": 0})
    else:
        rows.append({"score": f"closest reconstruction, error per pixel ({rec['n_images']} images)",
                     "model": f"{rec['mse_per_pixel']:.4g} ± {1.96 * rec['mse_se']:.2g}", "real": 0})
    if mem is None:
        rows.append({"score": "copying: nearest-train distance, samples / held-out", "model": "no train split",
                     "real": "-"})
    else:
        rows.append({"score": "copying: median nearest-train distance per pixel", "model": mem["samples_median"],
                     "real": mem["held_out_median"]})
        rows.append({"score": "copying: share of samples nearer than 1 % of real images", "model": mem["near_copy_share"],
                     "real": 0.01})
    return rows


def cmd_invert(args) -> int:
    from genprior.data import load_dataset, parse_indices
    from genprior.devices import pick_device
    from genprior.errors import unknown
    from genprior.evaluate.metrics import summarize
    from genprior.evaluate.reconstruction import INVERSION_METHODS, invert
    from genprior.io import check_writable, save_tensors
    from genprior.reports import markdown_table, save_image_grid, write_report
    from genprior.solvers.lp import CERTIFY_TOL

    if args.method not in INVERSION_METHODS:
        raise unknown("inversion method", args.method, INVERSION_METHODS)
    device = pick_device(args.device)
    out = check_writable(args.out, folder=True)
    generator = resolve_generator(args.model).to(device)
    data = load_dataset(args.dataset, args.split, data_dir=args.data_dir)
    sl = parse_indices(args.indices, len(data))
    images = data.images[sl]
    _check_shape(generator, args.model, images, args.dataset)
    t0 = time.perf_counter()
    res = invert(generator, images.to(device), method=args.method, restarts=args.restarts, steps=args.steps,
                 seed=args.seed, progress=True)
    seconds = time.perf_counter() - t0
    z, x = res.z.detach().cpu().float(), res.x.detach().cpu().float().clamp(0, 1)
    result = {"model": args.model, "method": args.method, "dataset": args.dataset, "split": args.split,
              "indices": args.indices, **summarize(x, images), "seconds": seconds, "device": str(device),
              "seed": args.seed, "latent_dim": z.shape[1]}
    shown = ["model", "method", "n_images", "mse_per_pixel", "psnr", "seconds"]
    if res.certified is not None:  # the LP's certificate: G(z) reproduces the image, and z is the only such latent
        result |= {"certified": int(res.certified.sum()), "certified_unique": int((res.certified & res.unique).sum()),
                   "certificate": f"max |G(z) - x| <= {CERTIFY_TOL:g} max |x| with every LP solved; unique: "
                                  "every layer's active units pin its input"}
        shown[3:3] = ["certified", "certified_unique"]
    save_tensors(out / "latents.safetensors", {"z": z.contiguous(), "x": x.contiguous()},
                 metadata={"model": args.model, "method": args.method, "indices": args.indices})
    save_image_grid(out / "inversion.png", {"real": images, "G(z)": x}, title=f"{args.model}: inverted with {args.method}")
    md = markdown_table([result], [*shown[:-2], "mse_se", "psnr", "ssim", "seconds"])
    write_report(out / "inversion", result, md)
    print(json.dumps({k: result[k] for k in shown}))
    return 0
