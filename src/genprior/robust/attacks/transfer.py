"""Black-box transfer attack (Papernot et al. 2017, "Practical black-box attacks against machine learning",
Sec. 4; transferability: Szegedy et al. 2014, Goodfellow et al. 2015 Sec. 8).

The attacker only sees the target's predicted labels ``O(x) = argmax f(x)``: it trains a substitute ``F``
on ``{(x_i, O(x_i))}`` for images it owns, crafts adversarial examples on ``F`` with a white-box attack
(FGSM or PGD), and submits them to the target unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from genprior.errors import InvalidValueError
from genprior.robust.attacks._common import Model, check_images
from genprior.robust.attacks.fgsm import fgsm
from genprior.robust.attacks.pgd import pgd


@torch.no_grad()
def query_labels(target: Model, images: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """The target's hard labels ``(N,)`` for ``images`` ``(N, C, H, W)``: all the black box reveals."""
    return torch.cat([target(images[i:i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


def train_substitute(target: Model, images: torch.Tensor, *, substitute: nn.Module | None = None, epochs: int = 3,
                     batch_size: int = 128, lr: float = 1e-3, seed: int = 0, progress: bool = False) -> nn.Module:
    """Train ``substitute`` (default: a smaller ``Classifier``, on ``images``' device) on the target's labels for
    ``images``."""
    from genprior.models.classifier import Classifier
    from genprior.train.classifier import train_classifier

    check_images(images, model=target)
    if len(images) == 0:
        raise InvalidValueError("the substitute needs at least one training image")
    labels = query_labels(target, images)
    if substitute is None:
        substitute = Classifier(input_shape=tuple(images.shape[1:]), channels=(16, 32), hidden=128).to(images.device)
    train_classifier(substitute, images, labels, images[:500], labels[:500], out_dir=None, epochs=epochs,
                     batch_size=batch_size, lr=lr, seed=seed, progress=progress)
    return substitute.eval()


def transfer_attack(substitute: Model, x: torch.Tensor, y: torch.Tensor, *, eps: float, attack: str = "fgsm",
                    **attack_kw) -> torch.Tensor:
    """Adversarial examples crafted on ``substitute`` (white-box), to be fed to the black-box target."""
    attacks: dict[str, Callable[..., torch.Tensor]] = {"fgsm": fgsm, "pgd": pgd}
    if attack not in attacks:
        raise InvalidValueError(f"transfer attack uses fgsm or pgd on the substitute, not {attack!r}")
    return attacks[attack](substitute, x, y, eps=eps, **attack_kw)
