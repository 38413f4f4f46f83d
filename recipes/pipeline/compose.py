"""Compose a recipe from `recipes/conf` with Hydra, validated against the typed schema."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recipes.ablation import AblationError, apply_ablation
from recipes.pipeline.config import register
from recipes.stage import STAGES

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


class ConfigError(ValueError):
    """A recipe or override that does not fit the schema."""


def list_recipes() -> list[str]:
    """Names of the top-level recipes (`recipes/conf/<name>.yaml`)."""
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml"))


def compose(recipe: str, overrides: Sequence[str] = ()) -> DictConfig:
    """Compose `recipe` with Hydra-style `key=value` overrides; raise ConfigError with the reason."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if recipe not in list_recipes():
        raise ConfigError(f"unknown recipe {recipe!r}; available: {', '.join(list_recipes())}")
    register()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            cfg = hydra_compose(config_name=recipe, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(f"recipe {recipe!r} with overrides {list(overrides)}: {err}") from err
    finally:
        GlobalHydra.instance().clear()
    unknown = [s for s in list(cfg.stages) + list(cfg.rerun) if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown}; stages are {', '.join(STAGES)}")
    try:
        apply_ablation(cfg, overrides)
    except AblationError as err:
        raise ConfigError(f"recipe {recipe!r}: {err}") from err
    OmegaConf.set_readonly(cfg, True)
    return cfg
