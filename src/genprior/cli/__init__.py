"""The ``genprior`` command line. Every bad input ends with a one-line message and exit code 2."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from genprior import distributed
from genprior.errors import SEED_LIMIT, GenpriorError, InvalidValueError, sub_seed  # noqa: F401 (sub_seed: for the subcommands)

# modules genprior/cli/NAME.py adding subcommands, in the order of the help: train (every train command), zoo,
# recover and demo, edit, walk, attack and explain, evaluate and invert, ood, serve (the web app)
_SUBCOMMAND_MODULES = ("train", "zoo", "recover", "edit", "walk", "robust", "evaluate", "ood", "serve", "sample")


def add_data_args(p: argparse.ArgumentParser, *, default_dataset: str = "mnist",
                  datasets: str = "mnist, fashion-mnist, digits or mnist-bundled") -> None:
    """``--dataset`` (``datasets``: the ones this command takes, for its help) and ``--data-dir``."""
    p.add_argument("--dataset", default=default_dataset, help=f"{datasets} (default {default_dataset})")
    p.add_argument("--data-dir", default=None, help="folder holding the data (default: $GENPRIOR_DATA, then ./data)")


def check_data_dir(args) -> None:
    """Refuse ``--data-dir`` when none of the command's data sets (``--dataset``, ``--ood-dataset``) is read from a
    folder (``mnist-bundled`` and ``digits`` ship with the code, ``ring`` and ``grid`` are drawn): it would be
    ignored."""
    from genprior.data import FOLDER_SETS

    names = [getattr(args, key) for key in ("dataset", "ood_dataset") if getattr(args, key, None) is not None]
    if getattr(args, "data_dir", None) is not None and names and not any(name in FOLDER_SETS for name in names):
        raise InvalidValueError(f"--data-dir is not read by --dataset {names[0]}: it needs no data folder (only "
                                f"{', '.join(FOLDER_SETS)} read one)")


def mode_options(args, defaults: dict, *, used: bool, owner: str) -> None:
    """Options only one mode of a command uses (``defaults``: argparse dest -> default, the options unset as
    ``None``): when the mode is not ``used`` a given one is refused, naming its ``owner`` (its result would not be
    what was asked); when it is, unset ones take their defaults."""
    from genprior.errors import InvalidValueError

    for name, default in defaults.items():
        if getattr(args, name) is not None and not used:
            raise InvalidValueError(f"--{name.replace('_', '-')} is an option of {owner}")
        if used and getattr(args, name) is None:
            setattr(args, name, default)


def png_path(text: str, *, option: str = "--out", bare: bool = True, note: str = "") -> Path:
    """``option``'s value as the path of a PNG file: with ``bare`` a bare stem gets ``.png``; another suffix (and
    without ``bare`` none) is refused: the file would hold PNG bytes under a name that says otherwise."""
    if not text.strip():  # Path("") would be the working folder
        raise InvalidValueError(f"the output path of {option} is empty")
    out = Path(text)
    if not out.name or out.suffix.lower() not in (("", ".png") if bare else (".png",)):
        raise InvalidValueError(f"{option} must name a .png file{note}, got {text!r}")
    return out.with_suffix(".png")


def check_report_outputs(args, stem: str, pictures: tuple[str, ...] = ()) -> None:
    """Before any work: check a report command's ``--json`` file and ``--out`` folder (to hold ``stem.json``,
    ``stem.md`` and ``pictures``) together (:func:`genprior.io.check_outputs`)."""
    from genprior.io import check_outputs

    check_outputs({"--json": args.json, "--out": args.out},
                  contents={"--out": (f"{stem}.json", f"{stem}.md", *pictures)})


def write_outputs(args, stem: str, report: dict, markdown: str):
    """Print ``markdown``; write ``report`` to ``--json`` when given, and both as ``--out/stem.{json,md}`` when
    ``--out`` is given (checked first by :func:`check_report_outputs`). Returns the ``--out`` folder as a Path, or None."""
    from pathlib import Path

    from genprior.io import write_json
    from genprior.reports import write_report

    print(markdown)
    if args.json is not None:
        write_json(args.json, report)
    if args.out is None:
        return None
    out = Path(args.out)
    write_report(out / stem, report, markdown)
    return out


# Upper bounds of the numeric options: far above any useful setting, low enough that a run can represent its
# numbers in float32 and finish (every option has both bounds; a value outside is refused when it is parsed).
MAX_LR = 10.0  # Adam rates: a step moves each parameter by up to about lr
MAX_WEIGHT = 1e6  # loss weights (lam, alpha) and min_delta: beyond, the other terms vanish in float32 sums
MAX_NOISE = 1e3  # noise levels sigma, for images in [0, 1]
MAX_EPOCHS = 100_000
MAX_STEPS = 1_000_000  # iterations of a solver or an attack
MAX_RESTARTS = 10_000
MAX_BATCH = 1_000_000
MAX_WIDTH = 65_536  # layer widths, channels, latent sizes, image sides
MAX_COUNT = 10_000_000  # images, samples or measurements taken or drawn


def number_arg(*, low: float, high: float, strict: bool = False, strict_high: bool = False, integer: bool = False):
    """An argparse ``type``: a finite float (an integer with ``integer``) ``>= low`` and ``<= high`` (``> low``
    with ``strict``, ``< high`` with ``strict_high``); NaN, inf, non-integers and values out of range are refused
    at parsing with a one-line error naming the option and the range."""
    kind = "an integer" if integer else "a finite number"
    show = "{}" if integer else "{:g}"
    bounds = f"{'>' if strict else '>='} {show.format(low)} and {'<' if strict_high else '<='} {show.format(high)}"

    def parse(text: str) -> float | int:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if integer else 'a number'}, got {text!r}") from None
        # NaN compares false and the bounds are finite: NaN and inf fall outside
        if not ((low < value if strict else low <= value) and (value < high if strict_high else value <= high)):
            raise argparse.ArgumentTypeError(f"must be {kind} {bounds}, got {text!r}")
        return value

    parse.bounds = {"low": low, "high": high, "strict": strict, "strict_high": strict_high, "integer": integer}
    return parse


def integer_arg(low: int, high: int):
    """An argparse ``type``: an integer in ``low .. high`` (:func:`number_arg` with ``integer``)."""
    return number_arg(low=low, high=high, integer=True)


def seed_arg(text: str) -> int:
    """An argparse ``type`` for ``--seed``: an integer in 0 .. 2^63 - 1 (the API's rule,
    :func:`genprior.errors.check_seed`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be an integer in 0 .. 2^63 - 1, got {text!r}")
    return value


def add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto",
                   help="where to compute: auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda, cuda:N, mps")


LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines breaks at


def one_line(text: str) -> str:
    """``text`` with its line breaks written as escapes (``\\n``): an error message quoting what a user typed (a path,
    an argument) stays one line."""
    return "".join(c.encode("unicode_escape").decode("ascii") if c in LINE_BREAKS else c for c in text)


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help, with every option's default shown: `` (default: X)`` is appended to the help of an option
    whose default is neither None nor False, unless its text already states it (says ``default``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (default is None or default is False or default is argparse.SUPPRESS or "default" in text.lower()
                or (not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE))):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


class _OneLineErrors(argparse.ArgumentParser):
    """argparse prints its usage before a bad-option message; here a bad option is one line, like every other error
    (``genprior ... --help`` still shows the usage). Subcommand parsers inherit the class, and its help formatter
    (:class:`_HelpFormatter`: defaults shown)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        if message.startswith("argument ") and message.endswith("expected one argument"):
            # argparse reads a value that starts with '-' (such as -1:3) as the next option
            option = message.removeprefix("argument ").split(":")[0].split("/")[0]
            message += f" (for a value that starts with '-', write {option}=VALUE)"
        self.exit(2, f"genprior: error: {one_line(self.prog)}: {one_line(message)}\n" if distributed.is_main() else None)


QUIET_HELP = "no progress bars and no informational lines: only results, results files and errors"


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of ``parser``'s commands that take no further subcommand (``train vae``, ``recover``, ...)."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        return [parser]
    seen: dict[int, argparse.ArgumentParser] = {}
    for group in groups:
        for child in group.choices.values():  # an alias names the same parser twice
            seen.setdefault(id(child), child)
    return [leaf for child in seen.values() for leaf in _leaf_parsers(child)]


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    """``-q/--quiet`` before the command, and after it on every command (one ``args.quiet``; the command's copy has
    no default of its own, so that it does not undo the global one)."""
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    for leaf in _leaf_parsers(parser):
        if leaf is parser or "--quiet" in leaf._option_string_actions:
            continue
        flags = ["--quiet"] if "-q" in leaf._option_string_actions else ["-q", "--quiet"]
        leaf.add_argument(*flags, action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)


def build_parser() -> argparse.ArgumentParser:
    """The ``genprior`` parser: ``--version``, ``-q/--quiet`` and one subcommand (``_SUBCOMMAND_MODULES``)."""
    from genprior import __version__

    parser = _OneLineErrors(prog="genprior", description="Deep generative models as working tools: train them, invert "
                                                         "them, use them as priors for inverse problems.",
                            epilog="Run 'genprior COMMAND --help' for the options of a command. Bad input ends with "
                                   "a one-line message and exit code 2.")
    parser.add_argument("--version", action="version", version=f"genprior {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # each module has add_parsers(sub)
    for module in _SUBCOMMAND_MODULES:
        try:
            mod = importlib.import_module(f"genprior.cli.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"genprior.cli.{module}":
                raise
            continue
        mod.add_parsers(sub)
    _add_quiet(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``genprior ARGV`` (default: ``sys.argv[1:]``) and return its exit code: 0 on success, 2 on bad input (a
    one-line ``genprior: error: ...``), 130 when interrupted. Bare ``genprior`` prints the usage and the commands
    and returns 0."""
    from genprior.progress import is_quiet, set_quiet

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        parser.print_help()
        return 0
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a bad option after its one-line message: the code is the return value
        return e.code if isinstance(e.code, int) else 2
    was_quiet = is_quiet()
    set_quiet(was_quiet or args.quiet or not distributed.is_main())  # under torchrun rank 0 alone reports
    try:
        if distributed.launched() and not getattr(args, "torchrun", False):
            raise InvalidValueError(f"genprior {args.command} does not run under torchrun (it would run "
                                    f"{distributed.world_size()} times over): run it without torchrun")
        check_data_dir(args)
        return int(args.func(args) or 0)
    except GenpriorError as e:
        _error(one_line(str(e)))
        return 2
    except OSError as e:  # the file system failed mid-run (a full disk, a folder removed); outputs are atomic
        _error(f"{one_line(f'{e.filename}: ' if e.filename else '')}{one_line(str(e.strerror or e))}")
        return 2
    except (MemoryError, RuntimeError) as e:
        # sizes too large for the machine (a huge latent size, batch or image count) end like any bad input
        if not isinstance(e, MemoryError) and "alloc" not in str(e) and "out of memory" not in str(e):
            raise
        _error(f"out of memory: {str(e).splitlines()[0] if str(e) else 'MemoryError'}")
        return 2
    except KeyboardInterrupt:
        print("genprior: interrupted", file=sys.stderr)
        return 130
    finally:
        set_quiet(was_quiet)


def _error(message: str) -> None:
    """Print ``genprior: error: MESSAGE`` to standard error (under torchrun on rank 0 alone: every rank checks the
    same input and fails alike)."""
    if distributed.is_main():
        print(f"genprior: error: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
