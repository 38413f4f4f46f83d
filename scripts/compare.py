"""`rlcs compare` by path: compare runs and models side by side beside the paper's rows (`--help`)."""

import sys

from evaluation.compare import main

if __name__ == "__main__":
    sys.exit(main())
