"""Batched Lasso (:func:`genprior.solvers.sparse.lasso`) against scikit-learn's ``Lasso`` run per image.

The CSGM reference solved each image with ``sklearn.linear_model.Lasso(alpha)`` (coordinate descent,
its default ``tol=1e-4`` and ``max_iter=1000``) on the unscaled ``N(0, 1)`` matrix ``sqrt(m) A`` and
measurements ``sqrt(m) y``; its objective ``1/(2m)||sqrt(m)(y - A Psi c)||^2 + alpha||c||_1`` is exactly
ours, ``1/2||y - A Psi c||^2 + alpha||c||_1``. The comparison is at equal objective: both solve the
same (unboxed) problem on the same measurements, and the relative gap ``(ours - sklearn) / sklearn``
is reported per image (max and mean). scikit-learn's own solution at its default tolerance is the
yardstick (it is not always converged at small m; the count of images that raised its
``ConvergenceWarning`` is reported).

Call it with one CPU thread for both sides (``torch.set_num_threads(1)``, ``OMP_NUM_THREADS=1``)
for a like-for-like comparison; this module does not change the thread settings itself.

    from benchmarks.lasso_speed import lasso_vs_sklearn
    rows = lasso_vs_sklearn(images[:300], [10, 25, 50, 100, 200, 500, 750])
"""

from __future__ import annotations

import math
import statistics
import time
import warnings

import numpy as np
import torch

from genprior.operators import Gaussian
from genprior.solvers.sparse import basis_matrix, lasso


def _sklearn_per_image(design: np.ndarray, y: np.ndarray, alpha: float, *, tol: float = 1e-4,
                       max_iter: int = 1000) -> tuple[np.ndarray, float, int]:
    """scikit-learn's ``Lasso(alpha, tol, max_iter)`` per row of ``y`` on ``sqrt(m) design`` (the reference's
    scaling; the defaults are scikit-learn's and the reference's)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    m = design.shape[0]
    x_design = math.sqrt(m) * design
    targets = math.sqrt(m) * y
    coefs = np.empty((y.shape[0], design.shape[1]))
    not_converged = 0
    start = time.perf_counter()
    for i in range(y.shape[0]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            coefs[i] = Lasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=max_iter).fit(x_design, targets[i]).coef_
        not_converged += any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return coefs, time.perf_counter() - start, not_converged


def _timed_lasso(op: Gaussian, y: torch.Tensor, *, basis: str, alpha: float):
    """One batched, unboxed float64 :func:`lasso` call on ``y``'s device and its wall time (device synchronised)."""
    sync = torch.cuda.synchronize if y.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    result = lasso(op, y, basis=basis, alpha=alpha, box=False, dtype=torch.float64)
    sync()
    return result, time.perf_counter() - start


def _objective(design: np.ndarray, y: np.ndarray, coef: np.ndarray, alpha: float) -> np.ndarray:
    return 0.5 * ((y - coef @ design.T) ** 2).sum(1) + alpha * np.abs(coef).sum(1)


