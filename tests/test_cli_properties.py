"""Property tests of the command line's refusals (hypothesis). For every subcommand, any value outside a numeric
option's range and any output path that cannot be written as asked end alike: exit code 2, one line on stderr that
starts ``genprior: error:``, no traceback, nothing written, and no work started (loading data or a model fails the
test). The options come from the parser itself, so a new option or subcommand is covered, or fails
``test_every_numeric_option_declares_its_range``, without editing this file's tables of values."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genprior.cli import MAX_WEIGHT, build_parser, main, seed_arg
from genprior.cli.recover import _alpha_arg
from genprior.errors import SEED_LIMIT

# the least each subcommand needs besides the options under test (inputs that need no data folder)
BASE = {
    "recover": ["--task", "cs", "--method", "csgm", "--dataset", "mnist-bundled"],
    "edit": ["--target", "9", "--dataset", "mnist-bundled"],
    "demo": [],
    "walk": [],
    "attack": ["--dataset", "mnist-bundled"],
    "explain": ["--dataset", "mnist-bundled"],
    "evaluate": ["--model", "mnist-vae", "--dataset", "mnist-bundled"],
    "invert": ["--model", "mnist-vae", "--dataset", "mnist-bundled", "--out", "inverted"],
    "ood": ["--model", "mnist-vae", "--dataset", "mnist-bundled", "--ood-dataset", "digits"],
    "train vae": ["--dataset", "digits"],
    "train autoencoder": ["--dataset", "digits"],
    "train gan": ["--dataset", "ring"],
    "train began": ["--dataset", "digits"],
    "train classifier": ["--dataset", "digits"],
    "train causal": [],
    "train causal-labeller": [],
    "train causal-image": ["--controller", "runs/causal"],
    "train infogan": [],
    "train cyclegan": ["--dataset", "digits"],
    "train diffusion": ["--dataset", "digits"],
    "sample": [],
    "zoo list": [],
    "zoo add": ["my-model", "runs/vae"],
    "zoo remove": ["my-model"],
    "serve": [],
}
# each subcommand's outputs: option -> "file", "png" (a .png file; a bare name gets .png), "png!" (a name ending in
# .png) or the name of a file the command writes into that folder
OUTPUTS = {
    "recover": {"--json": "file", "--out": "recovery.png"},
    "edit": {"--json": "file", "--out": "edit.png"},
    "demo": {"--out": "demo.json"},
    "walk": {"--out": "png"},
    "attack": {"--json": "file", "--grid": "png!"},
    "explain": {"--out": "png"},
    "evaluate": {"--json": "file", "--out": "evaluation.md"},
    "invert": {"--out": None},  # its folder's files are not named to the check
    "ood": {"--json": "file", "--out": "ood.png"},
    "train vae": {"--out": "model.safetensors"},
    "train autoencoder": {"--out": "model.safetensors"},
    "train gan": {"--out": "generator.json"},
    "train began": {"--out": "generator.safetensors"},
    "train classifier": {"--out": "model.json"},
    "train causal": {"--out": "controller.safetensors"},
    "train causal-labeller": {"--out": "model.safetensors"},
    "train causal-image": {"--out": "generator.safetensors"},
    "train infogan": {"--out": "generator.safetensors"},
    "train cyclegan": {"--out": "model.safetensors"},
    "train diffusion": {"--out": "model.safetensors"},
    "sample": {"--out": "png"},
}
SEED_BOUNDS = {"low": 0, "high": SEED_LIMIT - 1, "strict": False, "strict_high": False, "integer": True}
ALPHA_BOUNDS = {"low": 0, "high": MAX_WEIGHT, "strict": False, "strict_high": False, "integer": False}  # or auto


def subcommands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
    """``(name, parser)`` of every subcommand that runs (``"train vae"``, ``"zoo list"``, ...)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from subcommands(sub, (*words, name))
            return
    yield " ".join(words), parser


PARSERS = dict(subcommands(build_parser()))


def bounds_of(action: argparse.Action) -> dict | None:
    if action.type is seed_arg:
        return SEED_BOUNDS
    if action.type is _alpha_arg:
        return ALPHA_BOUNDS
    return getattr(action.type, "bounds", None)


