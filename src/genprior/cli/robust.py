"""``genprior train classifier``, ``genprior attack`` and ``genprior explain``."""

from __future__ import annotations

import argparse
from pathlib import Path

from genprior.errors import InvalidValueError

SUBSTITUTE_IMAGES = 10_000  # the transfer attack's substitute is trained on this many labelled training images
PGD_STEPS = 40  # PGD steps of --attack pgd / pgd-l2 and of the adaptive attack on none / adv-train / distill
ADV_STEPS = 7  # PGD steps per batch in adversarial training
OCCLUSION = {"size": 6, "stride": 2}  # explain --method occlusion: square side and stride


def _add_data_args(p: argparse.ArgumentParser, **options) -> None:
    from genprior.cli import add_data_args

    add_data_args(p, **options)


def cmd_train_classifier(args) -> int:
    from genprior.cli import check_at_least, load_training_data, mode_options
    from genprior.models.classifier import Classifier
    from genprior.robust import defenses
    from genprior.train.classifier import train_classifier

    check_at_least(1, epochs=args.epochs, batch_size=args.batch_size, hidden=args.hidden, adv_steps=args.adv_steps,
                   train_images=args.train_images)
    mode_options(args, {"adv_steps": ADV_STEPS}, used=args.adv_eps is not None,
                 owner="adversarial training (--adv-eps)")
    device, train, test = load_training_data(args)
    if args.train_images is not None:
        if not 0 < args.train_images <= len(train):
            raise InvalidValueError(f"--train-images must be in 1..{len(train)}")
        train = type(train)(train.name, train.split, train.images[:args.train_images], train.labels[:args.train_images])
    model = Classifier(input_shape=tuple(train.images.shape[1:]), channels=tuple(args.channels), hidden=args.hidden)
    data_info = {"dataset": args.dataset, "train_images": len(train), "test_images": len(test)}
    common = {"out_dir": args.out, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
              "seed": args.seed, "resume": args.resume, "data_info": data_info}
    if args.adv_eps is not None and args.distill_temperature is not None:
        raise InvalidValueError("choose one of --adv-eps (adversarial training) and --distill-temperature")
    if args.init is not None:
        from genprior import zoo

        init, _ = zoo.resolve(args.init, family="classifier")
        theirs = {k: tuple(v.shape) for k, v in init.state_dict().items()}
        ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        if theirs != ours:
            raise InvalidValueError(f"--init {args.init} has another architecture than the classifier asked for "
                                    f"(its input {tuple(init.input_shape)}, channels {init.channels}, hidden "
                                    f"{init.hidden}; here {tuple(model.input_shape)}, {model.channels}, {model.hidden})")
        model.load_state_dict(init.state_dict())
    model.to(device)
    if args.adv_eps is not None:
        info = defenses.adversarial_training(model, train.images, train.labels, test.images, test.labels,
                                             eps=args.adv_eps, steps=args.adv_steps, **common)
    elif args.distill_temperature is not None:
        info = defenses.defensive_distillation(model, train.images, train.labels, test.images, test.labels,
                                               temperature=args.distill_temperature, **common)
    else:
        info = train_classifier(model, train.images, train.labels, test.images, test.labels, **common)
    print(f"{info['epoch']} epochs: test accuracy {info['history'][-1]['test_accuracy']:.4f}; "
          f"model written to {Path(args.out) / 'model.safetensors'}")
    return 0


def _images(args):
    from genprior.data import load_dataset, parse_indices

    data = load_dataset(args.dataset, args.split, data_dir=args.data_dir)
    sl = parse_indices(args.indices, len(data))
    return data.images[sl], data.labels[sl], sl


def cmd_attack(args) -> int:
    import torch

    from genprior.cli import check_at_least, mode_options
    from genprior.devices import pick_device
    from genprior.io import check_writable, write_json
    from genprior.robust.evaluation import build_setup, craft

    check_at_least(1, pgd_steps=args.pgd_steps, steps=args.steps, restarts=args.restarts,
                   substitute_images=args.substitute_images)
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
    for path in (args.json, args.grid):
        if path is not None:
            check_writable(path)
    torch.manual_seed(args.seed)
    if args.targeted is not None and not 0 <= args.targeted <= 9:
        raise InvalidValueError(f"--targeted must be a class index 0..9, got {args.targeted}")
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
    if args.grid is not None:
        from genprior.robust.saliency import save_adversarial_grid

        k = min(10, len(y))
        save_adversarial_grid(args.grid, setup.defended, x[:k], x_adv[:k], labels=y[:k],
                              title=f"{args.attack} eps={args.eps} vs defense {args.defense}")
    return 0


def cmd_explain(args) -> int:
    from genprior import zoo
    from genprior.cli import mode_options, png_path
    from genprior.devices import pick_device
    from genprior.io import check_writable
    from genprior.robust.saliency import occlusion, saliency, save_overlays

    device = pick_device(args.device)
    if args.method not in ("saliency", "occlusion"):
        from genprior.errors import unknown

        raise unknown("method", args.method, ("saliency", "occlusion"))
    mode_options(args, OCCLUSION, used=args.method == "occlusion", owner="--method occlusion")
    args.out = png_path(args.out)
    check_writable(args.out)
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
    print(f"{args.method} maps for {len(y)} images written to {args.out}")
    return 0


