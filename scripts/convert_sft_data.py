"""Convert the cold-start set to ms-swift's multimodal JSON lines plus image files.

Output: <out>/train.jsonl (messages with the system prompt, one <image> tag per image, image paths),
<out>/images/ (every image of every row, RGB, stable names), <out>/train.summary.json.
"""

from __future__ import annotations

import argparse

from recipes.config import DataConfig
from recipes.convert_cli import ERRORS_HELP, add_common_args, local, model_path, run_cli
from recipes.rowdata import QWEN_MIN_PIXELS


def main(argv: list[str] | None = None) -> int:
    d = DataConfig()
    p = argparse.ArgumentParser(description=__doc__, epilog=ERRORS_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default=d.sft_source, help=f"hub id, local dir or tiny:cold_start (default {d.sft_source})")
    p.add_argument("--split", default=d.sft_split, help=f"split (default {d.sft_split})")
    add_common_args(p)
    args = p.parse_args(argv)

    def convert() -> list[dict]:
        from SFT.convert import convert_sft

        return [convert_sft(args.source, local(args.source, "dataset", args.offline), args.split, args.out,
                            model_path=model_path(args), system_prompt=args.system_prompt,
                            max_pixels=args.max_pixels, min_pixels=QWEN_MIN_PIXELS,
                            max_prompt_length=args.max_prompt_length, on_bad_row=args.on_bad_row,
                            num_workers=args.num_workers, max_rows=args.max_rows, batch_size=args.batch_size,
                            overwrite=args.overwrite, progress=not args.no_progress)]

    return run_cli(convert)


if __name__ == "__main__":
    raise SystemExit(main())
