"""Train an InfoGAN (Chen et al., NeurIPS 2016) or an InfoGAN-CR (Lin, Thekumparampil, Fanti & Oh, ICML 2020).

InfoGAN (Chen et al. 2016, Eq. 5, with the variational bound L_I of Eq. 4): the generator ``G(c, z)`` takes codes
``c ~ U[-1, 1]^k`` and noise ``z``; a head ``Q`` on the discriminator's trunk estimates ``c`` from ``G(c, z)``. With a
Gaussian ``q(c | x)`` of fixed unit variance, ``-L_I`` is, up to a constant::

    L_info = E 1/2 ||Q(G(c, z)) - c||^2

and the players minimise (non-saturating GAN loss, Goodfellow et al. 2014, Sec. 3; D and G output logits)::

    L_D = -E log D(x) - E log(1 - D(G(c, z))) + lambda L_info        over D's and Q's parameters
    L_G = -E log D(G(c, z))                  + lambda L_info + w_t L_CR   over G's parameters

InfoGAN-CR (Lin et al. 2020, Sec. 3, Eq. 3 and the CR loss of Eq. 4): a third network ``H`` sees a pair of images
``(G(c, z), G(c', z))`` generated with one code coordinate ``i`` (drawn uniformly) held equal, ``c'_i = c_i``, and the
others drawn afresh (the noise ``z`` shared, as the authors' code), and predicts ``i``; G and H both minimise its
cross-entropy::

    L_CR = E_{i, c, c', z} [ -log softmax(H(G(c, z), G(c', z)))_i ]

so G is pushed to make each code's effect recognisable on its own (the latent-traversal notion of disentanglement).

The progressive schedule (Sec. 4 of the paper; the authors' ``InfoGAN-CR_dSprites/config.py``): the CR weight
``w_t`` is 0 for the first ``cr_start`` fraction of the steps (InfoGAN alone, their dSprites run switches it to 2.0
after 288,000 of 322,560 batches, ~0.9) and ``cr_weight`` from then on; the pair's "gap" -- every code other than
``i`` differs between ``c`` and ``c'`` by at least ``gap_t`` (easier pairs for H while ``gap_t`` is large) -- starts
at ``gap_start`` and falls by ``gap_decrease`` every ``gap_every`` steps, down to 0 (their dSprites setting: gap 0
throughout). Defaults as the authors' dSprites run: lambda = 0.05 on both players, Adam betas (0.5, 0.999), lr 1e-3
for G and 2e-3 for D/Q and H (we take one G step per iteration, they take two).

One iteration: a real batch ``x``, latents ``(c, z)``, and while ``w_t > 0`` the pair latents and labels ``i`` and
one H step (on the pair, detached; before the switch H is not trained, as the authors re-initialise it there), one
D/Q step (on ``x`` and ``G(c, z)`` detached), one G step (through the updated D, Q and H). Every
``every`` steps (one "epoch" of the run record) the state goes to ``OUT/state.*`` atomically (:mod:`genprior.train.
state`), the generator to ``OUT/generator.*``, the discriminator with its Q head (the encoder the disentanglement
scores read) to ``OUT/discriminator.*`` and a traversal grid (one row per code) to ``OUT/traversal.png``;
``resume`` continues bit for bit.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genprior.data.checks import check_image_batch
from genprior.devices import device_of
from genprior.errors import InvalidValueError, ShapeError, check_number, check_seed
from genprior.progress import progress_bar, write
from genprior.train.state import (
    check_finite,
    check_recordable,
    new_run,
    save_training_state,
    start_or_resume,
)


class InfoGANPlayers(nn.Module):
    """G, D (with Q) and, for InfoGAN-CR, H in one module, so that one training state holds them all."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, cr_head: nn.Module | None = None):
        super().__init__()
        self.generator, self.discriminator, self.cr_head = generator, discriminator, cr_head

    def config(self) -> dict:
        return {"family": "infogan-players", "generator": self.generator.config(),
                "discriminator": self.discriminator.config(),
                "cr_head": None if self.cr_head is None else self.cr_head.config()}


