"""What every generator must offer the solvers, checked once: ``latent_dim`` and a forward ``(B, k) -> images``."""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from genprior.errors import GeneratorError, ShapeError


def latent_dim_of(generator) -> int:
    k = getattr(generator, "latent_dim", None)
    if k is None:
        raise GeneratorError(f"generator {type(generator).__name__} has no latent_dim attribute: "
                             "set generator.latent_dim = k (the size of z) on your module")
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise GeneratorError(f"generator.latent_dim must be a positive integer, got {k!r}")
    return k


@contextlib.contextmanager
def frozen(generator):
    """Evaluation mode and no parameter gradients for the duration; the caller's settings are restored."""
    if not isinstance(generator, nn.Module):
        yield generator
        return
    was_training = generator.training
    flags = [(p, p.requires_grad) for p in generator.parameters()]
    generator.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield generator
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        generator.train(was_training)


def as_images(out: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """View a generator's output ``(B, ...)`` as ``(B, *shape)``; flat outputs of the right size are accepted."""
    if tuple(out.shape[1:]) == shape:
        return out
    if out[0].numel() == math.prod(shape):
        return out.reshape(out.shape[0], *shape)
    raise ShapeError(f"generator outputs {tuple(out.shape[1:])} per sample but the operator takes images of shape {shape}")
