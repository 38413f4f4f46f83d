"""The one config composer: Hydra over `recipes/conf` (recipes and eval presets, validated against the typed
schema) and over verl's own config tree (GRPO/verl_check.py), with one error type that says what was asked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recipes import tracking
from recipes.ablation import AblationError, apply_ablation
from recipes.pipeline.config import register
from recipes.stage import STAGES

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
SCHEMA = "pipeline_schema"
"""The registered schema every recipe starts from (recipes/pipeline/config.py)."""


class ConfigError(ValueError):
    """A recipe, preset or override that does not fit the schema."""


def hydra_compose(config_dir: Path, config_name: str, overrides: Sequence[str] = (), what: str = "") -> DictConfig:
    """`config_name` from `config_dir` with Hydra `key=value` overrides, composed as a Hydra app does; raise
    ConfigError naming `what` was composed (default: the config's name) and Hydra's reason."""
    from hydra import compose as hydra_compose_
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base=None):
            return hydra_compose_(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(f"{what or repr(config_name)} with overrides {list(overrides)}: {err}") from err
    finally:
        GlobalHydra.instance().clear()


def list_recipes() -> list[str]:
    """Names of the top-level recipes (`recipes/conf/<name>.yaml`)."""
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml"))


def list_eval_presets() -> list[str]:
    """Names of the evaluation presets (`recipes/conf/eval/<name>.yaml`)."""
    return sorted(p.stem for p in (CONF_DIR / "eval").glob("*.yaml"))


def compose(recipe: str, overrides: Sequence[str] = ()) -> DictConfig:
    """Compose `recipe` with Hydra-style `key=value` overrides (read-only); raise ConfigError with the reason."""
    if recipe not in list_recipes():
        raise ConfigError(f"unknown recipe {recipe!r}; available: {', '.join(list_recipes())}")
    cfg = hydra_compose(CONF_DIR, recipe, overrides, f"recipe {recipe!r}")
    unknown = [s for s in list(cfg.stages) + list(cfg.rerun) if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown}; stages are {', '.join(STAGES)}")
    try:
        apply_ablation(cfg, overrides)
        tracking.chosen(cfg)  # `logger=[...]` names trackers both stages speak
    except (AblationError, tracking.TrackerError) as err:
        raise ConfigError(f"recipe {recipe!r}: {err}") from err
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
