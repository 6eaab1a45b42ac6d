"""The documentation stays findable and true: the README is a short front page, every relative link of the README
and of ``docs/*.md`` resolves (files and ``#anchors``), ``docs/commands.md`` matches the parsers (regenerate it with
``python docs/build_commands.py``) and documents every command, and its example invocations parse."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _build_commands():
    sys.path.insert(0, str(DOCS))
    try:
        import build_commands
    finally:
        sys.path.remove(str(DOCS))
    return build_commands


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces as hyphens."""
    anchors = set()
    in_code = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_readme_is_a_short_front_page():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move detail to docs/"
    # the Quickstart comes first: a title, one sentence, then the two commands
    first = lines.index("## Quickstart")
    assert first <= 4
    blocks = re.findall(r"```bash\n(.*?)\n```", text, re.DOTALL)
    assert "genprior demo" in blocks[0] and "python -m pytest -q" in blocks[1]
    for target in ("docs/results.md", "docs/commands.md", "docs/tuning.md", "examples/", "docs/build_api.py"):
        assert target in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    if not (ROOT / ".git").exists():  # an unpacked sdist: the pictures and result tables linked are not shipped
        pytest.skip("links are checked in a git checkout")
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists() or (anchor and dest.suffix == ".md" and anchor not in _anchors(dest)):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


def test_commands_page_is_current():
    build_commands = _build_commands()
    page = build_commands.PAGE.read_text(encoding="utf-8")
    new, notes = build_commands.render(page)
    assert not notes, f"{notes}: run python docs/build_commands.py"
    assert new == page, "docs/commands.md is out of date: run python docs/build_commands.py"


def test_commands_page_invocations_parse():
    from genprior.cli import build_parser

    parser = build_parser()
    text = (DOCS / "commands.md").read_text(encoding="utf-8")
    lines = [line.split("  #")[0].strip() for block in re.findall(r"```bash\n(.*?)\n```", text, re.DOTALL)
             for line in block.splitlines()]
    invocations = []
    for line in lines:
        argv = shlex.split(line)
        if argv[:1] == ["torchrun"]:  # torchrun's own parser consumes the "--" that ends its options
            argv = argv[argv.index("genprior"):]
            argv = argv[:1] + argv[2:] if argv[1:2] == ["--"] else argv
        if argv[:1] == ["genprior"]:
            invocations.append(argv[1:])
    assert len(invocations) >= 15
    for argv in invocations:
        try:
            parser.parse_args(argv)
        except SystemExit as e:  # pragma: no cover - the message names the bad line
            raise AssertionError(f"docs/commands.md: 'genprior {' '.join(argv)}' does not parse") from e
