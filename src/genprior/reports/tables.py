"""Tables as Markdown, and the JSON + Markdown pair every benchmark and command writes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genprior.io import atomic_write_text, write_json


def format_value(v: float, digits: int = 4) -> str:
    """``v`` with ``digits`` decimals, or in scientific notation with three significant digits (``1.20e-05``) when
    ``0 < |v| < 1e-3`` or ``|v| >= 1e5``, so that a small error never prints as ``0.0000``; ``nan`` as ``"nan"``."""
    v = float(v)
    if math.isnan(v):
        return "nan"
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.2e}"
    return f"{v:.{digits}f}"


def format_mean_ci(mean: float, halfwidth: float, digits: int = 4) -> str:
    """``"mean ± halfwidth"``, the mean by :func:`format_value`; the half-width in the mean's notation where that
    shows it (``0.0075 ± 0.0004``, ``3.00e-05 ± 2.00e-06``), in scientific notation where ``digits`` decimals
    would round it to zero (``0.0062 ± 4.00e-05``)."""
    shown = format_value(mean, digits)
    fixed = "e" not in shown and shown != "nan"
    if fixed and abs(float(halfwidth)) >= 0.5 * 10.0 ** -digits:
        return f"{shown} ± {float(halfwidth):.{digits}f}"
    return f"{shown} ± {format_value(halfwidth, digits)}"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return format_value(v, 4 if math.isnan(v) or abs(v) < 10 else 2)
    return "" if v is None else str(v)


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """A GitHub Markdown table of ``rows`` (dicts); ``columns`` picks and orders the keys."""
    columns = list(columns or (rows[0].keys() if rows else []))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_report(stem: str | Path, data: Any, markdown: str) -> tuple[Path, Path]:
    """Write ``stem.json`` and ``stem.md`` atomically; returns both paths."""
    stem = Path(stem)
    write_json(stem.with_suffix(".json"), data)
    atomic_write_text(stem.with_suffix(".md"), markdown)
    return stem.with_suffix(".json"), stem.with_suffix(".md")
