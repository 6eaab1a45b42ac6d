"""Data set registry: ``load_dataset(name, split)`` returns images in [0, 1] as ``(N, C, H, W)`` and labels.

The data folder is, in order: the ``data_dir`` argument (``--data-dir``), the ``GENPRIOR_DATA``
environment variable, then ``./data`` relative to the working directory.
Inside it, MNIST-format sets live in a subfolder named after the set (``mnist/``, ``fashion-mnist/``)
holding the standard ``*-ubyte.gz`` files (or the files sit directly in the folder given).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from genprior.data.idx import read_idx
from genprior.errors import DataNotFoundError, InvalidValueError, unknown

ENV_VAR = "GENPRIOR_DATA"
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_SETS = {"mnist": "mnist", "fashion-mnist": "fashion-mnist"}
DATASETS = ("mnist", "fashion-mnist", "digits", "mnist-bundled")
TRAINING_SETS = ("mnist", "fashion-mnist", "digits")  # the ones with a train split
FOLDER_SETS = tuple(_IDX_SETS)  # the ones read from the data folder (the others ship with the code)
BUNDLED_COUNT = 500


@dataclass(frozen=True)
class Dataset:
    """Images ``(N, C, H, W)`` float32 in [0, 1] and integer labels ``(N,)``."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]


def candidate_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for data, most specific first."""
    if data_dir is not None:
        return [Path(data_dir)]
    dirs = []
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]))
    dirs.append(Path("data"))
    return dirs


def _find_idx(name: str, split: str, data_dir) -> tuple[Path, Path]:
    images_stem, labels_stem = _IDX_FILES[split]
    looked = []
    for root in candidate_dirs(data_dir):
        for folder in (root / _IDX_SETS[name], root):
            for suffix in (".gz", ""):
                img, lab = folder / (images_stem + suffix), folder / (labels_stem + suffix)
                looked.append(str(folder))
                if img.is_file() and lab.is_file():
                    return img, lab
    where = ", ".join(dict.fromkeys(looked))
    files = ", ".join(f"{stem}.gz" for pair in _IDX_FILES.values() for stem in pair)
    raise DataNotFoundError(
        f"{name} {split} files ({images_stem}.gz) not found; looked in: {where}. "
        f"Point --data-dir or ${ENV_VAR} at a folder holding {_IDX_SETS[name]}/ with the four IDX files {files} "
        f"(the standard names; unzipped copies without .gz also do), or try --dataset mnist-bundled "
        f"(500 MNIST test images shipped with genprior, no data needed)"
    )


def _bundled() -> tuple[np.ndarray, np.ndarray]:
    root = resources.files("genprior") / "data" / "bundled"
    with resources.as_file(root / "mnist-t10k-images-first500-idx3-ubyte.gz") as img, resources.as_file(
        root / "mnist-t10k-labels-first500-idx1-ubyte.gz"
    ) as lab:
        return read_idx(img), read_idx(lab)


def load_dataset(name: str, split: str = "test", *, data_dir: str | Path | None = None) -> Dataset:
    """Load a registered data set.

    ``name``: ``mnist``, ``fashion-mnist``, ``digits`` (scikit-learn's 8x8 digits, split 1500/297 by
    position) or ``mnist-bundled`` (the first 500 MNIST test images shipped with the package; test only).

    >>> from genprior.data import load_dataset
    >>> data = load_dataset("mnist-bundled")
    >>> data.images.shape, data.images.dtype, data.labels[:5].tolist()
    (torch.Size([500, 1, 28, 28]), torch.float32, [7, 2, 1, 0, 4])
    """
    if name not in DATASETS:
        raise unknown("dataset", name, DATASETS)
    if split not in _IDX_FILES:
        raise unknown("split", split, _IDX_FILES)
    if name in _IDX_SETS:
        img_path, lab_path = _find_idx(name, split, data_dir)
        images, labels = read_idx(img_path), read_idx(lab_path)
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise InvalidValueError(f"{img_path}: expected images (N, H, W) and N labels, got {images.shape} and {labels.shape}")
        if images.dtype != np.uint8:  # pixels are bytes 0..255 in the MNIST format; others would leave [0, 1]
            raise InvalidValueError(f"{img_path}: image pixels must be unsigned bytes (0..255), got {images.dtype}")
        x = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
    elif name == "mnist-bundled":
        if split != "test":
            raise InvalidValueError(f"mnist-bundled holds only the first 500 test images: it has no {split} split")
        images, labels = _bundled()
        x = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
    else:  # digits
        from sklearn.datasets import load_digits

        d = load_digits()
        cut = 1500
        sl = slice(0, cut) if split == "train" else slice(cut, None)
        x = torch.from_numpy((d.images[sl] / 16.0).astype(np.float32))[:, None]
        labels = d.target[sl]
    return Dataset(name, split, x.contiguous(), torch.from_numpy(np.asarray(labels, dtype=np.int64)))


def parse_indices(spec: str | None, n: int) -> slice:
    """Parse ``A:B`` (Python slice bounds, B exclusive) and check it lies within ``n`` items."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidValueError(f"indices need a number of items n >= 1, got {n!r}")
    if spec is None:
        return slice(0, n)
    if not isinstance(spec, str):
        raise InvalidValueError(f"--indices must be a string A:B (e.g. 0:300), got {spec!r}")
    try:
        a_s, b_s = spec.split(":")
        a = int(a_s) if a_s else 0
        b = int(b_s) if b_s else n
    except ValueError:
        raise InvalidValueError(f"--indices must look like A:B (e.g. 0:300), got {spec!r}") from None
    if not (0 <= a < b <= n):
        raise InvalidValueError(f"--indices {spec} is out of range for a split of {n} images (need 0 <= A < B <= {n})")
    return slice(a, b)
