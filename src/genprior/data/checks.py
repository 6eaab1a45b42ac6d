"""The checks every consumer of an image batch shares (training loops, attacks): one message per problem."""

from __future__ import annotations

import torch

from genprior.errors import InvalidValueError, ShapeError


def check_image_batch(x, *, owner: str, what: str = "images", shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """``x`` if it is a non-empty batch ``(B, C, H, W)`` of real floating values in [0, 1] (of ``shape`` ``(C, H, W)``
    when given); otherwise a ``ShapeError`` or ``InvalidValueError`` naming ``owner`` and ``what``."""
    if not torch.is_tensor(x) or x.dim() != 4:
        got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ShapeError(f"{owner}: {what} must be a batch of images (B, C, H, W), got {got}")
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise ShapeError(f"{owner}: {what} must have shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ShapeError(f"{owner}: {what} is an empty batch")
    if not x.is_floating_point():
        raise InvalidValueError(f"{owner}: {what} must be real floating point values in [0, 1], got {x.dtype}")
    if not bool(((x >= 0) & (x <= 1)).all()):  # NaN fails both comparisons
        bad = int((~((x >= 0) & (x <= 1))).sum())
        raise InvalidValueError(f"{owner}: {what} must lie in [0, 1] ({bad} values outside it or NaN)")
    return x
