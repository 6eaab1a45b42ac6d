"""Does a generator know what it has not seen? Out-of-distribution scores from generative models, and how to read them.

Every score here is *higher for inputs that look out of distribution*; :func:`auroc` and :func:`fpr_at_tpr` turn
two sets of scores (in-distribution, out-of-distribution) into the usual detection figures.

* ``likelihood``: ``-log p(x)`` in bits under a VAE, by the importance-weighted bound of Burda, Grosse &
  Salakhutdinov 2016 (Eq. 8: ``log p(x) >= E log (1/K) sum_k p(x, z_k) / q(z_k | x)``, ``z_k ~ q(z | x)``).
  Nalisnick et al. 2019 ("Do deep generative models know what they don't know?") found that models trained on
  Fashion-MNIST give MNIST digits *higher* likelihood than their own test images: simple images are likely under
  any model.
* ``complexity-corrected``: Serrà et al. 2020 ("Input complexity and out-of-distribution detection with
  likelihood-based generative models", Eq. 3): ``S(x) = -log2 p(x) - L(x)``, with ``L(x)`` the length in bits of
  ``x`` compressed by a general-purpose lossless compressor (here deflate, PNG's, on the 8-bit image), which
  removes what every model finds easy.
* ``range``: the error per pixel of the closest image the generator makes, ``min_z ||G(z) - x||^2 / n`` (any
  generator: GANs have no likelihood, but they have a range).
* ``max-softmax``: ``1 - max_y p(y | x)`` of a classifier (Hendrycks & Gimpel 2017), the usual non-generative
  baseline.

Serrà's correction subtracts bits from bits: it needs ``p`` to be a probability of the 8-bit image, which a VAE
with a discretized logistic decoder (``VAE(likelihood="logistic")``, the zoo's ``*-vae-8bit``) gives. A Bernoulli
decoder (the CSGM protocol's, the zoo's ``mnist-vae``) gives grey levels a likelihood of their intensities, a score
rather than a normalised density over 8-bit images; it counts far fewer bits than ``L(x)`` does, and the correction
can overcorrect (``benchmarks/results/ood_mnist.md`` shows both decoders).
"""

from __future__ import annotations

import math
import zlib

import torch

from genprior.data.checks import check_image_batch
from genprior.errors import (
    InvalidValueError,
    ShapeError,
    check_seed,
    check_sizes,
    unknown,
)
from genprior.evaluate.fid import classifier_features
from genprior.evaluate.metrics import check_finite, mse_per_pixel
from genprior.evaluate.reconstruction import invert

OOD_SCORES = ("likelihood", "complexity-corrected", "range", "max-softmax")


def _scores_pair(in_scores, out_scores) -> tuple[torch.Tensor, torch.Tensor]:
    pair = []
    for what, s in (("in_scores", in_scores), ("out_scores", out_scores)):
        s = torch.as_tensor(s, dtype=torch.float64).flatten()
        if len(s) == 0:
            raise ShapeError(f"{what} is empty: the detection figures need scores of both sets")
        check_finite(what, s)
        pair.append(s)
    return pair[0], pair[1]


def auroc(in_scores, out_scores) -> float:
    """Area under the ROC curve of detecting ``out_scores`` (1-d, higher = more out of distribution): the chance
    that an out-of-distribution input scores above an in-distribution one, ties counting one half (the
    Mann-Whitney statistic). 1 separates perfectly, 0.5 is chance, below 0.5 the score points the wrong way."""
    s_in, s_out = _scores_pair(in_scores, out_scores)
    both = torch.cat([s_in, s_out])
    order = torch.argsort(both, stable=True)
    # 1-based ranks, ties sharing the mean of theirs
    _, inverse, counts = torch.unique_consecutive(both[order], return_inverse=True, return_counts=True)
    mean_rank = torch.cumsum(counts, 0).double() - (counts.double() - 1) / 2
    ranks = torch.empty_like(both)
    ranks[order] = mean_rank[inverse]
    n_in, n_out = len(s_in), len(s_out)
    u = ranks[n_in:].sum() - n_out * (n_out + 1) / 2
    return float(u / (n_in * n_out))


def fpr_at_tpr(in_scores, out_scores, *, tpr: float = 0.95) -> float:
    """Share of in-distribution inputs flagged when the threshold catches a share ``tpr`` of the
    out-of-distribution ones (the threshold: the ``1 - tpr`` quantile of ``out_scores``; flagged: score >= it).
    0 is perfect; lower is better."""
    if not 0 < tpr <= 1:
        raise InvalidValueError(f"tpr must lie in (0, 1], got {tpr}")
    s_in, s_out = _scores_pair(in_scores, out_scores)
    k = max(1, math.ceil(tpr * len(s_out)))  # the k highest out-scores are caught
    threshold = torch.sort(s_out, descending=True).values[k - 1]
    return float((s_in >= threshold).double().mean())


