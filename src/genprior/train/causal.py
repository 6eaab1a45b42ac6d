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

from genprior.data.causal_faces import CausalGraph, histogram, joint, reorder, tvd
from genprior.errors import InvalidValueError, check_seed, sub_seed
from genprior.progress import progress_bar, write
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
    With ``out_dir`` the state goes to ``OUT/state.*`` and the controller to ``OUT/controller.*`` after every epoch."""
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
        info = start_or_resume(out / "state", resume=resume, info=info, model=pair, optimizers=optimizers, rng=rng,
                               settings=tuple(settings), history_keys=("step", "tvd", "critic_loss", "wasserstein",
                                                                       "seconds"),
                               outputs=("controller.*",), mend=save_controller)
    n = len(data)
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
                with torch.no_grad():
                    fake = controller(z)
                wasserstein = critic(real).mean() - critic(fake).mean()
                loss = -wasserstein + gp_weight * gradient_penalty(critic, real, fake, eps)
                opt_d.zero_grad(set_to_none=True)
                loss.backward()
                opt_d.step()
                d_sum, w_sum, count = d_sum + loss.item(), w_sum + wasserstein.item(), count + 1
            z = torch.randn(batch_size, controller.latent_dim, generator=rng)
            g_loss = -critic(controller(z)).mean()
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            info["steps_done"] += 1
            bar.update(1)
        epoch = info["epoch"] + 1
        check_finite(epoch, out_dir=out, controller=controller, critic=critic)
        controller.eval()
        distance = controller_tvd(controller, truth, n=tvd_samples, seed=sub_seed(seed, 1))
        info["epoch"] = epoch
        info["history"].append({"epoch": epoch, "step": info["steps_done"], "tvd": distance,
                                "critic_loss": d_sum / max(count, 1), "wasserstein": w_sum / max(count, 1),
                                "seconds": time.perf_counter() - t0})
        if out is not None:
            save_training_state(out / "state", model=pair, optimizers=optimizers, rng=rng, info=info)
            save_controller(info)
        if progress:
            write(f"step {info['steps_done']}: TVD {distance:.4f}  W {w_sum / max(count, 1):.4f}")
    bar.close()
    controller.eval()
    return info
