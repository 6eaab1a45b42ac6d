"""Checks and the input gradient shared by the attacks."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from genprior.errors import InvalidValueError, ShapeError

Model = Callable[[torch.Tensor], torch.Tensor]


def check_images(x: torch.Tensor, y: torch.Tensor | None = None, *, model: Model | None = None) -> None:
    """``x`` must be ``(B, C, H, W)`` in [0, 1]; ``y`` (if given) ``(B,)`` integer labels; with a ``model`` that
    states its ``input_shape`` (genprior's classifiers do), images of that shape."""
    if x.dim() != 4:
        raise ShapeError(f"attack inputs must be images (B, C, H, W), got shape {tuple(x.shape)}")
    expected = getattr(model, "input_shape", None)
    if expected is not None and tuple(x.shape[1:]) != tuple(expected):
        raise ShapeError(f"the classifier takes images of shape {tuple(expected)}, got {tuple(x.shape[1:])}")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise InvalidValueError("attack inputs must lie in [0, 1]")
    if y is not None and (y.dim() != 1 or y.shape[0] != x.shape[0]):
        raise ShapeError(f"labels must be (B,) = ({x.shape[0]},), got {tuple(y.shape)}")


def as_targets(target: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
    """Class indices ``(B,)`` (long, on ``x``'s device) from one class for every image or a tensor of them."""
    if isinstance(target, int):
        return torch.full((x.shape[0],), target, dtype=torch.long, device=x.device)
    return target.to(device=x.device, dtype=torch.long)


def check_eps(eps: float, name: str = "eps") -> None:
    if not eps >= 0:
        raise InvalidValueError(f"{name} must be >= 0, got {eps}")


def loss_gradient(model: Model, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the summed cross-entropy ``sum_i J(x_i, y_i)`` w.r.t. ``x``; returns ``(grad, logits)``.

    Summing (not averaging) keeps each image's gradient independent of the batch size.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad, logits.detach()
