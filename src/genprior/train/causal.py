"""Train CausalGAN's causal controller (Kocaoglu et al., ICLR 2018, Sec. 4) on labels alone, by WGAN-GP
(Gulrajani et al. 2017, Algorithm 1).

The critic D maximises ``E D(x_real) - E D(G(z))`` under the gradient penalty
``lambda E (||grad_x D(x_hat)||_2 - 1)^2`` at ``x_hat = eps x_real + (1 - eps) G(z)``, ``eps ~ U[0, 1]``: it descends
``E D(G(z)) - E D(x) + lambda GP`` for ``n_critic`` steps, then the controller G descends ``-E D(G(z))`` once (one
iteration). Defaults are the paper's: lambda = 10, n_critic = 5, Adam (lr 1e-4, betas (0.5, 0.9)).

Every ``every`` iterations (one "epoch" of the run record) the controller's label distribution is measured against
the truth: ``tvd_samples`` label vectors drawn with a fixed seed (``seed + 1``, apart from the training stream), their
histogram over the 2^k label vectors, and its total variation distance to the SCM's exact joint. The state is then
saved atomically (:mod:`genprior.train.state`) and ``resume`` continues bit for bit.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from genprior import distributed
from genprior.data.causal_faces import CausalGraph, histogram, joint, reorder, tvd
from genprior.errors import InvalidValueError, check_seed, sub_seed
from genprior.progress import progress_bar, write
from genprior.train import parallel
from genprior.train.gan import GANPair
from genprior.train.state import (
    check_finite,
    check_recordable,
    new_run,
    save_training_state,
    start_or_resume,
)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``E (||grad D(x_hat)||_2 - 1)^2`` at ``x_hat = eps real + (1 - eps) fake`` (``eps`` ``(B, 1)``), with the graph
    kept for the critic's backward pass (Gulrajani et al. 2017, eq. 3)."""
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.norm(dim=1) - 1) ** 2).mean()


def controller_tvd(controller: nn.Module, truth: CausalGraph, *, n: int, seed: int) -> float:
    """TVD between the controller's label distribution (``n`` samples drawn from ``seed``, thresholded) and the
    exact joint of ``truth`` (aligned by node names)."""
    labels = controller.sample(n, generator=torch.Generator().manual_seed(seed))
    return tvd(reorder(histogram(labels), controller.nodes, truth.nodes), joint(truth))


