"""``genprior attack`` and ``genprior explain`` (``genprior train classifier`` is in ``cli/train.py``)."""

from __future__ import annotations

import argparse

from genprior.errors import InvalidValueError
from genprior.progress import say

SUBSTITUTE_IMAGES = 10_000  # the transfer attack's substitute is trained on this many labelled training images
PGD_STEPS = 40  # PGD steps of --attack pgd / pgd-l2 and of the adaptive attack on none / adv-train / distill
OCCLUSION = {"size": 6, "stride": 2}  # explain --method occlusion: square side and stride
MAX_EPS = 1000.0  # attack radii: an l_inf radius of 1 and an l_2 radius of sqrt(pixels) already reach every image


def _add_data_args(p: argparse.ArgumentParser, **options) -> None:
    from genprior.cli import add_data_args

    add_data_args(p, **options)


def _images(args):
    from genprior.data import load_dataset, parse_indices

    data = load_dataset(args.dataset, args.split, data_dir=args.data_dir)
    sl = parse_indices(args.indices, len(data))
    return data.images[sl], data.labels[sl], sl


def cmd_attack(args) -> int:
    import torch

    from genprior.cli import mode_options, png_path
    from genprior.devices import pick_device
    from genprior.io import check_outputs, write_json
    from genprior.robust.evaluation import build_setup, craft

    # options of one defense or attack are refused with another rather than ignored; unset, they take
    # build_setup's defaults
    projection = {"generator": args.model, "steps": args.steps, "restarts": args.restarts, "loss": args.projection_loss,
                  "tau": args.tau, "preprocess": args.preprocess}
    flags = {"generator": "model", "loss": "projection-loss"}
    given = [f"--{flags.get(k, k)}" for k, v in projection.items() if v is not None]
    if given and args.defense != "projection":
        raise InvalidValueError(f"{given[0]} is an option of --defense projection, not of {args.defense}")
    if args.adaptive and args.attack is not None:
        raise InvalidValueError("--adaptive is the defense-aware attack; it takes no --attack")
    if args.substitute_images is not None and args.attack != "transfer":
        raise InvalidValueError("--substitute-images is an option of --attack transfer")
    mode_options(args, {"pgd_steps": PGD_STEPS},
                 used=args.defense != "projection" if args.adaptive else args.attack in ("pgd", "pgd-l2"),
                 owner="--attack pgd and pgd-l2, and of --adaptive against --defense none, adv-train or distill "
                       "(the projection's adaptive attack is BPDA)")
    args.attack = args.attack or "fgsm"
    args.substitute_images = args.substitute_images or SUBSTITUTE_IMAGES
    device = pick_device(args.device)
    grid = None if args.grid is None else png_path(args.grid, option="--grid", bare=False)
    check_outputs({"--json": args.json, "--grid": grid})
    torch.manual_seed(args.seed)
    x, y, sl = _images(args)
    x, y = x.to(device), y.to(device)
    projection["preprocess"] = None if args.preprocess == "none" else args.preprocess
    setup = build_setup(args.defense, classifier=args.classifier, pgd_steps=args.pgd_steps, seed=args.seed, device=device,
                        progress=True,
                        **{k: v for k, v in projection.items() if v is not None})
    if args.adaptive:
        if args.targeted is not None:
            raise InvalidValueError("--adaptive attacks are untargeted")
        x_adv = setup.adaptive(x, y, args.eps)
    else:
        sub_images = None
        if args.attack == "transfer":
            from genprior.data import load_dataset

            sub_images = load_dataset(args.dataset, "train", data_dir=args.data_dir).images[:args.substitute_images]
            sub_images = sub_images.to(device)
        x_adv = craft(args.attack, setup.undefended, x, y, eps=args.eps, targeted=args.targeted, steps=args.pgd_steps,
                      seed=args.seed, substitute_images=sub_images, progress=True)
    with torch.no_grad():
        clean_pred = setup.defended(x).argmax(1)
        adv_pred = setup.defended(x_adv).argmax(1)
    result = {"attack": args.attack, "adaptive": args.adaptive, "eps": args.eps, "targeted": args.targeted,
              **setup.info, "dataset": args.dataset, "split": args.split, "indices": [sl.start, sl.stop],
              "n_images": len(y), "clean_accuracy": (clean_pred == y).float().mean().item(),
              "adversarial_accuracy": (adv_pred == y).float().mean().item(),
              "linf_max": (x_adv - x).abs().max().item(), "device": str(device)}
    if args.targeted is not None:
        result["target_success_rate"] = (adv_pred == args.targeted).float().mean().item()
    print(f"{args.defense} vs {'adaptive' if args.adaptive else args.attack} eps={args.eps} on {len(y)} images: "
          f"clean accuracy {result['clean_accuracy']:.3f}, adversarial accuracy {result['adversarial_accuracy']:.3f}")
    if args.targeted is not None:
        print(f"targeted toward class {args.targeted}: success rate {result['target_success_rate']:.3f}")
    if args.json is not None:
        write_json(args.json, result)
    if grid is not None:
        from genprior.robust.saliency import save_adversarial_grid

        k = min(10, len(y))
        save_adversarial_grid(grid, setup.defended, x[:k], x_adv[:k], labels=y[:k],
                              title=f"{args.attack} eps={args.eps} vs defense {args.defense}")
    return 0


