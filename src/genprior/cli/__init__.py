"""The ``genprior`` command line. Every bad input ends with a one-line message and exit code 2."""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from pathlib import Path

from genprior.errors import GenpriorError

# modules genprior/cli/NAME.py adding subcommands (recover, demo, train gan, walk, attack, explain, ...)
_SUBCOMMAND_MODULES = ("recover", "gan", "robust", "began", "evaluate", "ood")


TRAINING_DATASETS = "mnist, fashion-mnist or digits (their train splits)"


def add_data_args(p: argparse.ArgumentParser, *, default_dataset: str = "mnist",
                  datasets: str = "mnist, fashion-mnist, digits or mnist-bundled") -> None:
    """``--dataset`` (``datasets``: the ones this command takes, for its help) and ``--data-dir``."""
    p.add_argument("--dataset", default=default_dataset, help=f"{datasets} (default {default_dataset})")
    p.add_argument("--data-dir", default=None, help="folder holding the data (default: $GENPRIOR_DATA, then ../shared/data)")


def check_at_least(low: int, **options) -> None:
    """Refuse any of the command's integer ``options`` (``name=value``; ``None`` means unset) below ``low``, naming
    it as its flag (``batch_size`` -> ``--batch-size``)."""
    from genprior.errors import InvalidValueError

    for name, value in options.items():
        if value is not None and value < low:
            raise InvalidValueError(f"--{name.replace('_', '-')} must be >= {low}, got {value}")


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


def png_path(text: str, *, note: str = ""):
    """``--out`` as the path of a PNG file: a bare stem gets ``.png``, another suffix is refused (the file
    would hold PNG bytes under a name that says otherwise)."""
    from pathlib import Path

    from genprior.errors import InvalidValueError

    out = Path(text)
    if not out.name or out.suffix.lower() not in ("", ".png"):
        raise InvalidValueError(f"--out must name a .png file{note}, got {text!r}")
    return out.with_suffix(".png")


def check_outputs(args) -> None:
    """Before any work: refuse a given ``--json`` file or ``--out`` folder that cannot be written."""
    from genprior.io import check_writable

    if args.json is not None:
        check_writable(args.json)
    if args.out is not None:
        check_writable(args.out, folder=True)


def write_outputs(args, stem: str, report: dict, markdown: str):
    """Print ``markdown``; write ``report`` to ``--json`` when given, and both as ``--out/stem.{json,md}`` when
    ``--out`` is given (checked first by :func:`check_outputs`). Returns the ``--out`` folder as a Path, or None."""
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


SEED_LIMIT = 2 ** 63  # seeds are 0 .. 2^63 - 1: torch's generators take 64-bit seeds, and commands add small offsets


def number_arg(*, low: float | None = None, strict: bool = False):
    """An argparse ``type``: a finite float, ``>= low`` (``> low`` with ``strict``) when ``low`` is given; NaN, inf
    and values out of range are refused at parsing with a one-line error naming the option."""
    bound = "" if low is None else f" {'>' if strict else '>='} {low:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or (low is not None and (value < low or (strict and value == low))):
            raise argparse.ArgumentTypeError(f"must be a finite number{bound}, got {text!r}")
        return value

    return parse


