"""Every tuning constant of the Lasso solvers, each with what it controls and where it was chosen.

None of them changes a result the optimality checks accept; they decide which solver runs and how soon it hands
over. Measurements behind them: ``docs/tuning.md`` (section "Lasso").
"""

from __future__ import annotations

# select_alpha's default grid: the CSGM reference's 0.1 and below it, half a decade apart (held-out MNIST digits
# choose across all of it with the task, the basis and m)
ALPHA_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)

# solve.lasso, solver="auto" without the box: the homotopy when n >= HOMOTOPY_MAX_RATIO * m, else polish (the
# crossover measured on 784-pixel MNIST is m = 63)
HOMOTOPY_MAX_RATIO = 12.5
# solve.lasso: polish's ADMM iterations before the rows not yet accepted go to float64 FISTA
POLISH_MAX_ITER = 2000

# homotopy: forms D_A d_A from the gathered active columns when n >= HOMOTOPY_GATHER_RATIO * m (else a dense product)
HOMOTOPY_GATHER_RATIO = 16

# polish: ADMM's rho = ADMM_RHO_SCALE * min(m / n, 1) * tr(D^T D) / n (chosen on MNIST test images 300..499)
ADMM_RHO_SCALE = 0.8
# polish: singular solves on a row's settled supports before it hands the row to float64 FISTA
GIVE_UP_SINGULAR = 3
# polish: checks with settled signs on more than m coordinates before the same hand-over
GIVE_UP_OVERSIZE = 15
# polish: the rows left after TAIL_FACTOR x the iterations that accepted half the rows go to the homotopy...
TAIL_FACTOR = 3
# ...when n >= TAIL_MIN_RATIO * m (a short path); with more measurements ADMM finishes them sooner
TAIL_MIN_RATIO = 4
# polish: applies (G + rho I)^{-1} through the m x m Woodbury factor when n > FACTORED_RATIO * m (fewer flops)
FACTORED_RATIO = 2.0
# polish: with fast bfloat16 products, ADMM's product is exact (float32) every BFLOAT16_RESYNC-th iteration only
BFLOAT16_RESYNC = 10

__all__ = ["ADMM_RHO_SCALE", "ALPHA_GRID", "BFLOAT16_RESYNC", "FACTORED_RATIO", "GIVE_UP_OVERSIZE", "GIVE_UP_SINGULAR",
           "HOMOTOPY_GATHER_RATIO", "HOMOTOPY_MAX_RATIO", "POLISH_MAX_ITER", "TAIL_FACTOR", "TAIL_MIN_RATIO"]
