"""``genprior edit``: guided recovery, "approximate x, but amplify a detector" (:func:`genprior.solvers.guided`)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from genprior.errors import InvalidValueError


def add_parsers(sub) -> None:
    """Add ``edit`` to ``sub``."""
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
    from genprior.operators import TASKS
    from genprior.solvers.guided import SCHEDULE

    p = sub.add_parser("edit", help="recover images from measurements on a generator's range while moving them "
                                    "toward a class of a classifier (guided recovery)")
    p.add_argument("--target", type=integer_arg(0, MAX_WIDTH), required=True, metavar="C",
                   help="the class to move the images toward (0 .. the classifier's classes - 1)")
    p.add_argument("--weight", type=number_arg(low=0, high=MAX_WEIGHT), default=SCHEDULE["weight"],
                   help="beta in ||y - A G(z)||^2 + lam ||z||^2 - beta log p(C | G(z)); 0 is plain CSGM "
                        f"(default {SCHEDULE['weight']:g})")
    p.add_argument("--task", choices=[t for t in TASKS if t != "one-bit"], default="denoise",
                   help="the measurement y = A(x) + noise of the input images (default denoise: y = x + noise)")
    p.add_argument("--m", type=integer_arg(1, MAX_COUNT), help="measurements for --task cs and phase")
    p.add_argument("--keep", type=number_arg(low=0, high=1, strict=True), help="fraction of pixels kept for --task inpaint (default 0.2)")
    p.add_argument("--block", type=integer_arg(1, MAX_WIDTH), help="side of the centred missing square for --task inpaint")
    p.add_argument("--factor", type=integer_arg(1, MAX_WIDTH), help="downsampling factor for --task superres (default 4)")
    p.add_argument("--noise-std", type=number_arg(low=0, high=MAX_NOISE), default=0.1,
                   help="noise level sigma: sqrt(E||eta||^2) (default 0.1)")
    p.add_argument("--noise", choices=("total", "entry"), default="total",
                   help="total: sigma is the noise vector's expected norm (CSGM); entry: each entry's std")
    p.add_argument("--model", default="mnist-vae", help="the generator: zoo name or path (default mnist-vae)")
    p.add_argument("--classifier", default="mnist-classifier",
                   help="the classifier whose class C is amplified: zoo name or path (default mnist-classifier)")
    p.add_argument("--judge", default=None,
                   help="a second, independently trained classifier that reads the edits too (zoo name or path, "
                        "e.g. mnist-classifier-seed1): does the edit look like class C to a model it was not made for?")
    p.add_argument("--lam", type=number_arg(low=0, high=MAX_WEIGHT), default=0.0,
                   help="latent prior weight lambda (default 0)")
    p.add_argument("--restarts", type=integer_arg(1, MAX_RESTARTS), default=SCHEDULE["restarts"],
                   help=f"random starts (default {SCHEDULE['restarts']})")
    p.add_argument("--steps", type=integer_arg(1, MAX_STEPS), default=SCHEDULE["steps"],
                   help=f"Adam steps (default {SCHEDULE['steps']})")
    p.add_argument("--lr", type=number_arg(low=0, high=MAX_LR, strict=True), default=SCHEDULE["lr"],
                   help=f"Adam rate (default {SCHEDULE['lr']:g})")
    add_data_args(p, default_dataset="mnist-bundled")
    p.add_argument("--split", default="test", help="the data set's split: test or train")
    p.add_argument("--indices", default="0:8", help="A:B images of the split (default 0:8)")
    p.add_argument("--seed", type=seed_arg, default=0, help="seeds the operator, the noise and the restarts")
    p.add_argument("--out", default=None, help="folder for edit.png (input / measured / edited) and edit.{json,md}")
    p.add_argument("--json", default=None, help="write the result JSON here")
    add_device_arg(p)
    p.set_defaults(func=cmd_edit)


def _load_classifier(name: str, option: str, shape: tuple[int, ...]):
    from genprior import zoo

    model, _ = zoo.resolve(name, family="classifier")
    if tuple(model.input_shape) != shape:
        raise InvalidValueError(f"{option} {name} takes images of shape {tuple(model.input_shape)}, the data set has {shape}")
    return model


def cmd_edit(args) -> int:
    import torch

    from genprior import zoo
    from genprior.cli import check_report_outputs, sub_seed, write_outputs
    from genprior.data import load_dataset, parse_indices
    from genprior.devices import pick_device
    from genprior.models.generator import latent_dim_of
    from genprior.operators import make_operator
    from genprior.reports import markdown_table, save_image_grid
    from genprior.solvers.guided import guided

    device = pick_device(args.device)
    check_report_outputs(args, "edit", ("edit.png",))
    data = load_dataset(args.dataset, args.split, data_dir=args.data_dir)
    evaluated = parse_indices(args.indices, len(data))
    images, labels = data.images[evaluated], data.labels[evaluated]
    shape = tuple(images.shape[1:])
    generator, _ = zoo.resolve(args.model)
    latent_dim_of(generator)
    if tuple(getattr(generator, "output_shape", shape)) != shape:
        raise InvalidValueError(f"model {args.model} makes images of shape {tuple(generator.output_shape)}, "
                                f"data set {args.dataset} has {shape}")
    classifier = _load_classifier(args.classifier, "--classifier", shape).to(device)
    judge = None if args.judge is None else _load_classifier(args.judge, "--judge", shape).to(device)
    op = make_operator(args.task, shape=shape, m=args.m, keep=args.keep, block=args.block, factor=args.factor,
                       noise_std=args.noise_std, noise=args.noise, seed=args.seed)
    y = op.measure(images, seed=sub_seed(args.seed, 1))  # on the CPU: the same measurements on every device
    generator.to(device)
    op.to(device)
    images, y = images.to(device), y.to(device)
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # every restart of an image diverged: a failed run, not an edit
        warnings.filterwarnings("error", message="every restart diverged", category=RuntimeWarning)
        try:
            res = guided(generator, op, y, classifier, args.target, weight=args.weight, lam=args.lam,
                         steps=args.steps, lr=args.lr, restarts=args.restarts, seed=sub_seed(args.seed, 2),
                         progress=True)
        except RuntimeWarning as e:
            raise InvalidValueError(f"edit: {str(e).replace('lower lr', 'lower --lr')}; no result written") from None
    seconds = time.perf_counter() - t0
    if not bool(torch.isfinite(res.x).all()):
        raise InvalidValueError("edit diverged: the edits hold NaN or infinite values (a lower --lr may help); "
                                "no result written")
    with torch.no_grad():
        before = classifier(images).softmax(1)
        after = classifier(res.x).softmax(1)
        judged = None if judge is None else judge(res.x).softmax(1)
    diff = (res.x - images).flatten(1)
    rows = []
    for i in range(len(images)):
        row = {"index": evaluated.start + i, "label": int(labels[i]),
               "p_target_before": before[i, args.target].item(), "p_target_after": after[i, args.target].item(),
               "predicted_after": int(after[i].argmax()),
               **({} if judged is None else {"judge_p_target": judged[i, args.target].item(),
                                             "judge_predicted": int(judged[i].argmax())}),
               "mse_per_pixel": diff[i].pow(2).mean().item(), "l2": diff[i].norm().item(),
               "measurement_loss": res.measurement_loss[i].item(), "objective": res.objective[i].item()}
        rows.append(row)
    n = len(rows)
    summary = {"n_images": n, "p_target_before": sum(r["p_target_before"] for r in rows) / n,
               "p_target_after": sum(r["p_target_after"] for r in rows) / n,
               "read_as_target": sum(r["predicted_after"] == args.target for r in rows) / n,
               **({} if judged is None else {"judge_read_as_target": sum(r["judge_predicted"] == args.target
                                                                         for r in rows) / n}),
               "mse_per_pixel": sum(r["mse_per_pixel"] for r in rows) / n, "l2": sum(r["l2"] for r in rows) / n}
    report = {"task": args.task, "m": op.output_size, "n": op.input_size, "target": args.target, "weight": args.weight,
              "lam": args.lam, "restarts": args.restarts, "steps": args.steps, "lr": args.lr, "model": args.model,
              "classifier": args.classifier, "judge": args.judge, "dataset": args.dataset, "split": args.split,
              "indices": args.indices, "noise_std": args.noise_std, "noise": args.noise, "seed": args.seed,
              "device": str(device), "seconds": seconds, "summary": summary, "images": rows}
    judge_text = "" if judge is None else (f"; the judge {args.judge} reads {summary['judge_read_as_target']:.0%} "
                                           f"as {args.target}")
    markdown = (f"# genprior edit: toward class {args.target}, beta = {args.weight:g}\n\n"
                f"Task {args.task} (m = {op.output_size}, sigma = {args.noise_std:g}), generator {args.model}, "
                f"classifier {args.classifier}; {n} images of {args.dataset} {args.split} {args.indices}. "
                f"Mean p({args.target}) {summary['p_target_before']:.3f} -> {summary['p_target_after']:.3f}; "
                f"{summary['read_as_target']:.0%} read as {args.target}{judge_text}; distance to the input "
                f"{summary['mse_per_pixel']:.4f} per pixel (MSE), {summary['l2']:.2f} (L2).\n\n"
                + markdown_table(rows, list(rows[0])))
    if args.out is not None:
        save_image_grid(Path(args.out) / "edit.png",
                        {"input": images, "measured": op.as_image(y), f"edited (beta {args.weight:g})": res.x},
                        title=f"{args.task}: toward class {args.target}, beta = {args.weight:g}")
    write_outputs(args, "edit", report, markdown)
    return 0
