"""`genprior train vae` and `genprior train gan` killed with SIGKILL at random instants, many times over.

Each run is a real process running the command line (``genprior.cli.main``), forked from a multiprocessing fork server
that has torch and genprior imported already (a fresh interpreter would spend its first seconds importing), with one
thread and ``GENPRIOR_TEST_PAUSE_IN_SAVE`` set so that most instants fall inside a checkpoint write (between writing a
temporary file and renaming it). A chain of runs into one folder, each with ``--resume``, is killed until one
finishes; after every kill the state loads and is one consistent unit, and the finished chain's files equal an
uninterrupted run's bit for bit.
"""

import json
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path

import pytest
import torch

from genprior.io import load_tensors
from genprior.models import load_model
from genprior.train.state import read_training_state

COMMANDS = {  # tiny runs: 4 epochs of a few steps each
    "vae": ["train", "vae", "--dataset", "digits", "--epochs", "4", "--patience", "100", "--hidden", "8",
            "--latent-dim", "2", "--batch-size", "300", "--device", "cpu"],
    "gan": ["train", "gan", "--dataset", "ring", "--toy-samples", "256", "--g-hidden", "8", "--d-hidden", "8",
            "--batch-size", "64", "--epochs", "4", "--samples-every", "0", "--quiet", "--device", "cpu"],
}
DERIVED = {"vae": "model", "gan": "generator"}  # the model file each trainer writes beside its state
KILLS = 20  # per command, at least
BUDGET_S = 150  # per command, against a hang: the kills take about 10 s on 2 idle cores (30 s with 6 jobs on them)
PAUSE_S = 0.02  # before each rename of an atomic write


def _run(argv: list[str], log: str, pause: float) -> None:
    """A child process: the command line, one thread, its output to ``log``; exits with main's return code."""
    os.environ["GENPRIOR_TEST_PAUSE_IN_SAVE"] = str(pause)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    torch.set_num_threads(1)
    from genprior.cli import main

    code = main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@pytest.fixture(scope="module")
def forkserver():
    mp = pytest.MonkeyPatch()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # for the fork server, if this starts it
        mp.setenv(name, "1")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([  # all that a run imports (Adam's constructor imports torch._dynamo: seconds)
        __name__, "torch._dynamo", "sklearn.datasets", "genprior.train.vae", "genprior.train.gan", "genprior.data.toy2d",
        "genprior.evaluate", "genprior.operators", "genprior.robust", "genprior.solvers",
        *(f"genprior.cli.{name}" for name in ("train", "zoo", "recover", "walk", "robust", "evaluate", "ood"))])
    warm_up = ctx.Process(target=os.getpid)  # starts the fork server (seconds), outside the timed runs
    warm_up.start()
    warm_up.join()
    yield ctx
    mp.undo()


def _start(ctx, argv: list[str], log: Path, pause: float):
    p = ctx.Process(target=_run, args=(argv, str(log), pause))
    p.start()
    return p


def _check_state(folder: Path, family: str) -> None:
    """The folder a kill left: no state yet, or a state whose record and tensors are one consistent unit (its
    optimizers' step counts are its epoch's), and every complete model pair beside it loads."""
    if not (folder / "state.safetensors").exists():
        assert not (folder / "state.json").exists()
        return
    record, tensors = read_training_state(folder / "state")
    epoch = record["epoch"]
    assert 1 <= epoch <= 4 and len(record["history"]) == epoch
    if family == "vae":
        assert tensors["optim.adam.0.step"].item() == epoch * 5  # 1500 images in batches of 300
    else:
        assert tensors["optim.discriminator.0.step"].item() == record["d_steps_done"] == epoch * 4  # 256 / 64
        assert tensors["optim.generator.0.step"].item() == record["g_steps_done"] == epoch * 4
    stem = folder / DERIVED[family]
    if stem.with_suffix(".json").exists() and stem.with_suffix(".safetensors").exists():
        load_model(stem)


def _same_run(folder: Path, reference: Path, family: str) -> None:
    """``folder``'s state and model equal ``reference``'s bit for bit (timings and commands aside)."""
    for name in ("state.safetensors", f"{DERIVED[family]}.safetensors"):
        ours, theirs = load_tensors(folder / name), load_tensors(reference / name)
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), (name, key)
    record, _ = read_training_state(folder / "state")
    ref, _ = read_training_state(reference / "state")
    assert json.loads((folder / "state.json").read_text()) == record  # the readable copy is the state's

    def drop_timing(r):
        r = {k: v for k, v in r.items() if k not in ("command", "resumed_with")}
        r["history"] = [{k: v for k, v in h.items() if k != "seconds"} for h in r["history"]]
        return r

    assert drop_timing(record) == drop_timing(ref)
    _, config = load_model(folder / DERIVED[family])
    assert config.get("epochs", config.get("epochs_trained")) == 4


@pytest.mark.parametrize("family", ["vae", "gan"])
def test_training_survives_sigkill_at_any_instant(tmp_path, forkserver, family):
    argv = [*COMMANDS[family], "--resume", "--out"]
    log = tmp_path / "log.txt"
    t0 = time.monotonic()
    reference = _start(forkserver, [*argv, str(tmp_path / "reference")], log, PAUSE_S)
    reference.join(60)
    assert reference.exitcode == 0, log.read_text()[-2000:]
    span = time.monotonic() - t0  # an uninterrupted run's length: kill instants are drawn in [0, span]
    rng = random.Random(0)
    kills, inside_a_write, chains = 0, 0, 0
    deadline = time.monotonic() + BUDGET_S
    while kills < KILLS:
        folder = tmp_path / f"chain{chains}"
        chains += 1
        while True:  # one chain: resume until a run finishes
            assert time.monotonic() < deadline, f"only {kills} kills in {BUDGET_S} s"
            p = _start(forkserver, [*argv, str(folder)], log, PAUSE_S)
            p.join(rng.uniform(0, span))
            if p.exitcode is None:
                p.kill()
                p.join()
                kills += 1
                inside_a_write += bool(list(folder.glob(".*.tmp")))
                _check_state(folder, family)
                continue
            assert p.exitcode == 0, log.read_text()[-2000:]
            _same_run(folder, tmp_path / "reference", family)
            assert not list(folder.glob(".*.tmp"))  # the killed writes' temporary files are gone
            break
    assert inside_a_write >= 1, "no kill fell inside a checkpoint write"
