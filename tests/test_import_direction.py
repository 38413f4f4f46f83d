"""`recipes/` is a roof (`recipes/pipeline/`: schema, composer, registry, runner, Ray jobs, command lines) over a
ground floor (the Stage contract, hub, atomic writes, ablations, Ray launch, the data and ms-swift helpers, the tiny
world) that every package builds on. No import runs back up: every import of every ground module, the lazy ones
inside functions and the relative ones included, is read with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
ROOF = "recipes.pipeline"
UPPER_PACKAGES = ("SFT", "GRPO", "evaluation", "reward_fns")
"""The stage packages: they import the ground, so the ground importing them would make a circle."""
GROUND = sorted(p for p in RECIPES.rglob("*.py") if "pipeline" not in p.relative_to(RECIPES).parts)


def package_of(path: Path) -> str:
    """The dotted package a module file belongs to (`recipes.tiny_world` for recipes/tiny_world/data.py)."""
    parts = path.relative_to(RECIPES.parent).parts
    return ".".join(parts[:-1])


def imports_of(source: str, package: str) -> list[tuple[int, str]]:
    """(line, dotted module) for every import in `source`, relative ones resolved against `package`;
    `from a import b` gives both `a` and `a.b` (b may be a module)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            found += [(node.lineno, base)] + [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return found


def upward(module: str) -> bool:
    return module == ROOF or module.startswith(ROOF + ".") or module.split(".")[0] in UPPER_PACKAGES


def test_the_ground_floor_is_found():
    names = {p.relative_to(RECIPES).as_posix() for p in GROUND}
    assert {"stage.py", "hub.py", "atomic.py", "ablation.py", "ray_launch.py"} <= names
    assert any(n.startswith("tiny_world/") for n in names)


@pytest.mark.parametrize("path", GROUND, ids=lambda p: p.relative_to(RECIPES).as_posix())
def test_no_ground_module_imports_upward(path: Path):
    up = [f"{path.relative_to(RECIPES.parent)}:{line} imports {m}"
          for line, m in imports_of(path.read_text(), package_of(path)) if upward(m)]
    assert not up, "a ground module of recipes/ imports the roof or a stage package:\n" + "\n".join(up)


def test_the_check_sees_lazy_relative_and_from_imports():
    source = "from recipes import pipeline\nfrom ..pipeline import runner\nfrom . import data\n\n" \
             "def f():\n    import GRPO.config\n"
    assert package_of(RECIPES / "tiny_world" / "data.py") == "recipes.tiny_world"
    found = {m for _, m in imports_of(source, "recipes.tiny_world") if upward(m)}
    assert found == {"recipes.pipeline", "recipes.pipeline.runner", "GRPO.config"}