def seed_arg(text: str) -> int:
    """An argparse ``type`` for ``--seed``: an integer in 0 .. 2^63 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be an integer in 0 .. 2^63 - 1, got {text}")
    return value


def add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto",
                   help="where to compute: auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda, cuda:N, mps")


def add_training_args(p: argparse.ArgumentParser, *, samples: bool = False) -> None:
    """The options every ``train`` command takes (``--seed``, ``--resume``, ``--device``); with ``samples``, the GAN
    trainers' ``--samples-every`` and ``--quiet`` too."""
    if samples:
        p.add_argument("--samples-every", type=int, default=1, help="save a sample grid every N epochs (0: never)")
    p.add_argument("--seed", type=seed_arg, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT/state.* (another run's state is refused)")
    if samples:
        p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_arg(p)


def load_training_data(args) -> tuple:
    """A train command's start: its device, a check that ``args.out`` can be written, the global seed, and the
    data set's ``(train, test)`` splits. Returns ``(device, train, test)``."""
    import torch

    from genprior.data import DATASETS, TRAINING_SETS, load_dataset
    from genprior.devices import pick_device
    from genprior.errors import unknown
    from genprior.io import check_writable

    if args.dataset not in DATASETS:  # the bundled set is refused by load_dataset: it has no train split
        raise unknown("dataset", args.dataset, TRAINING_SETS)
    device = pick_device(args.device)
    check_writable(args.out, folder=True)
    torch.manual_seed(args.seed)
    train = load_dataset(args.dataset, "train", data_dir=args.data_dir)
    test = load_dataset(args.dataset, "test", data_dir=args.data_dir)
    return device, train, test


def cmd_train_vae(args) -> int:
    from genprior.models.vae import VAE
    from genprior.train.vae import train_vae

    device, train, test = load_training_data(args)
    model = VAE(output_shape=tuple(train.images.shape[1:]), hidden=tuple(args.hidden), latent_dim=args.latent_dim,
                likelihood=args.likelihood).to(device)
    info = train_vae(model, train.images, test.images, out_dir=args.out, max_epochs=args.epochs, patience=args.patience,
                     min_delta=args.min_delta,
                     batch_size=args.batch_size, lr=args.lr, seed=args.seed, resume=args.resume,
                     data_info={"dataset": args.dataset, "train_images": len(train), "test_images": len(test)})
    best = info["history"][info["best_epoch"] - 1]
    print(f"best epoch {info['best_epoch']} of {info['epoch']}: train ELBO {-best['train_nelbo']:.2f}, "
          f"test ELBO {-best['test_nelbo']:.2f}; model written to {Path(args.out) / 'model.safetensors'}")
    return 0


def cmd_zoo_list(args) -> int:
    from genprior import zoo
    from genprior.reports import markdown_table

    rows = []
    for name in zoo.names():
        cfg = zoo.config(name)
        arch = cfg["architecture"]
        quality = ", ".join(f"{k} {cfg[k]:.4g}" for k in ("test_elbo", "test_accuracy", "sample_confidence") if isinstance(cfg.get(k), (int, float)))
        family = arch.get("family", "") + (f" ({arch['likelihood']} decoder)" if "likelihood" in arch else "")
        rows.append({"name": name, "family": family, "latent_dim": arch.get("latent_dim", ""),
                     "data": (cfg.get("data") or {}).get("dataset", ""), "quality": quality})
    print(markdown_table(rows, ["name", "family", "latent_dim", "data", "quality"]), end="")
    return 0


class _OneLineErrors(argparse.ArgumentParser):
    """argparse prints its usage before a bad-option message; here a bad option is one line, like every other error
    (``genprior ... --help`` still shows the usage). Subcommand parsers inherit the class."""

    def error(self, message: str):
        if message.startswith("argument ") and message.endswith("expected one argument"):
            # argparse reads a value that starts with '-' (such as -1:3) as the next option
            option = message.removeprefix("argument ").split(":")[0].split("/")[0]
            message += f" (for a value that starts with '-', write {option}=VALUE)"
        self.exit(2, f"genprior: error: {self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from genprior.models.vae import LIKELIHOODS

    parser = _OneLineErrors(prog="genprior", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_train = sub.add_parser("train", help="train a generative model")
    train_sub = p_train.add_subparsers(dest="family", required=True)
    p = train_sub.add_parser("vae", help="the CSGM VAE (784-500-500-20, softplus, sigmoid output)")
    add_data_args(p, datasets=TRAINING_DATASETS)
    p.add_argument("--out", default="runs/vae", help="folder for state.* (resume) and model.* (best weights)")
    p.add_argument("--epochs", type=int, default=200, help="maximum epochs")
    p.add_argument("--patience", type=int, default=5, help="stop after this many epochs without a better test ELBO")
    p.add_argument("--min-delta", type=number_arg(low=0), default=0.1,
                   help="an epoch counts as an improvement only if the test -ELBO falls by more than this (nats)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=number_arg(low=0, strict=True), default=1e-3)
    p.add_argument("--hidden", type=int, nargs="+", default=[500, 500])
    p.add_argument("--latent-dim", type=int, default=20)
    p.add_argument("--likelihood", choices=LIKELIHOODS, default="bernoulli",
                   help="decoder: bernoulli (CSGM's) or logistic (discretized over 8-bit levels: log p(x) in bits of "
                        "the 8-bit image, for genprior ood's complexity-corrected score)")
    add_training_args(p)
    p.set_defaults(func=cmd_train_vae)

    p_zoo = sub.add_parser("zoo", help="the pretrained models shipped with genprior")
    zoo_sub = p_zoo.add_subparsers(dest="zoo_command", required=True)
    zoo_sub.add_parser("list", help="list the entries").set_defaults(func=cmd_zoo_list)

    # subcommands that live in their own modules: each has add_parsers(sub, train_sub)
    for module in _SUBCOMMAND_MODULES:
        try:
            mod = importlib.import_module(f"genprior.cli.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"genprior.cli.{module}":
                raise
            continue
        mod.add_parsers(sub, train_sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a bad option after its one-line message: the code is the return value
        return e.code if isinstance(e.code, int) else 2
    try:
        return int(args.func(args) or 0)
    except GenpriorError as e:
        print(f"genprior: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the file system failed mid-run (a full disk, a folder removed); outputs are atomic
        print(f"genprior: error: {e.filename + ': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as e:
        # sizes too large for the machine (a huge latent size, batch or image count) end like any bad input
        if not isinstance(e, MemoryError) and "alloc" not in str(e) and "out of memory" not in str(e):
            raise
        print(f"genprior: error: out of memory: {str(e).splitlines()[0] if str(e) else 'MemoryError'}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genprior: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
