"""`rlcs submit` by path: send the pipeline to a Ray cluster as a Ray job; status, logs, stop (`--help`)."""

import sys

from recipes.pipeline.submit import main

if __name__ == "__main__":
    sys.exit(main())
