"""CausalGAN's causal controller on causal-faces (Kocaoglu et al., ICLR 2018, Sec. 4 and Fig. 2 / Table 1).

For each fit graph (``true``: the SCM's DAG; ``wrong``: Male -> Bald reversed; ``complete``: every earlier node a
parent) and each seed, a causal controller is trained by WGAN-GP on 100,000 labels drawn from the SCM, and the total
variation distance between its label distribution (50,000 samples, thresholded at 0.5) and the SCM's exact joint is
recorded every ``--every`` iterations. The dashed lines are the best TVD each structure can reach (the SCM's own
CPTs projected on it: 0 for true and complete). Then, from the true-graph controller of the first seed, for several
(attribute, value) pairs: the marginals of the other attributes under conditioning (rejection on 200,000 controller
samples) and under intervention (the controller sampled with ``do``), beside the SCM's exact ones.

The image stage (``--gan``: a CausalGAN made by ``genprior train causal-image``, controller + G(z, labels) trained with
Labeller / Anti-Labeller): for the same (attribute, value) pairs, ``--images`` faces are generated conditioned
(rejection on the controller's labels) and intervened (``do``), and the marginals of the other attributes are READ FROM
THE IMAGES by the labeller (``--labeller``, zoo ``causal-faces-labeller``: an attribute classifier trained on rendered
faces with independent labels), beside the SCM's exact ones (rows under ``interventions``; the controller's own label
marginals under ``controller_interventions``). Label fidelity is the labeller's agreement with the labels G was asked
for, per attribute, over observational, conditioned and intervened images. The faces picture shows G's images,
conditioning beside intervention.

Runs go to ``runs/causal_faces/GRAPH-sSEED`` and resume there (a killed benchmark continues).
"""

from __future__ import annotations

import statistics

import torch
from common import RESULTS, parser, write_results

from genprior import zoo
from genprior.data.causal_faces import (
    conditional,
    default_graph,
    fit_graph,
    fitted,
    histogram,
    joint,
    marginals,
    reorder,
    sample_labels,
    tvd,
)
from genprior.errors import InvalidValueError
from genprior.models.causal import CausalController, LabelCritic
from genprior.models.causal_image import attribute_accuracy
from genprior.plotting import pyplot, save_figure, tile_images
from genprior.train.causal import train_causal

GRAPHS = ("true", "wrong", "complete")
INTERVENTIONS = (("Bald", 1), ("Mustache", 1), ("Makeup", 1), ("Male", 1))


