"""`python -m recipes.pipeline RECIPE [key=value ...]`: the pipeline runner's command line (`rlcs run`)."""

import sys

from recipes.pipeline.rlcs_run import main

if __name__ == "__main__":
    sys.exit(main())
