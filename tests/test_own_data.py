"""A user's own data in, results out: ``genprior recover --image`` / ``--measurements``, the per-image outputs
(PNGs, ``recovery.safetensors``, ``settings.json``), the user zoo (``zoo add`` / ``list`` / ``--model NAME``) and
training folders as ``--model``. Runs are tiny (a few Adam steps, one restart); the user zoo lives in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from genprior import zoo
from genprior.cli import main
from genprior.data.images import LUMA, fit_image, load_images, read_image
from genprior.errors import CheckpointError, DataNotFoundError, InvalidValueError

TINY = ["--steps", "5", "--restarts", "1"]


@pytest.fixture(autouse=True)
def _user_home(tmp_path, monkeypatch):
    """Every test's user zoo is under tmp_path: nothing is written to the real home."""
    monkeypatch.setenv("GENPRIOR_HOME", str(tmp_path / "home"))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, pattern: str, *argv) -> None:
    code, out, err = run(capsys, *argv)
    lines = [line for line in err.split("\r")[-1].strip().splitlines() if line]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("genprior: error:") and pattern in lines[0], err
    assert out == ""


def digit(index: int = 0) -> np.ndarray:
    from genprior.data import load_dataset

    return load_dataset("mnist-bundled").images[index, 0].numpy()


def write_pngs(folder: Path) -> list[Path]:
    """A grey 80x56 (tall: the digit scaled to 56x56 between black bands) and a colour 30x50 (wide) PNG of two
    bundled digits."""
    grey = folder / "grey.png"
    canvas = np.zeros((80, 56), np.uint8)
    canvas[12:68] = np.asarray(Image.fromarray((digit(0) * 255).astype(np.uint8)).resize((56, 56), Image.BICUBIC))
    Image.fromarray(canvas).save(grey)
    colour = folder / "colour.png"
    rgb = np.stack([digit(1)] * 3, -1) * np.array([1.0, 0.8, 0.6])
    Image.fromarray((rgb * 255).astype(np.uint8)).resize((50, 30)).save(colour)
    return [grey, colour]


def tensors_of(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})  # noqa: SIM118


# ---------------------------------------------------------------------------------------------- images

def test_read_and_fit_follow_the_stated_rule(tmp_path):
    red = np.zeros((20, 20, 3), np.uint8)
    red[..., 0] = 255
    Image.fromarray(red).save(tmp_path / "red.png")
    x = read_image(tmp_path / "red.png")
    assert x.shape == (3, 20, 20) and x.dtype == torch.float32
    grey = fit_image(x, (1, 10, 10))
    assert grey.shape == (1, 10, 10) and torch.allclose(grey, torch.full_like(grey, LUMA[0]), atol=1e-5)
    assert torch.equal(fit_image(grey, (3, 10, 10)), grey.expand(3, -1, -1))  # grey -> colour: repeated
    # a tall image is cropped to its centred square: bands above and below are cut away
    tall = torch.zeros(1, 60, 20)
    tall[:, 20:40] = 1.0
    fitted = fit_image(tall, (1, 20, 20))
    assert torch.equal(fitted, torch.ones(1, 20, 20))
    out = fit_image(torch.rand(1, 37, 53), (1, 28, 28))  # resized: stays in [0, 1]
    assert out.shape == (1, 28, 28) and 0 <= float(out.min()) and float(out.max()) <= 1


def test_npy_layouts(tmp_path):
    base = np.random.default_rng(0).random((12, 16)).astype(np.float32)
    for name, arr in {"hw": base, "hwc": np.stack([base] * 3, -1), "chw": np.stack([base] * 3),
                      "u8": (base * 255).astype(np.uint8)}.items():
        np.save(tmp_path / f"{name}.npy", arr)
        x = read_image(tmp_path / f"{name}.npy")
        assert x.shape[1:] == (12, 16) and torch.allclose(x[0], torch.from_numpy(base), atol=1 / 255)
    np.save(tmp_path / "amb.npy", np.zeros((3, 9, 3), np.float32))
    with pytest.raises(InvalidValueError, match="reads both"):
        read_image(tmp_path / "amb.npy")
    with pytest.raises(InvalidValueError, match="share one shape"):
        load_images([tmp_path / "hw.npy", tmp_path / "chw.npy"])  # without a shape: grey and colour differ


