"""genprior: deep generative models as working tools.

Subpackages follow one direction of dependency:
``data, models, operators`` <- ``solvers, train, theory`` <- ``evaluate, robust`` <- ``reports, cli, web``.

``import genprior as gp`` is cheap (it does not import torch): each submodule is imported on first access, as in
``gp.operators.Gaussian`` or ``gp.solvers.csgm``.
"""

from __future__ import annotations

import importlib
import os

from genprior.errors import GenpriorError

__version__ = "0.1.0"  # the one place of the version: pyproject.toml reads it (tool.setuptools.dynamic)
__all__ = ["GenpriorError", "__version__"]

# the public submodules: every module and subpackage of this folder whose name does not start with "_"
_SUBMODULES = frozenset(
    entry.name.removesuffix(".py") for entry in os.scandir(os.path.dirname(__file__))
    if not entry.name.startswith(("_", "."))
    and (entry.name.endswith(".py") or os.path.isfile(os.path.join(entry.path, "__init__.py"))))


def __getattr__(name: str):
    """``genprior.NAME`` for a submodule NAME not imported yet: import it (and keep it, as ``import`` does)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
