"""The zoo: models shipped inside the package (``genprior/zoo_files/NAME.{safetensors,json}``) and a user's own
models, added by ``genprior zoo add NAME PATH`` to the user zoo folder (:func:`user_root`), never to the package.

A name is looked up among the shipped entries first; a user entry may not take a shipped name. Every model is a
safetensors weights file beside a JSON config (:mod:`genprior.models.checkpoint`); nothing is unpickled.
"""

from __future__ import annotations

import os
import re
import sys
from importlib import resources
from pathlib import Path

from torch import nn

from genprior.errors import CheckpointError, InvalidValueError, unknown
from genprior.models.checkpoint import load_model, model_paths

HOME_VAR = "GENPRIOR_HOME"  # the user data folder, when set (the user zoo is its zoo/ subfolder)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")  # a user entry's name: a plain file stem, no dots
TRAINED_PAIRS = ("generator", "model")  # the model pairs a ``genprior train`` folder holds, looked for in this order


def _root() -> Path:
    return Path(str(resources.files("genprior") / "zoo_files"))


def data_home() -> Path:
    """genprior's user data folder: ``$GENPRIOR_HOME`` when set, else ``$XDG_DATA_HOME/genprior``, else on Windows
    ``%LOCALAPPDATA%/genprior``, else ``~/.local/share/genprior``."""
    if os.environ.get(HOME_VAR):
        return Path(os.environ[HOME_VAR])
    if os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"]) / "genprior"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "genprior"
    return Path.home() / ".local" / "share" / "genprior"


def user_root() -> Path:
    """The user zoo folder, ``data_home()/zoo`` (it need not exist)."""
    return data_home() / "zoo"


def names(*, include_user: bool = False) -> list[str]:
    """Names of the shipped entries: those with both a config and weights, and ensembles (a config naming members);
    with ``include_user``, the user zoo's entries too (:func:`user_names`)."""
    root = _root()
    shipped = sorted(p.stem for p in root.glob("*.json")
                     if (root / f"{p.stem}.safetensors").is_file() or _is_ensemble(p))
    return sorted(shipped + user_names(shipped)) if include_user else shipped


def user_names(shipped: list[str] | None = None) -> list[str]:
    """Names of the user zoo's entries (a valid name, both files present, no shipped name)."""
    root = user_root()
    if not root.is_dir():
        return []
    taken = set(names() if shipped is None else shipped)
    return sorted(p.stem for p in root.glob("*.json") if NAME_PATTERN.fullmatch(p.stem) and p.stem not in taken
                  and (root / f"{p.stem}.safetensors").is_file())


def is_user(name: str) -> bool:
    """Whether ``name`` is an entry of the user zoo."""
    return name in user_names()


def _is_ensemble(path: Path) -> bool:
    from genprior.io import read_json

    return path.stem.endswith("-ensemble") and "members" in read_json(path)


def entry_path(name: str) -> Path:
    """The stem (no suffix) of a shipped or user entry's files."""
    if name in names():
        return _root() / name
    if is_user(name):
        return user_root() / name
    raise unknown("zoo model", name, names(include_user=True))


def load(name: str) -> nn.Module:
    """Load a zoo model (eval mode). Every zoo generator has ``latent_dim`` and ``output_shape``.

    >>> import torch
    >>> from genprior import zoo
    >>> G = zoo.load("mnist-vae")
    >>> G.latent_dim, G.output_shape
    (20, (1, 28, 28))
    >>> x = G(torch.zeros(3, 20))
    >>> x.shape, bool(x.min() >= 0 and x.max() <= 1)
    (torch.Size([3, 1, 28, 28]), True)
    """
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


def model_file(path: str | Path) -> Path:
    """The model pair a path names: a ``NAME.safetensors``/``NAME.json`` path or stem, or a ``genprior train``
    output folder (its ``generator.*`` pair, else its ``model.*`` pair). Raises ``CheckpointError`` /
    ``UnknownNameError`` when it names none."""
    p = Path(path)
    if p.is_dir():
        for stem in TRAINED_PAIRS:
            if all(f.is_file() for f in model_paths(p / stem)):
                return p / stem
        state = " (it holds a training state but no model yet: training has not finished an epoch)" \
            if (p / "state.safetensors").is_file() else ""
        raise CheckpointError(f"folder {p} holds no model: expected generator.safetensors/.json or "
                              f"model.safetensors/.json, written by genprior train{state}")
    if not (p.suffix in (".safetensors", ".json") or p.with_name(p.name + ".json").exists()):
        if p.exists():
            raise CheckpointError(f"{p} is not a model: give a zoo name or a NAME.safetensors/NAME.json pair")
        raise unknown("model", str(path), names(include_user=True))
    return p


