"""Generated Markdown in hand-written READMEs: typed reference values shown one way, written between markers.

A generated section sits between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`; `fill_readme`
replaces what is between them and refuses a README that lacks a marker, so a table is never silently
dropped. recipes/pipeline/parity_tables.py uses it for GRPO/README.md's and SFT/README.md's parity tables.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path


def show(value: object) -> str:
    """`value` as a table cell: lowercase booleans, `null`, `[a, b]` for lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    return str(value)


def fill_readme(text: str, sections: dict[str, str]) -> str:
    """`text` with each named section's body replaced by `sections[name]`."""
    for name, body in sections.items():
        pattern = re.compile(rf"(<!-- generated:{re.escape(name)} [^\n]*-->\n).*?(\n<!-- /generated:{re.escape(name)} -->)",
                             re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"README lacks the markers `<!-- generated:{name} ... -->` and "
                             f"`<!-- /generated:{name} -->` around its generated section")
        text = pattern.sub(lambda m, body=body: m.group(1) + body + m.group(2), text, count=1)
    return text


def readme_cli(readmes: dict[Path, Callable[[], dict[str, str]]], argv: list[str] | None = None) -> int:
    """`python -m <module> [--markdown | --write]`: print each README's generated sections, or write them
    into it."""
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--markdown"], ["--write"]):
        print("usage: [--markdown | --write]  (print the generated tables, or write them into "
              f"{', '.join(str(r) for r in readmes)})", file=sys.stderr)
        return 2
    for readme, sections in readmes.items():
        generated = sections()
        if args == ["--write"]:
            readme.write_text(fill_readme(readme.read_text(encoding="utf-8"), generated), encoding="utf-8")
            print(f"wrote {', '.join(generated)} into {readme}")
        else:
            print("\n\n".join(generated.values()))
    return 0
