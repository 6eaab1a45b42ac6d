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
