"""CausalGAN's causal controller (Kocaoglu, Snyder, Dimakis & Vishwanath, ICLR 2018, Sec. 4): a causal implicit
generative model of binary labels wired by a DAG.

Node X_i is ``X_i = sigmoid(f_i(parents_i, z_i))``: a small MLP ``f_i`` of its parents' relaxed values (in (0, 1))
and its own noise ``z_i ~ N(0, I_d)``, evaluated in topological order. An intervention ``do(X = v)`` replaces X's
output by the constant v, so that its descendants are drawn from the set value and nothing upstream changes. The
relaxed values ``(n, k)`` in (0, 1) are what an adversarial critic sees during training (WGAN-GP:
:mod:`genprior.train.causal`); labels are read by thresholding at 0.5 (:meth:`CausalController.sample`).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from genprior.errors import InvalidValueError, check_sizes, unknown


class CausalController(nn.Module):
    """``z (n, k * noise_dim) -> relaxed labels (n, k)`` in (0, 1), columns in the order ``nodes`` (topological:
    each node's parents come before it). ``parents``: node -> list of parent names; ``hidden``: each node's MLP
    widths (ReLU); ``noise_dim``: each node's own noise size."""

    def __init__(self, *, nodes, parents: dict, hidden=(32, 32), noise_dim: int = 4):
        super().__init__()
        self.nodes = tuple(str(n) for n in nodes)
        self.parents = {n: tuple(parents.get(n, ())) for n in self.nodes}
        self.hidden = tuple(int(h) for h in hidden)
        self.noise_dim = int(noise_dim)
        check_sizes("causal controller", hidden=self.hidden, noise_dim=self.noise_dim, nodes=len(self.nodes))
        if set(parents) - set(self.nodes):
            raise InvalidValueError(f"causal controller: parents given for unknown nodes {sorted(set(parents) - set(self.nodes))}")
        for i, n in enumerate(self.nodes):
            if any(q not in self.nodes[:i] for q in self.parents[n]):
                raise InvalidValueError(f"causal controller: node {n}'s parents {list(self.parents[n])} must come "
                                        "before it in nodes (a topological order)")
        self.latent_dim = len(self.nodes) * self.noise_dim
        self.nets = nn.ModuleDict()
        for n in self.nodes:
            sizes = (len(self.parents[n]) + self.noise_dim, *self.hidden)
            layers: list[nn.Module] = []
            for a, b in itertools.pairwise(sizes):
                layers += [nn.Linear(a, b), nn.ReLU()]
            self.nets[n] = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))

    @classmethod
    def from_graph(cls, graph, **options) -> CausalController:
        """A controller wired by ``graph`` (a :class:`genprior.data.causal_faces.CausalGraph`; its CPTs unused)."""
        return cls(nodes=graph.nodes, parents={n: list(graph.parents[n]) for n in graph.nodes}, **options)

    def config(self) -> dict:
        return {"family": "causal-controller", "nodes": list(self.nodes),
                "parents": {n: list(self.parents[n]) for n in self.nodes}, "hidden": list(self.hidden),
                "noise_dim": self.noise_dim}

    def check_intervention(self, intervention: dict | None) -> dict[str, float]:
        """``intervention`` (node -> 0 or 1) checked: a node not in the graph raises ``UnknownNameError``, another
        value ``InvalidValueError``."""
        out = {}
        for name, v in (intervention or {}).items():
            if name not in self.nodes:
                raise unknown("node to intervene on", name, self.nodes)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v not in (0, 1):
                raise InvalidValueError(f"intervention value of {name} must be 0 or 1, got {v!r}")
            out[name] = float(v)
        return out

    def forward(self, z: torch.Tensor, intervention: dict | None = None) -> torch.Tensor:
        """Relaxed labels ``(n, k)`` in (0, 1) (intervened nodes exactly their value) from noise ``z``
        ``(n, k * noise_dim)``; node i reads ``z[:, i * noise_dim:(i + 1) * noise_dim]``."""
        do = self.check_intervention(intervention)
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise InvalidValueError(f"causal controller: z must be (n, {self.latent_dim}), got {tuple(z.shape)}")
        values: dict[str, torch.Tensor] = {}
        for i, n in enumerate(self.nodes):
            if n in do:
                values[n] = torch.full((len(z), 1), do[n], dtype=z.dtype, device=z.device)
                continue
            inputs = [values[q] for q in self.parents[n]] + [z[:, i * self.noise_dim:(i + 1) * self.noise_dim]]
            values[n] = torch.sigmoid(self.nets[n](torch.cat(inputs, 1)))
        return torch.cat([values[n] for n in self.nodes], 1)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, intervention: dict | None = None,
               batch_size: int = 50_000) -> torch.Tensor:
        """``n`` label vectors ``(n, k)`` float32 0/1 (relaxed values thresholded at 0.5), on the CPU, noise drawn
        on the CPU from ``generator``; with ``intervention`` from the intervened model ``do(...)``."""
        do = self.check_intervention(intervention)
        device = next(self.parameters()).device
        out = [(self(torch.randn(min(batch_size, n - i), self.latent_dim, generator=generator).to(device), do) > 0.5)
               .float().cpu() for i in range(0, n, batch_size)]
        return torch.cat(out) if out else torch.zeros(0, len(self.nodes))

    def intervene(self, intervention: dict) -> Intervened:
        """The intervened model ``do(intervention)`` (checked now): its ``sample(n, generator=...)`` sets those nodes
        to their constants and samples their descendants; the other nodes are unchanged."""
        return Intervened(self, self.check_intervention(intervention))


class Intervened:
    """A controller under ``do(intervention)`` (made by :meth:`CausalController.intervene`)."""

    def __init__(self, controller: CausalController, intervention: dict[str, float]):
        self.controller, self.intervention = controller, dict(intervention)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` label vectors ``(n, k)`` 0/1 of the intervened model."""
        return self.controller.sample(n, generator=generator, intervention=self.intervention)


class LabelCritic(nn.Module):
    """WGAN-GP critic on label vectors: ``x (B, k) -> score (B,)`` (unbounded), an MLP with ReLU."""

    def __init__(self, *, input_dim: int, hidden=(64, 64)):
        super().__init__()
        self.input_dim, self.hidden = int(input_dim), tuple(int(h) for h in hidden)
        check_sizes("label critic", input_dim=self.input_dim, hidden=self.hidden)
        sizes = (self.input_dim, *self.hidden)
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))

    def config(self) -> dict:
        return {"family": "label-critic", "input_dim": self.input_dim, "hidden": list(self.hidden)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)