def cmd_explain(args) -> int:
    from genprior import zoo
    from genprior.cli import mode_options, png_path
    from genprior.devices import pick_device
    from genprior.io import check_outputs
    from genprior.robust.saliency import occlusion, saliency, save_overlays

    device = pick_device(args.device)
    if args.method not in ("saliency", "occlusion"):
        from genprior.errors import unknown

        raise unknown("method", args.method, ("saliency", "occlusion"))
    mode_options(args, OCCLUSION, used=args.method == "occlusion", owner="--method occlusion")
    args.out = png_path(args.out)
    check_outputs({"--out": args.out})
    x, y, _ = _images(args)
    if len(y) > 20:
        raise InvalidValueError("explain draws at most 20 images; narrow --indices")
    model, _ = zoo.resolve(args.classifier, family="classifier")
    model, x = model.to(device), x.to(device)
    if args.method == "saliency":
        maps = saliency(model, x)
    else:
        maps = occlusion(model, x, size=args.size, stride=args.stride, progress=True)
    import torch

    with torch.no_grad():
        pred = model(x).argmax(1)
    save_overlays(args.out, x, maps, titles=[f"label {int(a)} pred {int(b)}" for a, b in zip(y, pred)])
    say(f"{args.method} maps for {len(y)} images written to {args.out}")
    return 0


def add_parsers(sub) -> None:
    """Add ``attack`` and ``explain`` to ``sub``."""
    from genprior.cli import (
        MAX_COUNT,
        MAX_RESTARTS,
        MAX_STEPS,
        MAX_WIDTH,
        add_device_arg,
        integer_arg,
        number_arg,
        seed_arg,
    )
    from genprior.robust.defenses import LOSSES

    p = sub.add_parser("attack", help="attack a (defended) classifier and report clean / adversarial accuracy")
    _add_data_args(p)
    p.add_argument("--attack", default=None,
                   help="fgsm (default), pgd, pgd-l2 or transfer (crafted on the undefended classifier)")
    p.add_argument("--adaptive", action="store_true", help="use the defense-aware attack instead (BPDA + latent for projection)")
    p.add_argument("--eps", type=number_arg(low=0, high=MAX_EPS), default=0.3,
                   help=f"l_inf radius (l_2 radius for pgd-l2), up to {MAX_EPS:g}; images are in [0, 1]")
    p.add_argument("--targeted", type=integer_arg(0, 9), default=None, metavar="C",
                   help="targeted attack toward class C (0..9)")
    p.add_argument("--defense", default="none", help="none, adv-train, distill or projection")
    p.add_argument("--classifier", default=None, help="zoo name or path (default depends on --defense)")
    p.add_argument("--model", default=None, help="generator for --defense projection (zoo name or path; default mnist-vae)")
    p.add_argument("--steps", type=integer_arg(1, MAX_STEPS), default=None,
                   help="projection: Adam steps L (default 200)")
    p.add_argument("--restarts", type=integer_arg(1, MAX_RESTARTS), default=None,
                   help="projection: random restarts R (default 10)")
    p.add_argument("--projection-loss", default=None,
                   help=f"projection loss, one of {', '.join(LOSSES)}: band-likelihood = the generator's Bernoulli "
                        "NLL of the likeliest image within tau of the input (default); "
                        "deadzone = sum max(|G(z)-x| - tau, 0)^2; l2 = Defense-GAN")
    p.add_argument("--tau", type=number_arg(low=0, high=1), default=None,
                   help="projection: band half-width = the l_inf radius defended, in [0, 1] (default 0.3)")
    p.add_argument("--preprocess", default=None, choices=["none", "binarize"],
                   help="projection: binarize the input at 0.5 before projecting (bit-depth squeezing)")
    p.add_argument("--pgd-steps", type=integer_arg(1, MAX_STEPS), default=None,
                   help=f"PGD steps of --attack pgd / pgd-l2 and of --adaptive against none, adv-train or distill "
                        f"(default {PGD_STEPS})")
    p.add_argument("--substitute-images", type=integer_arg(1, MAX_COUNT), default=None,
                   help=f"transfer: training images labelled by the target (default {SUBSTITUTE_IMAGES})")
    p.add_argument("--split", default="test", help="the data set's split: test or train")
    p.add_argument("--indices", default="0:100", help="A:B, images A..B-1 of the split")
    p.add_argument("--seed", type=seed_arg, default=0,
                   help="seed of every random draw of the run (the same seed gives the same numbers)")
    p.add_argument("--json", default=None, help="write the result here")
    p.add_argument("--grid", default=None,
                   help="write a PNG grid clean / perturbation x10 / adversarial here (a name ending in .png)")
    add_device_arg(p)
    p.set_defaults(func=cmd_attack)

    p = sub.add_parser("explain", help="saliency or occlusion-sensitivity maps as PNG overlays")
    _add_data_args(p)
    p.add_argument("--method", default="saliency", help="saliency or occlusion")
    p.add_argument("--classifier", default="mnist-classifier", help="zoo name or path")
    p.add_argument("--split", default="test", help="the data set's split: test or train")
    p.add_argument("--indices", default="0:8", help="A:B, images A..B-1 of the split")
    p.add_argument("--size", type=integer_arg(1, MAX_WIDTH), default=None,
                   help=f"occlusion square side (default {OCCLUSION['size']})")
    p.add_argument("--stride", type=integer_arg(1, MAX_WIDTH), default=None,
                   help=f"occlusion stride (default {OCCLUSION['stride']})")
    p.add_argument("--out", default="explain.png", help="PNG file (a bare name gets .png)")
    add_device_arg(p)
    p.set_defaults(func=cmd_explain)

