"""Classical density models of images: the baselines a deep generator is measured against (Dimakis, deck 000,
"Ideas 0-4"; deck 002).

* :class:`PixelMarginals` (Idea 0): every pixel independent, each a 256-level histogram with add-``alpha``
  (Laplace) smoothing. A generator with ``latent_dim = n``: ``z ~ N(0, I)`` is mapped pixel by pixel through
  ``Phi`` and the histogram's quantile function, so ``G(z)`` is an exact draw.
* :class:`GaussianDensity` (Idea 1): one multivariate Gaussian, full covariance, shrunk towards a multiple of the
  identity, ``S_lam = (1 - lam) S + lam (tr S / n) I`` (the shrinkage target of Ledoit & Wolf 2004; ``lam`` is
  chosen by the caller, on held-out data). A generator ``x = clip(mu + L z, 0, 1)``, ``L L^T = S_lam``.
* :class:`GaussianMixtureDensity` (Idea 2): a mixture of K Gaussians, diagonal (or full, for small images)
  covariances, fitted by scikit-learn's EM (Dempster, Laird & Rubin 1977).
* :class:`SparseCodePrior` (Idea 3): sparsity in an orthonormal basis (the 2-D DCT or Haar, passed in as a
  matrix): each training image kept to its ``k`` largest coefficients, and a sample drawn with every coefficient
  independently from its empirical marginal over those sparse codes. Its closest reconstruction is the best
  ``k``-term approximation; its imputation is the Lasso in that basis (the solvers' ``lasso-dct``).

Likelihoods are of the **8-bit image** (levels ``k / 255``, as the zoo's ``*-vae-8bit`` models): ``log_prob``
returns ``log P(k)`` in nats per image. The histogram's is exact. A continuous density ``p`` gives each level the
interval ``[k/255 - 1/510, k/255 + 1/510]``, and ``log P(k) = log int_bin p >= E_u log p(k/255 + u) - n log 255``
with ``u ~ U(-1/510, 1/510)^n`` (Jensen; Theis, van den Oord & Bethge 2016, "A note on the evaluation of
generative models", Sec. 3.1): ``log_prob`` returns that bound estimated with one dequantisation draw (``seed``).
The continuous densities are fitted to dequantised images (``k/255 + u``) for the same reason.

Imputation (``impute(images, mask)``): ``mask`` ``(H, W)`` or ``(C, H, W)``, boolean, true where the pixel is
observed (as :class:`genprior.operators.Inpaint`'s), one mask for the whole batch; the missing pixels get their
conditional mean given the observed ones (for the marginals, the marginal mean), clipped to [0, 1]; observed pixels
are returned as they are. Layer 1: this file imports nothing from solvers or evaluate.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from genprior.data.checks import check_image_batch
from genprior.errors import (
    InvalidValueError,
    ShapeError,
    check_number,
    check_seed,
    check_sizes,
)

LEVELS = 255  # an 8-bit image: intensities k / 255, as genprior.models.vae
DEQUANTISATION_VARIANCE = 1.0 / (12 * LEVELS ** 2)  # variance of u ~ U(-1/510, 1/510)


def dequantize(images: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """``round(255 x) / 255 + u``, ``u ~ U(-1/510, 1/510)`` per value (float64): a draw from each level's bin."""
    g = torch.Generator().manual_seed(check_seed("seed", seed))
    levels = (images.double() * LEVELS).round() / LEVELS
    return levels + (torch.rand(levels.shape, generator=g, dtype=torch.float64) - 0.5) / LEVELS


def bits_per_pixel(log_prob: torch.Tensor, n_pixels: int) -> float:
    """``-mean(log_prob) / (n_pixels ln 2)``: nats per image -> bits per pixel."""
    return float(-log_prob.double().mean() / (n_pixels * math.log(2)))


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, chol: torch.Tensor) -> torch.Tensor:
    """``log N(x; mean, L L^T)`` ``(B,)`` for ``x`` ``(B, d)``, ``mean`` ``(d,)``, lower-triangular ``chol`` ``(d, d)``."""
    sol = torch.linalg.solve_triangular(chol, (x - mean).T, upper=False)
    d = x.shape[1]
    return -0.5 * (sol ** 2).sum(0) - torch.log(torch.diagonal(chol)).sum() - 0.5 * d * math.log(2 * math.pi)


