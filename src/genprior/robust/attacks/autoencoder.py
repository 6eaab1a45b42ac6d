"""Adversarial attack on an autoencoder / VAE (Tabacof, Tavares & Valle 2016, "Adversarial images for
variational autoencoders", Sec. 3; Kos, Fischer & Song 2018, "Adversarial examples for generative models",
the latent attack Sec. 3.2.2).

Find a small ``d`` so that the reconstruction of ``x + d`` becomes a chosen other image ``x_t``:

    min_d  ||mu(x + d) - mu(x_t)||^2 + C * ||d||^2   s.t.  x + d in [0, 1],  ||d||_inf <= eps,

with ``mu`` the encoder's posterior mean (latent loss), or, with ``loss="output"``, the reconstruction
loss ``||D(mu(x + d)) - x_t||^2`` in place of the first term. Solved with Adam on ``d``, projected each step.
"""

from __future__ import annotations

import torch

from genprior.errors import GeneratorError, InvalidValueError
from genprior.robust.attacks._common import check_eps, check_images


def _encode(vae, x: torch.Tensor) -> torch.Tensor:
    if not hasattr(vae, "encode"):
        raise GeneratorError("the autoencoder attack needs a model with encode(x) -> (mu, logvar) or mu")
    out = vae.encode(x)
    return out[0] if isinstance(out, tuple) else out


def reconstruct(vae, x: torch.Tensor) -> torch.Tensor:
    """Deterministic reconstruction ``D(mu(x))``, ``(B, C, H, W)``."""
    return vae(_encode(vae, x)).view_as(x)


def autoencoder_attack(vae, x: torch.Tensor, x_target: torch.Tensor, *, eps: float = 0.2, c: float = 0.1,
                       steps: int = 200, lr: float = 0.01, loss: str = "latent") -> torch.Tensor:
    """Adversarial inputs ``(B, C, H, W)`` in [0, 1] whose reconstructions look like ``x_target`` ``(B, C, H, W)``."""
    check_images(x)
    check_images(x_target)
    check_eps(eps)
    if x.shape != x_target.shape:
        raise InvalidValueError(f"x {tuple(x.shape)} and x_target {tuple(x_target.shape)} differ in shape")
    if loss not in ("latent", "output"):
        raise InvalidValueError(f"loss must be 'latent' or 'output', got {loss!r}")
    x = x.detach()
    with torch.no_grad():
        z_t = _encode(vae, x_target)
    delta = torch.zeros_like(x, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            xa = x + delta
            z = _encode(vae, xa)
            if loss == "latent":
                fit = (z - z_t).pow(2).sum(1)
            else:
                fit = (vae(z).view_as(x) - x_target).pow(2).flatten(1).sum(1)
            total = (fit + c * delta.pow(2).flatten(1).sum(1)).sum()
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            with torch.no_grad():
                delta.copy_(((x + delta.clamp(-eps, eps)).clamp(0, 1)) - x)
    return (x + delta).detach().clamp(0, 1)
