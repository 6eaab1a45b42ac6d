"""Tables as Markdown, and the JSON + Markdown pair every benchmark and command writes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genprior.io import atomic_write_text, write_json


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.2e}"
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
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
