"""Image styles that genprior derives from a data set deterministically, and the unpaired two-domain split built on
them: the test bed of unpaired translation (CycleGAN) with a known correspondence.

A style maps images ``(B, C, H, W)`` in [0, 1] to images of the same shape in [0, 1], pixel by pixel from a
3x3 neighbourhood, with no randomness, so every styled image has one known counterpart:

* ``thick-inverted``: the strokes thickened by a 3x3 grey-scale dilation (a stride-1 max-pool) and the colours
  inverted, ``1 - maxpool3x3(x)``: white digits on black become thicker black digits on white.
* ``outline``: the morphological gradient ``maxpool3x3(x) - minpool3x3(x)`` (dilation minus erosion): the strokes'
  edges only, hollow digits.

:func:`unpaired_domains` splits a training set into two halves by a seeded permutation: domain A holds the images of
one half as they are, domain B the styled images of the other half, so no image of A has its counterpart in B.
Held-out test images are styled as they are (:func:`apply_style`) and keep their counterparts for scoring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genprior.data.checks import check_image_batch
from genprior.errors import InvalidValueError, unknown


def dilate(x: torch.Tensor) -> torch.Tensor:
    """3x3 grey-scale dilation (stride-1 max-pool, edges padded by the image itself): ``(B, C, H, W)``, same shape."""
    return F.max_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def erode(x: torch.Tensor) -> torch.Tensor:
    """3x3 grey-scale erosion, ``-dilate(-x)``: ``(B, C, H, W)``, same shape."""
    return -dilate(-x)


STYLES: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], str]] = {
    "thick-inverted": (lambda x: 1.0 - dilate(x), "strokes thickened by a 3x3 dilation, colours inverted"),
    "outline": (lambda x: (dilate(x) - erode(x)).clamp(0.0, 1.0), "3x3 morphological gradient: the strokes' edges"),
}


def apply_style(images: torch.Tensor, style: str) -> torch.Tensor:
    """``images`` ``(B, C, H, W)`` in [0, 1] in the style ``style`` (a key of :data:`STYLES`): same shape, in [0, 1].
    An unknown style raises ``UnknownNameError``; images that are not a batch in [0, 1] a ``ShapeError`` or
    ``InvalidValueError``."""
    if style not in STYLES:
        raise unknown("style", style, STYLES)
    check_image_batch(images, owner="apply_style")
    return STYLES[style][0](images)


@dataclass(frozen=True)
class UnpairedDomains:
    """Two training domains with no pair in common: ``a`` (images ``(N_a, C, H, W)`` as they are) and ``b`` (the
    styled images of other images, ``(N_b, C, H, W)``), their labels ``a_labels``, ``b_labels`` (for scoring only;
    CycleGAN never sees them), and the indices ``a_index``, ``b_index`` of the source images they come from."""

    style: str
    a: torch.Tensor
    b: torch.Tensor
    a_labels: torch.Tensor
    b_labels: torch.Tensor
    a_index: torch.Tensor
    b_index: torch.Tensor


def unpaired_domains(images: torch.Tensor, labels: torch.Tensor, style: str, *, seed: int = 0,
                     limit: int | None = None) -> UnpairedDomains:
    """Split ``images`` ``(N, C, H, W)`` (with ``labels`` ``(N,)``) by a permutation drawn from ``seed`` into two
    disjoint halves: domain A = the first half's images, domain B = ``apply_style`` of the second half's. ``limit``
    keeps at most that many images per domain (the first of each half). Needs at least two images."""
    if style not in STYLES:
        raise unknown("style", style, STYLES)
    check_image_batch(images, owner="unpaired_domains")
    if len(labels) != len(images):
        raise InvalidValueError(f"unpaired_domains: {len(images)} images but {len(labels)} labels")
    if len(images) < 2:
        raise InvalidValueError(f"unpaired_domains needs at least 2 images, got {len(images)}")
    if limit is not None and limit < 1:
        raise InvalidValueError(f"unpaired_domains: limit must be >= 1, got {limit}")
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    half = len(images) // 2
    a_index, b_index = perm[:half], perm[half:2 * half]
    if limit is not None:
        a_index, b_index = a_index[:limit], b_index[:limit]
    return UnpairedDomains(style, images[a_index], apply_style(images[b_index], style), labels[a_index],
                           labels[b_index], a_index, b_index)
