"""Judging a generator by what it can reach: closest reconstructions and nearest training neighbours.

Dimakis' deck (000, "Problem 3: how to evaluate a generator"): *given a natural image, show me the closest
reconstruction* -- ``min_z ||G(z) - x||^2`` over held-out images tells whether the generator's range spans the
real images (the error an inverse problem can never get below), which sample-quality scores cannot. The same deck
warns that good-looking samples may be memorised training images; :func:`memorization` compares how close the
samples lie to the training set with how close unseen real images do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genprior.data.checks import check_image_batch
from genprior.errors import InvalidValueError, ShapeError, unknown
from genprior.evaluate.recovery import schedule
from genprior.operators import Identity
from genprior.solvers.latent import csgm, csgm_fast
from genprior.solvers.lp import invert_layerwise

INVERSION_METHODS = ("csgm-fast", "csgm", "lp")


@dataclass
class Inversion:
    """Latents ``z`` ``(N, k)`` found for ``N`` images and their images ``x = G(z)`` ``(N, C, H, W)``; for the
    ``lp`` method also its certificate, ``certified`` and ``unique`` ``(N,)`` bool (see
    :class:`genprior.solvers.lp.LPInversion`), None for the descent methods."""

    z: torch.Tensor
    x: torch.Tensor
    certified: torch.Tensor | None = None
    unique: torch.Tensor | None = None


def invert(generator, images: torch.Tensor, *, method: str = "csgm-fast", restarts: int | None = None,
           steps: int | None = None, lr: float | None = None, seed: int = 0, progress: bool = False) -> Inversion:
    """``z_hat = argmin_z ||G(z) - x||^2`` for ``images`` ``(N, C, H, W)`` in [0, 1].

    ``method``: ``csgm-fast`` (screened Adam + Levenberg-Marquardt, 40 restarts screened to 12 unless ``restarts``
    says otherwise; the default), ``csgm`` (``restarts`` x ``steps`` Adam steps at ``lr``; defaults 10 x 1000 at
    0.01), or ``lp`` (the layer-wise LP of :func:`genprior.solvers.lp.invert_layerwise`: exact for expansive ReLU
    MLPs, refused for other architectures). The latent methods solve a noiseless denoising problem.
    """
    if method not in INVERSION_METHODS:
        raise unknown("inversion method", method, INVERSION_METHODS)
    images = check_image_batch(images, owner="invert")
    if not hasattr(generator, "output_shape") or tuple(generator.output_shape) != tuple(images.shape[1:]):
        raise ShapeError(f"the generator makes images of shape {tuple(getattr(generator, 'output_shape', ()))}, "
                         f"the images have {tuple(images.shape[1:])}")
    unused = [name for name, v in (("restarts", restarts), ("steps", steps), ("lr", lr)) if v is not None
              and not (method == "csgm" or (method == "csgm-fast" and name == "restarts"))]
    if unused:
        raise InvalidValueError(f"method {method} does not take {', '.join(unused)}")
    if method == "lp":
        res = invert_layerwise(generator, images, progress=progress)
        return Inversion(res.z, res.x.view_as(images), certified=res.certified, unique=res.unique)
    op = Identity(shape=tuple(images.shape[1:])).to(images.device)
    starts = {} if restarts is None else {"restarts": restarts}
    if method == "csgm-fast":
        res = csgm_fast(generator, op, op(images), seed=seed, progress=progress, **starts)
    else:
        res = csgm(generator, op, op(images), seed=seed, progress=progress, **starts,
                   **schedule("csgm", steps=steps, lr=lr))
    return Inversion(res.z, res.x)


def closest_reconstruction(generator, images: torch.Tensor, **options) -> torch.Tensor:
    """The closest image ``G(z_hat)`` ``(N, C, H, W)`` the generator makes to each of ``images``: :func:`invert`'s
    ``x`` (same options)."""
    return invert(generator, images, **options).x


def nearest_neighbours(queries: torch.Tensor, references: torch.Tensor, *,
                       chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Each query's nearest reference in squared l2 per pixel: ``(distances (N,), indices (N,))``.

    ``queries`` ``(N, C, H, W)`` and ``references`` ``(M, C, H, W)`` of one image shape, on the CPU. The products
    are float32 (a 1e-4 absolute error on a 784-pixel distance, far below the gaps between MNIST neighbours).
    """
    if queries.dim() != 4 or references.dim() != 4 or queries.shape[1:] != references.shape[1:] or not len(references):
        raise ShapeError(f"queries (N, C, H, W) and non-empty references (M, C, H, W) must share an image shape, got "
                         f"{tuple(queries.shape)} and {tuple(references.shape)}")
    q = queries.flatten(1).float().cpu()
    r = references.flatten(1).float().cpu()
    r2 = (r ** 2).sum(1)
    dist, idx = [], []
    for part in q.split(chunk):
        d = ((part ** 2).sum(1, keepdim=True) - 2 * part @ r.T + r2).clamp(min=0)  # (n, M)
        best, where = d.min(1)
        dist.append(best.double() / q.shape[1])
        idx.append(where)
    return torch.cat(dist), torch.cat(idx)


def memorization(samples: torch.Tensor, train: torch.Tensor, held_out: torch.Tensor) -> dict:
    """How much closer the generator's ``samples`` lie to the ``train`` images than unseen real images do.

    All ``(N, C, H, W)`` in [0, 1] (``held_out``: real images of the same distribution the model never saw, e.g.
    the test split). Returns medians of the per-pixel squared distance to the nearest training image for both sets,
    their ratio ``samples / held_out`` (well below 1: samples hug training images more closely than new real images
    do, a sign of copying; near or above 1: no sign of it), and the share of samples closer to a training image than
    the 1st percentile of the held-out images' distances (a near-copy rate; about 0.01 when nothing is copied).
    """
    d_samples, _ = nearest_neighbours(samples, train)
    d_real, _ = nearest_neighbours(held_out, train)
    near = torch.quantile(d_real, 0.01)
    med_s, med_r = float(d_samples.median()), float(d_real.median())
    return {"samples_median": med_s, "held_out_median": med_r, "ratio": med_s / med_r if med_r > 0 else float("inf"),
            "near_copy_share": float((d_samples < near).double().mean()), "near_copy_threshold": float(near)}
