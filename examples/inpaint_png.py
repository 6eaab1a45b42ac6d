"""Inpaint your own PNG: fill in a missing square (or missing pixels) with a generative prior.

The picture is read and fitted to the prior's image shape (greyscale, centred crop, resize: 28 x 28 for the zoo's
MNIST VAE), a centred ``--block`` square is removed (or only a ``--keep`` fraction of random pixels kept), and the
missing part is recovered by searching the VAE's latent space for an image that agrees with the pixels that
remain (``csgm_fast``). Without a PNG, one is written first from the bundled MNIST test images. The output folder
gets ``input.png``, ``measured.png`` (missing pixels black) and ``inpainted.png`` (all at the prior's size).

    python examples/inpaint_png.py my_digit.png --block 10 --out inpainted
    genprior recover --image my_digit.png --task inpaint --block 10 --method csgm-fast --out inpainted   # the same
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genprior import zoo
from genprior.data import load_dataset
from genprior.data.images import load_images, save_png
from genprior.evaluate.metrics import psnr
from genprior.operators import Inpaint
from genprior.solvers import csgm_fast


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("png", nargs="?", help="the picture (PNG, JPEG or NPY); default: a bundled MNIST digit")
    parser.add_argument("--block", type=int, default=10, help="side of the centred missing square (default 10)")
    parser.add_argument("--keep", type=float, default=None, help="keep this fraction of random pixels instead")
    parser.add_argument("--model", default="mnist-vae", help="the prior: a zoo name or a checkpoint path")
    parser.add_argument("--restarts", type=int, default=20, help="random starts of the latent search")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="inpainted", help="output folder (default ./inpainted)")
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = args.png
    if png is None:  # a stand-in for your picture
        png = save_png(out / "digit.png", load_dataset("mnist-bundled").images[0])

    G = zoo.load(args.model)
    x = load_images([png], shape=G.output_shape)  # (1, C, H, W) in [0, 1]
    if args.keep is not None:
        op = Inpaint(shape=G.output_shape, keep=args.keep, seed=args.seed)
    else:
        op = Inpaint(shape=G.output_shape, block=args.block)
    y = op.measure(x)  # the pixels that remain
    rec = csgm_fast(G, op, y, restarts=args.restarts, seed=args.seed)

    save_png(out / "input.png", x[0])
    save_png(out / "measured.png", op.adjoint(y)[0])  # missing pixels as 0
    save_png(out / "inpainted.png", rec.x[0])
    print(f"kept {op.output_size} of {x[0].numel()} pixels; PSNR of the inpainted image against the input: "
          f"{psnr(rec.x.float(), x).item():.1f} dB (the measured one: {psnr(op.adjoint(y).float(), x).item():.1f} dB)")
    print(f"wrote {out / 'input.png'}, {out / 'measured.png'}, {out / 'inpainted.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
