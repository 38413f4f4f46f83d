"""The resumable pooled engine both data converters share: read, validate, convert and write rows, streaming.

A conversion reads a dataset split (a local dir or parquet files; hub ids are resolved before) in
batches of raw rows (image bytes are never decoded in the reader), hands each batch to a pool of
worker processes that validate and convert it (`RowFn`, the format-specific part), and writes the
results in order as numbered chunk files with a progress state. A rerun after an interruption resumes
after the last complete chunk; the finished output appears through atomic renames with a summary
(written last) that records the settings hash. Memory stays bounded: at most a few batches are in
flight at any time.

Every bad row raises `BadRowError` naming the dataset, split, row index and column. With
`on_bad_row="skip"` rejected rows go to `<name>.rejects.jsonl` with the reason instead.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from recipes.atomic import OutputExistsError, atomic_write_json, atomic_write_text, output_lock
from recipes.data.errors import BadRowError, RowReject
from recipes.data.reader import (
    REQUIRED_COLUMNS,
    DatasetSplit,
    check_columns,
    count_rows,
    data_files,
    iter_raw_batches,
)
from recipes.data.rows import RowSettings
from recipes.hashing import changed_keys, content_id, stable_hash

log = logging.getLogger(__name__)

CONVERTER_VERSION = 1
"""Bump when the output format changes: it is part of the settings hash."""
BATCH_SIZE = 64
"""Rows per batch and per output chunk."""

RowFn = Callable[[dict[str, Any], int, DatasetSplit, RowSettings], Any]
"""Converts one raw row (with its source index) to an output record, or raises RowReject."""


class ChunkWriter(Protocol):
    """The format-specific output side: chunk files in the work dir, then the final file(s)."""

    def write_chunk(self, path: Path, records: list[Any]) -> None:
        """Write `records` to `path` (a fresh name in the work dir; the engine renames it into place)."""

    def finish(self, chunks: list[Path], target: Path) -> None:
        """Combine the chunk files, in order, into `target` (a temp name; the engine renames it)."""


@dataclass
class Job:
    """One split to convert into `<out_dir>/<name><suffix>`."""

    spec: DatasetSplit
    out_dir: Path
    name: str
    suffix: str
    row_fn: RowFn
    writer: ChunkWriter
    settings: RowSettings
    batch_size: int = BATCH_SIZE
    overwrite: bool = False
    progress: bool = True
    clean_dirs: tuple[str, ...] = ()
    """Side directories under out_dir the row function writes into (removed when a run starts over)."""

    @property
    def target(self) -> Path:
        return self.out_dir / f"{self.name}{self.suffix}"

    def settings_record(self) -> dict[str, Any]:
        return {"converter_version": CONVERTER_VERSION, "source": self.spec.ref, "split": self.spec.split,
                "row_fn": f"{self.row_fn.__module__}.{self.row_fn.__qualname__}", **self.settings.hashed()}


def _convert_batch(task: tuple[RowFn, DatasetSplit, RowSettings, int, list[dict[str, Any]]]) -> tuple[
        int, int, list[Any], list[dict[str, Any]]]:
    """Worker: convert a batch; return (start, n, records, rejects as {index, column, reason})."""
    row_fn, spec, settings, start, rows = task
    records, rejects = [], []
    for i, row in enumerate(rows):
        try:
            records.append(row_fn(row, start + i, spec, settings))
        except RowReject as err:
            rejects.append({"index": start + i, "column": err.column, "reason": err.reason})
    return start, len(rows), records, rejects


def run_job(job: Job) -> dict[str, Any]:
    """Convert `job.spec` (resuming a partial run, skipping a finished identical one); return the summary.
    Two converters never write the same output: the second is refused while the first holds its lock."""
    with output_lock(job.out_dir / f".{job.name}.lock", str(job.target)):
        return _run_job(job)


def _run_job(job: Job) -> dict[str, Any]:
    out_dir, name = job.out_dir, job.name
    summary_path = out_dir / f"{name}.summary.json"
    rejects_path = out_dir / f"{name}.rejects.jsonl"
    record = job.settings_record()
    old = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    files = data_files(job.spec)
    cache = dict(old.get("source_digests", {}))
    if not _in_hub_cache(files):  # hub snapshots are pinned by revision; local files by what they hold
        record["source_content"] = stable_hash([content_id(f, cache) for f in files])
    digest = stable_hash(record)
    if old:
        if old.get("settings_hash") == digest and job.target.exists():
            log.info("%s: already converted with the same settings (%s rows); nothing to do", job.target,
                     old.get("rows"))
            return old
        if not job.overwrite:
            raise OutputExistsError(
                f"{job.target} was made with other settings (changed: "
                f"{', '.join(changed_keys(old.get('settings', {}), record)) or 'unknown'}); refusing to overwrite it: pass overwrite "
                "(--overwrite) or choose another output directory")
        summary_path.unlink()
    work = out_dir / f".{name}.work"
    state_path = work / "state.json"
    state: dict[str, Any] = {}
    if state_path.is_file():
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if state.get("settings_hash") != digest:
            log.warning("%s: partial work made with other settings; starting over", work)
            state = {}
    if not state:
        shutil.rmtree(work, ignore_errors=True)
        for d in job.clean_dirs:
            shutil.rmtree(out_dir / d, ignore_errors=True)
        work.mkdir(parents=True)
        state = {"settings_hash": digest, "next_row": 0, "chunks": [], "rows": 0, "rejected": 0}
        atomic_write_json(state_path, state)
    elif state["next_row"]:
        log.info("%s: resuming at row %d (%d chunks done)", job.target, state["next_row"], len(state["chunks"]))

    check_columns(job.spec, files)
    total = count_rows(files, job.spec)
    if total == 0:
        raise BadRowError(job.spec.ref, job.spec.split, None, None,
                          f"0 rows in {', '.join(files)}: nothing to convert (an empty source ends the stage here, "
                          "not in the trainer)")
    max_rows = job.settings.max_rows
    stop = total if max_rows is None else min(total, max_rows)
    t0 = time.monotonic()
    done_before = state["next_row"]
    bar = _progress(job, stop, done_before)
    try:
        for start, n, records, rejects in _results(job, files, state["next_row"], stop):
            if rejects and job.settings.on_bad_row == "error":
                r = rejects[0]
                raise BadRowError(job.spec.ref, job.spec.split, r["index"], r["column"], r["reason"])
            cid = len(state["chunks"])
            chunk = work / f"chunk-{cid:06d}"
            tmp = work / f".tmp-{cid:06d}"
            job.writer.write_chunk(tmp, records)
            os.replace(tmp, chunk)
            if rejects:
                atomic_write_text(work / f"rejects-{cid:06d}.jsonl",
                                  "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejects))
            state["chunks"].append(chunk.name)
            state["next_row"] = start + n
            state["rows"] += len(records)
            state["rejected"] += len(rejects)
            atomic_write_json(state_path, state)
            if bar is not None:
                bar.update(n)
                bar.set_postfix(rejected=state["rejected"], refresh=False)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.monotonic() - t0

    if state["rows"] == 0:
        raise BadRowError(job.spec.ref, job.spec.split, None, None,
                          f"no row survived conversion ({state['rejected']} rejected, reasons in "
                          f"{work}/rejects-*.jsonl): nothing to train on")
    # finish: final file, rejects, then the summary (the completion marker), all atomic
    tmp_target = out_dir / f".{name}{job.suffix}.tmp-{os.getpid()}"
    job.writer.finish([work / c for c in state["chunks"]], tmp_target)
    if job.target.exists() and job.overwrite:
        _remove(job.target)
    os.replace(tmp_target, job.target)
    reject_files = sorted(work.glob("rejects-*.jsonl"))
    if reject_files:
        atomic_write_text(rejects_path, "".join(f.read_text(encoding="utf-8") for f in reject_files))
    elif rejects_path.exists():
        rejects_path.unlink()
    converted = stop - done_before
    summary = {
        "dataset": job.spec.ref, "split": job.spec.split, "output": str(job.target),
        "rows": state["rows"], "rejected": state["rejected"],
        "rejects": str(rejects_path) if reject_files else None,
        "source_rows": total, "seconds": round(seconds, 2),
        "rows_per_s": round(converted / seconds, 1) if seconds > 0 else None,
        "resumed_at": done_before or None, "settings_hash": digest, "settings": record,
        "source_digests": {k: v for k, v in cache.items() if k in {str(Path(f).resolve()) for f in files}},
    }
    atomic_write_json(summary_path, summary)
    shutil.rmtree(work, ignore_errors=True)
    log.info("%s: %d rows written, %d rejected%s", job.target, state["rows"], state["rejected"],
             f" (see {rejects_path})" if reject_files else "")
    return summary


def _in_hub_cache(files: list[str]) -> bool:
    """Every file is in a Hugging Face cache snapshot (`.../snapshots/<revision>/...`): named by revision."""
    return bool(files) and all("snapshots" in Path(f).parts for f in files)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def _progress(job: Job, total: int, initial: int) -> Any:
    if not job.progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="rows", desc=f"{job.spec.ref} [{job.spec.split}]",
                dynamic_ncols=True, smoothing=0.1)


def _results(job: Job, files: list[str], start: int, stop: int) -> Iterator[tuple[int, int, list, list]]:
    """Converted batches in order; a pool of `num_workers` processes with a bounded number in flight."""
    batches = iter_raw_batches(files, REQUIRED_COLUMNS, job.batch_size, start, stop)
    tasks = ((job.row_fn, job.spec, job.settings, s, rows) for s, rows in batches)
    workers = job.settings.num_workers
    if workers <= 1:
        for task in tasks:
            yield _convert_batch(task)
        return
    ctx = mp.get_context("spawn")  # no fork of pyarrow / tokenizers threads
    pool = ctx.Pool(workers)
    try:
        pending: deque = deque()
        limit = 2 * workers
        for task in tasks:
            pending.append(pool.apply_async(_convert_batch, (task,)))
            if len(pending) >= limit:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()
