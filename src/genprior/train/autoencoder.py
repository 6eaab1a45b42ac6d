"""Unsupervised pretraining (deck 001): fit an :class:`~genprior.models.autoencoder.Autoencoder` to unlabelled
images, then learn from a few labels with its encoder: fine-tune an
:class:`~genprior.models.autoencoder.EncoderClassifier` whole (:func:`fit_labelled`) or fit only its head on the
frozen trunk's features (:func:`linear_probe`).

:func:`train_autoencoder` reads top to bottom like :func:`genprior.train.vae.train_vae`: shuffle, step through
mini-batches minimising the reconstruction's binary cross-entropy with Adam, measure it on held-out images,
checkpoint (``out_dir/state.*`` every epoch, atomically, for an exact resume; ``out_dir/model.*`` at the end).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genprior import distributed
from genprior.data.checks import check_image_batch
from genprior.devices import device_of
from genprior.errors import InvalidValueError, ShapeError, check_sizes
from genprior.models.autoencoder import Autoencoder, EncoderClassifier
from genprior.models.checkpoint import save_model
from genprior.progress import progress_bar, write
from genprior.train import parallel
from genprior.train.state import (
    check_finite,
    check_recordable,
    new_run,
    save_training_state,
    start_or_resume,
)


@torch.no_grad()
def mean_reconstruction_loss(model: Autoencoder, images: torch.Tensor, *, batch_size: int = 1000) -> float:
    """Mean binary cross-entropy of the reconstructions (nats per image, summed over pixels) over ``images``
    ``(N, C, H, W)`` in [0, 1], in eval mode on the model's device."""
    model.eval()
    device = device_of(model)
    total = sum(model.reconstruction_loss(images[i:i + batch_size].to(device)).sum().item()
                for i in range(0, len(images), batch_size))
    return total / len(images)


