"""Train many independent GANs of one architecture at once: the same game as :func:`genprior.train.gan.train_gan`
(Goodfellow et al. 2014, Algorithm 1 with k = 1, optionally packed as in PacGAN), vectorised over runs.

Small networks (PacGAN's 2-D MLPs) leave a CPU idle between PyTorch calls: one step of one run is a few dozen
small matrix products. :class:`Stacked` holds ``R`` copies of a module (each its own weights and buffers, stacked on
a leading axis) and evaluates all of them in one call with :func:`torch.func.vmap`, so ``R`` runs cost little more
than one. The runs stay exactly independent: each run's loss depends only on its own weights, so the gradient of the
sum of the runs' losses with respect to run ``r``'s weights is run ``r``'s own gradient, and Adam acts elementwise,
so one Adam over the stacked weights is ``R`` separate Adams.

Each step (:func:`train_gan_ensemble`) draws for every run ``batch_size`` packs of ``packing`` fresh real points
from the run's own sampler and as many generated ones, takes one discriminator step on
``-E log D(x) - E log(1 - D(G(z)))`` and one generator step on the non-saturating (or minimax) loss, with the
losses of :mod:`genprior.train.gan`. The state is saved atomically every ``every`` steps and resumes bit for bit.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from genprior.devices import device_of
from genprior.errors import InvalidValueError, ShapeError, check_seed, unknown
from genprior.progress import progress_bar, write
from genprior.train.gan import GENERATOR_LOSSES, discriminator_loss, generator_loss
from genprior.train.state import (
    check_finite,
    new_run,
    save_training_state,
    start_or_resume,
)


def _key(name: str) -> str:
    """A parameter's dotted name as a key a ``ParameterDict`` accepts."""
    return name.replace(".", ":")


class Stacked(nn.Module):
    """``R`` modules of one architecture as one: their parameters and buffers stacked on a new leading axis.

    ``forward(x)``: ``x`` ``(R, B, ...)`` -> ``(R, ...)`` the outputs of module ``r`` on ``x[r]``; the modules' train
    / eval mode is this module's (batch norm updates each run's own running statistics). ``detached=True`` uses the
    weights without gradient (a player that is not being trained in this step). :meth:`unstack` copies the weights
    back into ``R`` modules of the architecture.
    """

    def __init__(self, modules: Sequence[nn.Module]):
        super().__init__()
        if not modules:
            raise InvalidValueError("Stacked needs at least one module")
        kinds = {tuple((n, tuple(p.shape)) for n, p in m.state_dict().items()) for m in modules}
        if len(kinds) != 1:
            raise ShapeError("Stacked: the modules differ in architecture (parameter names or shapes)")
        self.runs = len(modules)
        params, buffers = stack_module_state(list(modules))
        self.names, self.buffer_names = list(params), list(buffers)
        self.weights = nn.ParameterDict({_key(n): nn.Parameter(p.detach().clone()) for n, p in params.items()})
        for n, b in buffers.items():
            self.register_buffer("buffer:" + _key(n), b.clone())
        self._config = modules[0].config() if hasattr(modules[0], "config") else {}
        self._base = [copy.deepcopy(modules[0]).to("meta")]  # a list: not a submodule, holds no weights

    def config(self) -> dict:
        return {"family": "stacked", "runs": self.runs, "module": self._config}

    def _tensors(self, detached: bool) -> tuple[dict, dict]:
        params = {n: (self.weights[_key(n)].detach() if detached else self.weights[_key(n)]) for n in self.names}
        buffers = {n: getattr(self, "buffer:" + _key(n)) for n in self.buffer_names}
        return params, buffers

    def forward(self, x: torch.Tensor, *, detached: bool = False) -> torch.Tensor:
        if x.shape[0] != self.runs:
            raise ShapeError(f"Stacked: expected inputs for {self.runs} runs on the first axis, got {tuple(x.shape)}")
        base = self._base[0]
        base.train(self.training)

        def one(params: dict, buffers: dict, xi: torch.Tensor) -> torch.Tensor:
            return functional_call(base, (params, buffers), (xi,))

        return vmap(one)(*self._tensors(detached), x)

    @torch.no_grad()
    def unstack(self, modules: Sequence[nn.Module]) -> None:
        """Copy run ``r``'s weights and buffers into ``modules[r]`` (modules of the stacked architecture)."""
        if len(modules) != self.runs:
            raise InvalidValueError(f"unstack: {self.runs} runs, got {len(modules)} modules")
        params, buffers = self._tensors(True)
        for r, m in enumerate(modules):
            m.load_state_dict({**{n: t[r] for n, t in params.items()}, **{n: t[r] for n, t in buffers.items()}})