def main() -> None:
    p = parser(__doc__, out=RESULTS / "causal_faces", seed=0)
    p.add_argument("--seeds", type=int, default=3, help="seeds per graph (default %(default)s)")
    p.add_argument("--steps", type=int, default=1000, help="controller iterations per run (default %(default)s)")
    p.add_argument("--every", type=int, default=50, help="TVD measured every N iterations (default %(default)s)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default %(default)s; paper 1e-4)")
    p.add_argument("--runs", default="runs/causal_faces", help="folder of the training runs (resumed)")
    p.add_argument("--gan", default="causal-faces-gan",
                   help="the CausalGAN (genprior train causal-image folder or zoo name) whose images are read")
    p.add_argument("--labeller", default="causal-faces-labeller", help="the attribute classifier reading the images")
    p.add_argument("--images", type=int, default=4000, help="generated faces per condition / intervention")
    args = p.parse_args()
    torch.set_num_threads(1)
    truth = default_graph()
    labels = sample_labels(truth, 100_000, seed=args.seed + 1000)
    curves: dict[str, list[list[dict]]] = {}
    controllers = {}
    best = {}
    for name in GRAPHS:
        structure = fit_graph(name, truth)
        f = fitted(structure, truth)
        best[name] = tvd(reorder(joint(f), f.nodes, truth.nodes), joint(truth))
        curves[name] = []
        for s in range(args.seed, args.seed + args.seeds):
            torch.manual_seed(s)
            controller = CausalController.from_graph(structure)
            critic = LabelCritic(input_dim=len(truth.nodes))
            info = train_causal(controller, critic, labels, truth, steps=args.steps, every=args.every, lr=args.lr,
                                seed=s, tvd_samples=50_000, out_dir=f"{args.runs}/{name}-s{s}", resume=True,
                                progress=False, data_info={"dataset": "causal-faces", "labels": len(labels),
                                                           "fit_graph": structure.to_json()},
                                command="python benchmarks/causal_faces.py")
            # a run resumed from a longer one keeps its later history: the curve stops at --steps
            curves[name].append([{"step": h["step"], "tvd": h["tvd"]} for h in info["history"]
                                 if h["step"] <= args.steps])
            controllers.setdefault(name, controller)
            print(f"{name} seed {s}: TVD {curves[name][-1][-1]['tvd']:.4f}", flush=True)
    tvds = {name: [c[-1]["tvd"] for c in runs] for name, runs in curves.items()}

    model = controllers["true"]
    gen = torch.Generator().manual_seed(args.seed + 7)
    observed = histogram(model.sample(200_000, generator=gen))
    rows = []
    for attribute, value in INTERVENTIONS:
        others = [n for n in truth.nodes if n != attribute]
        for kind in ("conditional", "interventional"):
            if kind == "conditional":
                true_p = conditional(truth, {attribute: value})
                try:
                    model_p = conditional(truth, {attribute: value}, reorder(observed, model.nodes, truth.nodes))
                except InvalidValueError:  # the controller never samples the event: no rejection samples
                    model_p = torch.full_like(true_p, float("nan"))
            else:
                true_p = joint(truth, {attribute: value})
                model_p = reorder(histogram(model.intervene({attribute: value}).sample(200_000, generator=gen)),
                                  model.nodes, truth.nodes)
            mt, mm = marginals(truth, true_p), marginals(truth, model_p)
            rows.append({"attribute": attribute, "value": value, "kind": kind,
                         "model": {n: round(mm[n], 4) for n in others}, "truth": {n: round(mt[n], 4) for n in others},
                         "max_abs_error": round(max(abs(mm[n] - mt[n]) for n in others), 4)})
    gan, gan_cfg = zoo.resolve(args.gan, family="causal-gan")
    labeller, labeller_cfg = zoo.resolve(args.labeller, family="attribute-classifier")
    image_rows, fidelity = read_from_images(gan, labeller, truth, n=args.images, seed=args.seed + 13)
    data = {"graphs": {n: fit_graph(n, truth).to_json() for n in GRAPHS}, "truth": truth.to_json(),
            "settings": {"steps": args.steps, "every": args.every, "lr": args.lr, "seeds": args.seeds,
                         "train_labels": len(labels), "tvd_samples": 50_000, "n_critic": 5, "gp_weight": 10.0,
                         "betas": [0.5, 0.9], "batch_size": 256},
            "best_possible_tvd": best, "tvd": tvds, "curves": curves, "interventions": image_rows,
            "controller_interventions": rows, "label_fidelity": fidelity,
            "image_stage": {"gan": args.gan, "gan_command": gan_cfg.get("command"),
                            "gan_resumed_with": [r.get("command") for r in gan_cfg.get("resumed_with", [])],
                            "gan_steps": gan_cfg.get("steps"), "gan_labeller_init": gan_cfg.get("labeller_init"),
                            "gan_labeller_init_command": gan_cfg.get("labeller_init_command"),
                            "gan_seed": gan_cfg.get("seed"), "labeller": args.labeller,
                            "labeller_command": labeller_cfg.get("command"),
                            "labeller_test_accuracy": labeller_cfg.get("attribute_accuracy"),
                            "images": args.images, "targets": {"max_abs_error_interventional": 0.05,
                                                               "label_fidelity": 0.90}}}
    stem = args.out
    plot_curves(f"{stem}.png", curves, best)
    plot_faces(f"{stem}_faces.png", gan, seed=args.seed)
    write_results(stem, data, markdown(data))


