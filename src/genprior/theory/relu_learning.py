"""Learning a one-layer ReLU generator from its samples (Wu, Dimakis & Sanghavi, "Learning Distributions Generated
by One-Layer ReLU Networks", NeurIPS 2019; deck 000, "Problem 2").

The model: ``y = ReLU(W z + b)``, ``z ~ N(0, I_k)``, ``W`` of shape ``(d, k)``, ``b`` of shape ``(d,)``. Only
``Σ = W Wᵀ`` and ``b`` are identifiable (``W`` up to a rotation of ``z``). The paper's estimator (its Algorithm 1,
:func:`learn_relu_generator`) works one coordinate and one pair at a time:

1. coordinate ``i``: the positive samples of ``y_i`` are ``N(b_i, ‖w_i‖²)`` truncated to ``(0, ∞)``; fit ``b_i`` and
   ``‖w_i‖`` by maximum likelihood (:func:`truncated_normal_mle`), then clip ``b_i`` at 0 (the paper assumes
   ``b ≥ 0``);
2. pair ``i, j``: with ``b ≥ 0``, ``y_i > b_i`` exactly when ``w_iᵀz > 0``, so the co-positive fraction
   ``p_ij = P(y_i > b_i, y_j > b_j) = (π − θ_ij) / (2π)`` gives the angle ``θ_ij`` between ``w_i`` and ``w_j``
   (the paper's Lemma; :func:`orthant_probability` / :func:`orthant_correlation` hold the general bivariate-normal
   orthant formula, which is this one at thresholds 0);
3. ``Σ_ij = ‖w_i‖ ‖w_j‖ cos θ_ij``.

The error measures are the paper's Figure 1: :func:`sigma_error` ``‖Σ̂ − Σ*‖_F / ‖W*‖_F²``, :func:`b_error`
``‖b̂ − b*‖ / ‖W*‖_F`` and :func:`tv_bound` ``sqrt(min(KL(p*‖p̂), KL(p̂‖p*)) / 2)`` between the Gaussians
``N(b, Σ)`` of the pre-activations, which bounds the total variation between the ReLU outputs (``y`` is a fixed
function of the pre-activation, so TV can only shrink; then Pinsker). Three baselines share the result type:
:func:`fit_gaussian` (mean and covariance of ``y``, ignoring the ReLU), :func:`fit_relu_generator_moments` (a
generator of the same form fitted by Adam to the first and second moments of the samples) and
:func:`fit_relu_generator_gan` (the same generator fitted as a GAN against an MLP discriminator). Each has a name in
:data:`RELU_LEARNERS`; :func:`estimate_relu_generator` runs one by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from genprior.errors import InvalidValueError, check_number, check_seed, check_sizes

_SQRT2 = math.sqrt(2.0)
# the most truncated normal the per-coordinate fit may return: truncation point A_MAX standard deviations above
# the mean (mean / sd of its positive part 1.009; a coordinate whose positive part is more skewed than that lands here)
A_MAX = 10.0
_NODES, _WEIGHTS = (torch.from_numpy(v) for v in np.polynomial.legendre.leggauss(32))


@dataclass(frozen=True)
class ReluGeneratorEstimate:
    """An estimate of the distribution of ``y = ReLU(W z + b)``: ``b`` ``(d,)``, ``sigma`` ``(d, d)`` (= ``W Wᵀ``),
    ``norms`` ``(d,)`` (``‖w_i‖``, the square roots of ``sigma``'s diagonal) and ``method`` (``"wu"``, ``"wu-sgd"``,
    ``"naive"``, ``"moment"``, ``"gan"``). Tensors are float64 on the CPU."""

    b: torch.Tensor
    sigma: torch.Tensor
    norms: torch.Tensor
    method: str


def _as_matrix(name: str, value, *, shape: tuple[int, ...] | None = None, ndim: int = 2) -> torch.Tensor:
    """``value`` (a tensor, array or nested list) as a finite float64 CPU tensor of ``ndim`` dimensions (and
    ``shape`` where given), else ``InvalidValueError`` naming ``name``."""
    try:
        t = torch.as_tensor(np.asarray(value.detach().cpu() if torch.is_tensor(value) else value, dtype=np.float64))
    except (TypeError, ValueError):
        raise InvalidValueError(f"{name} must be an array of numbers, got {type(value).__name__}") from None
    if t.ndim != ndim:
        raise InvalidValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(t.shape)}")
    if shape is not None and tuple(t.shape) != shape:
        raise InvalidValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
    if t.numel() == 0:
        raise InvalidValueError(f"{name} is empty (shape {tuple(t.shape)})")
    if not bool(torch.isfinite(t).all()):
        raise InvalidValueError(f"{name} holds NaN or infinite values")
    return t


def _check_samples(samples) -> torch.Tensor:
    """ReLU-generator samples ``(n, d)`` as float64, refused unless ``n >= 2``, finite and ``>= 0``."""
    y = _as_matrix("samples", samples)
    if y.shape[0] < 2:
        raise InvalidValueError(f"samples must hold at least 2 rows (samples x coordinates), got shape {tuple(y.shape)}")
    if bool((y < 0).any()):
        raise InvalidValueError(f"samples must be >= 0 (outputs of a ReLU), got a minimum of {float(y.min()):.4g}")
    return y


def relu_generator_samples(W, b, n: int, *, seed: int) -> torch.Tensor:
    """``n`` samples ``y = ReLU(W z + b)``, ``z ~ N(0, I_k)`` drawn with ``seed``: float64 ``(n, d)``.
    ``W``: ``(d, k)``; ``b``: ``(d,)``."""
    W = _as_matrix("W", W)
    b = _as_matrix("b", b, shape=(W.shape[0],), ndim=1)
    check_number("n", n, low=1, integer=True)
    g = torch.Generator().manual_seed(check_seed("seed", seed))
    z = torch.randn(n, W.shape[1], generator=g, dtype=torch.float64)
    return torch.relu(torch.addmm(b, z, W.T))


def random_relu_generator(d: int, k: int | None = None, *, condition: float = 1.0,
                          seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's Figure 1 ground truth ``(W*, b*)``: ``b* = max(0, N(0, I_d))`` and ``W* = U diag(s)``, ``U``
    the left singular vectors of a ``d x k`` Gaussian matrix (``k = d`` by default; ``k > d`` is refused, as the
    paper's setting has ``k <= d``) and ``s_j = λ^-(j-1)``, ``λ = condition^(1/(2(min(d,k)-1)))``: singular values
    spread geometrically so that ``W* W*ᵀ`` has condition number ``condition`` on its range (1: orthonormal
    columns)."""
    check_sizes("random_relu_generator", d=d)
    k = d if k is None else k
    check_sizes("random_relu_generator", k=k)
    if k > d:
        raise InvalidValueError(f"random_relu_generator: k must be <= d, got k={k}, d={d}")
    check_number("condition", condition, low=1.0)
    g = torch.Generator().manual_seed(check_seed("seed", seed))
    b = torch.relu(torch.randn(d, generator=g, dtype=torch.float64))
    u, _, _ = torch.linalg.svd(torch.randn(d, k, generator=g, dtype=torch.float64), full_matrices=False)
    steps = torch.arange(k, dtype=torch.float64)
    s = condition ** (-steps / (2 * (k - 1))) if k > 1 else torch.ones(1, dtype=torch.float64)
    return u * s, b


