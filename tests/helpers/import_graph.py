"""The project's module import graph, read with `ast` (every import: top level, inside functions, relative).

Nodes are the project's modules (`GRPO.config`, `recipes.pipeline.compose`, `scripts.evaluate`); an edge
`a -> b` means a's source imports b (`from p import m` gives p, and p.m when m is a module; importing p.m also
imports its parent packages). tests/test_import_direction.py asserts there is no cycle;
`python tests/helpers/import_graph.py` prints the counts, the cycles and the package layers.
"""

from __future__ import annotations

import ast
import itertools
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = {"tests", "runs", "docs"}


def project_dirs(root: Path = ROOT) -> list[str]:
    """Top-level folders holding Python code (packages and script folders), tests excepted."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
                  and p.name not in SKIPPED and any(p.rglob("*.py")))


def module_name(path: Path, root: Path = ROOT) -> str:
    """`GRPO/merger/__init__.py` -> `GRPO.merger`, `SFT/config.py` -> `SFT.config`."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every project module by dotted name."""
    return {module_name(p, root): p for d in project_dirs(root) for p in sorted((root / d).rglob("*.py"))
            if "__pycache__" not in p.parts}


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


def _targets(name: str, known: Iterable[str]) -> set[str]:
    """The project modules importing `name` runs: the module itself and its parent packages."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & set(known)


def graph(root: Path = ROOT) -> dict[str, dict[str, int]]:
    """module -> {imported project module: first line}, for every project module."""
    mods = modules(root)
    out: dict[str, dict[str, int]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for line, target in imports_of(path.read_text(encoding="utf-8"), package):
            for t in _targets(target, mods):
                if t != name and not name.startswith(t + "."):  # a module's own parent packages run first
                    edges.setdefault(t, line)
        out[name] = edges
    return out


def cycles(g: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle (`[a, b, ..., a]`) per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    sccs: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(g):
        if v not in index:
            visit(v)
    return [_one_cycle(g, comp) for comp in sccs]


def _one_cycle(g: dict[str, dict[str, int]], comp: list[str]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first inside the component)."""
    start, members = comp[0], set(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(g[v]):
                if w not in members:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [*reversed(path), start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp


def show_cycle(g: dict[str, dict[str, int]], cycle: list[str]) -> str:
    """`a (line 3) -> b (line 9) -> a`: each step with the line of the import."""
    steps = [f"{a} (line {g[a][b]})" for a, b in itertools.pairwise(cycle)]
    return " -> ".join([*steps, cycle[-1]])


def package_layers(g: dict[str, dict[str, int]]) -> list[str]:
    """Per top-level package (recipes split into its ground floor and `recipes.pipeline`): which others it
    imports."""
    def unit(m: str) -> str:
        return "recipes.pipeline" if m.startswith("recipes.pipeline") else m.split(".")[0]

    deps: dict[str, set[str]] = {}
    for a, edges in g.items():
        deps.setdefault(unit(a), set()).update(unit(b) for b in edges if unit(b) != unit(a))
    return [f"{u}: {', '.join(sorted(d)) or '-'}" for u, d in sorted(deps.items())]


def report(root: Path = ROOT) -> str:
    g = graph(root)
    found = cycles(g)
    lines = [f"{len(g)} modules, {sum(len(e) for e in g.values())} import edges (lazy ones included), "
             f"{len(found)} cycle(s)"]
    lines += [f"  cycle: {show_cycle(g, c)}" for c in found]
    lines += ["package -> packages it imports:"] + [f"  {line}" for line in package_layers(g)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT))