def info_loss(q: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """``E 1/2 ||q - c||^2``: the negative log-likelihood of ``codes`` ``(B, k)`` under the Gaussian ``N(q, I)``
    (``q`` ``(B, k)``, the Q head's output) up to its constant, i.e. ``-L_I`` of Chen et al. 2016, Eq. 4."""
    return 0.5 * (q - codes).pow(2).sum(1).mean()


def cr_schedule(step: int, *, steps: int, cr_weight: float, cr_start: float, gap_start: float = 0.0,
                gap_decrease: float = 0.0, gap_every: int = 1) -> tuple[float, float]:
    """The CR weight ``w_t`` and the pair gap ``gap_t`` at (0-based) step ``step`` of ``steps``: ``w_t = 0`` before
    step ``ceil(cr_start * steps)``, ``cr_weight`` from it on; ``gap_t = max(gap_start - gap_decrease * floor(step /
    gap_every), 0)`` (InfoGAN-CR's progressive training, see the module docstring)."""
    weight = cr_weight if step >= math.ceil(cr_start * steps) else 0.0
    return weight, max(gap_start - gap_decrease * (step // gap_every), 0.0)


def cr_pair_latents(latent: torch.Tensor, codes: int, labels: torch.Tensor, gap: float,
                    rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Pair latents for the contrastive regularizer: ``latent`` ``(B, codes + noise)`` gives the pair's shared noise
    (its last coordinates); code ``labels[b]`` of row ``b`` is equal in the two, every other code is drawn uniformly
    on [-1, 1] in each, apart by at least ``gap`` (in [0, 2]; the authors' ``sample_different``: both drawn on
    ``[-1 + gap/2, 1 - gap/2]`` then pushed ``gap/2`` apart). Returns ``(first, second)``, each ``(B, codes + noise)``."""
    n = latent.shape[0]
    a = (torch.rand(n, codes, generator=rng) * 2 - 1) * (1 - gap / 2)
    b = (torch.rand(n, codes, generator=rng) * 2 - 1) * (1 - gap / 2)
    sign = torch.where(a > b, 1.0, -1.0)
    a, b = a + sign * gap / 2, b - sign * gap / 2
    rows = torch.arange(n)
    b[rows, labels] = a[rows, labels]
    noise = latent[:, codes:]
    return torch.cat([a, noise], 1), torch.cat([b, noise], 1)


def _check(steps, every, batch_size, info_weight, cr_weight, cr_start, gap_start, gap_decrease, gap_every, lrs):
    for name, v in (("steps", steps), ("every", every), ("batch_size", batch_size), ("gap_every", gap_every)):
        check_number(f"train_infogan: {name}", v, low=0 if name == "steps" else 1, integer=True)
    if batch_size < 2:
        raise InvalidValueError(f"train_infogan: batch_size must be >= 2 (batch norm), got {batch_size}")
    for name, v in (("info_weight", info_weight), ("cr_weight", cr_weight), ("gap_decrease", gap_decrease)):
        check_number(f"train_infogan: {name}", v, low=0)
    if not 0 <= cr_start <= 1:
        raise InvalidValueError(f"train_infogan: cr_start is a fraction of the steps, in [0, 1]; got {cr_start}")
    if not 0 <= gap_start <= 2:
        raise InvalidValueError(f"train_infogan: gap_start must be in [0, 2] (codes live on [-1, 1]), got {gap_start}")
    for name, v in lrs.items():
        check_number(f"train_infogan: {name}", v, low=0, strict=True)


def train_infogan(generator: nn.Module, discriminator: nn.Module, data: torch.Tensor, *,
                  cr_head: nn.Module | None = None, steps: int = 3000, every: int = 500, batch_size: int = 64,
                  info_weight: float = 0.05, cr_weight: float = 0.0, cr_start: float = 0.9, gap_start: float = 0.0,
                  gap_decrease: float = 0.0, gap_every: int = 1, lr: float = 1e-3, d_lr: float = 2e-3,
                  cr_lr: float = 2e-3, betas: tuple[float, float] = (0.5, 0.999), seed: int = 0,
                  out_dir: str | Path | None = None, resume: bool = False, progress: bool = True,
                  data_info: dict | None = None, command: str | None = None) -> dict:
    """Fit ``generator`` (an :class:`~genprior.models.infogan.InfoGANGenerator`: ``codes``, ``sample_latent``) to
    ``data`` (images ``(N, C, H, W)`` in [0, 1]) against ``discriminator`` (``x -> (logit (B,), Q(x) (B, codes))``)
    for ``steps`` iterations; with ``cr_head`` and ``cr_weight > 0``, InfoGAN-CR (the schedule of
    :func:`cr_schedule`). Every random draw comes from one stream seeded by ``seed`` (on the CPU, so a seed gives
    the same run on every device). Weights that become NaN or infinite stop the run with ``TrainingDiverged``
    before they are saved. Returns the run record ``info``: per ``every`` steps the step, the mean D loss, G's GAN
    loss, the info loss, the CR loss and H's accuracy on its pairs, the CR weight and gap in force, the seconds."""
    seed = check_seed("seed", seed)
    _check(steps, every, batch_size, info_weight, cr_weight, cr_start, gap_start, gap_decrease, gap_every,
           {"lr": lr, "d_lr": d_lr, "cr_lr": cr_lr})
    if cr_weight > 0 and cr_head is None:
        raise InvalidValueError("train_infogan: cr_weight > 0 needs a cr_head (InfoGAN-CR's H)")
    check_image_batch(data, owner="train_infogan", what="data", shape=tuple(generator.output_shape))
    if tuple(discriminator.input_shape) != tuple(generator.output_shape) or discriminator.codes != generator.codes:
        raise ShapeError(f"train_infogan: the discriminator takes {tuple(discriminator.input_shape)} with "
                         f"{discriminator.codes} codes, the generator makes {tuple(generator.output_shape)} with "
                         f"{generator.codes}")
    if len(data) < batch_size:
        raise InvalidValueError(f"train_infogan: need at least batch_size = {batch_size} images, got {len(data)}")
    use_cr = cr_head is not None and cr_weight > 0
    players = InfoGANPlayers(generator, discriminator, cr_head if use_cr else None)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        check_recordable("train_infogan", players=players)
    rng = torch.Generator().manual_seed(seed)
    optimizers = {"generator": torch.optim.Adam(generator.parameters(), lr=lr, betas=betas),
                  "discriminator": torch.optim.Adam(discriminator.parameters(), lr=d_lr, betas=betas)}
    if use_cr:
        optimizers["cr_head"] = torch.optim.Adam(cr_head.parameters(), lr=cr_lr, betas=betas)
    settings = {"seed": seed, "steps": steps, "every": every, "batch_size": batch_size,
                "info_weight": float(info_weight), "cr_weight": float(cr_weight), "cr_start": float(cr_start),
                "gap_start": float(gap_start), "gap_decrease": float(gap_decrease), "gap_every": gap_every,
                "lr": float(lr), "d_lr": float(d_lr), "cr_lr": float(cr_lr), "betas": [float(b) for b in betas],
                "data": data_info or {}}
    info = new_run(settings, counters={"steps_done": 0}, command=command)
    history_keys = ("step", "d_loss", "g_loss", "info_loss", "cr_loss", "cr_accuracy", "cr_weight", "gap", "seconds")

    def save_outputs(record: dict) -> None:
        from genprior.models.checkpoint import save_model
        from genprior.models.walks import latent_walk
        from genprior.plotting import save_tiled

        meta = {"data": record["data"], "steps": record["steps_done"], "seed": record["seed"],
                "info_weight": record["info_weight"], "cr_weight": record["cr_weight"], "command": record["command"]}
        save_model(out / "generator", generator, **meta)
        save_model(out / "discriminator", discriminator, **meta)
        grid = latent_walk(generator.eval(), "coordinate", coord=None, steps=10, seed=seed)
        save_tiled(out / "traversal.png", grid.flatten(0, 1), nrow=grid.shape[1])

    if out is not None:
        info = start_or_resume(out / "state", resume=resume, info=info, settings=tuple(settings), model=players,
                               optimizers=optimizers, rng=rng, history_keys=history_keys,
                               outputs=("generator.*", "discriminator.*", "traversal.*"), mend=save_outputs)
    device = device_of(generator)
    k, n = generator.codes, len(data)
    g_params = list(generator.parameters())
    bar = progress_bar(total=steps, desc="infogan-cr" if use_cr else "infogan", enabled=progress)
    bar.update(info["steps_done"])
    while info["steps_done"] < steps:
        t0 = time.perf_counter()
        end = min(steps, (info["steps_done"] // every + 1) * every)
        sums = dict.fromkeys(("d_loss", "g_loss", "info_loss", "cr_loss", "cr_accuracy"), 0.0)
        count = cr_count = 0
        players.train()
        while info["steps_done"] < end:
            weight, gap = cr_schedule(info["steps_done"], steps=steps, cr_weight=cr_weight, cr_start=cr_start,
                                      gap_start=gap_start, gap_decrease=gap_decrease, gap_every=gap_every)
            real = data[torch.randint(n, (batch_size,), generator=rng)].to(device)
            latent = generator.sample_latent(batch_size, generator=rng)
            codes = latent[:, :k].to(device)
            fake = generator(latent.to(device))
            # --- H: which code the pair shares (cross-entropy), on the pair detached from G; trained only while the CR
            # weight is on (the authors re-initialise H when the weight switches on: it starts there from scratch)
            active = use_cr and weight > 0
            if active:
                labels = torch.randint(k, (batch_size,), generator=rng)
                first, second = cr_pair_latents(latent, k, labels, gap, rng)
                pair = generator(torch.cat([first, second]).to(device))
                pair = torch.cat([pair[:batch_size], pair[batch_size:]], 1)  # (B, 2C, H, W)
                labels = labels.to(device)
                logits = cr_head(pair.detach())
                h_loss = F.cross_entropy(logits, labels)
                optimizers["cr_head"].zero_grad(set_to_none=True)
                h_loss.backward()
                optimizers["cr_head"].step()
                sums["cr_loss"] += h_loss.item()
                sums["cr_accuracy"] += (logits.argmax(1) == labels).float().mean().item()
                cr_count += 1
            # --- D and Q: the GAN loss on real and generated images, plus lambda * L_info on the generated ones
            d_real, _ = discriminator(real)
            d_fake, q_fake = discriminator(fake.detach())
            d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean() + info_weight * info_loss(q_fake, codes)
            optimizers["discriminator"].zero_grad(set_to_none=True)
            d_loss.backward()
            optimizers["discriminator"].step()
            # --- G: non-saturating GAN loss + lambda * L_info + w_t * L_CR, through the updated D, Q and H
            d_fake, q_fake = discriminator(fake)
            i_loss = info_loss(q_fake, codes)
            gan = F.softplus(-d_fake).mean()
            g_loss = gan + info_weight * i_loss
            if active:
                g_loss = g_loss + weight * F.cross_entropy(cr_head(pair), labels)
            optimizers["generator"].zero_grad(set_to_none=True)
            g_loss.backward(inputs=g_params)
            optimizers["generator"].step()
            sums["d_loss"] += d_loss.item()
            sums["g_loss"] += gan.item()
            sums["info_loss"] += i_loss.item()
            count += 1
            info["steps_done"] += 1
            bar.update(1)
        epoch = info["epoch"] + 1
        check_finite(epoch, out_dir=out, generator=generator, discriminator=discriminator,
                     **({"cr_head": cr_head} if use_cr else {}))
        info["epoch"] = epoch
        weight, gap = cr_schedule(info["steps_done"] - 1, steps=steps, cr_weight=cr_weight, cr_start=cr_start,
                                  gap_start=gap_start, gap_decrease=gap_decrease, gap_every=gap_every)
        info["history"].append({"epoch": epoch, "step": info["steps_done"],
                                **{key: v / max(cr_count if key.startswith("cr") else count, 1)
                                   for key, v in sums.items()},
                                "cr_weight": weight if use_cr else 0.0, "gap": gap,
                                "seconds": time.perf_counter() - t0})
        if out is not None:
            save_training_state(out / "state", model=players, optimizers=optimizers, rng=rng, info=info)
            save_outputs(info)
        if progress:
            h = info["history"][-1]
            write(f"step {h['step']}: D {h['d_loss']:.3f}  G {h['g_loss']:.3f}  info {h['info_loss']:.4f}"
                  + (f"  CR {h['cr_loss']:.3f} (acc {h['cr_accuracy']:.2f}, w {h['cr_weight']:g})" if use_cr else "")
                  + f"  ({h['seconds']:.1f}s)")
    bar.close()
    players.eval()
    return info
