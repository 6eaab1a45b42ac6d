"""Judge a generator: how good are its samples, how much of the real data can it reach, does it copy?

``genprior.evaluate.judge.judge_generator`` reads the generator's samples through a domain classifier (the zoo's
MNIST CNN): the Fréchet distance between sample and real features (lower is better; on this classifier's features,
not Inception's, so not comparable with published FIDs), the classifier score (1 to 10 for MNIST, higher is
better), the closest reconstruction ``min_z ||G(z) - x||^2`` of real held-out images (can the generator reach
real digits? what a prior needs), and, given training images, how near its samples come to them (copying). The
small defaults run in seconds on bundled data; ``genprior evaluate`` and ``benchmarks/generator_quality.py`` run
the same at full size (5,000 samples).

    python examples/judge_generator.py --model mnist-dcgan --samples 200
"""

from __future__ import annotations

import argparse
import json

from genprior import zoo
from genprior.data import load_dataset
from genprior.evaluate.judge import judge_generator


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist-dcgan", help="the generator: a zoo name or a checkpoint path")
    parser.add_argument("--classifier", default="mnist-classifier", help="whose features the scores read")
    parser.add_argument("--samples", type=int, default=200, help="samples scored (the bundled set has 500 images)")
    parser.add_argument("--invert", type=int, default=5, help="real images reconstructed through the generator")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the full report here")
    args = parser.parse_args(argv)

    G = zoo.load(args.model)
    classifier = zoo.load(args.classifier)
    real = load_dataset("mnist-bundled").images  # (500, 1, 28, 28): MNIST test images, unseen in training
    # without training images, the real reference and the samples are each compared on halves of `real`
    judged = judge_generator(G, classifier, real, n_samples=args.samples, n_inverted=args.invert, seed=args.seed)

    s, real_ref, rec = judged.scores, judged.scores["real"], judged.scores["reconstruction"]
    print(f"{args.model}: {judged.samples.shape[0]} samples read by {args.classifier}")
    print(f"  Fréchet distance      {s['frechet_distance']:8.1f}   (real images against real: "
          f"{real_ref['frechet_distance']:.1f}, the floor at this size)")
    print(f"  classifier score      {s['classifier_score']:8.2f}   (real images: {real_ref['classifier_score']:.2f}; "
          f"{s['classes_seen']} classes seen)")
    print(f"  closest reconstruction {rec['mse_per_pixel']:7.4f}   error per pixel of min_z ||G(z) - x||^2 over "
          f"{rec['n_images']} real images ({rec['psnr']:.1f} dB)")
    if args.json is not None:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(s, f, indent=1, default=str)
        print(f"full report: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
