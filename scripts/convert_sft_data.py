"""`rlcs convert-sft` by path: the cold-start set -> ms-swift JSON lines plus images (`--help`)."""

import sys

from recipes.pipeline.convert import main_sft

if __name__ == "__main__":
    sys.exit(main_sft())
