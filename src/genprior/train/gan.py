"""Train a GAN by the alternating algorithm of Goodfellow et al. 2014 (Algorithm 1), optionally packed (PacGAN).

The game is Eq. 1 of Goodfellow et al. 2014::

    min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]

Each iteration takes ``d_steps`` (the paper's k) discriminator steps, each on a fresh mini-batch of real
data and of generated samples, then ``g_steps`` generator steps (1 in Algorithm 1; the PacGAN authors' stacked-MNIST
code takes 2, "to make sure that d_loss does not go to zero"), each on fresh ``z``. The generator loss is either

* ``minimax``:       minimise E_z log(1 - D(G(z)))   (the game as written; saturates early in training)
* ``nonsaturating``: minimise -E_z log D(G(z))       (Goodfellow et al. 2014, Sec. 3: strong gradients early on)

With ``labels`` (Mirza & Osindero 2014, conditional GAN, Eq. 2) both players also get a class label:
real images with their own labels, fakes with labels drawn uniformly; the networks are then
``G(z, y)`` and ``D(x, y)`` (see ``genprior.models.conditional``) and the sample grids have one row per class.

With packing ``m`` > 1 (Lin et al. 2018, PacGAN, Sec. 3) the discriminator sees packs of ``m`` samples,
all real or all fake; a batch of ``batch_size`` packs uses ``m * batch_size`` samples. D outputs logits,
so ``log D = -softplus(-l)`` and ``log(1 - D) = -softplus(l)``. Optimiser: Adam for both players.

The loop (:func:`train_gan`) reads top to bottom: per epoch, a shuffle, then per batch one
:func:`discriminator_step` and, after every ``d_steps`` of them, ``g_steps`` :func:`generator_step` s; then the
epoch's means, a check that the weights are finite, and the checkpoint. The settings are one :class:`GANSettings`.

Files in ``out_dir`` (all written atomically): ``state.*`` (both nets, both optimisers, the RNG; for
``--resume``), ``generator.*`` (the generator as a zoo-style model; written after the state, and rewritten from it on
resume) and ``samples_epochNNN.png``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genprior import distributed
from genprior.data.checks import check_image_batch
from genprior.devices import device_of
from genprior.errors import InvalidValueError, ShapeError, check_seed, sub_seed, unknown
from genprior.models.checkpoint import save_model
from genprior.models.generator import latent_dim_of
from genprior.models.pack import PackedDiscriminator
from genprior.plotting import pyplot, save_figure, save_tiled
from genprior.progress import progress_bar, write
from genprior.train import parallel
from genprior.train.state import (
    check_finite,
    check_recordable,
    new_run,
    samples_due,
    save_gan_epoch,
    start_or_resume,
)

GENERATOR_LOSSES = ("minimax", "nonsaturating")


class GANPair(nn.Module):
    """Both players in one module so that one training state holds them (``config()`` names both)."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module):
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator

    def config(self) -> dict:
        return {"family": "gan-pair", "generator": self.generator.config(), "discriminator": self.discriminator.config()}


def discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """-E log D(x) - E log(1 - D(G(z))): the negated value of the game, from logits ``(B,)``."""
    return F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()


def generator_terms(logits_fake: torch.Tensor, kind: str = "nonsaturating") -> torch.Tensor:
    """:func:`generator_loss` per pack ``(B,)``, before the mean."""
    if kind == "minimax":
        return -F.softplus(logits_fake)
    if kind == "nonsaturating":
        return F.softplus(-logits_fake)
    raise unknown("generator loss", kind, GENERATOR_LOSSES)


def generator_loss(logits_fake: torch.Tensor, kind: str = "nonsaturating") -> torch.Tensor:
    """``minimax``: E log(1 - D(G(z))) = -E softplus(l); ``nonsaturating``: -E log D(G(z)) = E softplus(-l)."""
    if kind == "minimax":
        return -F.softplus(logits_fake).mean()
    if kind == "nonsaturating":
        return F.softplus(-logits_fake).mean()
    raise unknown("generator loss", kind, GENERATOR_LOSSES)


