"""One report on a generator: sample quality, coverage of real images, and copying (what ``genprior evaluate`` runs).

Sample quality reads ``n_samples`` samples through a classifier (:mod:`genprior.evaluate.fid`: Fréchet distance to
the held-out images, classifier score, class balance); coverage inverts the generator on held-out images
(:mod:`genprior.evaluate.reconstruction`: closest-reconstruction error); copying compares the samples' distance to
the training images with held-out images' (only when training images are given). Each score comes with the same
score of real images in the same sizes, so a reader sees where "as good as the data" lies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from genprior.devices import device_of
from genprior.errors import InvalidValueError, check_seed, sub_seed
from genprior.evaluate.fid import (
    classifier_features,
    classifier_score,
    frechet_distance,
)
from genprior.evaluate.metrics import summarize
from genprior.evaluate.modes import discrete_mode_statistics
from genprior.evaluate.reconstruction import (
    closest_reconstruction,
    memorization,
    nearest_neighbours,
)
from genprior.models.generator import check_generator
from genprior.train.gan import sample


@dataclass
class Judgement:
    """``scores``: the JSON-ready report; ``samples`` ``(n_samples, C, H, W)``; ``inverted`` the held-out images
    that were inverted and ``reconstructions`` their closest ``G(z)``; ``nearest_train`` each of the first
    samples' nearest training image (``None`` without training images)."""

    scores: dict
    samples: torch.Tensor
    inverted: torch.Tensor
    reconstructions: torch.Tensor
    nearest_train: torch.Tensor | None


def _reading(features: torch.Tensor, probs: torch.Tensor) -> dict:
    conf = probs.max(1).values
    classes = discrete_mode_statistics(probs.argmax(1), probs.shape[1])
    return {"classifier_score": classifier_score(probs), "mean_confidence": float(conf.mean()),
            "classes_seen": classes["modes"], "class_kl_to_uniform": classes["kl"]}


def is_diffusion(model) -> bool:
    """Whether ``model`` is a diffusion model (no latent ``z``; it draws images by ``model.sample(n, ...)``)."""
    return not hasattr(model, "latent_dim") and callable(getattr(model, "sample", None)) and hasattr(model, "num_steps")


@torch.no_grad()
def sample_diffusion(model, n: int, *, rng: torch.Generator, steps: int = 50, batch_size: int = 500) -> torch.Tensor:
    """``n`` images ``(n, C, H, W)`` from a diffusion model by its deterministic sampler (DDIM, ``steps`` steps), on
    the CPU; the starting noise is drawn from ``rng``."""
    was_training = model.training
    model.eval()
    out = [model.sample(min(batch_size, n - i), steps=steps, generator=rng).cpu() for i in range(0, n, batch_size)]
    model.train(was_training)
    return torch.cat(out)


def judge_generator(generator, classifier, held_out: torch.Tensor, *, train: torch.Tensor | None = None,
                    n_samples: int = 5000, n_inverted: int = 100, method: str = "csgm-fast", seed: int = 0,
                    progress: bool = False) -> Judgement:
    """Score ``generator`` (``latent_dim``, ``output_shape``; ``(N, k) -> (N, C, H, W)`` in [0, 1]; or a diffusion
    model, :func:`is_diffusion`, sampled by DDIM in 50 steps, whose ``reconstruction`` is ``None``) against real
    ``held_out`` images ``(M, C, H, W)`` (M >= ``n_samples`` and >= ``n_inverted``) and, optionally, its ``train``
    images ``(T, C, H, W)``, T >= ``n_samples``.

    The Fréchet distance compares ``n_samples`` samples with the first ``n_samples`` held-out images; its real
    reference is the first ``n_samples`` training images against the same held-out ones. Without ``train`` both are
    taken at half the size (the estimate's bias depends on it): the first half of the samples and of the held-out
    images, each against the held-out images' second half. Inversion (``method``: ``csgm-fast`` or ``csgm``)
    runs on the first ``n_inverted`` held-out images. Everything random follows ``seed``.
    """
    if n_samples < 2 or n_inverted < 1:
        raise InvalidValueError(f"n_samples must be >= 2 and n_inverted >= 1, got {n_samples} and {n_inverted}")
    if len(held_out) < max(n_samples, n_inverted):
        raise InvalidValueError(f"{len(held_out)} held-out images are fewer than the {max(n_samples, n_inverted)} "
                                "the scores compare (n_samples and n_inverted)")
    if train is not None and len(train) < n_samples:
        raise InvalidValueError(f"{len(train)} training images are fewer than n_samples = {n_samples}")
    shape = tuple(getattr(generator, "output_shape", ()))
    if shape != tuple(held_out.shape[1:]):
        raise InvalidValueError(f"the generator makes images of shape {shape}, the real images have "
                                f"{tuple(held_out.shape[1:])}")
    diffusion = is_diffusion(generator)
    if not diffusion:
        check_generator(generator, shape)
    t0 = time.perf_counter()
    rng = torch.Generator().manual_seed(check_seed("seed", seed))
    samples = (sample_diffusion(generator, n_samples, rng=rng) if diffusion else sample(generator, n_samples, rng=rng))
    samples = samples.clamp(0, 1)
    f_gen, p_gen = classifier_features(classifier, samples)
    f_real, p_real = classifier_features(classifier, held_out[:n_samples])
    if train is not None:
        f_ref, _ = classifier_features(classifier, train[:n_samples])
        fd = frechet_distance(f_gen, f_real)
        reference = {"frechet_distance": frechet_distance(f_ref, f_real), "between": f"train vs held-out, {n_samples} each"}
    else:  # real against real at one size needs two disjoint real sets: halves, and the model is measured alike
        half = n_samples // 2
        if half < 2:
            raise InvalidValueError(f"n_samples = {n_samples} is too few to split the held-out images in two")
        fd = frechet_distance(f_gen[:half], f_real[half:2 * half])
        reference = {"frechet_distance": frechet_distance(f_real[:half], f_real[half:2 * half]),
                     "between": f"two halves of the held-out images, {half} each"}
    sample_seconds = time.perf_counter() - t0
    scores = {"n_samples": n_samples, "frechet_distance": fd, "frechet_sizes": reference["between"].rsplit(", ", 1)[1],
              **_reading(f_gen, p_gen), "real": {**reference, **_reading(f_real, p_real)},
              "sample_seconds": sample_seconds}

    inverted = held_out[:n_inverted]
    t0 = time.perf_counter()
    if diffusion:  # its deterministic DDIM map is invertible: every image is in its "range", no bound to measure
        recon = inverted.new_full(inverted.shape, float("nan"))
        scores["reconstruction"] = None
    else:
        recon = closest_reconstruction(generator, inverted.to(device_of(generator)), method=method,
                                       seed=sub_seed(seed, 1), progress=progress).cpu()
        scores["reconstruction"] = {"n_images": n_inverted, "method": method, **summarize(recon, inverted),
                                    "seconds": time.perf_counter() - t0}
    nearest = None
    if train is not None:
        scores["memorization"] = memorization(samples, train, held_out[:n_samples])
        _, idx = nearest_neighbours(samples[:16], train)
        nearest = train[idx]
    else:
        scores["memorization"] = None
    return Judgement(scores, samples, inverted, recon, nearest)