def gaussian_conditional(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor,
                         observed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The Gaussian ``N(mean, cov)`` (``(n,)``, ``(n, n)``) conditioned on the ``observed`` entries (bool ``(n,)``) of
    ``x`` ``(B, n)``: the conditional mean of the missing entries ``mu_m + S_mo S_oo^{-1} (x_o - mu_o)`` ``(B, #m)``
    and the marginal log density of the observed ones ``log N(x_o; mu_o, S_oo)`` ``(B,)`` (0 when none is)."""
    o, m = observed, ~observed
    if not bool(o.any()):
        return mean[m].expand(len(x), -1).clone(), torch.zeros(len(x), dtype=x.dtype)
    chol = torch.linalg.cholesky(cov[o][:, o])
    diff = (x[:, o] - mean[o]).T  # (#o, B)
    white = torch.linalg.solve_triangular(chol, diff, upper=False)
    solved = torch.linalg.solve_triangular(chol.T, white, upper=True)  # S_oo^{-1} (x_o - mu_o)
    cond = mean[m] + (cov[m][:, o] @ solved).T
    logp = -0.5 * (white ** 2).sum(0) - torch.log(torch.diagonal(chol)).sum() - 0.5 * int(o.sum()) * math.log(2 * math.pi)
    return cond, logp


class DensityModel(nn.Module):
    """What the classical models share: ``output_shape`` ``(C, H, W)``, the checks of images and masks,
    :meth:`sample`, :meth:`bits_per_pixel` and :meth:`impute` around the model's own conditional mean."""

    def __init__(self, output_shape=(1, 28, 28)):
        super().__init__()
        self.output_shape = tuple(int(s) for s in output_shape)
        if len(self.output_shape) != 3:
            raise ShapeError(f"{type(self).__name__}: output_shape must be (C, H, W), got {self.output_shape}")
        check_sizes(type(self).__name__, output_shape=self.output_shape)
        self.n_pixels = math.prod(self.output_shape)

    def _images(self, images, what: str = "images") -> torch.Tensor:
        """``images`` checked (a (B, C, H, W) batch of this shape, in [0, 1]) and flattened to float64 ``(B, n)``."""
        check_image_batch(images, owner=type(self).__name__, what=what, shape=self.output_shape)
        return images.detach().cpu().double().flatten(1)

    def _mask(self, mask) -> torch.Tensor:
        """A boolean mask ``(H, W)`` or ``(C, H, W)`` (true = observed) as a flat ``(n,)`` mask over the pixels."""
        c, h, w = self.output_shape
        if not torch.is_tensor(mask) or mask.dtype != torch.bool:
            raise InvalidValueError(f"{type(self).__name__}: mask must be a boolean tensor (true = observed), got "
                                    f"{getattr(mask, 'dtype', type(mask).__name__)}")
        if tuple(mask.shape) == (h, w):
            mask = mask.expand(c, h, w)
        if tuple(mask.shape) != (c, h, w):
            raise ShapeError(f"{type(self).__name__}: mask must have shape ({h}, {w}) or ({c}, {h}, {w}), got "
                             f"{tuple(mask.shape)}")
        return mask.cpu().reshape(-1)

    def _count(self, n) -> int:
        return int(check_number("n", n, low=1, integer=True))

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples ``(n, C, H, W)`` in [0, 1] (float32)."""
        raise NotImplementedError

    def log_prob(self, images: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
        """``log P`` (nats) of each 8-bit image ``(B,)`` (see the module's docstring)."""
        raise NotImplementedError

    def bits_per_pixel(self, images: torch.Tensor, *, seed: int = 0) -> float:
        """``-log2 P(8-bit image) / n`` averaged over ``images`` ``(B, C, H, W)`` in [0, 1]."""
        return bits_per_pixel(self.log_prob(images, seed=seed), self.n_pixels)

    def conditional_mean(self, x: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """``E[x_missing | x_observed]`` ``(B, #missing)`` for flat float64 ``x`` ``(B, n)``."""
        raise NotImplementedError

    def impute(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``images`` ``(B, C, H, W)`` in [0, 1] with the pixels where ``mask`` is false replaced by their
        conditional mean given the observed ones (clipped to [0, 1]); float32, same shape."""
        x = self._images(images)
        observed = self._mask(mask)
        out = x.clone()
        if bool((~observed).any()):
            out[:, ~observed] = self.conditional_mean(x, observed).clamp(0, 1)
        return out.float().view(-1, *self.output_shape)


class PixelMarginals(DensityModel):
    """Idea 0: independent pixels, each a smoothed 256-level histogram ``p_j(k) = (count_jk + alpha) / (N + 256
    alpha)``. A generator: ``latent_dim = n``, ``G(z)_j = Q_j(Phi(z_j))`` (``Q_j`` the histogram's quantile)."""

    def __init__(self, *, output_shape=(1, 28, 28)):
        super().__init__(output_shape)
        self.latent_dim = self.n_pixels
        self.register_buffer("probs", torch.full((self.n_pixels, LEVELS + 1), 1.0 / (LEVELS + 1), dtype=torch.float64))

    @classmethod
    def fit(cls, images: torch.Tensor, *, alpha: float = 1.0) -> PixelMarginals:
        """Histogram of each pixel's 8-bit level over ``images`` ``(N, C, H, W)`` in [0, 1], ``alpha`` > 0 added to
        every count."""
        alpha = check_number("alpha", alpha, low=0.0, strict=True)
        model = cls(output_shape=tuple(images.shape[1:]) if torch.is_tensor(images) and images.dim() == 4 else (0,))
        levels = (model._images(images) * LEVELS).round().long()  # (N, n)
        counts = torch.zeros(model.n_pixels, LEVELS + 1, dtype=torch.float64)
        counts.scatter_add_(1, levels.T.contiguous(), torch.ones(levels.T.shape, dtype=torch.float64))
        model.probs.copy_((counts + alpha) / (len(levels) + (LEVELS + 1) * alpha))
        return model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` ``(B, n)`` -> images ``(B, C, H, W)``: each pixel the level whose CDF first reaches ``Phi(z_j)``."""
        u = torch.special.ndtr(z.double().cpu()).T.contiguous()  # (n, B)
        cdf = self.probs.cumsum(1)
        cdf[:, -1] = 1.0
        levels = torch.searchsorted(cdf, u).clamp(max=LEVELS)
        return (levels.T.float() / LEVELS).view(-1, *self.output_shape).to(z.device)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return self(torch.randn(self._count(n), self.latent_dim, generator=generator))

    def log_prob(self, images: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
        """Exact: ``sum_j log p_j(round(255 x_j))`` (``seed`` unused)."""
        levels = (self._images(images) * LEVELS).round().long()
        return torch.log(self.probs).gather(1, levels.T.contiguous()).sum(0)

    def conditional_mean(self, x: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        mean = self.probs @ (torch.arange(LEVELS + 1, dtype=torch.float64) / LEVELS)
        return mean[~observed].expand(len(x), -1).clone()


class GaussianDensity(DensityModel):
    """Idea 1: ``N(mu, S)`` over the flat image, a generator ``x = clip(mu + L z, 0, 1)`` with ``L L^T = S``
    (``latent_dim = n``)."""

    def __init__(self, *, output_shape=(1, 28, 28)):
        super().__init__(output_shape)
        self.latent_dim = self.n_pixels
        self.register_buffer("mean", torch.zeros(self.n_pixels, dtype=torch.float64))
        self.register_buffer("covariance", torch.eye(self.n_pixels, dtype=torch.float64))
        self.register_buffer("chol", torch.eye(self.n_pixels, dtype=torch.float64))

    @classmethod
    def from_moments(cls, mean: torch.Tensor, covariance: torch.Tensor, *, output_shape) -> GaussianDensity:
        """The Gaussian with this ``mean`` ``(n,)`` and positive definite ``covariance`` ``(n, n)``."""
        model = cls(output_shape=output_shape)
        if tuple(mean.shape) != (model.n_pixels,) or tuple(covariance.shape) != (model.n_pixels,) * 2:
            raise ShapeError(f"GaussianDensity: mean ({model.n_pixels},) and covariance ({model.n_pixels}, "
                             f"{model.n_pixels}) expected, got {tuple(mean.shape)} and {tuple(covariance.shape)}")
        chol, info = torch.linalg.cholesky_ex(covariance.double())
        if int(info) != 0 or not bool(torch.isfinite(chol).all()):
            raise InvalidValueError("GaussianDensity: covariance is not positive definite")
        model.mean.copy_(mean.double())
        model.covariance.copy_(covariance.double())
        model.chol.copy_(chol)
        return model

    @classmethod
    def fit(cls, images: torch.Tensor, *, shrinkage: float = 0.01, seed: int = 0) -> GaussianDensity:
        """Mean and covariance of the dequantised ``images`` ``(N, C, H, W)`` (N >= 2; in [0, 1]) -- the sample
        covariance of the images plus ``1/(12 * 255^2) I``, the dequantisation's -- shrunk by ``shrinkage`` in
        [0, 1]: ``(1 - lam) S + lam (tr S / n) I`` (positive definite for any ``lam > 0``)."""
        shrinkage = check_number("shrinkage", shrinkage, low=0.0)
        if shrinkage > 1:
            raise InvalidValueError(f"shrinkage must be in [0, 1], got {shrinkage!r}")
        check_seed("seed", seed)
        model = cls(output_shape=tuple(images.shape[1:]) if torch.is_tensor(images) and images.dim() == 4 else (0,))
        x = model._images(images)
        if len(x) < 2:
            raise InvalidValueError(f"GaussianDensity.fit needs at least 2 images, got {len(x)}")
        x = (x * LEVELS).round() / LEVELS
        mean = x.mean(0)
        centred = x - mean
        cov = centred.T @ centred / (len(x) - 1) + DEQUANTISATION_VARIANCE * torch.eye(model.n_pixels, dtype=torch.float64)
        target = torch.diagonal(cov).mean() * torch.eye(model.n_pixels, dtype=torch.float64)
        return cls.from_moments(mean, (1 - shrinkage) * cov + shrinkage * target, output_shape=model.output_shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` ``(B, n)`` -> ``clip(mu + L z, 0, 1)`` ``(B, C, H, W)``, float32."""
        x = self.mean + z.double().cpu() @ self.chol.T
        return x.clamp(0, 1).float().view(-1, *self.output_shape).to(z.device)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return self(torch.randn(self._count(n), self.latent_dim, generator=generator))

    def log_prob(self, images: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
        """The dequantised bound ``log N(k/255 + u; mu, S) - n log 255`` (one draw of ``u``, from ``seed``)."""
        x = dequantize(self._images(images).view(-1, *self.output_shape), seed=seed).flatten(1)
        return gaussian_log_density(x, self.mean, self.chol) - self.n_pixels * math.log(LEVELS)

    def conditional_mean(self, x: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        return gaussian_conditional(x, self.mean, self.covariance, observed)[0]


class GaussianMixtureDensity(DensityModel):
    """Idea 2: ``sum_c w_c N(mu_c, S_c)``, ``S_c`` diagonal (``covariance="diag"``, buffers ``(K, n)``) or full
    (``"full"``, ``(K, n, n)``: small images only). Imputation: the mixture's conditional mean,
    ``sum_c P(c | x_o) E_c[x_m | x_o]``, with ``P(c | x_o) ~ w_c N(x_o; mu_c,o, S_c,oo)``."""

    COVARIANCES = ("diag", "full")

    def __init__(self, *, output_shape=(1, 28, 28), components: int = 1, covariance: str = "diag"):
        super().__init__(output_shape)
        check_sizes("GaussianMixtureDensity", components=components)
        if covariance not in self.COVARIANCES:
            raise InvalidValueError(f"GaussianMixtureDensity: covariance must be one of {', '.join(self.COVARIANCES)}, "
                                    f"got {covariance!r}")
        self.components, self.covariance = int(components), covariance
        n, k = self.n_pixels, self.components
        self.register_buffer("weights", torch.full((k,), 1.0 / k, dtype=torch.float64))
        self.register_buffer("means", torch.zeros(k, n, dtype=torch.float64))
        shape = (k, n) if covariance == "diag" else (k, n, n)
        self.register_buffer("covariances", torch.ones(shape, dtype=torch.float64) if covariance == "diag"
                             else torch.eye(n, dtype=torch.float64).repeat(k, 1, 1))

    @classmethod
    def from_parameters(cls, weights: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor, *,
                        output_shape) -> GaussianMixtureDensity:
        """The mixture with ``weights`` ``(K,)`` (positive, summing to 1), ``means`` ``(K, n)`` and ``covariances``
        ``(K, n)`` (diagonal, positive) or ``(K, n, n)`` (full, positive definite)."""
        if weights.dim() != 1 or len(weights) < 1:
            raise ShapeError(f"GaussianMixtureDensity: weights must be (K,) with K >= 1, got {tuple(weights.shape)}")
        kind = "diag" if covariances.dim() == 2 else "full"
        model = cls(output_shape=output_shape, components=len(weights), covariance=kind)
        if tuple(means.shape) != tuple(model.means.shape) or tuple(covariances.shape) != tuple(model.covariances.shape):
            raise ShapeError(f"GaussianMixtureDensity: means {tuple(model.means.shape)} and covariances "
                             f"{tuple(model.covariances.shape)} expected, got {tuple(means.shape)} and "
                             f"{tuple(covariances.shape)}")
        if not bool((weights > 0).all()) or abs(float(weights.sum()) - 1) > 1e-6:
            raise InvalidValueError("GaussianMixtureDensity: weights must be positive and sum to 1")
        if kind == "diag" and not bool((covariances > 0).all()):
            raise InvalidValueError("GaussianMixtureDensity: diagonal covariances must be positive")
        if kind == "full" and int(torch.linalg.cholesky_ex(covariances.double())[1].max()) != 0:
            raise InvalidValueError("GaussianMixtureDensity: covariances must be positive definite")
        model.weights.copy_(weights.double())
        model.means.copy_(means.double())
        model.covariances.copy_(covariances.double())
        return model

    @classmethod
    def fit(cls, images: torch.Tensor, *, components: int = 10, covariance: str = "diag", max_iter: int = 100,
            reg_covar: float = 1e-6, seed: int = 0) -> GaussianMixtureDensity:
        """EM (scikit-learn's ``GaussianMixture``, k-means initialisation) on the dequantised ``images``
        ``(N, C, H, W)`` in [0, 1], N >= ``components``; ``reg_covar`` > 0 added to every variance."""
        from sklearn.mixture import GaussianMixture

        check_sizes("GaussianMixtureDensity.fit", components=components, max_iter=max_iter)
        check_number("reg_covar", reg_covar, low=0.0, strict=True)
        if covariance not in cls.COVARIANCES:
            raise InvalidValueError(f"GaussianMixtureDensity: covariance must be one of {', '.join(cls.COVARIANCES)}, "
                                    f"got {covariance!r}")
        seed = check_seed("seed", seed)
        shape = tuple(images.shape[1:]) if torch.is_tensor(images) and images.dim() == 4 else (0,)
        x = cls(output_shape=shape, components=1, covariance="diag")._images(images)
        if len(x) < components:
            raise InvalidValueError(f"GaussianMixtureDensity.fit needs at least components = {components} images, "
                                    f"got {len(x)}")
        x = dequantize(x, seed=seed).numpy()
        gm = GaussianMixture(components, covariance_type=covariance, max_iter=max_iter, reg_covar=reg_covar,
                             random_state=seed % 2 ** 32).fit(x)
        return cls.from_parameters(torch.from_numpy(gm.weights_), torch.from_numpy(gm.means_),
                                   torch.from_numpy(gm.covariances_), output_shape=shape)

    def _component_log_density(self, x: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """``log N(x_o; mu_c,o, S_c,oo)`` ``(B, K)`` over the ``observed`` entries of ``x`` ``(B, n)``."""
        o = observed
        if self.covariance == "diag":
            var = self.covariances[:, o]  # (K, #o)
            diff2 = ((x[:, None, o] - self.means[None, :, o]) ** 2 / var).sum(-1)  # (B, K)
            return -0.5 * (diff2 + torch.log(var).sum(-1) + int(o.sum()) * math.log(2 * math.pi))
        return torch.stack([gaussian_conditional(x, mu, cov, o)[1] for mu, cov in zip(self.means, self.covariances)], 1)

    def log_prob(self, images: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
        """The dequantised bound ``log sum_c w_c N(k/255 + u; mu_c, S_c) - n log 255`` (one draw of ``u``)."""
        x = dequantize(self._images(images).view(-1, *self.output_shape), seed=seed).flatten(1)
        every = torch.ones(self.n_pixels, dtype=torch.bool)
        joint = torch.log(self.weights) + self._component_log_density(x, every)
        return torch.logsumexp(joint, 1) - self.n_pixels * math.log(LEVELS)

    def posterior(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``P(c | x_o)`` ``(B, K)`` from the pixels of ``images`` where ``mask`` is true."""
        x = self._images(images)
        observed = self._mask(mask)
        return torch.softmax(torch.log(self.weights) + self._component_log_density(x, observed), 1)

    def conditional_mean(self, x: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        resp = torch.softmax(torch.log(self.weights) + self._component_log_density(x, observed), 1)  # (B, K)
        if self.covariance == "diag":  # within a component the pixels are independent: E_c[x_m | x_o] = mu_c,m
            return resp @ self.means[:, ~observed]
        cond = torch.stack([gaussian_conditional(x, mu, cov, observed)[0]
                            for mu, cov in zip(self.means, self.covariances)], 1)  # (B, K, #m)
        return (resp[:, :, None] * cond).sum(1)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        n = self._count(n)
        which = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.n_pixels, generator=generator, dtype=torch.float64)
        if self.covariance == "diag":
            x = self.means[which] + z * self.covariances[which].sqrt()
        else:
            x = self.means[which] + (torch.linalg.cholesky(self.covariances)[which] @ z[:, :, None])[..., 0]
        return x.clamp(0, 1).float().view(-1, *self.output_shape)


class SparseCodePrior(DensityModel):
    """Idea 3: images sparse in an orthonormal ``basis`` ``Psi`` (``(n, n)``, columns the atoms, ``x = Psi c``).
    Fitted codes keep each training image's ``k`` largest coefficients; :meth:`sample` draws every coefficient
    independently from its empirical marginal over those codes (zeros included). No likelihood."""

    def __init__(self, *, output_shape=(1, 28, 28), k: int = 50, bank: int = 1):
        super().__init__(output_shape)
        check_sizes("SparseCodePrior", k=k, bank=bank)
        if k > self.n_pixels:
            raise InvalidValueError(f"SparseCodePrior: k = {k} exceeds the {self.n_pixels} pixels")
        self.k = int(k)
        self.register_buffer("basis", torch.eye(self.n_pixels, dtype=torch.float64))
        self.register_buffer("codes", torch.zeros(int(bank), self.n_pixels, dtype=torch.float64))

    @classmethod
    def fit(cls, images: torch.Tensor, basis: torch.Tensor, *, k: int = 50) -> SparseCodePrior:
        """Codes ``Psi^T x`` of ``images`` ``(N, C, H, W)`` in [0, 1], each kept to its ``k`` largest magnitudes;
        ``basis`` ``(n, n)`` orthonormal (e.g. :func:`genprior.solvers.lasso.bases.basis_matrix`)."""
        shape = tuple(images.shape[1:]) if torch.is_tensor(images) and images.dim() == 4 else (0,)
        model = cls(output_shape=shape, k=k, bank=images.shape[0] if torch.is_tensor(images) and images.dim() == 4
                    and images.shape[0] > 0 else 1)
        x = model._images(images)
        n = model.n_pixels
        if not torch.is_tensor(basis) or tuple(basis.shape) != (n, n):
            raise ShapeError(f"SparseCodePrior: basis must be a ({n}, {n}) tensor, got "
                             f"{tuple(getattr(basis, 'shape', ())) or type(basis).__name__}")
        basis = basis.double().cpu()
        if not torch.allclose(basis.T @ basis, torch.eye(n, dtype=torch.float64), atol=1e-6):
            raise InvalidValueError("SparseCodePrior: basis must be orthonormal (Psi^T Psi = I)")
        model.basis.copy_(basis)
        model.codes.copy_(model._keep_largest(x @ basis))
        return model

    def _keep_largest(self, codes: torch.Tensor) -> torch.Tensor:
        top = codes.abs().topk(self.k, dim=1).indices
        return torch.zeros_like(codes).scatter_(1, top, codes.gather(1, top))

    def project(self, images: torch.Tensor) -> torch.Tensor:
        """The best ``k``-term approximation in the basis of each of ``images`` ``(B, C, H, W)``, clipped to
        [0, 1]: the prior's closest reconstruction."""
        x = self._images(images)
        return (self._keep_largest(x @ self.basis) @ self.basis.T).clamp(0, 1).float().view(-1, *self.output_shape)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        n = self._count(n)
        rows = torch.randint(len(self.codes), (n, self.n_pixels), generator=generator)
        codes = self.codes.gather(0, rows)
        return (codes @ self.basis.T).clamp(0, 1).float().view(-1, *self.output_shape)