def test_recover_own_pngs_writes_per_image_outputs(capsys, tmp_path):
    pngs = write_pngs(tmp_path)
    out = tmp_path / "out"
    code, _, err = run(capsys, "recover", "--image", *pngs, "--task", "inpaint", "--keep", "0.3", "--method",
                       "csgm", *TINY, "--out", out)
    assert code == 0, err
    recovered = sorted((out / "images").glob("*-recovered.png"))
    assert len(recovered) == 2 and len(list((out / "images").glob("*-truth.png"))) == 2
    assert Image.open(recovered[0]).size == (28, 28) and Image.open(recovered[0]).mode == "L"
    tensors, meta = tensors_of(out / "recovery.safetensors")
    m = tensors["y"].shape[1]
    assert {k: tuple(v.shape) for k, v in tensors.items()} == {"x_hat": (2, 1, 28, 28), "z_hat": (2, 20),
                                                               "y": (2, m), "x": (2, 1, 28, 28)}
    assert abs(m - 0.3 * 784) < 60  # about 30% of the pixels kept
    settings = json.loads((out / "settings.json").read_text())
    assert json.loads(meta["genprior.recovery"]) == settings
    assert settings["operator"]["task"] == "inpaint" and settings["operator"]["keep"] == 0.3
    assert settings["source"]["images"] == [str(p) for p in pngs] and settings["model"] == "mnist-vae"
    assert settings["options"]["steps"] == 5 and "genprior_version" in settings
    # the saved truth is the PNG as fitted: cropped to its centred square, the grey one is the digit again, up to
    # resampling twice
    assert float((tensors["x"][0, 0] - torch.from_numpy(digit(0))).abs().mean()) < 0.03
    assert (out / "recovery.png").is_file() and (out / "recovery.json").is_file()


def test_recover_dataset_images_writes_one_png_each(capsys, tmp_path):
    code, _, err = run(capsys, "recover", "--task", "cs", "--m", "50", "--method", "lasso-pixel", "--dataset",
                       "mnist-bundled", "--indices", "3:6", "--out", tmp_path / "o")
    assert code == 0, err
    assert len(list((tmp_path / "o" / "images").glob("*-recovered.png"))) == 3
    tensors, _ = tensors_of(tmp_path / "o" / "recovery.safetensors")
    assert set(tensors) == {"x_hat", "y", "x"} and tensors["y"].shape == (3, 50)  # lasso has no latent


@pytest.mark.parametrize("kind,pattern", [("text.png", "cannot read image"), ("dims.npy", "not one image"),
                                          ("nan.npy", "NaN"), ("range.npy", "must lie in [0, 1]"),
                                          ("tiny.png", "at least 8"), ("missing.png", "not found"),
                                          ("pickle.npy", "cannot read")])
def test_bad_images_exit_2_and_write_nothing(capsys, tmp_path, kind, pattern):
    path = tmp_path / kind
    if kind == "text.png":
        path.write_text("not a picture")
    elif kind == "dims.npy":
        np.save(path, np.zeros((2, 1, 28, 28), np.float32))
    elif kind == "nan.npy":
        np.save(path, np.full((28, 28), np.nan, np.float32))
    elif kind == "range.npy":
        np.save(path, np.full((28, 28), 2.0, np.float32))
    elif kind == "tiny.png":
        Image.fromarray(np.zeros((5, 20), np.uint8)).save(path)
    elif kind == "pickle.npy":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    refused(capsys, pattern, "recover", "--image", path, "--task", "cs", "--m", "10", "--method", "lasso-pixel",
            "--out", tmp_path / "out", "--json", tmp_path / "r.json")
    assert not (tmp_path / "out").exists() and not (tmp_path / "r.json").exists()


def test_image_refuses_data_set_options(capsys, tmp_path):
    png = write_pngs(tmp_path)[0]
    refused(capsys, "--dataset picks data set images", "recover", "--image", png, "--dataset", "mnist-bundled",
            "--task", "cs", "--m", "10", "--method", "lasso-pixel")
    refused(capsys, "--alpha auto tunes", "recover", "--image", png, "--task", "cs", "--m", "10", "--method",
            "lasso-pixel", "--alpha", "auto")
    refused(capsys, "--task is required", "recover", "--image", png, "--method", "lasso-pixel")


# ---------------------------------------------------------------------------------------------- measurements

