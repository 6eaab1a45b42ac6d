"""Looking inside a classifier: gradient saliency (Simonyan, Vedaldi & Zisserman 2014, Sec. 3.1:
``M_ij = max_c |d f_c / d x_cij|``), occlusion sensitivity (Zeiler & Fergus 2014, Sec. 4.2), and PNG figures
(overlays, adversarial-example grids: clean / perturbation x10 / adversarial, with predictions)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from genprior.errors import InvalidValueError
from genprior.plotting import pyplot, save_figure
from genprior.progress import progress_bar
from genprior.robust.attacks._common import as_targets, check_images

Model = Callable[[torch.Tensor], torch.Tensor]


def _classes(model: Model, x: torch.Tensor, target: torch.Tensor | int | None) -> torch.Tensor:
    if target is None:
        with torch.no_grad():
            return model(x).argmax(1)
    return as_targets(target, x)


def saliency(model: Model, x: torch.Tensor, target: torch.Tensor | int | None = None) -> torch.Tensor:
    """``|d f_c(x) / d x|`` (max over channels), ``(B, H, W)``, for class ``c = target`` (default: the prediction).

    ``f_c`` is the class logit (the pre-softmax score, as in Simonyan et al.).
    """
    check_images(x, model=model)
    c = _classes(model, x, target)
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        scores = model(x).gather(1, c[:, None]).sum()
        (grad,) = torch.autograd.grad(scores, x)
    return grad.abs().amax(1)


@torch.no_grad()
def occlusion(model: Model, x: torch.Tensor, target: torch.Tensor | int | None = None, *, size: int = 6,
              stride: int = 2, fill: float = 0.0, batch_size: int = 2048, progress: bool = False) -> torch.Tensor:
    """Occlusion sensitivity: drop in ``p(c | x)`` when a ``size x size`` square is set to ``fill`` (``progress``: a
    bar over the squares).

    Returns ``(B, (H - size) // stride + 1, (W - size) // stride + 1)``; entry ``(b, i, j)`` is for the square
    with top-left corner ``(i * stride, j * stride)``. Large positive values mark evidence for class ``c``.
    """
    check_images(x, model=model)
    b, _, h, w = x.shape
    if not (1 <= size <= min(h, w)) or stride < 1:
        raise InvalidValueError(f"occlusion needs 1 <= size <= {min(h, w)} and stride >= 1, got {size}, {stride}")
    c = _classes(model, x, target)
    p0 = F.softmax(model(x), 1).gather(1, c[:, None])[:, 0]
    ys, xs = range(0, h - size + 1, stride), range(0, w - size + 1, stride)
    corners = [(i, j) for i in ys for j in xs]
    drops = torch.empty(b, len(corners), device=x.device)
    per = max(1, batch_size // b)
    bar = progress_bar(total=len(corners), desc="occlusion", enabled=progress, leave=False)
    for s in range(0, len(corners), per):
        chunk = corners[s:s + per]
        occluded = x.unsqueeze(0).repeat(len(chunk), 1, 1, 1, 1)  # (P, B, C, H, W)
        for k, (i, j) in enumerate(chunk):
            occluded[k, :, :, i:i + size, j:j + size] = fill
        p = F.softmax(model(occluded.flatten(0, 1)), 1).view(len(chunk), b, -1)
        drops[:, s:s + len(chunk)] = (p0[None] - p.gather(2, c[None, :, None].expand(len(chunk), b, 1))[..., 0]).T
        bar.update(len(chunk))
    bar.close()
    return drops.view(b, len(ys), len(xs))


def upsample(maps: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of maps ``(B, h, w)`` to ``(B, *shape)`` (for overlays of occlusion maps)."""
    return F.interpolate(maps[:, None], size=shape, mode="bilinear", align_corners=False)[:, 0]


def save_overlays(path: str | Path, images: torch.Tensor, maps: torch.Tensor, *, titles: list[str] | None = None,
                  cmap: str = "jet", alpha: float = 0.5, signed: bool = False) -> Path:
    """PNG: each image ``(B, 1, H, W)`` in grey, above it the same image with ``maps`` ``(B, h, w)`` overlaid."""
    plt = pyplot()
    b = images.shape[0]
    images, maps = images.detach().cpu(), maps.detach().cpu()
    maps = upsample(maps.float(), tuple(images.shape[-2:])) if maps.shape[-2:] != images.shape[-2:] else maps
    fig, axes = plt.subplots(2, b, figsize=(1.5 * b, 3.2), squeeze=False)
    for k in range(b):
        img = images[k, 0].numpy()
        m = maps[k].numpy()
        axes[0, k].imshow(img, cmap="gray", vmin=0, vmax=1)
        axes[1, k].imshow(img, cmap="gray", vmin=0, vmax=1)
        lim = max(abs(m.min()), abs(m.max()), 1e-12)
        axes[1, k].imshow(m, cmap="RdBu_r" if signed else cmap, alpha=alpha,
                          vmin=-lim if signed else m.min(), vmax=lim if signed else m.max())
        if titles:
            axes[0, k].set_title(titles[k], fontsize=8)
        for a in axes[:, k]:
            a.axis("off")
    return save_figure(fig, path, dpi=100)


def save_adversarial_grid(path: str | Path, model: Model, clean: torch.Tensor, adversarial: torch.Tensor, *,
                          labels: torch.Tensor | None = None, title: str = "") -> Path:
    """PNG grid: rows clean / perturbation x10 (mid-grey = 0) / adversarial, each with prediction and confidence."""
    plt = pyplot()
    with torch.no_grad():
        pc, pa = F.softmax(model(clean), 1).cpu(), F.softmax(model(adversarial), 1).cpu()
    clean, adversarial = clean.detach().cpu(), adversarial.detach().cpu()
    b = clean.shape[0]
    fig, axes = plt.subplots(3, b, figsize=(1.3 * b, 4.4), squeeze=False)
    pert = (0.5 + 10 * (adversarial - clean)).clamp(0, 1)
    for k in range(b):
        for r, (img, probs) in enumerate(((clean, pc), (pert, None), (adversarial, pa))):
            ax = axes[r, k]
            ax.imshow(img[k, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
            if probs is not None:
                conf, pred = probs[k].max(0)
                wrong = labels is not None and int(pred) != int(labels[k])
                ax.set_title(f"{int(pred)} ({conf:.2f})", fontsize=8, color="red" if wrong else "black")
        if k == 0:
            for r, name in enumerate(("clean", "pert. x10", "adversarial")):
                axes[r, 0].text(-3, 14, name, rotation=90, va="center", ha="right", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, dpi=100)


def save_image_rows(path: str | Path, rows: list[tuple[str, torch.Tensor]], *, captions: list[list[str]] | None = None,
                    title: str = "") -> Path:
    """PNG: one row per ``(name, images (B, 1, H, W) in [0, 1])``; ``captions[r][k]`` above each cell."""
    plt = pyplot()
    b = rows[0][1].shape[0]
    fig, axes = plt.subplots(len(rows), b, figsize=(1.3 * b, 1.5 * len(rows)), squeeze=False)
    for r, (name, imgs) in enumerate(rows):
        for k in range(b):
            ax = axes[r, k]
            ax.imshow(imgs[k, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
            if captions and captions[r]:
                ax.set_title(captions[r][k], fontsize=8)
        axes[r, 0].text(-3, imgs.shape[-2] / 2, name, rotation=90, va="center", ha="right", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, dpi=100)