@torch.no_grad()
def vae_log_likelihood(vae, images: torch.Tensor, *, samples: int = 100, batch_size: int = 100,
                       seed: int = 0) -> torch.Tensor:
    """Importance-weighted lower bound on ``log p(x)`` (nats, float64, CPU) ``(N,)`` for ``images`` ``(N, C, H, W)``
    in [0, 1] under a Gaussian-encoder VAE (``encode(x) -> (mu, logvar)`` and ``log_likelihood(z, x)`` ``=
    log p(x | z)``, as :class:`genprior.models.VAE`: with its logistic decoder, of the 8-bit image).
    ``samples`` = 1 is the ELBO; the bound tightens as it grows. Noise is drawn on the CPU from ``seed``: the same
    numbers on every device."""
    if not (hasattr(vae, "encode") and hasattr(vae, "log_likelihood")):
        raise InvalidValueError(f"{type(vae).__name__} has no encode()/log_likelihood(): the likelihood needs a VAE "
                                "(genprior.models.VAE); a GAN has no likelihood, use the range score")
    check_sizes("vae_log_likelihood", samples=samples, batch_size=batch_size)
    images = check_image_batch(images, owner="vae_log_likelihood", shape=tuple(vae.output_shape))
    device = next(vae.parameters()).device
    g = torch.Generator().manual_seed(check_seed("seed", seed))
    was_training = vae.training
    vae.eval()
    out = []
    try:
        for chunk in images.split(batch_size):
            x = chunk.to(device, torch.float32).flatten(1)
            mu, logvar = vae.encode(x)
            std = torch.exp(0.5 * logvar)
            eps = torch.randn((samples, *mu.shape), generator=g).to(device)
            z = mu + std * eps  # (K, B, k)
            log_px_z = vae.log_likelihood(z, x)
            log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
            log_qz = -0.5 * (eps.pow(2) + math.log(2 * math.pi) + logvar).sum(-1)
            w = (log_px_z + log_pz - log_qz).double()
            out.append((torch.logsumexp(w, 0) - math.log(samples)).cpu())
    finally:
        vae.train(was_training)
    return torch.cat(out)


def complexity_bits(images: torch.Tensor) -> torch.Tensor:
    """``L(x)``: bits of each image ``(N, C, H, W)`` in [0, 1] rounded to 8 bits and compressed by deflate at its
    highest level, float64 ``(N,)``."""
    images = check_image_batch(images, owner="complexity_bits")
    pixels = (images.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).flatten(1).numpy()
    return torch.tensor([8.0 * len(zlib.compress(row.tobytes(), 9)) for row in pixels], dtype=torch.float64)


def likelihood_score(vae, images: torch.Tensor, **options) -> torch.Tensor:
    """``-log2 p(x)`` (bits, float64 ``(N,)``): :func:`vae_log_likelihood`'s bound, same options."""
    return -vae_log_likelihood(vae, images, **options) / math.log(2)


def complexity_corrected_score(vae, images: torch.Tensor, **options) -> torch.Tensor:
    """Serrà et al.'s ``S(x) = -log2 p(x) - L(x)`` (bits, float64 ``(N,)``)."""
    return likelihood_score(vae, images, **options) - complexity_bits(images)


def range_score(generator, images: torch.Tensor, **options) -> torch.Tensor:
    """Error per pixel of the closest image ``generator`` makes to each of ``images`` (float64 ``(N,)``);
    ``options`` go to :func:`genprior.evaluate.reconstruction.invert` (method, restarts, seed, progress)."""
    rec = invert(generator, images, **options).x
    return mse_per_pixel(rec.detach().double().cpu(), images.double().cpu())


def max_softmax_score(classifier, images: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """``1 - max_y p(y | x)`` of ``classifier`` (float64 ``(N,)``; its probabilities as
    :func:`genprior.evaluate.fid.classifier_features` reads them)."""
    images = check_image_batch(images, owner="max_softmax_score")
    _, probs = classifier_features(classifier, images, batch_size=batch_size)
    return 1.0 - probs.max(1).values


def ood_scores(score: str, model, images: torch.Tensor, **options) -> torch.Tensor:
    """One of :data:`OOD_SCORES` by name: ``model`` is the VAE (``likelihood``, ``complexity-corrected``), any
    generator (``range``) or a classifier (``max-softmax``); ``options`` go to that score's function."""
    functions = {"likelihood": likelihood_score, "complexity-corrected": complexity_corrected_score,
                 "range": range_score, "max-softmax": max_softmax_score}
    if score not in functions:
        raise unknown("out-of-distribution score", score, OOD_SCORES)
    return functions[score](model, images, **options)
