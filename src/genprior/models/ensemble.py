"""Several generators used as one prior: :func:`genprior.solvers.hybrid` runs its restarts through each member and
ranks and averages all of them together (an ensemble of independently trained decoders has a larger range and
less idiosyncratic error than any one of them)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genprior.errors import GeneratorError


class GeneratorEnsemble(nn.Module):
    """``members``: generators with one ``latent_dim`` and one ``output_shape``. Not a generator itself: it has
    no single forward map, so the one-generator solvers (``csgm``, ``csgm_fast``) refuse it."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        members = list(members)
        if not members:
            raise GeneratorError("an ensemble needs at least one generator")
        dims = {getattr(g, "latent_dim", None) for g in members}
        shapes = {tuple(getattr(g, "output_shape", ())) for g in members}
        if len(dims) != 1 or None in dims:
            raise GeneratorError(f"ensemble members need one latent_dim, got {sorted(map(str, dims))}")
        if len(shapes) != 1:
            raise GeneratorError(f"ensemble members need one output_shape, got {sorted(shapes)}")
        self.members = nn.ModuleList(members)
        self.latent_dim = dims.pop()
        self.output_shape = shapes.pop()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        raise GeneratorError("a generator ensemble has no single forward map: use it with the hybrid solver "
                             "(genprior recover --method hybrid), or pick one member")


__all__ = ["GeneratorEnsemble"]