def save_scatter(path: str | Path, points: torch.Tensor, real: torch.Tensor | None = None, title: str = "") -> Path:
    """Scatter plot of 2-D samples ``(N, 2)`` (and optionally real points) as PNG (atomically)."""
    fig, ax = pyplot().subplots(figsize=(4, 4))
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:red", alpha=0.5, label="real")
    p = points.detach().cpu()
    ax.scatter(p[:, 0], p[:, 1], s=2, c="tab:blue", alpha=0.5, label="generated")
    ax.set_title(title)
    ax.set_aspect("equal")
    return save_figure(fig, path, dpi=100)


@torch.no_grad()
def check_generator(generator: nn.Module, sample_shape: tuple[int, ...], *, owner: str,
                    conditional: bool = False) -> None:
    """Before training: ``generator`` has a positive integer ``latent_dim`` (else ``GeneratorError``) and makes samples
    of ``sample_shape`` (two draws in eval mode, the mode restored; with ``conditional``, for label 0; else
    ``ShapeError`` naming ``owner``)."""
    k = latent_dim_of(generator)
    was_training = generator.training
    generator.eval()
    device = device_of(generator)
    z = torch.zeros(2, k, device=device)
    out = generator(z, torch.zeros(2, dtype=torch.long, device=device)) if conditional else generator(z)
    generator.train(was_training)
    if tuple(out.shape[1:]) != tuple(sample_shape):
        raise ShapeError(f"{owner}: the generator makes samples of shape {tuple(out.shape[1:])}, the data (and the "
                         f"discriminator) need {tuple(sample_shape)}")


@torch.no_grad()
def sample(generator: nn.Module, n: int, *, rng: torch.Generator | None = None, batch_size: int = 2500) -> torch.Tensor:
    """``n`` samples from ``generator`` in eval mode (batch norm on running statistics), on the CPU; restores the mode.

    ``z`` is drawn on the CPU from ``rng`` and moved to the generator's device, so a seed gives the same latents on
    every device."""
    was_training = generator.training
    generator.eval()
    device = device_of(generator)
    out = [generator(torch.randn(min(batch_size, n - i), generator.latent_dim, generator=rng).to(device)).cpu()
           for i in range(0, n, batch_size)]
    generator.train(was_training)
    return torch.cat(out)


@dataclass
class GANSettings:
    """The settings of a GAN game: recorded in its training state, and a resume must repeat them.

    ``seed`` (0 .. 2^63 - 1) seeds the run's one random stream (shuffles, latents, fake labels); ``loss``: the
    generator's, one of ``GENERATOR_LOSSES``; ``packing`` m >= 1: samples per discriminator input (PacGAN; 1: a
    plain GAN); ``d_steps`` k >= 1: discriminator steps per generator turn; ``g_steps`` >= 1: generator steps per
    turn; ``batch_size`` >= 1: packs per discriminator step (``m * batch_size`` samples); ``lr`` > 0: both
    players' Adam learning rate, unless ``g_lr`` > 0 gives the generator its own (``None``: ``lr``; the PacGAN
    authors' tiny-D runs: 2e-4 for D, 1e-4 for G); ``betas``: Adam's. Defaults: Radford et al. 2016 (DCGAN).
    """

    seed: int = 0
    loss: str = "nonsaturating"
    packing: int = 1
    d_steps: int = 1
    g_steps: int = 1
    batch_size: int = 64
    lr: float = 2e-4
    g_lr: float | None = None
    betas: tuple[float, float] = (0.5, 0.999)

    def __post_init__(self) -> None:
        self.g_lr = self.lr if self.g_lr is None else self.g_lr
        if not (self.lr > 0 and self.g_lr > 0):
            raise InvalidValueError(f"learning rates must be > 0, got lr={self.lr}, g_lr={self.g_lr}")
        if self.loss not in GENERATOR_LOSSES:
            raise unknown("generator loss", self.loss, GENERATOR_LOSSES)
        if self.d_steps < 1 or self.g_steps < 1 or self.batch_size < 1 or self.packing < 1:
            raise InvalidValueError("d_steps, g_steps, batch_size and packing must be >= 1")
        self.seed = check_seed("seed", self.seed)

    def record(self, data_info: dict | None) -> dict:
        """The settings as the run record keeps them (JSON values), with the data's description."""
        return {"seed": self.seed, "loss": self.loss, "packing": self.packing, "d_steps": self.d_steps,
                "g_steps": self.g_steps, "batch_size": self.batch_size, "lr": self.lr, "g_lr": self.g_lr,
                "betas": list(self.betas), "data": data_info or {}}


