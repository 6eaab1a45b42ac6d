"""A small MNIST convolutional classifier (LeNet-style: LeCun et al. 1998), the target of the robustness tools."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genprior.errors import InvalidValueError, check_sizes


class Classifier(nn.Module):
    """Two 5x5 conv + max-pool blocks and two linear layers.

    Input ``(B, C, H, W)`` in [0, 1] (``(B, 1, 28, 28)`` for MNIST); output logits ``(B, num_classes)``.
    With the defaults (1x28x28 input, 32/64 channels, 256 hidden units) it has about 320k parameters.
    """

    def __init__(self, *, input_shape=(1, 28, 28), channels=(32, 64), hidden: int = 256, num_classes: int = 10,
                 dropout: float = 0.25):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.channels = tuple(int(c) for c in channels)
        self.hidden = int(hidden)
        self.num_classes = int(num_classes)
        self.dropout = float(dropout)
        check_sizes("Classifier", input_shape=self.input_shape, channels=self.channels, hidden=self.hidden,
                    num_classes=self.num_classes)
        if len(self.input_shape) != 3 or len(self.channels) != 2:
            raise InvalidValueError(f"Classifier needs a (C, H, W) input_shape and two channel counts, got "
                                    f"{self.input_shape} and {self.channels}")
        c, h, w = self.input_shape
        if min(h, w) < 16:  # two 5x5 convolutions, each followed by a 2x2 max-pool, need 16 pixels a side
            raise InvalidValueError(f"Classifier needs images of at least 16x16 pixels, got {h}x{w}")
        self.conv1 = nn.Conv2d(c, self.channels[0], 5)
        self.conv2 = nn.Conv2d(self.channels[0], self.channels[1], 5)
        h, w = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(self.channels[1] * h * w, self.hidden)
        self.fc2 = nn.Linear(self.hidden, self.num_classes)

    def config(self) -> dict:
        return {"family": "classifier", "input_shape": list(self.input_shape), "channels": list(self.channels),
                "hidden": self.hidden, "num_classes": self.num_classes, "dropout": self.dropout}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, C, H, W)`` in [0, 1] -> penultimate activations ``(B, hidden)`` (>= 0)."""
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return F.relu(self.fc1(h.flatten(1)))

    def head(self, features: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Penultimate activations ``(B, hidden)`` -> logits ``(B, num_classes)``. ``noise`` ``(B, hidden)``: in
        training mode, the dropout's scaled mask (0 or ``1 / (1 - dropout)``) to use instead of drawing one (a
        rank's rows of the global batch's mask under torchrun: :meth:`dropout_noise`)."""
        if noise is not None and self.training:
            return self.fc2(features * noise)
        return self.fc2(F.dropout(features, self.dropout, self.training))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``(B, C, H, W)`` in [0, 1] -> logits ``(B, num_classes)`` (``noise``: see :meth:`head`)."""
        return self.head(self.features(x), noise)

    def dropout_noise(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
        """The scaled dropout mask ``(batch, hidden)`` that a training-mode forward of ``batch`` images draws on the
        CPU, drawn the same way from the same (global) random stream, so that the same mask can be shared out;
        ``None`` when dropout draws nothing (``dropout`` 0 or 1)."""
        if not 0 < self.dropout < 1:
            return None
        noise = torch.empty(batch, self.hidden).bernoulli_(1 - self.dropout)
        return noise.div_(1 - self.dropout).to(device)
