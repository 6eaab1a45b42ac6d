"""Mode-collapse metrics for 2-D mixtures (Srivastava et al. 2017 VEEGAN, Sec. 5.1; Lin et al. 2018 PacGAN, Sec. 5.1).

From ``N`` generated samples (2,500 in PacGAN's tables), each assigned to its nearest mode:

* a sample is **high quality** when it lies within ``3 std`` (Euclidean) of its nearest mode;
* a mode is **captured** when at least one high-quality sample has it as nearest mode;
* **reverse KL** is KL(Q || P) = sum_i q_i log(q_i / p_i), Q the histogram of high-quality samples
  over modes (normalised) and P uniform over the modes; 0 means perfectly balanced, log M a single mode.
"""

from __future__ import annotations

import math

import torch

from genprior.errors import ShapeError


def mode_statistics(samples: torch.Tensor, modes: torch.Tensor, std: float, *, threshold: float = 3.0) -> dict:
    """Modes captured, high-quality count/fraction and reverse KL of ``samples`` ``(N, d)`` vs ``modes`` ``(M, d)``.

    Returns ``{"modes": int, "high_quality": int, "high_quality_fraction": float, "reverse_kl": float | None,
    "histogram": list[int]}`` (``reverse_kl`` is None when no sample is high quality).
    """
    if samples.dim() != 2 or modes.dim() != 2 or samples.shape[1] != modes.shape[1]:
        raise ShapeError(f"samples (N, d) and modes (M, d) must share d, got {tuple(samples.shape)} and {tuple(modes.shape)}")
    s, m = samples.detach().double().cpu(), modes.double().cpu()
    dist = torch.cdist(s, m)  # (N, M)
    nearest_d, nearest = dist.min(1)
    hq = nearest_d <= threshold * std
    hist = torch.bincount(nearest[hq], minlength=len(m))
    n_hq = int(hq.sum())
    if n_hq:
        q = hist.double() / n_hq
        nz = q > 0
        rkl = float((q[nz] * torch.log(q[nz] * len(m))).sum())
    else:
        rkl = None
    return {"modes": int((hist > 0).sum()), "high_quality": n_hq,
            "high_quality_fraction": n_hq / max(len(s), 1), "reverse_kl": rkl, "histogram": hist.tolist()}


def max_reverse_kl(n_modes: int) -> float:
    """The reverse KL of a generator that puts everything on one mode: ``log M``."""
    return math.log(n_modes)


def discrete_mode_statistics(modes: torch.Tensor, n_modes: int) -> dict:
    """Modes captured and KL to uniform for samples labelled with discrete modes (stacked MNIST, 1,000 modes).

    ``modes`` ``(N,)``: each sample's mode (e.g. from a classifier applied to each channel). As in VEEGAN /
    PacGAN: ``modes`` = number of distinct modes hit, ``kl`` = KL(Q || U) = sum_i q_i log(q_i n_modes),
    Q the normalised histogram, U uniform. Returns ``{"modes", "kl", "histogram"}``.
    """
    if modes.dim() != 1 or len(modes) == 0:
        raise ShapeError(f"modes must be a non-empty (N,) tensor, got {tuple(modes.shape)}")
    hist = torch.bincount(modes.long().cpu(), minlength=n_modes)
    if len(hist) > n_modes:
        raise ShapeError(f"mode index {int(modes.max())} outside [0, {n_modes})")
    q = hist.double() / hist.sum()
    nz = q > 0
    return {"modes": int(nz.sum()), "kl": float((q[nz] * torch.log(q[nz] * n_modes)).sum()), "histogram": hist.tolist()}
