"""Stacked MNIST (Srivastava et al. 2017, VEEGAN, Sec. 5.2; Lin et al. 2018, PacGAN, Sec. 5.2).

Each sample stacks three MNIST digits drawn independently and uniformly at random as the three
channels of one ``(3, 28, 28)`` image, so the data has 10^3 = 1,000 equally likely modes; the mode of a
sample is ``100 d_0 + 10 d_1 + d_2`` for the digits ``d_c`` of its channels.
"""

from __future__ import annotations

import torch

from genprior.errors import InvalidValueError, ShapeError


def stack_digits(images: torch.Tensor, labels: torch.Tensor, n: int, *, channels: int = 3,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` stacked samples from single-channel ``images`` ``(N, 1, H, W)`` with ``labels`` ``(N,)``.

    Returns images ``(n, channels, H, W)`` (same dtype as ``images``) and their modes ``(n,)`` in
    ``[0, 10**channels)``.
    """
    if images.dim() != 4 or images.shape[1] != 1 or labels.shape != (images.shape[0],):
        raise ShapeError(f"need images (N, 1, H, W) and labels (N,), got {tuple(images.shape)} and {tuple(labels.shape)}")
    if n < 1 or channels < 1:
        raise InvalidValueError(f"need n >= 1 and channels >= 1, got n={n}, channels={channels}")
    idx = torch.randint(images.shape[0], (n, channels), generator=generator)
    stacked = images[idx.flatten(), 0].view(n, channels, *images.shape[2:])
    return stacked, mode_of_digits(labels[idx])


def mode_of_digits(digits: torch.Tensor) -> torch.Tensor:
    """Digits ``(n, C)`` in 0..9 -> mode index ``(n,)``: the digits read as a base-10 number, channel 0 first."""
    weights = 10 ** torch.arange(digits.shape[1] - 1, -1, -1, device=digits.device)
    return (digits.long() * weights).sum(1)
