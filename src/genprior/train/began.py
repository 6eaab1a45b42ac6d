"""Train a BEGAN: Boundary Equilibrium GAN (Berthelot, Schumm & Metz 2017, arXiv:1703.10717).

The discriminator D is an autoencoder; what it scores is its pixel-wise l1 reconstruction error (Eq. 1,
with eta = 1)::

    L(v) = mean |v - D(v)|

and the game (Eq. 4 of the paper) is::

    L_D     = L(x) - k_t * L(G(z_D))                       minimised over D's parameters
    L_G     = L(G(z_G))                                     minimised over G's parameters
    k_{t+1} = clip(k_t + lambda_k * (gamma * L(x) - L(G(z_G))), 0, 1)

D learns to reconstruct real images well and generated ones badly; G learns to make images D
reconstructs well. The proportional controller k_t (k_0 = 0) keeps the equilibrium
E[L(G(z))] = gamma * E[L(x)] (Eq. 3): gamma in (0, 1] is the "diversity ratio", lower gamma gives
sharper, less diverse samples. The convergence measure (Sec. 3.4)::

    M_global = L(x) + |gamma * L(x) - L(G(z_G))|

falls as training improves, and is recorded (mean per epoch) with k_t in ``info["history"]``.

Generated images for training are ``generator.raw(z)`` where the generator has it (``BEGANGenerator``:
the paper's linear output, not clamped to [0, 1], so that D sees, and penalises, out-of-range pixels);
sample grids and the saved generator use ``generator(z)``, in [0, 1].

One iteration: a mini-batch of real images ``x`` and one draw ``z ~ N(0, I)`` used as both z_D and z_G
(each is just a draw from the prior, so one draw gives unbiased estimates of both losses and saves a
generator pass), one forward pass of D over ``x`` and one over ``G(z)``, the gradient of L_D with
respect to D's parameters and of L_G with respect to G's, one Adam step for each player (simultaneous:
both gradients taken at the same parameters), then the k_t update from the batch's L(x) and L(G(z)). Defaults: gamma = 0.5, lambda_k = 0.001 (the paper's), Adam lr 1e-4, betas (0.5, 0.999).

Files in ``out_dir`` (all written atomically): ``state.*`` (both nets, both optimisers, the RNG, k_t;
for ``--resume``, which continues bit for bit), ``generator.*`` (the generator as a zoo-style model; written after
the state, and rewritten from it on resume)
and ``samples_epochNNN.png`` (an 8x8 grid from a fixed z).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from genprior import distributed
from genprior.data.checks import check_image_batch
from genprior.devices import device_of
from genprior.errors import InvalidValueError, ShapeError, sub_seed
from genprior.models.checkpoint import save_model
from genprior.plotting import save_tiled
from genprior.progress import progress_bar, write
from genprior.train import parallel
from genprior.train.gan import GANPair, check_generator
from genprior.train.state import (
    check_finite,
    check_recordable,
    new_run,
    samples_due,
    save_gan_epoch,
    start_or_resume,
)


def update_k(k: float, loss_real: float, loss_fake: float, *, gamma: float, lambda_k: float) -> float:
    """One step of the BEGAN controller: ``clip(k + lambda_k * (gamma * L(x) - L(G(z))), 0, 1)``.

    When D reconstructs generated images too well (``L(G(z)) < gamma L(x)``) k grows, so that D pushes
    their reconstruction error up harder; when ``L(G(z)) > gamma L(x)`` k shrinks.
    """
    return min(max(k + lambda_k * (gamma * loss_real - loss_fake), 0.0), 1.0)


def convergence_measure(loss_real: float, loss_fake: float, *, gamma: float) -> float:
    """``M_global = L(x) + |gamma L(x) - L(G(z))|`` (Sec. 3.4 of the paper)."""
    return loss_real + abs(gamma * loss_real - loss_fake)


def _check(gamma: float, lambda_k: float, epochs: int, batch_size: int, lr: float) -> None:
    if not 0.0 < gamma <= 1.0:
        raise InvalidValueError(f"gamma must be in (0, 1], got {gamma}")
    if not lambda_k >= 0.0:
        raise InvalidValueError(f"lambda_k must be >= 0, got {lambda_k}")
    if epochs < 0:
        raise InvalidValueError(f"epochs must be >= 0, got {epochs}")
    if batch_size < 1:
        raise InvalidValueError(f"batch_size must be >= 1, got {batch_size}")
    if not lr > 0.0:
        raise InvalidValueError(f"lr must be > 0, got {lr}")


def train_began(generator: nn.Module, discriminator: nn.Module, data: torch.Tensor, *, epochs: int = 10,
                batch_size: int = 64, gamma: float = 0.5, lambda_k: float = 0.001, lr: float = 1e-4,
                betas: tuple[float, float] = (0.5, 0.999), seed: int = 0, out_dir: str | Path | None = None,
                resume: bool = False, progress: bool = True, samples_every: int = 1, data_info: dict | None = None,
                command: str | None = None) -> dict:
    """Fit ``generator`` to ``data`` (images ``(N, C, H, W)`` in [0, 1]) by the BEGAN game.

    ``discriminator`` is an autoencoder with a ``loss(x)`` method returning the per-image l1
    reconstruction error (``BEGANDiscriminator``). One epoch is one pass over ``data`` (the last
    incomplete batch is dropped), on ``generator``'s device (``discriminator`` must be there too; batches and
    latents are drawn on the CPU and moved, so a seed gives the same run on every device). With ``out_dir`` (both
    networks need a ``config()``) the state is saved atomically after every epoch and ``resume=True`` continues
    from it bit for bit. Weights that become NaN or infinite stop the run with ``TrainingDiverged`` (an
    ``InvalidValueError`` naming the epoch) before that epoch is saved. Returns ``info``: epochs, steps, the
    final ``k``, and per epoch the mean L(x), L(G(z)), L_D, M_global, k_t at the epoch's end and seconds.

    Under torchrun (a process group of N > 1 ranks) every rank draws the same batches and latents and takes its
    contiguous share of each global batch of ``batch_size`` images (which must divide by N); the two players'
    gradients are averaged over the ranks in one all-reduce (:func:`genprior.train.parallel.average_gradients`:
    the step takes two backward passes from one forward, which DDP cannot follow), batch norm layers normalise over
    the global batch, and k_t is updated from the global batch's L(x) and L(G(z)) (one all-reduce of two numbers a
    step), so the steps are one process's up to round-off. Rank 0 alone writes and prints.
    """
    _check(gamma, lambda_k, epochs, batch_size, lr)
    check_image_batch(data, owner="train_began", what="data")
    if data.dim() != 4 or tuple(data.shape[1:]) != tuple(discriminator.input_shape):
        raise ShapeError(f"BEGAN needs images of shape (N, {', '.join(map(str, discriminator.input_shape))}), "
                         f"got {tuple(data.shape)}")
    check_generator(generator, tuple(discriminator.input_shape), owner="train_began")
    if len(data) < batch_size:
        raise InvalidValueError(f"need at least batch_size = {batch_size} training images, got {len(data)}")
    world = parallel.ranks_sharing("train_began", batch_size)
    main = distributed.is_main()
    progress = progress and main
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        check_recordable("train_began", generator=generator, discriminator=discriminator)
    pair = GANPair(generator, discriminator)
    rng = torch.Generator().manual_seed(seed)
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    optimizers = {"generator": opt_g, "discriminator": opt_d}
    settings = {"seed": seed, "gamma": gamma, "lambda_k": lambda_k, "batch_size": batch_size, "lr": lr,
                "betas": list(betas), "data": data_info or {}}
    info = new_run(settings, counters={"steps_done": 0, "k": 0.0}, command=command)
    if out is not None:
        # a kill after the state's write may have left generator.* behind it: a resume rewrites it (mend)
        info = distributed.run_together(lambda: start_or_resume(
            out / "state", resume=resume, info=info, model=pair, optimizers=optimizers, rng=rng,
            settings=tuple(settings),
            history_keys=("loss_real", "loss_fake", "d_loss", "m_global", "k", "steps", "seconds"),
            outputs=("generator.*",), mend=lambda saved: save_model(out / "generator", generator, **summary(saved)),
            write=main))
    device = device_of(generator)
    fixed_z = torch.randn(64, generator.latent_dim, generator=torch.Generator().manual_seed(sub_seed(seed, 1))).to(device)
    k = float(info["k"])
    # BEGAN trains the generator's unbounded output (BEGANGenerator.raw); a generator without one is used as is
    produce = getattr(generator, "raw", generator)
    rows = distributed.shard(batch_size) if world > 1 else slice(None)  # this rank's rows of each global batch
    with parallel.global_batch_norm(generator, discriminator):
        k = _play(generator, discriminator, data, epochs=epochs, batch_size=batch_size, gamma=gamma, lambda_k=lambda_k,
                  info=info, k=k, rng=rng, optimizers=optimizers, pair=pair, out=out, progress=progress,
                  samples_every=samples_every, produce=produce, fixed_z=fixed_z, rows=rows, world=world)
    generator.eval()
    return info


def _play(generator: nn.Module, discriminator: nn.Module, data: torch.Tensor, *, epochs: int, batch_size: int,
          gamma: float, lambda_k: float, info: dict, k: float, rng: torch.Generator, optimizers: dict, pair: GANPair,
          out: Path | None, progress: bool, samples_every: int, produce, fixed_z: torch.Tensor, rows: slice,
          world: int) -> float:
    """:func:`train_began`'s epochs (``rows`` of each global batch on this rank, of ``world``); returns k_t."""
    opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
    g_params, d_params = list(generator.parameters()), list(discriminator.parameters())
    device = device_of(generator)
    n = len(data)
    scale = world / batch_size  # a rank's sum over its rows, times this: its part of the global batch's mean
    while info["epoch"] < epochs:
        epoch = info["epoch"] + 1
        pair.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=rng)
        sums = {"loss_real": 0.0, "loss_fake": 0.0, "d_loss": 0.0, "m_global": 0.0}
        steps = 0
        bar = progress_bar(range(0, n - batch_size + 1, batch_size), desc=f"epoch {epoch}", enabled=progress, leave=False)
        for i in bar:
            real = data[perm[i:i + batch_size][rows]].to(device)
            z = torch.randn(batch_size, generator.latent_dim, generator=rng)[rows].to(device)
            fake = produce(z)
            # --- the autoencoder D on real and on generated images: L(v) = mean |v - D(v)|
            if world == 1:
                loss_real = discriminator.loss(real).mean()
                loss_fake = discriminator.loss(fake).mean()
            else:  # this rank's rows' sums times N / B: their gradients averaged below are the global means'
                loss_real = discriminator.loss(real).sum() * scale
                loss_fake = discriminator.loss(fake).sum() * scale
            d_loss = loss_real - k * loss_fake  # L_D = L(x) - k_t L(G(z_D)), over D's parameters only
            g_loss = loss_fake                  # L_G = L(G(z_G)),           over G's parameters only
            opt_d.zero_grad(set_to_none=True)
            opt_g.zero_grad(set_to_none=True)
            d_loss.backward(inputs=d_params, retain_graph=True)
            g_loss.backward(inputs=g_params)
            parallel.average_gradients(d_params + g_params)  # under torchrun: the global batch's gradients
            opt_d.step()
            opt_g.step()
            # --- proportional control of the equilibrium gamma = E L(G(z)) / E L(x)
            l_real, l_fake = loss_real.item(), loss_fake.item()
            if world > 1:
                l_real, l_fake = (v / world for v in distributed.sum_over_ranks(l_real, l_fake))
            k_used, k = k, update_k(k, l_real, l_fake, gamma=gamma, lambda_k=lambda_k)
            m = convergence_measure(l_real, l_fake, gamma=gamma)
            info["steps_done"] += 1
            steps += 1
            sums["loss_real"] += l_real
            sums["loss_fake"] += l_fake
            sums["d_loss"] += d_loss.item() if world == 1 else l_real - k_used * l_fake
            sums["m_global"] += m
            bar.set_postfix(M=f"{m:.4f}", k=f"{k:.4f}")
        check_finite(epoch, out_dir=out, generator=generator, discriminator=discriminator)  # stop before saving
        info["epoch"] = epoch
        info["k"] = k
        info["history"].append({"epoch": epoch, **{key: v / max(steps, 1) for key, v in sums.items()}, "k": k,
                                "steps": steps, "seconds": time.perf_counter() - t0})
        if out is not None:
            if distributed.is_main():  # the others wait at the barrier
                save_gan_epoch(out, pair=pair, optimizers=optimizers, rng=rng, info=info, generator=generator,
                               config=summary(info))
            if samples_due(epoch, samples_every, epochs):
                with torch.no_grad():  # on every rank: in training mode it moves batch norm's running statistics
                    grid = generator(fixed_z)
                if distributed.is_main():
                    save_tiled(out / f"samples_epoch{epoch:03d}.png", grid)
        distributed.barrier()
        if progress:
            h = info["history"][-1]
            write(f"epoch {epoch}: L(x) {h['loss_real']:.4f}  L(G(z)) {h['loss_fake']:.4f}  "
                  f"M_global {h['m_global']:.4f}  k {h['k']:.4f}  ({h['seconds']:.1f}s)")
    return k


def summary(info: dict) -> dict:
    """What a generator's JSON config records about its training."""
    return {"data": info["data"], "epochs": info["epoch"], "gan": "began", "gamma": info["gamma"],
            "lambda_k": info["lambda_k"], "k": info["k"], "batch_size": info["batch_size"], "lr": info["lr"],
            "seed": info["seed"], "command": info["command"], "resumed_with": info.get("resumed_with", [])}
