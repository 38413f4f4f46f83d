"""One name, one thing: every module the `rlcs` front door hands a subcommand to has a file name no other module of
the project has, so `rlcs X`'s code is found by its name (no second `cli.py` or `run.py` to confuse it with)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from recipes.pipeline.rlcs import SUBCOMMANDS

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("recipes", "SFT", "GRPO", "evaluation", "reward_fns")
BASENAMES = Counter(p.name for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if ".venv" not in p.parts)
SHARED_BY_DESIGN = {"__main__.py"}
"""`python -m PACKAGE`'s file: its package names it."""


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_each_subcommand_module_has_a_name_of_its_own(name: str):
    module = SUBCOMMANDS[name].target.split(":")[0]
    path = ROOT / (module.replace(".", "/") + ".py")
    assert path.is_file(), f"rlcs {name}: {module} is not a module file of this checkout"
    base = path.name
    if base in SHARED_BY_DESIGN:
        return
    assert BASENAMES[base] == 1, f"rlcs {name}: {base} is the name of {BASENAMES[base]} project modules"

