"""Fooling images: one targeted gradient-sign step from noise (Goodfellow et al. 2015, Sec. 4 applied to a
noise input; cf. Nguyen, Yosinski & Clune 2015, "Deep neural networks are easily fooled").

``x' = clip_[0,1](n - eps * sign(grad_x J(theta, n, t)))`` with ``n`` noise: an image of nothing that the
classifier nevertheless assigns to class ``t``. For a linear classifier one step suffices; a CNN often needs a
few: ``steps > 1`` repeats the step (basic iterative method, Kurakin, Goodfellow & Bengio 2017, without the
eps-ball clip), each of size ``eps``.
"""

from __future__ import annotations

import torch

from genprior.devices import device_of
from genprior.errors import InvalidValueError, check_seed
from genprior.robust.attacks._common import Model, check_eps
from genprior.robust.attacks.fgsm import fgsm_targeted


def fooling_images(model: Model, targets: torch.Tensor | list[int], *, shape=(1, 28, 28), eps: float = 0.2,
                   noise_mean: float = 0.5, noise_std: float = 0.1, steps: int = 1,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """One fooling image per entry of ``targets`` ``(B,)``; returns ``(images (B, *shape) in [0, 1], noise)``, on
    ``model``'s device (the noise is drawn on the CPU, so a seed gives the same noise on every device)."""
    check_eps(eps)
    device = device_of(model)
    targets = torch.as_tensor(targets, dtype=torch.long).to(device)
    if targets.dim() != 1:
        raise InvalidValueError("targets must be a 1-D list of class indices")
    g = torch.Generator().manual_seed(check_seed("seed", seed))
    noise = (noise_mean + noise_std * torch.randn((len(targets), *shape), generator=g)).clamp(0, 1).to(device)
    if steps < 1:
        raise InvalidValueError(f"steps must be >= 1, got {steps}")
    x = noise
    for _ in range(steps):
        x = fgsm_targeted(model, x, targets, eps=eps)
    return x, noise
