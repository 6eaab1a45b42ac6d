"""Deep Image Prior recovery (Ulyanov, Vedaldi & Lempitsky, CVPR 2018, Eq. 2; for compressed sensing,
Van Veen, Jalal, Soltanolkotabi, Price, Vishwanath & Dimakis 2018, "Compressed sensing with Deep Image Prior").

    w_hat = argmin_w ||y - A(G_w(u))||^2,     x_hat = G_w_hat(u)

with ``G_w`` an untrained convolutional decoder (:class:`genprior.models.dip.DecoderBatch`) and ``u`` its
fixed random input: no training data and no pretrained model. Adam from the decoder's random initialisation for
a fixed number of ``steps``: the fit reaches the image's structure long before it reaches the noise, and
stopping early is the regulariser (run long enough, it fits ``y`` exactly, noise included).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from genprior.errors import InvalidValueError, check_seed, check_sizes
from genprior.models.dip import DecoderBatch
from genprior.operators.base import Operator, check_operator
from genprior.progress import progress_bar

STEPS = 1000  # defaults chosen on MNIST test images 300..315 (see deep_image_prior)
LR = 0.1
CHANNELS = 32


@dataclass
class DIPRecovery:
    """``x``: ``(B, C, H, W)`` recoveries in [0, 1]; ``measurement_loss``: ``(B,)`` ``||y - A(x)||^2``;
    ``history``: ``(steps,)`` the mean measurement loss at each step (before its update)."""

    x: torch.Tensor
    measurement_loss: torch.Tensor
    history: torch.Tensor
    steps: int


def deep_image_prior(operator: Operator, y: torch.Tensor, *, steps: int = STEPS, lr: float = LR,
                     channels: int = CHANNELS, input_channels: int = 32, upsamplings: int = 2, seed: int = 0,
                     max_batch: int = 64, progress: bool = False, offset: int = 0) -> DIPRecovery:
    """Recover images ``(B, *operator.input_shape)`` from measurements ``y`` ``(B, m)`` of ``operator``.

    Each image gets its own decoder (``channels``, ``input_channels``, ``upsamplings``: see
    :class:`~genprior.models.dip.DecoderBatch`), fitted by ``steps`` Adam steps at rate ``lr``; ``max_batch``
    images are fitted at once (memory grows with it), ``seed`` fixes inputs and initial weights. Any operator
    with a differentiable ``forward`` works (the linear ones, and the magnitude). ``offset``: the index of ``y``'s
    first image in a larger batch split into parts (torchrun's ranks), whose decoders it gets.

    Defaults: 1000 steps at lr 0.1, 32 channels (early stopping is the prior: fitted much longer, the decoder
    learns the noise). They were chosen on MNIST test images 300..315, never the benchmark's 0..299
    (``docs/tuning.md``, section "Deep Image Prior").
    """
    check_sizes("deep_image_prior", steps=steps, max_batch=max_batch)
    check_operator(operator, "deep_image_prior")
    seed = check_seed("seed", seed)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 < lr < math.inf:
        raise InvalidValueError(f"deep_image_prior needs a finite lr > 0, got {lr!r}")
    if not getattr(operator, "differentiable", True):
        raise InvalidValueError(f"{operator.name} is not differentiable: the Deep Image Prior descends its gradients")
    y = operator.check_measurements(y)
    device = y.device
    operator.to(device)
    shape = tuple(operator.input_shape)
    if len(shape) != 3:
        raise InvalidValueError(f"deep_image_prior needs an operator on (C, H, W) images, got input shape {shape}")
    xs, losses, history = [], [], torch.zeros(steps, dtype=torch.float64)
    chunks = range(0, y.shape[0], max_batch)
    with torch.enable_grad(), progress_bar(total=steps * len(chunks), desc="deep image prior", enabled=progress) as bar:
        for start in chunks:
            yc = y[start:start + max_batch].float()
            # first=offset+start: image i's decoder is the same whatever max_batch is, and in a part of a larger
            # batch (torchrun's ranks; y's first image is that batch's row offset) the same as in the whole
            net = DecoderBatch(yc.shape[0], output_shape=shape, channels=channels, input_channels=input_channels,
                               upsamplings=upsamplings, seed=seed, first=offset + start).to(device)
            opt = torch.optim.Adam(net.parameters(), lr=lr)
            for t in range(steps):
                per_image = (operator.forward(net()) - yc).pow(2).sum(1)
                loss = per_image.sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                history[t] += float(per_image.detach().sum())
                bar.update()
            with torch.no_grad():
                x = net()
                xs.append(x)
                losses.append((operator.forward(x) - yc).pow(2).sum(1))
    x = torch.cat(xs)
    return DIPRecovery(x=x.to(y.dtype), measurement_loss=torch.cat(losses), history=history / y.shape[0], steps=steps)


__all__ = ["DIPRecovery", "deep_image_prior"]
