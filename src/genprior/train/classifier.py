"""Train an image classifier with cross-entropy and Adam; the same loop serves the robustness defenses.

The loop reads top to bottom: shuffle, step through mini-batches (optionally replacing each batch by
adversarial examples, or fitting soft labels at a temperature), measure test accuracy, checkpoint.
``out_dir/state.*`` is written atomically every epoch for ``resume``; ``out_dir/model.*`` holds the final weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genprior import distributed
from genprior.data.checks import check_image_batch
from genprior.devices import device_of
from genprior.errors import InvalidValueError, ShapeError
from genprior.models.checkpoint import save_model
from genprior.models.classifier import Classifier
from genprior.progress import progress_bar, write
from genprior.train import parallel
from genprior.train.state import (
    check_finite,
    check_recordable,
    new_run,
    save_training_state,
    start_or_resume,
)

Perturb = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """Logits ``(N, num_classes)`` for ``images`` ``(N, C, H, W)`` in [0, 1], in eval mode, computed on the
    model's device and returned on the images'."""
    model.eval()
    device = device_of(model)
    return torch.cat([model(images[i:i + batch_size].to(device)).to(images.device)
                      for i in range(0, len(images), batch_size)])


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 1000) -> float:
    """Fraction of ``images`` whose arg-max logit equals ``labels``."""
    return (predict(model, images, batch_size=batch_size).argmax(1) == labels).float().mean().item()


def train_classifier(model: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor,
                     test_images: torch.Tensor, test_labels: torch.Tensor, *, out_dir: str | Path | None,
                     epochs: int = 6, batch_size: int = 128, lr: float = 1e-3, seed: int = 0, resume: bool = False,
                     progress: bool = True, soft_targets: torch.Tensor | None = None, temperature: float = 1.0,
                     perturb: Perturb | None = None, data_info: dict | None = None, extra_info: dict | None = None) -> dict:
    """Fit ``model`` (logits out) to ``train_labels`` ``(N,)`` with Adam; returns the ``info`` dict.

    ``out_dir=None`` trains in memory only (no checkpoints, no resume); with an ``out_dir`` the model must have a
    ``config()`` (else ``InvalidValueError`` before any work). Trains on ``model``'s device (each batch is moved
    there; the shuffling stays on the CPU). Weights that become NaN or infinite stop the run with
    ``TrainingDiverged`` (an ``InvalidValueError`` naming the epoch) before that epoch is saved.

    ``soft_targets`` ``(N, K)``: probabilities to fit instead of the labels, with the logits divided by
    ``temperature`` (defensive distillation). ``perturb(model, x, y)``: returns the batch to train on
    (adversarial training; called in eval mode, its output must stay in [0, 1]).

    Under torchrun (a process group of N > 1 ranks) the model is wrapped in ``DistributedDataParallel``: every rank
    shuffles alike, takes its contiguous share of each global batch of ``batch_size`` images (which must divide by
    N) and DDP averages the gradients, so the steps are one process's up to round-off (the dropout mask of a
    :class:`~genprior.models.classifier.Classifier` is drawn for the global batch, as one process draws it on the
    CPU; other models' random layers draw for each rank's share); rank 0 alone writes and
    prints, and the losses and accuracies recorded are over all ranks' images. ``perturb`` (adversarial training)
    is refused there: its random starts are drawn per batch, so a rank's share would not be one process's.
    """
    for what, images in (("train_images", train_images), ("test_images", test_images)):
        check_image_batch(images, owner="train_classifier", what=what)
    if len(train_images) != len(train_labels):
        raise ShapeError(f"{len(train_images)} training images but {len(train_labels)} labels")
    if soft_targets is not None and soft_targets.shape[0] != len(train_images):
        raise ShapeError(f"soft_targets has {soft_targets.shape[0]} rows for {len(train_images)} images")
    if temperature <= 0 or epochs < 1 or batch_size < 1 or lr <= 0:
        raise InvalidValueError("temperature, epochs, batch_size and lr must be positive")
    if out_dir is not None:
        check_recordable("train_classifier", model=model)
    world = parallel.ranks_sharing("train_classifier", batch_size)
    if world > 1 and perturb is not None:
        raise InvalidValueError("adversarial training (--adv-eps) does not run under torchrun yet: run it as one "
                                "process")
    main = distributed.is_main()
    progress = progress and main
    rng = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    settings = {"seed": seed, "batch_size": batch_size, "lr": lr, "temperature": temperature, "data": data_info or {},
                **(extra_info or {})}
    info = new_run(settings)
    state_path = Path(out_dir) / "state" if out_dir is not None else None
    if state_path is not None:
        info = distributed.run_together(lambda: start_or_resume(
            state_path, resume=resume, info=info, settings=tuple(settings), model=model, optimizers={"adam": opt},
            rng=rng, history_keys=("train_loss", "train_accuracy", "test_accuracy", "seconds"), outputs=("model.*",),
            write=main))
    n = len(train_images)
    device = device_of(model)

    # the dropout mask of our Classifier is drawn for the global batch, as one process draws it, and shared out
    shares_noise = isinstance(model, Classifier)

    def terms(x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
              noise: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-image losses ``(b,)`` of a batch and its logits (what DDP wraps)."""
        logits = model(x) if noise is None else model(x, noise)
        if targets is None:
            return F.cross_entropy(logits, y, reduction="none"), logits
        return -(targets * F.log_softmax(logits / temperature, 1)).sum(1), logits

    ddp = parallel.wrap(model, terms) if world > 1 else None
    while info["epoch"] < epochs:
        epoch = info["epoch"] + 1
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=rng)
        running, correct = 0.0, 0
        bar = progress_bar(range(0, n, batch_size), desc=f"epoch {epoch}", enabled=progress, leave=False)
        for i in bar:
            idx = perm[i:i + batch_size]
            size = len(idx)
            if ddp is not None:  # this rank's share of the global batch (and of its dropout mask)
                part = distributed.shard(size)
                noise = model.dropout_noise(size) if shares_noise else None
                noise = None if noise is None else noise[part].to(device)
                idx = idx[part]
            x, y = train_images[idx].to(device), train_labels[idx].to(device)
            if perturb is not None:
                model.eval()
                x = perturb(model, x, y).detach()
            model.train()
            if ddp is None:
                logits = model(x)
                if soft_targets is None:
                    loss = F.cross_entropy(logits, y)
                else:
                    loss = -(soft_targets[idx].to(device) * F.log_softmax(logits / temperature, 1)).sum(1).mean()
            else:  # the global batch's mean after DDP averages the gradients over the ranks
                per_image, logits = ddp(x, y, None if soft_targets is None else soft_targets[idx].to(device), noise)
                loss = per_image.sum() * (world / size)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += loss.item() * len(x) if ddp is None else loss.item() * size / world
            correct += (logits.argmax(1) == y).sum().item()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if ddp is not None:  # every rank's share of the epoch's loss and hits
            running, correct = distributed.sum_over_ranks(running, correct)
        check_finite(epoch, out_dir=out_dir, classifier=model)  # a diverged run stops with its last good state
        test_acc = accuracy(model, test_images, test_labels)
        info["history"].append({"epoch": epoch, "train_loss": running / n, "train_accuracy": correct / n,
                                "test_accuracy": test_acc, "seconds": time.perf_counter() - t0})
        info["epoch"] = epoch
        if state_path is not None and main:  # the others wait at the barrier
            save_training_state(state_path, model=model, optimizers={"adam": opt}, rng=rng, info=info)
        distributed.barrier()
        if progress:
            write(f"epoch {epoch}: train loss {running / n:.4f}  test accuracy {test_acc:.4f}  "
                  f"({info['history'][-1]['seconds']:.1f}s)")
    model.eval()
    if out_dir is not None and main:
        save_model(Path(out_dir) / "model", model, **summary(info))
    distributed.barrier()
    return info


def summary(info: dict) -> dict:
    """The config entries recorded beside a trained classifier's weights."""
    last = info["history"][-1]
    keep = {k: v for k, v in info.items() if k not in ("epoch", "history")}
    return {**keep, "epochs": info["epoch"], "test_accuracy": last["test_accuracy"],
            "train_accuracy": last["train_accuracy"], "seconds": sum(h["seconds"] for h in info["history"])}
