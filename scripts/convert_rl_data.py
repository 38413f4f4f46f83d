"""Convert the RL set and the validation set to parquet in verl's RL schema.

Output: <out>/train.parquet and <out>/val.parquet (data_source, prompt = the problem as one user turn with
<image> placeholders and no system message, as the reference; --system_prompt TEXT adds one, images as {bytes, max_pixels, min_pixels}, ability, reward_model {style: rule,
ground_truth}, extra_info {index, split, options, prompt_tokens}) with their summaries.
"""

from __future__ import annotations

from recipes.data.cli import converter_parser, local, model_path, run_cli, run_options
from recipes.pipeline.config import DataConfig, ModelConfig


def main(argv: list[str] | None = None) -> int:
    d = DataConfig()
    p = converter_parser(__doc__, d, ModelConfig().path)
    p.add_argument("--source", default=d.rl_source, help=f"RL set: hub id, local dir or tiny:rl (default {d.rl_source})")
    p.add_argument("--split", default=d.rl_split, help=f"RL split (default {d.rl_split})")
    p.add_argument("--val_source", default=d.val_source,
                   help=f"validation set (default {d.val_source}); 'none' skips it")
    p.add_argument("--val_split", default=d.val_split, help=f"validation split (default {d.val_split})")
    p.add_argument("--min_pixels", type=int, default=d.min_pixels, help=f"per-image pixel floor (default {d.min_pixels})")
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


if __name__ == "__main__":
    raise SystemExit(main())