def _mills(a: torch.Tensor) -> torch.Tensor:
    """The inverse Mills ratio ``φ(a) / (1 − Φ(a))`` of a standard normal, stable for every ``a``."""
    return math.sqrt(2 / math.pi) / torch.special.erfcx(a / _SQRT2)


def truncated_normal_mle(samples) -> tuple[torch.Tensor, torch.Tensor]:
    """Per column of ``samples`` ``(n, d)`` (``>= 0``), the maximum-likelihood ``(μ, σ)`` (two ``(d,)`` tensors) of
    ``N(μ, σ²)`` truncated to ``(0, ∞)``, fitted to the column's positive entries (the zeros are the ReLU's; μ may
    come out negative).

    The paper fits this likelihood by projected SGD (its Algorithm 2). The truncated normal is an exponential family
    in ``(x, x²)``, so the MLE is the one member whose mean and variance equal the sample's; with the truncation point
    ``a = −μ/σ`` in standard units, the ratio mean / sd of the positive part is ``(λ(a) − a) / sqrt(1 − λ(a)(λ(a) − a))``
    (``λ`` the inverse Mills ratio), strictly decreasing in ``a``: it is solved for ``a`` by bisection, for all
    columns at once, then ``σ = sd / sqrt(1 − λ(λ − a))``, ``μ = −σ a``. A column whose mean / sd is below that of
    ``a = A_MAX`` (more skewed than a truncated normal can be, which only happens by chance at small counts) gets
    ``a = A_MAX``. Refused (``InvalidValueError``): a column with fewer than 2 distinct positive values, where
    nothing can be fitted (e.g. a coordinate that is never positive)."""
    y = _check_samples(samples)
    positive = y > 0
    count = positive.sum(0).to(torch.float64)
    mean = y.sum(0) / count.clamp(min=1)
    var = (((y - mean) * positive) ** 2).sum(0) / count.clamp(min=1)
    bad = (count < 2) | (var <= 1e-12 * mean ** 2)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        raise InvalidValueError(f"coordinate {i} of the samples has {int(count[i])} positive value(s) and no spread "
                                "among them: its bias and weight norm cannot be estimated")
    ratio = mean / var.sqrt()
    lo = torch.full_like(ratio, -1.0) - ratio - 10.0  # mean/sd(a) > -a for a < 0, so the root lies above -ratio - 10
    hi = torch.full_like(ratio, A_MAX)
    for _ in range(80):
        mid = (lo + hi) / 2
        lam = _mills(mid)
        above = (lam - mid) / (1 - lam * (lam - mid)).sqrt() > ratio  # the ratio at mid exceeds the sample's: a is larger
        lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
    a = (lo + hi) / 2
    lam = _mills(a)
    sigma = var.sqrt() / (1 - lam * (lam - a)).sqrt()
    return -sigma * a, sigma


