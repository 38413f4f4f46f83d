"""The docs hold together: every relative link of the hand-written Markdown points to a file that exists (and to a
heading of it when it names one), the README stays short, and the paper's numbers it states are the paper's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evaluation.paper_numbers import COLUMNS, PAPER_ROWS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_MAX_LINES = 170
DOCS = sorted([README, *(ROOT / "docs").glob("*.md"), *(ROOT / d / "README.md" for d in (
    "recipes", "evaluation", "GRPO", "SFT", "reward_fns")), ROOT / "scripts" / "GPU_CHECK.md"])
PAPER_MD = ROOT.parent / "shared" / "reference" / "paper.md"
"""The reference the paper's numbers were read from (beside the checkout, absent on a fresh clone)."""

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """The Markdown without fenced blocks and inline code (where `[..](..)` is not a link)."""
    return _CODE.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of every heading outside fenced blocks (inline code in a heading keeps its text)."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} +(.+?) *#*$", text, re.MULTILINE)}


def links(path: Path) -> list[str]:
    return [m.group(1) for m in _LINK.finditer(prose(path.read_text(encoding="utf-8")))]


def _shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def broken(path: Path, target: str) -> str | None:
    """Why `target`, a link in `path`, does not resolve; None when it does or is not relative."""
    if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
        return None
    file_part, _, anchor = target.partition("#")
    dest = (path.parent / file_part).resolve() if file_part else path
    if not dest.exists():
        return f"{target}: no file {_shown(dest)}"
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        return f"{target}: no heading #{anchor} in {_shown(dest)}"
    return None


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(doc: Path):
    assert doc.exists(), f"{doc.relative_to(ROOT)} is missing"
    problems = [why for t in links(doc) if (why := broken(doc, t))]
    assert not problems, f"{doc.relative_to(ROOT)} has broken links:\n" + "\n".join(problems)


def test_the_link_check_sees_what_it_should(tmp_path: Path):
    (tmp_path / "a.md").write_text("# Top\n\n## Two words: `x` (y)\n\n[ok](#two-words-x-y) [bad](#nope) "
                                   "[gone](b.md) [web](https://example.org) `[code](c.md)`\n\n```\n[f](d.md)\n```\n")
    doc = tmp_path / "a.md"
    assert links(doc) == ["#two-words-x-y", "#nope", "b.md", "https://example.org"]
    assert [broken(doc, t) is None for t in links(doc)] == [True, False, False, True]


def test_the_readme_is_short():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines (at most {README_MAX_LINES}): move detail to docs/"


def readme_paper_rows() -> dict[str, list[str]]:
    """The README's table of the paper's numbers: label -> cells (MathVision, MathVerse, MathVista, We-Math, avg)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    head = lines.index("| model | MathVision | MathVerse | MathVista | We-Math | avg |")
    rows = {}
    for line in lines[head + 2:]:
        if not line.startswith("|"):
            break
        label, *cells = [c.strip() for c in line.strip("|").split("|")]
        rows[label] = cells
    return rows


def test_the_readme_states_the_paper_rows_as_written_once():
    expected = {row.label: [f"{'~' * row.approximate(c)}{row.scores[c]:.1f}" for c in COLUMNS]
                + [f"{'~' * row.approximate('avg')}{row.average:.1f}"] for row in PAPER_ROWS}
    assert readme_paper_rows() == expected


@pytest.mark.skipif(not PAPER_MD.exists(), reason=f"{PAPER_MD} is not beside this checkout")
def test_the_readme_paper_rows_are_the_reference_ones():
    table = {}
    for line in PAPER_MD.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith("| model"):
            label, *cells = [c.strip().replace("**", "") for c in line.strip("|").split("|")]
            table[label] = cells
    for label, cells in readme_paper_rows().items():
        assert table[label.removesuffix(" (paper)")] == cells, label
