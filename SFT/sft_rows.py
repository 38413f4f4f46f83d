"""Cold-start data -> ms-swift's multimodal training format (JSON lines) plus image files.

One line per row::

    {"messages": [{"role": "system", "content": SYSTEM_PROMPT},
                  {"role": "user", "content": "<image><image>problem"},
                  {"role": "assistant", "content": "chain of thought ... \\boxed{..}"}],
     "images": ["/abs/out/images/00000/00000012-0.png", "/abs/out/images/00000/00000012-1.jpg"]}

Every image of a row is kept (the reference kept only the first), as RGB; names are stable
(`images/<index // 1000>/<index>-<k>.<ext>`), so a resumed run rewrites the same files. The shared
streaming / validation / resume machinery is recipes/data/.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from recipes.atomic import atomic_write_bytes
from recipes.data.engine import BATCH_SIZE, Job, run_job
from recipes.data.errors import RowReject
from recipes.data.qwen_vl import min_pixels_floor
from recipes.data.reader import DatasetSplit
from recipes.data.rows import RowSettings, prepare_row

IMAGES_DIR = "images"


def sft_settings(data: Any, model_path: str | None, **changes: Any) -> RowSettings:
    """RowSettings for ms-swift rows from `cfg.data` (see `RowSettings.from_data`). ms-swift gets only
    MAX_PIXELS, so images are checked against qwen_vl_utils' own floor for the model's family, not
    `data.min_pixels`."""
    return RowSettings.from_data(data, model_path, **{"min_pixels": min_pixels_floor(model_path), **changes})


def sft_row(row: dict[str, Any], index: int, spec: DatasetSplit, s: RowSettings) -> str:
    """One source row -> one ms-swift JSON line; its images are written under `s.image_dir`."""
    p = prepare_row(row, s)
    assert s.image_dir is not None
    sub = Path(s.image_dir) / f"{index // 1000:05d}"
    paths = []
    for k, im in enumerate(p.images):
        path = sub / f"{index:08d}-{k}.{im.ext}"
        try:
            atomic_write_bytes(path, im.data, fsync=False)  # the JSON-lines chunk naming it is written after
        except OSError as err:
            raise RowReject("images", f"image {k}: cannot write {path}: {err}") from err
        paths.append(str(path))
    messages = [{"role": "system", "content": s.system_prompt},
                {"role": "user", "content": p.problem},
                {"role": "assistant", "content": p.answer}]
    return json.dumps({"messages": messages, "images": paths}, ensure_ascii=False)


class JsonlChunks:
    """Chunks are JSON-lines files; the final file is their concatenation."""

    def write_chunk(self, path: Path, records: list[str]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(r + "\n" for r in records)

    def finish(self, chunks: list[Path], target: Path) -> None:
        with open(target, "wb") as out:
            for c in chunks:
                with open(c, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)


def convert_sft(source: str, path: str, split: str, out_dir: str | Path, settings: RowSettings, *,
                batch_size: int = BATCH_SIZE, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Convert `source` (local `path`, split `split`) into `<out_dir>/train.jsonl` + `<out_dir>/images/`
    with `settings` (`sft_settings`). Returns the summary (rows, rejected, rejects file, rows/s, settings hash).
    """
    if settings.system_prompt is None:
        raise ValueError("ms-swift rows need a system prompt (settings.system_prompt is None)")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    job = Job(spec=DatasetSplit(source, str(path), split), out_dir=out_dir, name="train", suffix=".jsonl",
              row_fn=sft_row, writer=JsonlChunks(), settings=replace(settings, image_dir=str(out_dir / IMAGES_DIR)),
              batch_size=batch_size, overwrite=overwrite, progress=progress, clean_dirs=(IMAGES_DIR,))
    summary = run_job(job)
    summary["images"] = str(out_dir / IMAGES_DIR)
    return summary
