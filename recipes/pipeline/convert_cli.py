"""The two converter command lines, `rlcs convert-sft` and `rlcs convert-rl`: the `sft_data` / `rl_data` stage's
conversion of a recipe into a directory of your choice. Their settings are the recipe's (`key=value` overrides, as
`rlcs run RECIPE stages=[sft_data] data.max_rows=8`), checked by the schema's rules with the pipeline's error lines;
the settings each reads are the stage's own `config_keys`, and their --help is generated from the schema's fields
(recipes/pipeline/config.py DataConfig): nothing here declares a setting, a default or a rule."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import logging
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from recipes.atomic import OutputExistsError, OutputLockedError
from recipes.checks import ConfigError, Problem, closest, field_type, rule_of, type_words
from recipes.data.engine import BATCH_SIZE
from recipes.data.errors import BadRowError
from recipes.hub import HubRef, HubRefError, resolve
from recipes.overrides import Alias, aliases_epilog, parse

DEFAULT_RECIPE = "qwen2_5_vl_7b"
"""The paper's recipe: its data settings are the schema's defaults."""
RUN_KEYS = ("data.num_workers", "hub.offline", "hub.cache_dir")
"""Settings a conversion reads besides its stage's `config_keys` (they do not change the output)."""
NONE = "none"
"""`model.path=none` skips the prompt-token check; `data.val_source=none` (convert-rl) skips the validation set."""

ERRORS_HELP = """\
Every bad row stops the run (data.on_bad_row=error) with the dataset, split, row index, column and reason:
missing column, empty problem / answer, undecodable or zero-size image, <image> placeholders that do not match
the images, an image above data.max_pixels after Qwen's resize, a prompt above data.max_prompt_length tokens.
With data.on_bad_row=skip they go to <out>/<name>.rejects.jsonl instead. A value the schema refuses stops the
command before anything is read, one line per problem, as `rlcs run` does. A rerun after an interruption
resumes; a finished output made with other settings is kept unless --overwrite is given."""


@dataclass(frozen=True)
class Converter:
    """One converter command: the stage it runs, its text, and its deprecated flags."""

    stage: str
    doc: str
    aliases: tuple[Alias, ...]


COMMON_ALIASES = (
    Alias("--model", ("model.path={}",)),
    Alias("--max-pixels", ("data.max_pixels={}",)),
    Alias("--max-prompt-length", ("data.max_prompt_length={}",)),
    Alias("--on-bad-row", ("data.on_bad_row={}",)),
    Alias("--num-workers", ("data.num_workers={}",)),
    Alias("--max-rows", ("data.max_rows={}",)),
    Alias("--offline", ("hub.offline=true",), nargs=0),
)

SFT = Converter("sft_data", """\
Convert the cold-start set to ms-swift's multimodal JSON lines plus image files: what `rlcs run RECIPE
stages=[sft_data]` does (RECIPE: default qwen2_5_vl_7b, the paper's), written to --out.

Output: <out>/train.jsonl (messages with the system prompt, one <image> tag per image, image paths),
<out>/images/ (every image of every row, RGB, stable names), <out>/train.summary.json.
""", (*COMMON_ALIASES, Alias("--system-prompt", ("data.system_prompt={}",)), Alias("--source", ("data.sft_source={}",)),
      Alias("--split", ("data.sft_split={}",))))

RL = Converter("rl_data", """\
Convert the RL set and the validation set to parquet in verl's RL schema: what `rlcs run RECIPE
stages=[rl_data]` does (RECIPE: default qwen2_5_vl_7b, the paper's), written to --out.

Output: <out>/train.parquet and <out>/val.parquet (data_source, prompt = the problem as one user turn with
<image> placeholders and no system message, as the reference; data.rl_system_prompt=true adds
data.system_prompt as one; images as {bytes, max_pixels, min_pixels}, ability, reward_model {style: rule,
ground_truth}, extra_info {index, split, options, prompt_tokens}) with their summaries.
""", (*COMMON_ALIASES, Alias("--system-prompt", ("data.system_prompt={}", "data.rl_system_prompt=true")),
      Alias("--source", ("data.rl_source={}",)), Alias("--split", ("data.rl_split={}",)),
      Alias("--val-source", ("data.val_source={}",)), Alias("--val-split", ("data.val_split={}",)),
      Alias("--min-pixels", ("data.min_pixels={}",))))


