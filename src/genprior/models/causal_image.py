"""CausalGAN's image stage (Kocaoglu, Snyder, Dimakis & Vishwanath, ICLR 2018, Sec. 4-5): a label-conditional
generator ``G(z, l)`` driven by a causal controller, and the attribute classifier that reads labels back from images.

* :class:`CausalImageGenerator` ``(z (B, latent_dim), labels (B, k) in [0, 1]) -> x (B, C, H, W)`` in [0, 1]: a DCGAN
  generator on ``[z, labels]`` (the paper feeds the controller's labels beside the noise).
* :class:`AttributeClassifier` ``x (B, C, H, W)`` in [0, 1] ``-> logits (B, k)``, one logit per attribute (multi-label:
  ``P(attribute = 1 | x) = sigmoid(logit)``): the LeNet-style :class:`~genprior.models.classifier.Classifier` with
  ``k`` outputs. It serves as the paper's Labeller and Anti-Labeller during training and, trained on its own on
  rendered faces, as the evaluation labeller (zoo ``causal-faces-labeller``).
* :class:`CausalGAN` the trained pair ``controller -> labels -> G(z, labels)``: labels drawn observationally, under
  ``do(...)`` (the controller's intervention) or conditioned (rejection sampling on the controller's samples), then
  rendered by ``G``. Its config nests both parts (family ``causal-gan``, rebuilt by the model registry).
"""

from __future__ import annotations

import torch
from torch import nn

from genprior.errors import InvalidValueError, ShapeError, check_sizes, unknown
from genprior.models.causal import CausalController
from genprior.models.classifier import Classifier
from genprior.models.dcgan import DCGANGenerator

MAX_REJECTION_DRAWS = 1_000_000  # controller samples one conditional draw may use before giving up


class CausalImageGenerator(nn.Module):
    """``(z (B, latent_dim), labels (B, k)) -> x (B, C, H, W)`` in [0, 1]; the labels (0/1 or relaxed in [0, 1]) in
    the order ``nodes`` are concatenated to ``z`` and fed to a DCGAN generator (sigmoid output)."""

    def __init__(self, *, nodes, latent_dim: int = 32, output_shape=(1, 32, 32), base_channels: int = 32):
        super().__init__()
        self.nodes = tuple(str(n) for n in nodes)
        self.latent_dim = int(latent_dim)
        check_sizes("causal image generator", latent_dim=self.latent_dim, nodes=len(self.nodes))
        self.net = DCGANGenerator(latent_dim=self.latent_dim + len(self.nodes), output_shape=output_shape,
                                  base_channels=base_channels)
        self.output_shape = self.net.output_shape

    def config(self) -> dict:
        return {"family": "causal-image-generator", "nodes": list(self.nodes), "latent_dim": self.latent_dim,
                "output_shape": list(self.output_shape), "base_channels": self.net.base_channels}

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ShapeError(f"causal image generator: z must be (B, {self.latent_dim}), got {tuple(z.shape)}")
        if labels.dim() != 2 or labels.shape != (z.shape[0], len(self.nodes)):
            raise ShapeError(f"causal image generator: labels must be ({z.shape[0]}, {len(self.nodes)}) over "
                             f"{list(self.nodes)}, got {tuple(labels.shape)}")
        return self.net(torch.cat([z, labels.to(z.dtype)], 1))


