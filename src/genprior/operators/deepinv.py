"""deepinv adapters: a deepinv physics as a genprior operator, and a genprior operator as a deepinv physics.

deepinv (https://deepinv.github.io) writes a measurement as ``y = N(A(x))`` with ``physics.A`` and, for a
``LinearPhysics``, ``physics.A_adjoint``. :func:`from_deepinv` wraps such a physics as a genprior
:class:`~genprior.operators.base.LinearOperator` (or a forward-only :class:`~genprior.operators.base.Operator` for a
non-linear one), its measurements flattened to ``(B, m)`` as genprior's operators give them; :func:`to_deepinv` goes
the other way; :func:`as_operator` is the one place where the method registry accepts either. Needs the ``deepinv``
extra (``pip install "genprior[deepinv]"``), imported only when a function here is called.
"""

from __future__ import annotations

import math

import torch

from genprior.errors import GenpriorError, InvalidValueError, ShapeError
from genprior.operators.base import (
    LinearOperator,
    Operator,
    check_image_shape,
    check_operator,
)

INSTALL = 'pip install "genprior[deepinv]"'


def import_deepinv():
    """The ``deepinv`` module, or a one-line ``GenpriorError`` saying how to install it (or why it fails to load)."""
    try:
        import deepinv
    except ImportError:
        raise GenpriorError(f"deepinv is not installed: {INSTALL}") from None
    except (RuntimeError, OSError, AttributeError) as e:  # e.g. a torchvision built for another torch
        first = str(e).splitlines()[0] if str(e) else ""
        raise GenpriorError(f"deepinv is installed but fails to import ({type(e).__name__}: {first}); its "
                            "torchvision must be built for the installed torch") from None
    return deepinv


def is_deepinv_physics(obj) -> bool:
    """Whether ``obj`` is a deepinv ``Physics`` (checked by its class's module, without importing deepinv)."""
    return any(k.__module__.split(".")[0] == "deepinv" and k.__name__ == "Physics" for k in type(obj).__mro__)


def _tensors(physics) -> list[torch.Tensor]:
    """The physics' parameters and buffers, but for deepinv's device marker (a float32 0 in every physics)."""
    named = (*physics.named_parameters(), *physics.named_buffers())
    return [t for name, t in named if not name.endswith("_device_holder")]


def _floating_dtype(physics) -> torch.dtype | None:
    """The dtype of the physics' first floating parameter or buffer (what its ``A`` computes in), ``None`` if none."""
    return next((t.dtype for t in _tensors(physics) if t.is_floating_point()), None)


def _physics_device(physics) -> torch.device:
    return next((t.device for t in (*_tensors(physics), *physics.buffers())), torch.device("cpu"))


