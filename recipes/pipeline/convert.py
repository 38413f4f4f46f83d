"""The two converter command lines (`rlcs convert-sft`, `rlcs convert-rl`), with the pipeline's data settings as
flag defaults (recipes/pipeline/config.py), so a command line converts as the sft_data / rl_data stages do."""

from __future__ import annotations

from recipes.data.cli import converter_parser, local, model_path, run_cli, run_options
from recipes.pipeline.config import DataConfig, ModelConfig

SFT_DOC = """Convert the cold-start set to ms-swift's multimodal JSON lines plus image files.

Output: <out>/train.jsonl (messages with the system prompt, one <image> tag per image, image paths),
<out>/images/ (every image of every row, RGB, stable names), <out>/train.summary.json.
"""
RL_DOC = """Convert the RL set and the validation set to parquet in verl's RL schema.

Output: <out>/train.parquet and <out>/val.parquet (data_source, prompt = the problem as one user turn with
<image> placeholders and no system message, as the reference; --system-prompt TEXT adds one; images as
{bytes, max_pixels, min_pixels}, ability, reward_model {style: rule, ground_truth}, extra_info {index, split,
options, prompt_tokens}) with their summaries.
"""


def main_sft(argv: list[str] | None = None, prog: str = "scripts/convert_sft_data.py") -> int:
    """`rlcs convert-sft`: the cold-start set -> ms-swift JSON lines plus images."""
    d = DataConfig()
    p = converter_parser(SFT_DOC, d, ModelConfig().path, prog)
    p.add_argument("--source", default=d.sft_source, help=f"hub id, local dir or tiny:cold_start (default {d.sft_source})")
    p.add_argument("--split", default=d.sft_split, help=f"split (default {d.sft_split})")
    args = p.parse_args(argv)

    def convert() -> list[dict]:
        from SFT.convert import convert_sft, sft_settings

        return [convert_sft(args.source, local(args.source, "dataset", args.offline), args.split, args.out,
                            sft_settings(args, model_path(args)), **run_options(args))]

    return run_cli(convert)


def main_rl(argv: list[str] | None = None, prog: str = "scripts/convert_rl_data.py") -> int:
    """`rlcs convert-rl`: the RL and validation sets -> verl's RL parquet."""
    d = DataConfig()
    p = converter_parser(RL_DOC, d, ModelConfig().path, prog)
    p.add_argument("--source", default=d.rl_source, help=f"RL set: hub id, local dir or tiny:rl (default {d.rl_source})")
    p.add_argument("--split", default=d.rl_split, help=f"RL split (default {d.rl_split})")
    p.add_argument("--val-source", default=d.val_source,
                   help=f"validation set (default {d.val_source}); 'none' skips it")
    p.add_argument("--val-split", default=d.val_split, help=f"validation split (default {d.val_split})")
    p.add_argument("--min-pixels", type=int, default=d.min_pixels, help=f"per-image pixel floor (default {d.min_pixels})")
    p.set_defaults(system_prompt=None)  # the reference's RL prompt has no system message of its own
    args = p.parse_args(argv)

    def convert() -> list[dict]:
        from GRPO.convert import convert_rl
        from recipes.data.rows import RowSettings

        settings = RowSettings.from_data(args, model_path(args))
        jobs = [(args.source, args.split, "train")]
        if args.val_source.lower() != "none":
            jobs.append((args.val_source, args.val_split, "val"))
        return [convert_rl(ref, local(ref, "dataset", args.offline), split, args.out, name, settings,
                           **run_options(args))
                for ref, split, name in jobs]

    return run_cli(convert)
