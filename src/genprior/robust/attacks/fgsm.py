"""Fast gradient sign method (Goodfellow, Shlens & Szegedy 2015, "Explaining and harnessing adversarial
examples", Sec. 4): ``x' = clip_[0,1](x + eps * sign(grad_x J(theta, x, y)))``.

Targeted variant (Kurakin et al. 2017, "Adversarial machine learning at scale", Sec. 2, one step):
``x' = clip_[0,1](x - eps * sign(grad_x J(theta, x, t)))`` moves toward target class ``t``.
"""

from __future__ import annotations

import torch

from genprior.robust.attacks._common import (
    Model,
    as_targets,
    check_eps,
    check_images,
    loss_gradient,
)


def fgsm(model: Model, x: torch.Tensor, y: torch.Tensor, *, eps: float) -> torch.Tensor:
    """Untargeted FGSM. ``x`` ``(B, C, H, W)`` in [0, 1], ``y`` ``(B,)`` true labels -> adversarial ``(B, C, H, W)``."""
    check_images(x, y, model=model)
    check_eps(eps)
    grad, _ = loss_gradient(model, x, y)
    return (x + eps * grad.sign()).clamp(0, 1).detach()


def fgsm_targeted(model: Model, x: torch.Tensor, target: torch.Tensor | int, *, eps: float) -> torch.Tensor:
    """Targeted FGSM: one step of size ``eps`` down the loss of class ``target`` (int or ``(B,)``)."""
    target = as_targets(target, x)
    check_images(x, target, model=model)
    check_eps(eps)
    grad, _ = loss_gradient(model, x, target)
    return (x - eps * grad.sign()).clamp(0, 1).detach()

