"""What the two converter command lines (recipes/pipeline/convert.py: `rlcs convert-sft`, `rlcs convert-rl`) share:
common flags (defaults from the `DataConfig` and model path the caller passes in), source resolution,
error reporting."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

from recipes.atomic import OutputExistsError, OutputLockedError
from recipes.data.engine import BATCH_SIZE
from recipes.data.errors import BadRowError
from recipes.data.rows import ON_BAD_ROW
from recipes.hub import HubRef, HubRefError, resolve

ERRORS_HELP = """\
Every bad row stops the run (--on-bad-row error) with the dataset, split, row index, column and reason:
missing column, empty problem / answer, undecodable or zero-size image, <image> placeholders that do
not match the images, an image above --max-pixels after Qwen's resize, a prompt above
--max-prompt-length tokens. With --on-bad-row skip they go to <out>/<name>.rejects.jsonl instead.
A rerun after an interruption resumes; a finished output made with other settings is kept unless
--overwrite is given."""


def converter_parser(description: str, d: Any, model: str, prog: str | None = None) -> argparse.ArgumentParser:
    """A converter's parser with the flags both converters take; `d` (the pipeline's DataConfig) and `model`
    (its model path) give the defaults, so a command line converts as the pipeline does."""
    p = argparse.ArgumentParser(prog=prog, description=description, epilog=ERRORS_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--model", default=model, help="model whose tokenizer / processor count prompt tokens: hub id, "
                   f"local dir or tiny:model (default {model}); 'none' skips the token check")
    p.add_argument("--system-prompt", default=d.system_prompt, help="system prompt (default: the paper's)")
    p.add_argument("--max-pixels", type=int, default=d.max_pixels, help=f"per-image pixel ceiling (default {d.max_pixels})")
    p.add_argument("--max-prompt-length", type=int, default=d.max_prompt_length,
                   help=f"prompt token limit, images included (default {d.max_prompt_length})")
    p.add_argument("--on-bad-row", choices=ON_BAD_ROW, default=d.on_bad_row,
                   help=f"stop at the first bad row, or write it to the rejects file and go on (default {d.on_bad_row})")
    p.add_argument("--num-workers", type=int, default=d.num_workers, help=f"worker processes (default {d.num_workers})")
    p.add_argument("--max-rows", type=int, default=d.max_rows, help="convert only the first N rows")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                   help=f"rows per batch / output chunk (default {BATCH_SIZE})")
    p.add_argument("--overwrite", action="store_true", help="replace a finished output made with other settings")
    p.add_argument("--offline", action="store_true", help="never contact the hub (HF_HUB_OFFLINE=1 does too)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def local(ref: str, kind: str, offline: bool) -> str:
    """Hub id, path or tiny:<name> -> local path (fetched into the HF cache when needed)."""
    return str(resolve(HubRef(ref, kind), None, offline))


def model_path(args: argparse.Namespace) -> str | None:
    return None if args.model.lower() == "none" else local(args.model, "model", args.offline)


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The converters' keyword arguments that are not row settings."""
    return {"batch_size": args.batch_size, "overwrite": args.overwrite, "progress": not args.no_progress}


def run_cli(convert: Callable[[], list[dict[str, Any]]]) -> int:
    """Run `convert`, print each summary, turn expected failures into a one-line error and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        summaries = convert()
    except (BadRowError, OutputExistsError, OutputLockedError, HubRefError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for s in summaries:
        rate = f", {s['rows_per_s']} rows/s" if s.get("rows_per_s") else ""
        rej = f" (rejects: {s['rejects']})" if s.get("rejects") else ""
        print(f"{s['dataset']} [{s['split']}] -> {s['output']}: {s['rows']} rows, {s['rejected']} rejected{rej}"
              f"{rate}")
    return 0
