"""Cold-start data -> ms-swift's multimodal training format (JSON lines) plus image files.

One line per row::

    {"messages": [{"role": "system", "content": SYSTEM_PROMPT},
                  {"role": "user", "content": "<image><image>problem"},
                  {"role": "assistant", "content": "chain of thought ... \\boxed{..}"}],
     "images": ["/abs/out/images/00000/00000012-0.png", "/abs/out/images/00000/00000012-1.jpg"]}

Every image of a row is kept (the reference kept only the first), as RGB; names are stable
(`images/<index // 1000>/<index>-<k>.<ext>`), so a resumed run rewrites the same files. The shared
streaming / validation / resume machinery is recipes/rowdata.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from recipes.atomic import atomic_write_bytes
from recipes.config import MAX_PIXELS, SYSTEM_PROMPT
from recipes.rowdata import (
    QWEN_MIN_PIXELS,
    Job,
    RowReject,
    RowSettings,
    SourceSpec,
    prepare_row,
    run_job,
)

DEFAULT_SOURCE = "WaltonFuture/Multimodal-Cold-Start"
IMAGES_DIR = "images"


def sft_row(row: dict[str, Any], index: int, spec: SourceSpec, s: RowSettings) -> str:
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


def convert_sft(source: str, path: str, split: str, out_dir: str | Path, *, model_path: str | None,
                system_prompt: str = SYSTEM_PROMPT, max_pixels: int = MAX_PIXELS,
                min_pixels: int = QWEN_MIN_PIXELS, max_prompt_length: int | None = 2048,
                on_bad_row: str = "error", num_workers: int = 2, max_rows: int | None = None,
                batch_size: int = 64, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Convert `source` (local `path`, split `split`) into `<out_dir>/train.jsonl` + `<out_dir>/images/`.

    `min_pixels` defaults to ms-swift's (qwen_vl_utils') floor: the SFT stage sets only MAX_PIXELS.
    Returns the summary (rows, rejected, rejects file, rows/s, settings hash).
    """
    if on_bad_row not in ("error", "skip"):
        raise ValueError(f"on_bad_row must be 'error' or 'skip', got {on_bad_row!r}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = RowSettings(system_prompt=system_prompt, max_pixels=max_pixels, min_pixels=min_pixels,
                           max_prompt_length=max_prompt_length, model_path=model_path,
                           image_dir=str(out_dir / IMAGES_DIR))
    job = Job(spec=SourceSpec(source, str(path), split), out_dir=out_dir, name="train", suffix=".jsonl",
              row_fn=sft_row, writer=JsonlChunks(), settings=settings, on_bad_row=on_bad_row,
              num_workers=num_workers, max_rows=max_rows, batch_size=batch_size, overwrite=overwrite,
              progress=progress, clean_dirs=(IMAGES_DIR,))
    summary = run_job(job)
    summary["images"] = str(out_dir / IMAGES_DIR)
    return summary
