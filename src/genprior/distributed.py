"""Several processes on one job, launched by ``torchrun`` (the standard PyTorch launcher; see docs/distributed.md).

``torchrun --nproc_per_node N -m genprior train vae ...`` or ``... recover ...`` starts N copies of the command;
torchrun tells each its place through the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``). Without torchrun none of these is set and everything here is a no-op: :func:`world_size` is 1,
:func:`is_main` is true, :func:`shard` is the whole range, :func:`gather` a one-element list.

A command checks its input on every rank first (each reads the same arguments, so a bad input fails on every rank
and only rank 0 prints it), then calls :func:`setup` to join the process group: gloo on CPUs, NCCL (with gloo
beside it for CPU tensors) on CUDA GPUs, one GPU per process (``LOCAL_RANK``). Collective calls wait at most
:func:`timeout` (``$GENPRIOR_DIST_TIMEOUT`` minutes, default 10) for the other ranks, so a rank that died mid-run
does not hang the rest forever (torchrun itself also stops the others when one fails). :func:`run_together` runs a
step on every rank and raises its error on every rank when it fails on any.

This module imports ``torch`` only inside its functions: the command line reads the rank (to print an error once)
before it loads torch.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import pickle
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from genprior.errors import GenpriorError, InvalidValueError

T = TypeVar("T")
TIMEOUT_ENV = "GENPRIOR_DIST_TIMEOUT"  # minutes a collective call waits for the other ranks
DEFAULT_TIMEOUT_MINUTES = 10.0


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "")
    try:
        return int(text) if text.strip() else default
    except ValueError:
        raise InvalidValueError(f"${name} must be an integer (torchrun sets it), got {text!r}") from None


def _group():
    """``torch.distributed`` when this process has joined a process group, else ``None`` (without importing torch
    when it is not loaded yet)."""
    if "torch" not in sys.modules:
        return None
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def launched() -> bool:
    """Whether a launcher such as torchrun started this process as one of several (``WORLD_SIZE`` > 1)."""
    return _env_int("WORLD_SIZE", 1) > 1


def rank() -> int:
    """This process's rank, 0 .. :func:`world_size` - 1 (0 without torchrun)."""
    dist = _group()
    return dist.get_rank() if dist is not None else _env_int("RANK", 0)


def world_size() -> int:
    """How many processes share the job (1 without torchrun)."""
    dist = _group()
    return dist.get_world_size() if dist is not None else max(1, _env_int("WORLD_SIZE", 1))


def local_rank() -> int:
    """This process's rank on its machine (``LOCAL_RANK``): the index of its GPU."""
    return _env_int("LOCAL_RANK", 0)


def is_main() -> bool:
    """Whether this process is rank 0: the one that prints and writes files."""
    return rank() == 0


def active() -> bool:
    """Whether this process is in a process group of more than one rank (:func:`setup` was called under torchrun,
    or the caller set up torch.distributed itself)."""
    dist = _group()
    return dist is not None and dist.get_world_size() > 1