def lasso_vs_sklearn(images: torch.Tensor, m_list, *, alpha: float = 0.1, basis: str = "pixel",
                     noise_std: float = 0.1, repeats: int = 3, device: str | torch.device = "cpu",
                     exact_tol: float | None = None) -> list[dict]:
    """Time the batched Lasso and scikit-learn's per-image ``Lasso`` on the CSGM protocol, per ``m``.

    ``images`` ``(B, 1, 28, 28)`` in [0, 1] (the protocol uses the first 300 MNIST test images); for
    each ``m``: ``Gaussian(m=m, noise_std=noise_std, seed=m)``, ``y = op.measure(images, seed=1)``.
    Both solve ``min_c 1/2||y - A Psi c||^2 + alpha||c||_1`` (no box: scikit-learn has none) in
    float64; the recovery of both is ``clip(Psi c, 0, 1)``.

    Both sides are timed ``repeats`` times, alternating (scikit-learn, ours, scikit-learn, ...), so that they
    share the machine's moments. ``device``: where ours runs (scikit-learn always runs on the CPU); on a GPU one
    untimed call first warms it up, and each timed call ends with a synchronisation. Returns one dict per ``m``
    with ``sklearn_seconds`` (median of the per-image loop's times), ``ours_seconds`` (median of one batched call, including building the basis and design),
    ``ratio`` (their quotient),
    ``gap_max`` / ``gap_mean`` (relative objective gap ``(ours - sklearn) / sklearn`` per image; <= 0
    means ours is at least as low), ``ours_not_lower`` (images where ours is above sklearn's by more
    than 1e-9 relative), ``sklearn_not_converged``, ``mse_sklearn`` / ``mse_ours`` (error per pixel),
    and ``ours_iterations``.

    ``exact_tol``: also time scikit-learn once more with ``tol=exact_tol`` (and ``max_iter=100000``), tight
    enough that it reaches the minimum to rounding (1e-10 does), and add ``sklearn_exact_seconds``,
    ``ratio_exact`` (the speed-up when both sides solve to the minimum) and ``gap_exact_max`` (ours against
    that solution, relative, max over images). It answers whether a tighter yardstick than scikit-learn's
    default would change the ratio; ``None`` (the default) skips it.
    """
    images = images.detach().cpu().float()
    shape = tuple(images.shape[1:])
    truth = images.flatten(1).double().numpy()
    psi = basis_matrix(basis, shape).numpy()
    device = torch.device(device)
    rows = []
    for m in m_list:
        op = Gaussian(m=int(m), shape=shape, noise_std=noise_std, seed=int(m))
        y = op.measure(images, seed=1)
        design = op.matrix().double().numpy() @ psi
        y64 = y.double().numpy()
        y_dev = y.double().to(device)
        if device.type != "cpu":
            _timed_lasso(op, y_dev, basis=basis, alpha=alpha)  # kernels, handles, caches: not part of the solve
        sk_times, our_times = [], []
        for _ in range(repeats):
            sk_coef, sk_time, not_converged = _sklearn_per_image(design, y64, alpha)
            ours, our_time = _timed_lasso(op, y_dev, basis=basis, alpha=alpha)
            our_times.append(our_time)
            sk_times.append(sk_time)
        sk_seconds, ours_seconds = statistics.median(sk_times), statistics.median(our_times)

        our_coef = ours.coef.double().cpu().numpy()
        sk_obj = _objective(design, y64, sk_coef, alpha)
        our_obj = _objective(design, y64, our_coef, alpha)
        gap = (our_obj - sk_obj) / sk_obj
        rows.append({
            "m": int(m),
            "basis": basis,
            "device": str(device),
            "images": int(images.shape[0]),
            "sklearn_seconds": sk_seconds,
            "ours_seconds": ours_seconds,
            "ratio": sk_seconds / ours_seconds,
            "repeats": repeats,
            "gap_max": float(gap.max()),
            "gap_mean": float(gap.mean()),
            "ours_not_lower": int((gap > 1e-9).sum()),
            "sklearn_not_converged": int(not_converged),
            "mse_sklearn": float(((np.clip(sk_coef @ psi.T, 0, 1) - truth) ** 2).mean()),
            "mse_ours": float(((np.clip(our_coef @ psi.T, 0, 1) - truth) ** 2).mean()),
            "ours_iterations": int(ours.iterations),
        })
        if exact_tol is not None:
            exact_coef, exact_time, _ = _sklearn_per_image(design, y64, alpha, tol=exact_tol, max_iter=100_000)
            exact_obj = _objective(design, y64, exact_coef, alpha)
            rows[-1].update({"sklearn_exact_seconds": exact_time, "ratio_exact": exact_time / ours_seconds,
                             "gap_exact_max": float(((our_obj - exact_obj) / exact_obj).max())})
    return rows


if __name__ == "__main__":  # pragma: no cover - a quick look from the command line
    import argparse
    import json

    from genprior.data import load_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, nargs="+", default=[10, 25, 50, 100, 200, 500, 750])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--basis", default="pixel")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="where ours runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    imgs = load_dataset("mnist-bundled").images[:args.images]
    for row in lasso_vs_sklearn(imgs, args.m, basis=args.basis, device=args.device):
        print(json.dumps(row))
