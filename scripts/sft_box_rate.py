"""Share of training prompts a model answers with a closed \\boxed{...} (greedy, transformers, CPU or GPU).

Example, before and after the tiny SFT:
  python scripts/sft_box_rate.py --model ~/.cache/rl-cold-start/tiny-v1/model --data runs/tiny/sft_data/train.jsonl
  python scripts/sft_box_rate.py --model runs/tiny/sft/output/checkpoint-120 --data runs/tiny/sft_data/train.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from SFT.box_rate import measure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="HF model dir (base model or an SFT checkpoint-N)")
    parser.add_argument("--data", required=True, help="ms-swift JSONL (messages + images), e.g. sft_data's train")
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts (default: all)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="generation budget per prompt")
    parser.add_argument("--max-pixels", type=int, default=None, help="image pixel ceiling (as in training)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    r = measure(args.model, args.data, args.limit, args.max_new_tokens, args.max_pixels)
    print(json.dumps({"prompts": r.prompts, "boxed": r.boxed, "share": round(r.share, 3), "seconds": r.seconds,
                      "samples": r.samples}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
