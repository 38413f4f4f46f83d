"""Reading a dataset split's parquet files in batches of raw rows (image bytes stay undecoded)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipes.data.errors import BadRowError

REQUIRED_COLUMNS = ("images", "problem", "answer")


@dataclass(frozen=True)
class DatasetSplit:
    """One dataset split to convert."""

    ref: str
    """What the user named (hub id, path, tiny:<name>): used in messages and as `data_source`."""
    path: str
    """Local directory or parquet file (hub ids resolved already)."""
    split: str


def data_files(spec: DatasetSplit) -> list[str]:
    """The parquet files of `spec`'s split (a parquet file, a dir of an HF-style dataset, a hub snapshot)."""
    path = Path(spec.path)
    if path.is_file():
        if path.suffix != ".parquet":
            raise BadRowError(spec.ref, spec.split, None, None,
                              f"{path}: only parquet data files are supported (a {path.suffix or 'suffix-less'} "
                              "file was given); write it as parquet, e.g. datasets.Dataset.to_parquet")
        return [str(path)]
    if not path.is_dir():
        raise FileNotFoundError(f"dataset {spec.ref!r}: {path} does not exist")
    import datasets

    try:
        builder = datasets.load_dataset_builder(str(path))
        files = builder.config.data_files
    except Exception as err:
        raise FileNotFoundError(f"dataset {spec.ref!r} at {path}: cannot find its data files ({err})") from err
    if spec.split not in (files or {}):
        raise BadRowError(spec.ref, spec.split, None, None,
                          f"no such split in {path} (it has: {', '.join(files or {}) or 'none'})")
    out = [str(f) for f in files[spec.split]]
    bad = [f for f in out if not f.endswith(".parquet")]
    if bad:
        raise BadRowError(spec.ref, spec.split, None, None,
                          f"only parquet data files are supported, found {bad[0]}")
    return out


def open_parquet(spec: DatasetSplit, f: str):
    """`pq.ParquetFile(f)`, or BadRowError naming the file when it is empty or not parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(f)
    except (pa.ArrowException, OSError) as err:
        raise BadRowError(spec.ref, spec.split, None, None, f"{f}: not a readable parquet file ({err})") from err


def count_rows(files: list[str], spec: DatasetSplit | None = None) -> int:
    """Rows of the split's files; with `spec`, an unreadable file is a BadRowError naming it."""
    import pyarrow.parquet as pq

    if spec is None:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return sum(open_parquet(spec, f).metadata.num_rows for f in files)


def check_columns(spec: DatasetSplit, files: list[str], columns: tuple[str, ...] = REQUIRED_COLUMNS) -> None:
    """Every file of the split has `columns`, else BadRowError naming the missing one."""
    for f in files:
        names = open_parquet(spec, f).schema_arrow.names
        for col in columns:
            if col not in names:
                raise BadRowError(spec.ref, spec.split, None, col,
                                  f"missing column (file {Path(f).name} has: {', '.join(names)})")


def iter_raw_batches(files: list[str], columns: tuple[str, ...], batch_size: int, start: int = 0,
                     stop: int | None = None) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Yield `(index of first row, rows)` for rows `start..stop` of the concatenated files, image bytes raw.

    Whole row groups before `start` are skipped without reading them (resume is cheap).
    """
    import pyarrow.parquet as pq

    offset = 0
    for f in files:
        pf = pq.ParquetFile(f)
        for rg in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(rg).num_rows
            if stop is not None and offset >= stop:
                return
            if offset + n <= start:
                offset += n
                continue
            for batch in pf.iter_batches(batch_size=batch_size, row_groups=[rg], columns=list(columns)):
                lo, hi = offset, offset + batch.num_rows
                offset = hi
                a, b = max(lo, start), hi if stop is None else min(hi, stop)
                if b <= a:
                    continue
                rows = batch.slice(a - lo, b - a).to_pylist()
                yield a, rows
