"""Solvers: latent-space recovery (CSGM), layer-wise LP inversion, sparse baselines (Lasso), the hybrid prior
(Sparse-Gen), the Deep Image Prior, one-bit compressed sensing (a generative prior and BIHT), and guided
recovery (CSGM plus a classifier's log-likelihood of a target class)."""

from genprior.solvers.dip import DIPRecovery, deep_image_prior
from genprior.solvers.guided import GuidedEdit, guided
from genprior.solvers.hybrid import HybridRecovery, hybrid
from genprior.solvers.lasso import (
    ALPHA_GRID,
    BASES,
    SparseRecovery,
    basis_matrix,
    lasso,
    select_alpha,
)
from genprior.solvers.latent import LatentRecovery, csgm, csgm_fast
from genprior.solvers.lp import LPInversion, invert_layerwise, invert_one_layer
from genprior.solvers.one_bit import biht, one_bit_csgm

__all__ = ["ALPHA_GRID", "BASES", "DIPRecovery", "GuidedEdit", "HybridRecovery", "LPInversion", "LatentRecovery", "SparseRecovery",
           "basis_matrix", "biht", "csgm", "csgm_fast", "deep_image_prior", "guided", "hybrid", "invert_layerwise", "invert_one_layer",
           "lasso", "one_bit_csgm", "select_alpha"]
