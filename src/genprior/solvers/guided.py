"""Guided recovery: approximate the measured image on the generator's range, but move it toward a class.

    z_hat = argmin_z ||y - A(G(z))||^2 + lam ||z||^2 - weight * log p_classifier(target | G(z)),   x_hat = G(z_hat)

(the lecture deck 003's "approximate x, but amplify a detector"; the CSGM objective of Bora et al., ICML 2017, Eq. 2,
plus a classifier's log-likelihood of the target class, as in classifier guidance). Solved by :func:`csgm`'s
machinery: Adam on all images x restarts in one batch of latents, from ``z ~ N(0, I)``; each image's winner is the
restart with the lowest full objective, computed from ``y`` and the classifier alone, never from the truth.
Because ``x_hat`` stays in the generator's range, an edit that a first classifier reads as ``target`` tends to
look like ``target`` to other classifiers too, unlike a pixel-space adversarial perturbation
(``benchmarks/guided_edit.py``).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genprior.devices import device_of
from genprior.errors import GenpriorError, InvalidValueError, ShapeError, check_number
from genprior.models.generator import dtype_of, frozen
from genprior.operators.base import Operator, check_operator
from genprior.solvers.latent import csgm

# the defaults (also ``genprior edit``'s): the schedule reaching, on 20 MNIST test fours from index 300 on, an
# objective within ~5% of the best of the schedules tried at half their latent steps; weight = beta, the
# smallest of the sweep that the classifier reads as the target on >= 90% of those fours (benchmarks/guided_edit.py)
SCHEDULE = {"weight": 3.0, "steps": 100, "lr": 0.1, "restarts": 6}


@dataclass
class GuidedEdit:
    """Result of :func:`guided` for B images and R restarts.

    ``x``: ``(B, C, H, W)`` the edits ``G(z)`` in [0, 1]; ``z``: ``(B, k)`` their latents; ``objective``: ``(B,)`` the
    full objective of each winner; ``measurement_loss``: ``(B,)`` ``||y - A(G(z))||^2``; ``target_prob``: ``(B,)``
    ``p_classifier(target | G(z))``; ``restart_objectives``: ``(B, R)`` every restart's full objective (``inf`` for
    dropped ones); ``z_all``: ``(B, R, k)`` every restart's final latent.
    """

    x: torch.Tensor
    z: torch.Tensor
    objective: torch.Tensor
    measurement_loss: torch.Tensor
    target_prob: torch.Tensor
    restart_objectives: torch.Tensor
    z_all: torch.Tensor


def check_classifier(classifier, shape: tuple[int, ...], *, dtype: torch.dtype = torch.float32,
                     device: torch.device | None = None) -> int:
    """Run ``classifier`` once on a zero image ``(1, *shape)`` (eval mode, no gradients); return its number of
    classes ``K`` (logits ``(1, K)``, ``K >= 2``, finite floating values), else ``ShapeError`` / ``InvalidValueError``."""
    name = type(classifier).__name__
    if not callable(classifier):
        raise InvalidValueError(f"classifier {name} is not callable: a classifier maps images (B, C, H, W) to logits")
    with torch.no_grad(), frozen(classifier):
        try:
            out = classifier(torch.zeros(1, *shape, dtype=dtype, device=device))
        except GenpriorError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ShapeError(f"classifier {name} fails on an image of shape (1, {', '.join(map(str, shape))}) ({first})"
                             ) from None
    if not torch.is_tensor(out) or not out.is_floating_point() or out.dim() != 2 or out.shape[0] != 1:
        got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise ShapeError(f"classifier {name} must return floating logits of shape (1, K) for one image, got {got}")
    if out.shape[1] < 2:
        raise ShapeError(f"classifier {name} returns {out.shape[1]} logit per image; it needs K >= 2 classes")
    if not torch.isfinite(out).all():
        raise InvalidValueError(f"classifier {name} returns NaN or infinite logits")
    return int(out.shape[1])


def check_targets(target, n_images: int, n_classes: int) -> torch.Tensor:
    """``target`` (an int, or a ``(B,)`` integer tensor) as a ``(B,)`` int64 tensor of class indices in
    ``0 .. n_classes - 1``, else ``InvalidValueError``."""
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        if not 0 <= target < n_classes:
            raise InvalidValueError(f"target must be a class in 0 .. {n_classes - 1}, got {target}")
        return torch.full((n_images,), int(target), dtype=torch.long)
    if not torch.is_tensor(target) or target.dtype == torch.bool or target.is_floating_point() or target.is_complex():
        raise InvalidValueError(f"target must be an int or a ({n_images},) tensor of class indices, got "
                                f"{type(target).__name__ if not torch.is_tensor(target) else target.dtype}")
    if tuple(target.shape) != (n_images,):
        raise ShapeError(f"target must have shape ({n_images},) (one class per image), got {tuple(target.shape)}")
    if len(target) and not (0 <= int(target.min()) and int(target.max()) < n_classes):
        raise InvalidValueError(f"target classes must be in 0 .. {n_classes - 1}, got {int(target.min())} .. "
                                f"{int(target.max())}")
    return target.detach().to("cpu", torch.long)


def guided(generator, operator: Operator, y: torch.Tensor, classifier, target, *, weight: float = SCHEDULE["weight"],
           lam: float = 0.0, steps: int = SCHEDULE["steps"], lr: float = SCHEDULE["lr"],
           restarts: int = SCHEDULE["restarts"], seed: int = 0, max_batch: int = 8192,
           progress: bool = False) -> GuidedEdit:
    """Edit the images measured as ``y`` ``(B, m)`` toward class ``target`` on the range of ``generator``.

    Minimises, over ``z`` ``(B, R, k)`` (R restarts per image, all in one batch):

        ||y - A(G(z))||^2 + lam ||z||^2 - weight * log softmax(classifier(G(z)))[target]

    ``generator``: latents ``(N, k)`` -> images ``(N, C, H, W)`` in [0, 1] (the generator contract);
    ``operator``: ``A``, images ``(N, C, H, W)`` -> ``(N, m)`` (any differentiable operator: denoising, compressed
    sensing, inpainting, ...); ``classifier``: any module mapping images ``(N, C, H, W)`` to logits ``(N, K)``;
    ``target``: a class (int) for every image, or a ``(B,)`` tensor of classes, in ``0 .. K-1``; ``weight``: the
    classifier term's weight ``beta >= 0`` (``weight = 0`` is :func:`csgm` with ``lam``). ``lam``, ``steps``, ``lr``,
    ``restarts``, ``seed``, ``max_batch``, ``progress``: as in :func:`csgm` (Adam from ``z ~ N(0, I)`` drawn from
    ``seed``). Each image's winner is the restart of lowest full objective. Returns a :class:`GuidedEdit`.
    The classifier is used in eval mode with its parameters frozen, on the generator's device.
    """
    y = check_operator(operator, "guided").check_measurements(y)
    check_number("weight", weight, low=0.0)
    weight = float(weight)
    device = device_of(generator)
    if isinstance(classifier, torch.nn.Module):
        classifier.to(device)
    n_classes = check_classifier(classifier, operator.input_shape, dtype=dtype_of(classifier), device=device)
    targets = check_targets(target, y.shape[0], n_classes).to(device)
    as_input = dtype_of(classifier)

    def target_log_prob(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """``log p(target of image index[i] | x[i])`` ``(N,)`` for images ``x`` ``(N, C, H, W)``."""
        logits = classifier(x.to(as_input))
        return F.log_softmax(logits, dim=1).gather(1, targets[index][:, None])[:, 0].to(x.dtype)

    with frozen(classifier):
        rec = csgm(generator, operator, y, lam=lam, restarts=restarts, steps=steps, lr=lr, seed=seed,
                   max_batch=max_batch, progress=progress,
                   image_loss=lambda x, index: -weight * target_log_prob(x, index))
        with torch.no_grad():
            rows = torch.arange(len(rec.x), device=rec.x.device)
            log_prob = target_log_prob(rec.x, rows)
    return GuidedEdit(x=rec.x, z=rec.z, objective=rec.restart_scores.min(1).values, measurement_loss=rec.measurement_loss,
                      target_prob=log_prob.exp(), restart_objectives=rec.restart_scores, z_all=rec.z_all)
