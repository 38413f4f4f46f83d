"""`recipes/` is a roof (`recipes/pipeline/`: schema, composer, registry, runner, Ray jobs, command lines) over a
ground floor (the Stage contract, hub, atomic writes, ablations, Ray launch, the data and ms-swift helpers, the tiny
world) that every package builds on. No import runs back up: every import of every ground module, the lazy ones
inside functions and the relative ones included, is read with `ast`.

Over every package and script folder (tests/helpers/import_graph.py; `python tests/helpers/import_graph.py`
prints it): no import cycle, lazy imports included; the paper modules are data; the schema loads neither a
backend map nor the Stage contract; a stage package reaches the roof only where named below."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.import_graph import cycles, graph, imports_of, modules, project_dirs, show_cycle

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
ROOF = "recipes.pipeline"
UPPER_PACKAGES = ("SFT", "GRPO", "evaluation", "reward_fns")
"""The stage packages: they import the ground, so the ground importing them would make a circle."""
GROUND = sorted(p for p in RECIPES.rglob("*.py") if "pipeline" not in p.relative_to(RECIPES).parts)


def package_of(path: Path) -> str:
    """The dotted package a module file belongs to (`recipes.tiny_world` for recipes/tiny_world/data.py)."""
    parts = path.relative_to(RECIPES.parent).parts
    return ".".join(parts[:-1])


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


GRAPH = graph()

ROOF_FROM_STAGES = {
    ("GRPO.verl_check", "recipes.pipeline.compose"): "Hydra-composes verl's own ppo_trainer tree (lazy)",
    ("evaluation.rlcs_evaluate", "recipes.pipeline.compose"): "`rlcs evaluate` composes its preset (lazy)",
    ("evaluation.compare", "recipes.pipeline.compose"): "`rlcs compare` composes its preset (lazy)",
}
"""The only imports from a stage package up to recipes.pipeline, and why (none of them closes a cycle)."""


def test_the_graph_covers_every_package():
    assert {"recipes", "SFT", "GRPO", "evaluation", "reward_fns", "scripts"} <= set(project_dirs())
    assert {"GRPO.config", "recipes.pipeline.compose", "evaluation.run", "reward_fns.grader",
            "scripts.evaluate"} <= set(GRAPH)


def test_no_import_cycle_anywhere():
    """Lazy (function-level) imports count: a cycle closed by one is still a cycle."""
    found = cycles(GRAPH)
    assert not found, "import cycles:\n" + "\n".join(show_cycle(GRAPH, c) for c in found)


def test_the_cycle_check_sees_a_cycle_closed_by_a_lazy_import(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from pkg import b\n")
    (tmp_path / "pkg" / "b.py").write_text("def f():\n    from . import a\n")
    (tmp_path / "pkg" / "c.py").write_text("import pkg.a\n")
    g = graph(tmp_path)
    assert set(g) == {"pkg", "pkg.a", "pkg.b", "pkg.c"}
    assert cycles(g) == [["pkg.a", "pkg.b", "pkg.a"]]
    assert show_cycle(g, cycles(g)[0]) == "pkg.a (line 1) -> pkg.b (line 2) -> pkg.a"


@pytest.mark.parametrize("name", ["GRPO.paper", "SFT.paper"])
def test_the_paper_modules_are_data(name):
    """Plain values: the standard library and the other paper module, nothing else of the project."""
    project = set(project_dirs())
    mods = modules()
    imported = {m for _, m in imports_of(mods[name].read_text(encoding="utf-8"), name.rpartition(".")[0])}
    assert {m for m in imported if m.split(".")[0] in project} <= {"GRPO", "GRPO.paper", "GRPO.paper.PaperValue",
                                                                   "GRPO.paper.REFERENCE", "GRPO.paper.Value"}
    assert {m.split(".")[0] for m in imported} - project <= {"__future__", "dataclasses"}


def test_the_schema_loads_no_backend_map_no_stage_contract_no_tables():
    """Importing GRPOConfig / SFTConfig (lazy imports followed too) reaches only the paper values and the checks."""
    reach, todo = {"GRPO.config", "SFT.config"}, ["GRPO.config", "SFT.config"]
    while todo:
        for m in GRAPH[todo.pop()]:
            if m not in reach:
                reach.add(m)
                todo.append(m)
    assert reach == {"GRPO.config", "SFT.config", "GRPO", "GRPO.paper", "SFT.paper", "recipes", "recipes.checks"}


def test_stage_packages_reach_the_roof_only_where_named():
    stages = ("SFT", "GRPO", "evaluation", "reward_fns")
    found = {(a, b) for a, edges in GRAPH.items() for b in edges
             if a.split(".")[0] in stages and b.startswith(ROOF + ".")}
    assert found == set(ROOF_FROM_STAGES)