def timeout() -> timedelta:
    """How long a collective call waits for the other ranks: ``$GENPRIOR_DIST_TIMEOUT`` minutes (default 10)."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        minutes = float(text) if text else DEFAULT_TIMEOUT_MINUTES
    except ValueError:
        minutes = math.nan
    if not (0 < minutes < math.inf):
        raise InvalidValueError(f"${TIMEOUT_ENV} must be a number of minutes > 0, got {text!r}")
    return timedelta(minutes=minutes)


def setup(device):
    """Join torchrun's process group (once; nothing without torchrun) and return the ``torch.device`` this rank
    computes on: ``device`` itself on the CPU, ``cuda:LOCAL_RANK`` for a CUDA device. Call it after the command's
    checks. Raises ``InvalidValueError`` for a device torchrun cannot share out (``mps``; a numbered GPU such as
    ``cuda:1``, where each rank takes the GPU of its ``LOCAL_RANK``; more local ranks than GPUs)."""
    import torch

    device = torch.device(device)
    if not launched():
        return device
    wait = timeout()
    if device.type == "cuda":
        if device.index is not None:
            raise InvalidValueError(f"under torchrun each process takes the GPU of its LOCAL_RANK: use --device cuda "
                                    f"or auto, not {device}")
        if local_rank() >= torch.cuda.device_count():
            raise InvalidValueError(f"torchrun started {local_rank() + 1} or more processes on this machine, which "
                                    f"has {torch.cuda.device_count()} GPU(s): use --nproc_per_node <= that")
        device = torch.device("cuda", local_rank())
        torch.cuda.set_device(device)
        backend = "cpu:gloo,cuda:nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise InvalidValueError(f"torchrun runs genprior on CPUs (gloo) or CUDA GPUs (NCCL), not on {device.type}")
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=wait)
        atexit.register(finish)
    return device


FINISH_WAIT = timedelta(seconds=60)  # how long a rank waits at exit for the others before leaving anyway


def finish() -> None:
    """Leave the process group (at exit; nothing if none was joined). On gloo the ranks first meet at a barrier
    (at most :data:`FINISH_WAIT`): a rank that tore its connections down while another still sent to it could end
    with gloo's worker thread aborting the process ("terminate called without an active exception", seen once in
    CI); a rank that stopped early (the others are being stopped too) is not waited for longer."""
    dist = _group()
    if dist is None:
        return
    if dist.get_backend() == "gloo":
        with contextlib.suppress(RuntimeError):  # a rank is gone (timeout or closed connection): leave anyway
            dist.monitored_barrier(timeout=FINISH_WAIT)
    dist.destroy_process_group()


def shard(n: int, *, of: int | None = None, at: int | None = None) -> slice:
    """This rank's contiguous block of ``range(n)`` (rank ``at`` of ``of`` processes; default: this one): ranks
    0, 1, ... take consecutive blocks whose sizes differ by at most one, so their concatenation in rank order is
    ``range(n)``."""
    of = world_size() if of is None else of
    at = rank() if at is None else at
    base, extra = divmod(n, of)
    start = at * base + min(at, extra)
    return slice(start, start + base + (at < extra))


def barrier() -> None:
    """Wait until every rank gets here (nothing without a process group)."""
    dist = _group()
    if dist is not None:
        dist.barrier()


def gather(value: T) -> list[T]:
    """Every rank's ``value`` (a picklable object: CPU tensors, numbers, dicts), in rank order, on every rank."""
    dist = _group()
    if dist is None or dist.get_world_size() == 1:
        return [value]
    values: list = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def sum_over_ranks(*values: float) -> tuple[float, ...]:
    """The sums over ranks of the numbers ``values`` (float64), the same on every rank."""
    dist = _group()
    if dist is None:
        return tuple(float(v) for v in values)
    import torch

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return tuple(t.tolist())


def _portable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling, else an exception of the same family with its message: a
    ``GenpriorError`` as ``InvalidValueError`` (still a one-line bad-input error), anything else as
    ``RuntimeError``."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any exception type may refuse to pickle
        kind = InvalidValueError if isinstance(error, GenpriorError) else RuntimeError
        return kind(str(error))


def run_together(step: Callable[[], T]) -> T:
    """``step()`` on every rank; if it raises on any rank, every rank raises (the failing rank its own exception,
    the others the lowest failing rank's), so no rank waits for another that has stopped. Returns this rank's
    result."""
    try:
        result: Any = step()
        error = None
    except Exception as e:  # noqa: BLE001 - re-raised below, on every rank
        result, error = None, e
    if _group() is None:
        if error is not None:
            raise error
        return result
    errors = gather(None if error is None else _portable(error))
    if error is not None:
        raise error
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return result


def data_parallel(module):
    """``module`` wrapped in ``DistributedDataParallel`` (gradients averaged over ranks in ``backward``), on the
    device of its parameters; ``module`` itself without a process group."""
    if not active():
        return module
    from torch.nn.parallel import DistributedDataParallel

    from genprior.devices import device_of

    device = device_of(module)
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
