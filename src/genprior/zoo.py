"""The pretrained zoo: models shipped inside the package (``genprior/zoo_files/NAME.{safetensors,json}``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from torch import nn

from genprior.errors import CheckpointError, InvalidValueError, unknown
from genprior.models.checkpoint import load_model


def _root() -> Path:
    return Path(str(resources.files("genprior") / "zoo_files"))


def names() -> list[str]:
    """Names of the shipped entries: those with both a config and weights, and ensembles (a config naming members)."""
    root = _root()
    return sorted(p.stem for p in root.glob("*.json") if (root / f"{p.stem}.safetensors").is_file() or _is_ensemble(p))


def _is_ensemble(path: Path) -> bool:
    from genprior.io import read_json

    return path.stem.endswith("-ensemble") and "members" in read_json(path)


def entry_path(name: str) -> Path:
    if name not in names():
        raise unknown("zoo model", name, names())
    return _root() / name


def load(name: str) -> nn.Module:
    """Load a zoo model (eval mode). Every zoo generator has ``latent_dim`` and ``output_shape``."""
    return load_with_config(name)[0]


def load_with_config(name: str) -> tuple[nn.Module, dict]:
    path = entry_path(name)
    if _is_ensemble(path.with_suffix(".json")):
        from genprior.models.ensemble import GeneratorEnsemble

        cfg = config(name)
        return GeneratorEnsemble([load(member) for member in cfg["members"]]).eval(), cfg
    return load_model(path)


def config(name: str) -> dict:
    """An entry's JSON config (architecture, data, training summary, reproducing command) without loading weights."""
    from genprior.io import read_json

    return read_json(entry_path(name).with_suffix(".json"))


def resolve(name_or_path: str, *, family: str | None = None) -> tuple[nn.Module, dict]:
    """A zoo name, or a path to a ``.safetensors``/``.json`` pair written by ``save_model``; with ``family``
    (e.g. ``"classifier"``), one whose config's architecture is of that family (else ``InvalidValueError``)."""
    if not name_or_path:
        raise InvalidValueError("the model name is empty: give a zoo name or a path to a .safetensors/.json pair")
    if name_or_path in names():
        model, cfg = load_with_config(name_or_path)
    else:
        p = Path(name_or_path)
        if not (p.suffix in (".safetensors", ".json") or p.with_name(p.name + ".json").exists()):
            if p.exists():
                raise CheckpointError(f"{p} is not a model: give a zoo name or a NAME.safetensors/NAME.json pair")
            raise unknown("model", name_or_path, names())
        model, cfg = load_model(p)
    found = (cfg.get("architecture") or {}).get("family", "ensemble" if "members" in cfg else None)
    if family is not None and found != family:
        raise InvalidValueError(f"{name_or_path} is not a {family} (its family is {found})")
    return model, cfg
