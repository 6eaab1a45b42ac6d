"""Attack a classifier, then defend it with a generator: project each input onto the VAE's range first.

An l_inf attack of radius ``--eps`` (FGSM, or PGD with ``--attack pgd``) perturbs MNIST digits so that the zoo's
CNN misreads them. The defense (Defense-GAN, ``genprior.robust.defenses.ProjectionDefense``) searches the
generator's latent space for the ``G(z)`` nearest the input (a loss that forgives differences inside the
``eps`` band) and classifies that instead: the perturbation does not lie in the range of a generator of digits,
so the projection removes most of it. The printout gives the accuracy on clean and attacked images, undefended
and defended. This attack is crafted on the undefended classifier; ``genprior attack --adaptive`` runs attacks
that know the defense.

    python examples/attack_and_defend.py --images 20 --eps 0.3
"""

from __future__ import annotations

import argparse

import torch

from genprior import zoo
from genprior.data import load_dataset
from genprior.robust.attacks import fgsm, pgd
from genprior.robust.defenses import ProjectionDefense


def accuracy(model, x: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == labels).float().mean())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20, help="bundled MNIST test images attacked")
    parser.add_argument("--attack", choices=("fgsm", "pgd"), default="fgsm")
    parser.add_argument("--eps", type=float, default=0.3, help="l_inf radius, images in [0, 1]")
    parser.add_argument("--model", default="mnist-vae", help="the generator the defense projects onto")
    parser.add_argument("--steps", type=int, default=100, help="the projection's Adam steps")
    parser.add_argument("--restarts", type=int, default=5, help="the projection's random starts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data = load_dataset("mnist-bundled")
    x, labels = data.images[:args.images], data.labels[:args.images]
    classifier = zoo.load("mnist-classifier").eval()
    if args.attack == "fgsm":
        x_adv = fgsm(classifier, x, labels, eps=args.eps)
    else:
        x_adv = pgd(classifier, x, labels, eps=args.eps, seed=args.seed)

    defended = ProjectionDefense(classifier, zoo.load(args.model), steps=args.steps, restarts=args.restarts,
                                 tau=args.eps, seed=args.seed).eval()
    print(f"{args.images} MNIST test images, {args.attack} at eps = {args.eps}")
    print(f"{'':12} {'clean':>7} {'attacked':>9}")
    print(f"{'undefended':12} {accuracy(classifier, x, labels):7.0%} {accuracy(classifier, x_adv, labels):9.0%}")
    print(f"{'projection':12} {accuracy(defended, x, labels):7.0%} {accuracy(defended, x_adv, labels):9.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