def _call(net: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """``net(x)``, or ``net(x, y)`` in a conditional game (class labels ``y``)."""
    return net(x) if y is None else net(x, y)


def draw_fakes(rng: torch.Generator, count: int, latent_dim: int, num_classes: int | None,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``count`` latents ``z ~ N(0, I)`` ``(count, latent_dim)`` and, in a conditional game (``num_classes``),
    labels drawn uniformly ``(count,)``: drawn from ``rng`` on the CPU (z first), then moved to ``device``."""
    z = torch.randn(count, latent_dim, generator=rng).to(device)
    y = None if num_classes is None else torch.randint(num_classes, (count,), generator=rng).to(device)
    return z, y


def discriminator_step(generator: nn.Module, discriminator: nn.Module, optimizer: torch.optim.Optimizer,
                       real: torch.Tensor, y_real: torch.Tensor | None, z: torch.Tensor,
                       y_fake: torch.Tensor | None) -> tuple[float, float, float]:
    """One step of D ascending ``log D(x) + log(1 - D(G(z)))`` (descending :func:`discriminator_loss`) on ``m * B``
    real samples ``real`` and as many fakes ``G(z)`` (G not trained here), in packs of m. Returns the loss, the mean
    of D(x) and the mean of D(G(z)) (probabilities, before the step)."""
    with torch.no_grad():
        fake = _call(generator, z, y_fake)
    logits_real, logits_fake = _call(discriminator, real, y_real), _call(discriminator, fake, y_fake)
    loss = discriminator_loss(logits_real, logits_fake)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item(), torch.sigmoid(logits_real).mean().item(), torch.sigmoid(logits_fake).mean().item()


def generator_step(generator: nn.Module, discriminator: nn.Module, optimizer: torch.optim.Optimizer,
                   z: torch.Tensor, y_fake: torch.Tensor | None, kind: str) -> float:
    """One step of G descending :func:`generator_loss` ``kind`` on the fakes ``G(z)`` (only G's optimizer
    steps); returns the loss."""
    loss = generator_loss(_call(discriminator, _call(generator, z, y_fake), y_fake), kind)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


class _SharedSteps:
    """The two steps of the game under torchrun: each rank takes its contiguous packs of every global batch of
    ``packs`` packs, its loss is the sum of its packs' terms times ``N / packs`` (N ranks), and DDP (one wrapper
    around D's loss for the D step, one around G's for the G step) averages the gradients, so that each step is
    the one of the mean loss over the global batch. The statistics returned are this rank's share of the global
    batch's means (their sum over the ranks is the mean)."""

    def __init__(self, generator: nn.Module, judge: nn.Module, packs: int, packing: int, kind: str):
        self.world = distributed.world_size()
        self.scale = self.world / packs
        part = distributed.shard(packs)
        self.rows = slice(part.start * packing, part.stop * packing)  # this rank's samples: its packs' runs of m
        self.generator, self.packs = generator, packs

        def d_terms(real, y_real, fake, y_fake):
            logits_real, logits_fake = _call(judge, real, y_real), _call(judge, fake, y_fake)
            loss = (F.softplus(-logits_real).sum() + F.softplus(logits_fake).sum()) * self.scale
            return loss, logits_real, logits_fake

        self.d_loss = parallel.wrap(judge, d_terms)
        self.g_loss = parallel.wrap(generator, lambda z, y: generator_terms(
            _call(judge, _call(generator, z, y), y), kind).sum() * self.scale)

    def share(self, t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t[self.rows]

    def discriminator_step(self, optimizer: torch.optim.Optimizer, real, y_real, z, y_fake) -> tuple[float, ...]:
        """:func:`discriminator_step` on this rank's rows of the global batch ``real`` and fakes ``G(z)``."""
        z, y_fake = self.share(z), self.share(y_fake)
        with torch.no_grad():
            fake = _call(self.generator, z, y_fake)
        loss, logits_real, logits_fake = self.d_loss(self.share(real), self.share(y_real), fake, y_fake)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return (loss.item() / self.world, torch.sigmoid(logits_real).sum().item() / self.packs,
                torch.sigmoid(logits_fake).sum().item() / self.packs)

    def generator_step(self, optimizer: torch.optim.Optimizer, z, y_fake) -> float:
        """:func:`generator_step` on this rank's rows of the global batch of latents ``z``."""
        loss = self.g_loss(self.share(z), self.share(y_fake))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item() / self.world


def check_game(generator: nn.Module, discriminator: nn.Module, data: torch.Tensor, labels: torch.Tensor | None,
               settings: GANSettings) -> nn.Module:
    """Before training: ``data`` (images in [0, 1], or finite points), enough of it for one step, a generator
    whose samples have its shape, and ``labels`` fitting a conditional generator; returns the discriminator the
    game uses (wrapped in ``PackedDiscriminator`` unless conditional or already packed)."""
    if data.dim() == 4:  # images in [0, 1]; 2-D points are any finite values
        check_image_batch(data, owner="train_gan", what="data")
    elif not (data.is_floating_point() and len(data) and bool(torch.isfinite(data).all())):
        raise InvalidValueError(f"train_gan: data must be a non-empty batch of finite floats, got {tuple(data.shape)} "
                                f"{data.dtype}")
    per_step = settings.batch_size * settings.packing
    if len(data) < per_step:
        raise InvalidValueError(f"need at least batch_size * packing = {per_step} training samples, got {len(data)}")
    check_generator(generator, tuple(data.shape[1:]), owner="train_gan", conditional=labels is not None)
    if labels is None:
        if isinstance(discriminator, PackedDiscriminator):
            return discriminator
        return PackedDiscriminator(discriminator, settings.packing)
    num_classes = getattr(generator, "num_classes", None)
    if num_classes is None or settings.packing != 1:
        raise InvalidValueError("labels need a conditional generator (num_classes) and packing 1")
    if labels.shape != (len(data),) or labels.min() < 0 or labels.max() >= num_classes:
        raise InvalidValueError(f"labels must be ({len(data)},) integers in [0, {num_classes})")
    return discriminator


def train_gan(generator: nn.Module, discriminator: nn.Module, data: torch.Tensor, *,
              labels: torch.Tensor | None = None, epochs: int = 10, settings: GANSettings | None = None,
              out_dir: str | Path | None = None, resume: bool = False, progress: bool = True, samples_every: int = 1,
              data_info: dict | None = None, command: str | None = None, **options) -> dict:
    """Fit ``generator`` to ``data`` (``(N, *sample_shape)``; images in [0, 1] or 2-D points) by Algorithm 1.

    The game's settings are ``settings`` or, as keywords, its fields (``options``: ``packing``, ``batch_size``,
    ``d_steps``, ``g_steps``, ``loss``, ``lr``, ``g_lr``, ``betas``, ``seed``; see :class:`GANSettings`).
    ``discriminator`` takes ``packing`` samples concatenated (its input width or channels are ``packing`` times the
    sample's). With ``labels`` ``(N,)`` (integers in ``[0, generator.num_classes)``) the game is conditional and
    ``packing`` must be 1. One epoch is one pass of D steps over ``data`` (the last incomplete batch is dropped), on
    ``generator``'s device (data and latents are drawn on the CPU, then moved). With ``out_dir`` (both networks need
    a ``config()``) the state is saved atomically after every epoch, a sample picture every ``samples_every``
    epochs and the last (0: never), and ``resume=True`` continues from the state bit for bit; ``data_info`` and
    ``command`` (default: this process's command line) go into the run record. Weights that become NaN or infinite
    stop the run with ``TrainingDiverged`` (an ``InvalidValueError`` naming the epoch) before that epoch is saved.
    Returns ``info``: epochs run, steps, per-epoch mean losses, D(x), D(G(z)) and seconds, and the settings.

    Under torchrun (a process group of N > 1 ranks) every rank draws the same batches and latents, takes its
    contiguous packs of each global batch of ``batch_size`` packs (which must divide by N), and DDP averages both
    players' gradients; batch norm layers normalise over the global batch
    (:func:`genprior.train.parallel.global_batch_norm`), so the steps are one process's up to round-off. Rank 0
    alone writes and prints; the statistics recorded are the global batches' means.
    """
    if settings is not None and options:
        raise InvalidValueError(f"train_gan takes settings or their fields as keywords, not both (got {sorted(options)})")
    s = settings if settings is not None else GANSettings(**options)
    if epochs < 0:
        raise InvalidValueError(f"epochs must be >= 0, got {epochs}")
    judge = check_game(generator, discriminator, data, labels, s)
    world = parallel.ranks_sharing("train_gan", s.batch_size, "batch size (packs per step)")
    main = distributed.is_main()
    progress = progress and main
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        check_recordable("train_gan", generator=generator, discriminator=discriminator)
    device = device_of(generator)  # train where G lives; data and z are drawn on the CPU, then moved
    judge.to(device)
    pair = GANPair(generator, judge)
    rng = torch.Generator().manual_seed(s.seed)
    opt_g = torch.optim.Adam(generator.parameters(), lr=s.g_lr, betas=s.betas)
    opt_d = torch.optim.Adam(judge.parameters(), lr=s.lr, betas=s.betas)
    optimizers = {"generator": opt_g, "discriminator": opt_d}
    record = s.record(data_info)
    info = new_run(record, counters={"d_steps_done": 0, "g_steps_done": 0}, command=command)
    if out is not None:
        # a kill after the state's write may have left generator.* behind it: a resume rewrites it (mend)
        info = distributed.run_together(lambda: start_or_resume(
            out / "state", resume=resume, info=info, model=pair, optimizers=optimizers, rng=rng,
            settings=tuple(record), history_keys=("d_loss", "g_loss", "d_real", "d_fake", "seconds"),
            outputs=("generator.*",), mend=lambda saved: save_model(out / "generator", generator, **summary(saved)),
            write=main))
    classes = None if labels is None else generator.num_classes
    k, n, per_step = generator.latent_dim, len(data), s.batch_size * s.packing
    shared = _SharedSteps(generator, judge, s.batch_size, s.packing, s.loss) if world > 1 else None
    with parallel.global_batch_norm(generator, judge):
        _play(generator, judge, data, labels, epochs, s, info, shared, rng=rng, optimizers=optimizers, pair=pair,
              discriminator=discriminator, out=out, progress=progress, samples_every=samples_every, classes=classes,
              k=k, n=n, per_step=per_step)
    generator.eval()
    return info


def _play(generator: nn.Module, judge: nn.Module, data: torch.Tensor, labels: torch.Tensor | None, epochs: int,
          s: GANSettings, info: dict, shared: _SharedSteps | None, *, rng: torch.Generator, optimizers: dict,
          pair: GANPair, discriminator: nn.Module, out: Path | None, progress: bool, samples_every: int,
          classes: int | None, k: int, n: int, per_step: int) -> None:
    """:func:`train_gan`'s epochs (``shared``: the steps under torchrun, else one process's)."""
    opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
    device = device_of(generator)
    while info["epoch"] < epochs:
        epoch = info["epoch"] + 1
        pair.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=rng)
        sums = {"d_loss": 0.0, "g_loss": 0.0, "d_real": 0.0, "d_fake": 0.0}
        d_count = g_count = 0
        bar = progress_bar(range(0, n - per_step + 1, per_step), desc=f"epoch {epoch}", enabled=progress, leave=False)
        for i in bar:
            batch = perm[i:i + per_step]
            real, y_real = data[batch].to(device), None if labels is None else labels[batch].to(device)
            fakes = draw_fakes(rng, per_step, k, classes, device)
            if shared is None:
                d_loss, d_real, d_fake = discriminator_step(generator, judge, opt_d, real, y_real, *fakes)
            else:
                d_loss, d_real, d_fake = shared.discriminator_step(opt_d, real, y_real, *fakes)
            info["d_steps_done"] += 1
            d_count += 1
            sums["d_loss"] += d_loss
            sums["d_real"] += d_real
            sums["d_fake"] += d_fake
            if info["d_steps_done"] % s.d_steps == 0:  # the generator's turn: g_steps steps after k D steps
                for _ in range(s.g_steps):
                    fakes = draw_fakes(rng, per_step, k, classes, device)
                    g_loss = (generator_step(generator, judge, opt_g, *fakes, s.loss) if shared is None
                              else shared.generator_step(opt_g, *fakes))
                    info["g_steps_done"] += 1
                    g_count += 1
                    sums["g_loss"] += g_loss
                bar.set_postfix(d=f"{d_loss:.3f}", g=f"{g_loss:.3f}")
        if shared is not None:  # each rank holds its share of every step's means: their sums are the means
            sums = dict(zip(sums, distributed.sum_over_ranks(*sums.values()), strict=True))
        info["epoch"] = epoch
        info["history"].append({"epoch": epoch, "d_loss": sums["d_loss"] / max(d_count, 1),
                                "g_loss": sums["g_loss"] / max(g_count, 1), "d_real": sums["d_real"] / max(d_count, 1),
                                "d_fake": sums["d_fake"] / max(d_count, 1), "seconds": time.perf_counter() - t0})
        check_finite(epoch, out_dir=out, generator=generator, discriminator=discriminator)  # stop before saving
        if out is not None and distributed.is_main():  # the others wait at the barrier
            save_gan_epoch(out, pair=pair, optimizers=optimizers, rng=rng, info=info, generator=generator,
                           config=summary(info))
            if samples_due(epoch, samples_every, epochs):
                save_samples(out / f"samples_epoch{epoch:03d}.png", generator, data, num_classes=classes, seed=s.seed,
                             title=f"epoch {epoch}")
        distributed.barrier()
        if progress:
            h = info["history"][-1]
            write(f"epoch {epoch}: D loss {h['d_loss']:.3f}  G loss {h['g_loss']:.3f}  "
                  f"D(x) {h['d_real']:.2f}  D(G(z)) {h['d_fake']:.2f}  ({h['seconds']:.1f}s)")


@torch.no_grad()
def save_samples(path: Path, generator: nn.Module, data: torch.Tensor, *, num_classes: int | None, seed: int,
                 title: str) -> None:
    """A training run's picture of its generator (in eval mode, the mode restored) from latents fixed by ``seed``:
    for images an 8 x 8 grid (conditional: 10 per class, one row each), for 2-D points a scatter of 1000 samples
    over the first 1000 points of ``data``; other data: none."""
    latents = torch.Generator().manual_seed(sub_seed(seed, 1))
    if data.dim() == 2 and data.shape[1] == 2:
        save_scatter(path, sample(generator, 1000, rng=latents), real=data[:1000], title=title)
    elif data.dim() == 4:
        device = device_of(generator)
        z = torch.randn(64 if num_classes is None else 10 * num_classes, generator.latent_dim, generator=latents)
        y = None if num_classes is None else torch.arange(num_classes).repeat_interleave(10).to(device)
        was_training = generator.training
        generator.eval()
        images = _call(generator, z.to(device), y)
        generator.train(was_training)
        save_tiled(path, images, nrow=8 if num_classes is None else 10)


def summary(info: dict) -> dict:
    """What a generator's JSON config records about its training."""
    return {"data": info["data"], "epochs": info["epoch"], "loss": info["loss"], "packing": info["packing"],
            "d_steps": info["d_steps"], "g_steps": info.get("g_steps", 1), "batch_size": info["batch_size"],
            "lr": info["lr"], "g_lr": info.get("g_lr", info["lr"]), "seed": info["seed"],
            "command": info["command"], "resumed_with": info.get("resumed_with", [])}
