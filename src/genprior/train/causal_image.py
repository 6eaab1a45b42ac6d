"""Train CausalGAN's image stage (Kocaoglu, Snyder, Dimakis & Vishwanath, ICLR 2018, Sec. 4-5) and the attribute
labeller that reads labels from images.

:func:`train_causal_images`: with the causal controller trained first and frozen, labels ``l`` drawn from it drive
the generator ``G(z, l)``. Per step, on a real batch ``(x, l_x)`` and a generated one ``G(z, l)``:

* the discriminator D descends ``-E log D(x) - E log(1 - D(G(z, l)))`` (real vs fake, labels unseen);
* the Labeller D_LR (trained on real images) descends ``CE(D_LR(x), l_x)``, the binary cross-entropy of every
  attribute (mean over the batch = the paper's ``rho E_{l=1}[...] + (1 - rho) E_{l=0}[...]`` with rho the label
  frequency);
* the Anti-Labeller D_LG (trained on generated images) descends ``CE(D_LG(G(z, l)), l)``;
* G descends ``-E log D(G(z, l)) + w_L CE(D_LR(G(z, l)), l) - w_A CE(D_LG(G(z, l)), l)``: it makes its images
  realistic, labelled as asked by the Labeller, and hard to label for the Anti-Labeller (Sec. 4.2 / Theorem 2: with
  optimal players the label terms sum to ``E_x KL(p_g(l | x) || p_data(l | x))`` up to the entropy of the labels, so
  the optimum is ``p_g(x | l) = p_data(x | l)``; the Anti-Labeller term keeps G from collapsing to one stereotype
  per label vector). The paper weights the terms equally: ``w_L = w_A = 1`` (the defaults); G uses the
  non-saturating form of the GAN term (Goodfellow et al. 2014, Sec. 3).

``labeller_init`` (a trained attribute classifier, e.g. the zoo's ``causal-faces-labeller``) starts the Labeller
from its weights instead of at random, so that the Labeller term gives G an accurate label signal from the first
step (:func:`init_labeller`); the Labeller then trains on the real images as above.

Every ``every`` steps the label fidelity (the Labeller's agreement with the requested labels over a fixed set of
generated images) is recorded and the state saved atomically (:mod:`genprior.train.state`; ``resume`` continues
bit for bit); ``generator.*`` is the :class:`~genprior.models.causal_image.CausalGAN` (controller + image generator).

:func:`train_labeller`: an :class:`~genprior.models.causal_image.AttributeClassifier` fitted by binary cross-entropy
per attribute with Adam; its per-attribute test accuracy is recorded (``model.*``, ``state.*``).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genprior.data.checks import check_image_batch
from genprior.errors import (
    GenpriorError,
    InvalidValueError,
    ShapeError,
    check_seed,
    sub_seed,
)
from genprior.models.causal_image import (
    AttributeClassifier,
    CausalGAN,
    attribute_accuracy,
)
from genprior.models.checkpoint import save_model
from genprior.progress import progress_bar, write
from genprior.train.gan import discriminator_loss, generator_loss
from genprior.train.state import (
    check_finite,
    check_recordable,
    new_run,
    save_training_state,
    start_or_resume,
)


def _check_counts(owner: str, **counts) -> None:
    for name, v in counts.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "steps" else 1):
            raise InvalidValueError(f"{owner}: {name} must be an integer >= {0 if name == 'steps' else 1}, got {v!r}")


def _check_data(owner: str, images: torch.Tensor, labels: torch.Tensor, k: int, what: str) -> None:
    check_image_batch(images, owner=owner, what=f"{what} images")
    if labels.dim() != 2 or labels.shape != (len(images), k):
        raise ShapeError(f"{owner}: {what} labels must be ({len(images)}, {k}), got {tuple(labels.shape)}")


def rendered_faces(graph, n: int, *, seed: int, uniform: bool = False, size: int = 32,
                   chunk: int = 5000) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` causal faces ``(n, 1, size, size)`` in [0, 1] and their labels ``(n, k)`` over ``graph.nodes``: labels
    drawn from the SCM ``graph`` (``uniform``: each attribute an independent fair coin, so that a labeller trained on
    them cannot read one attribute off another it correlates with), labels from ``seed`` and the pictures' noise from
    ``seed + 1``, rendered ``chunk`` at a time."""
    from genprior.data.causal_faces import render, sample_labels

    if uniform:
        labels = (torch.rand(n, len(graph.nodes), generator=torch.Generator().manual_seed(seed)) < 0.5).float()
    else:
        labels = sample_labels(graph, n, seed=seed)
    images = torch.cat([render(labels[i:i + chunk], names=graph.nodes, size=size, seed=sub_seed(seed, 1 + i // chunk))
                        for i in range(0, n, chunk)]) if n else torch.zeros(0, 1, size, size)
    return images, labels


def train_labeller(model: AttributeClassifier, train_images: torch.Tensor, train_labels: torch.Tensor,
                   test_images: torch.Tensor, test_labels: torch.Tensor, *, epochs: int = 5, batch_size: int = 128,
                   lr: float = 1e-3, seed: int = 0, out_dir: str | Path | None = None, resume: bool = False,
                   progress: bool = True, data_info: dict | None = None, command: str | None = None) -> dict:
    """Fit ``model`` (``(B, C, H, W)`` in [0, 1] -> ``(B, k)`` logits) to ``train_labels`` ``(N, k)`` 0/1 (columns in
    ``model.nodes`` order) by the mean binary cross-entropy of every attribute, Adam at ``lr``; shuffling from
    ``seed``. Returns the run record: per epoch the train loss, the per-attribute test accuracy and its mean
    (``test_accuracy``). With ``out_dir``: ``state.*`` every epoch (``resume``) and ``model.*`` at the end, whose
    config records ``test_accuracy`` and ``attribute_accuracy``."""
    k = len(model.nodes)
    _check_data("train_labeller", train_images, train_labels, k, "training")
    _check_data("train_labeller", test_images, test_labels, k, "test")
    _check_counts("train_labeller", epochs=epochs, batch_size=batch_size)
    if not lr > 0:
        raise InvalidValueError(f"train_labeller: lr must be > 0, got {lr}")
    seed = check_seed("seed", seed)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        check_recordable("train_labeller", model=model)
    rng = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    settings = {"seed": seed, "batch_size": batch_size, "lr": float(lr), "data": data_info or {}}
    info = new_run(settings, command=command)
    if out is not None:
        info = start_or_resume(out / "state", resume=resume, info=info, settings=tuple(settings), model=model,
                               optimizers={"adam": opt}, rng=rng, outputs=("model.*",),
                               history_keys=("train_loss", "attribute_accuracy", "test_accuracy", "seconds"))
    n = len(train_images)
    while info["epoch"] < epochs:
        epoch, t0, running = info["epoch"] + 1, time.perf_counter(), 0.0
        perm = torch.randperm(n, generator=rng)
        model.train()
        for i in progress_bar(range(0, n, batch_size), desc=f"labeller epoch {epoch}", enabled=progress, leave=False):
            idx = perm[i:i + batch_size].to(train_images.device)
            loss = F.binary_cross_entropy_with_logits(model(train_images[idx]), train_labels[idx].float())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += loss.item() * len(idx)
        check_finite(epoch, out_dir=out, labeller=model)
        acc = attribute_accuracy(model.predict_labels(test_images), test_labels, model.nodes)
        mean = sum(acc.values()) / k
        info["history"].append({"epoch": epoch, "train_loss": running / n, "attribute_accuracy": acc,
                                "test_accuracy": mean, "seconds": time.perf_counter() - t0})
        info["epoch"] = epoch
        if out is not None:
            save_training_state(out / "state", model=model, optimizers={"adam": opt}, rng=rng, info=info)
        if progress:
            write(f"epoch {epoch}: loss {running / n:.4f}  mean attribute accuracy {mean:.4f}  (lowest "
                  f"{min(acc, key=acc.get)} {min(acc.values()):.4f})")
    model.eval()
    if out is not None:
        last = info["history"][-1]
        save_model(out / "model", model, **{k_: v for k_, v in info.items() if k_ not in ("epoch", "history")},
                   epochs=info["epoch"], test_accuracy=last["test_accuracy"],
                   attribute_accuracy=last["attribute_accuracy"], test_images=len(test_images))
    return info


class CausalGANPlayers(nn.Module):
    """The image stage's players in one module, so that one training state holds them: the
    :class:`~genprior.models.causal_image.CausalGAN` (its controller frozen), the discriminator, the Labeller and
    the Anti-Labeller."""

    def __init__(self, model: CausalGAN, discriminator: nn.Module, labeller: nn.Module, anti_labeller: nn.Module):
        super().__init__()
        self.model, self.discriminator = model, discriminator
        self.labeller, self.anti_labeller = labeller, anti_labeller

    def config(self) -> dict:
        return {"family": "causal-gan-players", "model": self.model.config(),
                "discriminator": self.discriminator.config(), "labeller": self.labeller.config(),
                "anti_labeller": self.anti_labeller.config()}


def label_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean binary cross-entropy of every attribute: ``logits`` and ``labels`` ``(B, k)`` (labels 0/1)."""
    return F.binary_cross_entropy_with_logits(logits, labels)


def init_labeller(labeller: nn.Module, source: str | Path, nodes) -> None:
    """Copy into ``labeller`` (images ``(B, C, H, W)`` -> logits ``(B, k)``) the weights of the trained attribute
    classifier ``source`` (a zoo name, a model pair or a ``genprior train causal-labeller`` folder). Its attributes
    must be ``nodes`` in that order (else ``InvalidValueError``) and its parameters those of ``labeller``, shape for
    shape (else ``ShapeError``); a source that is missing or not an attribute classifier raises the zoo's error,
    prefixed with ``labeller init SOURCE``."""
    from genprior import zoo

    where = f"labeller init {source}"
    try:
        trained, _ = zoo.resolve(str(source), family="attribute-classifier")
    except GenpriorError as e:
        raise type(e)(f"{where}: {e}") from None
    if tuple(trained.nodes) != tuple(nodes):
        raise InvalidValueError(f"{where}: it reads the attributes {list(trained.nodes)}, the generator's are "
                                f"{list(nodes)} (the same, in the same order, are needed)")
    mine, theirs = labeller.state_dict(), trained.state_dict()
    if {k: tuple(v.shape) for k, v in mine.items()} != {k: tuple(v.shape) for k, v in theirs.items()}:
        arch = {k: v for k, v in trained.config().items() if k not in ("family", "nodes")}
        ours = {k: v for k, v in getattr(labeller, "config", dict)().items() if k not in ("family", "nodes")}
        raise ShapeError(f"{where}: its architecture {arch} differs from the Labeller's {ours or type(labeller)}")
    labeller.load_state_dict(theirs)


def train_causal_images(model: CausalGAN, discriminator: nn.Module, labeller: nn.Module, anti_labeller: nn.Module,
                        images: torch.Tensor, labels: torch.Tensor, *, steps: int = 4000, every: int = 250,
                        batch_size: int = 64, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                        labeller_weight: float = 1.0, anti_labeller_weight: float = 1.0,
                        labeller_init: str | Path | None = None, seed: int = 0, fidelity_samples: int = 2000,
                        out_dir: str | Path | None = None, resume: bool = False, progress: bool = True,
                        data_info: dict | None = None, command: str | None = None) -> dict:
    """Train ``model.generator`` (module docstring) on real ``images`` ``(N, C, H, W)`` in [0, 1] with ``labels``
    ``(N, k)`` 0/1 in ``model.nodes`` order; ``model.controller`` is frozen and gives the generated batch's labels
    (thresholded). ``discriminator``: images -> logit ``(B,)``; ``labeller``, ``anti_labeller``: images -> ``(B, k)``
    logits. ``labeller_init``: a trained attribute classifier whose weights start the Labeller
    (:func:`init_labeller`; recorded, and a resume must give the same). All four players use Adam at ``lr``,
    ``betas``. Batches, noise and labels come from one stream seeded by ``seed``. Returns the run record: per
    ``every`` steps (epoch) the mean losses, the label fidelity (the Labeller's per-attribute agreement with the
    requested labels, mean over attributes, on ``fidelity_samples`` images drawn from ``seed + 1``) and the
    seconds. With ``out_dir``: ``state.*`` and ``generator.*`` (the
    CausalGAN) every epoch."""
    k = len(model.nodes)
    _check_data("train_causal_images", images, labels, k, "training")
    _check_counts("train_causal_images", steps=steps, every=every, batch_size=batch_size,
                  fidelity_samples=fidelity_samples)
    if not (lr > 0 and labeller_weight >= 0 and anti_labeller_weight >= 0):
        raise InvalidValueError(f"train_causal_images: need lr > 0 and weights >= 0, got {lr}, {labeller_weight}, "
                                f"{anti_labeller_weight}")
    if tuple(images.shape[1:]) != tuple(model.output_shape):
        raise ShapeError(f"train_causal_images: the generator makes {tuple(model.output_shape)} images, the data are "
                         f"{tuple(images.shape[1:])}")
    seed = check_seed("seed", seed)
    out = Path(out_dir) if out_dir is not None else None
    if labeller_init is not None:  # before anything is written; a resume then loads the saved Labeller over it
        init_labeller(labeller, labeller_init, model.nodes)
    players = CausalGANPlayers(model, discriminator, labeller, anti_labeller)
    if out is not None:
        check_recordable("train_causal_images", players=players)
    model.controller.requires_grad_(False)
    rng = torch.Generator().manual_seed(seed)
    optimizers = {name: torch.optim.Adam(net.parameters(), lr=lr, betas=betas) for name, net in
                  (("generator", model.generator), ("discriminator", discriminator), ("labeller", labeller),
                   ("anti_labeller", anti_labeller))}
    settings = {"seed": seed, "every": every, "batch_size": batch_size, "lr": float(lr),
                "betas": [float(b) for b in betas], "labeller_weight": float(labeller_weight),
                "anti_labeller_weight": float(anti_labeller_weight),
                "labeller_init": None if labeller_init is None else str(labeller_init),
                "fidelity_samples": fidelity_samples, "data": data_info or {}}
    info = new_run(settings, counters={"steps_done": 0}, command=command)
    keys = ("step", "d_loss", "g_loss", "labeller_loss", "anti_labeller_loss", "fidelity", "seconds")

    def save_generator(record: dict) -> None:
        last = record["history"][-1] if record["history"] else {}
        save_model(out / "generator", model, steps=record["steps_done"], fidelity=last.get("fidelity"),
                   data=record["data"], seed=record["seed"], labeller_weight=record["labeller_weight"],
                   anti_labeller_weight=record["anti_labeller_weight"], labeller_init=record["labeller_init"],
                   command=record["command"])

    if out is not None:
        info = start_or_resume(out / "state", resume=resume, info=info, model=players, optimizers=optimizers,
                               rng=rng, settings=tuple(settings), history_keys=keys, outputs=("generator.*",),
                               mend=save_generator)
    n, device = len(images), images.device
    bar = progress_bar(total=steps, desc="causal GAN images", enabled=progress)
    bar.update(info["steps_done"])
    while info["steps_done"] < steps:
        t0 = time.perf_counter()
        end = min(steps, (info["steps_done"] // every + 1) * every)
        sums = dict.fromkeys(("d_loss", "g_loss", "labeller_loss", "anti_labeller_loss"), 0.0)
        count = 0
        players.train()
        model.controller.eval()
        while info["steps_done"] < end:
            idx = torch.randint(n, (batch_size,), generator=rng).to(device)
            x, lx = images[idx], labels[idx].float()
            with torch.no_grad():
                lg = (model.controller(torch.randn(batch_size, model.controller.latent_dim, generator=rng).to(device))
                      > 0.5).float()
            z = torch.randn(batch_size, model.latent_dim, generator=rng).to(device)
            fake = model.generator(z, lg)
            # the three critics, each on its own data
            d_loss = discriminator_loss(discriminator(x), discriminator(fake.detach()))
            l_loss = label_loss(labeller(x), lx)
            a_loss = label_loss(anti_labeller(fake.detach()), lg)
            for name, loss in (("discriminator", d_loss), ("labeller", l_loss), ("anti_labeller", a_loss)):
                optimizers[name].zero_grad(set_to_none=True)
                loss.backward()
                optimizers[name].step()
            # the generator: realistic, labelled as asked, hard for the Anti-Labeller
            g_loss = (generator_loss(discriminator(fake)) + labeller_weight * label_loss(labeller(fake), lg)
                      - anti_labeller_weight * label_loss(anti_labeller(fake), lg))
            optimizers["generator"].zero_grad(set_to_none=True)
            g_loss.backward()
            optimizers["generator"].step()
            for key, v in (("d_loss", d_loss), ("g_loss", g_loss), ("labeller_loss", l_loss),
                           ("anti_labeller_loss", a_loss)):
                sums[key] += v.item()
            count += 1
            info["steps_done"] += 1
            bar.update(1)
        epoch = info["epoch"] + 1
        check_finite(epoch, out_dir=out, generator=model.generator, discriminator=discriminator, labeller=labeller,
                     anti_labeller=anti_labeller)
        fidelity = label_fidelity(model, labeller, n=fidelity_samples, seed=sub_seed(seed, 1))
        info["epoch"] = epoch
        info["history"].append({"epoch": epoch, "step": info["steps_done"],
                                **{key: v / max(count, 1) for key, v in sums.items()},
                                "fidelity": fidelity, "seconds": time.perf_counter() - t0})
        if out is not None:
            save_training_state(out / "state", model=players, optimizers=optimizers, rng=rng, info=info)
            save_generator(info)
        if progress:
            h = info["history"][-1]
            write(f"step {info['steps_done']}: D {h['d_loss']:.3f}  G {h['g_loss']:.3f}  Labeller "
                  f"{h['labeller_loss']:.3f}  Anti-Labeller {h['anti_labeller_loss']:.3f}  fidelity {fidelity:.4f}")
    bar.close()
    players.eval()
    return info


def label_fidelity(model: CausalGAN, labeller: nn.Module, *, n: int, seed: int, intervention: dict | None = None,
                   condition: dict | None = None) -> float:
    """The mean over attributes of the fraction of ``n`` generated images (labels from the controller, noise from
    ``seed``) whose label ``labeller`` reads (logit > 0) equals the requested one."""
    images, labels = model.sample(n, generator=torch.Generator().manual_seed(seed), intervention=intervention,
                                  condition=condition)
    was = labeller.training
    labeller.eval()
    with torch.no_grad():
        device = next(labeller.parameters()).device
        read = torch.cat([(labeller(images[i:i + 1000].to(device)) > 0).float().cpu()
                          for i in range(0, len(images), 1000)])
    labeller.train(was)
    return sum(attribute_accuracy(read, labels, model.nodes).values()) / len(model.nodes)
