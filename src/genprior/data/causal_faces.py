"""Faces drawn from a structural causal model whose truth genprior knows (for CausalGAN: Kocaoglu, Snyder, Dimakis &
Vishwanath, ICLR 2018).

A :class:`CausalGraph` is a DAG over k <= 10 binary attributes with, for each node X, the table
``P(X = 1 | parents(X))``. Because k is small every distribution is exact: :func:`joint` enumerates all 2^k label
vectors by the factorisation ``P(x) = prod_i P(x_i | pa_i)``; an intervention ``do(X = x)`` is the truncated
factorisation (Pearl 2009, eq. 3.10: X's factor replaced by the indicator ``[X = x]``); conditioning ``P(. | X = x)``
is the joint restricted to ``X = x`` and renormalised. :func:`sample_labels` draws ancestrally (parents first), and
:func:`render` draws a 32 x 32 (or any size >= 16) grayscale face in which each attribute is visible.

The graph's JSON format (``genprior train causal --graph GRAPH.json``)::

    {"nodes": {
        "Male":  {"parents": [], "p": 0.5},
        "Young": {"parents": [], "p": 0.6},
        "Bald":  {"parents": ["Male", "Young"], "p": {"00": 0.02, "01": 0.01, "10": 0.6, "11": 0.15}}
    }}

Node names are identifiers (letters, digits, ``_``; not starting with a digit). ``p`` of a node without parents is
``P(X = 1)``; with parents ``[A, B, ...]`` it maps each string of the parents' values, in the listed order (``"10"``:
A = 1, B = 0), to ``P(X = 1 | A, B, ...)``: all 2^len(parents) rows, each a probability in [0, 1]. A graph that only
gives a model's structure (``--fit-graph``) may leave out every ``p``. The nodes may be listed in any order; the graph
keeps a topological order (a stable sort: listed order among nodes whose parents are all placed). An unknown parent,
a cycle, a missing row, a probability outside [0, 1] or NaN, or a bad name raise a one-line ``InvalidValueError``.

Label vectors are float tensors ``(n, k)`` of 0.0 / 1.0 in the graph's node order; a distribution over them is a
float64 vector ``(2^k,)`` indexed by the vector read as a binary number, the first node the most significant bit.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import torch

from genprior.errors import InvalidValueError, unknown

MAX_NODES = 10  # exact distributions enumerate 2^k label vectors
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
ATTRIBUTES = ("Male", "Young", "Bald", "Mustache", "Makeup", "Eyeglasses", "Smiling")  # the ones render() draws
GRAPHS = ("true", "wrong", "complete")  # the built-in fit graphs (see fit_graph)


@dataclass(frozen=True)
class CausalGraph:
    """A DAG over binary attributes: ``nodes`` in topological order, ``parents[node]`` (a tuple of names) and, unless
    the graph is a bare structure, ``cpt[node]``: the float64 tensor ``(2^len(parents),)`` of ``P(node = 1 | parents)``
    indexed by the parents' values read as a binary number (the first parent the most significant bit)."""

    nodes: tuple[str, ...]
    parents: dict[str, tuple[str, ...]]
    cpt: dict[str, torch.Tensor] | None

    @classmethod
    def from_json(cls, spec, *, structure_only: bool = False) -> CausalGraph:
        """The graph of the JSON dict ``spec`` (module docstring), validated; ``structure_only``: every ``p`` may be
        left out (then the graph has no CPTs)."""
        nodes = spec.get("nodes") if isinstance(spec, dict) else None
        if not isinstance(nodes, dict) or not nodes:
            raise InvalidValueError('causal graph: expected a JSON object {"nodes": {NAME: {"parents": [...], '
                                    '"p": ...}, ...}} with at least one node')
        if len(nodes) > MAX_NODES:
            raise InvalidValueError(f"causal graph: at most {MAX_NODES} nodes (exact distributions enumerate 2^k "
                                    f"label vectors), got {len(nodes)}")
        parents: dict[str, tuple[str, ...]] = {}
        for name, node in nodes.items():
            if not _NAME.match(str(name)):
                raise InvalidValueError(f"causal graph: node name {name!r} is not an identifier (letters, digits, _)")
            if not isinstance(node, dict) or not isinstance(node.get("parents", []), list):
                raise InvalidValueError(f"causal graph: node {name} must be an object with a list 'parents'")
            pa = tuple(node.get("parents", []))
            for q in pa:
                if q not in nodes:
                    raise InvalidValueError(f"causal graph: node {name} has unknown parent {q!r}; nodes: "
                                            f"{', '.join(nodes)}")
            if len(set(pa)) != len(pa) or name in pa:
                raise InvalidValueError(f"causal graph: node {name} lists a parent twice or itself")
            parents[name] = pa
        order = _topological(parents)
        given = [name for name, node in nodes.items() if "p" in node]
        if structure_only and not given:
            return cls(order, {n: parents[n] for n in order}, None)
        cpt = {name: _table(name, parents[name], nodes[name].get("p")) for name in order}
        return cls(order, {n: parents[n] for n in order}, cpt)

    def to_json(self) -> dict:
        """The JSON dict of this graph (``from_json`` reads it back)."""
        out = {}
        for n in self.nodes:
            node: dict = {"parents": list(self.parents[n])}
            if self.cpt is not None:
                t = self.cpt[n].tolist()
                node["p"] = t[0] if not self.parents[n] else {
                    "".join(map(str, bits)): v for bits, v in zip(itertools.product((0, 1), repeat=len(self.parents[n])), t)}
            out[n] = node
        return {"nodes": out}

    def index(self, name: str) -> int:
        """The column of attribute ``name``; an unknown name raises ``UnknownNameError``."""
        if name not in self.nodes:
            raise unknown("attribute", name, self.nodes)
        return self.nodes.index(name)

    def descendants(self, name: str) -> set[str]:
        """The nodes reachable from ``name`` along the edges (not ``name`` itself)."""
        out: set[str] = set()
        for n in self.nodes:  # topological order: a node's parents come first
            if any(q == name or q in out for q in self.parents[n]):
                out.add(n)
        return out


