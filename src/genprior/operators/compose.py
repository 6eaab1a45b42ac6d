"""Composition of operators: ``outer @ inner`` measures ``outer(inner(x))``."""

from __future__ import annotations

import math

from genprior.errors import ShapeError
from genprior.operators.base import LinearOperator, Operator


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
