"""CSGM: recovery by descent in a generator's latent space (Bora, Jalal, Price & Dimakis, ICML 2017, Eq. 2).

    z_hat = argmin_z ||y - A(G(z))||^2 + lam ||z||^2,     x_hat = G(z_hat)

solved with Adam from ``restarts`` random starts ``z ~ N(0, I)``. All images x restarts form one
batch of latents; since Adam acts coordinate by coordinate and each latent's loss depends only on
that latent, the batched run takes exactly the steps separate runs would. The winner for each image
is the restart with the lowest *measurement* error ``||y - A(G(z))||^2`` (chosen from ``y`` alone).
:func:`csgm` is the paper's schedule; :func:`csgm_fast` the same estimator with a screened search and
Levenberg-Marquardt refinement, at about 1/12 of the work.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from functools import partial

import torch

from genprior.devices import device_of
from genprior.errors import InvalidValueError, check_seed
from genprior.models.generator import as_images, check_generator, dtype_of, frozen
from genprior.operators.base import Operator, check_operator
from genprior.progress import progress_bar


@dataclass
class LatentRecovery:
    """Result of a latent-space solver for B images and R restarts.

    ``x``: ``(B, C, H, W)`` winners' images; ``z``: ``(B, k)`` winners' latents;
    ``measurement_loss``: ``(B,)`` ``||y - A(G(z))||^2`` of the winners; ``loss``: ``(B,)`` objective incl. ``lam ||z||^2``;
    ``restart_losses``: ``(B, R)`` measurement loss of every restart (``inf`` for dropped ones);
    ``z_all``: ``(B, R, k)`` every restart's final latent;
    ``restart_scores``: ``(B, R)`` what each image's winner was chosen by (the lowest): the measurement loss for
    :func:`csgm` without ``image_loss``, the full objective otherwise (``inf`` for dropped restarts).
    """

    x: torch.Tensor
    z: torch.Tensor
    measurement_loss: torch.Tensor
    loss: torch.Tensor
    restart_losses: torch.Tensor
    z_all: torch.Tensor
    steps: int
    restart_scores: torch.Tensor | None = None


def _check_positive_int(name: str, v, *, allow_zero: bool = False) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < (0 if allow_zero else 1):
        kind = "a non-negative" if allow_zero else "a positive"
        raise InvalidValueError(f"{name} must be {kind} integer, got {v!r}")
    return v


def csgm(generator, operator: Operator, y: torch.Tensor, *, lam: float = 0.0, restarts: int = 10, steps: int = 1000,
         lr: float = 0.01, seed: int = 0, z_init: torch.Tensor | None = None, max_batch: int = 8192,
         residual_loss=None, image_loss=None, progress: bool = False, offset: int = 0) -> LatentRecovery:
    """Recover images from measurements ``y`` ``(B, m)`` of ``operator`` with the prior ``generator``.

    ``generator``: any callable module with ``latent_dim`` mapping ``(N, k)`` to images ``(N, *operator.input_shape)``.
    ``z_init``: optional starting latents ``(B, R, k)`` (overrides the random draw; ``R`` then sets the restarts).
    ``max_batch``: most latents optimised in one tensor (images are processed in chunks beyond it).
    ``residual_loss``: optional map ``(residual, y) -> (N,)`` from residuals ``A(G(z)) - y`` ``(N, m)`` and the
    matching measurement rows ``y`` ``(N, m)`` to one loss per latent, replacing ``||residual||^2`` (e.g. a
    dead-zone loss or a likelihood for projections under an l_inf threat model); it is also what picks the
    winning restart.
    ``image_loss``: optional map ``(x, index) -> (N,)`` from the images ``x = G(z)`` ``(N, C, H, W)`` of ``N`` latents
    and the row ``index`` ``(N,)`` of each one's image in ``y`` to an extra loss per latent, added to the objective
    (e.g. :func:`genprior.solvers.guided.guided`'s classifier term); each image's winner is then the restart with the
    lowest full objective ``residual loss + lam ||z||^2 + image_loss`` (still from ``y``, never the truth), kept
    in ``restart_scores``.
    ``offset``: the index of ``y``'s first image in a larger batch split into parts (torchrun's ranks): the random
    starts are that batch's rows ``offset ..``, so each part recovers its images as the whole batch would.

    >>> from genprior import zoo
    >>> from genprior.data import load_dataset
    >>> from genprior.operators import Gaussian
    >>> from genprior.solvers import csgm
    >>> G = zoo.load("mnist-vae")
    >>> x = load_dataset("mnist-bundled").images[:2]
    >>> op = Gaussian(m=100, shape=(1, 28, 28), noise_std=0.1, seed=0)
    >>> rec = csgm(G, op, op.measure(x, seed=1), restarts=2, steps=100, seed=0)  # the paper: 10 x 1000
    >>> rec.x.shape, rec.z.shape, rec.measurement_loss.shape
    (torch.Size([2, 1, 28, 28]), torch.Size([2, 20]), torch.Size([2]))
    """
    _check_positive_int("steps", steps)
    return _solve(generator, operator, y, lam=lam, restarts=restarts, lr=lr, seed=seed, z_init=z_init,
                  max_batch=max_batch, progress=progress, steps=steps, image_loss=image_loss, offset=offset,
                  descend=partial(_descend, steps=steps, lr=lr, progress=progress, residual_loss=residual_loss))


def csgm_fast(generator, operator: Operator, y: torch.Tensor, *, lam: float = 0.0, restarts: int = 40,
              screen_steps: int = 8, survivors: int = 12, steps: int = 16, lr: float = 0.3, keep: int = 3,
              lm_steps: int = 6, reg: float | None = None, seed: int = 0, z_init: torch.Tensor | None = None,
              max_batch: int = 8192, progress: bool = False, offset: int = 0) -> LatentRecovery:
    """The same estimator as :func:`csgm` at a fraction of the work (``genprior recover --method csgm-fast``).

    Minimises ``||y - A G(z)||^2 + (lam + reg) ||z||^2`` in four phases, all batched over images x restarts:
    (1) ``screen_steps`` Adam steps at the constant rate ``lr`` from ``restarts`` starts ``z ~ N(0, I)``, after which
    only the ``survivors`` restarts of lowest objective per image go on (``screen_steps=0`` skips this phase);
    (2) ``steps`` Adam steps on those, the rate decaying from ``lr`` to ``lr/100`` on a cosine; (3) the ``keep``
    restarts of lowest objective per image (all of them, when fewer survive); (4) ``lm_steps`` Levenberg-Marquardt
    steps on them (Gauss-Newton in the k-dimensional latent with an adaptive damping per latent, Jacobian by
    forward-mode autodiff). Each image's winner is the restart with the lowest objective (``y`` and ``z`` only, never
    the truth); ``measurement_loss``/``restart_losses`` stay the measurement errors ``||y - A G(z)||^2``.

    ``reg``: the search's own weight of ``||z||^2``, which keeps an underdetermined problem (``m`` comparable to
    ``k``) from fitting the noise with an atypical ``z``. ``None``: :func:`search_weight` times the operator's energy
    gain ``||A||_F^2 / n`` (1 for the Gaussian operator), ``10/m`` up to ``m = 3k`` falling linearly to 0 at
    ``m = 4k``; ``reg=0``: the plain objective. ``lam``, ``seed``, ``z_init``, ``max_batch``, ``progress``, ``offset``: as
    in :func:`csgm`.

    Cost: ``restarts*screen_steps + survivors*steps`` Adam steps (512 by default) plus ``keep*lm_steps``
    Levenberg-Marquardt steps per image (each about k forward passes), about 1/12 of ``csgm``'s 10 x 1000 steps.
    Defaults chosen with the mnist-vae on MNIST test images 300..799, never the benchmark's 0..299
    (``docs/tuning.md``, section "csgm_fast").
    """
    for name, v in (("steps", steps), ("survivors", survivors), ("keep", keep), ("lm_steps", lm_steps)):
        _check_positive_int(name, v)
    _check_positive_int("screen_steps", screen_steps, allow_zero=True)
    y = check_operator(operator, "csgm_fast").check_measurements(y)
    if reg is None:
        reg = search_weight(check_generator(generator, operator.input_shape), operator.output_size) * _energy_gain(operator)
    elif not reg >= 0:
        raise InvalidValueError(f"reg must be >= 0, got {reg}")
    return _solve(generator, operator, y, lam=lam, restarts=restarts, lr=lr, seed=seed, z_init=z_init,
                  max_batch=max_batch, progress=progress, steps=screen_steps + steps + lm_steps, offset=offset,
                  descend=partial(_descend_fast, screen_steps=screen_steps, survivors=survivors, steps=steps, lr=lr,
                                  keep=keep, lm_steps=lm_steps, reg=float(reg)))


def _energy_gain(operator: Operator) -> float:
    """``||A||_F^2 / n``, the mean ``||A v||^2 / ||v||^2`` (1 for ``A_ij ~ N(0, 1/m)``, 1/f^2 for f x f block
    averaging, the kept fraction for inpainting); 1 for an operator without a matrix."""
    matrix = getattr(operator, "matrix", None)
    if not (getattr(operator, "linear", False) and callable(matrix)):
        return 1.0
    with torch.no_grad():
        return float(matrix().double().pow(2).sum() / operator.input_size)


def search_weight(k: int, m: int, *, scale: float = 10.0) -> float:
    """:func:`csgm_fast`'s default weight of ``||z||^2`` for latent size ``k`` and ``m`` measurements.

    ``scale/m`` while ``m <= 3k``, falling linearly to 0 at ``m = 4k`` and 0 beyond. With ``A_ij ~ N(0, 1/m)``,
    ``scale/m`` is a ridge MAP weight for a per-measurement misfit variance ``scale/m`` (noise plus the generator's
    misfit, whose total ``||A(x - G(z*))||^2`` does not shrink with m). ``scale = 10`` and the 3k..4k ramp were
    chosen for the mnist-vae on MNIST test images 300..499 (see :func:`csgm_fast`).
    """
    return float(scale / m * min(1.0, max(0.0, (4.0 * k - m) / k)))


def _solve(generator, operator, y, *, lam, restarts, lr, seed, z_init, max_batch, progress, steps, descend,
           image_loss=None, offset: int = 0) -> LatentRecovery:
    """Checks, the starting latents, chunking over images, and the choice of each image's winning restart.
    ``image_loss`` (see :func:`csgm`) reaches ``descend`` with the first image's row of each chunk."""
    y = check_operator(operator, "csgm").check_measurements(y)
    k = check_generator(generator, operator.input_shape)
    seed = check_seed("seed", seed)
    if not getattr(operator, "differentiable", True):
        raise InvalidValueError(f"{operator.name} is not differentiable: the latent solvers descend its gradients")
    if not (isinstance(lam, numbers.Real) and isinstance(lr, numbers.Real) and 0 <= lam < math.inf
            and 0 < lr < math.inf):
        raise InvalidValueError(f"need a finite lam >= 0 and a finite lr > 0, got lam={lam!r}, lr={lr!r}")
    _check_positive_int("max_batch", max_batch)
    device = device_of(generator)
    dtype = dtype_of(generator)  # the descent runs in the generator's dtype (float64 measurements are cast)
    y = y.to(dtype)
    n_img = y.shape[0]
    if z_init is None:
        _check_positive_int("restarts", restarts)
        _check_positive_int("offset", offset, allow_zero=True)
        g = torch.Generator().manual_seed(seed)
        z_init = torch.randn(offset + n_img, restarts, k, generator=g)[offset:]  # rows offset..: see csgm
    elif (not torch.is_tensor(z_init) or not z_init.is_floating_point() or z_init.dim() != 3
          or z_init.shape[0] != n_img or z_init.shape[1] < 1 or z_init.shape[2] != k):
        got = tuple(z_init.shape) if torch.is_tensor(z_init) else type(z_init).__name__
        raise InvalidValueError(f"z_init must be a floating tensor of shape ({n_img}, R >= 1, {k}), got {got}")
    elif not torch.isfinite(z_init).all():
        raise InvalidValueError("z_init contains NaN or infinite values")
    z_init = z_init.to(dtype)
    restarts = z_init.shape[1]
    operator.to(device)
    per_chunk = max(1, max_batch // restarts)
    parts = []
    with frozen(generator), torch.enable_grad():  # callers may hold torch.no_grad(); the descent needs gradients in z
        for i in progress_bar(range(0, n_img, per_chunk), desc="csgm", enabled=progress and n_img > per_chunk):
            extra = {} if image_loss is None else {"image_loss": image_loss, "first": i}
            parts.append(descend(generator, operator, y[i:i + per_chunk].to(device), z_init[i:i + per_chunk].to(device),
                                 lam=lam, **extra))
    z_all = torch.cat([p[0] for p in parts])
    losses = torch.cat([p[1] for p in parts])
    scores = torch.cat([p[-1] for p in parts])  # a descent may rank restarts by its own objective (third item)
    diverged = ~torch.isfinite(scores).any(1)
    if bool(diverged.any()):  # their "winner" is a parked latent: say so rather than return it as a recovery
        first = diverged.nonzero()[:5, 0].tolist()
        warnings.warn(f"every restart diverged (NaN or infinite loss) for {int(diverged.sum())} of {n_img} images "
                      f"(first: {first}); their measurement_loss is inf and their x is not a recovery - lower lr",
                      RuntimeWarning, stacklevel=3)
    best = scores.argmin(1)
    rows = torch.arange(n_img, device=device)
    z = z_all[rows, best]
    with torch.no_grad(), frozen(generator):
        x = as_images(generator(z), operator.input_shape)
    return LatentRecovery(x=x, z=z, measurement_loss=losses[rows, best], loss=losses[rows, best] + lam * z.pow(2).sum(1),
                          restart_losses=losses, z_all=z_all, steps=steps, restart_scores=scores)


def _squared_norm(residual: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return residual.pow(2).sum(1)


def _descend(generator, operator: Operator, y: torch.Tensor, z0: torch.Tensor, *, lam: float, steps: int, lr: float,
             progress: bool = False, lr_end: float | None = None, residual_loss=None, image_loss=None,
             first: int = 0) -> tuple[torch.Tensor, ...]:
    """Adam on ``B*R`` latents at once; returns final latents ``(B, R, k)`` and measurement losses ``(B, R)``, and
    with ``image_loss`` (see :func:`csgm`; ``first``: the row in the caller's ``y`` of this ``y``'s first image)
    the full objectives ``(B, R)`` too."""
    residual_loss = residual_loss or _squared_norm
    b, r, k = z0.shape
    shape = operator.input_shape
    y_rep = y.repeat_interleave(r, dim=0)  # row i*r + j is image i, restart j
    z = z0.reshape(b * r, k).clone().requires_grad_(True)
    alive = torch.ones(b * r, dtype=torch.bool, device=z.device)
    index = torch.arange(first, first + b, device=z.device).repeat_interleave(r)
    opt = torch.optim.Adam([z], lr=lr)
    for t in progress_bar(range(steps), desc="csgm steps", enabled=progress, leave=False):
        if lr_end is not None:  # cosine decay from lr to lr_end
            opt.param_groups[0]["lr"] = lr_end + (lr - lr_end) * 0.5 * (1 + math.cos(math.pi * t / steps))
        x = as_images(generator(z), shape)
        per_latent = residual_loss(operator.forward(x) - y_rep, y_rep) + lam * z.pow(2).sum(1)
        if image_loss is not None:
            per_latent = per_latent + image_loss(x, index)
        alive &= torch.isfinite(per_latent)
        loss = torch.where(alive, per_latent, torch.zeros_like(per_latent)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if not bool(alive.all()):  # a restart that blew up is dropped; park it at 0 so it cannot poison the batch
            with torch.no_grad():
                z[~alive] = 0.0
    with torch.no_grad():
        x = as_images(generator(z), shape)
        final = residual_loss(operator.forward(x) - y_rep, y_rep)
        alive &= torch.isfinite(final)
        final = torch.where(alive, final, torch.full_like(final, float("inf")))
        if image_loss is None:
            return z.detach().view(b, r, k), final.view(b, r)
        score = final + lam * z.pow(2).sum(1) + image_loss(x, index)
        score = torch.where(torch.isfinite(score), score, torch.full_like(score, float("inf")))
    return z.detach().view(b, r, k), final.view(b, r), score.view(b, r)


def _descend_fast(generator, operator: Operator, y: torch.Tensor, z0: torch.Tensor, *, lam: float, screen_steps: int,
                  survivors: int, steps: int, lr: float, keep: int, lm_steps: int,
                  reg: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adam on ``||y - A G(z)||^2 + (lam + reg)||z||^2``: ``screen_steps`` at ``lr`` on every restart, then
    ``steps`` with cosine decay on the best ``survivors`` per image; keep the best ``keep`` per image, then
    Levenberg-Marquardt on them; returns latents ``(B, keep, k)``, measurement losses and objectives."""
    b, r, k = z0.shape
    weight = lam + reg

    def best(z: torch.Tensor, losses: torch.Tensor, count: int) -> torch.Tensor:
        """Each image's ``count`` restarts of lowest objective ``(B, count, k)``; inf (dropped) ones sort last."""
        order = (losses + weight * z.pow(2).sum(2)).argsort(1)[:, :count]
        return torch.gather(z, 1, order[..., None].expand(b, count, k))

    z = z0
    if screen_steps:
        z, losses = _descend(generator, operator, y, z, lam=weight, steps=screen_steps, lr=lr)
        if survivors < r:
            z = best(z, losses, survivors)
    z, losses = _descend(generator, operator, y, z, lam=weight, steps=steps, lr=lr, lr_end=lr / 100)
    keep = min(keep, z.shape[1])
    z = best(z, losses, keep).reshape(b * keep, k)
    y_rep = y.repeat_interleave(keep, dim=0)
    z = _levenberg_marquardt(generator, operator, y_rep, z, lam=weight, steps=lm_steps)
    with torch.no_grad():
        final = (operator.forward(as_images(generator(z), operator.input_shape)) - y_rep).pow(2).sum(1)
        final = torch.where(torch.isfinite(final), final, torch.full_like(final, float("inf")))
        score = final + weight * z.pow(2).sum(1)
        score = torch.where(torch.isfinite(score), score, torch.full_like(score, float("inf")))
    return z.view(b, keep, k), final.view(b, keep), score.view(b, keep)


def _levenberg_marquardt(generator, operator: Operator, y: torch.Tensor, z: torch.Tensor, *, lam: float,
                         steps: int) -> torch.Tensor:
    """Minimise ``||y - A(G(z))||^2 + lam||z||^2`` for each row of ``z`` ``(N, k)`` independently.

    Step: ``(J^T J + lam I + mu diag(J^T J + lam I)) d = J^T r - lam z``, accepted where it lowers the loss
    (then ``mu /= 3``), else ``mu *= 10``; ``J = d A(G(z)) / dz`` ``(N, m, k)`` by vmapped forward-mode autodiff.
    """
    from torch.func import jacfwd, vmap

    shape = operator.input_shape
    eye = torch.eye(z.shape[1], device=z.device, dtype=z.dtype)

    def measure_one(zz):
        return operator.forward(as_images(generator(zz[None]), shape))[0]

    def objective(zz):
        res = y - operator.forward(as_images(generator(zz), shape))
        return res, res.pow(2).sum(1) + lam * zz.pow(2).sum(1)

    with torch.no_grad():
        residual, loss = objective(z)
        mu = torch.full_like(loss, 1e-3)
        for _ in range(steps):
            jac = vmap(jacfwd(measure_one))(z)  # (N, m, k)
            jt = jac.transpose(1, 2)
            hess = jt @ jac + lam * eye
            grad = (jt @ residual[..., None]).squeeze(-1) - lam * z
            damp = mu[:, None, None] * (torch.diagonal(hess, dim1=1, dim2=2)[..., None] * eye + 1e-6 * eye)
            step = torch.linalg.solve(hess + damp, grad)
            step = torch.where(torch.isfinite(step), step, torch.zeros_like(step))
            new_residual, new_loss = objective(z + step)
            ok = new_loss < loss
            z = torch.where(ok[:, None], z + step, z)
            residual = torch.where(ok[:, None], new_residual, residual)
            loss = torch.where(ok, new_loss, loss)
            mu = torch.where(ok, mu / 3, mu * 10).clamp(1e-9, 1e9)
    return z
