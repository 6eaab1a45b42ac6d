"""The measurement ("physics") base classes: ``y = A(x) + noise``.

Noise follows the CSGM convention (Bora et al. 2017): ``eta ~ N(0, sigma^2/m I)`` so that
``sqrt(E||eta||^2) = sigma`` whatever the number of measurements ``m``. Pass ``noise="entry"``
to make ``noise_std`` the standard deviation of each entry instead (the usual convention for denoising).
"""

from __future__ import annotations

import math

import torch

from genprior.errors import InvalidValueError, ShapeError

NOISE_CONVENTIONS = ("total", "entry")


class Operator:
    """A measurement operator from images ``(B, *input_shape)`` to vectors ``(B, output_size)``.

    Subclasses implement ``forward``; linear ones also ``adjoint`` and set ``linear = True``.
    Operators hold their own tensors; ``to(device)`` moves them.
    """

    linear: bool = False

    def __init__(self, input_shape, output_size: int, *, noise_std: float = 0.0, noise: str = "total"):
        self.input_shape = tuple(int(s) for s in input_shape)
        if len(self.input_shape) != 3 or min(self.input_shape) <= 0:
            raise ShapeError(f"input shape must be (C, H, W) with positive sizes, got {input_shape}")
        self.output_size = int(output_size)
        if not (isinstance(noise_std, (int, float)) and math.isfinite(noise_std) and noise_std >= 0):
            raise InvalidValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
        if noise not in NOISE_CONVENTIONS:
            raise InvalidValueError(f"noise convention must be one of {NOISE_CONVENTIONS}, got {noise!r}")
        self.noise_std = float(noise_std)
        self.noise = noise

    @property
    def input_size(self) -> int:
        return math.prod(self.input_shape)

    @property
    def entry_noise_std(self) -> float:
        """Standard deviation of one noise entry."""
        if self.noise == "entry":
            return self.noise_std
        return self.noise_std / math.sqrt(self.output_size)

    # --- checks -------------------------------------------------------------------------------
    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(x) or x.dim() != 4 or tuple(x.shape[1:]) != self.input_shape:
            got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ShapeError(f"{self.name} expects images of shape (B, {', '.join(map(str, self.input_shape))}), got {got}")
        return x

    def check_measurements(self, y: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(y) or y.dim() != 2 or y.shape[1] != self.output_size:
            got = tuple(y.shape) if torch.is_tensor(y) else type(y).__name__
            raise ShapeError(f"{self.name} expects measurements of shape (B, {self.output_size}), got {got}")
        if not torch.isfinite(y).all():
            raise InvalidValueError(f"measurements contain NaN or infinite values ({int((~torch.isfinite(y)).sum())} entries)")
        return y

    # --- the operator -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return type(self).__name__

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Noiseless measurements ``(B, output_size)`` of images ``(B, *input_shape)``."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` after a check of the images' shape (a shape mismatch names the operator, not a matmul)."""
        return self.forward(self.check_input(x))

    def measure(self, x: torch.Tensor, *, generator: torch.Generator | None = None, seed: int | None = None) -> torch.Tensor:
        """Noisy measurements ``A(x) + eta`` (noise drawn on the CPU from ``generator`` or ``seed``)."""
        x = self.check_input(x)
        if not torch.isfinite(x).all():
            raise InvalidValueError(f"images contain NaN or infinite values ({int((~torch.isfinite(x)).sum())} entries)")
        y = self.forward(x)
        if self.noise_std > 0:
            if generator is None:
                generator = torch.Generator().manual_seed(0 if seed is None else seed)
            eta = torch.randn(y.shape, generator=generator, dtype=y.dtype) * self.entry_noise_std
            y = y + eta.to(y.device)
        return y

    def to(self, device) -> Operator:
        for k, v in vars(self).items():
            if torch.is_tensor(v):
                setattr(self, k, v.to(device))
            elif isinstance(v, Operator):
                v.to(device)
        return self

    def as_image(self, y: torch.Tensor) -> torch.Tensor | None:
        """A picture of the measurements ``(B, *input_shape)`` where one makes sense, else ``None``."""
        return None

    def __matmul__(self, other: Operator) -> Operator:
        from genprior.operators.compose import Compose

        return Compose(self, other)

    def __repr__(self) -> str:
        return f"{self.name}(input_shape={self.input_shape}, output_size={self.output_size}, noise_std={self.noise_std})"


class LinearOperator(Operator):
    """An operator ``x -> A x`` with an adjoint ``y -> A^T y``."""

    linear = True

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``A^T y``: ``(B, output_size)`` -> ``(B, *input_shape)``."""
        raise NotImplementedError

    def matrix(self) -> torch.Tensor:
        """The dense matrix ``A`` of shape ``(output_size, input_size)`` (built from ``forward`` on the identity)."""
        eye = torch.eye(self.input_size, device=self._device()).view(-1, *self.input_shape)
        return self.forward(eye).T.contiguous()

    def _device(self) -> torch.device:
        for v in vars(self).values():
            if torch.is_tensor(v):
                return v.device
        return torch.device("cpu")
