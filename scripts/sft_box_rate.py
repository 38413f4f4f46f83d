"""Share of training prompts a model answers with a closed \\boxed{...} (SFT/box_rate.py; `--help`)."""

import sys

from SFT.box_rate import main

if __name__ == "__main__":
    sys.exit(main())
