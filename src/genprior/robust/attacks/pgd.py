"""Projected gradient descent (Madry et al. 2018, "Towards deep learning models resistant to adversarial
attacks", Sec. 2.1; the saddle-point problem is their Eq. (2.1)): from a random start in the eps-ball, repeat
``x <- Proj_{B(x0, eps) ∩ [0,1]^n}(x + alpha * step(grad_x J(theta, x, y)))``, where ``step`` is
``sign(g)`` for the l_inf ball and ``g / ||g||_2`` for the l_2 ball.
"""

from __future__ import annotations

import torch

from genprior.errors import InvalidValueError, check_seed
from genprior.progress import progress_bar
from genprior.robust.attacks._common import (
    Model,
    as_targets,
    check_eps,
    check_images,
    loss_gradient,
)

NORMS = ("linf", "l2")


def _l2_norm(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project perturbations ``delta`` ``(B, ...)`` onto the ``norm`` ball of radius ``eps``."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    return delta * (eps / _l2_norm(delta)).clamp(max=1.0)


def pgd(model: Model, x: torch.Tensor, y: torch.Tensor, *, eps: float, norm: str = "linf", steps: int = 40,
        alpha: float | None = None, random_start: bool = True, targeted: bool = False,
        seed: int | torch.Generator = 0, progress: bool = False) -> torch.Tensor:
    """PGD attack; ``x`` ``(B, C, H, W)`` in [0, 1], ``y`` ``(B,)`` true labels (target labels if ``targeted``).

    ``alpha`` defaults to ``2.5 * eps / steps`` (Madry et al.'s choice). The random start is uniform in the
    l_inf ball, or uniform in direction with radius ``eps * U^(1/n)`` in the l_2 ball. ``progress``: a bar over
    the steps.
    """
    if norm not in NORMS:
        raise InvalidValueError(f"unknown norm {norm!r}; choose one of: {', '.join(NORMS)}")
    if steps < 1:
        raise InvalidValueError(f"steps must be >= 1, got {steps}")
    y = as_targets(y, x)
    check_images(x, y, model=model)
    check_eps(eps)
    alpha = 2.5 * eps / steps if alpha is None else alpha
    g = seed if isinstance(seed, torch.Generator) else torch.Generator(device=x.device).manual_seed(check_seed("seed", seed))
    x0 = x.detach()
    delta = torch.zeros_like(x0)
    if random_start and eps > 0:
        # drawn where the generator lives (a CPU generator may serve images on a GPU), then moved to the images
        if norm == "linf":
            delta = (torch.rand(x0.shape, generator=g, device=g.device).to(x.device) * 2 - 1) * eps
        else:
            d = torch.randn(x0.shape, generator=g, device=g.device).to(x.device)
            n = x0[0].numel()
            r = torch.rand((x0.shape[0],), generator=g, device=g.device).to(x.device) ** (1.0 / n) * eps
            delta = d / _l2_norm(d) * r.view(-1, *([1] * (x0.dim() - 1)))
    xa = (x0 + delta).clamp(0, 1)
    sign = -1.0 if targeted else 1.0
    for _ in progress_bar(range(steps), desc="PGD", enabled=progress, leave=False):
        grad, _ = loss_gradient(model, xa, y)
        step = grad.sign() if norm == "linf" else grad / _l2_norm(grad)
        xa = (x0 + project(xa + sign * alpha * step - x0, eps, norm)).clamp(0, 1).detach()
    return xa
