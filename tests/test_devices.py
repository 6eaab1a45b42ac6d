"""Device choice: ``pick_device`` and the CLI's ``--device`` (the GPU paths themselves run in benchmarks/gpu_checks.sh)."""

import json

import pytest
import torch
from torch import nn

from genprior.cli import main
from genprior.devices import device_of, pick_device
from genprior.errors import InvalidValueError, UnknownNameError

NO_CUDA = not torch.cuda.is_available()


def test_auto_is_the_gpu_when_there_is_one_else_the_cpu():
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device() == pick_device("auto")
    assert pick_device(" CPU ") == torch.device("cpu")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_without_a_gpu_is_a_clear_error(name):
    with pytest.raises(InvalidValueError, match="no CUDA GPU"):
        pick_device(name)


@pytest.mark.skipif(NO_CUDA, reason="needs a CUDA GPU")
def test_cuda_index_beyond_the_gpus_is_a_clear_error():
    with pytest.raises(InvalidValueError, match="CUDA GPU"):
        pick_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "gpu", "", "cuda:-1"])
def test_unknown_device_names(name):
    with pytest.raises(UnknownNameError, match="unknown device"):
        pick_device(name)


def test_device_of_a_module_and_of_a_plain_callable():
    assert device_of(nn.Linear(2, 2)) == torch.device("cpu")
    assert device_of(nn.ReLU()) == torch.device("cpu")  # no parameters
    assert device_of(lambda z: z) == torch.device("cpu")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("argv", [
    ["recover", "--task", "cs", "--m", "20", "--method", "lasso-dct", "--dataset", "mnist-bundled", "--device", "cuda"],
    ["demo", "--device", "cuda"],
    ["train", "vae", "--dataset", "digits", "--epochs", "1", "--device", "cuda"],
    ["train", "gan", "--dataset", "ring", "--epochs", "1", "--device", "cuda"],
    ["train", "began", "--dataset", "digits", "--epochs", "1", "--device", "cuda"],
    ["train", "classifier", "--dataset", "digits", "--epochs", "1", "--device", "cuda"],
])
def test_cli_device_cuda_without_a_gpu_exits_2_in_one_line(capsys, tmp_path, argv):
    code = main(argv + (["--out", str(tmp_path / "o")]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no CUDA GPU" in err[0], err
    assert not (tmp_path / "o").exists()  # refused before any work or output


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("argv", [
    ["attack", "--dataset", "mnist-bundled", "--indices", "0:2", "--device", "cuda", "--json"],
    ["attack", "--dataset", "mnist-bundled", "--indices", "0:2", "--device", "cuda", "--grid"],
    ["explain", "--dataset", "mnist-bundled", "--indices", "0:2", "--device", "cuda", "--out"],
    ["walk", "--device", "cuda", "--out"],
])
def test_cli_attack_and_explain_device_cuda_without_a_gpu_exit_2(capsys, tmp_path, argv):
    code = main(argv + [str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no CUDA GPU" in err[0], err
    assert not (tmp_path / "o").exists()


def test_cli_unknown_device_exits_2(capsys):
    code = main(["recover", "--task", "cs", "--m", "20", "--method", "lasso-dct", "--dataset", "mnist-bundled",
                 "--device", "tpu"])
    assert code == 2 and "unknown device 'tpu'" in capsys.readouterr().err


def test_cli_recover_reports_its_device(capsys, tmp_path):
    code = main(["recover", "--task", "inpaint", "--keep", "0.3", "--method", "csgm-fast", "--dataset", "mnist-bundled",
                 "--indices", "0:2", "--device", "cpu", "--json", str(tmp_path / "r.json"), "--out", str(tmp_path / "o")])
    assert code == 0
    assert json.loads((tmp_path / "r.json").read_text())["device"] == "cpu"
    assert (tmp_path / "o" / "recovery.png").stat().st_size > 1000


def test_cli_attack_reports_its_device(tmp_path):
    code = main(["attack", "--dataset", "mnist-bundled", "--indices", "0:4", "--attack", "pgd", "--pgd-steps", "3",
                 "--device", "cpu", "--json", str(tmp_path / "a.json")])
    assert code == 0
    result = json.loads((tmp_path / "a.json").read_text())
    assert result["device"] == "cpu" and result["n_images"] == 4 and result["linf_max"] <= 0.3 + 1e-6
