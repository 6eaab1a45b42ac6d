"""Which machine a benchmark's numbers come from: sessions and CI land on different CPUs, and ratios move with them."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

from genprior.devices import bfloat16_units


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux, else ``platform``), its family, model and clock where
    ``/proc/cpuinfo`` gives them (a virtual machine may report only ``"AMD EPYC"`` for CPUs whose GEMM rates differ
    2x), and the bfloat16 matrix units torch finds on it (``AMX``, ``AVX-512 BF16``), e.g. ``"AMD EPYC, family 25
    model 17, 2.6 GHz (AVX-512 BF16)"``. Read once per process."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            key = key.strip()
            if sep and key in ("model name", "cpu family", "model", "cpu MHz"):
                fields.setdefault(key, value.strip())
            elif not line.strip() and fields:
                break  # the first processor's block is enough
    except OSError:
        pass
    parts = [fields.get("model name") or platform.processor() or platform.machine()]
    if fields.get("cpu family") and fields.get("model"):
        parts.append(f"family {fields['cpu family']} model {fields['model']}")
    try:
        parts.append(f"{float(fields['cpu MHz']) / 1000:.1f} GHz")
    except (KeyError, ValueError):
        pass
    name = ", ".join(parts)
    units = bfloat16_units()
    return f"{name} ({', '.join(units)})" if units else name