def numeric_options(command: str) -> dict[str, tuple[dict, object]]:
    """``--option -> (bounds, nargs)`` of a subcommand's numeric options."""
    return {a.option_strings[-1]: (bounds_of(a), a.nargs) for a in PARSERS[command]._actions
            if a.option_strings and a.type is not None}


def test_every_numeric_option_declares_its_range():
    assert set(PARSERS) == set(BASE), "give a new subcommand its BASE (and OUTPUTS) here"
    for command, parser in PARSERS.items():
        for action in parser._actions:
            if action.type is None or not action.option_strings:
                continue
            bounds = bounds_of(action)
            assert bounds is not None, f"{command} {action.option_strings[-1]} has no range (type {action.type})"
            assert math.isfinite(bounds["low"]) and math.isfinite(bounds["high"]) and bounds["low"] < bounds["high"]
            defaults = action.default if isinstance(action.default, list) else [action.default]
            for value in defaults:  # a default lies in its own range
                assert value is None or bounds["low"] <= value <= bounds["high"], (command, action.option_strings)


def _values(option: str, nargs, value: str) -> list[str]:
    """``option`` given ``value`` (its other values valid: 1): ``--x=VALUE`` keeps a value starting with '-' a value."""
    if isinstance(nargs, int) and nargs > 1:
        return [option, *["1"] * (nargs - 1), value]
    return [f"{option}={value}"]


@pytest.mark.parametrize("command", [c for c in BASE if numeric_options(c)])
def test_range_ends_are_accepted_and_just_outside_refused_when_parsed(command):
    parser = PARSERS[command]
    for option, (b, nargs) in numeric_options(command).items():
        inside = [v for v, excluded in ((b["low"], b["strict"]), (b["high"], b["strict_high"])) if not excluded]
        for value in inside:
            parser.parse_args([*BASE[command], *_values(option, nargs, str(value))])
        step = 1 if b["integer"] else max(abs(b["high"]), 1) * 1e-9
        outside = [b["high"] + step, b["low"] - (1 if b["integer"] else max(abs(b["low"]), 1) * 1e-9)]
        for value in outside:
            with pytest.raises(SystemExit):
                parser.parse_args([*BASE[command], *_values(option, nargs, str(value))])


def _is(kind, text: str) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


def outside_range(b: dict) -> st.SearchStrategy[str]:
    """Texts that are not a number in the range ``b`` describes."""
    not_numbers = st.text(max_size=12).filter(lambda t: not _is(int if b["integer"] else float, t))
    specials = st.sampled_from(["nan", "inf", "-inf", "1e309", "-1e309", "", " ", "0x10", "1,5", "1/2"])
    if b["integer"]:
        below = st.integers(max_value=b["low"] - 1)
        above = st.integers(min_value=b["high"] + 1) | st.sampled_from([2 ** 63, 2 ** 64, 10 ** 30, 10 ** 400])
        fractions = st.integers(b["low"], b["high"] - 1).map(lambda i: f"{i}.5")
        return st.one_of(below.map(str), above.map(str), fractions, specials, not_numbers)
    below = st.floats(max_value=b["low"], exclude_max=not b["strict"], allow_nan=False)
    above = st.floats(min_value=b["high"], exclude_min=not b["strict_high"], allow_nan=False)
    return st.one_of(below.map(repr), above.map(repr), st.sampled_from(["1e39", "3.5e38", "-1e-320"]).filter(
        lambda t: not b["low"] <= float(t) <= b["high"]), specials, not_numbers)


def refused(capsys, argv: list[str], folder: Path, before: dict) -> None:
    """``genprior argv`` exits 2 with one line naming an error, and ``folder`` is as ``before``."""
    code = main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("genprior: error:"), (argv, err)
    assert "Traceback" not in err and out == "", (argv, err)
    assert snapshot(folder) == before, argv


def snapshot(folder: Path) -> dict:
    """Every entry under ``folder``: its kind and, for files, its bytes; for links, where they point."""
    found = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            found[str(p)] = ("link", os.readlink(p))
        elif p.is_fifo():
            found[str(p)] = ("fifo",)
        elif p.is_file():
            found[str(p)] = ("file", p.read_bytes())
        else:
            found[str(p)] = ("folder",)
    return found


