"""The one validation pass: the whole composed recipe against its schema, then every selected stage's own check
(verl's config code over our overrides, ms-swift's parser over our flags), before any download, preflight or
stage. Every problem is reported at once, one line each (recipes/checks.py); nothing is written.

    rlcs validate qwen2_5_vl_7b grpo.rollout_n=5        # the same pass alone: exit 0 ok, 2 with the problems
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence

from omegaconf import DictConfig

from recipes.checks import ConfigError, Problem, leaves, schema_problems
from recipes.pipeline.config import PipelineConfig
from recipes.pipeline.stages import load_stage
from recipes.stage import STAGES, Stage


def problems(cfg: DictConfig, stages: Mapping[str, Stage] | None = None, upstream: bool = True) -> list[Problem]:
    """Every problem of `cfg`: the schema's (unknown keys, closed sets, ranges, relations); when there is none,
    each selected stage's `validate` (the upstream tools' own checks; `upstream=False` skips them). One problem
    per key (the first found)."""
    found = schema_problems(PipelineConfig, cfg)
    if found or not upstream:  # the stages' checks (verl's, ms-swift's) read a config that fits the schema: else only noise
        return found
    given = stages or {}
    for name in (s for s in STAGES if s in cfg.stages):
        stage = given[name] if name in given else load_stage(name)
        found += stage.validate(cfg)
    out, seen = [], set()
    for p in found:
        if p.key not in seen:
            seen.add(p.key)
            out.append(p)
    return out


def validate(cfg: DictConfig, stages: Mapping[str, Stage] | None = None, upstream: bool = True) -> None:
    """Raise ConfigError listing every problem of `cfg` (see `problems`); return when there is none."""
    found = problems(cfg, stages, upstream)
    if found:
        raise ConfigError(f"run {cfg.run_name!r}: {len(found)} problem(s) in the config; nothing was run or "
                          "written:", found)


def main(argv: Sequence[str] | None = None, prog: str = "rlcs validate") -> int:
    """`rlcs validate RECIPE [key=value ...]`: the run's validation pass alone (exit 0 ok, 2 with the problems)."""
    from recipes.pipeline.compose import compose, list_recipes

    parser = argparse.ArgumentParser(prog=prog, description=main.__doc__)
    parser.add_argument("recipe", help=f"one of: {', '.join(list_recipes())}")
    parser.add_argument("overrides", nargs="*", help="Hydra key=value overrides")
    parser.add_argument("--schema-only", action="store_true",
                        help="skip the stages' own checks (verl's config code, ms-swift's parser: ~25 s of imports)")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    try:
        cfg = compose(args.recipe, args.overrides)
        validate(cfg, upstream=not args.schema_only)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    selected = [s for s in STAGES if s in cfg.stages]
    checks = "the schema" if args.schema_only else f"the checks of {', '.join(selected)}"
    print(f"ok: {args.recipe} ({cfg.run_name}): {len(list(leaves(PipelineConfig, cfg)))} settings and {checks} "
          f"passed in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
