"""PNG figures: image grids (truth / measurement / recoveries) and error-vs-m curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from genprior.plotting import pyplot, save_figure


def save_image_grid(path: str | Path, rows: Mapping[str, torch.Tensor | None], *, max_images: int = 10,
                    title: str | None = None) -> Path:
    """One row per entry of ``rows`` (label -> images ``(B, C, H, W)`` in [0, 1]; ``None`` rows are skipped)."""
    plt = pyplot()
    rows = {k: v.detach().float().cpu().clamp(0, 1) for k, v in rows.items() if v is not None}
    cols = min(max_images, min(v.shape[0] for v in rows.values()))
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * 1.0 + 1.6, len(rows) * 1.05), squeeze=False)
    for r, (label, imgs) in enumerate(rows.items()):
        for c in range(cols):
            ax = axes[r][c]
            img = imgs[c]
            ax.imshow((img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def save_curves(path: str | Path, curves: Mapping[str, Sequence[dict]], *, x: str = "m", y: str = "mse_per_pixel",
                err: str | None = "mse_se", xlabel: str = "number of measurements m", ylabel: str = "error per pixel",
                logy: bool = True, title: str | None = None, references: Mapping[str, Sequence[tuple]] | None = None) -> Path:
    """Error-vs-m curves with 1.96 s.e. bars; ``references`` adds dashed curves (label -> [(x, y), ...])."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, pts in curves.items():
        xs = [p[x] for p in pts]
        ys = [p[y] for p in pts]
        es = [1.96 * p[err] for p in pts] if err else None
        ax.errorbar(xs, ys, yerr=es, marker="o", ms=3, capsize=2, label=label)
    for label, pts in (references or {}).items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "--", marker="x", ms=4, alpha=0.7, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def histogram_range(*scores: torch.Tensor) -> tuple[float, float, str]:
    """The x range ``(lo, hi, note)`` of histograms of ``scores`` (1-d tensors) on shared bins: their min and max,
    except that a long tail (beyond the 0.5 / 99.5 % quantiles by more than the spread between them) is cut at the
    quantile, its values to be gathered in the end bin; ``note`` says which (empty if none)."""
    both = torch.cat([torch.as_tensor(s, dtype=torch.float64).detach().cpu().flatten() for s in scores])
    lo, hi = float(both.min()), float(both.max())
    q_lo, q_hi = (float(q) for q in torch.quantile(both, torch.tensor([0.005, 0.995], dtype=torch.float64)))
    spread, gathered = q_hi - q_lo, []
    if lo < q_lo - spread:
        lo = q_lo
        gathered.append(f"below {q_lo:.4g}")
    if hi > q_hi + spread:
        hi = q_hi
        gathered.append(f"above {q_hi:.4g}")
    return lo, hi, f"end bins hold the values {' and '.join(gathered)}" if gathered else ""


def save_score_histograms(path: str | Path, panels: Mapping[str, tuple[torch.Tensor, torch.Tensor] | None], *,
                          labels: tuple[str, str] = ("in distribution", "out of distribution"), ncol: int = 4,
                          title: str | None = None) -> Path:
    """One histogram panel per entry of ``panels`` (title -> (scores of the first set, of the second), 1-d), the
    two sets overlaid on shared bins, ``ncol`` panels a row (a ``None`` entry leaves its place blank); for
    out-of-distribution scores, how far apart the two piles lie. A long tail (beyond the 0.5 / 99.5 % quantiles of
    both sets by more than their spread) is gathered into the end bin, and the x label says so."""
    plt = pyplot()
    ncol = min(ncol, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.0 * ncol, 2.4 * nrow), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (name, pair) in zip(axes.flat, panels.items()):
        if pair is None:
            ax.axis("off")
            continue
        a, b = pair
        a, b = (torch.as_tensor(s, dtype=torch.float64).detach().cpu().flatten() for s in (a, b))
        lo, hi, note = histogram_range(a, b)
        a, b = (s.clamp(lo, hi).numpy() for s in (a, b))
        bins = torch.linspace(lo, hi if hi > lo else lo + 1, 41).numpy()
        if note:
            ax.set_xlabel(note, fontsize=6)
        ax.hist(a, bins=bins, alpha=0.55, label=labels[0])
        ax.hist(b, bins=bins, alpha=0.55, label=labels[1])
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