def add_parsers(sub, train_sub) -> None:
    from genprior.cli import add_device_arg, add_training_args, number_arg, seed_arg
    from genprior.robust.defenses import LOSSES

    p = sub.add_parser("attack", help="attack a (defended) classifier and report clean / adversarial accuracy")
    _add_data_args(p)
    p.add_argument("--attack", default=None,
                   help="fgsm (default), pgd, pgd-l2 or transfer (crafted on the undefended classifier)")
    p.add_argument("--adaptive", action="store_true", help="use the defense-aware attack instead (BPDA + latent for projection)")
    p.add_argument("--eps", type=number_arg(low=0), default=0.3, help="l_inf radius (l_2 radius for pgd-l2); images are in [0, 1]")
    p.add_argument("--targeted", type=int, default=None, metavar="C", help="targeted attack toward class C")
    p.add_argument("--defense", default="none", help="none, adv-train, distill or projection")
    p.add_argument("--classifier", default=None, help="zoo name or path (default depends on --defense)")
    p.add_argument("--model", default=None, help="generator for --defense projection (zoo name or path; default mnist-vae)")
    p.add_argument("--steps", type=int, default=None, help="projection: Adam steps L (default 200)")
    p.add_argument("--restarts", type=int, default=None, help="projection: random restarts R (default 10)")
    p.add_argument("--projection-loss", default=None,
                   help=f"projection loss, one of {', '.join(LOSSES)}: band-likelihood = the generator's Bernoulli "
                        "NLL of the likeliest image within tau of the input (default); "
                        "deadzone = sum max(|G(z)-x| - tau, 0)^2; l2 = Defense-GAN")
    p.add_argument("--tau", type=number_arg(low=0), default=None,
                   help="projection: band half-width = the l_inf radius defended (default 0.3)")
    p.add_argument("--preprocess", default=None, choices=["none", "binarize"],
                   help="projection: binarize the input at 0.5 before projecting (bit-depth squeezing)")
    p.add_argument("--pgd-steps", type=int, default=None,
                   help=f"PGD steps of --attack pgd / pgd-l2 and of --adaptive against none, adv-train or distill "
                        f"(default {PGD_STEPS})")
    p.add_argument("--substitute-images", type=int, default=None,
                   help=f"transfer: training images labelled by the target (default {SUBSTITUTE_IMAGES})")
    p.add_argument("--split", default="test")
    p.add_argument("--indices", default="0:100", help="A:B, images A..B-1 of the split")
    p.add_argument("--seed", type=seed_arg, default=0)
    p.add_argument("--json", default=None, help="write the result here")
    p.add_argument("--grid", default=None, help="write a PNG grid clean / perturbation x10 / adversarial here")
    add_device_arg(p)
    p.set_defaults(func=cmd_attack)

    p = sub.add_parser("explain", help="saliency or occlusion-sensitivity maps as PNG overlays")
    _add_data_args(p)
    p.add_argument("--method", default="saliency", help="saliency or occlusion")
    p.add_argument("--classifier", default="mnist-classifier", help="zoo name or path")
    p.add_argument("--split", default="test")
    p.add_argument("--indices", default="0:8")
    p.add_argument("--size", type=int, default=None, help=f"occlusion square side (default {OCCLUSION['size']})")
    p.add_argument("--stride", type=int, default=None, help=f"occlusion stride (default {OCCLUSION['stride']})")
    p.add_argument("--out", default="explain.png", help="PNG file (a bare name gets .png)")
    add_device_arg(p)
    p.set_defaults(func=cmd_explain)


    p = train_sub.add_parser("classifier", help="a small CNN classifier (optionally adversarially trained or distilled)")
    _add_data_args(p, datasets="mnist or fashion-mnist (images of at least 16x16 pixels; their train splits)")
    p.add_argument("--out", default="runs/classifier", help="folder for state.* (resume) and model.* (final weights)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=number_arg(low=0, strict=True), default=1e-3)
    p.add_argument("--channels", type=int, nargs=2, default=[32, 64])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--train-images", type=int, default=None, help="use only the first N training images")
    p.add_argument("--init", default=None, help="start from these weights (zoo name or path), e.g. to fine-tune")
    p.add_argument("--adv-eps", type=number_arg(low=0, strict=True), default=None, help="PGD adversarial training (Madry et al. 2018) at this l_inf eps")
    p.add_argument("--adv-steps", type=int, default=None,
                   help=f"PGD steps per batch in adversarial training (default {ADV_STEPS})")
    p.add_argument("--distill-temperature", type=number_arg(low=0, strict=True), default=None,
                   help="defensive distillation (Papernot et al. 2016) at this temperature")
    add_training_args(p)
    p.set_defaults(func=cmd_train_classifier)