def truncated_normal_sgd(samples, *, seed: int = 0, batch_size: int = 10, step: float = 0.1,
                         box: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's own fit of the same truncated-normal likelihood as :func:`truncated_normal_mle` (its
    Algorithm 2, projected SGD), per column of ``samples`` ``(n, d)`` (``>= 0``), for comparison: the positive
    entries are standardized by their mean and sd; the natural parameters ``v = (1/σ², μ/σ²)`` (standard units)
    start at ``(1, 0)`` and take one pass over the entries in their order, ``batch_size`` at a time, each step
    ``v -= g / (step · t)`` with ``g`` = the batch's ``(x²/2, −x)`` minus the same of ``batch_size`` draws from the
    current truncated normal (inverse-CDF sampling, ``seed``), then projected on ``[1/box, box] x [−box, box]``;
    the estimate is the average of all iterates. Returns ``(μ, σ)``, two ``(d,)`` tensors. A Python loop over the
    ``n_pos / batch_size`` steps (vectorised over the columns), so slower than the MLE and noisier. Refused as
    :func:`truncated_normal_mle`."""
    from scipy.special import ndtr, ndtri

    truncated_normal_mle(samples)  # the same refusals
    y = _check_samples(samples).numpy()
    check_sizes("truncated_normal_sgd", batch_size=batch_size)
    check_number("step", step, low=0.0, strict=True)
    check_number("box", box, low=1.0, strict=True)
    rng = np.random.default_rng(check_seed("seed", seed))
    positive = y > 0
    count = positive.sum(0)
    order = np.argsort(~positive, axis=0, kind="stable")  # each column's positive entries first, in their order
    x = np.take_along_axis(y, order, 0)
    m0 = (y * positive).sum(0) / count
    sd0 = np.sqrt((((y - m0) * positive) ** 2).sum(0) / count)
    x = (x - m0) / sd0
    thres = -m0 / sd0
    n_steps = count // batch_size
    v = np.tile(np.array([[1.0], [0.0]]), (1, y.shape[1]))  # (2, d)
    total = np.zeros_like(v)
    for t in range(1, int(n_steps.max()) + 1):
        live = t <= n_steps
        mu, sd = v[1] / v[0], 1 / np.sqrt(v[0])
        tail = ndtr(-(thres - mu) / sd)  # P(model > thres)
        u = 1.0 - rng.random((batch_size, y.shape[1]))  # in (0, 1]
        z = mu - sd * ndtri(u * tail)  # inverse CDF of the upper tail: P(Z > z) = u * tail
        xb = x[(t - 1) * batch_size: t * batch_size]
        grad = np.stack([0.5 * (xb ** 2).mean(0) - 0.5 * (z ** 2).mean(0), z.mean(0) - xb.mean(0)])
        v = np.where(live, v - grad / (step * t), v)
        v = np.stack([np.clip(v[0], 1 / box, box), np.clip(v[1], -box, box)])
        total += np.where(live, v, 0.0)
    v_bar = total / n_steps
    sigma = sd0 / np.sqrt(v_bar[0])
    return torch.from_numpy(m0 + v_bar[1] * sd0 / v_bar[0]), torch.from_numpy(sigma)


def orthant_probability(h1, h2, rho) -> torch.Tensor:
    """``P(u_1 > h1, u_2 > h2)`` for standard bivariate normal ``(u_1, u_2)`` with correlation ``rho`` in
    ``[-1, 1]`` (tensors broadcast together; float64). Plackett's identity ``∂P/∂ρ = φ_2(h1, h2; ρ)`` integrated
    from ``ρ = 0`` (where ``P = Q(h1) Q(h2)``) with ``ρ = sin t``, which makes the integrand smooth and bounded:
    ``P = Q(h1) Q(h2) + (1/2π) ∫_0^{arcsin ρ} exp(−(h1² − 2 h1 h2 sin t + h2²) / (2 cos² t)) dt`` (32-point
    Gauss–Legendre). At ``h1 = h2 = 0`` this is ``1/4 + arcsin(ρ)/(2π) = (π − θ)/(2π)``, ``θ = arccos ρ``, the
    paper's formula."""
    h1, h2, rho = (torch.as_tensor(v, dtype=torch.float64) for v in (h1, h2, rho))
    if not bool(((rho >= -1) & (rho <= 1)).all()):
        raise InvalidValueError("orthant_probability: rho must lie in [-1, 1]")
    _check_thresholds("orthant_probability", h1, h2)
    return _orthant(*torch.broadcast_tensors(h1, h2, torch.arcsin(rho))).clamp(0.0, 1.0)  # (rounding near 0)


