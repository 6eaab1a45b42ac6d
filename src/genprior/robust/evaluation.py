"""Honest evaluation of a defense: clean accuracy, accuracy under attacks crafted on the *undefended*
classifier's gradients (non-adaptive), and under an adaptive attack that knows the defense.

Adaptive attacks: adversarial training -> white-box PGD on the trained model itself; distillation -> PGD on
the distilled logits divided by T (undoes the softmax saturation; Carlini & Wagner 2016, "Defensive
distillation is not robust to adversarial examples"); projection -> per image the first that fools the defense of BPDA-PGD
(Athalye et al. 2018; ``bpda_steps`` l_inf PGD steps, step eps/4, backward through the projection as the
identity, a cheaper projection with fresh random restarts at every step = EOT over the restarts), the
latent-space attack (``defenses.latent_space_attack``) and its targeted every-wrong-class variant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from genprior.errors import InvalidValueError, unknown
from genprior.progress import progress_bar
from genprior.robust.attacks import (
    fgsm,
    fgsm_targeted,
    pgd,
    train_substitute,
    transfer_attack,
)
from genprior.robust.defenses import ProjectionDefense, latent_space_attack

DEFENSES = ("none", "adv-train", "distill", "projection")
ATTACKS = ("fgsm", "pgd", "pgd-l2", "transfer")
DEFAULT_CLASSIFIER = {"none": "mnist-classifier", "projection": "mnist-classifier",
                      "adv-train": "mnist-classifier-advtrain", "distill": "mnist-classifier-distilled"}


@dataclass
class Setup:
    """``defended``: the classifier as deployed (logits); ``undefended``: the plain classifier whose gradients the
    non-adaptive attacks use; ``adaptive(x, y, eps)``: the defense-aware attack."""

    name: str
    defended: nn.Module
    undefended: nn.Module
    adaptive: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]
    info: dict


class _Scaled(nn.Module):
    def __init__(self, model: nn.Module, scale: float):
        super().__init__()
        self.model, self.scale = model, scale

    def forward(self, x):
        return self.model(x) / self.scale


def build_setup(defense: str, *, classifier: str | None = None, undefended: str = "mnist-classifier",
                generator: str = "mnist-vae", steps: int = 200, restarts: int = 10, pgd_steps: int = 40,
                bpda_steps: int = 20, bpda_projection: tuple[int, int] = (50, 2), seed: int = 0,
                loss: str = "band-likelihood", tau: float = 0.3, preprocess: str | None = None,
                device: torch.device | str = "cpu", progress: bool = False) -> Setup:
    """Load the models a defense needs (zoo names or paths) onto ``device`` and wire its adaptive attack
    (``progress``: bars over its PGD steps and, for the projection, over its three attacks)."""
    from genprior import zoo

    if defense not in DEFENSES:
        raise unknown("defense", defense, DEFENSES)
    base, _ = zoo.resolve(undefended, family="classifier")
    model, cfg = zoo.resolve(classifier or DEFAULT_CLASSIFIER[defense], family="classifier")
    base, model = base.to(device), model.to(device)
    info = {"defense": defense, "classifier": classifier or DEFAULT_CLASSIFIER[defense], "undefended": undefended}
    if defense == "none":
        return Setup(defense, model, model, lambda x, y, eps: pgd(model, x, y, eps=eps, steps=pgd_steps, seed=seed,
                                                                  progress=progress), info)
    if defense == "adv-train":
        return Setup(defense, model, base, lambda x, y, eps: pgd(model, x, y, eps=eps, steps=pgd_steps, seed=seed,
                                                                 progress=progress), info)
    if defense == "distill":
        t = float(cfg.get("distill_temperature", 100.0))
        scaled = _Scaled(model, t)
        info["temperature"] = t
        return Setup(defense, model, base, lambda x, y, eps: pgd(scaled, x, y, eps=eps, steps=pgd_steps, seed=seed,
                                                                 progress=progress), info)
    gen, gcfg = zoo.resolve(generator)
    gen = gen.to(device)
    proj = ProjectionDefense(model, gen, steps=steps, restarts=restarts, seed=seed, loss=loss, tau=tau,
                             preprocess=preprocess, attack_steps=bpda_projection[0], attack_restarts=bpda_projection[1])
    info.update({"generator": generator, "generator_epochs": gcfg.get("epochs_trained", gcfg.get("epochs")), "L": steps, "R": restarts, "loss": loss, "tau": tau if loss != "l2" else None,
                 "preprocess": preprocess, "bpda_steps": bpda_steps, "bpda_eot": "fresh restarts per step",
                 "bpda_projection_L_R": list(bpda_projection)})

    def adaptive(x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
        with progress_bar(total=3, desc="adaptive attack", enabled=progress, leave=False) as bar:
            proj.attacking = True
            try:
                xb = pgd(proj, x, y, eps=eps, steps=bpda_steps, alpha=eps / 4, seed=seed, progress=progress)
            finally:
                proj.attacking = False
            bar.update()
            xl = latent_space_attack(proj, x, y, eps=eps)
            bar.update()
            xt = latent_space_attack(proj, x, y, eps=eps, c=1.0, every_class=True)
            bar.update()
        with torch.no_grad():
            ok_b = proj(xb).argmax(1) == y
            ok_l = proj(xl).argmax(1) == y
        # per image the first attack that fools the defense: BPDA, then the latent attack, then the every-class one
        return torch.where(ok_b[:, None, None, None], torch.where(ok_l[:, None, None, None], xt, xl), xb)

    return Setup(defense, proj, base, adaptive, info)


def craft(attack: str, source: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float,
          targeted: int | None = None, steps: int = 40, seed: int = 0, substitute_images: torch.Tensor | None = None,
          progress: bool = False) -> torch.Tensor:
    """Adversarial images from ``source``'s gradients (``transfer``: from a substitute trained on its labels);
    ``progress``: bars over PGD's steps and the substitute's training."""
    if attack not in ATTACKS:
        raise unknown("attack", attack, ATTACKS)
    if targeted is not None:
        if attack not in ("fgsm", "pgd", "pgd-l2"):
            raise InvalidValueError(f"--targeted works with fgsm, pgd and pgd-l2, not {attack}")
        t = torch.full_like(y, targeted)
        if attack == "fgsm":
            return fgsm_targeted(source, x, t, eps=eps)
        return pgd(source, x, t, eps=eps, steps=steps, targeted=True, norm="l2" if attack == "pgd-l2" else "linf", seed=seed,
                   progress=progress)
    if attack == "fgsm":
        return fgsm(source, x, y, eps=eps)
    if attack in ("pgd", "pgd-l2"):
        return pgd(source, x, y, eps=eps, steps=steps, norm="l2" if attack == "pgd-l2" else "linf", seed=seed,
                   progress=progress)
    if substitute_images is None:
        raise InvalidValueError("the transfer attack needs images to train its substitute on")
    sub = train_substitute(source, substitute_images, seed=seed, progress=progress)
    return transfer_attack(sub, x, y, eps=eps)


@torch.no_grad()
def accuracy_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return (model(x).argmax(1) == y).float().mean().item()
