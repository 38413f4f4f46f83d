"""`rlcs convert-rl` by path: the RL and validation sets -> verl's RL parquet (`--help`); settings are
`key=value` overrides of a recipe, as `rlcs run` takes them."""

import sys

from recipes.pipeline.convert_cli import main_rl

if __name__ == "__main__":
    sys.exit(main_rl())
