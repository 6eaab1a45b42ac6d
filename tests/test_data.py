import gzip

import numpy as np
import pytest
import torch

from genprior.data import load_dataset, parse_indices, read_idx, write_idx
from genprior.errors import DataNotFoundError, InvalidValueError, UnknownNameError


def test_idx_round_trip_gz_and_raw(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    write_idx(tmp_path / "a.gz", a)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), a)
    (tmp_path / "a.raw").write_bytes(gzip.decompress((tmp_path / "a.gz").read_bytes()))
    assert np.array_equal(read_idx(tmp_path / "a.raw"), a)


def test_idx_corrupt_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"hello world")
    with pytest.raises(InvalidValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "t.gz", np.zeros((4, 4), np.uint8))
    raw = gzip.decompress((tmp_path / "t.gz").read_bytes())
    (tmp_path / "short").write_bytes(raw[:-3])
    with pytest.raises(InvalidValueError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "broken.gz").write_bytes((tmp_path / "t.gz").read_bytes()[:-6])
    with pytest.raises(InvalidValueError, match="corrupt gzip"):
        read_idx(tmp_path / "broken.gz")


def test_bundled_subset_is_genuine_mnist_test():
    d = load_dataset("mnist-bundled", "test")
    assert d.images.shape == (500, 1, 28, 28) and d.images.dtype == torch.float32
    assert 0.0 <= d.images.min() and d.images.max() <= 1.0
    assert d.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_mnist_from_folder_matches_bundled(data_dir):
    full = load_dataset("mnist", "test", data_dir=data_dir)
    assert full.images.shape == (10000, 1, 28, 28)
    assert torch.equal(full.images[:500], load_dataset("mnist-bundled").images)
    fm = load_dataset("fashion-mnist", "train", data_dir=data_dir)
    assert fm.images.shape == (60000, 1, 28, 28) and set(fm.labels.unique().tolist()) == set(range(10))


def test_env_var_data_dir(data_dir, monkeypatch):
    monkeypatch.setenv("GENPRIOR_DATA", str(data_dir))
    assert len(load_dataset("mnist", "test")) == 10000


def test_missing_data_says_where_it_looked(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"looked in: .*GENPRIOR_DATA"):
        load_dataset("mnist", "train", data_dir=tmp_path)


def test_digits_and_unknown_names():
    d = load_dataset("digits", "test")
    assert d.images.shape[1:] == (1, 8, 8) and d.images.max() <= 1.0
    with pytest.raises(UnknownNameError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")
    with pytest.raises(UnknownNameError, match="unknown split"):
        load_dataset("digits", "valid")


def test_parse_indices():
    assert parse_indices("0:300", 500) == slice(0, 300)
    assert parse_indices(":5", 10) == slice(0, 5)
    for bad, message in (("0:501", "out of range"), ("5:5", "out of range"), ("x", "must look like A:B"),
                         ("3", "must look like A:B")):
        with pytest.raises(InvalidValueError, match=f"--indices .*{message}"):
            parse_indices(bad, 500)


def test_image_files_must_hold_bytes(tmp_path):
    # an IDX file of int32 pixels (values up to 1000 here) would load as images outside [0, 1]
    import struct

    pixels = np.full((2, 4, 4), 1000, dtype=">i4")
    header = bytes([0, 0, 0x0C, 3]) + struct.pack(">3I", *pixels.shape)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(header + pixels.tobytes())
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 2) + bytes([1, 2]))
    with pytest.raises(InvalidValueError, match="pixels must be unsigned bytes .*got int32"):
        load_dataset("mnist", "test", data_dir=tmp_path)


@pytest.mark.parametrize("spec,n,pattern", [(5, 10, "must be a string A:B"), ("0:3", "10", "n >= 1"), (None, 0, "n >= 1")])
def test_parse_indices_names_bad_arguments(spec, n, pattern):
    with pytest.raises(InvalidValueError, match=pattern):
        parse_indices(spec, n)