def train_causal(controller: nn.Module, critic: nn.Module, labels: torch.Tensor, truth: CausalGraph, *,
                 steps: int = 3000, every: int = 100, batch_size: int = 256, n_critic: int = 5,
                 gp_weight: float = 10.0, lr: float = 1e-4, betas: tuple[float, float] = (0.5, 0.9), seed: int = 0,
                 tvd_samples: int = 100_000, out_dir: str | Path | None = None, resume: bool = False,
                 progress: bool = True, data_info: dict | None = None, command: str | None = None) -> dict:
    """Fit ``controller`` (a :class:`~genprior.models.causal.CausalController`) to ``labels`` ``(N, k)`` 0/1 in
    ``truth.nodes`` order for ``steps`` generator iterations, ``critic`` (``(B, k) -> (B,)``) judging label vectors
    in the controller's node order. Batches, noise and the penalty's ``eps`` come from one stream seeded by ``seed``.
    Returns the run record ``info``: per ``every`` iterations (epoch) the step, the TVD to ``truth``, the mean critic
    loss (with the penalty), the mean Wasserstein estimate ``E D(x) - E D(G(z))`` and the seconds.
    With ``out_dir`` the state goes to ``OUT/state.*`` and the controller to ``OUT/controller.*`` after every epoch.

    Under torchrun (a process group of N > 1 ranks) every rank draws the same batches, noise and ``eps``, takes its
    contiguous rows of each global batch of ``batch_size`` (which must divide by N), and DDP averages both players'
    gradients (the penalty is per label vector, so a rank's share of it is exact); the steps are one process's up
    to round-off. Rank 0 alone writes and prints; the losses recorded are the global batches' means."""
    from genprior.models.checkpoint import save_model

    seed = check_seed("seed", seed)
    for name, v in (("steps", steps), ("every", every), ("batch_size", batch_size), ("n_critic", n_critic),
                    ("tvd_samples", tvd_samples)):
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "steps" else 1):
            raise InvalidValueError(f"train_causal: {name} must be an integer >= {0 if name == 'steps' else 1}, "
                                    f"got {v!r}")
    if not (lr > 0 and gp_weight >= 0):
        raise InvalidValueError(f"train_causal: need lr > 0 and gp_weight >= 0, got {lr}, {gp_weight}")
    if sorted(controller.nodes) != sorted(truth.nodes) or labels.dim() != 2 or labels.shape[1] != len(truth.nodes) \
            or not len(labels):
        raise InvalidValueError(f"train_causal: labels must be (N >= 1, {len(truth.nodes)}) over {list(truth.nodes)}, "
                                f"and the controller's nodes the same; got {tuple(labels.shape)}, "
                                f"{list(controller.nodes)}")
    world = parallel.ranks_sharing("train_causal", batch_size)
    main = distributed.is_main()
    progress = progress and main
    data = labels[:, [truth.nodes.index(n) for n in controller.nodes]].float()  # into the controller's order
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        check_recordable("train_causal", controller=controller, critic=critic)
    pair = GANPair(controller, critic)
    rng = torch.Generator().manual_seed(seed)
    opt_g = torch.optim.Adam(controller.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(critic.parameters(), lr=lr, betas=betas)
    optimizers = {"controller": opt_g, "critic": opt_d}
    settings = {"seed": seed, "every": every, "batch_size": batch_size, "n_critic": n_critic,
                "gp_weight": float(gp_weight), "lr": float(lr), "betas": [float(b) for b in betas],
                "tvd_samples": tvd_samples, "data": data_info or {}}
    info = new_run(settings, counters={"steps_done": 0}, command=command)

    def save_controller(record: dict) -> None:
        save_model(out / "controller", controller, steps=record["steps_done"], data=record["data"],
                   tvd=record["history"][-1]["tvd"] if record["history"] else None, seed=record["seed"],
                   command=record["command"])

    if out is not None:
        info = distributed.run_together(lambda: start_or_resume(
            out / "state", resume=resume, info=info, model=pair, optimizers=optimizers, rng=rng,
            settings=tuple(settings), history_keys=("step", "tvd", "critic_loss", "wasserstein", "seconds"),
            outputs=("controller.*",), mend=save_controller, write=main))
    n = len(data)
    shared = _SharedSteps(controller, critic, batch_size, gp_weight) if world > 1 else None
    bar = progress_bar(total=steps, desc="causal controller", enabled=progress)
    bar.update(info["steps_done"])
    while info["steps_done"] < steps:
        t0 = time.perf_counter()
        end = min(steps, (info["steps_done"] // every + 1) * every)
        d_sum = w_sum = 0.0
        count = 0
        pair.train()
        while info["steps_done"] < end:
            for _ in range(n_critic):
                real = data[torch.randint(n, (batch_size,), generator=rng)]
                z = torch.randn(batch_size, controller.latent_dim, generator=rng)
                eps = torch.rand(batch_size, 1, generator=rng)
                if shared is not None:
                    loss, wasserstein = shared.critic_step(opt_d, real, z, eps)
                    d_sum, w_sum, count = d_sum + loss, w_sum + wasserstein, count + 1
                    continue
                with torch.no_grad():
                    fake = controller(z)
                wasserstein = critic(real).mean() - critic(fake).mean()
                loss = -wasserstein + gp_weight * gradient_penalty(critic, real, fake, eps)
                opt_d.zero_grad(set_to_none=True)
                loss.backward()
                opt_d.step()
                d_sum, w_sum, count = d_sum + loss.item(), w_sum + wasserstein.item(), count + 1
            z = torch.randn(batch_size, controller.latent_dim, generator=rng)
            g_loss = -critic(controller(z)).mean() if shared is None else shared.controller_loss(z)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            info["steps_done"] += 1
            bar.update(1)
        epoch = info["epoch"] + 1
        if shared is not None:  # each rank holds its share of every step's means: their sums are the means
            d_sum, w_sum = distributed.sum_over_ranks(d_sum, w_sum)
        check_finite(epoch, out_dir=out, controller=controller, critic=critic)
        controller.eval()
        distance = controller_tvd(controller, truth, n=tvd_samples, seed=sub_seed(seed, 1))
        info["epoch"] = epoch
        info["history"].append({"epoch": epoch, "step": info["steps_done"], "tvd": distance,
                                "critic_loss": d_sum / max(count, 1), "wasserstein": w_sum / max(count, 1),
                                "seconds": time.perf_counter() - t0})
        if out is not None and main:  # the others wait at the barrier
            save_training_state(out / "state", model=pair, optimizers=optimizers, rng=rng, info=info)
            save_controller(info)
        distributed.barrier()
        if progress:
            write(f"step {info['steps_done']}: TVD {distance:.4f}  W {w_sum / max(count, 1):.4f}")
    bar.close()
    controller.eval()
    return info


class _SharedSteps:
    """The critic's and the controller's steps under torchrun: each rank takes its contiguous rows of every global
    batch of ``batch_size`` label vectors, its loss is the sum of its rows' terms times ``N / batch_size`` (N ranks),
    and DDP (around the critic's loss, and around the controller's) averages the gradients: the steps are those of
    the global batch's means. The numbers returned are this rank's share of the global means."""

    def __init__(self, controller: nn.Module, critic: nn.Module, batch_size: int, gp_weight: float):
        self.world = distributed.world_size()
        self.scale = self.world / batch_size
        self.rows = distributed.shard(batch_size)
        self.controller = controller

        def critic_terms(real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor):
            x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)  # the penalty of each row: as in
            grad, = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)  # gradient_penalty
            gap = critic(real) - critic(fake)
            loss = (-gap + gp_weight * (grad.norm(dim=1) - 1) ** 2).sum() * self.scale
            return loss, gap.sum() / batch_size

        self.critic_loss = parallel.wrap(critic, critic_terms)
        self.controller_term = parallel.wrap(controller, lambda z: -critic(controller(z)).sum() * self.scale)

    def critic_step(self, optimizer: torch.optim.Optimizer, real: torch.Tensor, z: torch.Tensor,
                    eps: torch.Tensor) -> tuple[float, float]:
        """One critic step on this rank's rows of the global batch; its shares of the loss and of the Wasserstein
        estimate ``E D(x) - E D(G(z))``."""
        with torch.no_grad():
            fake = self.controller(z[self.rows])
        loss, gap = self.critic_loss(real[self.rows], fake, eps[self.rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item() / self.world, gap.item()

    def controller_loss(self, z: torch.Tensor) -> torch.Tensor:
        """This rank's part of ``-E D(G(z))`` over its rows of the global batch of latents ``z``."""
        return self.controller_term(z[self.rows])
