"""Atomic outputs: everything is written next to its target and renamed into place at the end."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class OutputExistsError(FileExistsError):
    """The target exists and the caller did not ask to overwrite it."""


def _temp_sibling(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextmanager
def atomic_dir(target: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temp dir beside `target`; on success it replaces `target`, on error it is removed.

    An existing `target` raises OutputExistsError unless `overwrite` is true; then the old one is
    removed only after the new one is complete.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} already exists; refusing to overwrite it (ask for overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(target)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = _temp_sibling(target)
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_bytes(path: str | Path, data: bytes, fsync: bool = True) -> None:
    """Write `data` to `path` through a temp file and an atomic rename (fsynced unless `fsync=False`, for
    many small files whose index is fsynced after them)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, indent: int = 2) -> None:
    """Write `obj` as JSON to `path` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False, default=str) + "\n")


class OutputLockedError(RuntimeError):
    """Another process is writing the same output."""


@contextmanager
def output_lock(lock_path: str | Path, what: str) -> Iterator[None]:
    """Hold an exclusive `flock` on `lock_path` while writing `what`; a second writer is refused at once, naming
    the holder. The kernel drops the lock with its holder, so a killed writer never leaves a stale one."""
    import fcntl

    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise OutputLockedError(f"{what} is being written by another process ({fh.read().strip() or 'unknown'}); "
                                    "wait for it or use another output directory") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def move_aside(path: str | Path, suffix: str) -> Path | None:
    """Rename an existing `path` to `<path>.<suffix>` (never deleting it); return the new path."""
    path = Path(path)
    if not path.exists():
        return None
    dest = path.with_name(f"{path.name}.{suffix}")
    n = 1
    while dest.exists():
        dest = path.with_name(f"{path.name}.{suffix}.{n}")
        n += 1
    os.replace(path, dest)
    return dest


def seal_jsonl_tail(path: str | Path) -> str:
    """Make an append-only JSON-lines file end on a line break before more rows are appended to it.

    A last line that lacks its newline but parses as JSON is a complete row (the crash hit between the row
    and its newline): the newline is added and the row kept. Anything else after the last newline is a torn
    write and is cut. Returns "sealed", "cut" or "" (nothing to do)."""
    path = Path(path)
    if not path.exists():
        return ""
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return ""
    keep = data.rfind(b"\n") + 1
    try:
        json.loads(data[keep:].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        with open(path, "r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        log.warning("%s: cut a torn last line (%d bytes, an interrupted write)", path, len(data) - keep)
        return "cut"
    with open(path, "ab") as f:
        f.write(b"\n")
        f.flush()
        os.fsync(f.fileno())
    return "sealed"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file written by appending (predictions, training logs); [] when it does not exist.
    A torn last line (a crash or a run still writing) is skipped; a bad line elsewhere raises ValueError naming it."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            if n == len(lines):
                log.warning("%s: skipping the torn last line %d (interrupted write)", path, n)
                continue
            raise ValueError(f"{path} line {n}: not JSON ({err})") from err
    return rows
