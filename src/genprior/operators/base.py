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


def check_image_shape(shape) -> tuple[int, int, int]:
    """``shape`` as a ``(C, H, W)`` tuple of positive integers, else ``ShapeError`` naming it."""
    try:
        out = tuple(int(s) for s in shape)
        whole = all(int(s) == s for s in shape)
    except (TypeError, ValueError):
        raise ShapeError(f"image shape must be (C, H, W), got {shape!r}") from None
    if len(out) != 3 or min(out) <= 0 or not whole:
        raise ShapeError(f"image shape must be (C, H, W) with positive integer sizes, got {shape!r}")
    return out


def _check_batch(t, owner: str, what: str, expected: str) -> None:
    """A tensor of real floating point values with at least one row, else a ``ShapeError`` / ``InvalidValueError``."""
    if not torch.is_tensor(t):
        raise ShapeError(f"{owner} expects {what} as a torch tensor of shape {expected}, got {type(t).__name__}")
    if not t.is_floating_point():
        raise InvalidValueError(f"{owner} expects {what} of a real floating dtype, got {t.dtype}")
    if t.shape[0] == 0:
        raise ShapeError(f"{owner} got an empty batch of {what} (shape {tuple(t.shape)})")


class Operator:
    """A measurement operator from images ``(B, *input_shape)`` to vectors ``(B, output_size)``.

    Subclasses implement ``forward``; linear ones also ``adjoint`` and set ``linear = True``.
    Operators hold their own tensors; ``to(device)`` moves them.
    """

    linear: bool = False
    differentiable: bool = True  # gradients through forward carry information (not so for sign())

    def __init__(self, input_shape, output_size: int, *, noise_std: float = 0.0, noise: str = "total"):
        self.input_shape = check_image_shape(input_shape)
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
        """``x`` if it is a batch of images ``(B >= 1, *input_shape)`` of a real floating dtype, else an error."""
        expected = f"(B, {', '.join(map(str, self.input_shape))})"
        if not torch.is_tensor(x) or x.dim() != 4 or tuple(x.shape[1:]) != self.input_shape:
            got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ShapeError(f"{self.name} expects images of shape {expected}, got {got}")
        _check_batch(x, self.name, "images", expected)
        return x

    def check_measurements(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` if it is a batch ``(B >= 1, output_size)`` of finite real floating values, else an error."""
        if not torch.is_tensor(y) or y.dim() != 2 or y.shape[1] != self.output_size:
            got = tuple(y.shape) if torch.is_tensor(y) else type(y).__name__
            raise ShapeError(f"{self.name} expects measurements of shape (B, {self.output_size}), got {got}")
        _check_batch(y, self.name, "measurements", f"(B, {self.output_size})")
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
        return self.add_noise(self.forward(x), generator=generator, seed=seed)

    def add_noise(self, y: torch.Tensor, *, generator: torch.Generator | None = None, seed: int | None = None) -> torch.Tensor:
        """``y + eta``, ``eta`` of this operator's noise level drawn on the CPU from ``generator`` or ``seed``."""
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

        if not isinstance(other, Operator):
            raise InvalidValueError(f"an operator composes only with another operator, got {type(other).__name__}")
        return Compose(self, other)

    def __repr__(self) -> str:
        return f"{self.name}(input_shape={self.input_shape}, output_size={self.output_size}, noise_std={self.noise_std})"


class LinearOperator(Operator):
    """An operator ``x -> A x`` with an adjoint ``y -> A^T y``."""

    linear = True

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``A^T y``: ``(B, output_size)`` -> ``(B, *input_shape)``. Implementations start with
        ``y = self.check_measurements(y)``, as ``__call__`` checks images before ``forward``."""
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
