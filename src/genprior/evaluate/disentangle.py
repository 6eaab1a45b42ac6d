"""Disentanglement scores of a code read from images: the FactorVAE score and the mutual information gap (MIG).

Both take the codes a model's encoder gives (the Q head of an InfoGAN, the encoder mean of a VAE) and the ground-truth
factors of a data set with planted factors (e.g. :mod:`genprior.data.sprites`).

* :func:`factorvae_score` -- Kim & Mnih 2018, "Disentangling by Factorising", Sec. 4, with the protocol of
  disentanglement_lib (Locatello et al. 2019): separate training and evaluation vote sets.
* :func:`mig` -- Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in VAEs", Eq. (6), with the
  histogram discretisation of disentanglement_lib.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from genprior.errors import InvalidValueError, ShapeError, check_number, check_seed

_ENCODE_CHUNK = 4096  # images rendered and encoded at once


def _check_sizes(factor_sizes) -> tuple[int, ...]:
    sizes = tuple(factor_sizes) if isinstance(factor_sizes, (tuple, list)) else ()
    if not sizes or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2 for k in sizes):
        raise InvalidValueError(f"factor_sizes must be a non-empty list of integers >= 2, got {factor_sizes!r}")
    return tuple(int(k) for k in sizes)


def _as_codes(codes, what: str = "codes") -> np.ndarray:
    c = codes.detach().cpu().double().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes, dtype=np.float64)
    if c.ndim != 2:
        raise ShapeError(f"{what} must be (N, d), got shape {c.shape}")
    if not np.isfinite(c).all():
        raise InvalidValueError(f"{what} hold NaN or infinite values")
    return c


def _encode_factors(encode: Callable, render: Callable, factors: np.ndarray) -> np.ndarray:
    """Codes ``(N, d)`` of the images of ``factors`` ``(N, K)``, rendered and encoded in chunks."""
    parts = []
    with torch.no_grad():
        for a in range(0, len(factors), _ENCODE_CHUNK):
            f = torch.from_numpy(factors[a:a + _ENCODE_CHUNK])
            code = _as_codes(encode(render(f)), "encoder outputs")
            if code.shape[0] != f.shape[0]:
                raise ShapeError(f"the encoder returned {code.shape[0]} codes for {f.shape[0]} images")
            parts.append(code)
    return np.concatenate(parts)


def _fixed_factor_batches(rng: np.random.Generator, sizes: tuple[int, ...], n_votes: int, batch: int):
    """``n_votes`` batches of ``batch`` uniform factor vectors, each batch with one factor (``k``, drawn uniformly)
    fixed at a uniformly drawn value: factors ``(n_votes * batch, K)`` and ``k`` ``(n_votes,)``."""
    f = np.stack([rng.integers(0, s, size=(n_votes, batch)) for s in sizes], -1)  # (V, B, K)
    k = rng.integers(0, len(sizes), size=n_votes)
    rows = np.arange(n_votes)
    f[rows, :, k] = f[rows, 0, k][:, None]
    return f.reshape(-1, len(sizes)), k


def factorvae_score(encode: Callable[[torch.Tensor], torch.Tensor], *, factor_sizes: Sequence[int],
                    render: Callable[[torch.Tensor], torch.Tensor], n_train_votes: int = 800,
                    n_eval_votes: int = 800, batch: int = 64, n_variance_estimate: int = 10_000,
                    prune_std: float = 0.05, seed: int = 0) -> dict:
    """The FactorVAE disentanglement score (Kim & Mnih 2018, Sec. 4) of the encoder ``encode``.

    ``encode`` maps images ``(B, C, H, W)`` to codes ``(B, d)``; ``render`` maps integer factors ``(B, K)`` (factor
    ``k`` in ``0 .. factor_sizes[k] - 1``) to images (e.g. :func:`genprior.data.sprites.render`). The protocol:

    1. the std ``s_j`` of each code dimension over ``n_variance_estimate`` images of uniform factors; dimensions with
       ``s_j < prune_std`` (collapsed, e.g. a VAE's unused latents) are pruned -- Kim & Mnih prune collapsed
       dimensions; disentanglement_lib prunes at threshold 0, which here would divide by zero, hence 0.05;
    2. a vote: draw a factor ``k`` uniformly, fix it at a uniform value, draw ``batch`` images with the other factors
       uniform, encode, divide each dimension by ``s_j``, and vote ``(argmin_j Var_j, k)`` over the kept dimensions
       (variances with ``ddof=1``, as disentanglement_lib);
    3. the majority-vote classifier ``j -> argmax_k V[j, k]`` of ``n_train_votes`` training votes ``V``; the score is
       its accuracy on ``n_eval_votes`` separate evaluation votes (disentanglement_lib's ``eval_accuracy``).

    Returns ``{"score", "train_accuracy", "eval_accuracy", "active_dims", "votes"}`` (``score`` = eval accuracy in
    [0, 1]; 0 when every dimension is pruned, as disentanglement_lib). A perfect encoder scores 1; a code that ignores
    the factors about ``1 / K``.
    """
    if not callable(encode) or not callable(render):
        raise InvalidValueError("encode and render must be callables (images -> codes, factors -> images)")
    sizes = _check_sizes(factor_sizes)
    for name, value in (("n_train_votes", n_train_votes), ("n_eval_votes", n_eval_votes),
                        ("n_variance_estimate", n_variance_estimate)):
        check_number(name, value, low=1, integer=True)
    check_number("batch", batch, low=2, integer=True)
    check_number("prune_std", prune_std, low=0)
    rng = np.random.default_rng(check_seed("seed", seed))
    data = np.stack([rng.integers(0, s, size=n_variance_estimate) for s in sizes], 1)
    std = _encode_factors(encode, render, data).std(0, ddof=1)
    active = (std >= prune_std) & (std > 0)
    votes = []
    for n in (n_train_votes, n_eval_votes):
        f, k = _fixed_factor_batches(rng, sizes, n, batch)
        codes = _encode_factors(encode, render, f).reshape(n, batch, -1)
        if codes.shape[2] != std.shape[0]:
            raise ShapeError(f"the encoder's code size changed from {std.shape[0]} to {codes.shape[2]}")
        var = codes[:, :, active].var(1, ddof=1) / std[active] ** 2 if active.any() else np.zeros((n, 0))
        v = np.zeros((int(active.sum()), len(sizes)), dtype=np.int64)
        if active.any():
            np.add.at(v, (var.argmin(1), k), 1)
        votes.append(v)
    if not active.any():
        return {"score": 0.0, "train_accuracy": 0.0, "eval_accuracy": 0.0, "active_dims": 0, "votes": votes[0].tolist()}
    classifier = votes[0].argmax(1)  # code dimension -> factor
    train = votes[0].max(1).sum() / n_train_votes
    evaluation = votes[1][np.arange(len(classifier)), classifier].sum() / n_eval_votes
    return {"score": float(evaluation), "train_accuracy": float(train), "eval_accuracy": float(evaluation),
            "active_dims": int(active.sum()), "votes": votes[0].tolist()}


def histogram_discretize(codes, *, n_bins: int = 20) -> np.ndarray:
    """Each column of ``codes`` ``(N, d)`` cut into ``n_bins`` equal-width bins between its min and max: integer bin
    labels ``(N, d)`` in ``0 .. n_bins - 1`` (disentanglement_lib's ``_histogram_discretize``)."""
    c = _as_codes(codes)
    check_number("n_bins", n_bins, low=2, integer=True)
    out = np.empty(c.shape, dtype=np.int64)
    for j in range(c.shape[1]):
        edges = np.histogram(c[:, j], bins=n_bins)[1]
        out[:, j] = np.digitize(c[:, j], edges[:-1]) - 1
    return out


def _entropy_counts(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _entropy(labels: np.ndarray) -> float:
    """Empirical entropy in nats of an integer label vector."""
    return _entropy_counts(np.bincount(labels))


def _mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats of two integer label vectors, from their empirical joint distribution."""
    joint = np.bincount(a * (b.max() + 1) + b)
    return max(_entropy(a) + _entropy(b) - _entropy_counts(joint), 0.0)


def mutual_information_matrix(codes, factors, *, n_bins: int = 20) -> np.ndarray:
    """``I[j, k]`` = I(binned code_j; factor_k) in nats, ``(d, K)``: codes ``(N, d)`` discretised by
    :func:`histogram_discretize`, integer factors ``(N, K)``."""
    binned = histogram_discretize(codes, n_bins=n_bins)
    f = _check_factor_labels(factors, binned.shape[0])
    return np.array([[_mutual_information(binned[:, j], f[:, k]) for k in range(f.shape[1])]
                     for j in range(binned.shape[1])])


def _check_factor_labels(factors, n: int) -> np.ndarray:
    f = factors.detach().cpu().numpy() if isinstance(factors, torch.Tensor) else np.asarray(factors)
    if f.ndim != 2 or f.shape[0] != n:
        raise ShapeError(f"factors must be (N, K) with N = {n} (one row per code), got shape {f.shape}")
    if not np.issubdtype(f.dtype, np.integer) or (f.size and f.min() < 0):
        raise InvalidValueError(f"factors must be non-negative integers, got {f.dtype}")
    return f.astype(np.int64)


def mig_per_factor(codes, factors, *, n_bins: int = 20) -> np.ndarray:
    """The normalised gap ``(I[j1, k] - I[j2, k]) / H(v_k)`` for each factor ``k`` ``(K,)``, ``j1``/``j2`` the code
    dimensions with the largest and second largest mutual information with factor ``k`` (Chen et al. 2018, Eq. 6).
    Factors that never vary (``H = 0``) are refused."""
    c = _as_codes(codes)
    if c.shape[1] < 2:
        raise ShapeError(f"MIG needs codes with at least 2 dimensions, got {c.shape[1]}")
    f = _check_factor_labels(factors, c.shape[0])
    h = np.array([_entropy(f[:, k]) for k in range(f.shape[1])])
    if (h == 0).any():
        raise InvalidValueError(f"factor {int(np.argmax(h == 0))} takes one value only: its entropy is 0")
    mi = np.sort(mutual_information_matrix(c, f, n_bins=n_bins), axis=0)
    return (mi[-1] - mi[-2]) / h


def mig(codes, factors, *, n_bins: int = 20) -> float:
    """The mutual information gap (Chen et al. 2018, Eq. 6) of codes ``(N, d)`` (``d >= 2``, finite) against integer
    factors ``(N, K)``: the mean over factors of :func:`mig_per_factor`, in [0, 1]. Codes are discretised into
    ``n_bins`` equal-width bins per dimension (disentanglement_lib); the entropies are the empirical ones of the
    ``N`` samples."""
    return float(mig_per_factor(codes, factors, n_bins=n_bins).mean())
