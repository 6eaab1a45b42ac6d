"""Defenses: PGD adversarial training, defensive distillation, and projection onto a generator's range."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from genprior.errors import (
    GeneratorError,
    InvalidValueError,
    check_seed,
    sub_seed,
    unknown,
)
from genprior.robust.attacks.pgd import pgd
from genprior.train.classifier import predict, train_classifier


def adversarial_training(model: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor,
                         test_images: torch.Tensor, test_labels: torch.Tensor, *, eps: float = 0.3, steps: int = 7,
                         alpha: float | None = None, out_dir: str | Path, seed: int = 0, **train_kw) -> dict:
    """PGD adversarial training (Madry et al. 2018, Eq. (2.1)): minimise ``E max_{||d||_inf <= eps} J(x + d, y)``.

    The inner max is ``steps`` l_inf PGD steps with a random start; the outer min is the usual Adam loop.
    """
    gen = torch.Generator().manual_seed(sub_seed(check_seed("seed", seed), 1))

    def perturb(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pgd(m, x, y, eps=eps, steps=steps, alpha=alpha, seed=gen)

    info = {"defense": "adversarial-training", "adv_eps": eps, "adv_steps": steps}
    return train_classifier(model, train_images, train_labels, test_images, test_labels, out_dir=out_dir,
                            seed=seed, perturb=perturb, extra_info=info, **train_kw)


def defensive_distillation(model: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor,
                           test_images: torch.Tensor, test_labels: torch.Tensor, *, temperature: float = 100.0,
                           out_dir: str | Path, teacher: nn.Module | None = None, **train_kw) -> dict:
    """Defensive distillation (Papernot et al. 2016, Sec. IV): train a teacher with ``softmax(z / T)``, then
    train ``model`` (same architecture) on the teacher's soft labels ``softmax(z_teacher(x) / T)`` at the same
    ``T``; at test time the student is used at ``T = 1``, which saturates its softmax and flattens its gradients.

    ``teacher``: an already distilled-at-``T`` teacher to reuse; otherwise one is trained into ``out_dir/teacher``.
    """
    import copy

    from genprior.train.state import check_resumable

    student = {"temperature": temperature, "defense": "distillation", "distill_temperature": temperature}
    # the student's own state is checked before the teacher is trained, not only after
    check_resumable(Path(out_dir) / "state", resume=bool(train_kw.get("resume")), info=student, settings=tuple(student))
    if teacher is None:
        teacher = copy.deepcopy(model)
        ones = torch.eye(int(train_labels.max()) + 1)[train_labels]
        train_classifier(teacher, train_images, train_labels, test_images, test_labels,
                         out_dir=Path(out_dir) / "teacher", soft_targets=ones, temperature=temperature,
                         extra_info={"defense": "distillation-teacher"}, **train_kw)
    soft = torch.softmax(predict(teacher, train_images) / temperature, 1)
    return train_classifier(model, train_images, train_labels, test_images, test_labels, out_dir=out_dir,
                            soft_targets=soft, temperature=temperature,
                            extra_info={"defense": "distillation", "distill_temperature": temperature}, **train_kw)


class _StraightThrough(torch.autograd.Function):
    """Forward: a non-differentiable map ``x -> p`` computed outside; backward: the identity (BPDA)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, projected: torch.Tensor) -> torch.Tensor:
        return projected.detach().clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


LOSSES = ("band-likelihood", "deadzone", "l2", "l1-deadzone")
PREPROCESS = (None, "binarize")


