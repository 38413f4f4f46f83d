"""Does this Python environment already hold what pyproject.toml asks for? (stdlib + packaging only)

`python recipes/envcheck.py PYPROJECT EXTRAS` prints each unmet requirement (absent, or installed at a
version outside its pin, following the extras of each requirement, e.g. verl[vllm] -> vllm==0.24.0) and
exits 1; it exits 0 when nothing is missing. recipes/_env.sh runs it before installing anything, so an
environment made by hand, by a cluster image or by an earlier install is used as it is.
"""

from __future__ import annotations

import sys
from importlib import metadata

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip vendors packaging
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib


def wanted(pyproject: str, extras: list[str]) -> list[Requirement]:
    """The project's requirements plus those of the named extras."""
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    reqs = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"envcheck: {pyproject} has no extra {extra!r} (it has {', '.join(optional)})")
        reqs += optional[extra]
    return [Requirement(r) for r in reqs]


def unmet(reqs: list[Requirement]) -> list[str]:
    """Every requirement (and requirement of a requested extra, recursively) this environment does not meet."""
    out: list[str] = []
    seen: set[tuple[str, str]] = set()
    queue = list(reqs)
    while queue:
        req = queue.pop(0)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = (canonicalize_name(req.name), str(req.specifier) + ",".join(sorted(req.extras)))
        if key in seen:
            continue
        seen.add(key)
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            out.append(f"{req} (not installed)")
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            out.append(f"{req} (installed: {version})")
            continue
        for extra in req.extras:
            for line in metadata.requires(req.name) or []:
                sub = Requirement(line)
                if sub.marker is not None and sub.marker.evaluate({"extra": extra}) \
                        and not sub.marker.evaluate({"extra": ""}):
                    sub.marker = None
                    queue.append(sub)
    return out


def main(argv: list[str]) -> int:
    pyproject, extras = argv[0], [e for e in (argv[1] if len(argv) > 1 else "").split(",") if e]
    missing = unmet(wanted(pyproject, extras))
    for line in missing:
        print(line)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
