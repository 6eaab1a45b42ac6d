"""Training state on disk: one safetensors file that a single rename commits, checked whole before a run resumes.

``NAME.safetensors`` holds the model's weights, each optimizer's tensors, the RNG state and any tensors the trainer
keeps beside them (the VAE's best weights), and in its metadata (entry ``genprior.training_state``) one JSON record:
the model's architecture, the optimizers' other values and the trainer's ``info`` (epoch, history, settings). A
process killed at any instant leaves either the previous state or the new one, never a mixture. ``NAME.json`` is a
human-readable copy of the record, written after it and never read back: a kill may leave it one epoch behind, and
resuming rewrites it. Files a trainer derives from the state (``model.*``, ``generator.*``) are rewritten from it on
resume for the same reason.

Every trainer's ``info`` starts as :func:`new_run` makes it (the run record: counters, history, the settings a resume
must repeat, the command line and the resumes), is checked by :func:`check_finite` before each save (a diverged run
stops with its last good state), and is saved and resumed by :func:`save_training_state` and
:func:`start_or_resume`.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from genprior.errors import CheckpointError, InvalidValueError
from genprior.io import (
    load_tensors_and_metadata,
    remove_temporaries,
    save_tensors,
    write_json,
)

RECORD_KEY = "genprior.training_state"  # the safetensors metadata entry holding the state's JSON record
_RECORD_ONLY = ("architecture", "optimizers")  # record entries that are not part of the trainer's info


def command_line(command: str | None = None) -> str:
    """The command a run records: ``command`` when the caller names one (a benchmark script), else this process's
    ``genprior`` command line (``sys.argv``, quoted as a shell reads it back)."""
    return command or "genprior " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def new_run(settings: dict, *, counters: dict | None = None, command: str | None = None) -> dict:
    """The ``info`` a trainer starts from, the one run record of every trainer::

        {"epoch": 0, **counters, "history": [], **settings, "command": ..., "resumed_with": []}

    ``settings`` (JSON values: the seed, the loss, the learning rates, ``"data"`` ...) are the values a resume
    must repeat: pass ``tuple(settings)`` as :func:`start_or_resume`'s ``settings``. ``counters`` are the trainer's
    own progress values (steps done, best epoch ...). ``command``: see :func:`command_line`. Each resume appends
    ``{"after_epoch", "command"}`` to ``resumed_with`` (:func:`start_or_resume`)."""
    return {"epoch": 0, **(counters or {}), "history": [], **settings, "command": command_line(command),
            "resumed_with": []}


class TrainingDiverged(InvalidValueError):
    """A trainer's weights became NaN or infinite in epoch ``epoch``: it stopped before saving them, so the state
    of the epoch before (if any) is the last one on disk. ``parts`` names the modules whose weights are bad."""

    def __init__(self, parts: Sequence[str], epoch: int, out_dir: str | Path | None):
        self.parts, self.epoch = tuple(parts), epoch
        kept = "" if out_dir is None else (f"; nothing saved for it (the state of epoch {epoch - 1} stays in {out_dir})"
                                           if epoch > 1 else f"; nothing saved to {out_dir}")
        super().__init__(f"{self.what()}{kept}")

    def what(self) -> str:
        """``training diverged: the ... weights are NaN or infinite after epoch N``."""
        return (f"training diverged: the {' and '.join(self.parts)} weights are NaN or infinite after epoch "
                f"{self.epoch}")


def check_finite(epoch: int, *, out_dir: str | Path | None, **modules: nn.Module) -> None:
    """Before a trainer saves epoch ``epoch``: raise :class:`TrainingDiverged` naming each of ``modules`` (a name
    for the message -> the module) whose floating-point weights or buffers hold a NaN or an infinity."""
    bad = [name for name, module in modules.items()
           if not all(bool(torch.isfinite(t).all()) for t in module.state_dict().values() if t.is_floating_point())]
    if bad:
        raise TrainingDiverged(bad, epoch, out_dir)


def check_recordable(owner: str, **modules: nn.Module) -> None:
    """Before training into an ``out_dir``: each of ``modules`` (a name for the message -> the module) has a
    ``config()`` (the training state and the saved model record the architecture, to rebuild it), else
    ``InvalidValueError`` naming ``owner``."""
    for name, module in modules.items():
        if not callable(getattr(module, "config", None)):
            raise InvalidValueError(f"{owner}: saving to out_dir needs genprior models (an nn.Module with config(), "
                                    f"to record the architecture); the {name} {type(module).__name__} has none "
                                    "(train with out_dir=None, or give it a config())")


def save_training_state(path: str | Path, *, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                        rng: torch.Generator, info: dict, extra: dict[str, torch.Tensor] | None = None) -> None:
    """Save ``model``, each optimizer, ``rng``, the tensors ``extra`` (under ``extra.``) and ``info`` (epoch,
    history, settings: JSON values) as one unit in ``path.safetensors``, then a readable copy of the record in
    ``path.json``."""
    path = Path(path)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"extra.{k}": v for k, v in (extra or {}).items()})
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
    record = {"architecture": model.config(), "optimizers": opt_meta, **info}
    save_tensors(path.with_suffix(".safetensors"), tensors, metadata={RECORD_KEY: json.dumps(record)})
    write_json(path.with_suffix(".json"), record)


def save_gan_epoch(out: Path, *, pair: nn.Module, optimizers: dict[str, torch.optim.Optimizer], rng: torch.Generator,
                   info: dict, generator: nn.Module, config: dict) -> None:
    """A GAN trainer's end of epoch in ``out``: the training state (``state.*``), then the generator alone as a
    zoo-style model (``generator.*``) whose config records ``config``. A kill between the two leaves ``generator.*``
    behind the state; the trainer rewrites it on resume."""
    from genprior.models.checkpoint import save_model

    save_training_state(out / "state", model=pair, optimizers=optimizers, rng=rng, info=info)
    save_model(out / "generator", generator, **config)


def samples_due(epoch: int, every: int, epochs: int) -> bool:
    """Whether epoch ``epoch`` (1-based) of ``epochs`` writes a samples grid: every ``every`` epochs and the last
    (``every = 0``: never)."""
    return bool(every) and (epoch % every == 0 or epoch == epochs)


def read_training_state(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """The JSON record (architecture, optimizers, info) and the tensors of the state ``path.safetensors``, read as
    one unit. A missing or corrupt file, or one without a training-state record, raises ``CheckpointError``."""
    weights = Path(path).with_suffix(".safetensors")
    tensors, metadata = load_tensors_and_metadata(weights)
    if RECORD_KEY not in metadata:
        raise CheckpointError(f"{weights} holds no training-state record (not a training state, or one written by "
                              "an older genprior, whose state.json a kill could leave out of step with it): start "
                              "the run again in another folder")
    try:
        record = json.loads(metadata[RECORD_KEY])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{weights}: its training-state record is not valid JSON ({e})") from None
    if not isinstance(record, dict):
        raise CheckpointError(f"{weights}: its training-state record must be a JSON object, not "
                              f"{type(record).__name__}")
    return record, tensors


def load_training_state(path: str | Path, *, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                        rng: torch.Generator, extra: dict[str, torch.Tensor] | None = None) -> dict:
    """Restore what ``save_training_state`` wrote into the given objects (``extra``: a dict whose keys and tensor
    shapes the saved extra tensors must have, filled in place); returns the ``info`` dict. Anything that does not
    fit (another architecture, missing or misshapen tensors, a damaged record) raises ``CheckpointError``; the
    objects may then be partly loaded."""
    record, tensors = read_training_state(path)
    _load_into(Path(path).with_suffix(".safetensors"), record, tensors, model=model, optimizers=optimizers, rng=rng,
               extra=extra)
    return {k: v for k, v in record.items() if k not in _RECORD_ONLY}


def _load_into(weights: Path, record: dict, tensors: dict[str, torch.Tensor], *, model: nn.Module,
               optimizers: dict[str, torch.optim.Optimizer], rng: torch.Generator,
               extra: dict[str, torch.Tensor] | None) -> None:
    if record.get("architecture") != model.config():
        raise CheckpointError(f"{weights} was written for a different architecture: {record.get('architecture')}")
    saved_opts = record.get("optimizers")
    if not isinstance(saved_opts, dict) or set(saved_opts) != set(optimizers):
        raise CheckpointError(f"{weights}: its optimizers must be {sorted(optimizers)}, got "
                              f"{sorted(saved_opts) if isinstance(saved_opts, dict) else saved_opts!r}")
    saved_extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
    wanted = {k: tuple(v.shape) for k, v in (extra or {}).items()}
    if {k: tuple(v.shape) for k, v in saved_extra.items()} != wanted:
        raise CheckpointError(f"{weights}: its kept tensors (extra.*) do not fit this model")
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        rng.set_state(tensors["rng.state"])
        for name, opt in optimizers.items():
            m = saved_opts[name]
            params = [p for group in opt.param_groups for p in group["params"]]
            state: dict[int, dict] = {}
            for k, v in tensors.items():
                if k.startswith(f"optim.{name}."):
                    pid, key = k[len(f"optim.{name}."):].split(".", 1)
                    if not 0 <= int(pid) < len(params) or (v.dim() and v.shape != params[int(pid)].shape):
                        raise ValueError(f"optimizer tensor {k} {tuple(v.shape)} fits no parameter")
                    state.setdefault(int(pid), {})[key] = v
            for k, v in m["scalars"].items():
                pid, key = k.split(".", 1)
                state.setdefault(int(pid), {})[key] = v
            opt.load_state_dict({"state": state, "param_groups": m["param_groups"]})
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as e:
        first_line = (str(e).splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"training state {weights} is incomplete or corrupt ({first_line})") from None
    if extra is not None:
        extra.update(saved_extra)


def start_or_resume(path: str | Path, *, resume: bool, info: dict, settings: tuple[str, ...], model: nn.Module,
                    optimizers: dict[str, torch.optim.Optimizer], rng: torch.Generator,
                    extra: dict[str, torch.Tensor] | None = None, epoch_fields: Sequence[str] = (),
                    history_keys: Sequence[str] = (), outputs: Sequence[str] = (),
                    mend: Callable[[dict], None] | None = None, write: bool = True,
                    added_later: dict | None = None) -> dict:
    """The ``info`` a training loop starts from: its fresh ``info`` (from :func:`new_run`) when ``path.*`` holds no
    state, else (with ``resume``) the state saved there, loaded into ``model``, ``optimizers``, ``rng`` and
    ``extra``, with this resume appended to its ``resumed_with``.

    Everything is checked before anything is written: the record by :func:`check_resumable`, the architecture and
    every tensor as they are loaded into the given objects. Then the readable copy ``path.json`` is rewritten from
    the state, the temporary files of killed writes of ``path.*`` and of the trainer's ``outputs`` (glob patterns of
    file names in the same folder, e.g. ``"model.*"``) are removed, and on a resume ``mend(saved info)`` (when
    given) rewrites the files the trainer derives from the state (a kill between its writes may have left them
    behind it). ``write=False`` (every rank but rank 0 under torchrun): load only, write and remove nothing.
    ``added_later``: settings a trainer gained after states were saved, with the value that older states trained
    with (their behaviour then), so that those states still resume (see :func:`check_resumable`).
    """
    saved = check_resumable(path, resume=resume, info=info, settings=settings, epoch_fields=epoch_fields,
                            history_keys=history_keys, added_later=added_later)
    path = Path(path)
    if saved is not None:
        record, tensors = saved
        _load_into(path.with_suffix(".safetensors"), record, tensors, model=model, optimizers=optimizers, rng=rng,
                   extra=extra)
        if write:
            write_json(path.with_suffix(".json"), record)
    for pattern in (f"{path.name}.*", *outputs) if write else ():
        remove_temporaries(path.parent, pattern)
    if saved is None:
        return info
    resumed = {k: v for k, v in saved[0].items() if k not in _RECORD_ONLY}
    if mend is not None and write:
        mend(resumed)
    resumed["resumed_with"].append({"after_epoch": resumed["epoch"], "command": info["command"]})
    return resumed


def check_resumable(path: str | Path, *, resume: bool, info: dict, settings: tuple[str, ...],
                    epoch_fields: Sequence[str] = (), history_keys: Sequence[str] = (),
                    added_later: dict | None = None) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """:func:`start_or_resume`'s refusals, without loading anything into a model (a caller may check before other
    work, such as training a teacher first). Returns ``None`` when ``path.*`` holds no state (a fresh start), else
    the state's ``(record, tensors)``, which this run will resume.

    Raises ``CheckpointError`` for: a state there without ``resume`` (another run's, or this one's to be
    continued); ``path.json`` without ``path.safetensors``; a state file that is damaged or holds no record; an
    ``info`` value of another JSON type than the fresh ``info``'s (every key of it must be there); an ``epoch``
    below 0, a ``history`` that is not one object per epoch numbered 1..epoch (each with the numbers
    ``history_keys``), a field of ``epoch_fields`` outside 0..epoch, another integer of ``info`` below 0 (counts);
    and, checked first, a saved value of one of ``settings`` (keys of ``info``: the loss, the learning rate, the
    data ...) other than this run's, or missing. A key of ``added_later`` missing from the state is read as its
    value there (a state saved before the trainer had that setting, which then trained as that value does).
    """
    path = Path(path)
    sidecar, weights = path.with_suffix(".json"), path.with_suffix(".safetensors")
    present = [f for f in (sidecar, weights) if f.exists()]
    if not present:
        return None
    if not resume:
        raise CheckpointError(f"{path.parent} already holds a training state ({present[0].name}): resume it "
                              "(--resume) or write to another folder")
    if not weights.exists():
        raise CheckpointError(f"training state {path} is incomplete: {sidecar.name} without {weights.name}")
    record, tensors = read_training_state(path)
    for key, value in (added_later or {}).items():
        record.setdefault(key, value)
    for key in settings:
        if key not in record or record[key] != info[key]:
            trained = f"with {key} = {record[key]!r}" if key in record else f"without {key}"
            raise CheckpointError(f"cannot resume {path}: it was trained {trained}, this run asks for {info[key]!r}")
    _check_info(record, info, where=f"cannot resume {weights}", epoch_fields=epoch_fields, history_keys=history_keys)
    return record, tensors


def _kind(value) -> str:
    """The JSON type of ``value`` in words (a float's kind admits integers: JSON does not tell 2.0 from 2)."""
    for types, words in ((bool, "true or false"), (int, "an integer"), (float, "a number"), (str, "a string"),
                         (list, "a list"), (dict, "a JSON object")):
        if isinstance(value, types):
            return words
    return "null"


def _fits(value, like) -> bool:
    """Whether ``value`` (read from JSON) has the JSON type of ``like``."""
    if isinstance(like, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return _kind(value) == _kind(like)


def _check_info(saved: dict, fresh: dict, *, where: str, epoch_fields: Sequence[str],
                history_keys: Sequence[str]) -> None:
    """Raise ``CheckpointError`` (starting with ``where``) unless ``saved`` is an info that a loop started from
    ``fresh`` could have written (see :func:`check_resumable`)."""
    required = {"epoch": 0, "history": [], **fresh}
    for key, like in required.items():
        if key not in saved:
            raise CheckpointError(f"{where}: it has no {key!r} (a state of another kind of run, or damaged)")
        if not _fits(saved[key], like):
            raise CheckpointError(f"{where}: its {key} must be {_kind(like)}, got {json.dumps(saved[key])[:40]}")
    epoch, history = saved["epoch"], saved["history"]
    for key, like in required.items():
        if isinstance(like, int) and not isinstance(like, bool) and saved[key] < 0:
            raise CheckpointError(f"{where}: its {key} must be >= 0, got {saved[key]}")
    if len(history) != epoch:
        raise CheckpointError(f"{where}: its history has {len(history)} entries for epoch {epoch}")
    for number, entry in enumerate(history, 1):
        if not isinstance(entry, dict) or entry.get("epoch") != number or not all(
                isinstance(entry.get(k), (int, float)) and not isinstance(entry.get(k), bool) for k in history_keys):
            raise CheckpointError(f"{where}: its history entry {number} must be an object with epoch {number} and "
                                  f"the numbers {', '.join(history_keys) or '(none)'}, got {json.dumps(entry)[:60]}")
    for key in epoch_fields:
        if not 0 <= saved[key] <= epoch:
            raise CheckpointError(f"{where}: its {key} must be in 0..{epoch} (its epoch), got {saved[key]}")
