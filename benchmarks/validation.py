"""What the validation pass (recipes/pipeline/validate.py) costs a dry run, each part in a fresh process.

For each recipe: compose; the schema pass (unknown keys, field rules, relations); each selected stage's own check
(verl's config code, ms-swift's parser: their imports dominate); and the dry run's plan after them. Prints
seconds (wall and CPU) and the pass's share of the whole dry run.

    .venv/bin/python benchmarks/validation.py --recipes qwen2_5_vl_7b tiny
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import io, json, contextlib, sys, time
def clock():
    return time.perf_counter(), time.process_time()
def since(t):
    return round(time.perf_counter() - t[0], 2), round(time.process_time() - t[1], 2)
out = {}
t = clock()
from recipes.pipeline.compose import compose
from recipes.pipeline.config import PipelineConfig
from recipes.checks import schema_problems
cfg = compose(sys.argv[1], ["runs_dir=/tmp/rlcs-bench-validation", "dry_run=true"])
out["compose"] = since(t)
t = clock()
assert schema_problems(PipelineConfig, cfg) == []
out["schema pass"] = since(t)
from recipes.pipeline.runner import Runner
runner = Runner(cfg, echo=lambda *a: None)
for name, stage in runner.stages.items():
    t = clock()
    with contextlib.redirect_stdout(io.StringIO()):
        assert stage.validate(cfg) == [], name
    out[f"{name} check"] = since(t)
t = clock()
with contextlib.redirect_stdout(io.StringIO()):
    runner.plan()  # validates again: now warm, then the preflight and every stage's plan
out["plan (warm)"] = since(t)
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=["qwen2_5_vl_7b", "tiny"])
    args = parser.parse_args()
    for recipe in args.recipes:
        p = subprocess.run([sys.executable, "-c", CHILD, recipe], cwd=ROOT, capture_output=True, text=True,
                           check=True)
        parts = json.loads(p.stdout.strip().splitlines()[-1])
        total = sum(w for w, _ in parts.values())
        checks = sum(w for k, (w, _) in parts.items() if k.endswith("check") or k == "schema pass")
        print(f"{recipe}: dry run {total:.1f} s wall, of which the validation pass {checks:.1f} s "
              f"({checks / total:.0%})")
        for name, (wall, cpu) in parts.items():
            print(f"  {name:18s} {wall:6.2f} s wall  {cpu:6.2f} s CPU")


if __name__ == "__main__":
    main()
