"""Linear measurement operators: compressed sensing, inpainting, super-resolution, denoising."""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from genprior.errors import InvalidValueError, check_seed
from genprior.operators.base import LinearOperator, check_image_shape


def _check_m(m, n: int) -> int:
    if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m <= 0 or m > n:
        raise InvalidValueError(f"number of measurements m must be an integer in 1..{n} (the signal size), got {m!r}")
    return int(m)


class Gaussian(LinearOperator):
    """Dense Gaussian compressed sensing: ``A_ij ~ N(0, 1/m)`` (Bora et al. 2017, Sec. 6).

    >>> import torch
    >>> from genprior.operators import Gaussian
    >>> op = Gaussian(m=100, shape=(1, 28, 28), noise_std=0.1, seed=0)
    >>> x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    >>> y = op.measure(x, seed=1)  # A x + noise with sqrt(E||noise||^2) = 0.1
    >>> y.shape, op.adjoint(y).shape
    (torch.Size([2, 100]), torch.Size([2, 1, 28, 28]))
    >>> round(float((y - op.forward(x)).norm(dim=1).mean()), 1)
    0.1
    """

    def __init__(self, *, m: int, shape=(1, 28, 28), noise_std: float = 0.0, noise: str = "total", seed: int = 0):
        n = math.prod(check_image_shape(shape))
        m = _check_m(m, n)
        super().__init__(shape, m, noise_std=noise_std, noise=noise)
        g = torch.Generator().manual_seed(check_seed("seed", seed))
        self.A = torch.randn(m, n, generator=g) / math.sqrt(m)

    def forward(self, x):
        return x.flatten(1) @ self.A.T.to(x.dtype)

    def adjoint(self, y):
        y = self.check_measurements(y)
        return (y @ self.A.to(y.dtype)).view(-1, *self.input_shape)

    def matrix(self):
        return self.A


class Inpaint(LinearOperator):
    """Keep a subset of pixels: a random fraction ``keep`` of them, all but a centred ``block``x``block`` square, or
    those where a boolean ``mask`` ``(H, W)`` is true (a mask drawn by hand).

    The same pixels are kept in every channel. Measurements are the kept values, ``(B, m)``.

    >>> import torch
    >>> from genprior.operators import Inpaint
    >>> op = Inpaint(shape=(1, 28, 28), block=10)  # all but the centred 10 x 10 square
    >>> op.output_size
    684
    >>> y = op.measure(torch.ones(1, 1, 28, 28))
    >>> int(op.adjoint(y).sum())  # the adjoint puts the kept pixels back and zeros in the hole
    684
    """

    def __init__(self, *, shape=(1, 28, 28), keep: float | None = None, block: int | None = None,
                 mask: torch.Tensor | None = None, noise_std: float = 0.0, noise: str = "total", seed: int = 0):
        c, h, w = check_image_shape(shape)
        seed = check_seed("seed", seed)
        if sum(v is not None for v in (keep, block, mask)) != 1:
            raise InvalidValueError("inpainting needs exactly one of keep (a fraction of pixels), block (a square size) "
                                    "or mask (the pixels kept)")
        if mask is not None:
            if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (h, w):
                raise InvalidValueError(f"mask must be a boolean tensor of shape ({h}, {w}), got "
                                        f"{getattr(mask, 'dtype', type(mask).__name__)} {tuple(getattr(mask, 'shape', ()))}")
            if not bool(mask.any()):
                raise InvalidValueError("mask keeps no pixel: inpainting needs at least one")
            pixel_mask = mask.cpu()
        elif keep is not None:
            if isinstance(keep, bool) or not isinstance(keep, numbers.Real) or not 0.0 < keep <= 1.0:
                raise InvalidValueError(f"keep must be a fraction in (0, 1], got {keep!r}")
            count = max(1, round(keep * h * w))
            g = torch.Generator().manual_seed(seed)
            pixel_mask = torch.zeros(h * w, dtype=torch.bool)
            pixel_mask[torch.randperm(h * w, generator=g)[:count]] = True
            pixel_mask = pixel_mask.view(h, w)
        else:
            if not (isinstance(block, int) and 0 < block < min(h, w)):
                raise InvalidValueError(f"block must be an integer in 1..{min(h, w) - 1} pixels, got {block!r}")
            pixel_mask = torch.ones(h, w, dtype=torch.bool)
            top, left = (h - block) // 2, (w - block) // 2
            pixel_mask[top:top + block, left:left + block] = False
        self.mask = pixel_mask.expand(c, h, w).reshape(-1).contiguous()
        self.index = self.mask.nonzero().squeeze(1)
        super().__init__(shape, int(self.index.numel()), noise_std=noise_std, noise=noise)
        self.keep, self.block = keep, block

    def forward(self, x):
        return x.flatten(1)[:, self.index]

    def adjoint(self, y):
        y = self.check_measurements(y)
        out = y.new_zeros(y.shape[0], self.input_size)
        out[:, self.index] = y
        return out.view(-1, *self.input_shape)

    def as_image(self, y):
        return self.adjoint(y)


class Downsample(LinearOperator):
    """Super-resolution: average non-overlapping ``factor``x``factor`` blocks (H and W divisible by ``factor``)."""

    def __init__(self, *, factor: int, shape=(1, 28, 28), noise_std: float = 0.0, noise: str = "total"):
        c, h, w = check_image_shape(shape)
        if not (isinstance(factor, int) and factor >= 1 and h % factor == 0 and w % factor == 0):
            raise InvalidValueError(f"factor must be a positive integer dividing the image size {h}x{w}, got {factor!r}")
        self.factor = factor
        super().__init__(shape, c * (h // factor) * (w // factor), noise_std=noise_std, noise=noise)

    def forward(self, x):
        return F.avg_pool2d(x, self.factor).flatten(1)

    def adjoint(self, y):
        y = self.check_measurements(y)
        c, h, w = self.input_shape
        f = self.factor
        small = y.view(-1, c, h // f, w // f)
        return small.repeat_interleave(f, 2).repeat_interleave(f, 3) / (f * f)

    def as_image(self, y):
        return self.adjoint(y) * self.factor ** 2  # nearest-neighbour upsampling, same brightness


class Identity(LinearOperator):
    """Denoising: ``y = x + noise``."""

    def __init__(self, *, shape=(1, 28, 28), noise_std: float = 0.0, noise: str = "total"):
        super().__init__(shape, math.prod(check_image_shape(shape)), noise_std=noise_std, noise=noise)

    def forward(self, x):
        return x.flatten(1)

    def adjoint(self, y):
        return self.check_measurements(y).view(-1, *self.input_shape)

    def as_image(self, y):
        return self.adjoint(y)


Denoise = Identity
SuperResolution = Downsample