def deadzone_loss(tau: float, power: int = 2):
    """Per-latent loss ``sum_i max(|r_i| - tau, 0)^power`` of residuals ``r`` ``(N, m)`` -> ``(N,)``.

    Deviations up to ``tau`` per pixel cost nothing: against an l_inf threat of radius ``tau`` the clean image
    lies inside the band around the input, so any range point inside the band is as plausible as any other
    (the "robust manifold defense", Ilyas, Jalal, Asteri, Daskalakis & Dimakis 2017).
    """
    import torch.nn.functional as F

    def loss(r: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return F.relu(r.abs() - tau).pow(power).sum(1)

    return loss


def band_likelihood_loss(tau: float, *, floor: float = 1e-6):
    """Per-latent loss ``(r, x) -> (N,)``: the generator's negative log-likelihood of the most plausible image in
    the l_inf band of half-width ``tau`` around the input ``x`` ``(N, n)`` in [0, 1], for the identity operator
    (so that ``p = x + r`` is ``G(z)``).

    The generator is read as its own observation model: pixel ``i`` is 1 with probability ``p_i`` (the
    Bernoulli decoder the MNIST VAE was trained with; a GAN's sigmoid output read the same way). The threat model
    says the clean image lies in ``[lo, hi] = [x - tau, x + tau] ∩ [0, 1]``; the loss is
    ``min over v in the band of BCE(v, p) = sum_i BCE(v_i*, p_i)``, and since BCE is linear in ``v`` the minimiser
    is ``v_i* = hi_i`` where ``p_i > 1/2`` and ``lo_i`` elsewhere. Unlike the dead zone, it charges a generator for
    ink it is unsure of: a blurry stroke at 0.4 sitting on an l_inf-added 0.3 is free under the dead zone, but
    costs ``-log(1 - 0.4)`` per pixel here. (``p`` is clamped to ``[floor, 1 - floor]`` in the logs; the gradient
    passes the clamp.)
    """

    def loss(r: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        p = x + r
        target = torch.where(p > 0.5, (x + tau).clamp(0.0, 1.0), (x - tau).clamp(0.0, 1.0))
        q = p + (p.clamp(floor, 1.0 - floor) - p).detach()
        return -(target * q.log() + (1.0 - target) * (1.0 - q).log()).sum(1)

    return loss


class ProjectionDefense(nn.Module):
    """Defense-GAN (Samangouei, Kabkab & Chellappa 2018, Sec. 3.2) in front of any classifier.

    ``forward(x)``: ``z* = argmin_z loss(G(z) - x)`` by ``steps`` (L) Adam steps from ``restarts`` (R) random
    starts -- :func:`~genprior.solvers.csgm` with the identity operator and its ``residual_loss`` -- then returns
    ``classifier(G(z*))``.

    ``loss``: ``"band-likelihood"`` (default, :func:`band_likelihood_loss`): the generator's Bernoulli negative
    log-likelihood of the most plausible image within the l_inf band of half-width ``tau`` around ``x``.
    ``"deadzone"``: ``sum max(|G(z) - x| - tau, 0)^2``, the l_inf-aware projection (Ilyas et al. 2017):
    deviations inside the band are free. Both take ``tau`` >= 0, the l_inf radius the defense is built for.
    ``"l1-deadzone"``: the dead zone with power 1. ``"l2"``: Defense-GAN's ``||G(z) - x||^2``.
    ``steps`` (L), ``restarts`` (R): positive integers; ``lr`` > 0, ``lam`` >= 0: Adam's rate and the weight of
    ``||z||^2``; ``seed``: the restarts' draw. The default ``loss`` and ``tau = 0.3`` (the benchmark's eps) were
    chosen with the zoo VAE at L = 200, R = 10 on MNIST test images 1000..1199 against FGSM at eps 0.3
    (``docs/tuning.md``, section "ProjectionDefense").
    A conditional generator (``genprior.models.conditional``) is projected onto the union of its class
    ranges (``ClassUnionGenerator``), with ``ceil(R / K)`` restarts in every class.
    ``preprocess``: ``None`` or ``"binarize"`` (threshold at 0.5 before projecting; bit-depth reduction,
    Xu, Evans & Qi 2018): a different, squeezing defense in front of the projection; off by default.

    The projection itself is not differentiated (``csgm`` detaches its latents). Gradients taken through this
    module follow BPDA (Athalye, Carlini & Wagner 2018, Sec. 4.1): the backward pass treats the projection
    (and the binarization) as the identity, since ``G(z*) ≈ x``. So a white-box attack run on this module *is*
    the adaptive BPDA attack; ``attack_steps`` / ``attack_restarts`` (default: ``steps``, ``restarts``) set a
    cheaper projection to use while ``self.attacking`` is true, and then each call draws fresh restarts
    (expectation over the defense's randomness, EOT).
    """

    def __init__(self, classifier: nn.Module, generator: nn.Module, *, steps: int = 200, restarts: int = 10,
                 lr: float = 0.1, lam: float = 0.0, seed: int = 0, attack_steps: int | None = None,
                 attack_restarts: int | None = None, loss: str = "band-likelihood", tau: float = 0.3,
                 preprocess: str | None = None):
        super().__init__()
        from genprior.models.generator import check_generator
        from genprior.operators import Identity

        if loss not in LOSSES:
            raise unknown("loss", loss, LOSSES)
        if preprocess not in PREPROCESS:
            raise unknown("preprocess", preprocess, [p for p in PREPROCESS if p])
        if not 0 <= tau < math.inf:
            raise InvalidValueError(f"tau must be a finite number >= 0, got {tau}")
        for name, count in (("steps", steps), ("restarts", restarts), ("attack_steps", attack_steps),
                            ("attack_restarts", attack_restarts)):
            if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
                raise InvalidValueError(f"ProjectionDefense: {name} must be a positive integer, got {count!r}")
        if not (0 < lr < math.inf and 0 <= lam < math.inf):
            raise InvalidValueError(f"ProjectionDefense needs a finite lr > 0 and lam >= 0, got lr={lr}, lam={lam}")
        if not isinstance(classifier, nn.Module):
            raise InvalidValueError(f"ProjectionDefense: the classifier must be a module, got {type(classifier).__name__}")
        self.classifier = classifier
        from genprior.models.ensemble import GeneratorEnsemble

        if isinstance(generator, GeneratorEnsemble):  # refused here, before any attack is crafted against it
            raise GeneratorError("the projection defense needs one generator, not an ensemble: pick one member "
                                 "(e.g. mnist-vae)")
        if hasattr(generator, "fixed") and hasattr(generator, "num_classes"):  # conditional: project onto all classes
            from genprior.models.conditional import ClassUnionGenerator

            generator = ClassUnionGenerator(generator)
        self.generator = generator
        self.latent_dim = check_generator(generator)
        self.output_shape = tuple(getattr(generator, "output_shape", (1, 28, 28)))
        self.operator = Identity(shape=self.output_shape)
        self.steps, self.restarts, self.lr, self.lam, self.seed = steps, restarts, lr, lam, check_seed("seed", seed)
        self.loss, self.tau, self.preprocess = loss, tau, preprocess
        self.residual_loss = {"l2": None, "deadzone": deadzone_loss(tau, 2), "l1-deadzone": deadzone_loss(tau, 1),
                              "band-likelihood": band_likelihood_loss(tau)}[loss]
        self.attack_steps = steps if attack_steps is None else attack_steps
        self.attack_restarts = restarts if attack_restarts is None else attack_restarts
        self.attacking = False
        self._calls = 0

    def squeeze(self, x: torch.Tensor) -> torch.Tensor:
        return (x > 0.5).to(x.dtype) if self.preprocess == "binarize" else x

    def project(self, x: torch.Tensor, *, steps: int | None = None, restarts: int | None = None,
                seed: int | None = None):
        """``(B, C, H, W)`` in [0, 1] -> the CSGM result (``.x`` = ``G(z*)`` ``(B, C, H, W)``, ``.z`` ``(B, k)``)."""
        from genprior.solvers import csgm

        # csgm enables gradients itself, so this also works under the caller's torch.no_grad()
        seed = self.seed if seed is None else seed
        z_init = None
        restarts = self.restarts if restarts is None else restarts
        steps = self.steps if steps is None else steps
        if hasattr(self.generator, "initial_latents"):  # a class union: every class gets ceil(R / K) restarts
            per_class = -(-restarts // self.generator.num_classes)
            z_init = self.generator.initial_latents(x.shape[0], per_class, generator=torch.Generator().manual_seed(seed))
        return csgm(self.generator, self.operator, self.squeeze(x.detach()).flatten(1), lam=self.lam,
                    restarts=restarts, steps=steps, lr=self.lr, z_init=z_init,
                    seed=seed, residual_loss=self.residual_loss)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)`` of the classifier on the projection of ``x``; backward is BPDA (identity)."""
        if self.attacking:
            self._calls += 1
            p = self.project(x, steps=self.attack_steps, restarts=self.attack_restarts,
                             seed=sub_seed(self.seed, 1000 + self._calls)).x
        else:
            p = self.project(x).x
        return self.classifier(_StraightThrough.apply(x, p.view_as(x)))


def latent_space_attack(defense: ProjectionDefense, x: torch.Tensor, y: torch.Tensor, *, eps: float = 0.3,
                        steps: int = 200, lr: float = 0.05, c: float = 10.0, every_class: bool = False) -> torch.Tensor:
    """Adaptive attack on the projection defense in latent space (after Athalye et al. 2018, Sec. 5.4.1).

    Start from the projection ``z0`` of each clean ``x`` and search ``z`` that the classifier gets wrong while
    ``G(z)`` stays near ``x``: ``min_z -J(f(G(z)), y) + c * ||relu(|G(z) - x| - eps)||^2``. The adversarial input
    is ``x + clip(G(z) - x, -eps, eps)`` in [0, 1], ``(B, C, H, W)``: an l_inf-bounded image near a point of the range that the
    classifier misreads, so the defense's own projection tends to land there. For a class-union generator
    (a conditional GAN) the search starts from the closest point of a wrong class's range instead.

    ``every_class=True``: a targeted search toward every wrong class ``t`` instead,
    ``min_z J(f(G(z)), t) + c * ||relu(|G(z) - x| - eps)||^2`` from ``z0`` (``K - 1`` searches per image; use a
    small ``c`` such as 1, or most searches never leave the true class), keeping per image the class whose
    misread ``G(z)`` lies closest to the band around ``x``.
    """
    import torch.nn.functional as F

    from genprior.models.generator import frozen

    res = defense.project(x)
    z = res.z
    classes = getattr(defense.generator, "classes", None)
    if classes is not None and not every_class:  # a class union: start from the closest point of a wrong class's range
        wrong = classes(res.z_all.flatten(0, 1)).view(res.z_all.shape[:2]) != y.to(res.z_all.device)[:, None]
        pick = res.restart_losses.masked_fill(~wrong, float("inf")).argmin(1)
        z = res.z_all[torch.arange(len(x), device=pick.device), pick]
    g, f = defense.generator, defense.classifier
    n_classes, xs, target = 1, x, y
    if every_class:
        with torch.no_grad():
            n_classes = f(x[:1]).shape[1]
        xs = x.repeat_interleave(n_classes, 0)
        target = torch.arange(n_classes, device=y.device).repeat(len(x))
        z = z.repeat_interleave(n_classes, 0)
    z = z.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    sign = 1.0 if every_class else -1.0  # toward the target class / away from the true one

    def excess_of(gz):
        return F.relu((gz - xs).abs() - eps).flatten(1).pow(2).sum(1)

    with torch.enable_grad(), frozen(g), frozen(f):
        for _ in range(steps):
            gz = g(z).view_as(xs)
            loss = (sign * F.cross_entropy(f(gz), target, reduction="none") + c * excess_of(gz)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        gz = g(z).view_as(xs)
        if every_class:
            misread = (f(gz).argmax(1) == target) & (target != y.repeat_interleave(n_classes))
            score = torch.where(misread, excess_of(gz), torch.full_like(target, float("inf"), dtype=gz.dtype))
            best = score.view(len(x), n_classes).argmin(1)
            gz = gz.view(len(x), n_classes, *x.shape[1:])[torch.arange(len(x), device=best.device), best]
        return (x + (gz - x).clamp(-eps, eps)).clamp(0, 1)
