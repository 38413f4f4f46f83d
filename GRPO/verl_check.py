"""Check our verl overrides with verl's own code, on a CPU, before any GPU is allocated.

- `compose_verl_config`: Hydra-compose verl's `ppo_trainer.yaml` with the overrides (a wrong key fails).
- `validate_verl_config`: verl's `validate_config` plus its dataclass conversions (actor, rollout,
  algorithm, ref FSDP) — the checks `main_ppo` runs first.

`rlcs check-verl RECIPE` (recipes/pipeline/check_verl.py) runs both on a composed recipe.

The tests also load our parquet and reward through verl's own objects (tests/helpers/verl_objects.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


class VerlConfigError(ValueError):
    """The overrides do not fit verl's config (unknown key, bad value, failed check)."""


def verl_config_dir() -> Path:
    import verl.trainer

    return Path(verl.trainer.__file__).resolve().parent / "config"


def compose_verl_config(overrides: Sequence[str]) -> DictConfig:
    """verl's `ppo_trainer` config with `overrides`, composed by Hydra exactly as `main_ppo` does."""
    from recipes.pipeline.compose import ConfigError, hydra_compose

    try:
        return hydra_compose(verl_config_dir(), "ppo_trainer", overrides, "verl's ppo_trainer")
    except ConfigError as err:
        raise VerlConfigError(f"verl 0.9.1 rejects the overrides: {err}") from err


def validate_verl_config(config: DictConfig) -> None:
    """Run verl's own config checks (those `main_ppo.main` runs) and its typed dataclass conversions."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    try:
        resolved = OmegaConf.create(OmegaConf.to_container(config, resolve=True))
        validate_config(config=resolved, use_reference_policy=need_reference_policy(resolved),
                        use_critic=need_critic(resolved))
        for section in ("actor_rollout_ref.rollout", "algorithm", "actor_rollout_ref.ref.fsdp_config"):
            omega_conf_to_dataclass(OmegaConf.select(resolved, section))
    except (AssertionError, ValueError, TypeError, KeyError, AttributeError) as err:
        if isinstance(err, VerlConfigError):
            raise
        raise VerlConfigError(f"verl 0.9.1's config checks failed: {type(err).__name__}: {err}") from err
    if resolved.trainer.use_v1:
        log.warning("trainer.use_v1=true: verl's v1 trainer (TransferQueue); this project's overrides were "
                    "checked against the v0 trainer only")
    if not need_reference_policy(resolved):
        raise VerlConfigError("the KL loss needs a reference policy, but verl would not create one")


def check_overrides(overrides: Sequence[str]) -> DictConfig:
    """Compose and validate; return verl's resolved config."""
    config = compose_verl_config(overrides)
    validate_verl_config(config)
    return config
