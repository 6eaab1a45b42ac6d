"""Build a model from the ``architecture`` dict stored in its JSON config."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from genprior.errors import CheckpointError

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register(family: str):
    """Class decorator / function registering a builder under ``family``."""

    def deco(builder):
        _BUILDERS[family] = builder
        return builder

    return deco


def build_model(architecture: dict) -> nn.Module:
    """Instantiate ``architecture['family']`` with the remaining keys as keyword arguments."""
    _register_builtin()
    if not isinstance(architecture, dict):
        raise CheckpointError(f"a config's 'architecture' must be a JSON object, not {type(architecture).__name__}")
    arch = dict(architecture)
    family = arch.pop("family", None)
    if not isinstance(family, str) or family not in _BUILDERS:
        raise CheckpointError(f"config names unknown model family {family!r}; known: {', '.join(sorted(_BUILDERS))}")
    try:
        return _BUILDERS[family](**arch)
    except (TypeError, ValueError, OverflowError, RuntimeError) as e:
        # wrong names, types or sizes (a string for a width, a size too large to allocate)
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"config for model family {family!r} has bad arguments ({message})") from None


def _register_builtin() -> None:
    if _BUILDERS:
        return
    # imported here, not at the top: these modules import this one (register); the calls set the order of names()
    from genprior.models.began import register_families as began_families
    from genprior.models.classifier import Classifier
    from genprior.models.pack import register_families as pack_families
    from genprior.models.pca import PCAGenerator
    from genprior.models.vae import VAE

    register("vae")(VAE)
    pack_families(register)
    register("classifier")(Classifier)
    began_families(register)
    register("pca")(PCAGenerator)
