"""The two errors of row conversion: `RowReject` (a row function's verdict on one row) and `BadRowError`
(the same with its dataset, split and row index, as the user sees it). Apart from the modules that raise
them, so images, rows and the engine share them without importing each other."""

from __future__ import annotations


class BadRowError(ValueError):
    """A row that the trainer would fail on (or silently mis-train on); the message says where and why."""

    def __init__(self, dataset: str, split: str, index: int | None, column: str | None, reason: str):
        self.dataset, self.split, self.index, self.column, self.reason = dataset, split, index, column, reason
        where = f"dataset {dataset!r} split {split!r}"
        if index is not None:
            where += f" row {index}"
        if column is not None:
            where += f" column {column!r}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # picklable across the worker pool
        return (BadRowError, (self.dataset, self.split, self.index, self.column, self.reason))


class RowReject(ValueError):
    """Raised by a row function: the row is bad for `reason` in `column` (the engine adds the location)."""

    def __init__(self, column: str | None, reason: str):
        self.column, self.reason = column, reason
        super().__init__(reason)

    def __reduce__(self):
        return (RowReject, (self.column, self.reason))