PROPERTY = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.parametrize("command", [c for c in BASE if numeric_options(c)])
@PROPERTY
@given(data=st.data())
def test_numbers_outside_an_options_range_exit_2_in_one_line(capsys, tmp_path, monkeypatch, no_work, command, data):
    monkeypatch.chdir(tmp_path)  # default outputs (walk.png, runs/...) would land here
    options = numeric_options(command)
    option = data.draw(st.sampled_from(sorted(options)), label="option")
    bounds, nargs = options[option]
    value = data.draw(outside_range(bounds), label="value")
    if option == "--alpha" and value == "auto":
        return
    refused(capsys, [*command.split(), *BASE[command], *_values(option, nargs, value)], tmp_path, {})


# names a user might give: letters, digits, spaces, punctuation, other scripts and line breaks (never '/' or NUL)
NAMES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="/\0"), min_size=1, max_size=16).filter(
    lambda n: n not in (".", "..") and len(n.encode("utf-8", "surrogateescape")) < 200)
KINDS = ("link", "dangling link", "fifo", "under a file", "existing other kind", "empty", "proc", "same", "suffix")


def _bad_output(data, command: str, root: Path) -> list[str] | None:
    """Build a bad output on disk under ``root`` for one of ``command``'s outputs; returns its options (None when
    the drawn kind does not apply to that output)."""
    outputs = OUTPUTS[command]
    option = data.draw(st.sampled_from(sorted(outputs)), label="output")
    role = outputs[option]
    folder = role not in ("file", "png", "png!")
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    name = data.draw(NAMES, label="name")
    png = role in ("png", "png!")
    leaf = f"{name}.png" if png else name
    target = root / "target"
    target.write_bytes(b"keep me")
    if kind in ("link", "dangling link"):
        if folder and role is None:
            return None
        link = (root / leaf / role) if folder else root / leaf
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target if kind == "link" else root / "nowhere")
        return [f"{option}={root / leaf}"]
    if kind == "fifo":
        os.mkfifo(root / leaf)
        return [f"{option}={root / leaf}"]
    if kind == "under a file":
        return [f"{option}={target / leaf}"]
    if kind == "existing other kind":  # a folder where a file goes, a file where a folder goes
        if folder:
            (root / leaf).write_bytes(b"a file")
        else:
            (root / leaf).mkdir()
        return [f"{option}={root / leaf}"]
    if kind == "empty":
        return [f"{option}={data.draw(st.sampled_from(['', ' ', '  ']))}"]
    if kind == "proc":
        if not Path("/proc/self").is_dir():
            return None
        return [f"{option}=/proc/{leaf}" + ("" if folder else f"/{leaf}")]
    if kind == "same":
        others = [o for o in outputs if o != option]
        if not others:
            return None
        other = others[0]
        if folder:  # the other output (a file) at one of this folder's files, or at the folder itself
            inner = data.draw(st.sampled_from([role, ""]))
            return [f"{option}={root / leaf}", f"{other}={root / leaf / inner if inner else root / leaf}"]
        path = root / (leaf if outputs[other] == "file" or leaf.endswith(".png") else f"{leaf}.png")
        if outputs[other] not in ("file", "png", "png!"):
            return [f"{other}={path.parent}", f"{option}={path.parent / outputs[other]}"]
        return [f"{option}={path}", f"{other}={path}"]
    if kind == "suffix":
        if not png:
            return None
        suffix = data.draw(st.sampled_from([".jpg", ".gif", ".json", ".png.txt"] + ([""] if role == "png!" else [])))
        return [f"{option}={root / name}{suffix}"]
    raise AssertionError(kind)


@pytest.mark.parametrize("command", sorted(OUTPUTS))
@PROPERTY
@given(data=st.data())
def test_outputs_that_cannot_be_written_as_asked_exit_2_in_one_line(capsys, tmp_path, monkeypatch, no_work, command,
                                                                    data):
    root = Path(os.path.realpath(tmp_path)) / f"example-{len(list(tmp_path.iterdir()))}"
    root.mkdir()
    monkeypatch.chdir(root)
    options = _bad_output(data, command, root)
    if options is None:
        return
    refused(capsys, [*command.split(), *BASE[command], *options], root, snapshot(root))
