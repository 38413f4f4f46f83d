"""The one syntax for config values on every command line: Hydra `key=value` overrides, as `rlcs run RECIPE
key=value ...` takes them (`rlcs convert-sft data.max_rows=8`, `rlcs evaluate run MODEL limit=8`). Flags are kept
for what is not config (paths like `--out`, `--overwrite`, `--no-progress`); the flags that used to set config
values are deprecated aliases (`Alias`): still accepted, hidden from the option list, listed in the epilog with
their new form, and each use prints one line naming it."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Alias:
    """An old flag that set config values, and the `key=value` overrides it stands for (`{}`: its value)."""

    flag: str
    overrides: tuple[str, ...]
    nargs: int | str = 1
    """0: a switch; 1: one value; `+`: a list (joined with commas, as in `benchmarks=[{}]`)."""
    metavar: str = "VALUE"

    @property
    def dest(self) -> str:
        return "alias_" + self.flag.lstrip("-").replace("-", "_")

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        if self.nargs == 0:
            parser.add_argument(self.flag, dest=self.dest, action="store_true", help=argparse.SUPPRESS)
        elif self.nargs == 1:
            parser.add_argument(self.flag, dest=self.dest, action="append", help=argparse.SUPPRESS)
        else:
            parser.add_argument(self.flag, dest=self.dest, nargs=self.nargs, help=argparse.SUPPRESS)

    def new_form(self, value: Any = None) -> list[str]:
        """The overrides this flag stands for, with `value` (a placeholder when None); a template that is the
        value alone (`--set KEY=VALUE`) takes it as written."""
        if isinstance(value, list):
            text = ",".join(map(quote, value))
        else:
            text = self.metavar if value is None else str(value)
        return [o.replace("{}", text if o == "{}" or value is None or isinstance(value, list) else quote(text))
                for o in self.overrides]

    def used(self, args: argparse.Namespace) -> list[list[str]]:
        """The override lists of each use of this flag in `args` (none when unused)."""
        value = getattr(args, self.dest, None)
        if not value:
            return []
        if self.nargs == 0:
            return [self.new_form()]
        if self.nargs == 1:
            return [self.new_form(v) for v in value]
        return [self.new_form(value)]


def quote(value: str) -> str:
    """`value` as a Hydra override value: as is when plain, else single-quoted (`'..\\boxed{}.'`), so
    spaces, braces, commas and quotes stay text."""
    if re.fullmatch(r"[\w./:+@-]*", value):
        return value
    body = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    return "'" + re.sub(r"(\\+)$", lambda m: m.group(1) * 2, body) + "'"


def aliases_epilog(aliases: Sequence[Alias]) -> str:
    """The epilog lines listing each deprecated flag and its `key=value` form."""
    if not aliases:
        return ""
    width = max(len(_old_form(a)) for a in aliases)
    rows = "\n".join(f"  {_old_form(a):<{width}}  ->  {' '.join(a.new_form())}" for a in aliases)
    return f"deprecated flags (still accepted; each use prints its key=value form):\n{rows}\n"


def _old_form(alias: Alias) -> str:
    return alias.flag + ("" if alias.nargs == 0 else f" {alias.metavar}" + (" ..." if alias.nargs == "+" else ""))


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None, aliases: Sequence[Alias] = (),
          dest: str = "overrides") -> argparse.Namespace:
    """Parse `argv` with `key=value` overrides anywhere on the line (before, between or after the flags) into
    `args.<dest>`, the deprecated `aliases` translated in place and one line printed for each use. Anything
    else argparse does not know is refused as argparse does."""
    args, extra = parser.parse_known_args(argv)
    unknown = [e for e in extra if e.startswith("-") or "=" not in e]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    overrides = list(getattr(args, dest, None) or [])
    for alias in aliases:
        for new in alias.used(args):
            print(f"{parser.prog}: {alias.flag} is deprecated; write {' '.join(new)}", file=sys.stderr)
            overrides += new
    overrides += extra
    bad = [o for o in overrides if "=" not in o or o.startswith("-")]
    if bad:
        parser.error(f"expected key=value, got {' '.join(bad)}")
    setattr(args, dest, overrides)
    return args
