"""Untrained convolutional decoders for the Deep Image Prior (Ulyanov, Vedaldi & Lempitsky, CVPR 2018).

The prior is the network's structure, not learned weights: a decoder ``G_w`` with a fixed random input is
fitted to one image's measurements, and the convolutions' bias towards smooth, structured images recovers the
image before the network learns the noise. Every image needs its own weights ``w``, so :class:`DecoderBatch`
holds ``B`` decoders at once and runs them as one network of grouped convolutions (group ``i`` is image ``i``'s
decoder): Adam acting coordinate by coordinate on a sum of per-image losses then takes exactly the steps ``B``
separate fits would.

Architecture (a decoder in the style of the paper's, without skip connections, sized for small images): a
fixed input ``U(0, 0.1)`` of ``input_channels`` at ``ceil(H / 2^d) x ceil(W / 2^d)``; ``d + 1`` stages of
3x3 convolution, instance normalisation with a learned scale and shift, LeakyReLU(0.2), the first ``d`` of
them followed by bilinear 2x upsampling (to exactly ``H x W`` at the end); then a 1x1 convolution to ``C``
channels and a sigmoid, so ``G_w`` is an image in [0, 1].
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from genprior.errors import InvalidValueError, check_sizes


class DecoderBatch(nn.Module):
    """``images`` independent decoders; ``forward()`` ``-> (images, C, H, W)`` in [0, 1].

    ``output_shape``: ``(C, H, W)``; ``channels``: width of every stage; ``upsamplings``: ``d`` above (the input
    is ``2^d`` times smaller than the image); ``seed`` fixes the inputs and the initial weights: decoder ``i``
    depends on ``seed`` and ``first + i`` only (``first``: the index of the batch's first image in a larger set),
    not on how many images share the batch.
    """

    def __init__(self, images: int, *, output_shape: tuple[int, int, int] = (1, 28, 28), channels: int = 64,
                 input_channels: int = 32, upsamplings: int = 2, seed: int = 0, first: int = 0):
        super().__init__()
        check_sizes("DecoderBatch", images=images, channels=channels, input_channels=input_channels)
        if isinstance(upsamplings, bool) or not isinstance(upsamplings, int) or upsamplings < 0:
            raise InvalidValueError(f"DecoderBatch: upsamplings must be an integer >= 0, got {upsamplings!r}")
        if len(tuple(output_shape)) != 3:
            raise InvalidValueError(f"DecoderBatch: output_shape must be (C, H, W), got {tuple(output_shape)!r}")
        check_sizes("DecoderBatch", output_shape=list(output_shape))
        c, h, w = (int(s) for s in output_shape)
        self.images, self.output_shape = images, (c, h, w)
        self.sizes = [(math.ceil(h / 2 ** (upsamplings - i)), math.ceil(w / 2 ** (upsamplings - i)))
                      for i in range(upsamplings + 1)]
        if self.sizes[0][0] * self.sizes[0][1] < 2:  # instance norm needs more than one pixel per channel
            raise InvalidValueError(f"DecoderBatch: {h}x{w} images with upsamplings={upsamplings} start from a 1x1 "
                                    "input; use fewer upsamplings")
        widths = [input_channels] + [channels] * (upsamplings + 1)
        shapes = [(c_out, c_in, 3, 3) for c_in, c_out in itertools.pairwise(widths)] + [(c, channels, 1, 1)]
        self.weights = nn.ParameterList([nn.Parameter(torch.empty(images * c_out, c_in, kh, kw)) for c_out, c_in, kh, kw in shapes])
        self.biases = nn.ParameterList([nn.Parameter(torch.empty(images * shape[0])) for shape in shapes])
        self.scales = nn.ParameterList([nn.Parameter(torch.ones(images * channels)) for _ in widths[1:]])
        self.shifts = nn.ParameterList([nn.Parameter(torch.zeros(images * channels)) for _ in widths[1:]])
        inputs = []
        for i in range(images):  # per image its own generator, so a decoder does not depend on the batch it is in
            g = torch.Generator().manual_seed((seed * 1_000_003 + first + i) % 2 ** 64)  # torch takes 64-bit seeds
            inputs.append(torch.rand(input_channels, *self.sizes[0], generator=g) * 0.1)
            for j, shape in enumerate(shapes):  # nn.Conv2d's default uniform bound 1/sqrt(fan_in), weights and biases
                bound = 1.0 / math.sqrt(shape[1] * shape[2] * shape[3])
                wj = (torch.rand(shape, generator=g) * 2 - 1) * bound
                bj = (torch.rand(shape[0], generator=g) * 2 - 1) * bound
                with torch.no_grad():
                    self.weights[j][i * shape[0]:(i + 1) * shape[0]] = wj
                    self.biases[j][i * shape[0]:(i + 1) * shape[0]] = bj
        self.register_buffer("input", torch.stack(inputs).reshape(1, images * input_channels, *self.sizes[0]))

    def forward(self) -> torch.Tensor:
        b = self.images
        h = self.input
        last = len(self.weights) - 1
        for j, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = F.conv2d(h, weight, bias, padding=weight.shape[-1] // 2, groups=b)
            if j == last:
                break
            h = F.leaky_relu(F.instance_norm(h, weight=self.scales[j], bias=self.shifts[j]), 0.2)
            if j + 1 < len(self.sizes):
                h = F.interpolate(h, size=self.sizes[j + 1], mode="bilinear", align_corners=False)
        return torch.sigmoid(h).view(b, *self.output_shape)


__all__ = ["DecoderBatch"]