def train_autoencoder(model: Autoencoder, train_images: torch.Tensor, test_images: torch.Tensor, *,
                      out_dir: str | Path, epochs: int = 20, batch_size: int = 100, lr: float = 1e-3, seed: int = 0,
                      resume: bool = False, progress: bool = True, data_info: dict | None = None) -> dict:
    """Fit ``model`` to ``train_images`` ``(N, C, H, W)`` in [0, 1] (no labels) for ``epochs`` epochs of Adam on
    the mean per-image reconstruction loss (:meth:`Autoencoder.reconstruction_loss`, binary cross-entropy summed
    over pixels); ``test_images`` only measure it each epoch.

    Writes ``out_dir/state.*`` every epoch (weights, Adam, the batch-order RNG, the run record: a resumed run
    takes the same steps as an uninterrupted one) and ``out_dir/model.*`` (the final weights) at the end of every
    run, resumed or not. Weights that become NaN or infinite stop the run with ``TrainingDiverged`` before that
    epoch is saved. Trains on ``model``'s device; the shuffling stays on the CPU. Returns the run record ``info``:
    epochs run and the history of train/test losses (nats per image).

    Under torchrun (a process group of N > 1 ranks) the model is wrapped in ``DistributedDataParallel``: every rank
    shuffles alike and takes its contiguous share of each global batch of ``batch_size`` images (which must divide
    by N); DDP averages the gradients, so the steps are one process's up to round-off. Rank 0 alone writes and
    prints; the train loss recorded is over all ranks' images.
    """
    check_sizes("train_autoencoder", epochs=epochs, batch_size=batch_size)
    if out_dir is None:
        raise InvalidValueError("train_autoencoder needs an out_dir: it writes the trained weights there (model.*)")
    if not isinstance(model, Autoencoder):
        raise InvalidValueError(f"train_autoencoder trains an Autoencoder, got {type(model).__name__}")
    check_recordable("train_autoencoder", model=model)
    for what, images in (("train_images", train_images), ("test_images", test_images)):
        check_image_batch(images, owner="train_autoencoder", what=what, shape=model.output_shape)
    if not 0 < lr < math.inf:
        raise InvalidValueError(f"train_autoencoder needs a finite lr > 0, got {lr}")
    world = parallel.ranks_sharing("train_autoencoder", batch_size)
    main = distributed.is_main()
    progress = progress and main
    out_dir = Path(out_dir)
    rng = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    settings = {"seed": seed, "batch_size": batch_size, "lr": lr, "loss": "bce", "data": data_info or {}}
    info = new_run(settings)
    state_path = out_dir / "state"
    info = distributed.run_together(lambda: start_or_resume(
        state_path, resume=resume, info=info, settings=tuple(settings), model=model, optimizers={"adam": opt}, rng=rng,
        history_keys=("train_loss", "test_loss", "seconds"), outputs=("model.*",), write=main))
    n = len(train_images)
    device = device_of(model)
    ddp = parallel.wrap(model, model.reconstruction_loss) if world > 1 else None
    while info["epoch"] < epochs:
        epoch = info["epoch"] + 1
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=rng)
        running = 0.0
        bar = progress_bar(range(0, n, batch_size), desc=f"epoch {epoch}", enabled=progress, leave=False)
        for i in bar:
            if ddp is None:
                x = train_images[perm[i:i + batch_size]].to(device)
                loss = model.reconstruction_loss(x).mean()
            else:  # this rank's share of the global batch; DDP averages the gradients over the ranks
                batch = perm[i:i + batch_size]
                x = train_images[batch[distributed.shard(len(batch))]].to(device)
                loss = ddp(x).sum() * (world / len(batch))  # the global batch's mean after averaging
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += loss.item() * len(x) if ddp is None else loss.item() * len(batch) / world
            bar.set_postfix(bce=f"{loss.item():.1f}")
        if ddp is not None:
            running = distributed.sum_over_ranks(running)[0]
        check_finite(epoch, out_dir=out_dir, autoencoder=model)  # a diverged run stops with its last good state
        test_loss = mean_reconstruction_loss(model, test_images)
        info["history"].append({"epoch": epoch, "train_loss": running / n, "test_loss": test_loss,
                                "seconds": time.perf_counter() - t0})
        info["epoch"] = epoch
        if main:  # the others wait at the barrier
            save_training_state(state_path, model=model, optimizers={"adam": opt}, rng=rng, info=info)
        distributed.barrier()
        if progress:
            write(f"epoch {epoch}: train BCE {running / n:.2f}  test BCE {test_loss:.2f} nats/image  "
                  f"({info['history'][-1]['seconds']:.1f}s)")
    model.eval()
    if info["history"] and main:
        last = info["history"][-1]
        keep = {k: v for k, v in info.items() if k not in ("epoch", "history")}
        save_model(out_dir / "model", model, **keep, epochs=info["epoch"], train_loss=last["train_loss"],
                   test_loss=last["test_loss"], seconds=sum(h["seconds"] for h in info["history"]))
    distributed.barrier()
    return info


def _check_labelled(owner: str, inputs: torch.Tensor, labels: torch.Tensor, what: str) -> None:
    """``inputs`` ``(N, ...)`` finite floats and ``labels`` ``(N,)`` class indices >= 0, else a one-line error."""
    if not (torch.is_tensor(inputs) and inputs.is_floating_point() and inputs.dim() >= 2 and len(inputs)):
        got = tuple(inputs.shape) if torch.is_tensor(inputs) else type(inputs).__name__
        raise ShapeError(f"{owner}: {what} inputs must be a non-empty float batch (N, ...), got {got}")
    if not bool(torch.isfinite(inputs).all()):
        raise InvalidValueError(f"{owner}: {what} inputs hold NaN or infinite values")
    if not (torch.is_tensor(labels) and labels.dtype == torch.int64 and tuple(labels.shape) == (len(inputs),)):
        got = f"{tuple(labels.shape)} {labels.dtype}" if torch.is_tensor(labels) else type(labels).__name__
        raise ShapeError(f"{owner}: {what} labels must be int64 class indices of shape ({len(inputs)},), got {got}")
    if bool((labels < 0).any()):
        raise InvalidValueError(f"{owner}: {what} labels must be class indices >= 0, got {int(labels.min())}")


@torch.no_grad()
def _accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 1000) -> float:
    model.eval()
    device = device_of(model)
    correct = sum((model(inputs[i:i + batch_size].to(device)).argmax(1).cpu() == labels[i:i + batch_size]).sum().item()
                  for i in range(0, len(inputs), batch_size))
    return correct / len(inputs)