class AttributeClassifier(Classifier):
    """``x (B, C, H, W)`` in [0, 1] ``-> logits (B, k)``: one logit per attribute of ``nodes`` (multi-label; trained
    with the binary cross-entropy of each attribute). Two 5x5 conv + max-pool blocks and two linear layers."""

    def __init__(self, *, nodes, input_shape=(1, 32, 32), channels=(16, 32), hidden: int = 64, dropout: float = 0.0):
        self_nodes = tuple(str(n) for n in nodes)
        if not self_nodes:
            raise InvalidValueError("attribute classifier: needs at least one attribute")
        super().__init__(input_shape=input_shape, channels=channels, hidden=hidden, num_classes=len(self_nodes),
                         dropout=dropout)
        self.nodes = self_nodes

    def config(self) -> dict:
        cfg = super().config()
        del cfg["num_classes"]
        return {**cfg, "family": "attribute-classifier", "nodes": list(self.nodes)}

    @torch.no_grad()
    def predict_labels(self, images: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        """Labels ``(N, k)`` float32 0/1 (logit > 0) of ``images`` ``(N, C, H, W)`` in [0, 1], in eval mode, on the
        CPU."""
        was = self.training
        self.eval()
        device = next(self.parameters()).device
        out = [(self(images[i:i + batch_size].to(device)) > 0).float().cpu() for i in range(0, len(images), batch_size)]
        self.train(was)
        return torch.cat(out) if out else torch.zeros(0, len(self.nodes))


def attribute_accuracy(predicted: torch.Tensor, labels: torch.Tensor, nodes) -> dict[str, float]:
    """Per attribute of ``nodes``, the fraction of rows where ``predicted`` ``(N, k)`` 0/1 equals ``labels``."""
    if predicted.shape != labels.shape or predicted.shape[1] != len(nodes):
        raise ShapeError(f"attribute accuracy: predictions {tuple(predicted.shape)} and labels {tuple(labels.shape)} "
                         f"must both be (N, {len(nodes)})")
    hit = (predicted.round() == labels.round()).float().mean(0)
    return {n: float(hit[i]) for i, n in enumerate(nodes)}


class CausalGAN(nn.Module):
    """A causal controller (labels) and a label-conditional image generator, sampled as one model.

    ``sample(n, generator=..., condition=..., intervention=...)`` returns images ``(n, C, H, W)`` in [0, 1] and their
    labels ``(n, k)`` 0/1 in ``nodes`` order: ``intervention`` (attribute -> 0/1) samples the intervened controller
    ``do(...)`` (descendants follow, ancestors keep their distribution); ``condition`` keeps only the controller's
    samples that agree with it (rejection sampling: ``P(. | condition)``); both: conditioning within the intervened
    model."""

    def __init__(self, controller: CausalController, generator: CausalImageGenerator):
        super().__init__()
        if tuple(controller.nodes) != tuple(generator.nodes):
            raise InvalidValueError(f"causal GAN: the controller's nodes {list(controller.nodes)} and the image "
                                    f"generator's {list(generator.nodes)} must be the same, in the same order")
        self.controller, self.generator = controller, generator
        self.nodes = controller.nodes
        self.latent_dim, self.output_shape = generator.latent_dim, generator.output_shape

    def config(self) -> dict:
        return {"family": "causal-gan", "controller": self.controller.config(), "generator": self.generator.config()}

    def check_labels(self, given: dict | None, *, what: str) -> dict[str, int]:
        """``given`` (attribute -> 0 or 1) checked: an unknown attribute raises ``UnknownNameError``, another value
        ``InvalidValueError``."""
        out = {}
        for name, v in (given or {}).items():
            if name not in self.nodes:
                raise unknown(f"attribute to {what}", name, self.nodes)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v not in (0, 1):
                raise InvalidValueError(f"{what} value of {name} must be 0 or 1, got {v!r}")
            out[name] = int(v)
        return out

    @torch.no_grad()
    def labels(self, n: int, *, generator: torch.Generator | None = None, condition: dict | None = None,
               intervention: dict | None = None, chunk: int = 50_000) -> torch.Tensor:
        """``n`` label vectors ``(n, k)`` 0/1 (class docstring); a condition whose acceptance is so rare that
        :data:`MAX_REJECTION_DRAWS` controller samples do not give ``n`` raises ``InvalidValueError``."""
        cond = self.check_labels(condition, what="condition on")
        do = self.check_labels(intervention, what="intervene on")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidValueError(f"number of samples must be an integer >= 0, got {n!r}")
        if not cond:
            return self.controller.sample(n, generator=generator, intervention=do)
        cols = torch.tensor([self.nodes.index(a) for a in cond])
        want = torch.tensor([float(v) for v in cond.values()])
        kept, got, drawn = [], 0, 0
        while got < n:
            if drawn >= MAX_REJECTION_DRAWS:
                raise InvalidValueError(f"cannot condition on {cond}: {got} of {drawn} controller samples agree with "
                                        f"it, too few for {n} (the model gives it probability ~{got / drawn:.2g})")
            pool = self.controller.sample(chunk, generator=generator, intervention=do)
            drawn += chunk
            ok = pool[(pool[:, cols] == want).all(1)]
            kept.append(ok)
            got += len(ok)
        return torch.cat(kept)[:n]

    @torch.no_grad()
    def images(self, labels: torch.Tensor, *, generator: torch.Generator | None = None,
               batch_size: int = 1000) -> torch.Tensor:
        """Images ``(n, C, H, W)`` in [0, 1] (on the CPU) of ``labels`` ``(n, k)``, noise ``z ~ N(0, I)`` drawn on the
        CPU from ``generator``; in eval mode."""
        self.eval()
        device = next(self.parameters()).device
        out = []
        for i in range(0, len(labels), batch_size):
            lab = labels[i:i + batch_size]
            z = torch.randn(len(lab), self.latent_dim, generator=generator)
            out.append(self.generator(z.to(device), lab.to(device)).cpu())
        return torch.cat(out) if out else torch.zeros(0, *self.output_shape)

    def sample(self, n: int, *, generator: torch.Generator | None = None, condition: dict | None = None,
               intervention: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(images (n, C, H, W) in [0, 1], labels (n, k) 0/1)`` (class docstring)."""
        labels = self.labels(n, generator=generator, condition=condition, intervention=intervention)
        return self.images(labels, generator=generator), labels
