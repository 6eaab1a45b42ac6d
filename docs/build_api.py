"""Build genprior's API reference (HTML, with pdoc) from the docstrings: ``python docs/build_api.py [--out docs/api]``.

Every public module of the package is documented (not ``__main__`` nor ``_private`` ones). Any warning pdoc raises
(a module that fails to import, a docstring or annotation it cannot read, a broken cross-reference) fails the
build: the command prints them and exits with status 1. Every module is imported, so the optional extras must be installed
(``pip install -e ".[docs,web]"``). Nothing is downloaded; the output folder is replaced.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import shutil
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_specs() -> list[str]:
    """The fewest module names whose pdoc walk covers every module of genprior: pdoc documents a package's
    submodules by itself unless its ``__all__`` leaves them out, and a module named twice is a warning."""
    import pdoc.doc

    import genprior

    names = ["genprior"] + sorted(m.name for m in pkgutil.walk_packages(genprior.__path__, "genprior.")
                                  if not any(part.startswith("_") for part in m.name.split(".")))
    covered: set[str] = set()
    specs: list[str] = []

    def cover(module: pdoc.doc.Module) -> None:
        covered.add(module.modulename)
        for sub in module.submodules:
            cover(sub)

    for name in names:  # sorted: a package comes before its submodules
        if name in covered:
            continue
        specs.append(name)
        cover(pdoc.doc.Module(importlib.import_module(name)))
    return specs


def missing_dependencies() -> list[str]:
    """Modules of genprior that cannot be imported because an optional dependency is not installed (``genprior.web``
    needs the ``web`` extra): pdoc could not document them, so they are reported before it runs."""
    import genprior

    problems = []
    for info in pkgutil.walk_packages(genprior.__path__, "genprior.", onerror=lambda name: None):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as e:
            if e.name and not e.name.startswith("genprior"):
                problems.append(f"{info.name} needs {e.name}: install the extras first, "
                                f"pip install -e \".[docs,web]\"")
    return problems


def build(out: Path) -> list[str]:
    """Write the HTML reference to ``out``; return pdoc's warnings (empty: a clean build)."""
    import pdoc
    import pdoc.render

    caught: list[str] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        specs = module_specs()
        pdoc.render.configure(docformat="restructuredtext", footer_text="genprior API reference",
                              search=True, show_source=True)
        if out.exists():
            shutil.rmtree(out)
        pdoc.pdoc(*specs, output_directory=out)
    for record in records:
        if issubclass(record.category, (DeprecationWarning, PendingDeprecationWarning)) and \
                "pdoc" not in (record.filename or "") and "genprior" not in str(record.message):
            continue  # a third-party library's own deprecations on import are not the docs' problem
        caught.append(f"{record.category.__name__}: {record.message}")
    return caught


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "api"), help="output folder (default docs/api)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    problems = missing_dependencies() or build(out)
    if problems:
        for line in problems:
            print(f"build_api: warning: {line}", file=sys.stderr)
        print(f"build_api: {len(problems)} warning(s): the API reference must build cleanly", file=sys.stderr)
        return 1
    pages = sum(1 for _ in out.rglob("*.html"))
    print(f"build_api: {pages} pages written to {out} (open {out / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
