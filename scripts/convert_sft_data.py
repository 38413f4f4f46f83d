"""Convert the cold-start set to ms-swift's multimodal JSON lines plus image files.

Output: <out>/train.jsonl (messages with the system prompt, one <image> tag per image, image paths),
<out>/images/ (every image of every row, RGB, stable names), <out>/train.summary.json.
"""

from __future__ import annotations

from recipes.data.cli import converter_parser, local, model_path, run_cli, run_options
from recipes.pipeline.config import DataConfig, ModelConfig


def main(argv: list[str] | None = None) -> int:
    d = DataConfig()
    p = converter_parser(__doc__, d, ModelConfig().path)
    p.add_argument("--source", default=d.sft_source, help=f"hub id, local dir or tiny:cold_start (default {d.sft_source})")
    p.add_argument("--split", default=d.sft_split, help=f"split (default {d.sft_split})")
    args = p.parse_args(argv)

    def convert() -> list[dict]:
        from SFT.convert import convert_sft, sft_settings

        return [convert_sft(args.source, local(args.source, "dataset", args.offline), args.split, args.out,
                            sft_settings(args, model_path(args)), **run_options(args))]

    return run_cli(convert)


if __name__ == "__main__":
    raise SystemExit(main())
