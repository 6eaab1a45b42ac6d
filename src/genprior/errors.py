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


def unknown(kind: str, name: str, known) -> UnknownNameError:
    """Build the standard 'unknown <kind>' error listing the accepted names."""
    return UnknownNameError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(known))}")
