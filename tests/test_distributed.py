"""genprior under torchrun (2 CPU processes, gloo on localhost): training with DistributedDataParallel follows one
process's loss trajectory, a sharded recovery gives one process's numbers, and bad input ends with one error line
(rank 0's) and exit code 2 on every rank. The block split itself (:func:`genprior.distributed.shard`) is checked
without processes."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from genprior import distributed
from genprior.io import load_tensors_and_metadata

TIMEOUT = 180  # seconds per launched command: a hang fails the test instead of the suite


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                           "MASTER_PORT", "TORCHELASTIC_RUN_ID")}
    return {**env, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", **extra}


def plain(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genprior", *args], check=False, cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=TIMEOUT)


def torchrun(args: list[str], cwd: Path, n: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node n -m genprior -- ARGS`` (the ``--`` keeps torchrun from reading
    ``--m`` as an abbreviation of one of its own options)."""
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
                           "-m", "genprior", "--", *args], check=False, cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=TIMEOUT)


def ranks_by_hand(args: list[str], cwd: Path, n: int = 2) -> list[subprocess.CompletedProcess]:
    """Start ``python -m genprior ARGS`` as ranks 0..n-1 of one job with torchrun's environment variables set by
    hand, so that each rank's exit code and output can be read."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [subprocess.Popen([sys.executable, "-m", "genprior", *args], cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env=_env(RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(n), LOCAL_WORLD_SIZE=str(n),
                                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)))
             for r in range(n)]
    done = []
    for r, p in enumerate(procs):
        out, err = p.communicate(timeout=TIMEOUT)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def close(a: float, b: float, rel: float = 1e-5) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 8, 40, 41])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shard_blocks_cover_the_range_in_order(n, world):
    blocks = [distributed.shard(n, of=world, at=r) for r in range(world)]
    assert [i for b in blocks for i in range(n)[b]] == list(range(n))
    sizes = [b.stop - b.start for b in blocks]
    assert max(sizes) - min(sizes) <= 1


def test_without_torchrun_everything_is_one_process():
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main()
    assert not distributed.active()
    assert distributed.shard(5) == slice(0, 5)
    assert distributed.gather("x") == ["x"]
    assert distributed.run_together(lambda: 3) == 3


VAE_ARGS = ["train", "vae", "--dataset", "digits", "--epochs", "2", "--batch-size", "50", "--hidden", "32",
            "--latent-dim", "4", "--device", "cpu", "--quiet"]


def test_vae_training_on_two_ranks_follows_one_process(tmp_path):
    one = plain([*VAE_ARGS, "--out", "one"], tmp_path)
    two = torchrun([*VAE_ARGS, "--out", "two"], tmp_path)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    history = {name: json.loads((tmp_path / name / "state.json").read_text())["history"] for name in ("one", "two")}
    assert len(history["one"]) == len(history["two"]) == 2
    for a, b in zip(history["one"], history["two"]):
        assert close(a["train_nelbo"], b["train_nelbo"]) and close(a["test_nelbo"], b["test_nelbo"]), (a, b)
    w1, _ = load_tensors_and_metadata(tmp_path / "one" / "model.safetensors")
    w2, _ = load_tensors_and_metadata(tmp_path / "two" / "model.safetensors")
    assert w1.keys() == w2.keys()
    assert all(float((w1[k] - w2[k]).abs().max()) < 1e-4 for k in w1)
    assert not list((tmp_path / "two").glob(".*.tmp"))  # rank 0 alone wrote, atomically


@pytest.mark.slow
def test_a_resume_under_torchrun_continues_as_without_it(tmp_path):
    for name, run in (("one", plain), ("two", torchrun)):
        assert run([*VAE_ARGS, "--out", name], tmp_path).returncode == 0
        more = run([*VAE_ARGS, "--out", name, "--resume", "--epochs", "3"], tmp_path)
        assert more.returncode == 0, more.stderr
    one, two = (json.loads((tmp_path / name / "state.json").read_text()) for name in ("one", "two"))
    assert two["epoch"] == 3 and two["resumed_with"][0]["after_epoch"] == 2
    assert all(close(a["train_nelbo"], b["train_nelbo"]) for a, b in zip(one["history"], two["history"]))


RECOVER_ARGS = ["recover", "--task", "cs", "--m", "100", "--method", "csgm-fast", "--indices", "0:8",
                "--dataset", "mnist-bundled", "--device", "cpu", "--quiet"]
TIMINGS = ("seconds", "seconds_per_image")


def test_sharded_recovery_gives_the_numbers_of_one_process(tmp_path):
    one = plain([*RECOVER_ARGS, "--json", "one.json"], tmp_path)
    two = torchrun([*RECOVER_ARGS, "--json", "two.json"], tmp_path)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert two.stdout.count('"mse_per_pixel"') == 1  # rank 0 alone prints the result
    a, b = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("one", "two"))
    assert a.keys() == b.keys()
    for key in a:
        if key in TIMINGS:
            continue
        if isinstance(a[key], float):  # errors: the same up to round-off (other batch sizes in the products)
            assert close(a[key], b[key]), (key, a[key], b[key])
        else:  # counts, settings, names: exactly
            assert a[key] == b[key], key


@pytest.mark.parametrize("args, words", [
    (["recover", "--task", "cs", "--m", "100", "--method", "csgm-fast", "--indices", "0:99999",
      "--dataset", "mnist-bundled"], "indices"),  # refused before the process group
    (VAE_ARGS[:-1] + ["--batch-size", "51", "--out", "odd"], "divide"),  # refused inside it, by every rank
    (["recover", "--task", "cs", "--m", "-3", "--method", "csgm"], "--m"),  # refused by the parser
    (["demo", "--out", "demo"], "torchrun"),  # a command that does not share out its work
])
def test_bad_input_gives_one_error_line_and_exit_code_2_on_every_rank(tmp_path, args, words):
    assert_refused_by_every_rank(args, tmp_path, words)


def assert_refused_by_every_rank(args: list[str], folder: Path, words: str) -> None:
    """``genprior ARGS`` on two ranks: exit code 2 on both, one error line naming ``words`` on rank 0 only, and
    nothing written to ``folder``."""
    ranks = ranks_by_hand(args, folder)
    assert [r.returncode for r in ranks] == [2, 2], [r.stderr for r in ranks]
    lines = ranks[0].stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genprior: error:") and words in lines[0], ranks[0].stderr
    assert ranks[1].stderr.strip() == ""
    assert not list(folder.iterdir())  # nothing written


@pytest.mark.slow
def test_torchrun_reports_the_failure(tmp_path):
    run = torchrun(["recover", "--task", "cs", "--m", "100", "--method", "csgm-fast", "--indices", "0:99999",
                    "--dataset", "mnist-bundled"], tmp_path)
    assert run.returncode != 0
    assert run.stderr.count("genprior: error:") == 1
    assert "exitcode  : 2" in run.stderr
