"""Solvers: latent-space recovery (CSGM), sparse baselines (Lasso) and the hybrid prior (Sparse-Gen)."""

from genprior.solvers.hybrid import HybridRecovery, hybrid
from genprior.solvers.latent import LatentRecovery, csgm, csgm_fast
from genprior.solvers.sparse import (
    ALPHA_GRID,
    BASES,
    SparseRecovery,
    basis_matrix,
    lasso,
    select_alpha,
)

__all__ = ["ALPHA_GRID", "BASES", "HybridRecovery", "LatentRecovery", "SparseRecovery", "basis_matrix", "csgm", "csgm_fast", "hybrid", "lasso", "select_alpha"]
