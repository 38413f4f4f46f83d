"""The manifest hash covers what each stage does: perturb every leaf of every composed recipe; when a stage's
dry-run plan (its commands, their environment, its outputs) changes, the key must be one the runner hashes
for that stage (its `config_keys`, or those of an upstream stage that runs whenever it does: in every
ablation, recipes/ablation.py), or a key named in NOT_HASHED with the reason.

Without this, a setting a stage reads but does not hash changes a rerun's command while the manifest says
the stage's finished outputs are still valid (recipes/pipeline/runner.py `_check_config_changes`).
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from recipes.ablation import ABLATIONS
from recipes.pipeline.compose import compose, list_recipes
from recipes.pipeline.config import STAGES
from recipes.pipeline.stages import load_stage
from recipes.stage import StageContext

NOT_HASHED: dict[str, str] = {
    "run_name": "names the run directory, not what a stage makes",
    "runs_dir": "where the run directory is",
    "stages": "which stages run (a stage not run has no hash to protect)",
    "rerun": "which finished stages to run again",
    "dry_run": "print instead of run",
    "ablation": "picks the stages and the run name (recipes/ablation.py)",
    "cluster.address": "which Ray cluster runs the job, not what it computes",
    "cluster.launcher": "how the nodes are reached",
    "cluster.placement_timeout_s": "how long to wait for Ray",
    "cluster.node_rank": "which node this process is (every node runs the same stage)",
    "cluster.master_addr": "where the nodes meet",
    "cluster.master_port": "where the nodes meet",
    "hub.cache_dir": "where downloads are cached",
    "hub.offline": "whether the hub may be contacted (the same revision either way)",
    "data.num_workers": "converter and data-loader processes: how fast, not what",
    "logger": "where the metrics are reported (recipes/tracking.py), not what is trained",
    "tracker.project": "the tracker project the metrics are filed under",
    "tracker.group": "the tracker group the metrics are filed under",
    "hub.push_to": "where the finished run is uploaded, after every stage",
    "hub.private": "the visibility of the uploaded repo",
}
"""Keys that may change a plan without changing what a finished stage made, and why."""

RUN_DIR = Path("/nonexistent/guard")


def _leaves(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict) and node:
        return [leaf for k, v in node.items() for leaf in _leaves(v, f"{prefix}{k}.")]
    return [(prefix[:-1], node)]


def _perturbed(value: Any) -> list[Any]:
    """Candidate values that differ from `value` (the first the schema accepts is used)."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value * 2 if value > 0 else 3]
    if isinstance(value, float):
        return [value / 2 if value else 0.5]
    if isinstance(value, str):
        return [value + "_probe"]
    if isinstance(value, list):
        return [value + value[-1:] if value else ["probe"]]
    if isinstance(value, dict):
        return [{"probe": "1"}]
    return [1, "probe", True, ["probe"]]  # None: whatever the field's type takes


def _with(cfg: DictConfig, key: str, value: Any) -> DictConfig | None:
    for candidate in _perturbed(value):
        out = copy.deepcopy(cfg)
        OmegaConf.set_readonly(out, False)
        try:
            OmegaConf.update(out, key, candidate, merge=False)
        except OmegaConfBaseException:
            continue
        OmegaConf.set_readonly(out, True)
        return out
    return None


def _plan(cfg: DictConfig, name: str) -> Any:
    ctx = StageContext(cfg, RUN_DIR, name, {}, {}, dry_run=True)
    try:
        p = load_stage(name).plan(ctx)
    except Exception as err:  # a refusal is a reading of the key too
        return ("refused", type(err).__name__)
    commands = [(tuple(c.argv), tuple(sorted(c.env.items())), c.cwd) for c in p.commands]
    return (commands, sorted(p.outputs.items()))


def _upstream(name: str, selected: tuple[str, ...]) -> set[str]:
    """Stages whose hashes the runner folds into `name`'s when `selected` run (depends_on, transitively)."""
    direct = {d for d in load_stage(name).depends_on if d in selected}
    return direct.union(*(_upstream(d, selected) for d in direct))


@cache
def _hashed(name: str, default_stages: tuple[str, ...]) -> tuple[str, ...]:
    """The keys the runner hashes for `name` whichever ablation runs it: its own, and those of the upstream
    stages every such ablation runs too (rl_only has no sft, so grpo cannot lean on sft's `model`)."""
    selections = [tuple(s for s in default_stages if s in a.stages) for a in ABLATIONS.values()]
    always = set.intersection(*(_upstream(name, sel) for sel in selections if name in sel)) \
        if any(name in sel for sel in selections) else set()
    return tuple(load_stage(name).config_keys) + tuple(k for d in sorted(always) for k in load_stage(d).config_keys)


def _covered(key: str, hashed: tuple[str, ...]) -> bool:
    return any(key == h or key.startswith(h + ".") for h in (*hashed, *NOT_HASHED))


FAST_RECIPE = "tiny"
"""The one recipe the fast tier guards (every stage, ~10 s); the other recipes are `slow` (default and full tiers)."""


@pytest.mark.parametrize("recipe", [r if r == FAST_RECIPE else pytest.param(r, marks=pytest.mark.slow)
                                    for r in list_recipes()])
def test_every_key_that_changes_a_stage_plan_is_hashed(recipe):
    default_stages = tuple(compose(recipe).stages)
    cfg = compose(recipe, [f"stages=[{','.join(STAGES)}]"])
    base = {name: _plan(cfg, name) for name in STAGES}
    assert not any(p[0] == "refused" for p in base.values()), base
    gaps = []
    for key, value in _leaves(OmegaConf.to_container(cfg, resolve=False)):
        unhashed = [name for name in STAGES if not _covered(key, _hashed(name, default_stages))]
        if not unhashed:
            continue
        changed = _with(cfg, key, value)
        assert changed is not None, f"{key}: no perturbation fits the schema"
        gaps += [f"{name}: {key}" for name in unhashed if _plan(changed, name) != base[name]]
    assert gaps == [], (f"{recipe}: these keys change a stage's plan but not its manifest hash; add them to the "
                        "stage's config_keys (or NOT_HASHED, with the reason)")
