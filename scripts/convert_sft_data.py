"""`rlcs convert-sft` by path: the cold-start set -> ms-swift JSON lines plus images (`--help`); settings are
`key=value` overrides of a recipe, as `rlcs run` takes them."""

import sys

from recipes.pipeline.convert_cli import main_sft

if __name__ == "__main__":
    sys.exit(main_sft())
