"""`runs/<run>/manifest.json`: per stage status, config hash, inputs, outputs and timings."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from recipes.atomic import atomic_write_json
from recipes.child_guard import hold_for_children, live_groups, release_for_children

RUNNING, FAILED = "running", "failed"
"""A stage's other statuses (DONE, with `done_outputs`, is in recipes/stage_outputs.py)."""


class RunLockedError(RuntimeError):
    """Another runner process is working on the same run directory."""


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Manifest:
    """The run's record, rewritten atomically after every change."""

    def __init__(self, run_dir: Path, run_name: str):
        self.path = run_dir / "manifest.json"
        if self.path.exists():
            try:
                self.data: dict[str, Any] = json.loads(self.path.read_text())
            except json.JSONDecodeError as err:
                raise ValueError(f"{self.path} is not valid JSON ({err}); move it aside to start over") from err
        else:
            self.data = {"run_name": run_name, "created": now(), "stages": {}}

    def stage(self, name: str) -> dict[str, Any]:
        return self.data["stages"].get(name, {})

    def update(self, name: str, **fields: Any) -> None:
        self.data["stages"].setdefault(name, {}).update(fields)
        self.save()

    def reset(self, name: str) -> None:
        self.data["stages"].pop(name, None)
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, self.data)


class RunLock:
    """An exclusive lock on a run directory, so two runners never write the same outputs."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"
        self._fh = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.seek(0)
            holder = self._fh.read().strip() or "unknown"
            self._fh.close()
            raise RunLockedError(f"{self.path.parent} is in use by another runner ({holder})") from None
        alive = live_groups(self.path.parent)
        if alive:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            raise RunLockedError(
                f"{self.path.parent}: process group {alive[0]}, started by an earlier runner that died, is still "
                f"running (its trainer would race this run's); wait for it or stop it with `kill -- -{alive[0]}`")
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"pid {os.getpid()} on {socket.gethostname()}")
        self._fh.flush()
        hold_for_children(self._fh.fileno())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._fh is not None
        release_for_children(self._fh.fileno())
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()
