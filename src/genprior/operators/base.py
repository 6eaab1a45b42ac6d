"""The measurement ("physics") base classes: ``y = A(x) + noise``.

Noise follows the CSGM convention (Bora et al. 2017): ``eta ~ N(0, sigma^2/m I)`` so that
``sqrt(E||eta||^2) = sigma`` whatever the number of measurements ``m``. Pass ``noise="entry"``
to make ``noise_std`` the standard deviation of each entry instead (the usual convention for denoising).
"""

from __future__ import annotations

import math

import torch

from genprior.errors import InvalidValueError, ShapeError, check_number, check_seed

NOISE_CONVENTIONS = ("total", "entry")
FLOAT32_MAX = float(torch.finfo(torch.float32).max)


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


def check_operator(operator, owner: str) -> Operator:
    """``operator`` if it is an :class:`Operator`, else ``InvalidValueError`` naming ``owner`` and the type given
    (a matrix is not an operator: ``Gaussian`` and the other classes of :mod:`genprior.operators` are)."""
    if not isinstance(operator, Operator):
        raise InvalidValueError(f"{owner} needs a genprior Operator (e.g. genprior.operators.Gaussian) as its "
                                f"operator, got {type(operator).__name__}")
    return operator


def noise_generator(generator: torch.Generator | None, seed: int | None) -> torch.Generator:
    """The CPU generator noise is drawn from: ``generator`` if given, else one seeded with ``seed`` (0 when
    ``None``); a seed outside 0 .. 2^63 - 1 or a ``generator`` that is not a ``torch.Generator`` is refused."""
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise InvalidValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        return generator
    return torch.Generator().manual_seed(0 if seed is None else check_seed("seed", seed))


class Operator:
    """A measurement operator from images ``(B, *input_shape)`` to vectors ``(B, output_size)``.

    Subclasses implement ``forward``; linear ones derive from :class:`LinearOperator` and implement ``adjoint``.
    Operators hold their own tensors; ``to(device)`` moves them.

    What solvers ask of an operator, without looking at its class:

    * ``measurement``: the kind of measurements, ``"linear"`` (``A x``), ``"magnitude"`` (``|A x|``), ``"sign"``
      (``sign(A x)``) or ``"nonlinear"`` (anything else);
    * ``linear_part``: the linear operator ``A`` inside (the operator itself when it is linear);
    * ``differentiable``: whether gradients through ``forward`` carry information.
    """

    linear: bool = False
    measurement: str = "nonlinear"
    differentiable: bool = True  # gradients through forward carry information (not so for sign())

    def __init__(self, input_shape, output_size: int, *, noise_std: float = 0.0, noise: str = "total"):
        self.input_shape = check_image_shape(input_shape)
        self.output_size = int(output_size)
        check_number("noise_std", noise_std, low=0.0)
        if noise_std > FLOAT32_MAX:
            raise InvalidValueError(f"noise_std must be at most {FLOAT32_MAX:.4g} (the float32 range), got {noise_std!r}")
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
        """``y + eta``, ``eta`` of this operator's noise level drawn on the CPU from ``generator`` or ``seed``
        (see :func:`noise_generator`). Raises ``InvalidValueError`` if the result is not finite in ``y``'s dtype
        (a noise level or image scale beyond it)."""
        generator = noise_generator(generator, seed)  # checked even where no noise is drawn
        if self.noise_std > 0:
            eta = torch.randn(y.shape, generator=generator, dtype=y.dtype) * self.entry_noise_std
            y = y + eta.to(y.device)
        if not bool(torch.isfinite(y).all()):
            raise InvalidValueError(f"{self.name} gives {int((~torch.isfinite(y)).sum())} NaN or infinite "
                                    f"measurements in {y.dtype} (noise_std = {self.noise_std:g}): lower the noise "
                                    "level or the image scale")
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

    @property
    def linear_part(self) -> LinearOperator:
        """The linear operator ``A`` whose outputs this operator transforms; ``InvalidValueError`` when there is none."""
        raise InvalidValueError(f"{self.name} has no linear part")

    def __matmul__(self, other: Operator) -> Operator:
        if not isinstance(other, Operator):
            raise InvalidValueError(f"an operator composes only with another operator, got {type(other).__name__}")
        return Compose(self, other)

    def __repr__(self) -> str:
        return f"{self.name}(input_shape={self.input_shape}, output_size={self.output_size}, noise_std={self.noise_std})"


