"""``genprior train began``: a BEGAN (Berthelot, Schumm & Metz 2017) on an image data set."""

from __future__ import annotations

from pathlib import Path

from genprior.errors import InvalidValueError, unknown

ARCHS = {"paper": "the paper's decoder as G, its encoder-decoder as D (3x3 conv pairs, ELU)",
         "bottleneck": "DCGAN generator as G, a light autoencoder with a batch-normalised bottleneck as D"}
DEFAULTS = {"paper": {"hidden_dim": 64, "channels": 32}, "bottleneck": {"hidden_dim": 32, "channels": 64}}


def add_parsers(sub, train_sub) -> None:
    """Add ``train began`` to ``train_sub``."""
    from genprior.cli import (
        TRAINING_DATASETS,
        add_data_args,
        add_training_args,
        number_arg,
    )

    p = train_sub.add_parser("began", help="a BEGAN (boundary equilibrium GAN: autoencoder discriminator)")
    add_data_args(p, datasets=TRAINING_DATASETS)
    p.add_argument("--out", default="runs/began", help="folder for state.* (resume), generator.* and sample grids")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--gamma", type=number_arg(low=0, strict=True), default=0.5, help="diversity ratio E L(G(z)) / E L(x), in (0, 1]")
    p.add_argument("--lambda-k", type=number_arg(low=0), default=0.001, help="learning rate of the k_t controller")
    p.add_argument("--arch", default="paper", help="networks: " + "; ".join(f"{k}: {v}" for k, v in ARCHS.items()))
    p.add_argument("--latent-dim", type=int, default=64, help="generator input size (z)")
    p.add_argument("--hidden-dim", type=int, default=None,
                   help="size of the discriminator's autoencoder code (h); default 64 (paper), 32 (bottleneck)")
    p.add_argument("--channels", type=int, default=None,
                   help="convolution channels n; default 32 (paper: encoder grows n, 2n, 3n, ...), "
                        "64 (bottleneck: D's width and the DCGAN generator's base width)")
    p.add_argument("--lr", type=number_arg(low=0, strict=True), default=1e-4, help="Adam learning rate of both players")
    p.add_argument("--beta1", type=number_arg(low=0), default=0.5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    add_training_args(p, samples=True)
    p.set_defaults(func=cmd_train_began)


def cmd_train_began(args) -> int:
    from genprior.cli import check_at_least, load_training_data
    from genprior.models.began import (
        BEGANBottleneckDiscriminator,
        BEGANDiscriminator,
        BEGANGenerator,
    )
    from genprior.models.dcgan import DCGANGenerator
    from genprior.train.began import train_began

    if args.arch not in ARCHS:
        raise unknown("BEGAN architecture", args.arch, ARCHS)
    for name, v in DEFAULTS[args.arch].items():
        if getattr(args, name) is None:
            setattr(args, name, v)
    check_at_least(1, **{name: getattr(args, name) for name in ("epochs", "latent_dim", "hidden_dim", "channels",
                                                                 "batch_size", "limit")})
    if not args.gamma <= 1.0:  # the types of --gamma, --lr, --lambda-k and --beta1 refuse NaN, inf and values below 0
        raise InvalidValueError(f"--gamma must be in (0, 1], got {args.gamma}")
    if not args.beta1 < 1:
        raise InvalidValueError(f"--beta1 must be < 1, got {args.beta1}")
    check_at_least(0, samples_every=args.samples_every)
    device, ds, _ = load_training_data(args)
    data = ds.images[: args.limit] if args.limit else ds.images
    shape = tuple(data.shape[1:])
    if args.arch == "paper":
        G = BEGANGenerator(latent_dim=args.latent_dim, output_shape=shape, channels=args.channels)
        D = BEGANDiscriminator(input_shape=shape, hidden_dim=args.hidden_dim, channels=args.channels)
    else:
        G = DCGANGenerator(latent_dim=args.latent_dim, output_shape=shape, base_channels=args.channels)
        D = BEGANBottleneckDiscriminator(input_shape=shape, hidden_dim=args.hidden_dim, channels=args.channels)
    G, D = G.to(device), D.to(device)
    info = train_began(G, D, data, epochs=args.epochs, batch_size=args.batch_size, gamma=args.gamma,
                       lambda_k=args.lambda_k, lr=args.lr, betas=(args.beta1, 0.999), seed=args.seed, out_dir=args.out,
                       resume=args.resume, progress=not args.quiet, samples_every=args.samples_every,
                       data_info={"dataset": args.dataset, "split": "train", "train_images": len(data),
                                  "arch": args.arch})
    last = info["history"][-1] if info["history"] else {}
    print(f"trained {info['epoch']} epochs ({info['steps_done']} steps); k_t {info['k']:.4f}, "
          f"M_global {last.get('m_global', float('nan')):.4f}; "
          f"generator written to {Path(args.out) / 'generator.safetensors'}")
    return 0
