"""Where computations run: :func:`pick_device` turns a name (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``,
``"mps"``) into a ``torch.device``, with a clear error where that device is not there; :func:`bfloat16_units` names
the CPU's fast bfloat16 matrix units."""

from __future__ import annotations

import torch
from torch import nn

from genprior.errors import InvalidValueError, unknown

DEVICE_NAMES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"``: the first CUDA GPU when torch sees one, else the CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
    ``"mps"``: that device. Raises ``InvalidValueError`` for a device this machine does not have, and
    ``UnknownNameError`` for any other name."""
    text = str(name).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InvalidValueError("device 'mps' was asked for, but torch sees no Apple GPU (use --device cpu)")
        return torch.device("mps")
    kind, _, index = text.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise unknown("device", str(name), DEVICE_NAMES)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise InvalidValueError(f"device {name!r} was asked for, but torch sees no CUDA GPU "
                                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}; use --device cpu)")
    if index and int(index) >= count:
        raise InvalidValueError(f"device {name!r} was asked for, but torch sees {count} CUDA GPU(s): cuda:0..cuda:{count - 1}")
    return torch.device(text)


def device_of(module) -> torch.device:
    """The device of ``module``'s first parameter; the CPU for a module without parameters or a plain callable."""
    for p in module.parameters() if isinstance(module, nn.Module) else ():
        return p.device
    return torch.device("cpu")


def bfloat16_units() -> list[str]:
    """The CPU's bfloat16 matrix units that torch reports: ``"AMX"`` (tiles), ``"AVX-512 BF16"``; empty if none."""
    cpu = getattr(torch, "cpu", None)
    return [label for label, check in (("AMX", "_is_amx_tile_supported"), ("AVX-512 BF16", "_is_avx512_bf16_supported"))
            if callable(getattr(cpu, check, None)) and getattr(cpu, check)()]