def test_measurements_roundtrip_gives_the_same_recovery(capsys, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    code, _, err = run(capsys, "recover", "--task", "cs", "--m", "40", "--seed", "7", "--method", "csgm", *TINY,
                       "--dataset", "mnist-bundled", "--indices", "0:2", "--out", first)
    assert code == 0, err
    code, _, err = run(capsys, "recover", "--measurements", first / "recovery.safetensors", "--method", "csgm",
                       *TINY, "--out", second)
    assert code == 0, err
    a, _ = tensors_of(first / "recovery.safetensors")
    b, _ = tensors_of(second / "recovery.safetensors")
    assert set(a) == set(b) == {"x_hat", "z_hat", "y", "x"}
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    settings = json.loads((second / "settings.json").read_text())
    assert settings["operator"]["seed"] == 7 and settings["operator"]["m"] == 40
    assert settings["source"]["kind"] == "measurements"
    refused(capsys, "--m 41 differs from 40", "recover", "--measurements", first / "recovery.safetensors",
            "--method", "csgm", "--m", "41")


def test_foreign_measurements_need_their_operator(capsys, tmp_path):
    from genprior.operators import make_operator

    x = torch.from_numpy(np.stack([digit(0), digit(1)]))[:, None]
    op = make_operator("cs", m=60, shape=(1, 28, 28), noise_std=0.0, seed=5)
    y = op.measure(x)
    np.save(tmp_path / "y.npy", y.numpy())
    common = ["recover", "--measurements", tmp_path / "y.npy", "--method", "adjoint", "--task", "cs"]
    refused(capsys, "give the --seed", *common, "--m", "60")
    refused(capsys, "holds 60 measurements per image", *common, "--m", "50", "--seed", "5")
    code, _, err = run(capsys, *common, "--m", "60", "--seed", "5", "--out", tmp_path / "o")
    assert code == 0, err
    tensors, _ = tensors_of(tmp_path / "o" / "recovery.safetensors")
    assert set(tensors) == {"x_hat", "y"}  # no truth, no latent
    assert not list((tmp_path / "o" / "images").glob("*-truth.png"))
    assert len(list((tmp_path / "o" / "images").glob("*-recovered.png"))) == 2
    # the operator is the one the measurements were taken with: A^T y as computed here
    assert torch.allclose(tensors["x_hat"], op.adjoint(y), atol=1e-5)
    assert not torch.allclose(tensors["x_hat"], make_operator("cs", m=60, shape=(1, 28, 28), seed=6).adjoint(y),
                              atol=1e-2)


# ---------------------------------------------------------------------------------------------- zoo

def tiny_vae_folder(folder: Path, stem: str = "model") -> Path:
    """A folder as ``genprior train vae`` leaves it (``model.*`` beside a training state), with a tiny VAE."""
    from genprior.models.checkpoint import save_model
    from genprior.models.vae import VAE

    torch.manual_seed(3)
    save_model(folder / stem, VAE(output_shape=(1, 28, 28), hidden=(16,), latent_dim=3), data={"dataset": "mnist"})
    return folder


def test_zoo_add_list_and_use_by_name(capsys, tmp_path):
    shipped = sorted(p.name for p in zoo._root().iterdir())
    folder = tiny_vae_folder(tmp_path / "runs" / "vae")
    code, _, err = run(capsys, "zoo", "add", "my-vae", folder)
    assert code == 0, err
    assert (tmp_path / "home" / "zoo" / "my-vae.safetensors").is_file()
    assert sorted(p.name for p in zoo._root().iterdir()) == shipped  # nothing written into the package
    code, out, _ = run(capsys, "zoo", "list")
    assert code == 0 and "| my-vae | vae | 3 | mnist |" in out and "| mnist-vae | vae | 20 |" in out
    assert zoo.user_names() == ["my-vae"] and "my-vae" in zoo.names(include_user=True) and "my-vae" not in zoo.names()
    png = write_pngs(tmp_path)[0]
    code, _, err = run(capsys, "recover", "--image", png, "--task", "cs", "--m", "30", "--method", "csgm",
                       "--model", "my-vae", *TINY, "--out", tmp_path / "o")
    assert code == 0, err
    tensors, _ = tensors_of(tmp_path / "o" / "recovery.safetensors")
    assert tensors["z_hat"].shape == (1, 3)
    assert json.loads((tmp_path / "o" / "settings.json").read_text())["model"] == "my-vae"
    code, _, _ = run(capsys, "zoo", "remove", "my-vae")
    assert code == 0 and zoo.user_names() == []


def test_zoo_add_refusals(capsys, tmp_path):
    folder = tiny_vae_folder(tmp_path / "runs" / "vae")
    refused(capsys, "is a shipped entry", "zoo", "add", "mnist-vae", folder)
    for bad in ("a/b", "../up", "x.y", "", "_lead", "a" * 101):
        refused(capsys, "must be 1..100 letters", "zoo", "add", bad, folder)
    assert run(capsys, "zoo", "add", "mine", folder)[0] == 0
    refused(capsys, "taken in the user zoo", "zoo", "add", "mine", folder)
    tiny_vae_folder(tmp_path / "runs" / "other")
    assert run(capsys, "zoo", "add", "mine", tmp_path / "runs" / "other", "--force")[0] == 0
    refused(capsys, "holds no model", "zoo", "add", "other", tmp_path)
    refused(capsys, "only user entries", "zoo", "remove", "mnist-vae")
    assert not (tmp_path / "home" / "zoo" / "other.json").exists()


def test_training_folder_loads_as_model(tmp_path):
    from genprior.io import save_tensors

    gan = tiny_vae_folder(tmp_path / "gan", stem="generator")
    model, cfg = zoo.resolve(str(gan))
    assert model.latent_dim == 3 and cfg["architecture"]["family"] == "vae"
    assert zoo.model_file(gan) == gan / "generator"
    (tmp_path / "early").mkdir()
    save_tensors(tmp_path / "early" / "state.safetensors", {"a": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="no model yet"):
        zoo.resolve(str(tmp_path / "early"))


# ---------------------------------------------------------------------------------------------- messages

def test_missing_data_message_points_to_the_bundled_set(tmp_path):
    from genprior.data import load_dataset

    with pytest.raises(DataNotFoundError) as info:
        load_dataset("mnist", "test", data_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message and "--dataset mnist-bundled" in message and "GENPRIOR_DATA" in message
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        assert name in message


def test_zoo_configs_name_no_folder_outside_the_package():
    for path in zoo._root().glob("*.json"):
        text = path.read_text()
        assert "../" not in text and "/work/" not in text, path.name
