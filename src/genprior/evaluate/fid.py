"""Sample-quality scores of a generator read through a classifier: the Fréchet distance and the classifier score.

* **Fréchet distance** (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local
  Nash equilibrium", Eq. 6): fit a Gaussian to the features of each set and take

      d^2 = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}).

  FID proper reads Inception-v3 features of natural images; nothing here downloads weights, so the features are a
  domain classifier's penultimate activations (for MNIST, ``mnist-classifier``'s 256 hidden units). The numbers
  are therefore comparable between generators measured with the same classifier and sample sizes, not with
  published FIDs. The estimate is biased upwards at small N: compare sets of one size.
* **Classifier score** (Salimans et al. 2016, "Improved techniques for training GANs", Sec. 4, the Inception
  score): ``exp(E_x KL(p(y|x) || p(y)))``, from 1 (every sample read alike, or unreadable) to K (each confidently
  one class, all K classes equally often).
"""

from __future__ import annotations

import torch

from genprior.errors import InvalidValueError, ShapeError
from genprior.evaluate.metrics import check_finite


def classifier_features(classifier, images: torch.Tensor, *, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate features ``(N, d)`` and class probabilities ``(N, K)`` (float64, CPU) of ``images``
    ``(N, C, H, W)`` in [0, 1], read in eval mode under no_grad. ``classifier`` needs a ``features(x)`` method
    returning ``(N, d)`` and a ``head(features)`` returning logits (as :class:`genprior.models.Classifier`)."""
    if not (hasattr(classifier, "features") and hasattr(classifier, "head")):
        raise InvalidValueError(f"{type(classifier).__name__} has no features()/head(): the scores need a classifier "
                                "that exposes its penultimate layer (genprior.models.Classifier does)")
    if not torch.is_tensor(images) or images.dim() != 4 or len(images) == 0:
        raise ShapeError(f"images must be a non-empty (N, C, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    check_finite("images", images)
    device = next(classifier.parameters()).device
    was_training = classifier.training
    classifier.eval()
    feats, probs = [], []
    try:
        with torch.no_grad():
            for chunk in images.split(batch_size):
                f = classifier.features(chunk.to(device, torch.float32))
                feats.append(f.double().cpu())
                probs.append(torch.softmax(classifier.head(f).double(), 1).cpu())
    finally:
        classifier.train(was_training)
    return torch.cat(feats), torch.cat(probs)


def gaussian_fit(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(d,)`` and unbiased covariance ``(d, d)`` (float64) of ``features`` ``(N, d)``, N >= 2."""
    if features.dim() != 2 or len(features) < 2:
        raise ShapeError(f"features must be (N, d) with N >= 2, got {tuple(features.shape)}")
    check_finite("features", features)
    f = features.double()
    return f.mean(0), torch.cov(f.T).reshape(f.shape[1], f.shape[1])


def frechet_distance_gaussians(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2).

    ``Tr (S1 S2)^{1/2}`` is taken as ``Tr (S1^{1/2} S2 S1^{1/2})^{1/2}``, the square root of a symmetric PSD matrix
    (same eigenvalues as S1 S2), by eigendecomposition; tiny negative eigenvalues from rounding are clipped to 0.
    """
    mu1, mu2, cov1, cov2 = (t.double() for t in (mu1, mu2, cov1, cov2))
    d = mu1.shape[0]
    if mu2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ShapeError(f"means (d,) and covariances (d, d) must share d, got {tuple(mu1.shape)}, {tuple(mu2.shape)}, "
                         f"{tuple(cov1.shape)}, {tuple(cov2.shape)}")

    def psd_sqrt(s: torch.Tensor) -> torch.Tensor:
        w, v = torch.linalg.eigh((s + s.T) / 2)
        return (v * w.clamp(min=0).sqrt()) @ v.T

    r = psd_sqrt(cov1)
    cross = torch.linalg.eigvalsh(r @ cov2 @ r).clamp(min=0).sqrt().sum()
    return float(((mu1 - mu2) ** 2).sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * cross)


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussian fits of two feature sets ``(N, d)`` and ``(M, d)``."""
    if features_a.dim() != 2 or features_b.dim() != 2 or features_a.shape[1] != features_b.shape[1]:
        raise ShapeError(f"feature sets must be (N, d) and (M, d) with one d, got {tuple(features_a.shape)} and "
                         f"{tuple(features_b.shape)}")
    return frechet_distance_gaussians(*gaussian_fit(features_a), *gaussian_fit(features_b))


def classifier_score(probs: torch.Tensor) -> float:
    """``exp(E_x KL(p(y|x) || p(y)))`` of class probabilities ``(N, K)`` (rows summing to 1), in [1, K]."""
    if probs.dim() != 2 or len(probs) == 0:
        raise ShapeError(f"probs must be a non-empty (N, K) tensor, got {tuple(probs.shape)}")
    check_finite("probs", probs)
    p = probs.double()
    if bool((p < 0).any()) or not torch.allclose(p.sum(1), torch.ones(len(p), dtype=p.dtype), atol=1e-6):
        raise InvalidValueError("probs must be non-negative rows summing to 1")
    marginal = p.mean(0, keepdim=True)
    kl = torch.special.xlogy(p, p).sum(1) - (p * torch.log(marginal.clamp(min=1e-300))).sum(1)
    return float(torch.exp(kl.mean()))