class StackedPair(nn.Module):
    """Both stacked players in one module, so that one training state holds them."""

    def __init__(self, generators: Stacked, discriminators: Stacked):
        super().__init__()
        self.generators, self.discriminators = generators, discriminators

    def config(self) -> dict:
        return {"family": "stacked-gan-pair", "generators": self.generators.config(),
                "discriminators": self.discriminators.config()}


def train_gan_ensemble(generators: Sequence[nn.Module], discriminators: Sequence[nn.Module],
                       real: Callable[[int, torch.Generator], torch.Tensor], *, steps: int, packing: int = 1,
                       batch_size: int = 100, loss: str = "nonsaturating", lr: float = 1e-4,
                       lr_end: float | None = None, decay_steps: int | None = None,
                       betas: tuple[float, float] = (0.5, 0.999), seed: int = 0, every: int = 1000,
                       out_dir: str | Path | None = None, resume: bool = False, progress: bool = True,
                       command: str | None = None, settings: dict | None = None,
                       monitor: Callable[[Sequence[nn.Module]], dict] | None = None) -> dict:
    """Train ``R = len(generators)`` GANs side by side (module docstring) for ``steps`` steps each.

    ``generators[r]``: ``z (B, latent_dim) -> (B, d)``, all of one architecture; ``discriminators[r]``: ``m B``
    samples -> ``(B,)`` logits (a :class:`~genprior.models.pack.PackedDiscriminator` for ``packing`` m > 1), all of
    one architecture, on one device (where they train; points and latents are drawn on the CPU). Both players use
    Adam at ``lr``, or, with ``lr_end``, at a rate that decays geometrically from ``lr`` at the first step to
    ``lr_end`` at step ``decay_steps`` (default ``steps``; a larger one lets a run be trained in parts).
    ``real(n, rng)`` returns ``(R, n, d)``: ``n`` fresh real points for each run. The trained weights are copied
    back into the given modules (generators left in eval mode). ``every``: steps per recorded epoch (mean losses per
    run, seconds) and per saved state with ``out_dir`` (``state.*``, atomic; ``resume=True`` continues it exactly,
    also to a larger ``steps``). ``settings``: extra entries the run records and a resume must match. ``monitor``: called
    at the end of every epoch with ``generators`` holding the current weights (in eval mode); what it returns is
    recorded in that epoch's history entry under ``"monitor"``. Returns ``info``.
    """
    R = len(generators)
    if R == 0 or len(discriminators) != R:
        raise InvalidValueError(f"train_gan_ensemble: need as many discriminators as generators (>= 1), got "
                                f"{len(discriminators)} and {R}")
    if loss not in GENERATOR_LOSSES:
        raise unknown("generator loss", loss, GENERATOR_LOSSES)
    for name, v in (("steps", steps), ("packing", packing), ("batch_size", batch_size), ("every", every),
                    ("decay_steps", 1 if decay_steps is None else decay_steps)):
        if int(v) != v or v < (0 if name == "steps" else 1):
            kind = "non-negative" if name == "steps" else "positive"
            raise InvalidValueError(f"train_gan_ensemble: {name} must be a {kind} integer, got {v}")
    if not (lr > 0 and (lr_end is None or lr_end > 0)):
        raise InvalidValueError(f"train_gan_ensemble: lr and lr_end must be > 0, got {lr} and {lr_end}")
    seed = check_seed("seed", seed)
    G, D = Stacked(generators), Stacked(discriminators)
    pair = StackedPair(G, D)
    k = generators[0].latent_dim
    device = device_of(generators[0])  # train where the modules live; points and latents are drawn on the CPU
    rng = torch.Generator().manual_seed(seed)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
    optimizers = {"generator": opt_g, "discriminator": opt_d}
    record = {"runs": R, "steps_per_epoch": every, "packing": packing, "batch_size": batch_size, "loss": loss,
              "lr": float(lr), "lr_end": float(lr if lr_end is None else lr_end),
              "decay_steps": int(steps if decay_steps is None else decay_steps) if lr_end is not None else 0,
              "betas": [float(b) for b in betas], "seed": seed, **(settings or {})}
    info = new_run(record, counters={"steps_done": 0}, command=command)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        info = start_or_resume(out / "state", resume=resume, info=info, model=pair, optimizers=optimizers, rng=rng,
                               settings=tuple(record), history_keys=("step", "seconds"))
    n = batch_size * packing
    d_loss_of = vmap(discriminator_loss)
    g_loss_of = vmap(lambda logits: generator_loss(logits, loss))
    bar = progress_bar(total=steps, desc=f"{R} GANs x packing {packing}", enabled=progress)
    bar.update(info["steps_done"])
    pair.train()
    while info["steps_done"] < steps:
        t0 = time.perf_counter()
        end = min(steps, (info["steps_done"] // every + 1) * every)
        d_sum, g_sum, count = torch.zeros(R, device=device), torch.zeros(R, device=device), 0
        while info["steps_done"] < end:
            if lr_end is not None:
                rate = lr * (lr_end / lr) ** min(info["steps_done"] / max(record["decay_steps"] - 1, 1), 1.0)
                for group in (*opt_g.param_groups, *opt_d.param_groups):
                    group["lr"] = rate
            x = real(n, rng)
            if x.shape[:2] != (R, n):
                raise ShapeError(f"train_gan_ensemble: real(n, rng) must return ({R}, {n}, ...), got {tuple(x.shape)}")
            x = x.to(device)
            with torch.no_grad():
                fake = G(torch.randn(R, n, k, generator=rng).to(device))
            d_loss = d_loss_of(D(x), D(fake))
            opt_d.zero_grad(set_to_none=True)
            d_loss.sum().backward()
            opt_d.step()
            g_loss = g_loss_of(D(G(torch.randn(R, n, k, generator=rng).to(device)), detached=True))
            opt_g.zero_grad(set_to_none=True)
            g_loss.sum().backward()
            opt_g.step()
            d_sum += d_loss.detach()
            g_sum += g_loss.detach()
            count += 1
            info["steps_done"] += 1
            bar.update(1)
        info["epoch"] += 1
        check_finite(info["epoch"], out_dir=out, generators=G, discriminators=D)
        entry = {"epoch": info["epoch"], "step": info["steps_done"], "d_loss": (d_sum / count).cpu().tolist(),
                 "g_loss": (g_sum / count).cpu().tolist(), "seconds": time.perf_counter() - t0}
        if monitor is not None:
            G.unstack(generators)
            for g in generators:
                g.eval()
            entry["monitor"] = monitor(generators)
        info["history"].append(entry)
        if out is not None:
            save_training_state(out / "state", model=pair, optimizers=optimizers, rng=rng, info=info)
        if progress:
            write(f"step {info['steps_done']}: D loss {float(d_sum.mean() / count):.3f}  G loss "
                  f"{float(g_sum.mean() / count):.3f} (mean of {R} runs)")
    bar.close()
    G.unstack(generators)
    D.unstack(discriminators)
    for g in generators:
        g.eval()
    return info
