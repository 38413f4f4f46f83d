"""`rlcs evaluate` by path: evaluate a model on the four benchmarks, or rescore predictions (`--help`)."""

import sys

from evaluation.rlcs_evaluate import main

if __name__ == "__main__":
    sys.exit(main())