class DeepinvOperator(Operator):
    """A deepinv ``Physics`` as a genprior operator: ``forward(x) = physics.A(x)`` flattened to ``(B, output_size)``.

    ``input_shape``: ``(C, H, W)`` of the images. ``measurement_shape``: the shape of one image's ``physics.A`` output
    (found by applying it to a zero image); ``check_measurements`` accepts ``y`` of shape ``(B, *measurement_shape)``
    (as ``physics(x)`` gives it) as well as ``(B, output_size)`` and flattens it. The physics' own noise and sensor
    models are not used: genprior's noise (``noise_std``, ``noise``) is added by :meth:`measure`. Images are cast to
    the physics' floating dtype for ``A`` and the result back to theirs. A non-linear physics: ``measurement`` is
    ``"nonlinear"`` (no adjoint); see :class:`DeepinvLinearOperator` for a ``LinearPhysics``.
    """

    def __init__(self, physics, *, input_shape, noise_std: float = 0.0, noise: str = "total"):
        shape = check_image_shape(input_shape)
        self.physics = physics
        self.dtype = _floating_dtype(physics)
        probe = torch.zeros((1, *shape), dtype=self.dtype or torch.float32, device=_physics_device(physics))
        with torch.no_grad():
            try:
                out = physics.A(probe)
            except (RuntimeError, ValueError, IndexError, TypeError) as e:  # an image it cannot take
                raise ShapeError(f"deepinv {type(physics).__name__} cannot take images of shape {shape}: "
                                 f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
        if not torch.is_tensor(out) or out.is_complex() or not out.is_floating_point() or out.shape[0] != 1:
            kind = out.dtype if torch.is_tensor(out) else type(out).__name__
            raise InvalidValueError(f"deepinv {type(physics).__name__} gives {kind} measurements; genprior operators "
                                    "need one real floating tensor per image")
        self.measurement_shape = tuple(out.shape[1:])
        super().__init__(shape, math.prod(self.measurement_shape), noise_std=noise_std, noise=noise)

    @property
    def name(self) -> str:
        return f"deepinv.{type(self.physics).__name__}"

    def _in(self, t: torch.Tensor) -> torch.Tensor:
        return t if self.dtype is None else t.to(self.dtype)

    def forward(self, x):
        return self.physics.A(self._in(x)).reshape(x.shape[0], -1).to(x.dtype)

    def check_measurements(self, y):
        if torch.is_tensor(y) and y.dim() > 2 and tuple(y.shape[1:]) == self.measurement_shape:
            y = y.reshape(y.shape[0], -1)
        return super().check_measurements(y)

    def as_image(self, y):
        if self.measurement_shape != self.input_shape:
            return None
        return self.check_measurements(y).view(-1, *self.input_shape)

    def to(self, device) -> DeepinvOperator:
        self.physics.to(device)
        return self

    def _device(self) -> torch.device:
        return _physics_device(self.physics)


class DeepinvLinearOperator(DeepinvOperator, LinearOperator):
    """A deepinv ``LinearPhysics`` as a genprior linear operator: ``adjoint(y) = physics.A_adjoint(y)`` with ``y``
    reshaped to ``(B, *measurement_shape)``, returned as ``(B, *input_shape)``."""

    def adjoint(self, y):
        y = self.check_measurements(y)
        x = self.physics.A_adjoint(self._in(y).view(-1, *self.measurement_shape))
        return x.reshape(y.shape[0], *self.input_shape).to(y.dtype)


def from_deepinv(physics, *, input_shape=None, noise_std: float = 0.0, noise: str = "total") -> DeepinvOperator:
    """A deepinv physics as a genprior operator: a :class:`DeepinvLinearOperator` for a ``LinearPhysics`` (with
    ``adjoint``, ``matrix``, ``check_adjoint``), a forward-only :class:`DeepinvOperator` otherwise.

    ``input_shape``: the images' ``(C, H, W)``; ``None``: the physics' ``img_size`` where it has a 3-tuple one
    (``Inpainting``, ``CompressedSensing`` and most of deepinv's do). ``noise_std``, ``noise``: genprior's noise, as
    in every operator (the physics' noise model is not used).
    """
    physics_module = import_deepinv().physics
    if not isinstance(physics, physics_module.Physics):
        raise InvalidValueError(f"from_deepinv needs a deepinv.physics.Physics, got {type(physics).__name__}")
    if input_shape is None:
        input_shape = getattr(physics, "img_size", None)
        if input_shape is None or len(input_shape) != 3:
            raise ShapeError(f"deepinv {type(physics).__name__} has no (C, H, W) img_size: pass "
                             "input_shape=(C, H, W)")
    kind = DeepinvLinearOperator if isinstance(physics, physics_module.LinearPhysics) else DeepinvOperator
    return kind(physics, input_shape=input_shape, noise_std=noise_std, noise=noise)


def to_deepinv(operator: Operator):
    """A genprior operator as a deepinv physics: a ``deepinv.physics.LinearPhysics`` with ``A = operator.forward``
    and ``A_adjoint = operator.adjoint`` for a linear one, a ``deepinv.physics.Physics`` with ``A`` alone otherwise;
    no noise model (deepinv's default ``ZeroNoise``). ``A`` takes ``(B, *input_shape)`` images (checked) and gives
    ``(B, output_size)``. An operator made by :func:`from_deepinv` gives back its physics."""
    physics_module = import_deepinv().physics
    operator = check_operator(operator, "to_deepinv")
    if isinstance(operator, DeepinvOperator):
        return operator.physics

    def forward(x, **kwargs):
        return operator.forward(operator.check_input(x))

    if not operator.linear:
        return physics_module.Physics(A=forward)

    def adjoint(y, **kwargs):
        return operator.adjoint(y)

    return physics_module.LinearPhysics(A=forward, A_adjoint=adjoint, img_size=operator.input_shape,
                                        device=operator._device())


def as_operator(obj, *, input_shape=None, owner: str = "this method") -> Operator:
    """``obj`` if it is a genprior :class:`Operator`; a deepinv physics converted by :func:`from_deepinv`
    (``input_shape``: as there); else ``InvalidValueError`` naming ``owner``."""
    if is_deepinv_physics(obj):
        return from_deepinv(obj, input_shape=input_shape)
    return check_operator(obj, owner)
