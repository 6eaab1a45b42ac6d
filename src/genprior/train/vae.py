"""Train a VAE on images in [0, 1] by maximising the ELBO (Kingma & Welling 2014), with early stopping.

The loop reads top to bottom: shuffle, step through mini-batches, evaluate the test ELBO, checkpoint,
stop when the test ELBO has not improved for ``patience`` epochs. The best epoch's weights are kept.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import torch

from genprior import distributed
from genprior.data.checks import check_image_batch
from genprior.devices import device_of
from genprior.errors import InvalidValueError, check_sizes
from genprior.models.checkpoint import save_model
from genprior.models.generator import dtype_of
from genprior.models.vae import VAE
from genprior.progress import progress_bar, write
from genprior.train.state import (
    check_finite,
    check_recordable,
    new_run,
    save_training_state,
    start_or_resume,
)


@torch.no_grad()
def mean_negative_elbo(model: VAE, images: torch.Tensor, *, batch_size: int = 1000, seed: int = 0,
                       beta: float = 1.0) -> float:
    """Mean negative ELBO (nats per image) over ``images`` ``(N, C, H, W)``, one posterior sample each (on the
    model's device); with ``beta``, the beta-VAE loss (KL weighed by ``beta``) instead."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    device = device_of(model)
    total = 0.0
    for i in range(0, len(images), batch_size):
        total += model.negative_elbo(images[i:i + batch_size].to(device), generator=g, beta=beta).sum().item()
    return total / len(images)


def train_vae(model: VAE, train_images: torch.Tensor, test_images: torch.Tensor, *, out_dir: str | Path,
              max_epochs: int = 200, patience: int = 5, min_delta: float = 0.0, batch_size: int = 100, lr: float = 1e-3,
              seed: int = 0, resume: bool = False, progress: bool = True, data_info: dict | None = None,
              beta: float = 1.0) -> dict:
    """Fit ``model`` and write ``out_dir/state.*`` (every epoch, for resuming; it holds the best epoch's weights
    too) and ``out_dir/model.*`` (best: after the state whenever an epoch is the best so far, and from the state's
    best weights at the end of every run, resumed or not, so a kill between the two writes is mended by resuming).

    Training stops after ``patience`` epochs in which the test negative ELBO did not fall by more than
    ``min_delta`` nats below the best value at the last such improvement; the best epoch's weights are kept.
    With ``beta`` != 1 the loss is the beta-VAE's (Higgins et al., ICLR 2017, Eq. 4: the KL weighed by ``beta``), and
    "-ELBO" below means that loss, on which the early stopping works too.
    Weights that become NaN or infinite stop the run with ``TrainingDiverged`` (an ``InvalidValueError`` naming the
    epoch) before that epoch is saved.

    Trains on ``model``'s device (batches are moved there; the random streams stay on the CPU, so a seed gives
    the same batches and noise on every device). Under torchrun (a process group of N > 1 ranks,
    :mod:`genprior.distributed`) the model is wrapped in ``DistributedDataParallel``: every rank draws the same
    batches and noise, takes its contiguous share of each global batch of ``batch_size`` images (which must divide
    by N) and its rows of the batch's noise, so the steps are one process's up to round-off; rank 0 alone writes
    and prints, and the losses recorded are global means. Returns the final ``info`` dict: epochs run, best epoch,
    train/test negative ELBO history.
    """
    check_sizes("train_vae", max_epochs=max_epochs, patience=patience, batch_size=batch_size)
    if out_dir is None:
        raise InvalidValueError("train_vae needs an out_dir: it keeps the best epoch's weights there (model.*)")
    check_recordable("train_vae", model=model)
    shape = tuple(getattr(model, "output_shape", train_images.shape[1:]))
    for what, images in (("train_images", train_images), ("test_images", test_images)):
        check_image_batch(images, owner="train_vae", what=what, shape=shape)
    if not 0 < beta < math.inf:
        raise InvalidValueError(f"train_vae needs a finite beta > 0, got {beta}")
    if not (0 < lr < math.inf and 0 <= min_delta < math.inf):
        raise InvalidValueError(f"train_vae needs a finite lr > 0 and min_delta >= 0, got lr={lr}, min_delta={min_delta}")
    world = distributed.world_size() if distributed.active() else 1
    if batch_size % world:
        raise InvalidValueError(f"train_vae: the global batch size {batch_size} must divide by the {world} processes "
                                "(each takes an equal share of every batch)")
    main = distributed.is_main()
    progress = progress and main
    out_dir = Path(out_dir)
    rng = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    settings = {"seed": seed, "batch_size": batch_size, "lr": lr, "min_delta": min_delta, "data": data_info or {}}
    if beta != 1:  # recorded (and a resume must repeat it) only for a beta-VAE: the ELBO runs' states stay as they were
        settings["beta"] = float(beta)
    info = new_run(settings, counters={"best_epoch": 0, "best_test_nelbo": math.inf, "improved_epoch": 0,
                                       "improved_nelbo": math.inf})
    state_path = out_dir / "state"
    best_state = copy.deepcopy(model.state_dict())  # the state keeps the best epoch's weights beside the current ones
    info = distributed.run_together(lambda: start_or_resume(
        state_path, resume=resume, info=info, settings=tuple(settings), model=model, optimizers={"adam": opt}, rng=rng,
        extra=best_state, epoch_fields=("best_epoch", "improved_epoch"),
        history_keys=("train_nelbo", "test_nelbo", "seconds"), outputs=("model.*",), write=main))
    n = len(train_images)
    device = device_of(model)
    ddp = distributed.data_parallel(_NegativeElbo(model, beta)) if world > 1 else None
    while info["epoch"] < max_epochs and info["epoch"] - info["improved_epoch"] < patience:
        epoch = info["epoch"] + 1
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=rng)
        running = 0.0
        bar = progress_bar(range(0, n, batch_size), desc=f"epoch {epoch}", enabled=progress, leave=False)
        for i in bar:
            if ddp is None:
                x = train_images[perm[i:i + batch_size]].to(device)
                loss = model.negative_elbo(x, generator=rng, beta=beta).mean()
            else:  # this rank's share of the global batch and of its noise; DDP averages the gradients over ranks
                batch = perm[i:i + batch_size]
                eps = torch.randn((len(batch), model.latent_dim), generator=rng, dtype=dtype_of(model))
                part = distributed.shard(len(batch))
                x = train_images[batch[part]].to(device)
                loss = ddp(x, eps[part]).sum() * (world / len(batch))  # the global batch's mean after averaging
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += loss.item() * len(x) if ddp is None else loss.item() * len(batch) / world
            bar.set_postfix(nelbo=f"{loss.item():.1f}")
        check_finite(epoch, out_dir=out_dir, VAE=model)  # a diverged run stops with its last good state
        train_nelbo = distributed.sum_over_ranks(running)[0] / n if ddp is not None else running / n
        test_nelbo = mean_negative_elbo(model, test_images, beta=beta)
        info["history"].append({"epoch": epoch, "train_nelbo": train_nelbo, "test_nelbo": test_nelbo,
                                "seconds": time.perf_counter() - t0})
        info["epoch"] = epoch
        if test_nelbo < info["improved_nelbo"] - min_delta:
            info["improved_epoch"], info["improved_nelbo"] = epoch, test_nelbo
        if test_nelbo < info["best_test_nelbo"]:
            info["best_test_nelbo"], info["best_epoch"] = test_nelbo, epoch
            best_state = copy.deepcopy(model.state_dict())
        if main:  # the others wait at the barrier: a checkpoint on disk is every rank's
            save_training_state(state_path, model=model, optimizers={"adam": opt}, rng=rng, info=info,
                                extra=best_state)
            if info["best_epoch"] == epoch:
                save_model(out_dir / "model", model, **_summary(info))
        distributed.barrier()
        if progress:
            write(f"epoch {epoch}: train -ELBO {train_nelbo:.2f}  test -ELBO {test_nelbo:.2f}  "
                  f"({info['history'][-1]['seconds']:.1f}s){'  *best' if info['best_epoch'] == epoch else ''}")
    model.load_state_dict(best_state)
    if info["best_epoch"] and main:
        save_model(out_dir / "model", model, **_summary(info))
    distributed.barrier()
    return info


class _NegativeElbo(torch.nn.Module):
    """``model.negative_elbo(x, eps=eps)`` as a module's forward: what ``DistributedDataParallel`` wraps."""

    def __init__(self, model: VAE, beta: float = 1.0):
        super().__init__()
        self.model, self.beta = model, beta

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return self.model.negative_elbo(x, eps=eps, beta=self.beta)


def _summary(info: dict) -> dict:
    best = info["history"][info["best_epoch"] - 1]
    return {"data": info["data"], "epochs_trained": info["epoch"], "best_epoch": info["best_epoch"],
            "train_elbo": -best["train_nelbo"], "test_elbo": -best["test_nelbo"], "batch_size": info["batch_size"],
            "lr": info["lr"], "seed": info["seed"], "command": info["command"], "resumed_with": info["resumed_with"],
            **({"beta": info["beta"]} if "beta" in info else {})}
