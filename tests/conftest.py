import os
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
# This repository's convention, not the package's: with no GENPRIOR_DATA, the tests (and the commands they run in
# subprocesses, which inherit it) read the data folder beside the checkout
if "GENPRIOR_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["GENPRIOR_DATA"] = str(SHARED_DATA.resolve())

# The tests' tensors are small: one thread avoids OpenMP overhead and oversubscription on shared machines.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def data_dir() -> Path:
    """The real data folder (GENPRIOR_DATA or ../shared/data); tests needing it skip without it, and fail when
    GENPRIOR_REQUIRE_DATA is set (CI sets it: there a missing folder must not pass as a few skips)."""
    d = Path(os.environ.get("GENPRIOR_DATA", SHARED_DATA))
    if not (d / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        if os.environ.get("GENPRIOR_REQUIRE_DATA"):
            pytest.fail(f"MNIST not found under {d} and GENPRIOR_REQUIRE_DATA is set")
        pytest.skip(f"MNIST not found under {d}")
    return d


class ReluNet(torch.nn.Module):
    """A generator written outside genprior: a random expansive ReLU net k -> 200 -> 784 with sigmoid output."""

    def __init__(self, k: int = 20, hidden: int = 200, seed: int = 1):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.latent_dim = k
        self.l1 = torch.nn.Linear(k, hidden)
        self.l2 = torch.nn.Linear(hidden, 784)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)

    def forward(self, z):
        return torch.sigmoid(self.l2(torch.relu(self.l1(z)))).view(-1, 1, 28, 28)


@pytest.fixture
def relu_net() -> ReluNet:
    return ReluNet()


class TinyMLP(torch.nn.Module):
    """A 64 -> hidden -> 10 classifier for 8x8 images; ``config()`` lets the trainers checkpoint it."""

    def __init__(self, hidden: int = 64, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.hidden = hidden
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, hidden), torch.nn.ReLU(),
                                       torch.nn.Linear(hidden, 10))

    def config(self) -> dict:
        return {"family": "test-mlp", "hidden": self.hidden}

    def forward(self, x):
        return self.net(x)


@pytest.fixture
def no_work(monkeypatch):
    """Make loading data or a model fail the test: what is checked must be refused before any work."""
    import genprior.data

    def work(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(genprior.data, "load_dataset", work)
    monkeypatch.setattr("genprior.zoo.resolve", work)
    monkeypatch.setattr("genprior.zoo.load", work)


class DivergingAdam(torch.optim.Adam):
    """Adam whose every step leaves the parameters NaN: a run that diverges at its first step."""

    def step(self, closure=None):
        loss = super().step(closure)
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    p.fill_(float("nan"))
        return loss


@pytest.fixture
def cli_error(capsys):
    """``cli_error(argv)``: run ``genprior argv``, assert it exits with 2 and one line ``genprior: error: ...`` on
    stderr, and return that line."""
    from genprior.cli import main

    def refused(argv: list[str]) -> str:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("genprior: error:") and "\n" not in err, err
        return err

    return refused


@pytest.fixture
def one_thread():
    """Run the test on one torch thread (small convolutions are slower and less reproducible on more), then restore
    the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
