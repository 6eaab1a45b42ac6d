"""The orthonormal bases of the Lasso: pixel, 2-D DCT and 2-D Haar wavelet (:func:`basis_matrix`)."""

from __future__ import annotations

import functools

import numpy as np
import torch

from genprior.errors import unknown
from genprior.operators.base import check_image_shape

BASES = ("pixel", "dct", "wavelet")


def haar_level(h: int, w: int) -> int:
    """Depth of the full Haar decomposition of an ``h x w`` image with periodization.

    The largest level at which every level's size is still even before halving, i.e. the number of
    times both ``h`` and ``w`` divide by 2 (2 for 28x28: 28 -> 14 -> 7; 3 for 8x8). 0 for an odd
    side, where the "wavelet" basis is the pixel basis.
    """
    level = 0
    while h % 2 == 0 and w % 2 == 0 and h > 1 and w > 1:
        h, w, level = h // 2, w // 2, level + 1
    return level


def _analysis_of_impulses(name: str, h: int, w: int) -> np.ndarray:
    """Apply the 2-D analysis transform ``W`` to the ``h*w`` unit images; row ``i`` is ``W e_i``.

    Stacked, that is ``W^T``, which for an orthonormal ``W`` is the synthesis matrix ``Psi``.
    """
    impulses = np.eye(h * w).reshape(h * w, h, w)
    if name == "dct":
        import scipy.fft

        coeffs = scipy.fft.dctn(impulses, type=2, norm="ortho", axes=(-2, -1))
        return coeffs.reshape(h * w, h * w)
    import pywt

    level = haar_level(h, w)
    if level == 0:
        return np.eye(h * w)
    coeffs = pywt.wavedec2(impulses, "haar", mode="periodization", level=level, axes=(-2, -1))
    array, _ = pywt.coeffs_to_array(coeffs, axes=(-2, -1))
    return array.reshape(h * w, h * w)


@functools.lru_cache(maxsize=32)
def _basis_cached(name: str, shape: tuple[int, int, int]) -> torch.Tensor:
    c, h, w = shape
    if name == "pixel":
        return torch.eye(c * h * w, dtype=torch.float64)
    per_channel = torch.from_numpy(np.ascontiguousarray(_analysis_of_impulses(name, h, w)))
    return torch.block_diag(*[per_channel] * c) if c > 1 else per_channel


def basis_matrix(name: str, shape=(1, 28, 28)) -> torch.Tensor:
    """The orthonormal basis ``Psi`` (``n x n``, float64, CPU; ``n = C*H*W``) named ``name``.

    Columns are basis vectors over the flattened ``(C, H, W)`` image: ``x = Psi c``, ``c = Psi^T x``.

    - ``"pixel"``: the identity.
    - ``"dct"``: the 2-D orthonormal DCT-II of each channel (``scipy.fft.dctn(norm="ortho")``).
    - ``"wavelet"``: the 2-D orthonormal Haar transform of each channel, periodized, at the depth of
      :func:`haar_level` (level 2 for 28x28); coefficients in PyWavelets' ``coeffs_to_array`` layout.

    Built matrices are cached per ``(name, shape)``; this returns a fresh copy.
    """
    if name not in BASES:
        raise unknown("basis", name, BASES)
    return _basis_cached(name, check_image_shape(shape)).clone()


__all__ = ["BASES", "basis_matrix", "haar_level"]
