"""Model files: ``NAME.safetensors`` (weights) beside ``NAME.json`` (config with an ``architecture`` dict)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from genprior.errors import CheckpointError, InvalidValueError
from genprior.io import load_tensors, read_json, save_tensors, write_json
from genprior.models.registry import build_model


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights, config)`` paths for a stem, a ``.safetensors`` path or a ``.json`` path."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def save_model(path: str | Path, model: nn.Module, **info) -> tuple[Path, Path]:
    """Save weights and ``{"architecture": model.config(), **info}`` atomically; returns both paths."""
    if not isinstance(model, nn.Module) or not callable(getattr(model, "config", None)):
        raise InvalidValueError(f"save_model needs a genprior model (an nn.Module with config()), got {type(model).__name__}")
    weights, config = model_paths(path)
    save_tensors(weights, model.state_dict())
    write_json(config, {"architecture": model.config(), **info})
    return weights, config


def load_model(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a model from its JSON config and safetensors weights; returns ``(model in eval mode, config)``.
    Raises ``CheckpointError`` naming the file when the config or weights are missing, do not match, or hold NaN or
    infinite values (naming the first tensor that does)."""
    weights, config_path = model_paths(path)
    config = read_json(config_path)
    if "architecture" not in config:
        raise CheckpointError(f"{config_path} has no 'architecture' entry")
    model = build_model(config["architecture"])
    state = load_tensors(weights)
    missing = set(model.state_dict()) ^ set(state)
    if missing:
        raise CheckpointError(f"{weights} does not match its config (keys differ: {sorted(missing)[:4]}...)")
    for name in model.state_dict():  # a model trained to NaN would run and silently give NaN everywhere
        tensor = state[name]
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(f"{weights} holds NaN or infinite weights (first in {name}: {bad} of "
                                  f"{tensor.numel()} values); the model is unusable")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{weights} does not match its config ({str(e).splitlines()[0]})") from None
    return model.eval(), config