def _topological(parents: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    order: list[str] = []
    left = list(parents)
    while left:
        ready = [n for n in left if all(q in order for q in parents[n])]
        if not ready:
            raise InvalidValueError(f"causal graph: it has a cycle through {', '.join(left)} (a DAG is needed)")
        order.append(ready[0])
        left.remove(ready[0])
    return tuple(order)


def _probability(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InvalidValueError(f"causal graph: P({name}) must be a probability in [0, 1], got {value!r}")
    return float(value)


def _table(name: str, pa: tuple[str, ...], p) -> torch.Tensor:
    if not pa:
        if isinstance(p, dict):
            raise InvalidValueError(f"causal graph: node {name} has no parents: its p is one number P({name} = 1)")
        return torch.tensor([_probability(f"{name} = 1", p)], dtype=torch.float64)
    rows = ["".join(bits) for bits in itertools.product("01", repeat=len(pa))]
    if not isinstance(p, dict) or set(p) != set(rows):
        got = sorted(p) if isinstance(p, dict) else p
        raise InvalidValueError(f"causal graph: node {name}'s p must map each of {', '.join(rows)} (values of "
                                f"{', '.join(pa)}) to P({name} = 1 | ...), got {got!r}")
    return torch.tensor([_probability(f"{name} = 1 | {','.join(pa)} = {r}", p[r]) for r in rows], dtype=torch.float64)


def check_intervention(graph: CausalGraph, intervention: dict | None) -> dict[str, int]:
    """``intervention`` (attribute -> 0 or 1) checked against ``graph``: an unknown attribute raises
    ``UnknownNameError``, a value other than 0 / 1 ``InvalidValueError``."""
    out = {}
    for name, v in (intervention or {}).items():
        graph.index(name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v not in (0, 1):
            raise InvalidValueError(f"intervention value of {name} must be 0 or 1, got {v!r}")
        out[name] = int(v)
    return out


def _needs_cpt(graph: CausalGraph) -> dict[str, torch.Tensor]:
    if graph.cpt is None:
        raise InvalidValueError("causal graph: this graph gives only a structure (no 'p' tables): it has no "
                                "distribution")
    return graph.cpt


def all_labels(k: int) -> torch.Tensor:
    """Every label vector over k attributes ``(2^k, k)`` float64, row i = i in binary (first column most
    significant)."""
    i = torch.arange(2 ** k)
    return ((i[:, None] >> torch.arange(k - 1, -1, -1)) & 1).double()


def codes(labels: torch.Tensor) -> torch.Tensor:
    """The index ``(n,)`` (int64) of each label vector ``(n, k)`` in :func:`all_labels` order."""
    k = labels.shape[1]
    return (labels.round().long() * (2 ** torch.arange(k - 1, -1, -1))).sum(1)


def histogram(labels: torch.Tensor) -> torch.Tensor:
    """The empirical distribution ``(2^k,)`` float64 of label vectors ``(n, k)``."""
    counts = torch.bincount(codes(labels), minlength=2 ** labels.shape[1]).double()
    return counts / counts.sum().clamp_min(1)


def joint(graph: CausalGraph, intervention: dict | None = None) -> torch.Tensor:
    """The exact distribution ``(2^k,)`` float64 of the label vector, observational or, with ``intervention``
    (attribute -> 0/1), interventional by the truncated factorisation ``P(x | do(X = v)) = [x_X = v] prod_{i != X}
    P(x_i | pa_i)``."""
    cpt = _needs_cpt(graph)
    do = check_intervention(graph, intervention)
    x = all_labels(len(graph.nodes))
    p = torch.ones(len(x), dtype=torch.float64)
    for i, n in enumerate(graph.nodes):
        if n in do:
            p = p * (x[:, i] == do[n])
            continue
        pa = [graph.nodes.index(q) for q in graph.parents[n]]
        row = codes(x[:, pa]) if pa else torch.zeros(len(x), dtype=torch.long)
        p1 = cpt[n][row]
        p = p * torch.where(x[:, i] == 1, p1, 1 - p1)
    return p


def marginals(graph: CausalGraph, p: torch.Tensor) -> dict[str, float]:
    """``P(X = 1)`` of every attribute under the distribution ``p`` ``(2^k,)``."""
    x = all_labels(len(graph.nodes))
    return {n: float((p * x[:, i]).sum()) for i, n in enumerate(graph.nodes)}


def conditional(graph: CausalGraph, given: dict, p: torch.Tensor | None = None) -> torch.Tensor:
    """``P(. | given)`` ``(2^k,)``: ``p`` (default: the graph's observational joint) restricted to the label vectors
    agreeing with ``given`` (attribute -> 0/1) and renormalised; an event of probability 0 raises
    ``InvalidValueError``."""
    do = check_intervention(graph, given)
    p = joint(graph) if p is None else p
    x = all_labels(len(graph.nodes))
    keep = torch.ones(len(x), dtype=torch.bool)
    for n, v in do.items():
        keep &= x[:, graph.index(n)] == v
    mass = float((p * keep).sum())
    if mass <= 0:
        raise InvalidValueError(f"cannot condition on {given}: it has probability 0")
    return p * keep / mass


def reorder(p: torch.Tensor, nodes: tuple[str, ...], to: tuple[str, ...]) -> torch.Tensor:
    """A distribution ``(2^k,)`` over label vectors in the node order ``nodes`` rewritten in the order ``to`` (the
    same names)."""
    if sorted(nodes) != sorted(to):
        raise InvalidValueError(f"cannot compare distributions over {sorted(nodes)} and {sorted(to)}")
    x = all_labels(len(to))  # vectors in the order ``to``; their index in the order ``nodes``
    return p[codes(x[:, [to.index(n) for n in nodes]])]


def tvd(p: torch.Tensor, q: torch.Tensor) -> float:
    """Total variation distance ``(1/2) sum |p - q|`` of two distributions of the same shape."""
    return 0.5 * float((p.double() - q.double()).abs().sum())


def sample_labels(graph: CausalGraph, n: int, *, seed: int, intervention: dict | None = None) -> torch.Tensor:
    """``n`` label vectors ``(n, k)`` float32 0/1 drawn ancestrally from ``graph`` (with ``intervention``: those
    nodes set, their descendants drawn from the set values); one uniform per node and sample from ``seed``."""
    from genprior.errors import check_seed

    cpt = _needs_cpt(graph)
    do = check_intervention(graph, intervention)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InvalidValueError(f"number of label vectors must be an integer >= 0, got {n!r}")
    u = torch.rand(n, len(graph.nodes), generator=torch.Generator().manual_seed(check_seed("seed", seed)),
                   dtype=torch.float64)
    x = torch.zeros(n, len(graph.nodes), dtype=torch.float64)
    for i, name in enumerate(graph.nodes):
        if name in do:
            x[:, i] = do[name]
            continue
        pa = [graph.nodes.index(q) for q in graph.parents[name]]
        row = codes(x[:, pa]) if pa else torch.zeros(n, dtype=torch.long)
        x[:, i] = (u[:, i] < cpt[name][row]).double()
    return x.float()


# ---------------------------------------------------------------------------------------------- the graphs

def default_graph() -> CausalGraph:
    """The true SCM of ``causal-faces``: Male -> Bald <- Young, Male -> Mustache, Male -> Makeup <- Young;
    Eyeglasses and Smiling independent."""
    return CausalGraph.from_json({"nodes": {
        "Male": {"parents": [], "p": 0.5},
        "Young": {"parents": [], "p": 0.6},
        "Bald": {"parents": ["Male", "Young"], "p": {"00": 0.02, "01": 0.01, "10": 0.6, "11": 0.15}},
        "Mustache": {"parents": ["Male"], "p": {"0": 0.01, "1": 0.4}},
        "Makeup": {"parents": ["Male", "Young"], "p": {"00": 0.5, "01": 0.8, "10": 0.02, "11": 0.05}},
        "Eyeglasses": {"parents": [], "p": 0.3},
        "Smiling": {"parents": [], "p": 0.5},
    }})


def fitted(structure: CausalGraph, truth: CausalGraph) -> CausalGraph:
    """``structure`` (same nodes as ``truth``) with the CPTs ``P(X = 1 | parents)`` of ``truth``'s joint: the member
    of the structure's family closest to the truth (the I-projection's CPTs; exact when the structure can represent
    the truth)."""
    if set(structure.nodes) != set(truth.nodes):
        raise InvalidValueError(f"the fit graph's nodes {sorted(structure.nodes)} differ from the data's "
                                f"{sorted(truth.nodes)}")
    p, x = joint(truth), all_labels(len(truth.nodes))
    cpt = {}
    for n in structure.nodes:
        i, pa = truth.index(n), [truth.index(q) for q in structure.parents[n]]
        row = codes(x[:, pa]) if pa else torch.zeros(len(x), dtype=torch.long)
        m = 2 ** len(pa)
        num = torch.zeros(m, dtype=torch.float64).index_add_(0, row, p * x[:, i])
        den = torch.zeros(m, dtype=torch.float64).index_add_(0, row, p)
        cpt[n] = torch.where(den > 0, num / den.clamp_min(1e-300), torch.full_like(den, 0.5))
    return CausalGraph(structure.nodes, dict(structure.parents), cpt)


def reversed_edge(graph: CausalGraph, parent: str, child: str) -> CausalGraph:
    """``graph``'s structure with the edge ``parent -> child`` turned into ``child -> parent`` (no CPTs)."""
    if parent not in graph.parents.get(child, ()):
        raise InvalidValueError(f"causal graph: there is no edge {parent} -> {child} to reverse")
    spec = {n: {"parents": [q for q in graph.parents[n] if not (n == child and q == parent)]} for n in graph.nodes}
    spec[parent]["parents"].append(child)
    return CausalGraph.from_json({"nodes": spec}, structure_only=True)


def complete_graph(graph: CausalGraph) -> CausalGraph:
    """The fully connected DAG on ``graph``'s topological order: every earlier node a parent (no CPTs)."""
    return CausalGraph.from_json({"nodes": {n: {"parents": list(graph.nodes[:i])} for i, n in enumerate(graph.nodes)}},
                                 structure_only=True)


def fit_graph(name: str, truth: CausalGraph) -> CausalGraph:
    """A built-in structure to fit ``truth`` with: ``true`` (its own), ``wrong`` (Male -> Bald reversed into
    Bald -> Male, when truth has that edge; else its first edge reversed) or ``complete``."""
    if name == "true":
        return CausalGraph(truth.nodes, dict(truth.parents), None)
    if name == "complete":
        return complete_graph(truth)
    if name == "wrong":
        if "Male" in truth.parents.get("Bald", ()):
            return reversed_edge(truth, "Male", "Bald")
        edges = [(q, n) for n in truth.nodes for q in truth.parents[n]]
        if not edges:
            raise InvalidValueError("causal graph: it has no edge to reverse for the wrong graph")
        return reversed_edge(truth, *edges[0])
    raise unknown("fit graph", name, GRAPHS)


# ---------------------------------------------------------------------------------------------- the renderer

def render(labels: torch.Tensor, *, names: tuple[str, ...] = ATTRIBUTES, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Faces ``(n, 1, size, size)`` float32 in [0, 1] for label vectors ``labels`` ``(n, len(names))`` (0/1).

    Each attribute of :data:`ATTRIBUTES` changes the picture (columns named otherwise are not drawn, missing ones
    are 0): Male a wider, squarer face and short hair (else long hair down the sides), Bald no hair, Young a plain
    forehead (else two wrinkle lines), Mustache a bar above the mouth, Makeup bright lips and dark eye shadow,
    Eyeglasses two rings and a bridge, Smiling a mouth curved up (else straight). Noise from ``seed``: the face's
    position, size, brightness and line thickness jitter per image, plus pixel noise of std 0.03. The same labels and
    seed give the same pixels."""
    from genprior.errors import check_seed

    if labels.dim() != 2 or labels.shape[1] != len(names):
        raise InvalidValueError(f"render: labels must be (n, {len(names)}) for attributes {list(names)}, got "
                                f"{tuple(labels.shape)}")
    if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 256:
        raise InvalidValueError(f"render: size must be an integer in 16 .. 256, got {size!r}")
    g = torch.Generator().manual_seed(check_seed("seed", seed))
    n = labels.shape[0]
    a = {name: (labels[:, names.index(name)] > 0.5).float()[:, None, None] if name in names else torch.zeros(n, 1, 1)
         for name in ATTRIBUTES}
    jitter = torch.rand(n, 6, generator=g)[:, :, None, None]
    noise = 0.03 * torch.randn(n, size, size, generator=g)
    c = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    yy, xx = c[:, None].expand(size, size), c[None, :].expand(size, size)
    cx, cy = 0.12 * (jitter[:, 0] - 0.5), 0.08 + 0.12 * (jitter[:, 1] - 0.5)
    scale = 0.93 + 0.12 * jitter[:, 2]
    bright = 0.5 + 0.15 * jitter[:, 3]
    thick = (1.0 + 0.6 * jitter[:, 4]) * 2.0 / size  # line half-width, about a pixel
    rx, ry = scale * (0.5 + 0.08 * a["Male"]), scale * 0.62
    u, v = (xx - cx) / rx, (yy - cy) / ry
    power = 2.0 + 2.0 * a["Male"]  # a squarer jaw for Male (a superellipse)
    r = (u.abs() ** power + v.abs() ** power) ** (1 / power)
    img = 0.08 + torch.zeros(n, size, size)
    # hair: long (Female) reaches down the sides, short (Male) only caps the head; none if Bald
    hair_r = ((xx - cx) / (rx * 1.18)) ** 2 + ((yy - cy + 0.06) / (ry * 1.15)) ** 2
    long_hair = (hair_r < 1) & ((v < -0.35) | (u.abs() > 0.75)) & (v < 0.7)
    short_hair = (hair_r < 1) & (v < -0.45)
    hair = torch.where(a["Male"] > 0, short_hair.float(), long_hair.float()) * (1 - a["Bald"])
    img = torch.where(hair > 0, torch.full_like(img, 0.95), img)
    face = (r < 1).float()
    img = torch.where(face > 0, bright.expand_as(img), img)
    img = torch.where((r - 1).abs() < thick / ry, torch.full_like(img, 0.9), img)  # outline
    img = torch.where(hair * (v < -0.35).float() * face > 0, torch.full_like(img, 0.95), img)  # fringe over the face

    def line(mask: torch.Tensor, value: float) -> None:
        nonlocal img
        img = torch.where(mask > 0, torch.full_like(img, value), img)

    ex, ey = 0.38, -0.12  # eye positions in face units
    for side in (-1.0, 1.0):
        d2 = ((u - side * ex) * rx) ** 2 + ((v - ey) * ry) ** 2
        line(a["Makeup"] * (((u - side * ex) * rx) ** 2 / 0.03 + ((v - ey + 0.13) * ry) ** 2 / 0.006 < 1).float(), 0.1)
        line(((d2 < (1.6 * thick) ** 2)).float(), 0.02)  # the eye
        ring = ((d2.sqrt() - 0.14 * scale).abs() < thick * 0.8).float()
        line(a["Eyeglasses"] * ring, 1.0)
    line(a["Eyeglasses"] * ((u.abs() < 0.26) & ((v - ey) * ry).abs().lt(thick * 0.8)).float(), 1.0)  # the bridge
    for wy in (-0.55, -0.42):  # wrinkles unless Young
        line((1 - a["Young"]) * ((u.abs() < 0.45) & (((v - wy) * ry).abs() < thick * 0.6)).float(), 0.25)
    mouth_y = 0.52 - 0.3 * a["Smiling"] * (u / 0.35) ** 2
    mouth = ((u.abs() < 0.35) & (((v - mouth_y) * ry).abs() < thick * (1 + a["Makeup"]))).float()
    line(mouth, 0.0)
    line(a["Makeup"] * mouth, 1.0)
    line(a["Mustache"] * ((u.abs() < 0.4) & ((v - 0.3) * ry).abs().lt(thick * 1.6)).float(), 0.0)
    img = (img + noise).clamp(0, 1)
    return img[:, None].contiguous()


def causal_faces(n: int, *, graph: CausalGraph | None = None, size: int = 32, seed: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` faces ``(n, 1, size, size)`` in [0, 1] and their labels ``(n, k)`` (``graph``, default
    :func:`default_graph`), labels drawn from ``seed`` and the pictures' noise from ``seed + 1``."""
    from genprior.errors import sub_seed

    graph = default_graph() if graph is None else graph
    labels = sample_labels(graph, n, seed=seed)
    return render(labels, names=graph.nodes, size=size, seed=sub_seed(seed, 1)), labels


__all__ = ["ATTRIBUTES", "GRAPHS", "MAX_NODES", "CausalGraph", "all_labels", "causal_faces", "check_intervention",
           "complete_graph", "conditional", "default_graph", "fit_graph", "fitted", "histogram", "joint", "marginals",
           "render", "reorder", "reversed_edge", "sample_labels", "tvd"]