class LinearOperator(Operator):
    """An operator ``x -> A x`` with an adjoint ``y -> A^T y``."""

    linear = True
    measurement = "linear"

    @property
    def linear_part(self) -> LinearOperator:
        return self

    def norm(self, *, steps: int = 200, tol: float = 1e-7, seed: int = 0) -> float:
        """The spectral norm ``||A||_2`` (largest singular value), by power iteration on ``A^T A`` from a random start
        (``seed``), until the estimate changes by less than ``tol`` relatively or ``steps`` iterations."""
        x = torch.randn((1, *self.input_shape), generator=torch.Generator().manual_seed(seed)).to(self._device())
        estimate = 0.0
        for _ in range(steps):
            x = x / x.norm()
            x = self.adjoint(self.forward(x))
            previous, estimate = estimate, float(x.norm()) ** 0.5
            if abs(estimate - previous) <= tol * estimate:
                break
        return estimate

    def check_adjoint(self, *, samples: int = 4, seed: int = 0) -> float:
        """The largest relative mismatch ``|<A x, y> - <x, A^T y>| / (||A x|| ||y||)`` over ``samples`` random
        images ``x`` (``seed``) with ``y = A x + g``, ``g`` Gaussian of the same expected norm as ``A x`` (so that
        ``<A x, y>`` is of the order of ``||A x|| ||y||``, not near 0); the inner products are summed in float64. Of
        the order of the operator's float32 rounding (about 1e-7) when ``adjoint`` is the transpose of ``forward``,
        of order 1 when it is not (an adjoint off by a factor 2 gives about 0.7)."""
        g = torch.Generator().manual_seed(seed)
        x = torch.randn((samples, *self.input_shape), generator=g).to(self._device())
        ax = self.forward(x)
        noise = torch.randn(ax.shape, generator=g).to(ax.device)
        y = ax + noise * (ax.norm(dim=1, keepdim=True) / noise.norm(dim=1, keepdim=True))
        aty = self.adjoint(y)
        lhs, rhs = (ax.double() * y.double()).sum(1), (x.double() * aty.double()).flatten(1).sum(1)
        scale = ax.double().norm(dim=1) * y.double().norm(dim=1)
        return float(((lhs - rhs).abs() / scale.clamp_min(1e-300)).max())

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


class Compose(Operator):
    """``y = outer(inner(x))``; the inner operator's output is reshaped to the outer's input shape.

    The composition is linear (and has an adjoint) when both parts are. Noise is the outer's.
    """

    def __new__(cls, outer: Operator, inner: Operator):
        if cls is Compose and outer.linear and inner.linear:
            return super().__new__(LinearCompose)
        return super().__new__(cls)

    def __init__(self, outer: Operator, inner: Operator):
        if math.prod(outer.input_shape) != inner.output_size:
            raise ShapeError(f"cannot compose: {inner.name} gives {inner.output_size} values, "
                             f"{outer.name} takes {math.prod(outer.input_shape)}")
        super().__init__(inner.input_shape, outer.output_size, noise_std=outer.noise_std, noise=outer.noise)
        self.outer, self.inner = outer, inner

    @property
    def name(self) -> str:
        return f"{self.outer.name}@{self.inner.name}"

    def forward(self, x):
        return self.outer.forward(self.inner.forward(x).view(-1, *self.outer.input_shape))


class LinearCompose(Compose, LinearOperator):
    linear = True

    def adjoint(self, y):
        return self.inner.adjoint(self.outer.adjoint(self.check_measurements(y)).flatten(1))
