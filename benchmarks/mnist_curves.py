"""What the error-vs-m scripts beyond the CSGM MNIST table share: their options and the MNIST images they measure."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch

from genprior.data import load_dataset


def curve_options(doc: str, *, n_images: int, m_list: Sequence[int], out: Path) -> argparse.Namespace:
    """``--n-images``, ``--m``, ``--data-dir`` and ``--out`` with the script's defaults, parsed."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--n-images", type=int, default=n_images)
    p.add_argument("--m", type=int, nargs="*", default=list(m_list))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=str(out))
    return p.parse_args()


def first_test_images(options: argparse.Namespace) -> torch.Tensor:
    """The first ``--n-images`` MNIST test images ``(N, 1, 28, 28)`` in [0, 1]."""
    return load_dataset("mnist", "test", data_dir=options.data_dir).images[: options.n_images]


def curve_table(curves: dict[str, list[dict]], ms: Sequence[int], cell) -> str:
    """A Markdown table of ``curves`` (method -> points with an ``m``), a row per method and a column per m of
    ``ms``, each cell ``cell(point)``."""
    from genprior.reports import markdown_table

    return markdown_table([{"method": k, **{f"m={p['m']}": cell(p) for p in pts}} for k, pts in curves.items()],
                          ["method", *[f"m={m}" for m in ms]])
