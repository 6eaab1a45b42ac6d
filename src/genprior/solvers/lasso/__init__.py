"""Sparse-recovery baselines: the Lasso (Tibshirani 1996) in the pixel, DCT or Haar-wavelet basis.

For every row ``y`` of a batch of measurements ``(B, m)`` of a linear operator ``A`` (``m x n``) :func:`lasso` solves

    min_c  1/2 ||y - A Psi c||_2^2 + alpha ||c||_1,        x_hat = clip(Psi c, 0, 1),

with ``Psi`` (``n x n``) an orthonormal basis whose columns are the basis vectors (``x = Psi c``, ``c = Psi^T x``)
and, in the pixel basis, optionally the box ``0 <= c <= 1``. With ``A_ij ~ N(0, 1/m)`` this is the CSGM
reference's problem (scikit-learn's ``Lasso(alpha)`` on the unscaled ``N(0, 1)`` matrix), so ``alpha = 0.1`` means
what it meant there; it is ``m`` times scikit-learn's ``Lasso(alpha / m, fit_intercept=False)`` objective on design
``A Psi``.

Solvers, all batched over the rows: FISTA with adaptive restart (:mod:`~genprior.solvers.lasso.fista`), the exact
homotopy path (:mod:`~genprior.solvers.lasso.homotopy`), float32 ADMM that finds each row's support followed by
exact float64 solves on it (:mod:`~genprior.solvers.lasso.polish`); ``solver="auto"`` picks one per problem
(:func:`lasso`). :mod:`~genprior.solvers.lasso.checks` holds the optimality conditions and design tests they share,
:mod:`~genprior.solvers.lasso.bases` the bases, :mod:`~genprior.solvers.lasso.constants` every tuning constant.

``genprior.solvers`` re-exports the function :func:`lasso` under this package's name, so the attribute
``genprior.solvers.lasso`` is the function: import the modules with ``from genprior.solvers.lasso import polish``
(``import genprior.solvers.lasso.polish as polish`` and dotted patch targets resolve through the function and fail).
"""

from genprior.solvers.lasso.bases import BASES, basis_matrix, haar_level
from genprior.solvers.lasso.constants import ALPHA_GRID
from genprior.solvers.lasso.solve import SOLVERS, SparseRecovery, lasso, select_alpha

__all__ = ["ALPHA_GRID", "BASES", "SOLVERS", "SparseRecovery", "basis_matrix", "haar_level", "lasso", "select_alpha"]
