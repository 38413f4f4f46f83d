"""`rlcs tiny-world` by path: build (or reuse) the offline tiny world and print where its parts are (`--help`)."""

import sys

from recipes.tiny_world.rlcs_tiny_world import main

if __name__ == "__main__":
    sys.exit(main())
