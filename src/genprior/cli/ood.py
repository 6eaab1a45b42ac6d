"""``genprior ood``: how well a model's score tells one data set from another (out-of-distribution detection)."""

from __future__ import annotations

from genprior.errors import InvalidValueError
from genprior.progress import say

SAMPLES = 100  # importance samples of the likelihood scores
MAX_SAMPLES = 100_000  # ... at most (each image's samples are held at once)


def add_parsers(sub) -> None:
    from genprior.cli import add_data_args, add_device_arg, integer_arg, seed_arg
    from genprior.evaluate.ood import OOD_SCORES

    p = sub.add_parser("ood", help="out-of-distribution detection: AUROC and FPR at 95 %% TPR of a model's score "
                                   "between its own data set and another")
    p.add_argument("--model", required=True, help="zoo name or path: a VAE (likelihood scores; complexity-corrected "
                                                  "wants one whose likelihood is of the 8-bit image, such as "
                                                  "mnist-vae-8bit), any generator (range) or a classifier (max-softmax)")
    p.add_argument("--score", default="likelihood", help=f"one of: {', '.join(OOD_SCORES)} (default likelihood)")
    add_data_args(p)
    p.add_argument("--ood-dataset", default="fashion-mnist", help="the other data set (default fashion-mnist)")
    p.add_argument("--split", default="test", help="split of both data sets (default test)")
    p.add_argument("--indices", default="0:1000", help="A:B images of each set (default 0:1000)")
    p.add_argument("--samples", type=integer_arg(1, MAX_SAMPLES), default=None,
                   help=f"importance samples of the likelihood scores, 1..{MAX_SAMPLES} (default {SAMPLES})")
    p.add_argument("--seed", type=seed_arg, default=0,
                   help="seed of every random draw of the run (the same seed gives the same numbers)")
    p.add_argument("--out", default=None, help="folder for ood.json/.md and a PNG of the two score histograms")
    p.add_argument("--json", default=None, help="write the report JSON here")
    add_device_arg(p)
    p.set_defaults(func=cmd_ood)


def cmd_ood(args) -> int:
    from genprior import zoo
    from genprior.cli import check_report_outputs, write_outputs
    from genprior.cli.evaluate import resolve_generator
    from genprior.data import load_dataset, parse_indices
    from genprior.devices import pick_device
    from genprior.errors import unknown
    from genprior.evaluate.ood import OOD_SCORES, auroc, fpr_at_tpr, ood_scores
    from genprior.reports import markdown_table, save_score_histograms

    if args.score not in OOD_SCORES:
        raise unknown("out-of-distribution score", args.score, OOD_SCORES)
    likelihood = args.score in ("likelihood", "complexity-corrected")
    if args.samples is not None and not likelihood:
        raise InvalidValueError(f"--samples is for the likelihood scores, not {args.score}")
    if args.ood_dataset == args.dataset:
        raise InvalidValueError(f"--ood-dataset is --dataset ({args.dataset}): give another data set to tell apart")
    device = pick_device(args.device)
    check_report_outputs(args, "ood", ("ood.png",))
    if args.score == "max-softmax":
        model, _ = zoo.resolve(args.model, family="classifier")
        shape = tuple(model.input_shape)
    else:
        model = resolve_generator(args.model)
        shape = tuple(model.output_shape)
    model.to(device)
    sets = {}
    for role, name in (("in", args.dataset), ("out", args.ood_dataset)):
        data = load_dataset(name, args.split, data_dir=args.data_dir)
        images = data.images[parse_indices(args.indices, len(data))]
        if tuple(images.shape[1:]) != shape:
            raise InvalidValueError(f"model {args.model} takes images of shape {shape}, data set {name} has "
                                    f"{tuple(images.shape[1:])}")
        sets[role] = images
    options = ({"samples": args.samples or SAMPLES, "seed": args.seed} if likelihood
               else {"seed": args.seed, "progress": True} if args.score == "range" else {})
    scores = {role: ood_scores(args.score, model, images.to(device), **options) for role, images in sets.items()}
    report = {"model": args.model, "score": args.score, "dataset": args.dataset, "ood_dataset": args.ood_dataset,
              "split": args.split, "indices": args.indices, "n_in": len(sets["in"]), "n_out": len(sets["out"]),
              "auroc": auroc(scores["in"], scores["out"]), "fpr_at_95_tpr": fpr_at_tpr(scores["in"], scores["out"]),
              "mean_score_in": float(scores["in"].mean()), "mean_score_out": float(scores["out"].mean()),
              "seed": args.seed, "device": str(device), **({"samples": options["samples"]} if likelihood else {})}
    md = (f"# {args.model}: {args.dataset} against {args.ood_dataset} by its {args.score} score\n\n"
          f"{args.split} images {args.indices} of each; higher scores read as out of distribution. AUROC 1 separates "
          "them, 0.5 is chance, below 0.5 the score points the wrong way.\n\n"
          + markdown_table([report], ["score", "n_in", "n_out", "auroc", "fpr_at_95_tpr", "mean_score_in",
                                      "mean_score_out"]))
    out = write_outputs(args, "ood", report, md)
    if out is not None:
        save_score_histograms(out / "ood.png", {f"{args.score} (AUROC {report['auroc']:.3f})":
                                                (scores["in"], scores["out"])},
                              labels=(args.dataset, args.ood_dataset), title=args.model)
        say(f"report and histogram written to {out}/")
    return 0
