"""RL data (train) and the validation set -> parquet in verl's RL schema.

One row per problem::

    data_source   "WaltonFuture/Multimodal-RL-Data"        (the source reference)
    prompt        [{"role": "user", "content": "<image>problem"}]   (the reference: one user turn, no system
                  message of its own; with `system_prompt` given, [{"role": "system", ...}, user])
    images        [{"bytes": <RGB png/jpeg>, "max_pixels": 1204224, "min_pixels": 262144}, ...]
    ability       "math"
    reward_model  {"style": "rule", "ground_truth": answer}
    extra_info    {"index": source row, "split": split, "options": ["3", "4", ...] or null, "prompt_tokens": n}

verl has no data-level pixel limits: qwen_vl_utils reads `max_pixels` / `min_pixels` from each image
dict, so the paper's limits travel with the images. `options` are parsed with reward_fns' own parser,
so the reward sees exactly what the converter saw. The machinery is recipes/data/.

Without a system message, Qwen2.5-VL's chat template inserts its default one (`TEMPLATE_DEFAULT_SYSTEM`) and
Qwen3-VL's inserts none (recipes/families.py `default_system`), so prompt lengths are counted with what the
model's template writes: the count is the length verl will see.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from recipes.data.engine import BATCH_SIZE, Job, run_job
from recipes.data.reader import DatasetSplit
from recipes.data.rows import RowSettings, prepare_row
from recipes.families import QWEN2_5_VL, family_or_none
from reward_fns.choices import parse_options

ROW_GROUP_ROWS = 256
TEMPLATE_DEFAULT_SYSTEM = QWEN2_5_VL.default_system
"""The system message Qwen2.5-VL's chat template adds when a conversation has none."""


def template_default_system(model_path: str | None) -> str | None:
    """The system message the model family's chat template writes when a conversation has none (Qwen2.5-VL's
    when the family is unknown)."""
    fam = family_or_none(model_path)
    return fam.default_system if fam else TEMPLATE_DEFAULT_SYSTEM


def schema() -> Any:
    """The parquet schema (fixed, so every chunk and the final file agree)."""
    import pyarrow as pa

    return pa.schema([
        ("data_source", pa.string()),
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("max_pixels", pa.int64()),
                                       ("min_pixels", pa.int64())]))),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", pa.struct([("index", pa.int64()), ("split", pa.string()),
                                  ("options", pa.list_(pa.string())), ("prompt_tokens", pa.int64())])),
    ])


def rl_row(row: dict[str, Any], index: int, spec: DatasetSplit, s: RowSettings) -> dict[str, Any]:
    """One source row -> one verl row."""
    p = prepare_row(row, s)
    system = [{"role": "system", "content": s.system_prompt}] if s.extra.get("system_message", True) else []
    return {
        "data_source": spec.ref,
        "prompt": [*system, {"role": "user", "content": p.problem}],
        "images": [{"bytes": im.data, "max_pixels": s.max_pixels, "min_pixels": s.min_pixels} for im in p.images],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": p.answer.strip()},
        "extra_info": {"index": index, "split": spec.split, "options": parse_options(p.problem),
                       "prompt_tokens": p.prompt_tokens},
    }


class ParquetChunks:
    """Chunks are parquet files; the final file streams their row groups into one parquet."""

    def write_chunk(self, path: Path, records: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records, schema=schema()), path)

    def finish(self, chunks: list[Path], target: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        with pq.ParquetWriter(target, schema()) as writer:
            buffered: list[Any] = []
            n = 0
            for c in chunks:
                for batch in pq.ParquetFile(c).iter_batches(batch_size=ROW_GROUP_ROWS):
                    buffered.append(batch)
                    n += batch.num_rows
                    if n >= ROW_GROUP_ROWS:
                        writer.write_table(pa.Table.from_batches(buffered, schema=schema()))
                        buffered, n = [], 0
            if buffered or not chunks:
                writer.write_table(pa.Table.from_batches(buffered, schema=schema()))


def convert_rl(source: str, path: str, split: str, out_dir: str | Path, name: str, settings: RowSettings, *,
               batch_size: int = BATCH_SIZE, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Convert `source` (local `path`, split `split`) into `<out_dir>/<name>.parquet`; return the summary.

    `settings.system_prompt=None` writes the reference's prompt: one user turn, no system message of its
    own; a string adds it as the system message (the pipeline's `data.rl_system_prompt=true`)."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    system = settings.system_prompt
    default = template_default_system(settings.model_path)
    settings = replace(settings, system_prompt=default if system is None else system,
                       extra={"system_message": system is not None})
    job = Job(spec=DatasetSplit(source, str(path), split), out_dir=out_dir, name=name, suffix=".parquet",
              row_fn=rl_row, writer=ParquetChunks(), settings=settings, batch_size=batch_size, overwrite=overwrite,
              progress=progress)
    return run_job(job)
