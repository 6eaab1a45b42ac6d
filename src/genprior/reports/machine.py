"""Which machine a benchmark's numbers come from: sessions and CI land on different CPUs, and ratios move with them."""

from __future__ import annotations

import platform
from pathlib import Path

import torch


def cpu_name() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux, else ``platform``), with the bfloat16 matrix units
    torch finds on it (``AMX``, ``AVX-512 BF16``), e.g. ``"AMD EPYC (AVX-512 BF16)"``."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    cpu = getattr(torch, "cpu", None)
    units = [label for label, check in (("AMX", "_is_amx_tile_supported"), ("AVX-512 BF16", "_is_avx512_bf16_supported"))
             if callable(getattr(cpu, check, None)) and getattr(cpu, check)()]
    return f"{name} ({', '.join(units)})" if units else name
