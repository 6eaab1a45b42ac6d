"""Measurement operators ("physics"): ``op.forward(x)``, ``op.measure(x)``, and ``op.adjoint(y)`` for linear ones."""

from genprior.errors import unknown
from genprior.operators.base import Compose, LinearOperator, Operator
from genprior.operators.deepinv import as_operator, from_deepinv, to_deepinv
from genprior.operators.linear import (
    Denoise,
    Downsample,
    Gaussian,
    Identity,
    Inpaint,
    SuperResolution,
)
from genprior.operators.nonlinear import Magnitude, Sign

TASKS = ("cs", "inpaint", "superres", "denoise", "one-bit", "phase")


def make_operator(task: str, *, shape=(1, 28, 28), m: int | None = None, keep: float | None = None,
                  block: int | None = None, factor: int | None = None, noise_std: float = 0.0,
                  noise: str = "total", seed: int = 0, mask=None) -> Operator:
    """Build the operator for a named task (the CLI's ``--task``): ``cs`` (``Gaussian``), ``inpaint``,
    ``superres``, ``denoise``, ``one-bit`` (``Sign``: the signs of ``m`` Gaussian measurements) and ``phase``
    (``Magnitude``: their absolute values, real phase retrieval). ``inpaint`` keeps a random fraction ``keep``
    (default 0.2), all but a centred ``block`` square, or the pixels where a boolean ``mask`` ``(H, W)`` is true."""
    from genprior.errors import InvalidValueError

    uses = {"cs": ("m",), "inpaint": ("keep", "block", "mask"), "superres": ("factor",), "denoise": (), "one-bit": ("m",),
            "phase": ("m",)}
    for name, value in (("m", m), ("keep", keep), ("block", block), ("mask", mask), ("factor", factor)):
        if value is not None and task in uses and name not in uses[task]:
            owner = next(t for t, names in uses.items() if name in names)
            raise InvalidValueError(f"task {task} does not use --{name} (it belongs to task {owner})")
    if task in ("cs", "one-bit", "phase"):
        if m is None:
            raise InvalidValueError(f"task {task} needs --m (the number of measurements)")
        kind = {"cs": Gaussian, "one-bit": Sign, "phase": Magnitude}[task]
        return kind(m=m, shape=shape, noise_std=noise_std, noise=noise, seed=seed)
    if task == "inpaint":
        if keep is None and block is None and mask is None:
            keep = 0.2
        return Inpaint(shape=shape, keep=keep, block=block, mask=mask, noise_std=noise_std, noise=noise, seed=seed)
    if task == "superres":
        return Downsample(factor=4 if factor is None else factor, shape=shape, noise_std=noise_std, noise=noise)
    if task == "denoise":
        return Identity(shape=shape, noise_std=noise_std, noise=noise)
    raise unknown("task", task, TASKS)


__all__ = ["TASKS", "Compose", "Denoise", "Downsample", "Gaussian", "Identity", "Inpaint", "LinearOperator",
           "Magnitude", "Operator", "Sign", "SuperResolution", "as_operator", "from_deepinv", "make_operator",
           "to_deepinv"]
