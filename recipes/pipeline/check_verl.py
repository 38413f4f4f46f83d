"""`rlcs check-verl RECIPE [key=value ...]`: a recipe's grpo overrides through verl's own config code
(GRPO/verl_check.py), on this CPU."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from GRPO.verl_check import VerlConfigError, check_overrides
from GRPO.verl_command import verl_overrides
from GRPO.verl_overrides import GRPOConfigError
from recipes.pipeline.compose import ConfigError, compose


def main(argv: Sequence[str] | None = None, prog: str = "python -m recipes.pipeline.check_verl") -> int:
    """`rlcs check-verl RECIPE [key=value ...]`: check the recipe's grpo overrides with verl's own config code,
    on this CPU."""
    parser = argparse.ArgumentParser(prog=prog, description=main.__doc__)
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="Hydra key=value overrides on the recipe")
    args = parser.parse_args(argv)
    try:
        cfg = compose(args.recipe, args.overrides)
        overrides = verl_overrides(cfg, model_path=cfg.model.path, train_files="train.parquet",
                                   val_files="val.parquet", checkpoint_dir="checkpoints")
        config = check_overrides(overrides)
    except (ConfigError, VerlConfigError, GRPOConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    actor, rollout = config.actor_rollout_ref.actor, config.actor_rollout_ref.rollout
    print(f"ok: {len(overrides)} overrides accepted by verl; train_batch_size={config.data.train_batch_size} "
          f"n={rollout.n} ppo_mini_batch_size={actor.ppo_mini_batch_size} "
          f"lr={actor.optim.lr} kl={actor.kl_loss_type}:{actor.kl_loss_coef} clip={actor.clip_ratio_low}/"
          f"{actor.clip_ratio_high} dual={actor.clip_ratio_c} max_num_seqs={rollout.max_num_seqs} "
          f"test_freq={config.trainer.test_freq} val_before_train={config.trainer.val_before_train} "
          f"attn={config.actor_rollout_ref.model.override_config.get('attn_implementation')} "
          f"remove_padding={config.actor_rollout_ref.model.use_remove_padding}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
