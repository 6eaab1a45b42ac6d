"""Package conventions: ``--version`` and ``python -m genprior``, bare ``genprior``, help texts that show defaults,
``--quiet``, progress reports (tqdm on a terminal, plain periodic lines elsewhere, ``TQDM_DISABLE``), lazy
submodules, and the files a release carries (py.typed, LICENSE, NOTICE, CHANGELOG)."""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
from importlib import metadata, resources
from pathlib import Path

import pytest

import genprior
from genprior import progress
from genprior.cli import _OneLineErrors, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], check=False, capture_output=True, text=True, env=ENV, timeout=120)


# ------------------------------------------------------------------------------------------------ the version

def test_version_in_process(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"genprior {genprior.__version__}\n"


def test_python_m_genprior_prints_the_version():
    done = run_python("-m", "genprior", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"genprior {genprior.__version__}\n"


def test_version_has_one_source():
    """pyproject.toml reads the version from ``genprior.__version__``; installed metadata agrees with it."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "genprior.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.dev\d+)?", genprior.__version__)
    try:
        installed = metadata.version("genprior")
    except metadata.PackageNotFoundError:
        pytest.skip("genprior is not installed (metadata absent)")
    assert installed == genprior.__version__


# ------------------------------------------------------------------------------------------------ bare genprior and help

def test_bare_genprior_prints_usage_and_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: genprior")
    for command in ("train", "zoo", "recover", "demo", "walk", "attack", "evaluate", "ood"):
        assert re.search(rf"^\s+{command}\s", out, re.MULTILINE), command
    assert "--version" in out and "--quiet" in out


def all_parsers(parser: argparse.ArgumentParser, name: str = "genprior"):
    """(name, parser) of ``parser`` and of every subcommand below it."""
    yield name, parser
    seen = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, child in action.choices.items():
                if id(child) not in seen:
                    seen.add(id(child))
                    yield from all_parsers(child, f"{name} {sub_name}")


def states_default(text: str, default) -> bool:
    """Whether the help ``text`` states ``default``: its text after the word "default" (or just before "(default)"),
    or for a number any number written after it (a hand-written "(default 1)" states 1.0)."""
    lowered = text.lower()
    if "default" not in lowered:
        return False
    after = text[lowered.index("default"):]
    shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
    if shown in after or f"{shown} (default)" in text:  # "... X (default) or Y" names it among the choices
        return True
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        return any(float(n) == default for n in re.findall(r"-?\d+(?:\.\d*)?(?:e-?\d+)?", after))
    return False


def test_every_option_has_help_and_shows_its_default():
    parsers = list(all_parsers(build_parser()))
    assert len(parsers) > 10
    missing, hidden = [], []
    for name, parser in parsers:
        assert isinstance(parser, _OneLineErrors)
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
                continue
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                missing.append(label)
                continue
            text = formatter._expand_help(action)
            default = action.default
            if default is None or default is False or default is argparse.SUPPRESS:
                continue
            if not states_default(text, default):
                hidden.append(f"{label}: {text!r} (default {default!r})")
            assert text.lower().count("(default") <= 1, f"{label} states its default twice: {text!r}"
    assert missing == [], f"options without help: {missing}"
    assert hidden == [], f"options whose help does not show the default: {hidden}"


def test_defaults_appear_in_rendered_help(capsys):
    assert main(["train", "autoencoder", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "(default: 100)" in out  # --batch-size
    assert "(default: 500 500)" in out  # --hidden, nargs="+"


# ------------------------------------------------------------------------------------------------ --quiet

@pytest.mark.parametrize("argv", [["--quiet", "train", "gan"], ["train", "gan", "--quiet"], ["-q", "zoo", "list"],
                                  ["recover", "--task", "cs", "--method", "csgm", "-q"]])
def test_quiet_before_or_after_the_command(argv):
    assert build_parser().parse_args(argv).quiet is True


def test_quiet_defaults_off():
    assert build_parser().parse_args(["train", "gan"]).quiet is False
    assert build_parser().parse_args(["zoo", "list"]).quiet is False


def walk_argv(out: Path) -> list[str]:
    return ["walk", "--model", "mnist-vae", "--rows", "2", "--steps", "3", "--device", "cpu", "--out", str(out)]


def test_quiet_silences_informational_lines_not_results_files(tmp_path, capsys):
    assert main(walk_argv(tmp_path / "loud.png")) == 0
    assert "walk of mnist-vae" in capsys.readouterr().out
    for i, argv in enumerate((["--quiet", *walk_argv(tmp_path / "q0.png")], [*walk_argv(tmp_path / "q1.png"), "-q"])):
        assert main(argv) == 0
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err == ""
        assert (tmp_path / f"q{i}.png").stat().st_size > 0 and (tmp_path / f"q{i}.gif").stat().st_size > 0
    assert not progress.is_quiet()  # main restores the switch


def test_quiet_keeps_errors(capsys):
    assert main(["--quiet", "walk", "--model", "no-such-model", "--out", "x.png"]) == 2
    assert capsys.readouterr().err.startswith("genprior: error: ")


# ------------------------------------------------------------------------------------------------ progress reports

class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress, "_now", fake)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv("GENPRIOR_PROGRESS_PERIOD", raising=False)
    return fake


def test_no_bar_without_a_terminal(clock, capsys):
    bar = progress.progress_bar(range(5), desc="work")
    assert isinstance(bar, progress.PlainProgress)  # pytest's captured stderr is no terminal
    assert list(bar) == [0, 1, 2, 3, 4]
    assert capsys.readouterr().err == ""  # it took under a period: no line


def test_plain_lines_at_the_period(clock, capsys):
    bar = progress.progress_bar(total=100, desc="csgm", period=10)
    for step in range(100):
        clock.t += 0.5  # 2 steps a second: a line every 20 steps
        bar.update(1)
        if step == 30:
            bar.set_postfix(loss="0.25")
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "csgm: 20/100 (10 s)"
    assert lines[1] == "csgm: 40/100 (20 s) loss=0.25"
    assert lines[-1] == "csgm: 100/100 (50 s) loss=0.25"
    assert len(lines) == 5


def test_plain_period_from_the_environment(clock, capsys, monkeypatch):
    monkeypatch.setenv("GENPRIOR_PROGRESS_PERIOD", "1")
    with progress.progress_bar(total=3, desc="x", leave=False) as bar:
        for _ in range(3):
            clock.t += 1
            bar.update()
    assert capsys.readouterr().err.splitlines() == ["x: 1/3 (1 s)", "x: 2/3 (2 s)", "x: 3/3 (3 s)"]


def test_bar_on_a_terminal_and_tqdm_disable(clock, monkeypatch):
    from tqdm import tqdm

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = progress.progress_bar(range(4), desc="work")
    assert isinstance(bar, tqdm)
    assert list(bar) == [0, 1, 2, 3]
    assert "4/4" in terminal.getvalue()
    monkeypatch.setenv("TQDM_DISABLE", "1")
    before = terminal.getvalue()
    bar = progress.progress_bar(range(4), desc="work", period=0)
    assert isinstance(bar, progress.PlainProgress) and bar.silent
    assert list(bar) == [0, 1, 2, 3]
    assert terminal.getvalue() == before


def test_disabled_and_quiet_reports_are_silent(clock, capsys):
    assert progress.progress_bar(total=3, enabled=False).silent
    progress.set_quiet(True)
    try:
        bar = progress.progress_bar(total=3, desc="q", period=0)
        for _ in range(3):
            clock.t += 1
            bar.update()
        bar.close()
        progress.write("epoch 1: done")
        progress.say("written to x")
    finally:
        progress.set_quiet(False)
    assert capsys.readouterr() == ("", "")
    progress.write("epoch 1: done")
    progress.say("written to x")
    assert capsys.readouterr().out == "epoch 1: done\nwritten to x\n"


def test_no_module_of_genprior_uses_tqdm_directly():
    """Every progress report goes through genprior.progress (the one switch of --quiet and TQDM_DISABLE)."""
    users = [str(f.relative_to(ROOT)) for f in (ROOT / "src" / "genprior").rglob("*.py")
             if f.name != "progress.py" and re.search(r"^\s*(from|import) tqdm", f.read_text(), re.MULTILINE)]
    assert users == []


# ------------------------------------------------------------------------------------------------ lazy submodules

def test_import_genprior_does_not_import_torch():
    done = run_python("-c", "import sys, genprior; print(sorted(m for m in sys.modules "
                            "if m.split('.')[0] in ('torch', 'numpy', 'tqdm')))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_submodules_load_on_first_access():
    import genprior as gp

    assert gp.operators.Gaussian(m=5, shape=(1, 4, 4), seed=0).output_size == 5
    assert callable(gp.solvers.csgm)
    assert gp.progress is progress
    assert {"operators", "solvers", "zoo", "data", "models", "errors"} <= set(dir(gp))
    with pytest.raises(AttributeError, match="no attribute 'not_a_module'"):
        gp.not_a_module  # noqa: B018


# ------------------------------------------------------------------------------------------------ release files

def test_release_files():
    assert resources.files("genprior").joinpath("py.typed").is_file()
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "the genprior authors" in licence
    notice = (ROOT / "NOTICE").read_text()
    assert "MNIST" in notice and "LeCun" in notice and "Fashion-MNIST" in notice
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{genprior.__version__}]" in changelog
    manifest = (ROOT / "MANIFEST.in").read_text()
    assert all(name in manifest for name in ("LICENSE", "NOTICE", "CHANGELOG.md"))
