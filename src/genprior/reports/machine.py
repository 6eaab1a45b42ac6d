"""Which machine a benchmark's numbers come from: sessions and CI land on different CPUs, and ratios move with them."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

from genprior.solvers.lasso_polish import bfloat16_units


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux, else ``platform``), with the bfloat16 matrix units
    torch finds on it (``AMX``, ``AVX-512 BF16``), e.g. ``"AMD EPYC (AVX-512 BF16)"``. Read once per process."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    units = bfloat16_units()
    return f"{name} ({', '.join(units)})" if units else name