def keys_of(stage: str) -> tuple[str, ...]:
    """The settings a conversion reads: its stage's `config_keys`, then `RUN_KEYS`."""
    from recipes.pipeline.stages import load_stage

    return (*load_stage(stage).config_keys, *RUN_KEYS)


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of dataclass `cls` (its source read with `ast`), first sentence only."""
    out: dict[str, str] = {}
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body  # type: ignore[attr-defined]
    for node, after in itertools.pairwise(body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            text = " ".join(after.value.value.split())
            out[node.target.id] = re.split(r"(?<=\.)\s+(?=[A-Z`])", text)[0]
    return out


def setting_help(key: str) -> str:
    """`key=DEFAULT` with its type, its rule (or why any value goes) and its docstring, from the schema."""
    from recipes.pipeline.config import PipelineConfig

    group, name = key.split(".", 1)
    cls = field_type(PipelineConfig, group)
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    rule = rule_of(f)
    allowed = (rule.free or rule.allowed()) if rule else ""
    what = type_words(field_type(PipelineConfig, key)) + (f": {allowed}" if allowed else "")
    shown = "null" if default is None else str(default).lower() if isinstance(default, bool) else default
    doc = field_docs(cls).get(name, "")
    return "\n".join([f"  {key}={shown}", *(textwrap.fill(t, 110, initial_indent=" " * 6, subsequent_indent=" " * 6)
                                              for t in (what, doc) if t)])


def build_parser(conv: Converter, prog: str) -> argparse.ArgumentParser:
    settings = "\n".join(setting_help(k) for k in keys_of(conv.stage))
    extra = {"sft_data": "", "rl_data": f"\n  data.val_source={NONE} converts no validation set."}[conv.stage]
    epilog = (f"settings: key=value, the recipe's own keys, as `rlcs run` takes them (defaults shown: the paper's;\n"
              f"a RECIPE starts from its own values, `rlcs run RECIPE --cfg` prints them):\n{settings}\n"
              f"  model.path={NONE} skips the prompt-token check.{extra}\n\n"
              f"{ERRORS_HELP}\n\n{aliases_epilog(conv.aliases)}\n"
              f"example:\n  {prog} tiny data.max_rows=8 data.on_bad_row=skip --out /tmp/{conv.stage}\n")
    p = argparse.ArgumentParser(prog=prog, description=conv.doc, epilog=epilog,
                                usage=f"{prog} [RECIPE] [key=value ...] --out DIR [--batch-size N] [--overwrite] "
                                      "[--no-progress]",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", default=DEFAULT_RECIPE,
                   help=f"the recipe whose settings to convert with (default {DEFAULT_RECIPE}, the paper's)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="the recipe's settings listed below")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                   help=f"rows per batch / output chunk (default {BATCH_SIZE}); not a setting: same output")
    p.add_argument("--overwrite", action="store_true", help="replace a finished output made with other settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    for alias in conv.aliases:
        alias.add_to(p)
    return p


def compose_settings(conv: Converter, recipe: str, overrides: Sequence[str], prog: str) -> DictConfig:
    """RECIPE with `overrides`, every value checked by the schema's rules; an override of a key this conversion
    does not read is refused too. Raise ConfigError with one line per problem."""
    from recipes.pipeline.compose import compose
    from recipes.pipeline.validate import problems

    keys = keys_of(conv.stage)
    unread = [Problem(k, v, f"not a setting {prog} reads ({', '.join(keys)})", closest(k, keys))
              for k, _, v in (o.lstrip("+~").partition("=") for o in overrides) if k not in keys]
    if unread:
        raise ConfigError(f"{prog}: {len(unread)} override(s) refused; nothing was converted:", unread)
    cfg = compose(recipe, [*overrides, f"stages=[{conv.stage}]"])
    found = problems(cfg, upstream=False)  # the schema's rules and relations, as `rlcs run` checks them
    if found:
        raise ConfigError(f"{prog}: {len(found)} problem(s) in the settings; nothing was converted:", found)
    return cfg


def local(ref: str, kind: str, cfg: DictConfig) -> str:
    """Hub id, path or tiny:<name> -> local path (fetched into the HF cache when needed)."""
    return str(resolve(HubRef(ref, kind), cfg.hub.cache_dir, bool(cfg.hub.offline)))


def model_path(cfg: DictConfig) -> str | None:
    ref = str(cfg.model.path)
    return None if ref.lower() == NONE else local(ref, "model", cfg)


def run_cli(convert: Callable[[], list[dict[str, Any]]]) -> int:
    """Run `convert`, print each summary, turn expected failures into a one-line error and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        summaries = convert()
    except (ConfigError, BadRowError, OutputExistsError, OutputLockedError, HubRefError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for s in summaries:
        rate = f", {s['rows_per_s']} rows/s" if s.get("rows_per_s") else ""
        rej = f" (rejects: {s['rejects']})" if s.get("rejects") else ""
        print(f"{s['dataset']} [{s['split']}] -> {s['output']}: {s['rows']} rows, {s['rejected']} rejected{rej}"
              f"{rate}")
    return 0


def _args(conv: Converter, argv: Sequence[str] | None, prog: str) -> tuple[argparse.Namespace, Callable]:
    """Parsed arguments (a leading `key=value` is an override, not a recipe) and the run options."""
    args = parse(build_parser(conv, prog), argv, conv.aliases)
    if "=" in args.recipe:
        args.overrides.insert(0, args.recipe)
        args.recipe = DEFAULT_RECIPE

    def options() -> dict[str, Any]:
        return {"batch_size": args.batch_size, "overwrite": args.overwrite, "progress": not args.no_progress}

    return args, options


def main_sft(argv: Sequence[str] | None = None, prog: str = "scripts/convert_sft_data.py") -> int:
    """`rlcs convert-sft [RECIPE] [key=value ...] --out DIR`: the cold-start set -> ms-swift JSON lines + images."""
    args, options = _args(SFT, argv, prog)

    def convert() -> list[dict]:
        from SFT.sft_rows import convert_sft, sft_settings

        cfg = compose_settings(SFT, args.recipe, args.overrides, prog)
        d = cfg.data
        return [convert_sft(str(d.sft_source), local(str(d.sft_source), "dataset", cfg), str(d.sft_split), args.out,
                            sft_settings(d, model_path(cfg)), **options())]

    return run_cli(convert)


def main_rl(argv: Sequence[str] | None = None, prog: str = "scripts/convert_rl_data.py") -> int:
    """`rlcs convert-rl [RECIPE] [key=value ...] --out DIR`: the RL and validation sets -> verl's RL parquet."""
    args, options = _args(RL, argv, prog)

    def convert() -> list[dict]:
        from GRPO.data_stage import rl_system_prompt
        from GRPO.rl_rows import convert_rl
        from recipes.data.rows import RowSettings

        cfg = compose_settings(RL, args.recipe, args.overrides, prog)
        d = cfg.data
        settings = RowSettings.from_data(d, model_path(cfg), system_prompt=rl_system_prompt(cfg))
        jobs = [(str(d.rl_source), str(d.rl_split), "train")]
        if str(d.val_source).lower() != NONE:
            jobs.append((str(d.val_source), str(d.val_split), "val"))
        return [convert_rl(ref, local(ref, "dataset", cfg), split, args.out, name, settings, **options())
                for ref, split, name in jobs]

    return run_cli(convert)
