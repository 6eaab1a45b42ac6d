"""The generator contract: what every generator offers the solvers, trainers and defenses, and its one check.

A generator is any callable ``torch.nn.Module`` with ``latent_dim`` (``k``) whose forward maps latents ``(B, k)`` to
images ``(B, C, H, W)`` (or flat ``(B, C*H*W)``) of a floating dtype, values in [0, 1]; ``output_shape`` ``(C, H, W)``
is optional. Nothing of genprior needs to be subclassed: :class:`Generator` states the contract for type checkers,
:func:`check_generator` checks it at run time.
"""

from __future__ import annotations

import contextlib
import math
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from genprior.devices import device_of
from genprior.errors import GeneratorError, GenpriorError, InvalidValueError, ShapeError


@runtime_checkable
class Generator(Protocol):
    """What a generator is: ``latent_dim`` and a call ``(B, latent_dim) -> (B, C, H, W)``."""

    latent_dim: int

    def __call__(self, z: torch.Tensor) -> torch.Tensor: ...


def latent_dim_of(generator) -> int:
    """``generator.latent_dim`` (the size ``k`` of ``z``) if it is a positive integer, else ``GeneratorError``.
    Reads the attribute only; :func:`check_generator` also runs the generator once."""
    k = getattr(generator, "latent_dim", None)
    if k is None:
        raise GeneratorError(f"generator {type(generator).__name__} has no latent_dim attribute: "
                             "set generator.latent_dim = k (the size of z) on your module")
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise GeneratorError(f"generator.latent_dim must be a positive integer, got {k!r}")
    return k


def dtype_of(generator) -> torch.dtype:
    """The dtype of ``generator``'s first parameter: the dtype the latent solvers descend in (float32 for a
    module without parameters or a plain callable)."""
    params = generator.parameters() if isinstance(generator, nn.Module) else ()
    return next((p.dtype for p in params), torch.float32)


def check_generator(generator, shape: tuple[int, ...] | None = None) -> int:
    """The generator contract every latent solver relies on, checked once before any work; returns ``k``.

    ``generator`` has a positive integer ``latent_dim`` ``k`` (:func:`latent_dim_of`) and maps a ``(1, k)`` latent
    (zeros, on its device, in its dtype, in eval mode, without gradients) to one tensor of real floating-point
    values, finite, that :func:`as_images` can view as ``(1, *shape)`` when ``shape`` ``(C, H, W)`` is given.
    Raises ``GeneratorError`` when the forward fails (``latent_dim`` not matching the input layer), returns
    something other than a tensor (a tuple) or a tensor of another dtype (uint8 images have no gradient in ``z``);
    ``ShapeError`` for a wrong image shape, ``InvalidValueError`` for NaN or infinite outputs (NaN weights).
    """
    k = latent_dim_of(generator)
    name = type(generator).__name__
    if not callable(generator):
        raise GeneratorError(f"generator {name} is not callable: a generator maps latents (B, k) to images")
    with torch.no_grad(), frozen(generator):
        try:
            out = generator(torch.zeros(1, k, device=device_of(generator), dtype=dtype_of(generator)))
        except GenpriorError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise GeneratorError(f"generator {name} fails on a latent of shape (1, {k}) - does latent_dim = {k} "
                                 f"match its input layer? ({first})") from None
    if not torch.is_tensor(out):
        raise GeneratorError(f"generator {name} returns a {type(out).__name__}, not a tensor: a generator returns "
                             "the images G(z) alone")
    if not out.is_floating_point():
        raise GeneratorError(f"generator {name} returns {out.dtype} values; the latent solvers need real "
                             "floating-point images in [0, 1] (their gradient in z moves the latent)")
    if out.dim() == 0 or out.shape[0] != 1:
        raise GeneratorError(f"generator {name} returns shape {tuple(out.shape)} for a latent of shape (1, {k}): "
                             "a generator returns one image per latent")
    if shape is not None:
        as_images(out, tuple(shape))
    if not bool(torch.isfinite(out).all()):  # NaN weights: every recovery would be NaN
        raise InvalidValueError(f"generator {name} outputs NaN or infinite values at z = 0")
    return k


@contextlib.contextmanager
def frozen(generator):
    """Evaluation mode and no parameter gradients for the duration; the caller's settings are restored."""
    if not isinstance(generator, nn.Module):
        yield generator
        return
    was_training = generator.training
    flags = [(p, p.requires_grad) for p in generator.parameters()]
    generator.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield generator
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        generator.train(was_training)


def as_images(out: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """View a generator's output ``(B, ...)`` as ``(B, *shape)``; flat outputs of the right size are accepted."""
    if tuple(out.shape[1:]) == shape:
        return out
    if out[0].numel() == math.prod(shape):
        return out.reshape(out.shape[0], *shape)
    raise ShapeError(f"generator outputs {tuple(out.shape[1:])} per sample but the operator takes images of shape {shape}")
