"""`rlcs convert-rl` by path: the RL and validation sets -> verl's RL parquet (`--help`)."""

import sys

from recipes.pipeline.convert import main_rl

if __name__ == "__main__":
    sys.exit(main_rl())
