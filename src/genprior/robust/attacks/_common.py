"""Checks and the input gradient shared by the attacks."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from genprior.data.checks import check_image_batch
from genprior.errors import InvalidValueError, ShapeError

Model = Callable[[torch.Tensor], torch.Tensor]


def check_images(x: torch.Tensor, y: torch.Tensor | None = None, *, model: Model | None = None) -> None:
    """``x`` must be ``(B, C, H, W)`` in [0, 1]; ``y`` (if given) ``(B,)`` integer labels; with a ``model`` that
    states its ``input_shape`` (genprior's classifiers do), images of that shape."""
    if torch.is_tensor(x) and x.dim() == 4:
        expected = getattr(model, "input_shape", None)
        if expected is not None and tuple(x.shape[1:]) != tuple(expected):
            raise ShapeError(f"the classifier takes images of shape {tuple(expected)}, got {tuple(x.shape[1:])}")
    check_image_batch(x, owner="attack", what="inputs")
    if y is not None:
        if not torch.is_tensor(y) or y.dim() != 1 or y.shape[0] != x.shape[0]:
            got = tuple(y.shape) if torch.is_tensor(y) else type(y).__name__
            raise ShapeError(f"labels must be (B,) = ({x.shape[0]},), got {got}")
        _check_classes(y, getattr(model, "num_classes", None))


def _check_classes(labels: torch.Tensor, num_classes: int | None) -> None:
    """Integer class indices, in ``0 .. num_classes - 1`` when the model states ``num_classes``."""
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise InvalidValueError(f"labels must be integer class indices, got {labels.dtype}")
    if labels.numel() and (int(labels.min()) < 0 or (num_classes is not None and int(labels.max()) >= num_classes)):
        top = "" if num_classes is None else f" .. {num_classes - 1}"
        raise InvalidValueError(f"labels must be class indices 0{top}, got values {int(labels.min())} .. {int(labels.max())}")


def as_targets(target: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
    """Class indices ``(B,)`` (long, on ``x``'s device) from one class for every image or a tensor of them."""
    if isinstance(target, int) and not isinstance(target, bool):
        return torch.full((x.shape[0],), target, dtype=torch.long, device=x.device)
    if not torch.is_tensor(target):
        raise InvalidValueError(f"labels must be a class index or a tensor of them, got {type(target).__name__}")
    _check_classes(target, None)  # floats would be truncated by the cast below
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
