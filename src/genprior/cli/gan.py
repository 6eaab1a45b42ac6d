"""``genprior train gan`` (Goodfellow et al. 2014 Algorithm 1; DCGAN, Radford et al. 2016; PacGAN, Lin et al. 2018)
and ``genprior walk`` (latent-space walks: linear / spherical interpolation, one-coordinate traversal).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import torch

from genprior.errors import InvalidValueError, ShapeError, unknown
from genprior.models.walks import WALKS

TOY_SETS = ("ring", "grid")
# each family's architecture options and their defaults (DCGAN for images, MLPs for the 2-D ring/grid)
IMAGE_ARCH = {"g_channels": 64, "d_channels": 64}
TOY_ARCH = {"g_hidden": [400, 400, 400, 400], "d_hidden": [200, 200, 200], "toy_samples": 100_000}


def add_parsers(sub, train_sub) -> None:
    """Add ``train gan`` to ``train_sub`` and ``walk`` to ``sub``."""
    from genprior.cli import (
        add_data_args,
        add_device_arg,
        add_training_args,
        number_arg,
        seed_arg,
    )
    from genprior.train.gan import GENERATOR_LOSSES

    p = train_sub.add_parser("gan", help="a GAN (DCGAN for images, MLP for 2-D ring/grid), optionally packed (PacGAN)")
    add_data_args(p, datasets="mnist, fashion-mnist, digits (images, DCGAN) or ring, grid (2-D points, MLP)")
    p.add_argument("--out", default="runs/gan", help="folder for state.* (resume), generator.* and sample grids")
    p.add_argument("--loss", default="nonsaturating", help=f"generator loss: {', '.join(GENERATOR_LOSSES)}")
    p.add_argument("--packing", type=int, default=1, help="PacGAN packing degree m (1 = plain GAN)")
    p.add_argument("--conditional", action="store_true",
                   help="conditional GAN (Mirza & Osindero 2014): G and D get the class label; image data sets only")
    p.add_argument("--d-steps", type=int, default=1, help="discriminator steps per generator turn (k)")
    p.add_argument("--g-steps", type=int, default=1, help="generator steps per generator turn (PacGAN's code: 2)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64, help="packs per discriminator step")
    p.add_argument("--lr", type=number_arg(low=0, strict=True), default=2e-4, help="Adam learning rate (of both players unless --g-lr)")
    p.add_argument("--g-lr", type=number_arg(low=0, strict=True), default=None, help="the generator's own Adam learning rate")
    p.add_argument("--beta1", type=number_arg(low=0), default=0.5)
    p.add_argument("--beta2", type=number_arg(low=0), default=0.999)
    p.add_argument("--latent-dim", type=int, default=None, help="default: 100 for images, 2 for 2-D data")
    p.add_argument("--g-channels", type=int, default=None,
                   help=f"image data: DCGAN generator base channels (default {IMAGE_ARCH['g_channels']})")
    p.add_argument("--d-channels", type=int, default=None,
                   help=f"image data: DCGAN discriminator base channels (default {IMAGE_ARCH['d_channels']})")
    p.add_argument("--g-hidden", type=int, nargs="+", default=None,
                   help=f"ring/grid: MLP generator widths (default {' '.join(map(str, TOY_ARCH['g_hidden']))})")
    p.add_argument("--d-hidden", type=int, nargs="+", default=None,
                   help=f"ring/grid: MLP discriminator widths (default {' '.join(map(str, TOY_ARCH['d_hidden']))})")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images / 2-D samples")
    p.add_argument("--toy-samples", type=int, default=None,
                   help=f"ring/grid: training points drawn (default {TOY_ARCH['toy_samples']})")
    add_training_args(p, samples=True)
    p.set_defaults(func=cmd_train_gan)

    w = sub.add_parser("walk", help="latent walks of a generator: PNG grid + animated GIF")
    w.add_argument("--model", default="mnist-dcgan", help="zoo name or path to a NAME.safetensors/NAME.json pair")
    w.add_argument("--kind", default="spherical", help=f"walk: {', '.join(WALKS)}")
    w.add_argument("--steps", type=int, default=10, help="frames per walk (columns of the grid)")
    w.add_argument("--rows", type=int, default=6, help="independent walks (rows of the grid)")
    w.add_argument("--coord", type=int, default=None, help="latent coordinate for --kind coordinate (default 0)")
    w.add_argument("--span", type=number_arg(low=0, strict=True), default=None, help="coordinate traversal runs over [-span, span]")
    w.add_argument("--label", type=int, default=None, help="class to hold fixed for a conditional generator (default 0)")
    w.add_argument("--seed", type=seed_arg, default=0)
    w.add_argument("--out", default="walk.png", help="PNG grid (a bare name gets .png); the GIF is written beside it (same stem, .gif)")
    w.add_argument("--frame-ms", type=int, default=120, help="GIF frame duration in milliseconds")
    add_device_arg(w)
    w.set_defaults(func=cmd_walk)


def cmd_train_gan(args) -> int:
    from genprior.cli import check_at_least, mode_options
    from genprior.data import DATASETS, TRAINING_SETS, load_dataset
    from genprior.devices import pick_device
    from genprior.io import check_writable
    from genprior.train.gan import GENERATOR_LOSSES, train_gan

    if args.loss not in GENERATOR_LOSSES:
        raise unknown("generator loss", args.loss, GENERATOR_LOSSES)
    check_at_least(1, epochs=args.epochs, packing=args.packing, d_steps=args.d_steps, g_steps=args.g_steps,
                   batch_size=args.batch_size, limit=args.limit, toy_samples=args.toy_samples)
    if not (args.beta1 < 1 and args.beta2 < 1):  # their types refuse NaN, inf and negative values
        raise InvalidValueError(f"--beta1 and --beta2 must be < 1, got {args.beta1} and {args.beta2}")
    check_at_least(0, samples_every=args.samples_every)
    # the other family's options are refused rather than ignored; unset, they take their family's defaults
    toy = args.dataset in TOY_SETS
    mode_options(args, TOY_ARCH, used=toy, owner=f"ring/grid, not of {args.dataset}")
    mode_options(args, IMAGE_ARCH, used=not toy, owner=f"image data sets, not of {args.dataset}")
    check_at_least(1, g_channels=args.g_channels, d_channels=args.d_channels)
    device = pick_device(args.device)
    check_writable(args.out, folder=True)
    torch.manual_seed(args.seed)
    m = args.packing
    labels = None
    if args.conditional and (args.dataset in TOY_SETS or m != 1):
        raise InvalidValueError("--conditional needs an image data set and --packing 1")
    if args.dataset in TOY_SETS:
        from genprior.data.toy2d import toy2d
        from genprior.models.mlp import MLPDiscriminator, MLPGenerator

        mix = toy2d(args.dataset)
        n = args.limit or args.toy_samples
        data = mix.sample(n, generator=torch.Generator().manual_seed(args.seed + 12345))
        G = MLPGenerator(latent_dim=2 if args.latent_dim is None else args.latent_dim, output_dim=2, hidden=tuple(args.g_hidden))
        D = MLPDiscriminator(input_dim=2 * m, hidden=tuple(args.d_hidden))
        data_info = {"dataset": args.dataset, "train_samples": n, "std": mix.std}
    elif args.dataset in DATASETS:
        from genprior.models.dcgan import DCGANDiscriminator, DCGANGenerator

        ds = load_dataset(args.dataset, "train", data_dir=args.data_dir)
        data = ds.images[: args.limit] if args.limit else ds.images
        c, h, w = data.shape[1:]
        latent_dim = 100 if args.latent_dim is None else args.latent_dim
        data_info = {"dataset": args.dataset, "split": "train", "train_images": len(data)}
        if args.conditional:
            from genprior.models.conditional import (
                ConditionalDiscriminator,
                ConditionalGenerator,
            )

            labels = ds.labels[: len(data)].long()
            k = int(labels.max()) + 1
            G = ConditionalGenerator(latent_dim=latent_dim, num_classes=k, output_shape=(c, h, w),
                                     base_channels=args.g_channels)
            D = ConditionalDiscriminator(input_shape=(c, h, w), num_classes=k, base_channels=args.d_channels)
            data_info["conditional"] = True
        else:
            G = DCGANGenerator(latent_dim=latent_dim, output_shape=(c, h, w), base_channels=args.g_channels)
            D = DCGANDiscriminator(input_shape=(c * m, h, w), base_channels=args.d_channels)
    else:
        raise unknown("dataset", args.dataset, (*TRAINING_SETS, *TOY_SETS))
    G, D = G.to(device), D.to(device)
    info = train_gan(G, D, data, labels=labels, packing=m, epochs=args.epochs, batch_size=args.batch_size, d_steps=args.d_steps,
                     g_steps=args.g_steps, loss=args.loss, lr=args.lr, g_lr=args.g_lr, betas=(args.beta1, args.beta2),
                     seed=args.seed, out_dir=args.out, resume=args.resume, progress=not args.quiet,
                     samples_every=args.samples_every, data_info=data_info)
    last = info["history"][-1] if info["history"] else {}
    print(f"trained {info['epoch']} epochs ({info['g_steps_done']} generator steps); "
          f"D(x) {last.get('d_real', float('nan')):.2f}, D(G(z)) {last.get('d_fake', float('nan')):.2f}; "
          f"generator written to {Path(args.out) / 'generator.safetensors'}")
    return 0


def cmd_walk(args) -> int:
    from PIL import Image

    from genprior import zoo
    from genprior.cli import check_at_least, png_path
    from genprior.devices import pick_device
    from genprior.io import atomic_write_bytes, check_writable
    from genprior.models.walks import latent_walk
    from genprior.plotting import save_tiled, tile_images

    check_at_least(1, frame_ms=args.frame_ms)
    if args.kind != "coordinate" and (args.coord is not None or args.span is not None):
        raise InvalidValueError(f"--{'coord' if args.coord is not None else 'span'} is an option of --kind coordinate")
    args.coord = 0 if args.coord is None else args.coord
    args.span = 3.0 if args.span is None else args.span
    if args.span > torch.finfo(torch.float32).max:
        raise InvalidValueError(f"--span must be below {torch.finfo(torch.float32).max:.3g} (float32), got {args.span}")
    out = png_path(args.out, note=" (the GIF is written beside it)")
    gif = out.with_suffix(".gif")
    check_writable(out)
    check_writable(gif)
    device = pick_device(args.device)
    model, _ = zoo.resolve(args.model)
    if not hasattr(model, "latent_dim"):
        raise ShapeError(f"{args.model} is not a generator (no latent_dim)")
    if hasattr(model, "fixed"):  # a conditional generator: walk within one class
        model = model.fixed(args.label or 0)
    elif args.label is not None:
        raise InvalidValueError(f"--label needs a conditional generator; {args.model} is not one")
    frames = latent_walk(model.to(device), args.kind, rows=args.rows, steps=args.steps, coord=args.coord, span=args.span,
                         seed=args.seed, progress=True)
    rows, steps = frames.shape[:2]
    save_tiled(out, frames.reshape(rows * steps, *frames.shape[2:]), nrow=steps)
    # GIF: frame t shows every walk at step t, side by side; played forward then back
    order = list(range(steps)) + list(range(steps - 2, 0, -1))
    ncol = math.ceil(math.sqrt(rows))
    tiles = [tile_images(frames[:, t], nrow=ncol) for t in range(steps)]
    size = (tiles[0].shape[1] * 3, tiles[0].shape[0] * 3)
    pics = [Image.fromarray(tiles[t]).resize(size, Image.NEAREST) for t in order]
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], duration=args.frame_ms, loop=0)
    atomic_write_bytes(gif, buf.getvalue())
    print(f"{args.kind} walk of {args.model}: {rows} rows x {steps} steps -> {out} and {gif}")
    return 0
