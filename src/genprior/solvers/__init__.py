"""Solvers: latent-space recovery (CSGM) and sparse baselines (Lasso)."""

from genprior.solvers.latent import LatentRecovery, csgm, csgm_fast
from genprior.solvers.sparse import BASES, SparseRecovery, basis_matrix, lasso, select_alpha

__all__ = ["BASES", "LatentRecovery", "SparseRecovery", "basis_matrix", "csgm", "csgm_fast", "lasso", "select_alpha"]
