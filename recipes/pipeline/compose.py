"""The one config composer: Hydra over `recipes/conf` (recipes and eval presets, validated against the typed
schema) and over verl's own config tree (GRPO/verl_check.py), with one error type that says what was asked."""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recipes.ablation import ABLATIONS, AblationError, ablation_of, apply_ablation
from recipes.checks import ConfigError, Problem, closest, field_type, schema_problems, type_words
from recipes.pipeline.config import PipelineConfig, register
from recipes.stage import STAGES

__all__ = ["ConfigError", "compose", "compose_eval", "hydra_compose", "list_eval_presets", "list_recipes"]

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
SCHEMA = "pipeline_schema"
"""The registered schema every recipe starts from (recipes/pipeline/config.py)."""




def _stamp(config_dir: Path) -> tuple[tuple[str, int], ...]:
    """The YAML files under `config_dir` with their modification times: an edited file misses the cache."""
    return tuple(sorted((str(p), p.stat().st_mtime_ns) for p in config_dir.rglob("*.yaml")))


@functools.lru_cache(maxsize=512)
def _composed(config_dir: str, config_name: str, overrides: tuple[str, ...],
              stamp: tuple[tuple[str, int], ...]) -> DictConfig:
    """Hydra's composition, once per (config tree and its files' times, name, overrides) in a process: Hydra
    reloads and re-merges every YAML file on each compose (~0.1-0.6 s). Never handed out: hydra_compose
    returns a deep copy, so no caller sees another's mutations. Failures raise and are not cached."""
    from hydra import compose as hydra_compose_
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=config_dir, version_base=None):
            return hydra_compose_(config_name=config_name, overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()


def hydra_compose(config_dir: Path, config_name: str, overrides: Sequence[str] = (), what: str = "") -> DictConfig:
    """`config_name` from `config_dir` with Hydra `key=value` overrides, composed as a Hydra app does (a fresh
    copy of a per-process cache); raise ConfigError naming `what` was composed (default: the config's name) and
    Hydra's reason."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register()
    config_dir = Path(config_dir)
    try:
        cfg = _composed(str(config_dir), config_name, tuple(overrides), _stamp(config_dir))
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(f"{what or repr(config_name)} with overrides {list(overrides)}: {err}") from err
    return copy.deepcopy(cfg)


def list_recipes() -> list[str]:
    """Names of the top-level recipes (`recipes/conf/<name>.yaml`)."""
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml"))


def list_eval_presets() -> list[str]:
    """Names of the evaluation presets (`recipes/conf/eval/<name>.yaml`)."""
    return sorted(p.stem for p in (CONF_DIR / "eval").glob("*.yaml"))


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def override_problem(err: ConfigError, overrides: Sequence[str]) -> tuple[Problem, str] | None:
    """The problem Hydra found with one of `overrides` (a wrong type, an unknown key or group option, bad
    grammar) and that override; None when Hydra's error names none of them."""
    chain, e = [], err.__cause__
    while e is not None:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for e in chain:
        key = getattr(e, "full_key", None)
        match = [o for o in overrides if key and _key(o) == key]
        if match:
            value = match[0].split("=", 1)[1] if "=" in match[0] else None
            if type(e).__name__ == "ConfigAttributeError":
                parent, _, name = key.rpartition(".")
                node = field_type(PipelineConfig, parent) if parent else PipelineConfig
                names = [f.name for f in dataclasses.fields(node)] if dataclasses.is_dataclass(node) else []
                near = closest(name, names)
                return Problem(key, value, f"not a key of {parent or 'the recipe'}",
                               f"{parent}.{near}" if parent and near else near), match[0]
            return Problem(key, value, f"must be {type_words(field_type(PipelineConfig, key))}"), match[0]
    text = str(err)
    found = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if found:
        group, option = found.groups()
        options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
        match = [o for o in overrides if _key(o) == group]
        if match:
            return Problem(group, option, f"one of {', '.join(options)}", closest(option, options)), match[0]
    found = re.search(r"Error parsing override '([^']*)'", text)
    if found and found.group(1) in overrides:
        return Problem("override", found.group(1), "expected key=value (Hydra's override grammar)"), found.group(1)
    return None


def compose(recipe: str, overrides: Sequence[str] = ()) -> DictConfig:
    """Compose `recipe` with Hydra-style `key=value` overrides (read-only). An override Hydra refuses raises
    ConfigError naming every refused override and every schema problem of the others (recipes/checks.py);
    the value rules of an accepted config are checked by `recipes.pipeline.validate`, before any stage."""
    if recipe not in list_recipes():
        raise ConfigError(f"unknown recipe {recipe!r}", [Problem("recipe", recipe, f"one of {', '.join(list_recipes())}",
                                                                 closest(recipe, list_recipes()))])
    kept, refused = list(overrides), []
    while True:
        try:
            cfg = hydra_compose(CONF_DIR, recipe, kept, f"recipe {recipe!r}")
            break
        except ConfigError as err:
            found = override_problem(err, kept)
            if found is None:
                raise ConfigError(str(err), refused) from err
            refused.append(found[0])
            kept.remove(found[1])
    if refused:
        raise ConfigError(f"recipe {recipe!r}: {len(refused)} override(s) refused; nothing was run:",
                          refused + schema_problems(PipelineConfig, cfg))
    if ablation_of(cfg) in ABLATIONS and all(s in STAGES for s in cfg.stages):  # else the validation names it
        try:
            apply_ablation(cfg, overrides)
        except AblationError as err:
            raise ConfigError(f"recipe {recipe!r}", [Problem("ablation", ablation_of(cfg), str(err))]) from err
    OmegaConf.set_readonly(cfg, True)
    return cfg


def compose_eval(preset: str = "paper", overrides: Sequence[str] = ()) -> DictConfig:
    """The `eval` node of an evaluation preset outside any recipe (`scripts/evaluate.py`, `compare`), with
    `key=value` overrides on it (`limit=10`, `sources.mathvision.split=testmini`).

    It is composed as a recipe's eval group is, on the schema's defaults, so a preset that follows the
    training settings (`${oc.select:data.system_prompt,...}`) gets the paper's data defaults here."""
    if preset not in list_eval_presets():
        raise ConfigError(f"unknown eval preset {preset!r}; available: {', '.join(list_eval_presets())}")
    scoped = [f"{o[:len(o) - len(o.lstrip('+~'))]}eval.{o.lstrip('+~')}" for o in overrides]
    cfg = hydra_compose(CONF_DIR, SCHEMA, [f"+eval={preset}", "run_name=eval", *scoped], f"eval preset {preset!r}")
    OmegaConf.set_readonly(cfg, True)
    return cfg.eval
