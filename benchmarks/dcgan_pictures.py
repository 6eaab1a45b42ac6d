"""Pictures of the zoo's ``mnist-dcgan``: 64 samples and two latent walks, each by the command line's own code.

* ``mnist_dcgan_samples.png``: 64 samples (8 x 8), ``z`` drawn from seed 1, the latents its training run drew its
  sample grids from (``genprior train gan --seed 0`` uses seed + 1);
* ``mnist_dcgan_walk_spherical.png`` / ``.gif``: ``genprior walk --model mnist-dcgan --kind spherical`` (6 walks of
  10 steps along great circles between random latents);
* ``mnist_dcgan_walk_coord0.png`` / ``.gif``: ``genprior walk --model mnist-dcgan --kind coordinate`` (latent
  coordinate 0 traversed over [-3, 3], the others held).

Writes those pictures and ``mnist_dcgan_pictures.{json,md}`` (what each picture is and the command behind it) to
``benchmarks/results/``; a few seconds on one CPU thread.

    python benchmarks/dcgan_pictures.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from common import RESULTS, parser, write_results

from genprior import zoo
from genprior.cli import main as genprior_main
from genprior.plotting import save_tiled
from genprior.train.gan import sample

MODEL = "mnist-dcgan"
SAMPLE_SEED = 1
WALKS = {"spherical": ["--kind", "spherical"], "coord0": ["--kind", "coordinate", "--coord", "0"]}


def main() -> int:
    p = parser(__doc__, out=RESULTS / "mnist_dcgan_pictures")
    a = p.parse_args()
    torch.set_num_threads(1)
    folder = Path(a.out).parent
    samples = folder / "mnist_dcgan_samples.png"
    save_tiled(samples, sample(zoo.load(MODEL), 64, rng=torch.Generator().manual_seed(SAMPLE_SEED)))
    pictures = {samples.name: f"64 samples, z ~ N(0, I) from seed {SAMPLE_SEED} (genprior.train.gan.sample)"}
    for name, options in WALKS.items():
        command = ["walk", "--model", MODEL, *options, "--device", "cpu", "--out", str(folder / f"mnist_dcgan_walk_{name}.png")]
        if genprior_main(command) != 0:
            return 2
        pictures[f"mnist_dcgan_walk_{name}.png"] = "genprior " + " ".join(command[:-2])  # the GIF beside it
    md = "\n".join(["# Pictures of `mnist-dcgan`", "",
                    "| picture | what | GIF |", "|---|---|---|",
                    *[f"| ![{name}]({name}) | {what} | "
                      f"{f'[{Path(name).stem}.gif]({Path(name).stem}.gif)' if 'walk' in name else '-'} |"
                      for name, what in pictures.items()], ""])
    write_results(a.out, {"model": MODEL, "pictures": pictures}, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