def fit_labelled(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, *, steps: int = 200,
                 lr: float = 1e-3, weight_decay: float = 0.0, batch_size: int = 100, seed: int = 0,
                 validation: tuple[torch.Tensor, torch.Tensor] | None = None, check_at: Sequence[int] = ()) -> dict:
    """Fit ``model`` (inputs ``(N, ...)`` -> logits ``(N, K)``) to ``labels`` ``(N,)`` by cross-entropy: ``steps``
    AdamW steps (decoupled ``weight_decay``) on the parameters that require gradients (frozen ones stay as they
    are), in memory. Batches of ``batch_size`` rows, reshuffled each pass from ``seed``; the whole set each step
    when ``N <= batch_size``.

    ``validation`` ``(inputs, labels)`` with ``check_at`` (steps in 1..``steps``): the validation accuracy after
    each of those steps, for choosing the number of steps. Returns ``{"steps", "train_loss" (the last step's),
    "validation": [{"step", "accuracy"}]}``; the model is left in eval mode.
    """
    check_sizes("fit_labelled", steps=steps, batch_size=batch_size)
    _check_labelled("fit_labelled", inputs, labels, "training")
    if not (0 < lr < math.inf and 0 <= weight_decay < math.inf):
        raise InvalidValueError(f"fit_labelled needs a finite lr > 0 and weight_decay >= 0, got lr={lr}, "
                                f"weight_decay={weight_decay}")
    check_at = sorted({int(s) for s in check_at})
    if check_at and (validation is None or check_at[0] < 1 or check_at[-1] > steps):
        raise InvalidValueError(f"fit_labelled: check_at needs validation data and steps in 1..{steps}, got {check_at}")
    if validation is not None:
        _check_labelled("fit_labelled", *validation, "validation")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InvalidValueError("fit_labelled: the model has no trainable parameters (all are frozen)")
    rng = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    device = device_of(model)
    n = len(inputs)
    order, at = torch.randperm(n, generator=rng), 0
    checks = []
    loss = torch.tensor(math.nan)
    for step in range(1, steps + 1):
        if n <= batch_size:
            idx = order
        else:
            if at + batch_size > n:  # a new pass over the data: a fresh order
                order, at = torch.randperm(n, generator=rng), 0
            idx, at = order[at:at + batch_size], at + batch_size
        model.train()
        loss = F.cross_entropy(model(inputs[idx].to(device)), labels[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step in check_at:
            checks.append({"step": step, "accuracy": _accuracy(model, *validation)})
    model.eval()
    return {"steps": steps, "train_loss": loss.item(), "validation": checks}


@torch.no_grad()
def encoder_features(model: EncoderClassifier, images: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """The trunk's features ``(N, d)`` of ``images`` ``(N, C, H, W)`` in [0, 1] (:meth:`EncoderClassifier.features`),
    in eval mode, returned on the images' device."""
    check_image_batch(images, owner="encoder_features", shape=model.input_shape)
    model.eval()
    device = device_of(model)
    return torch.cat([model.features(images[i:i + batch_size].to(device)).to(images.device)
                      for i in range(0, len(images), batch_size)])


def linear_probe(model: EncoderClassifier, images: torch.Tensor, labels: torch.Tensor, *,
                 validation: tuple[torch.Tensor, torch.Tensor] | None = None, **options) -> dict:
    """Logistic regression on frozen features: freeze ``model``'s trunk (``requires_grad`` off; its weights are
    never changed), compute its features of ``images`` ``(N, C, H, W)`` in [0, 1] once, and fit only
    ``model.head`` to ``labels`` with :func:`fit_labelled` (``options``: its ``steps``, ``lr``, ``weight_decay``,
    ``batch_size``, ``seed``, ``check_at``). ``validation``: ``(images, labels)``, mapped to features the same way.
    Returns :func:`fit_labelled`'s dict."""
    if not isinstance(model, EncoderClassifier):
        raise InvalidValueError(f"linear_probe needs an EncoderClassifier, got {type(model).__name__}")
    check_image_batch(images, owner="linear_probe", shape=model.input_shape)
    if validation is not None:
        check_image_batch(validation[0], owner="linear_probe", what="validation images", shape=model.input_shape)
    for p in model.trunk_parameters():
        p.requires_grad_(False)
    features = encoder_features(model, images)
    held_out = None if validation is None else (encoder_features(model, validation[0]), validation[1])
    return fit_labelled(model.head, features, labels, validation=held_out, **options)
