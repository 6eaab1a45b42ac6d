"""Training state on disk: model, optimizer and RNG in one safetensors file plus a JSON sidecar.

Written atomically every epoch so an interrupted run resumes (``--resume``) exactly where it stopped.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from genprior.errors import CheckpointError
from genprior.io import load_tensors, read_json, save_tensors, write_json


def save_training_state(path: str | Path, *, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                        rng: torch.Generator, info: dict) -> None:
    """Save ``model``, each optimizer and ``rng`` to ``path.safetensors``; ``info`` (epoch, history...) to ``path.json``."""
    path = Path(path)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors["rng.state"] = rng.get_state()
    opt_meta = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars = {}
        for pid, st in sd["state"].items():
            for key, val in st.items():
                if torch.is_tensor(val):
                    tensors[f"optim.{name}.{pid}.{key}"] = val
                else:
                    scalars[f"{pid}.{key}"] = val
        opt_meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
    # weights first, sidecar last: a sidecar always describes a complete weights file
    save_tensors(path.with_suffix(".safetensors"), tensors)
    write_json(path.with_suffix(".json"), {"architecture": model.config(), "optimizers": opt_meta, **info})


def save_gan_epoch(out: Path, *, pair: nn.Module, optimizers: dict[str, torch.optim.Optimizer], rng: torch.Generator,
                   info: dict, generator: nn.Module, config: dict) -> None:
    """A GAN trainer's end of epoch in ``out``: the training state (``state.*``), then the generator alone as a
    zoo-style model (``generator.*``) whose config records ``config``."""
    from genprior.models.checkpoint import save_model

    save_training_state(out / "state", model=pair, optimizers=optimizers, rng=rng, info=info)
    save_model(out / "generator", generator, **config)


def samples_due(epoch: int, every: int, epochs: int) -> bool:
    """Whether epoch ``epoch`` (1-based) of ``epochs`` writes a samples grid: every ``every`` epochs and the last
    (``every = 0``: never)."""
    return bool(every) and (epoch % every == 0 or epoch == epochs)


def load_training_state(path: str | Path, *, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                        rng: torch.Generator) -> dict:
    """Restore what ``save_training_state`` wrote into the given objects; returns the ``info`` dict."""
    path = Path(path)
    meta = read_json(path.with_suffix(".json"))
    tensors = load_tensors(path.with_suffix(".safetensors"))
    if meta.get("architecture") != model.config():
        raise CheckpointError(f"{path}.json was written for a different architecture: {meta.get('architecture')}")
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        rng.set_state(tensors["rng.state"])
        for name, opt in optimizers.items():
            m = meta["optimizers"][name]
            state: dict[int, dict] = {}
            for k, v in tensors.items():
                if k.startswith(f"optim.{name}."):
                    pid, key = k[len(f"optim.{name}."):].split(".", 1)
                    state.setdefault(int(pid), {})[key] = v
            for k, v in m["scalars"].items():
                pid, key = k.split(".", 1)
                state.setdefault(int(pid), {})[key] = v
            opt.load_state_dict({"state": state, "param_groups": m["param_groups"]})
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"training state {path} is incomplete or corrupt ({e})") from None
    return {k: v for k, v in meta.items() if k not in ("architecture", "optimizers")}


def start_or_resume(path: str | Path, *, resume: bool, info: dict, settings: tuple[str, ...], model: nn.Module,
                    optimizers: dict[str, torch.optim.Optimizer], rng: torch.Generator) -> dict:
    """The ``info`` a training loop starts from: its fresh ``info`` when ``path.*`` holds no state, else (with
    ``resume``) the state saved there, loaded into ``model``, ``optimizers`` and ``rng``.

    Nothing is overwritten by mistake and nothing is resumed under other settings: a state there without ``resume``
    (another run's, or this one's to be continued), half a state (one of ``path.json`` / ``path.safetensors``), or a
    saved value of one of ``settings`` (keys of ``info``: the loss, the learning rate, the data ...) other than this
    run's raises ``CheckpointError`` before any weights are touched. Settings a state written by older code lacks are
    not compared.
    """
    if not check_resumable(path, resume=resume, info=info, settings=settings):
        return info
    return load_training_state(path, model=model, optimizers=optimizers, rng=rng)


def check_resumable(path: str | Path, *, resume: bool, info: dict, settings: tuple[str, ...]) -> bool:
    """:func:`start_or_resume`'s refusals without loading anything (a caller may check before other work, such as
    training a teacher first); ``True`` when ``path.*`` holds a state that this run will resume."""
    path = Path(path)
    sidecar, weights = path.with_suffix(".json"), path.with_suffix(".safetensors")
    present = [f for f in (sidecar, weights) if f.exists()]
    if not present:
        return False
    if not resume:
        raise CheckpointError(f"{path.parent} already holds a training state ({present[0].name}): resume it "
                              "(--resume) or write to another folder")
    if len(present) == 1:
        missing = weights if present[0] == sidecar else sidecar
        raise CheckpointError(f"training state {path} is incomplete: {present[0].name} without {missing.name}")
    saved = read_json(sidecar)
    for key in settings:
        if key in saved and saved[key] != info[key]:
            raise CheckpointError(f"cannot resume {path}: it was trained with {key} = {saved[key]!r}, this run "
                                  f"asks for {info[key]!r}")
    return True
