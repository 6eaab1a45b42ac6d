"""``genprior sample``: images from a CausalGAN (Kocaoglu et al., ICLR 2018), observational, conditioned
(``--condition Bald=1``: rejection sampling on the controller's labels) or intervened (``--intervene Bald=1``: the
controller's ``do``), as a PNG grid and a JSON of the label marginals beside the SCM's exact ones."""

from __future__ import annotations

from genprior.errors import InvalidValueError

MAX_IMAGES = 10_000  # images in one grid


def add_parsers(sub) -> None:
    """Add ``sample`` to ``sub``."""
    from genprior.cli import MAX_COUNT, add_device_arg, integer_arg, seed_arg

    p = sub.add_parser("sample", help="images from a CausalGAN: observational, conditioned or intervened "
                                      "(PNG grid + JSON of label marginals)")
    p.add_argument("--model", default="causal-faces-gan",
                   help="a CausalGAN: zoo name, genprior train causal-image folder or NAME.safetensors/.json pair")
    p.add_argument("--condition", nargs="+", default=[], metavar="ATTRIBUTE=0|1",
                   help="keep only samples with these labels (conditioning: P(. | Bald = 1))")
    p.add_argument("--intervene", nargs="+", default=[], metavar="ATTRIBUTE=0|1",
                   help="set these labels in the causal controller (intervention: P(. | do(Bald = 1)))")
    p.add_argument("--graph", default="model",
                   help="the SCM whose exact marginals the JSON shows beside the model's: model (the graph the "
                        "model was trained on, else causal-faces), default (causal-faces) or GRAPH.json (default: model)")
    p.add_argument("--labeller", default=None,
                   help="also read the images' labels with this attribute classifier (e.g. causal-faces-labeller)")
    p.add_argument("--n", type=integer_arg(1, MAX_IMAGES), default=64, help="images in the grid")
    p.add_argument("--nrow", type=integer_arg(1, MAX_IMAGES), default=8, help="images per row of the grid")
    p.add_argument("--label-samples", type=integer_arg(1, MAX_COUNT), default=100_000,
                   help="controller label vectors the JSON's model marginals are measured on")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed of every random draw")
    p.add_argument("--out", default="samples.png", help="PNG grid (a bare name gets .png); the JSON goes beside it")
    add_device_arg(p)
    p.set_defaults(func=cmd_sample)


def parse_labels(items: list[str], *, option: str) -> dict[str, int]:
    """``["Bald=1", "Male=0"]`` -> ``{"Bald": 1, "Male": 0}``; a malformed item, a value other than 0 / 1 or an
    attribute given twice raises ``InvalidValueError``."""
    out: dict[str, int] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise InvalidValueError(f"{option}: expected ATTRIBUTE=0 or ATTRIBUTE=1, got {item!r}")
        if value.strip() not in ("0", "1"):
            raise InvalidValueError(f"{option}: the value of {name.strip()} must be 0 or 1, got {value!r}")
        if name.strip() in out:
            raise InvalidValueError(f"{option}: {name.strip()} is given twice")
        out[name.strip()] = int(value)
    return out


def _truth_graph(spec: str, config: dict):
    import json
    from pathlib import Path

    from genprior.data.causal_faces import CausalGraph, default_graph

    if spec == "model":
        graph = (config.get("data") or {}).get("graph")
        return CausalGraph.from_json(graph) if graph else default_graph()
    if spec == "default":
        return default_graph()
    try:
        data = json.loads(Path(spec).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidValueError(f"--graph {spec}: cannot read it as JSON ({str(e).splitlines()[0]})") from None
    return CausalGraph.from_json(data)


def exact_marginals(graph, *, condition: dict, intervention: dict) -> dict[str, float] | None:
    """``P(X = 1)`` of every attribute of ``graph`` under ``do(intervention)`` then conditioned on ``condition``;
    ``None`` when the condition has probability 0 there."""
    from genprior.data.causal_faces import conditional, joint, marginals

    p = joint(graph, intervention or None)
    if condition:
        try:
            p = conditional(graph, condition, p)
        except InvalidValueError:
            return None
    return marginals(graph, p)


def cmd_sample(args) -> int:
    import torch

    from genprior import zoo
    from genprior.cli import png_path
    from genprior.devices import pick_device
    from genprior.io import check_outputs, write_json
    from genprior.plotting import save_tiled
    from genprior.progress import say

    condition = parse_labels(args.condition, option="--condition")
    intervention = parse_labels(args.intervene, option="--intervene")
    out = png_path(args.out, note=" (the JSON is written beside it)")
    check_outputs({"--out": out, "--out (its JSON)": out.with_suffix(".json")})
    model, config = zoo.resolve(args.model, family="causal-gan")
    model.check_labels(condition, what="condition on")
    model.check_labels(intervention, what="intervene on")
    truth = _truth_graph(args.graph, config)
    if sorted(truth.nodes) != sorted(model.nodes):
        missing = sorted(set(model.nodes) - set(truth.nodes)) or sorted(set(truth.nodes) - set(model.nodes))
        raise InvalidValueError(f"--graph: its nodes {sorted(truth.nodes)} differ from the model's "
                                f"{sorted(model.nodes)} ({', '.join(missing)})")
    labeller = None
    if args.labeller is not None:
        labeller, _ = zoo.resolve(args.labeller, family="attribute-classifier")
        if sorted(labeller.nodes) != sorted(model.nodes):
            raise InvalidValueError(f"--labeller reads {list(labeller.nodes)}, the model makes {list(model.nodes)}")
    device = pick_device(args.device)
    model = model.to(device)
    gen = torch.Generator().manual_seed(args.seed)
    pool = model.labels(args.label_samples, generator=gen, condition=condition, intervention=intervention)
    images, labels = model.sample(args.n, generator=gen, condition=condition, intervention=intervention)
    report = {"model": args.model, "condition": condition, "intervention": intervention, "images": args.n,
              "label_samples": args.label_samples, "seed": args.seed,
              "model_marginals": {n: float(pool[:, i].mean()) for i, n in enumerate(model.nodes)},
              "truth_marginals": exact_marginals(truth, condition=condition, intervention=intervention),
              "labels": {n: [int(v) for v in labels[:, i]] for i, n in enumerate(model.nodes)}}
    if labeller is not None:
        read = labeller.to(device).predict_labels(images)
        report["labeller"] = args.labeller
        report["read_marginals"] = {n: float(read[:, labeller.nodes.index(n)].mean()) for n in model.nodes}
        report["label_fidelity"] = {n: float((read[:, labeller.nodes.index(n)] == labels[:, i]).float().mean())
                                    for i, n in enumerate(model.nodes)}
    save_tiled(out, images, nrow=args.nrow)
    write_json(out.with_suffix(".json"), report)
    what = ", ".join([f"{k} = {v}" for k, v in condition.items()] + [f"do({k} = {v})" for k, v in intervention.items()])
    say(f"{args.n} samples of {args.model} ({what or 'observational'}) -> {out} and {out.with_suffix('.json')}")
    return 0
