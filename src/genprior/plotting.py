"""Lowest-level picture helpers shared by training, robustness and reports: a headless pyplot,
atomic PNG writes of figures and of tiled image arrays.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch

from genprior.io import atomic_write_bytes


def pyplot():
    """matplotlib.pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, *, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG atomically and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def tile_images(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """Tile ``(B, C, H, W)`` images in [0, 1] into a uint8 array ``(H', W')`` (grey) or ``(H', W', 3)``."""
    x = images.detach().float().cpu().clamp(0, 1)
    b, c, h, w = x.shape
    if c not in (1, 3):
        x = x[:, :1] if c < 3 else x[:, :3]
        c = x.shape[1]
    rows = math.ceil(b / nrow)
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(b):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = x[i]
    arr = (grid.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    return arr[..., 0] if c == 1 else arr


def save_tiled(path: str | Path, images: torch.Tensor, nrow: int = 8) -> Path:
    """Write ``tile_images(images, nrow)`` as a PNG atomically."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(tile_images(images, nrow)).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
