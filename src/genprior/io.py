"""Atomic file writes and safetensors checkpoints (weights + a JSON config, never pickle)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from genprior.errors import CheckpointError, OutputError


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def _atomic_target(path: str | Path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _umask_mode())
        _pause_for_tests()
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _pause_for_tests() -> None:
    """Sleep ``$GENPRIOR_TEST_PAUSE_IN_SAVE`` seconds (unset or empty: not at all) between writing a temporary file
    and renaming it, so that a test can kill a process in the middle of a checkpoint write."""
    seconds = os.environ.get("GENPRIOR_TEST_PAUSE_IN_SAVE")
    if seconds:
        time.sleep(float(seconds))


def remove_temporaries(folder: str | Path, pattern: str) -> list[Path]:
    """Remove the temporary files that a process killed inside an atomic write left in ``folder`` (named
    ``.NAME.XXXXXXXX.tmp`` by the write of ``NAME``), for the ``NAME`` s matching the glob ``pattern`` (``"state.*"``);
    returns the removed paths."""
    removed = []
    for tmp in Path(folder).glob(f".{pattern}.*.tmp"):
        if tmp.is_file() and not tmp.is_symlink():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, in words (for messages)."""
    for test, word in ((stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return word
    return "a file"


def _probe(folder: Path) -> None:
    """Create and at once remove a file in ``folder`` (which exists), or when it does not exist a folder of a fresh
    name in its nearest existing parent: the only sure test that the place takes new entries (``os.access`` says yes
    to root on read-only places such as ``/proc``). The names are unique, so processes that check the same output at
    once (the ranks of one torchrun job) do not trip over each other's probes. Raises ``OSError`` when it does not."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if existing == folder:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".genprior-probe-")
        os.close(fd)
        os.unlink(tmp)
    else:
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".genprior-probe-"))


def check_writable(path: str | Path, *, folder: bool = False) -> Path:
    """Make sure results can be written to ``path`` (a file, or with ``folder=True`` a folder) before any work is
    done, and return it as a ``Path``. A file must be a regular file or absent (a symbolic link, FIFO or device is
    refused: the atomic rename would replace it, not write to it), and not read-only; a folder must be a folder (a
    link to one is followed) or absent; the folder that will hold it must take new entries, or be creatable, which
    is tried by creating and removing one entry (nothing is left). Raises :class:`~genprior.errors.OutputError`
    naming the path and the reason."""
    if not str(path).strip():  # Path("") would be the working folder
        raise OutputError("the output path is empty")
    path = Path(path)
    what = f"{'into the folder' if folder else 'the file'} {path}"
    try:
        mode = (path.stat() if folder and path.is_dir() else path.lstat()).st_mode
    except (FileNotFoundError, NotADirectoryError):  # absent, or under a file (refused below, naming the file)
        mode = None
    except OSError as e:  # too long a name, a loop of links, ...
        raise OutputError(f"cannot write {what}: {e.strerror}") from None
    if mode is not None and not (stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode)):
        raise OutputError(f"cannot write {what}: it is {_kind(mode)}")
    home = path if folder else path.parent
    existing = home
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write {what}: {existing} is not a folder")
    if mode is not None and not os.access(path, os.W_OK | (os.X_OK if folder else 0)):
        raise OutputError(f"cannot write {what}: permission denied on {path}")
    try:
        _probe(home)
    except OSError as e:
        raise OutputError(f"cannot write {what}: {existing} takes no new {'files' if existing == home else 'folders'} "
                          f"({e.strerror or e})") from None
    return path


def check_outputs(outputs: Mapping[str, str | Path | None], *,
                  contents: Mapping[str, Sequence[str]] | None = None) -> dict[str, Path]:
    """Check all of one command's outputs together, before any work: each as :func:`check_writable` does, and
    that no two of them are one file (or one file and a folder around another output).

    ``outputs``: a name for messages (the option, e.g. ``"--json"``) -> the path; ``None`` for an output not asked
    for. A name in ``contents`` is a folder, its value the names of the files the command writes into it (each
    checked as a file, and against the other outputs); the others are files. Returns the given outputs as Paths.
    Raises :class:`~genprior.errors.OutputError` naming the outputs and the path."""
    contents = contents or {}
    for name, path in outputs.items():
        if path is not None and not str(path).strip():  # Path("") would be the working folder
            raise OutputError(f"the output path of {name} is empty")
    given = {name: Path(p) for name, p in outputs.items() if p is not None}
    written: list[tuple[str, Path, bool]] = []  # (name, path, is a file) of every output, a folder's files included
    for name, path in given.items():
        if name in contents:
            written.append((name, check_writable(path, folder=True), False))
            written.extend((f"{name} ({inner})", check_writable(path / inner), True) for inner in contents[name])
        else:
            written.append((name, check_writable(path), True))
    resolved = [(name, Path(os.path.realpath(path)), is_file) for name, path, is_file in written]
    for i, (name, path, is_file) in enumerate(resolved):
        for other, other_path, other_is_file in resolved[:i]:
            # one path twice, or a file where another output needs a folder
            clash = (path if path == other_path or (other_is_file and other_path in path.parents)
                     else other_path if is_file and path in other_path.parents else None)
            if clash is not None:
                raise OutputError(f"{other} and {name} both write {clash}: give them different paths")
    return given


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    with _atomic_target(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> dict:
    """The JSON object in ``path``; a missing or unreadable file, invalid JSON or another top-level value (a number,
    a list) raises ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"config file not found: {path}")
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"config file {path} is not valid JSON ({e})") from None
    except PermissionError:
        raise CheckpointError(f"cannot read config file {path}: permission denied") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"config file {path} must hold a JSON object, not {type(obj).__name__} {obj!r:.40}")
    return obj


def save_tensors(path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Save tensors to a safetensors file atomically (tensors are made contiguous CPU copies)."""
    with _atomic_target(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file; a missing or corrupt file raises ``CheckpointError``.

    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from genprior.io import load_tensors, save_tensors
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_tensors(Path(folder) / "x.safetensors", {"x": torch.arange(6.0).view(2, 3)})
    ...     load_tensors(Path(folder) / "x.safetensors")
    {'x': tensor([[0., 1., 2.],
            [3., 4., 5.]])}
    >>> load_tensors("no-such-file.safetensors")
    Traceback (most recent call last):
    ...
    genprior.errors.CheckpointError: ...
    """
    return load_tensors_and_metadata(path)[0]


def load_tensors_and_metadata(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and the metadata (``{}`` when it has none) of one safetensors file, read through one open (so
    both come from the same file even if it is replaced meanwhile); a missing or corrupt file raises
    ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not os.access(path, os.R_OK):
        raise CheckpointError(f"cannot read checkpoint {path}: permission denied")
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (a safe_open handle is no dict)
            return tensors, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or not a safetensors file ({e})") from None
