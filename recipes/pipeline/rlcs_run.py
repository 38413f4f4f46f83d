"""Command line of the pipeline runner: `rlcs run RECIPE [key=value ...]` (or `python -m recipes.pipeline`)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from omegaconf import OmegaConf

from recipes.pipeline.compose import ConfigError, compose, list_recipes
from recipes.pipeline.manifest import RunLockedError
from recipes.stage import StageError

EPILOG = """\
overrides are Hydra `key=value` pairs on the recipe, for example:
  stages=[sft_data,sft]        run a subset (kept in pipeline order)
  dry_run=true                 print every stage's exact command; run nothing
  rerun=[grpo]                 run a finished stage again (old outputs are moved aside)
  run_name=my_variant          write to runs/my_variant/
  grpo.rollout_n=5 sft.learning_rate=2e-5 cluster.nproc_per_node=4
A rerun of the same command skips finished stages and resumes an interrupted one. A stage whose
config changed since it ran is refused until you name it in rerun=[...].
"""


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM (a cluster scheduler, `ray job stop`) ends the run like Ctrl-C: children are stopped,
    the manifest records the stage as interrupted, and a rerun resumes it."""
    raise KeyboardInterrupt(f"signal {signum}")


OUR_PACKAGES = ("recipes", "SFT", "GRPO", "evaluation", "reward_fns")


def ours(err: BaseException) -> bool:
    """`err` is an error class of this project (its message is written for the user), not a third party's."""
    return type(err).__module__.split(".")[0] in OUR_PACKAGES


def main(argv: list[str] | None = None, prog: str = "python -m recipes.pipeline") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the cold-start SFT -> GRPO -> merge -> eval pipeline from a Hydra recipe.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recipe", help=f"one of: {', '.join(list_recipes())}")
    parser.add_argument("overrides", nargs="*", help="Hydra key=value overrides")
    parser.add_argument("--cfg", action="store_true", help="print the composed config and exit")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from recipes.pipeline.runner import Runner

    try:
        cfg = compose(args.recipe, args.overrides)
        if args.cfg:
            print(OmegaConf.to_yaml(cfg))
            return 0
        Runner(cfg).run()
    except (ConfigError, StageError, RunLockedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        if not ours(err):
            raise  # not one of our own checks: the traceback is the report
        print(f"error: {err}", file=sys.stderr)  # our error classes name the file, row or key
        return 2
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