def _mean_se(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0)


def plot_curves(path: str, curves: dict, best: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for (name, runs), colour in zip(curves.items(), ("C0", "C3", "C2")):
        steps = [h["step"] for h in runs[0]]
        stats = [_mean_se([r[i]["tvd"] for r in runs]) for i in range(len(steps))]
        m = [s[0] for s in stats]
        e = [s[1] for s in stats]
        ax.plot(steps, m, color=colour, label=f"{name} graph")
        ax.fill_between(steps, [a - b for a, b in zip(m, e)], [a + b for a, b in zip(m, e)], color=colour, alpha=0.25)
        ax.axhline(best[name], color=colour, ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("controller iterations")
    ax.set_ylabel("TVD to the SCM's joint")
    ax.set_title("causal controller on causal-faces (mean ± s.e. over seeds)")
    ax.legend()
    save_figure(fig, path)


def read_from_images(gan, labeller, truth, *, n: int, seed: int) -> tuple[list[dict], dict]:
    """For each (attribute, value) of INTERVENTIONS and each kind (conditional, interventional): ``n`` faces from
    ``gan``, the labeller's reading of them, and the marginals of the other attributes it reads beside the SCM's
    exact ones; and the label fidelity (per attribute, the fraction of images whose read label is the asked one)."""
    gen = torch.Generator().manual_seed(seed)
    order = [labeller.nodes.index(n) for n in gan.nodes]  # the labeller's columns in the GAN's order

    def generate(**given) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = gan.sample(n, generator=gen, **given)
        return labeller.predict_labels(images)[:, order], labels

    read, asked = generate()
    agree = {"observational": attribute_accuracy(read, asked, gan.nodes)}
    rows = []
    for attribute, value in INTERVENTIONS:
        others = [x for x in truth.nodes if x != attribute]
        for kind in ("conditional", "interventional"):
            given = {"condition" if kind == "conditional" else "intervention": {attribute: value}}
            read, asked = generate(**given)
            agree[f"{kind} {attribute}={value}"] = attribute_accuracy(read, asked, gan.nodes)
            exact = (conditional(truth, {attribute: value}) if kind == "conditional"
                     else joint(truth, {attribute: value}))
            mt = marginals(truth, exact)
            mm = {x: float(read[:, gan.nodes.index(x)].mean()) for x in truth.nodes}
            rows.append({"attribute": attribute, "value": value, "kind": kind,
                         "model": {x: round(mm[x], 4) for x in others}, "truth": {x: round(mt[x], 4) for x in others},
                         "max_abs_error": round(max(abs(mm[x] - mt[x]) for x in others), 4),
                         "asked": {x: round(float(asked[:, gan.nodes.index(x)].mean()), 4) for x in others},
                         "read_target": round(mm[attribute], 4)})
    per_attribute = {x: statistics.fmean(a[x] for a in agree.values()) for x in gan.nodes}
    fidelity = {"per_set": {k: {x: round(v, 4) for x, v in a.items()} for k, a in agree.items()},
                "per_attribute": {x: round(v, 4) for x, v in per_attribute.items()},
                "mean": round(statistics.fmean(per_attribute.values()), 4),
                "all_attributes_images": n * len(agree)}
    return rows, fidelity


def plot_faces(path: str, gan, *, seed: int) -> None:
    plt = pyplot()
    gen = torch.Generator().manual_seed(seed + 11)
    panels = []
    for attribute in ("Bald", "Mustache", "Makeup"):
        cond, _ = gan.sample(10, generator=gen, condition={attribute: 1})
        inter, _ = gan.sample(10, generator=gen, intervention={attribute: 1})
        panels.append((f"{attribute} = 1 (conditioning)", cond, f"do({attribute} = 1) (intervention)", inter))
    fig, axes = plt.subplots(len(panels), 2, figsize=(7.5, 1.75 * len(panels)))
    for row, (t1, x1, t2, x2) in zip(axes, panels):
        for ax, title, images in ((row[0], t1, x1), (row[1], t2, x2)):
            ax.imshow(tile_images(images, nrow=5), cmap="gray", vmin=0, vmax=255)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.suptitle("CausalGAN images G(z, labels): conditioning (left) vs intervention (right)", fontsize=9)
    save_figure(fig, path)


def markdown(data: dict) -> str:
    s = data["settings"]
    lines = ["# Causal controller on causal-faces (CausalGAN, Kocaoglu et al. 2018)", "",
             (f"WGAN-GP, {s['steps']} iterations, lr {s['lr']}, {s['seeds']} seeds, {s['train_labels']} training "
              f"labels; TVD from {s['tvd_samples']} samples."), "",
             "| fit graph | final TVD mean ± s.e. | per seed | best possible |", "|---|---|---|---|"]
    for name, values in data["tvd"].items():
        m, e = _mean_se(values)
        lines.append(f"| {name} | {m:.4f} ± {e:.4f} | {', '.join(f'{v:.4f}' for v in values)} | "
                     f"{data['best_possible_tvd'][name]:.4f} |")
    im = data["image_stage"]
    lines += ["", "![TVD curves](causal_faces.png)", "",
              "## Conditioning vs intervention, read from generated images by the labeller", "",
              (f"CausalGAN `{im['gan']}` ({im['gan_steps']} steps, seed {im['gan_seed']}; made by `{im['gan_command']}`"
               + "".join(f", resumed by `{c}`" for c in im.get("gan_resumed_with", []))
               + (f"; its Labeller started from `{im['gan_labeller_init']}`"
                  + (f", made by `{im['gan_labeller_init_command']}`" if im.get("gan_labeller_init_command") else "")
                  if im.get("gan_labeller_init") else "") + "); "
               f"{im['images']} generated faces per row, their labels read by `{im['labeller']}` (made by "
               f"`{im['labeller_command']}`). P(attribute = 1), read from images / SCM truth; target: interventional "
               f"max error <= {im['targets']['max_abs_error_interventional']}."), ""]
    lines += _marginal_tables(data["interventions"])
    fid = data["label_fidelity"]
    lines += ["## Label fidelity", "",
              (f"The labeller's agreement with the labels G was asked for, over {fid['all_attributes_images']} generated "
               f"faces (observational, conditioned and intervened; target >= {im['targets']['label_fidelity']:.0%}): "
               f"mean **{fid['mean']:.1%}**."), "",
              "| attribute | " + " | ".join(fid["per_attribute"]) + " |", "|---|" + "---|" * len(fid["per_attribute"]),
              "| fidelity | " + " | ".join(f"{v:.3f}" for v in fid["per_attribute"].values()) + " |",
              "| labeller on real test faces | " + " | ".join(
                  f"{(im['labeller_test_accuracy'] or {}).get(n, float('nan')):.3f}" for n in fid["per_attribute"])
              + " |", "",
              "![faces](causal_faces_faces.png)", "",
              "## The controller's own labels (no images)", "", "P(attribute = 1), controller / truth:", ""]
    lines += _marginal_tables(data["controller_interventions"])
    return "\n".join(lines)


def _marginal_tables(rows: list[dict]) -> list[str]:
    lines = []
    for attribute in dict.fromkeys(r["attribute"] for r in rows):
        sub = [r for r in rows if r["attribute"] == attribute]
        names = list(sub[0]["model"])
        lines += [f"| {attribute} = {sub[0]['value']} | " + " | ".join(names) + " | max error |",
                  "|---|" + "---|" * (len(names) + 1)]
        for r in sub:
            lines.append(f"| {r['kind']} | " + " | ".join(f"{r['model'][n]:.3f} / {r['truth'][n]:.3f}" for n in names)
                         + f" | {r['max_abs_error']:.3f} |")
        lines.append("")
    return lines


if __name__ == "__main__":
    main()
