"""Exception types. The CLI turns every ``GenpriorError`` into a one-line message and exit code 2."""

import math
import numbers


class GenpriorError(Exception):
    """Base class of every error genprior raises on bad input."""


class ShapeError(GenpriorError, ValueError):
    """A tensor has the wrong shape for the operator, generator or solver it was given to."""


class InvalidValueError(GenpriorError, ValueError):
    """A value is out of range (m > n, NaN in measurements, a negative noise level, ...)."""


class UnknownNameError(GenpriorError, ValueError):
    """A name (dataset, model, task, method, operator) is not in its registry."""


class DataNotFoundError(GenpriorError, FileNotFoundError):
    """A data set's files are not where genprior looked."""


class CheckpointError(GenpriorError, OSError):
    """A checkpoint is missing, unreadable, corrupt or does not match its config."""


class OutputError(GenpriorError, OSError):
    """An output file or folder cannot be written (a missing or read-only place, a folder where a file should be)."""


class GeneratorError(GenpriorError, TypeError):
    """An object passed as a generator lacks what every generator must have (``latent_dim``)."""


def check_sizes(owner: str, **sizes) -> None:
    """Raise ``InvalidValueError`` unless every value of ``sizes`` (an int, or a sequence of ints such as hidden
    widths) is >= 1; the message names ``owner`` (e.g. ``"VAE"``) and the first size that is not."""
    for name, value in sizes.items():
        several = isinstance(value, (tuple, list))
        for v in value if several else (value,):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                kind = "positive integers" if several else "a positive integer"
                raise InvalidValueError(f"{owner}: {name} must be {kind}, got {value!r}")


def check_number(name: str, value, *, low: float, integer: bool = False, strict: bool = False):
    """Return ``value`` if it is a finite real (an integer with ``integer``) ``>= low`` (``> low`` with ``strict``),
    else raise ``InvalidValueError`` naming ``name``, e.g. ``"alpha must be a finite number >= 0.0, got -1"``."""
    ok_type = isinstance(value, numbers.Integral if integer else numbers.Real)
    if isinstance(value, bool) or not ok_type or not math.isfinite(value) or value < low or (strict and value == low):
        kind = "an integer" if integer else "a finite number"
        raise InvalidValueError(f"{name} must be {kind} {'>' if strict else '>='} {low}, got {value!r}")
    return value


SEED_LIMIT = 2 ** 63  # seeds are 0 .. 2^63 - 1: torch's generators take 64-bit seeds, and commands add small offsets


def check_seed(name: str, value) -> int:
    """Return ``value`` as an ``int`` if it is an integer in ``0 .. SEED_LIMIT - 1`` (the one seed rule of the API and
    the CLI), else raise ``InvalidValueError`` naming ``name``, e.g. ``"seed must be an integer in 0 .. 2^63 - 1,
    got 1.5"``. Booleans are refused; NumPy and other ``numbers.Integral`` integers are accepted."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < SEED_LIMIT:
        raise InvalidValueError(f"{name} must be an integer in 0 .. 2^63 - 1, got {value!r}")
    return int(value)


def sub_seed(seed: int, offset: int) -> int:
    """The seed of the ``offset``-th random stream derived from ``seed`` (an operator, its noise, the restarts, ...):
    ``seed + offset`` wrapped into 0 .. 2^63 - 1, so that every valid seed gives valid seeds."""
    return (int(seed) + int(offset)) % SEED_LIMIT


def unknown(kind: str, name: str, known) -> UnknownNameError:
    """Build the standard 'unknown <kind>' error listing the accepted names."""
    return UnknownNameError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(known))}")
