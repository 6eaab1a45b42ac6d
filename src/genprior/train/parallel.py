"""Pieces the trainers share to run under torchrun (:mod:`genprior.distributed`): the loss of a rank's share of a
global batch as a module for ``DistributedDataParallel``, batch norm over the global batch, and a plain gradient
average for a step that DDP cannot wrap.

The pattern (see :func:`genprior.train.vae.train_vae`): every rank draws the same global batch of ``B`` rows and the
same noise from the same seeded stream, takes its contiguous rows (:func:`genprior.distributed.shard`), and computes
``sum over its rows of the per-row loss * N / B`` (N ranks); DDP averages the gradients over the ranks, so the step
is the one of the mean loss over the global batch, as one process takes it, up to round-off. Without a process group
none of this runs: the trainers keep their one-process code path untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from genprior import distributed
from genprior.errors import InvalidValueError


class LossTerm(nn.Module):
    """``fn(*args)`` as the ``forward`` of a module that owns ``module``'s parameters (and no others): what
    ``DistributedDataParallel`` wraps, so that the gradients of exactly those parameters are averaged over the
    ranks. ``fn`` may call other networks (a GAN's discriminator in the generator's loss); their gradients stay
    this rank's own."""

    def __init__(self, module: nn.Module, fn: Callable[..., torch.Tensor]):
        super().__init__()
        self.module = module
        self._fn = fn  # a plain function: not registered, its networks' parameters are not this module's

    def forward(self, *args):
        return self._fn(*args)


def wrap(module: nn.Module, fn: Callable[..., torch.Tensor]):
    """:class:`LossTerm` ``(module, fn)`` in ``DistributedDataParallel`` (gradients of ``module``'s parameters
    averaged over the ranks in ``backward``)."""
    return distributed.data_parallel(LossTerm(module, fn))


def ranks_sharing(owner: str, batch_size: int, what: str = "batch size") -> int:
    """The number of ranks N sharing each global batch (1 without a process group); ``InvalidValueError`` naming
    ``owner`` unless ``batch_size`` divides by N (each rank takes an equal share)."""
    world = distributed.world_size() if distributed.active() else 1
    if batch_size % world:
        raise InvalidValueError(f"{owner}: the global {what} {batch_size} must divide by the {world} processes "
                                "(each takes an equal share of every batch)")
    return world


class _AllReduce(torch.autograd.Function):
    """Sum over the ranks (of ``group``), differentiable: the gradient of each rank's copy of the sum flows back to
    every rank's summand (its backward is again a sum over the ranks)."""

    @staticmethod
    def forward(ctx, tensor, group):
        ctx.group = group
        out = tensor.clone(memory_format=torch.contiguous_format)
        torch.distributed.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad):
        return _AllReduce.apply(grad, ctx.group), None


def _global_batch_norm(bn: nn.modules.batchnorm._BatchNorm, group) -> Callable[[torch.Tensor], torch.Tensor]:
    """A ``forward`` for ``bn`` that, in training mode, normalises with the mean and (biased) variance of the
    global batch (every rank's rows) and updates the running statistics with them (unbiased variance), as one
    process's ``BatchNorm`` over the whole batch does; in eval mode ``bn``'s own forward."""
    own = type(bn).forward

    def forward(x: torch.Tensor) -> torch.Tensor:
        if not (bn.training or bn.running_mean is None):
            return own(bn, x)
        bn._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        view = (1, -1, *[1] * (x.dim() - 2))
        local = torch.cat([x.sum(dims), x.new_tensor([x.numel() // x.shape[1]])])
        total = _AllReduce.apply(local, group)
        count = total[-1].detach()
        mean = total[:-1] / count
        centred = x - mean.view(view)
        var = _AllReduce.apply((centred * centred).sum(dims), group) / count
        out = centred * torch.rsqrt(var + bn.eps).view(view)
        if bn.affine:
            out = out * bn.weight.view(view) + bn.bias.view(view)
        if bn.training and bn.track_running_stats:
            with torch.no_grad():
                bn.num_batches_tracked.add_(1)
                f = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
                n = float(count)
                bn.running_mean.mul_(1 - f).add_(mean.detach(), alpha=f)
                bn.running_var.mul_(1 - f).add_(var.detach() * (n / max(n - 1, 1)), alpha=f)
        return out

    return forward


_GROUPS: dict = {}  # backend -> the process group the batch norms sum over (apart from DDP's, which runs meanwhile)


@contextmanager
def global_batch_norm(*modules: nn.Module) -> Iterator[None]:
    """Within the block, every batch-norm layer in ``modules`` computes its training-mode statistics over the global
    batch (the rows of all ranks, summed over the ranks by a differentiable all-reduce) instead of this rank's
    share, so that a rank's forward and backward are its rows of one process's (PyTorch's ``SyncBatchNorm`` does
    the same on GPUs only). Nothing changes without a process group of more than one rank. Every rank must run the
    same forward and backward passes in the same order (they do: the same batches and steps). The layers' own
    ``forward`` is restored at the end."""
    layers = [m for module in modules for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not (layers and distributed.active()):
        yield
        return
    state = next(iter(layers[0].state_dict().values()), None)
    backend = "nccl" if state is not None and state.is_cuda else "gloo"  # CUDA tensors sum over NCCL
    if backend not in _GROUPS:  # made once, by every rank at the same point (new_group is itself a collective call)
        _GROUPS[backend] = torch.distributed.new_group(backend=backend, timeout=distributed.timeout())
    for bn in layers:
        bn.forward = _global_batch_norm(bn, _GROUPS[backend])
    try:
        yield
    finally:
        for bn in layers:
            del bn.forward


def average_gradients(parameters: Iterable[nn.Parameter]) -> None:
    """Replace the gradient of each of ``parameters`` by its mean over the ranks (one all-reduce of all of them;
    a missing gradient counts as zero). For a step whose backward passes DDP cannot follow (BEGAN's two
    ``backward`` calls from one forward)."""
    params = [p for p in parameters if p.requires_grad]
    if not (params and distributed.active()):
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    torch.distributed.all_reduce(flat)
    flat /= distributed.world_size()
    at = 0
    for p in params:
        p.grad.copy_(flat[at:at + p.numel()].view_as(p.grad))
        at += p.numel()
