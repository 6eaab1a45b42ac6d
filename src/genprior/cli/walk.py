"""``genprior walk``: latent-space walks of a generator (linear / spherical interpolation, one-coordinate
traversal) as a PNG grid and an animated GIF."""

from __future__ import annotations

import io
import math

from genprior.errors import InvalidValueError, ShapeError
from genprior.models.walks import WALKS
from genprior.progress import say

MAX_WALK = 200  # rows and frames of a latent walk
MAX_SPAN = 1000.0  # coordinate traversal half-width, in standard deviations of the N(0, I) prior
GIF_MAX_MS = 655_350  # a GIF frame's delay is 16-bit hundredths of a second


def add_parsers(sub) -> None:
    """Add ``walk`` to ``sub``."""
    from genprior.cli import (
        MAX_WIDTH,
        add_device_arg,
        integer_arg,
        number_arg,
        seed_arg,
    )

    w = sub.add_parser("walk", help="latent walks of a generator: PNG grid + animated GIF")
    w.add_argument("--model", default="mnist-dcgan", help="zoo name or path to a NAME.safetensors/NAME.json pair")
    w.add_argument("--kind", default="spherical", help=f"walk: {', '.join(WALKS)}")
    w.add_argument("--steps", type=integer_arg(1, MAX_WALK), default=10,
                   help=f"frames per walk (columns of the grid), 1..{MAX_WALK}")
    w.add_argument("--rows", type=integer_arg(1, MAX_WALK), default=6, help=f"independent walks (rows of the grid), 1..{MAX_WALK}")
    w.add_argument("--coord", type=integer_arg(0, MAX_WIDTH - 1), default=None,
                   help="latent coordinate for --kind coordinate (default 0; an InfoGAN generator: one of its codes, "
                        "and by default one row per code, the other coordinates fixed)")
    w.add_argument("--span", type=number_arg(low=0, high=MAX_SPAN, strict=True), default=None,
                   help=f"coordinate traversal runs over [-span, span], span in (0, {MAX_SPAN:g}] (default 3; 1 for an "
                        "InfoGAN's codes, uniform on [-1, 1])")
    w.add_argument("--label", type=integer_arg(0, MAX_WIDTH - 1), default=None,
                   help="class to hold fixed for a conditional generator (default 0)")
    w.add_argument("--seed", type=seed_arg, default=0,
                   help="seed of every random draw of the run (the same seed gives the same numbers)")
    w.add_argument("--out", default="walk.png", help="PNG grid (a bare name gets .png); the GIF is written beside it (same stem, .gif)")
    w.add_argument("--frame-ms", type=integer_arg(10, GIF_MAX_MS), default=120,
                   help=f"GIF frame duration in milliseconds, 10..{GIF_MAX_MS} (GIF counts hundredths of a second in 16 "
                        "bits; identical frames merge, so frames x this must stay within it too)")
    add_device_arg(w)
    w.set_defaults(func=cmd_walk)


def cmd_walk(args) -> int:
    from PIL import Image

    from genprior import zoo
    from genprior.cli import png_path
    from genprior.devices import pick_device
    from genprior.io import atomic_write_bytes, check_outputs
    from genprior.models.walks import code_count, latent_walk
    from genprior.plotting import save_tiled, tile_images

    if args.kind != "coordinate" and (args.coord is not None or args.span is not None):
        raise InvalidValueError(f"--{'coord' if args.coord is not None else 'span'} is an option of --kind coordinate")
    # the GIF plays forward then back; Pillow merges identical frames (a generator blind to --coord) by adding delays
    order = list(range(args.steps)) + list(range(args.steps - 2, 0, -1))
    if args.frame_ms * len(order) > GIF_MAX_MS:
        raise InvalidValueError(f"--frame-ms {args.frame_ms} x {len(order)} frames is more than a GIF frame can last "
                                f"({GIF_MAX_MS} ms): give at most {GIF_MAX_MS // len(order)}")
    out = png_path(args.out, note=" (the GIF is written beside it)")
    gif = out.with_suffix(".gif")
    check_outputs({"--out": out, "--out (its GIF)": gif})
    device = pick_device(args.device)
    model, _ = zoo.resolve(args.model)
    if not hasattr(model, "latent_dim"):
        raise ShapeError(f"{args.model} is not a generator (no latent_dim)")
    if hasattr(model, "fixed"):  # a conditional generator: walk within one class
        model = model.fixed(args.label or 0)
    elif args.label is not None:
        raise InvalidValueError(f"--label needs a conditional generator; {args.model} is not one")
    if args.coord is None and not code_count(model):  # an InfoGAN's walk is one row per code
        args.coord = 0
    frames = latent_walk(model.to(device), args.kind, rows=args.rows, steps=args.steps, coord=args.coord, span=args.span,
                         seed=args.seed, progress=True)
    rows, steps = frames.shape[:2]
    # GIF: frame t shows every walk at step t, side by side; encoded before either file is written
    ncol = math.ceil(math.sqrt(rows))
    tiles = [tile_images(frames[:, t], nrow=ncol) for t in range(steps)]
    size = (tiles[0].shape[1] * 3, tiles[0].shape[0] * 3)
    pics = [Image.fromarray(tiles[t]).resize(size, Image.NEAREST) for t in order]
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], duration=args.frame_ms, loop=0)
    save_tiled(out, frames.reshape(rows * steps, *frames.shape[2:]), nrow=steps)
    atomic_write_bytes(gif, buf.getvalue())
    say(f"{args.kind} walk of {args.model}: {rows} rows x {steps} steps -> {out} and {gif}")
    return 0