def resolve(name_or_path: str, *, family: str | None = None) -> tuple[nn.Module, dict]:
    """A zoo name (shipped or user), a path to a ``.safetensors``/``.json`` pair written by ``save_model``, or a
    ``genprior train`` output folder (:func:`model_file`); with ``family``
    (e.g. ``"classifier"``), one whose config's architecture is of that family (else ``InvalidValueError``)."""
    if not name_or_path:
        raise InvalidValueError("the model name is empty: give a zoo name or a path to a .safetensors/.json pair")
    if name_or_path in names(include_user=True):
        model, cfg = load_with_config(name_or_path)
    else:
        model, cfg = load_model(model_file(name_or_path))
    found = (cfg.get("architecture") or {}).get("family", "ensemble" if "members" in cfg else None)
    if family is not None and found != family:
        raise InvalidValueError(f"{name_or_path} is not a {family} (its family is {found})")
    return model, cfg


def check_user_name(name: str, *, force: bool = False) -> str:
    """``name`` if it may name a new user entry: letters, digits, ``-`` and ``_`` (no path separators, no dots), not
    a shipped name, and not an existing user entry unless ``force``; else ``InvalidValueError``."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidValueError(f"zoo name {name!r} must be 1..100 letters, digits, '-' or '_', starting with a "
                                "letter or digit (no path separators or dots)")
    if name in names():
        raise InvalidValueError(f"zoo name {name} is a shipped entry: choose another name")
    if not force and any(f.exists() for f in model_paths(user_root() / name)):
        raise InvalidValueError(f"zoo name {name} is taken in the user zoo ({user_root()}): choose another name "
                                "or pass --force to replace it")
    return name


def add(name: str, path: str | Path, *, force: bool = False) -> Path:
    """Copy the model ``path`` names (a model pair or a ``genprior train`` folder, :func:`model_file`) into the
    user zoo as ``NAME.{safetensors,json}``; returns the stem written. The model must load and be a generator
    (``latent_dim`` and images of ``output_shape``, run once) or a classifier; ``name`` is checked by
    :func:`check_user_name`. The config gets ``"added_from"`` (the absolute source path). Each file is written
    atomically; a replaced entry's config is removed first, so a kill leaves the old entry, no entry, or the new
    one, never new weights under an old config."""
    from genprior.io import atomic_write_bytes, read_json, write_json
    from genprior.models.generator import check_generator

    check_user_name(name, force=force)
    stem = model_file(path)
    model, _ = load_model(stem)
    weights, config_path = model_paths(stem)
    config = read_json(config_path)
    family = config["architecture"].get("family")
    if getattr(model, "latent_dim", None) is not None:
        shape = getattr(model, "output_shape", None)
        if shape is None:
            raise InvalidValueError(f"{stem} is a generator without output_shape: the zoo needs its image shape")
        if family != "conditional-generator":  # one that needs labels is run by the commands that give them
            check_generator(model, tuple(shape))
    elif family != "classifier":
        raise InvalidValueError(f"{stem} is a {family}: the zoo takes generators (with latent_dim) and classifiers")
    target = user_root() / name
    new_weights, new_config = model_paths(target)
    data = weights.read_bytes()
    new_config.unlink(missing_ok=True)
    atomic_write_bytes(new_weights, data)
    write_json(new_config, {**config, "added_from": str(Path(os.path.abspath(stem)))})
    return target


def remove(name: str) -> None:
    """Remove the user entry ``name`` (its config first, then its weights); a shipped one is refused."""
    if name in names():
        raise InvalidValueError(f"{name} is a shipped entry: only user entries can be removed")
    if not is_user(name):
        raise unknown("user zoo model", name, user_names())
    weights, config_path = model_paths(user_root() / name)
    config_path.unlink()
    weights.unlink(missing_ok=True)
