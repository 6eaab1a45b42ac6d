"""A linear-Gaussian generator fitted by PCA: the classical baseline a deep generator should beat.

Probabilistic PCA (Tipping & Bishop 1999, "Probabilistic principal component analysis", Eq. 7 with the noise
term dropped): ``x = mu + W z``, ``z ~ N(0, I_k)``, with ``W = U_k Lambda_k^{1/2}`` from the top-k principal
directions ``U_k`` and variances ``Lambda_k`` of the training images; the images are clipped to [0, 1]. Its range
is an affine k-dimensional subspace, so its closest reconstruction of an image is (up to the clipping) the
orthogonal projection: the best any linear k-dimensional model can do in squared error.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from genprior.data.checks import check_image_batch
from genprior.errors import InvalidValueError, check_sizes


class PCAGenerator(nn.Module):
    """``z (B, k) -> clip(mu + W z, 0, 1)`` as ``(B, C, H, W)``. Build with :meth:`fit`."""

    def __init__(self, *, latent_dim: int = 20, output_shape=(1, 28, 28)):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.output_shape = tuple(int(s) for s in output_shape)
        check_sizes("PCAGenerator", latent_dim=self.latent_dim, output_shape=self.output_shape)
        n = math.prod(self.output_shape)
        if self.latent_dim > n:
            raise InvalidValueError(f"PCAGenerator: latent_dim {self.latent_dim} exceeds the {n} pixels")
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("weight", torch.zeros(n, self.latent_dim))

    def config(self) -> dict:
        return {"family": "pca", "latent_dim": self.latent_dim, "output_shape": list(self.output_shape)}

    @classmethod
    def fit(cls, images: torch.Tensor, *, latent_dim: int = 20) -> PCAGenerator:
        """Fit to ``images`` ``(N, C, H, W)`` in [0, 1], N > ``latent_dim``: the mean and the top ``latent_dim``
        principal directions scaled by their standard deviations (float64 SVD of the centred data)."""
        images = check_image_batch(images, owner="PCAGenerator.fit")
        if len(images) <= latent_dim:
            raise InvalidValueError(f"PCAGenerator.fit needs more than latent_dim = {latent_dim} images, got {len(images)}")
        model = cls(latent_dim=latent_dim, output_shape=tuple(images.shape[1:]))
        x = images.flatten(1).double()
        mu = x.mean(0)
        _, s, vh = torch.linalg.svd(x - mu, full_matrices=False)
        std = s[:latent_dim] / math.sqrt(len(x) - 1)
        model.mean.copy_(mu.float())
        model.weight.copy_((vh[:latent_dim].T * std).float())
        return model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` ``(B, latent_dim)`` -> images ``(B, *output_shape)`` in [0, 1]."""
        return (self.mean + z @ self.weight.T).clamp(0, 1).view(-1, *self.output_shape)
