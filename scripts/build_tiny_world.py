"""`rlcs tiny-world` by path: build (or reuse) the offline tiny world and print where its parts are (`--help`)."""

import sys

from recipes.tiny_world.cli import main

if __name__ == "__main__":
    sys.exit(main())
