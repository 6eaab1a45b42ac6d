"""A deterministic autoencoder with the CSGM VAE's shape (784-500-500-20, softplus, sigmoid output), and the
classifier built on its encoder trunk for few-label learning (unsupervised pretraining, deck 001).

The autoencoder's encoder has the VAE's layer names (``encoder``: the 784-500-500 softplus trunk), so the same
:class:`EncoderClassifier` can start from either model's trunk (:func:`encoder_classifier`).
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from genprior.errors import InvalidValueError, ShapeError, check_sizes


def _trunk(n: int, hidden: tuple[int, ...]) -> nn.Sequential:
    """``n``-hidden[0]-...-hidden[-1], a softplus after every linear layer: the VAE's encoder trunk."""
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise((n, *hidden)):
        layers += [nn.Linear(a, b), nn.Softplus()]
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """Fully connected deterministic autoencoder: encoder ``n``-500-500 softplus then a linear code of
    ``latent_dim`` (the VAE's mean path), decoder the mirror (``latent_dim``-500-500-``n``, softplus, sigmoid output).

    The objective is the binary cross-entropy of the reconstruction, summed over pixels
    (:meth:`reconstruction_loss`, nats per image; the VAE's reconstruction term without the noise and the KL).
    ``encode(x)``: ``(B, C, H, W)`` in [0, 1] -> codes ``(B, latent_dim)``; ``ae(z)``: codes -> images
    ``(B, C, H, W)`` in [0, 1] (the decoder, so the module has a generator's ``latent_dim`` and ``output_shape``;
    its codes are not drawn from ``N(0, I)``, unlike a VAE's latents).
    """

    def __init__(self, *, output_shape=(1, 28, 28), hidden=(500, 500), latent_dim: int = 20):
        super().__init__()
        check_sizes("Autoencoder", output_shape=tuple(output_shape), latent_dim=latent_dim, hidden=tuple(hidden))
        self.output_shape = tuple(int(s) for s in output_shape)
        self.latent_dim = int(latent_dim)
        self.hidden = tuple(int(h) for h in hidden)
        n = math.prod(self.output_shape)
        self.encoder = _trunk(n, self.hidden)
        self.to_code = nn.Linear(self.hidden[-1], self.latent_dim)
        rev = (self.latent_dim, *reversed(self.hidden))
        dec: list[nn.Module] = []
        for a, b in itertools.pairwise(rev):
            dec += [nn.Linear(a, b), nn.Softplus()]
        self.decoder = nn.Sequential(*dec, nn.Linear(rev[-1], n))

    def config(self) -> dict:
        return {"family": "autoencoder", "output_shape": list(self.output_shape), "hidden": list(self.hidden),
                "latent_dim": self.latent_dim}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` in [0, 1] -> codes ``(B, latent_dim)``."""
        return self.to_code(self.encoder(x.flatten(1)))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, latent_dim)`` -> the reconstruction's logits ``(B, n)``."""
        return self.decoder(z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, latent_dim)`` -> images ``(B, C, H, W)`` in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z)).view(-1, *self.output_shape)

    def reconstruction_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Per-image binary cross-entropy of ``x`` ``(B, C, H, W)`` in [0, 1] against its reconstruction, summed
        over pixels: ``(B,)`` in nats (>= 0; the entropy of the intensities when the reconstruction is perfect)."""
        logits = self.decode_logits(self.encode(x))
        return F.binary_cross_entropy_with_logits(logits, x.flatten(1), reduction="none").sum(1)


class EncoderClassifier(nn.Module):
    """The encoder trunk (``n``-500-500 softplus, the VAE's and :class:`Autoencoder`'s) and a linear head to
    ``num_classes`` logits; with ``code_dim`` the trunk ends in the encoder's linear code layer (``to_code``, of
    ``code_dim`` units) and the head reads that code instead of the last hidden layer.

    Input ``(B, C, H, W)`` in [0, 1]; :meth:`features` ``(B, hidden[-1])`` (or ``(B, code_dim)``); output logits
    ``(B, num_classes)``. The head is ``head``; everything else is the trunk (:meth:`trunk_parameters`).
    """

    def __init__(self, *, input_shape=(1, 28, 28), hidden=(500, 500), num_classes: int = 10, code_dim: int = 0):
        super().__init__()
        check_sizes("EncoderClassifier", input_shape=tuple(input_shape), hidden=tuple(hidden),
                    num_classes=num_classes)
        if isinstance(code_dim, bool) or not isinstance(code_dim, int) or code_dim < 0:
            raise InvalidValueError(f"EncoderClassifier: code_dim must be an integer >= 0 (0: no code layer), "
                                    f"got {code_dim!r}")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.hidden = tuple(int(h) for h in hidden)
        self.num_classes = int(num_classes)
        self.code_dim = int(code_dim)
        self.encoder = _trunk(math.prod(self.input_shape), self.hidden)
        self.to_code = nn.Linear(self.hidden[-1], self.code_dim) if self.code_dim else None
        self.head = nn.Linear(self.code_dim or self.hidden[-1], self.num_classes)

    def config(self) -> dict:
        return {"family": "encoder-classifier", "input_shape": list(self.input_shape), "hidden": list(self.hidden),
                "num_classes": self.num_classes, "code_dim": self.code_dim}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, C, H, W)`` in [0, 1] -> the trunk's output ``(B, hidden[-1])`` (or the code ``(B, code_dim)``)."""
        h = self.encoder(x.flatten(1))
        return h if self.to_code is None else self.to_code(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, C, H, W)`` in [0, 1] -> logits ``(B, num_classes)``."""
        return self.head(self.features(x))

    def trunk_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the head's (the encoder trunk, and the code layer when there is one)."""
        return [p for name, p in self.named_parameters() if not name.startswith("head.")]


def encoder_classifier(source: nn.Module, *, num_classes: int = 10, code: bool = False) -> EncoderClassifier:
    """An :class:`EncoderClassifier` whose trunk is a copy of ``source``'s encoder: an :class:`Autoencoder` or a
    :class:`~genprior.models.vae.VAE` (its ``encoder``; with ``code``, also its code layer: the autoencoder's
    ``to_code``, the VAE's posterior mean ``to_mu``). The head is freshly initialised (from torch's global RNG);
    ``source`` is left as it is. Anything without such an encoder raises ``InvalidValueError``."""
    encoder = getattr(source, "encoder", None)
    code_layer = getattr(source, "to_code", None) or getattr(source, "to_mu", None)
    shape = getattr(source, "output_shape", None)
    hidden = getattr(source, "hidden", None)
    if not (isinstance(encoder, nn.Sequential) and isinstance(code_layer, nn.Linear) and shape and hidden):
        raise InvalidValueError(f"encoder_classifier needs an Autoencoder or a VAE (a softplus encoder trunk and a "
                                f"linear code layer), got {type(source).__name__}")
    model = EncoderClassifier(input_shape=tuple(shape), hidden=tuple(hidden), num_classes=num_classes,
                              code_dim=code_layer.out_features if code else 0)
    try:
        model.encoder.load_state_dict(encoder.state_dict())
        if code:
            model.to_code.load_state_dict(code_layer.state_dict())
    except RuntimeError as e:
        raise ShapeError(f"encoder_classifier: the encoder of {type(source).__name__} does not fit a "
                         f"{'-'.join(map(str, (math.prod(shape), *hidden)))} trunk ({str(e).splitlines()[0]})") from None
    device = next(source.parameters()).device
    return model.to(device)
