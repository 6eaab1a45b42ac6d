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

Files in ``out_dir`` (all written atomically): ``state.*`` (both nets, both optimisers, the RNG; for
``--resume``), ``generator.*`` (the generator as a zoo-style model) and ``samples_epochNNN.png``.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from genprior.data.checks import check_image_batch
from genprior.devices import device_of
from genprior.errors import InvalidValueError, ShapeError, unknown
from genprior.models.pack import PackedDiscriminator
from genprior.plotting import pyplot, save_figure, save_tiled
from genprior.solvers.generator import latent_dim_of
from genprior.train.state import samples_due, save_gan_epoch, start_or_resume

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


def train_gan(generator: nn.Module, discriminator: nn.Module, data: torch.Tensor, *, labels: torch.Tensor | None = None,
              packing: int = 1,
              epochs: int = 10, batch_size: int = 64, d_steps: int = 1, g_steps: int = 1,
              loss: str = "nonsaturating",
              lr: float = 2e-4, g_lr: float | None = None, betas: tuple[float, float] = (0.5, 0.999), seed: int = 0,
              out_dir: str | Path | None = None, resume: bool = False, progress: bool = True,
              samples_every: int = 1, data_info: dict | None = None, command: str | None = None) -> dict:
    """Fit ``generator`` to ``data`` (``(N, *sample_shape)``; images in [0, 1] or 2-D points) by Algorithm 1.

    ``discriminator`` takes ``packing`` samples concatenated (its input width or channels are
    ``packing`` times the sample's); it is wrapped in ``PackedDiscriminator``. With ``labels`` ``(N,)``
    (integers in ``[0, generator.num_classes)``) the game is conditional and ``packing`` must be 1. One epoch is one pass of
    D-steps over ``data`` (the last incomplete batch is dropped). With ``out_dir`` the state is saved
    atomically after every epoch and ``resume=True`` continues from it bit for bit. ``lr`` is both players' Adam
    learning rate unless ``g_lr`` gives the generator its own (the PacGAN authors' tiny-D runs: 2e-4 for D, 1e-4 for G).
    Returns ``info``: epochs run, steps, per-epoch mean losses and seconds.
    """
    g_lr = lr if g_lr is None else g_lr
    if not (lr > 0 and g_lr > 0):
        raise InvalidValueError(f"learning rates must be > 0, got lr={lr}, g_lr={g_lr}")
    if loss not in GENERATOR_LOSSES:
        raise unknown("generator loss", loss, GENERATOR_LOSSES)
    if d_steps < 1 or g_steps < 1 or batch_size < 1 or packing < 1 or epochs < 0:
        raise InvalidValueError("d_steps, g_steps, batch_size and packing must be >= 1 and epochs >= 0")
    if data.dim() == 4:  # images in [0, 1]; 2-D points are any finite values
        check_image_batch(data, owner="train_gan", what="data")
    elif not (data.is_floating_point() and len(data) and bool(torch.isfinite(data).all())):
        raise InvalidValueError(f"train_gan: data must be a non-empty batch of finite floats, got {tuple(data.shape)} "
                                f"{data.dtype}")
    per_step = batch_size * packing
    if len(data) < per_step:
        raise InvalidValueError(f"need at least batch_size * packing = {per_step} training samples, got {len(data)}")
    check_generator(generator, tuple(data.shape[1:]), owner="train_gan", conditional=labels is not None)
    num_classes = getattr(generator, "num_classes", None)
    if labels is not None:
        if num_classes is None or packing != 1:
            raise InvalidValueError("labels need a conditional generator (num_classes) and packing 1")
        if labels.shape != (len(data),) or labels.min() < 0 or labels.max() >= num_classes:
            raise InvalidValueError(f"labels must be ({len(data)},) integers in [0, {num_classes})")
        packed = discriminator
    else:
        packed = discriminator if isinstance(discriminator, PackedDiscriminator) else PackedDiscriminator(discriminator, packing)
    device = device_of(generator)  # train where G lives; data and z are drawn on the CPU, then moved
    packed.to(device)
    pair = GANPair(generator, packed)
    rng = torch.Generator().manual_seed(seed)
    opt_g = torch.optim.Adam(generator.parameters(), lr=g_lr, betas=betas)
    opt_d = torch.optim.Adam(packed.parameters(), lr=lr, betas=betas)
    optimizers = {"generator": opt_g, "discriminator": opt_d}
    command = command or "genprior " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    info = {"epoch": 0, "d_steps_done": 0, "g_steps_done": 0, "history": [], "seed": seed, "loss": loss,
            "packing": packing, "d_steps": d_steps, "g_steps": g_steps, "batch_size": batch_size, "lr": lr,
            "g_lr": g_lr, "betas": list(betas),
            "data": data_info or {}, "command": command, "resumed_with": []}
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        info = start_or_resume(out / "state", resume=resume, info=info, model=pair, optimizers=optimizers, rng=rng,
                               settings=("seed", "loss", "packing", "d_steps", "g_steps", "batch_size", "lr", "g_lr",
                                         "betas", "data"))
        if info["epoch"]:
            info.setdefault("resumed_with", []).append({"after_epoch": info["epoch"], "command": command})
    fixed_z = torch.randn(64, generator.latent_dim, generator=torch.Generator().manual_seed(seed + 1)).to(device)
    fixed_y = None
    if labels is not None:  # a 10 x K grid: row c shows class c
        fixed_z = torch.randn(10 * num_classes, generator.latent_dim, generator=torch.Generator().manual_seed(seed + 1))
        fixed_z, fixed_y = fixed_z.to(device), torch.arange(num_classes).repeat_interleave(10).to(device)

    def generate(z, y):
        return generator(z) if y is None else generator(z, y)

    def judge(x, y):
        return packed(x) if y is None else packed(x, y)

    def draw_labels(count):
        return None if labels is None else torch.randint(num_classes, (count,), generator=rng).to(device)

    def draw_z(count):
        return torch.randn(count, generator.latent_dim, generator=rng).to(device)

    is_image = data.dim() == 4
    n = len(data)

    while info["epoch"] < epochs:
        epoch = info["epoch"] + 1
        pair.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=rng)
        sums = {"d_loss": 0.0, "g_loss": 0.0, "d_real": 0.0, "d_fake": 0.0}
        counts = {"d": 0, "g": 0}
        bar = tqdm(range(0, n - per_step + 1, per_step), desc=f"epoch {epoch}", disable=not progress, leave=False)
        for i in bar:
            # --- discriminator step: ascend log D(x) + log(1 - D(G(z))) on m-packs of real / fake samples
            real = data[perm[i:i + per_step]].to(device)
            y_real = None if labels is None else labels[perm[i:i + per_step]].to(device)
            z, y_fake = draw_z(per_step), draw_labels(per_step)
            with torch.no_grad():
                fake = generate(z, y_fake)
            logits_real, logits_fake = judge(real, y_real), judge(fake, y_fake)
            d_loss = discriminator_loss(logits_real, logits_fake)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            info["d_steps_done"] += 1
            counts["d"] += 1
            sums["d_loss"] += d_loss.item()
            sums["d_real"] += torch.sigmoid(logits_real).mean().item()
            sums["d_fake"] += torch.sigmoid(logits_fake).mean().item()
            # --- g_steps generator steps after every k discriminator steps
            if info["d_steps_done"] % d_steps == 0:
                for _ in range(g_steps):
                    z, y_fake = draw_z(per_step), draw_labels(per_step)
                    g_loss = generator_loss(judge(generate(z, y_fake), y_fake), loss)
                    opt_g.zero_grad(set_to_none=True)
                    g_loss.backward()
                    opt_g.step()
                    info["g_steps_done"] += 1
                    counts["g"] += 1
                    sums["g_loss"] += g_loss.item()
                bar.set_postfix(d=f"{d_loss.item():.3f}", g=f"{g_loss.item():.3f}")
        info["epoch"] = epoch
        info["history"].append({"epoch": epoch, "d_loss": sums["d_loss"] / max(counts["d"], 1),
                                "g_loss": sums["g_loss"] / max(counts["g"], 1),
                                "d_real": sums["d_real"] / max(counts["d"], 1),
                                "d_fake": sums["d_fake"] / max(counts["d"], 1),
                                "seconds": time.perf_counter() - t0})
        if out is not None:
            save_gan_epoch(out, pair=pair, optimizers=optimizers, rng=rng, info=info, generator=generator,
                           config=summary(info))
            if samples_due(epoch, samples_every, epochs):
                with torch.no_grad():
                    generator.eval()
                    s = generate(fixed_z, fixed_y)
                    generator.train()
                if is_image:
                    save_tiled(out / f"samples_epoch{epoch:03d}.png", s, nrow=10 if labels is not None else 8)
                elif s.dim() == 2 and s.shape[1] == 2:
                    save_scatter(out / f"samples_epoch{epoch:03d}.png", sample(generator, 1000, rng=torch.Generator().manual_seed(seed + 1)),
                                 real=data[:1000], title=f"epoch {epoch}")
        if progress:
            h = info["history"][-1]
            tqdm.write(f"epoch {epoch}: D loss {h['d_loss']:.3f}  G loss {h['g_loss']:.3f}  "
                       f"D(x) {h['d_real']:.2f}  D(G(z)) {h['d_fake']:.2f}  ({h['seconds']:.1f}s)")
    generator.eval()
    return info


def summary(info: dict) -> dict:
    """What a generator's JSON config records about its training."""
    return {"data": info["data"], "epochs": info["epoch"], "loss": info["loss"], "packing": info["packing"],
            "d_steps": info["d_steps"], "g_steps": info.get("g_steps", 1), "batch_size": info["batch_size"],
            "lr": info["lr"], "g_lr": info.get("g_lr", info["lr"]), "seed": info["seed"],
            "command": info["command"], "resumed_with": info.get("resumed_with", [])}
