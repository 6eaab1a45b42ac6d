"""Train a CycleGAN (Zhu, Park, Isola & Efros, ICCV 2017) on two unpaired image domains A and B.

Two translators ``G = g_ab: A -> B`` and ``F = g_ba: B -> A`` and two discriminators ``D_B`` (real B vs G(a)) and
``D_A`` (real A vs F(b)) play the least-squares GAN game (Mao et al. 2017; the paper's Sec. 4 "Training details"
replaces the log-likelihood of Eq. 1 by it), with the cycle-consistency loss of Eq. 2 and the identity loss of
Sec. 5.2, put together as Eq. 3::

    L_G   = E_a (D_B(G(a)) - 1)^2 + E_b (D_A(F(b)) - 1)^2                               (LSGAN, both directions)
          + lambda_cyc * ( E_a |F(G(a)) - a|_1 + E_b |G(F(b)) - b|_1 )                      (Eq. 2)
          + identity * lambda_cyc * ( E_b |G(b) - b|_1 + E_a |F(a) - a|_1 )                 (Sec. 5.2)
    L_D_B = 1/2 [ E_b (D_B(b) - 1)^2 + E (D_B(pool_B(G(a))))^2 ]       (and L_D_A likewise)

minimised over the translators' parameters (``L_G``) and each discriminator's (``L_D``). ``|.|_1`` is the mean
absolute error per pixel, the squares are means over D's patch scores. Paper values: ``lambda_cyc = 10``,
``identity = 0.5`` (the identity weight is ``0.5 lambda_cyc``), Adam lr 2e-4 with betas (0.5, 0.999), and a pool of
the 50 latest generated images (Shrivastava et al. 2017) from which D sees, image by image, with probability 1/2 an
older fake instead of the newest (``pool_size = 0``: always the newest). The paper's batch size is 1 and it decays the
rate linearly to 0 after 100 epochs; here batches are larger and the rate is constant. ``lambda_cyc = 0`` (hence no
identity term either) is the plain two-way GAN, the paper's "GAN alone" ablation.

``cycle_noise = s > 0`` adds Gaussian noise of std ``s`` to each translation before the way back in Eq. 2
(``F(G(a) + s n)``, ``G(F(b) + s n')``), the defence of Bashkirova, Usman & Saenko (NeurIPS 2019, "Adversarial
self-defense for cycle-consistent GANs", Sec. 3.1): when one translation loses information (here thin strokes
made thick), CycleGAN otherwise hides the lost detail in a faint, nearly invisible signal of its translation so that
the way back can restore it (Chu, Zhmoginov & Sandler 2017); noise of that signal's size makes hiding useless, so the
translation no longer needs to carry it.

One iteration: a batch of A images and an independent batch of B images (each domain is shuffled on its own; an
epoch is one pass over the smaller domain, the last incomplete batch dropped); one Adam step of both translators on
``L_G``, then one Adam step of both discriminators on ``L_D_A + L_D_B`` with the pooled fakes (as the paper's code).

Files in ``out_dir`` (all written atomically): ``state.*`` (the four nets, both optimisers, the RNG and the pools; for
``--resume``, which continues bit for bit), ``model.*`` (the :class:`~genprior.models.cyclegan.CycleGAN`, written
after the state and rewritten from it on resume) and ``samples_epochNNN.png`` (rows: 8 A images, G(a), F(G(a)), 8 B
images, F(b), G(F(b))).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F

from genprior.data.checks import check_image_batch
from genprior.devices import device_of
from genprior.errors import InvalidValueError, check_number
from genprior.models.checkpoint import save_model
from genprior.models.cyclegan import CycleGAN
from genprior.plotting import save_tiled
from genprior.progress import progress_bar, write
from genprior.train.state import (
    check_finite,
    check_recordable,
    new_run,
    samples_due,
    save_training_state,
    start_or_resume,
)

HISTORY_KEYS = ("g_gan", "cycle", "identity", "d_loss", "steps", "seconds")


def lsgan_loss(scores: torch.Tensor, target: float) -> torch.Tensor:
    """Least-squares GAN loss ``mean (scores - target)^2`` over a batch of patch scores (any shape)."""
    return (scores - target).pow(2).mean()


class ImagePool:
    """The paper's history of generated images (Shrivastava et al. 2017): ``images`` ``(size, C, H, W)``, of which
    the first ``fill`` are in use. :meth:`query` returns the batch D trains on."""

    def __init__(self, size: int, image_shape: tuple[int, ...], device: torch.device):
        self.size, self.fill = size, 0
        self.images = torch.zeros(size, *image_shape, device=device)

    def query(self, fakes: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """``fakes`` ``(B, C, H, W)`` (detached) -> a batch of the same shape: while the pool fills, the fakes
        themselves (each stored); then, image by image, with probability 1/2 a stored fake (replaced by the new one),
        else the new one. The draws come from ``rng`` (on the CPU) whether or not the pool is full."""
        if self.size == 0:
            return fakes
        coins = torch.rand(len(fakes), generator=rng)
        slots = torch.randint(self.size, (len(fakes),), generator=rng)
        out = fakes.clone()
        for i in range(len(fakes)):
            if self.fill < self.size:
                self.images[self.fill] = fakes[i]
                self.fill += 1
            elif coins[i] < 0.5:
                j = int(slots[i])
                out[i] = self.images[j]
                self.images[j] = fakes[i]
        return out


def _check(epochs: int, batch_size: int, lr: float, lambda_cyc: float, identity: float, pool_size: int,
           cycle_noise: float) -> None:
    check_number("epochs", epochs, low=0, integer=True)
    check_number("batch_size", batch_size, low=1, integer=True)
    check_number("lr", lr, low=0.0, strict=True)
    check_number("lambda_cyc", lambda_cyc, low=0.0)
    check_number("identity", identity, low=0.0)
    check_number("pool_size", pool_size, low=0, integer=True)
    check_number("cycle_noise", cycle_noise, low=0.0)


def train_cyclegan(model: CycleGAN, domain_a: torch.Tensor, domain_b: torch.Tensor, *, epochs: int = 10,
                   batch_size: int = 32, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                   lambda_cyc: float = 10.0, identity: float = 0.5, pool_size: int = 50, cycle_noise: float = 0.0,
                   seed: int = 0, out_dir: str | Path | None = None, resume: bool = False, progress: bool = True,
                   samples_every: int = 1, data_info: dict | None = None, command: str | None = None) -> dict:
    """Fit ``model`` (a :class:`~genprior.models.cyclegan.CycleGAN`) to translate between ``domain_a`` and
    ``domain_b`` (unpaired images ``(N_a, C, H, W)``, ``(N_b, C, H, W)`` in [0, 1] of the model's image shape) by the
    objective of the module docstring (paper Eq. 3 with the LSGAN loss).

    ``lambda_cyc`` >= 0 weighs the cycle loss, ``identity`` >= 0 the identity loss as a fraction of ``lambda_cyc``;
    ``cycle_noise`` >= 0 is the std of the noise added to the translations on the cycle's way back (0: none).
    Runs on ``model``'s device; batches and every random draw come from one CPU generator seeded by ``seed``, so a
    seed gives the same run on every device. With ``out_dir`` the state is saved atomically after every epoch and
    ``resume=True`` continues from it bit for bit. Weights that become NaN or infinite stop the run with
    ``TrainingDiverged`` before that epoch is saved. Returns ``info``: epochs, steps, and per epoch the means of the
    translators' LSGAN loss, the cycle and identity errors (mean absolute error per pixel, both directions
    summed), D's loss, the steps and seconds.
    """
    _check(epochs, batch_size, lr, lambda_cyc, identity, pool_size, cycle_noise)
    if not isinstance(model, CycleGAN):
        raise InvalidValueError(f"train_cyclegan needs a CycleGAN, got {type(model).__name__}")
    shape = tuple(model.image_shape)
    check_image_batch(domain_a, owner="train_cyclegan", what="domain_a", shape=shape)
    check_image_batch(domain_b, owner="train_cyclegan", what="domain_b", shape=shape)
    n = min(len(domain_a), len(domain_b))
    if n < batch_size:
        raise InvalidValueError(f"train_cyclegan: need at least batch_size = {batch_size} images in each domain, got "
                                f"{len(domain_a)} and {len(domain_b)}")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        check_recordable("train_cyclegan", model=model)
    device = device_of(model)
    rng = torch.Generator().manual_seed(seed)
    generators, discriminators = model.generators(), model.discriminators()
    opt_g = torch.optim.Adam(generators.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(discriminators.parameters(), lr=lr, betas=betas)
    optimizers = {"generators": opt_g, "discriminators": opt_d}
    g_params, d_params = list(generators.parameters()), list(discriminators.parameters())
    pool_a, pool_b = ImagePool(pool_size, shape, device), ImagePool(pool_size, shape, device)
    pools = {"pool_a": pool_a.images, "pool_b": pool_b.images}
    settings = {"seed": seed, "lambda_cyc": lambda_cyc, "identity": identity, "cycle_noise": cycle_noise,
                "pool_size": pool_size, "batch_size": batch_size, "lr": lr, "betas": list(betas), "data": data_info or {}}
    info = new_run(settings, counters={"steps_done": 0, "pool_fill": 0}, command=command)
    if out is not None:
        info = start_or_resume(out / "state", resume=resume, info=info, model=model, optimizers=optimizers, rng=rng,
                               extra=pools, settings=tuple(settings), history_keys=HISTORY_KEYS,
                               outputs=("model.*",), added_later={"cycle_noise": 0.0},
                               mend=lambda saved: save_model(out / "model", model, **summary(saved)))
        pool_a.images.copy_(pools["pool_a"])
        pool_b.images.copy_(pools["pool_b"])
        pool_a.fill = pool_b.fill = int(info["pool_fill"])
    fixed_a, fixed_b = domain_a[:8].to(device), domain_b[:8].to(device)
    w_id = identity * lambda_cyc

    while info["epoch"] < epochs:
        epoch = info["epoch"] + 1
        model.train()
        t0 = time.perf_counter()
        perm_a = torch.randperm(len(domain_a), generator=rng)
        perm_b = torch.randperm(len(domain_b), generator=rng)
        sums = dict.fromkeys(("g_gan", "cycle", "identity", "d_loss"), 0.0)
        steps = 0
        bar = progress_bar(range(0, n - batch_size + 1, batch_size), desc=f"epoch {epoch}", enabled=progress,
                           leave=False)
        for i in bar:
            a = domain_a[perm_a[i:i + batch_size]].to(device)
            b = domain_b[perm_b[i:i + batch_size]].to(device)
            # --- translators: LSGAN (fool D_B and D_A) + cycle (Eq. 2) + identity (Sec. 5.2)
            fake_b, fake_a = model.g_ab(a), model.g_ba(b)
            g_gan = lsgan_loss(model.d_b(fake_b), 1.0) + lsgan_loss(model.d_a(fake_a), 1.0)
            with torch.set_grad_enabled(lambda_cyc > 0):
                seen_b, seen_a = fake_b, fake_a  # what the way back sees (Bashkirova et al.'s noise if asked)
                if cycle_noise > 0:
                    seen_b = fake_b + cycle_noise * torch.randn(fake_b.shape, generator=rng).to(device)
                    seen_a = fake_a + cycle_noise * torch.randn(fake_a.shape, generator=rng).to(device)
                cycle = F.l1_loss(model.g_ba(seen_b), a) + F.l1_loss(model.g_ab(seen_a), b)
            with torch.set_grad_enabled(w_id > 0):
                ident = F.l1_loss(model.g_ab(b), b) + F.l1_loss(model.g_ba(a), a)
            g_loss = g_gan
            if lambda_cyc > 0:
                g_loss = g_loss + lambda_cyc * cycle
            if w_id > 0:
                g_loss = g_loss + w_id * ident
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward(inputs=g_params)
            opt_g.step()
            # --- discriminators: real -> 1, (pooled) fake -> 0, halved as in the paper
            old_b, old_a = pool_b.query(fake_b.detach(), rng), pool_a.query(fake_a.detach(), rng)
            d_loss = 0.5 * (lsgan_loss(model.d_a(a), 1.0) + lsgan_loss(model.d_a(old_a), 0.0)
                            + lsgan_loss(model.d_b(b), 1.0) + lsgan_loss(model.d_b(old_b), 0.0))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward(inputs=d_params)
            opt_d.step()
            info["steps_done"] += 1
            steps += 1
            for key, v in (("g_gan", g_gan), ("cycle", cycle), ("identity", ident), ("d_loss", d_loss)):
                sums[key] += v.item()
            bar.set_postfix(cyc=f"{cycle.item():.3f}", d=f"{d_loss.item():.3f}")
        check_finite(epoch, out_dir=out, translators=generators, discriminators=discriminators)
        info["epoch"] = epoch
        info["pool_fill"] = pool_a.fill
        info["history"].append({"epoch": epoch, **{k: v / max(steps, 1) for k, v in sums.items()}, "steps": steps,
                                "seconds": time.perf_counter() - t0})
        if out is not None:
            save_training_state(out / "state", model=model, optimizers=optimizers, rng=rng, info=info,
                                extra={"pool_a": pool_a.images, "pool_b": pool_b.images})
            save_model(out / "model", model, **summary(info))
            if samples_due(epoch, samples_every, epochs):
                save_tiled(out / f"samples_epoch{epoch:03d}.png", sample_rows(model, fixed_a, fixed_b), nrow=8)
        if progress:
            h = info["history"][-1]
            write(f"epoch {epoch}: L_GAN {h['g_gan']:.4f}  cycle {h['cycle']:.4f}  identity {h['identity']:.4f}  "
                  f"L_D {h['d_loss']:.4f}  ({h['seconds']:.1f}s)")
    model.eval()
    return info


@torch.no_grad()
def sample_rows(model: CycleGAN, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Six rows for a grid: ``a``, G(a), F(G(a)), ``b``, F(b), G(F(b)) (``a``, ``b``: ``(k, C, H, W)`` in [0, 1])."""
    fake_b, fake_a = model.translate(a, "a2b"), model.translate(b, "b2a")
    return torch.cat([a, fake_b, model.translate(fake_b, "b2a"), b, fake_a, model.translate(fake_a, "a2b")])


def summary(info: dict) -> dict:
    """What the saved model's JSON config records about its training."""
    return {"data": info["data"], "epochs": info["epoch"], "lambda_cyc": info["lambda_cyc"],
            "identity": info["identity"], "cycle_noise": info["cycle_noise"], "pool_size": info["pool_size"],
            "batch_size": info["batch_size"],
            "lr": info["lr"], "seed": info["seed"], "command": info["command"],
            "resumed_with": info.get("resumed_with", [])}
