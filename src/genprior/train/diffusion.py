"""Train a denoising diffusion model (DDPM, Ho et al. 2020) on images in [0, 1], with an EMA of its weights.

One step: a mini-batch of images ``x0``, a step ``t ~ U{0, T - 1}`` and noise ``eps ~ N(0, I)`` per image, the loss
``L_simple = mean ||eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t)||^2`` (Ho et al., Eq. 14), one Adam
step (learning rate warmed up linearly over the first ``warmup`` steps, gradients clipped to norm 1), then the
exponential moving average ``ema <- decay * ema + (1 - decay) * weights`` (with the usual warm-up
``decay_n = min(decay, (1 + n) / (10 + n))``). The EMA weights are the model that is saved and sampled.

An "epoch" here is ``steps_per_epoch`` steps (the training is counted in steps: ``steps`` in all). After each, the
state (weights, EMA, Adam, the random stream) is written atomically to ``out_dir/state.*`` for ``--resume``, which
continues bit for bit; then ``out_dir/model.*`` (the EMA weights as a zoo-style model) and a sample grid
``samples_epochNNN.png`` (DDIM, 50 steps, a fixed seed). The held-out loss (the same ``t`` and ``eps`` for the same
test images every epoch) is recorded with the training loss.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from genprior.data.checks import check_image_batch
from genprior.devices import device_of
from genprior.errors import InvalidValueError, check_sizes, sub_seed
from genprior.models.checkpoint import save_model
from genprior.models.diffusion import Diffusion
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


@torch.no_grad()
def held_out_loss(model: Diffusion, images: torch.Tensor, *, seed: int = 0, batch_size: int = 500) -> float:
    """Mean ``L_simple`` over ``images`` with steps and noise drawn from ``seed`` (the same draw every call)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, model.num_steps, (len(images),), generator=g)
    eps = torch.randn(images.shape, generator=g, dtype=images.dtype)
    device = device_of(model)
    total = 0.0
    for i in range(0, len(images), batch_size):
        total += model.loss(images[i:i + batch_size].to(device), t[i:i + batch_size].to(device),
                            eps[i:i + batch_size].to(device)).sum().item()
    return total / len(images)