def _check_thresholds(owner: str, h1: torch.Tensor, h2: torch.Tensor) -> None:
    if not bool(torch.isfinite(h1).all() & torch.isfinite(h2).all()):
        raise InvalidValueError(f"{owner}: the thresholds h1, h2 must be finite")


def _orthant(h1: torch.Tensor, h2: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """:func:`orthant_probability` at ``ρ = sin t``, ``t`` in ``[-π/2, π/2]``."""
    s = (t.unsqueeze(-1) / 2) * (1 + _NODES)  # Gauss-Legendre nodes mapped to [0, t]
    h1_, h2_ = h1.unsqueeze(-1), h2.unsqueeze(-1)
    cos2 = torch.cos(s) ** 2
    f = torch.exp(-(h1_ ** 2 - 2 * h1_ * h2_ * torch.sin(s) + h2_ ** 2) / (2 * cos2).clamp(min=1e-300))
    integral = (t / 2) * (f * _WEIGHTS).sum(-1) / (2 * math.pi)
    return torch.special.ndtr(-h1) * torch.special.ndtr(-h2) + integral


def orthant_correlation(p, h1, h2) -> torch.Tensor:
    """The inverse of :func:`orthant_probability` in ``rho``: the correlation in ``[-1, 1]`` at which
    ``P(u_1 > h1, u_2 > h2) = p`` (tensors broadcast together; float64). The probability increases strictly with
    ``rho``; a ``p`` outside what ``rho`` in ``[-1, 1]`` reaches (sampling noise) gives ``-1`` or ``1``. Bisection in
    ``t = arcsin rho``, 60 halvings (to ~1e-16)."""
    p, h1, h2 = torch.broadcast_tensors(*(torch.as_tensor(v, dtype=torch.float64) for v in (p, h1, h2)))
    if not bool(((p >= 0) & (p <= 1)).all()):
        raise InvalidValueError("orthant_correlation: p must lie in [0, 1]")
    _check_thresholds("orthant_correlation", h1, h2)
    lo = torch.full_like(p, -math.pi / 2)
    hi = torch.full_like(p, math.pi / 2)
    for _ in range(60):
        mid = (lo + hi) / 2
        below = _orthant(h1, h2, mid) < p
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return torch.sin((lo + hi) / 2)


def learn_relu_generator(samples, *, nonnegative_bias: bool = True, fit: str = "mle",
                         seed: int = 0) -> ReluGeneratorEstimate:
    """Estimate ``b`` and ``Σ = W Wᵀ`` of ``y = ReLU(W z + b)``, ``z ~ N(0, I_k)``, from ``samples`` of ``y`` alone
    (``(n, d)``, ``>= 0``; a tensor or array): the paper's Algorithm 1, batched over coordinates and pairs.

    Per coordinate, ``(b_i, ‖w_i‖)`` = :func:`truncated_normal_mle` of the positive samples (the exact MLE of the
    likelihood the paper fits by projected SGD), ``b_i`` clipped at 0 when ``nonnegative_bias`` (the paper's
    assumption ``b* >= 0``). Per pair, the co-positive fraction ``p̂_ij`` = share of samples with
    ``y_i > max(b̂_i, 0)`` and ``y_j > max(b̂_j, 0)``, i.e. ``w_iᵀz > h_i ‖w_i‖`` with ``h_i = max(−b̂_i, 0)/‖ŵ_i‖``;
    ``cos θ_ij`` = :func:`orthant_correlation` ``(p̂_ij, h_i, h_j)``, which with ``b̂ >= 0`` (``h = 0``) is the paper's
    ``θ̂_ij = π − 2π p̂_ij``. ``Σ̂_ij = ‖ŵ_i‖ ‖ŵ_j‖ cos θ̂_ij`` (symmetric; not forced positive semi-definite, as in the
    paper). With ``nonnegative_bias=False`` a negative ``b_i`` is kept and the pair statistic uses the orthant
    formula at ``h_i > 0``: an extension of the paper, for generators whose bias may be negative.

    ``fit="sgd"`` fits the truncated normals with the paper's projected SGD (:func:`truncated_normal_sgd`, seeded
    by ``seed``) instead of the exact MLE: the authors' code, for comparison (``method`` ``"wu-sgd"``).

    Refused with ``InvalidValueError``: samples not 2-D, fewer than 2 rows, NaN / infinite or negative entries, a
    coordinate with fewer than 2 distinct positive values (never positive: its ``b_i`` and ``‖w_i‖`` are not
    identifiable from the samples), an unknown ``fit``."""
    if not isinstance(nonnegative_bias, bool):
        raise InvalidValueError(f"nonnegative_bias must be True or False, got {nonnegative_bias!r}")
    if fit not in ("mle", "sgd"):
        raise InvalidValueError(f"fit must be 'mle' or 'sgd', got {fit!r}")
    y = _check_samples(samples)
    b, norms = truncated_normal_mle(y) if fit == "mle" else truncated_normal_sgd(y, seed=seed)
    if nonnegative_bias:
        b = b.clamp(min=0)
    above = (y > b.clamp(min=0)).to(torch.float64)
    p = above.T @ above / y.shape[0]  # (d, d) co-positive fractions
    h = (-b).clamp(min=0) / norms
    rho = orthant_correlation(p, h[:, None], h[None, :])
    rho.fill_diagonal_(1.0)
    rho = (rho + rho.T) / 2
    return ReluGeneratorEstimate(b=b, sigma=norms[:, None] * rho * norms[None, :], norms=norms,
                                 method="wu" if fit == "mle" else "wu-sgd")


def fit_gaussian(samples) -> ReluGeneratorEstimate:
    """The naive baseline: the sample mean of ``samples`` ``(n, d)`` as ``b`` and their covariance (divided by
    ``n``) as ``Σ``, as if ``y`` were ``N(b, Σ)`` (ignoring the ReLU; not consistent for ``Σ*`` or ``b*``). Bad input
    as :func:`learn_relu_generator`."""
    y = _check_samples(samples)
    b = y.mean(0)
    sigma = (y - b).T @ (y - b) / y.shape[0]
    return ReluGeneratorEstimate(b=b, sigma=sigma, norms=sigma.diagonal().sqrt(), method="naive")


def fit_relu_generator_moments(samples, *, latent_dim: int | None = None, steps: int = 1000,
                               batch_size: int = 2048, lr: float = 0.05, seed: int = 0) -> ReluGeneratorEstimate:
    """The gradient-descent baseline: a generator ``ReLU(W z + b)`` of the same form (``W`` ``(d, latent_dim)``,
    ``latent_dim = d`` by default) fitted by Adam (``lr``, cosine decay to 0 over ``steps``) so that its first and
    second moments ``E[y]``, ``E[y yᵀ]`` match those of ``samples`` ``(n, d)``. Each step draws two independent
    batches of ``batch_size`` latents (``seed``) and descends ``<m̂₁ − m, m̂₂ − m> + <Ŝ₁ − S, Ŝ₂ − S>``, whose
    gradient is unbiased for that of ``‖E m̂ − m‖² + ‖E Ŝ − S‖_F²``. Starts from ``b = m``, ``W`` Gaussian with
    entries of variance ``mean(var(y)) · 2 / latent_dim``. Returns ``Σ = W Wᵀ``. Float64 on the CPU. The defaults
    (1000 steps, batches of 2048, lr 0.05) were chosen on the Figure 1 setting (``d = k = 5``, n = 20k and 200k) with
    ground-truth seeds 100-103 and sample seeds 200-203, which the benchmark does not report; a longer run (2000
    steps of 4096, lr 0.02) reaches ~0.01 Σ error there at four times the cost."""
    y = _check_samples(samples)
    latent_dim = y.shape[1] if latent_dim is None else latent_dim
    check_sizes("fit_relu_generator_moments", latent_dim=latent_dim, steps=steps, batch_size=batch_size)
    check_number("lr", lr, low=0.0, strict=True)
    g = torch.Generator().manual_seed(check_seed("seed", seed))
    m = y.mean(0)
    S = y.T @ y / y.shape[0]
    W, b = _init_generator(y, latent_dim, g)
    opt = torch.optim.Adam([W, b], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        z = torch.randn(2, batch_size, latent_dim, generator=g, dtype=torch.float64)
        out = torch.relu(z @ W.T + b)
        dm = out.mean(1) - m
        dS = out.transpose(1, 2) @ out / batch_size - S
        loss = (dm[0] * dm[1]).sum() + (dS[0] * dS[1]).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    W, b = W.detach(), b.detach()
    sigma = W @ W.T
    return ReluGeneratorEstimate(b=b, sigma=sigma, norms=sigma.diagonal().sqrt(), method="moment")


def _init_generator(y: torch.Tensor, latent_dim: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The baselines' starting generator for samples ``y`` ``(n, d)``: ``W`` ``(d, latent_dim)`` Gaussian with entries
    of variance ``mean(var(y)) · 2 / latent_dim`` (drawn from ``g``), ``b = mean(y)``; both float64, requiring grad."""
    scale = math.sqrt(float(y.var(0).mean()) * 2 / latent_dim)
    W = torch.randn(y.shape[1], latent_dim, generator=g, dtype=torch.float64) * scale
    return W.requires_grad_(), y.mean(0).clone().requires_grad_()


def _linear(fan_in: int, fan_out: int, g: torch.Generator) -> list[torch.Tensor]:
    """A linear layer's ``(weight (fan_out, fan_in), bias (fan_out,))``, uniform in ``±1/sqrt(fan_in)`` as
    ``torch.nn.Linear`` but drawn from ``g``; float64, requiring grad."""
    bound = 1 / math.sqrt(fan_in)
    return [((torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * bound).requires_grad_()
            for shape in ((fan_out, fan_in), (fan_out,))]


def fit_relu_generator_gan(samples, *, latent_dim: int | None = None, steps: int = 1000, batch_size: int = 512,
                           lr: float = 1e-3, hidden: int = 64, average: float = 0.25,
                           seed: int = 0) -> ReluGeneratorEstimate:
    """The GAN baseline: a generator ``ReLU(W z + b)`` of the same form (``W`` ``(d, latent_dim)``, ``latent_dim = d``
    by default) fitted to ``samples`` ``(n, d)`` as a GAN (Goodfellow et al., NeurIPS 2014, non-saturating loss)
    against a discriminator ``D``: an MLP ``d → hidden → hidden → 1`` with LeakyReLU(0.2), its input standardized by
    the samples' per-coordinate mean and sd. Each of ``steps`` steps draws ``batch_size`` samples (with replacement)
    and ``batch_size`` latents ``z ~ N(0, I)`` (all from ``seed``), takes one Adam step (``lr``, betas (0.5, 0.999))
    of ``D`` on ``softplus(−D(y)) + softplus(D(G(z)))`` and one of ``G`` on ``softplus(−D(G(z')))`` (fresh ``z'``).
    Starts from the same generator as :func:`fit_relu_generator_moments`. Returns ``Σ = W Wᵀ`` and ``b`` averaged
    over the last ``average`` fraction of the steps (GAN iterates oscillate; ``Σ`` rather than ``W`` is averaged, as
    ``W`` may drift by a rotation). Float64 on the CPU; the cost is fixed by ``steps x batch_size``, not by ``n``.

    The defaults (1000 steps of 512, lr 1e-3, hidden 64, the last quarter averaged) were chosen on the Figure 1
    setting (``d = k = 5``, n = 20k and 200k) with ground-truth seeds 100-103 and sample seeds 200-203, which the
    benchmark does not report; there 500 steps or lr 5e-4 gave ~0.03 Σ error, 2000 steps ~0.006-0.012 at twice the
    cost, hidden 32 ~0.03, and WGAN-GP (2 critic steps) ~0.04 at over twice the cost."""
    y = _check_samples(samples)
    d = y.shape[1]
    latent_dim = d if latent_dim is None else latent_dim
    check_sizes("fit_relu_generator_gan", latent_dim=latent_dim, steps=steps, batch_size=batch_size, hidden=hidden)
    check_number("lr", lr, low=0.0, strict=True)
    check_number("average", average, low=0.0, strict=True)
    if average > 1:
        raise InvalidValueError(f"average must be a fraction in (0, 1], got {average!r}")
    g = torch.Generator().manual_seed(check_seed("seed", seed))
    W, b = _init_generator(y, latent_dim, g)
    disc = _linear(d, hidden, g) + _linear(hidden, hidden, g) + _linear(hidden, 1, g)
    mean, sd = y.mean(0), y.std(0).clamp(min=1e-12)

    def discriminate(x: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B,) logits
        h = (x - mean) / sd
        for i in (0, 2):
            h = torch.nn.functional.leaky_relu(torch.addmm(disc[i + 1], h, disc[i].T), 0.2)
        return torch.addmm(disc[5], h, disc[4].T).squeeze(-1)

    opt_g = torch.optim.Adam([W, b], lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc, lr=lr, betas=(0.5, 0.999))
    softplus = torch.nn.functional.softplus
    first = steps - max(1, round(average * steps))
    sigma_sum = torch.zeros(d, d, dtype=torch.float64)
    b_sum = torch.zeros(d, dtype=torch.float64)
    for step in range(steps):
        real = y[torch.randint(y.shape[0], (batch_size,), generator=g)]
        z = torch.randn(2, batch_size, latent_dim, generator=g, dtype=torch.float64)
        fake = torch.relu(z[0] @ W.detach().T + b.detach())
        loss_d = softplus(-discriminate(real)).mean() + softplus(discriminate(fake)).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = softplus(-discriminate(torch.relu(z[1] @ W.T + b))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if step >= first:
            w = W.detach()
            sigma_sum += w @ w.T
            b_sum += b.detach()
    sigma, b = sigma_sum / (steps - first), b_sum / (steps - first)
    return ReluGeneratorEstimate(b=b, sigma=sigma, norms=sigma.diagonal().sqrt(), method="gan")


RELU_LEARNERS: dict[str, tuple[Callable[..., ReluGeneratorEstimate], str]] = {
    "wu": (lambda y, seed: learn_relu_generator(y), "Wu et al., exact MLE (ours)"),
    "wu-sgd": (lambda y, seed: learn_relu_generator(y, fit="sgd", seed=seed), "Wu et al., projected SGD (their fit)"),
    "naive": (lambda y, seed: fit_gaussian(y), "naive Gaussian fit"),
    "moment": (lambda y, seed: fit_relu_generator_moments(y, seed=seed), "moment-matching GD"),
    "gan": (lambda y, seed: fit_relu_generator_gan(y, seed=seed), "GAN (non-saturating, MLP discriminator)"),
}
"""The estimators of ``(b, Σ)`` by name: name → ``(function (samples, seed) → ReluGeneratorEstimate at its defaults,
label)``. Used by :func:`estimate_relu_generator` and the benchmark."""


def estimate_relu_generator(samples, method: str = "wu", *, seed: int = 0) -> ReluGeneratorEstimate:
    """``(b, Σ)`` of ``y = ReLU(W z + b)`` from ``samples`` ``(n, d)`` by the estimator named ``method`` in
    :data:`RELU_LEARNERS` (``"wu"``, ``"wu-sgd"``, ``"naive"``, ``"moment"``, ``"gan"``) at its defaults, seeded by
    ``seed`` where it is random. An unknown name: ``InvalidValueError``."""
    if method not in RELU_LEARNERS:
        raise InvalidValueError(f"unknown method {method!r}; choose from {', '.join(RELU_LEARNERS)}")
    return RELU_LEARNERS[method][0](samples, seed)


def _pair(name: str, estimate, truth, ndim: int) -> tuple[torch.Tensor, torch.Tensor]:
    est = _as_matrix(f"{name} estimate", estimate, ndim=ndim)
    true = _as_matrix(f"{name} truth", truth, shape=tuple(est.shape), ndim=ndim)
    return est, true


def _check_sigma(name: str, sigma) -> torch.Tensor:
    s = _as_matrix(name, sigma)
    if s.shape[0] != s.shape[1]:
        raise InvalidValueError(f"{name} must be square (d, d), got shape {tuple(s.shape)}")
    if float(s.trace()) <= 0:
        raise InvalidValueError(f"{name} must have a positive trace (= ‖W‖_F²), got {float(s.trace()):.4g}")
    return s


def sigma_error(sigma_hat, sigma_star) -> float:
    """``‖Σ̂ − Σ*‖_F / ‖W*‖_F²`` (the paper's Figure 1; ``‖W*‖_F² = trace Σ*``). Both ``(d, d)``."""
    est, true = _pair("sigma", sigma_hat, _check_sigma("sigma_star", sigma_star), 2)
    return float(torch.linalg.matrix_norm(est - true) / true.trace())


def b_error(b_hat, b_star, sigma_star) -> float:
    """``‖b̂ − b*‖ / ‖W*‖_F`` (the paper's Figure 1; ``‖W*‖_F = sqrt(trace Σ*)``). ``b``'s ``(d,)``, ``Σ*``
    ``(d, d)``."""
    est, true = _pair("b", b_hat, b_star, 1)
    s = _check_sigma("sigma_star", sigma_star)
    if s.shape[0] != true.shape[0]:
        raise InvalidValueError(f"sigma_star must be ({true.shape[0]}, {true.shape[0]}) to match b, "
                                f"got {tuple(s.shape)}")
    return float(torch.linalg.vector_norm(est - true) / s.trace().sqrt())


def _gaussian_kl(m0: torch.Tensor, s0: torch.Tensor, m1: torch.Tensor, s1: torch.Tensor) -> float:
    """``KL(N(m0, s0) ‖ N(m1, s1))``; ``inf`` when either covariance is not positive definite."""
    c0, info0 = torch.linalg.cholesky_ex(s0)
    c1, info1 = torch.linalg.cholesky_ex(s1)
    if int(info0) or int(info1):
        return math.inf
    diff = (m1 - m0)[:, None]
    a = torch.cholesky_solve(torch.cat([s0, diff], 1), c1)  # s1^-1 [s0, diff]
    logdet = 2 * (c1.diagonal().log().sum() - c0.diagonal().log().sum())
    return float(0.5 * (a[:, :-1].trace() - s0.shape[0] + (diff * a[:, -1:]).sum() + logdet))


def tv_bound(b_hat, sigma_hat, b_star, sigma_star) -> float:
    """The paper's upper bound on the total variation between the estimated and the true ReLU distributions:
    ``sqrt(min(KL(N(b*, Σ*) ‖ N(b̂, Σ̂)), KL(N(b̂, Σ̂) ‖ N(b*, Σ*))) / 2)`` (Pinsker on the pre-activation Gaussians;
    ``ReLU`` cannot increase TV). ``b``'s ``(d,)``, ``Σ``'s ``(d, d)``. ``math.inf`` (the bound says nothing) when
    either covariance is not positive definite: a singular ``Σ*`` (``k < d``) or an estimate that is not PSD (the
    paper's code returns a complex number there)."""
    b_hat, b_star = _pair("b", b_hat, b_star, 1)
    sigma_hat, sigma_star = _pair("sigma", sigma_hat, sigma_star, 2)
    if sigma_star.shape != (b_star.shape[0],) * 2:
        raise InvalidValueError(f"sigma must be ({b_star.shape[0]}, {b_star.shape[0]}) to match b, "
                                f"got {tuple(sigma_star.shape)}")
    kl = min(_gaussian_kl(b_star, sigma_star, b_hat, sigma_hat), _gaussian_kl(b_hat, sigma_hat, b_star, sigma_star))
    return math.sqrt(max(kl, 0.0) / 2)