def train_diffusion(model: Diffusion, train_images: torch.Tensor, test_images: torch.Tensor, *,
                    out_dir: str | Path, steps: int = 20_000, steps_per_epoch: int = 500, batch_size: int = 128,
                    lr: float = 5e-4, warmup: int = 500, ema_decay: float = 0.999, seed: int = 0,
                    resume: bool = False, progress: bool = True, samples_every: int = 1, data_info: dict | None = None,
                    command: str | None = None) -> dict:
    """Fit ``model`` (a :class:`Diffusion`) to ``train_images`` ``(N, C, H, W)`` in [0, 1] for ``steps`` steps and
    write ``out_dir/state.*``, ``out_dir/model.*`` (EMA weights) and sample grids every ``samples_every`` epochs
    and after the last (0: none; see the module docstring).
    ``test_images``: the held-out loss, up to its first 1,000. After training ``model`` holds the EMA weights.
    Returns ``info`` (steps done, per epoch the mean training loss, the held-out loss of the EMA model, seconds).
    """
    check_sizes("train_diffusion", steps=steps, steps_per_epoch=steps_per_epoch, batch_size=batch_size)
    if out_dir is None:
        raise InvalidValueError("train_diffusion needs an out_dir: it writes the EMA model there (model.*)")
    if not isinstance(model, Diffusion):
        raise InvalidValueError(f"train_diffusion trains a genprior Diffusion model, got {type(model).__name__}")
    check_recordable("train_diffusion", model=model)
    for what, images in (("train_images", train_images), ("test_images", test_images)):
        check_image_batch(images, owner="train_diffusion", what=what, shape=model.image_shape)
    if not (0 < lr < math.inf and 0 <= ema_decay < 1 and warmup >= 0):
        raise InvalidValueError(f"train_diffusion needs lr > 0, ema_decay in [0, 1) and warmup >= 0, got lr={lr}, "
                                f"ema_decay={ema_decay}, warmup={warmup}")
    if len(train_images) < batch_size:
        raise InvalidValueError(f"need at least batch_size = {batch_size} training images, got {len(train_images)}")
    out = Path(out_dir)
    rng = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    settings = {"seed": seed, "batch_size": batch_size, "lr": lr, "warmup": warmup, "ema_decay": ema_decay,
                "steps_per_epoch": steps_per_epoch, "data": data_info or {}}
    info = new_run(settings, counters={"steps_done": 0}, command=command)
    info = start_or_resume(out / "state", resume=resume, info=info, settings=tuple(settings), model=model,
                           optimizers={"adam": opt}, rng=rng, extra=ema, history_keys=("train_loss", "test_loss",
                                                                                       "seconds"),
                           outputs=("model.*",), mend=lambda saved: _save_ema(out, model, ema, saved))
    device = device_of(model)
    held_out = test_images[:1000]
    fixed = torch.Generator().manual_seed(sub_seed(seed, 1))
    n = len(train_images)
    while info["steps_done"] < steps:
        epoch = info["epoch"] + 1
        todo = min(steps_per_epoch, steps - info["steps_done"])
        # every epoch starts a fresh permutation, so a resume (the stream saved at an epoch's end) continues exactly
        perm, cursor = torch.randperm(n, generator=rng), 0
        model.train()
        t0 = time.perf_counter()
        running = 0.0
        bar = progress_bar(range(todo), desc=f"epoch {epoch}", enabled=progress, leave=False)
        for _ in bar:
            if cursor + batch_size > n:  # a fresh permutation when this one runs out (the tail is dropped)
                perm, cursor = torch.randperm(n, generator=rng), 0
            x0 = train_images[perm[cursor:cursor + batch_size]].to(device)
            cursor += batch_size
            t = torch.randint(0, model.num_steps, (batch_size,), generator=rng).to(device)
            eps = torch.randn(x0.shape, generator=rng, dtype=x0.dtype).to(device)
            loss = model.loss(x0, t, eps).mean()
            for group in opt.param_groups:  # linear warm-up of the learning rate
                group["lr"] = lr * min(1.0, (info["steps_done"] + 1) / max(warmup, 1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            info["steps_done"] += 1
            decay = min(ema_decay, (1 + info["steps_done"]) / (10 + info["steps_done"]))
            with torch.no_grad():
                for k, v in model.state_dict().items():
                    if v.is_floating_point():
                        ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
                    else:
                        ema[k].copy_(v)
            running += loss.item()
            bar.set_postfix(loss=f"{loss.item():.4f}")
        check_finite(epoch, out_dir=out, diffusion=model)
        # the held-out loss of the EMA model (the one saved), then back to the training weights
        current = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(ema)
        model.eval()
        test_loss = held_out_loss(model, held_out, seed=sub_seed(seed, 2))
        model.load_state_dict(current)
        info["epoch"] = epoch
        info["history"].append({"epoch": epoch, "train_loss": running / todo, "test_loss": test_loss,
                                "seconds": time.perf_counter() - t0})
        save_training_state(out / "state", model=model, optimizers={"adam": opt}, rng=rng, info=info, extra=ema)
        _save_ema(out, model, ema, info)
        if samples_due(epoch, samples_every, math.ceil(steps / steps_per_epoch)):
            model.load_state_dict(ema)
            save_tiled(out / f"samples_epoch{epoch:03d}.png",
                       model.eval().sample(64, steps=50, generator=fixed.manual_seed(sub_seed(seed, 1))))
            model.load_state_dict(current)
        if progress:
            h = info["history"][-1]
            write(f"epoch {epoch} (step {info['steps_done']}): train loss {h['train_loss']:.4f}  "
                  f"held-out loss (EMA) {h['test_loss']:.4f}  ({h['seconds']:.1f}s)")
    model.load_state_dict(ema)
    model.eval()
    return info


def _save_ema(out: Path, model: Diffusion, ema: dict, info: dict) -> None:
    """``out/model.*``: the EMA weights with the run's summary (the training weights are put back)."""
    current = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(ema)
    save_model(out / "model", model, **summary(info))
    model.load_state_dict(current)


def summary(info: dict) -> dict:
    """What the saved model's JSON config records about its training."""
    last = info["history"][-1] if info["history"] else {}
    return {"data": info["data"], "steps": info["steps_done"], "epochs": info["epoch"],
            "test_loss": last.get("test_loss"), "batch_size": info["batch_size"], "lr": info["lr"],
            "ema_decay": info["ema_decay"], "seed": info["seed"], "command": info["command"],
            "resumed_with": info.get("resumed_with", []),
            "train_seconds": sum(h["seconds"] for h in info["history"])}
