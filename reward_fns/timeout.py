"""A hard per-call time limit for symbolic checks that works from any thread.

math-verify's own timeout uses ``signal.alarm`` (main thread only). Here each check runs in a small pool of
persistent worker processes (``python -m reward_fns._worker``, started lazily with ``subprocess``: no fork
of the caller, so it is safe inside Ray actors and threads). A worker that overruns the limit is killed and
replaced. Thread-safe; fork-aware (a forked child starts its own pool).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_LIMIT_S = float(os.environ.get("RLCS_REWARD_TIMEOUT", "3.0"))
STARTUP_LIMIT_S = float(os.environ.get("RLCS_REWARD_STARTUP_TIMEOUT", "180"))
POOL_SIZE = int(os.environ.get("RLCS_REWARD_WORKERS", "2"))
_CACHE_SIZE = 65536
_KILL_MARGIN_S = 0.05  # killing the overrunning worker fits inside the caller's limit
_PKG_PARENT = str(Path(__file__).resolve().parent.parent)


class _Worker:
    """One ``reward_fns._worker`` process and its line protocol."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = _PKG_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "reward_fns._worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, close_fds=True,
        )
        self._buf = b""
        self._ready = False
        self._next_id = 0

    def _readline(self, deadline: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            poller = select.poll()  # not select.select: Ray actors may hold file descriptors above 1024
            poller.register(fd, select.POLLIN)
            if not poller.poll(max(1, int(remaining * 1000))):
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError("symbolic worker exited")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def wait_ready(self) -> bool:
        if not self._ready:
            line = self._readline(time.monotonic() + STARTUP_LIMIT_S)
            self._ready = line is not None and b"ready" in line
        return self._ready

    def check(self, pred: str, gold: str, precision: int | None, limit_s: float) -> bool | None:
        """True/False verdict, or None when the limit passed (the caller then kills this worker)."""
        self._next_id += 1
        req = {"id": self._next_id, "pred": pred, "gold": gold, "precision": precision}
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + limit_s
        while True:
            line = self._readline(deadline)
            if line is None:
                return None
            res = json.loads(line)
            if res.get("id") == self._next_id:
                if "error" in res:
                    raise RuntimeError(res["error"])
                return bool(res["equal"])

    def _readable_now(self) -> bool:
        poller = select.poll()
        poller.register(self.proc.stdout.fileno(), select.POLLIN)
        return bool(poller.poll(0))

    def poll_ready(self) -> bool:
        """True once the worker has announced readiness (never blocks)."""
        if not self._ready and (b"\n" in self._buf or self._readable_now()):
            try:
                return self.wait_ready()
            except EOFError:
                return False
        return self._ready

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:  # already gone
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(Exception):
                f.close()


class SymbolicPool:
    """Bounded pool of symbolic workers with a verdict cache; every method is thread-safe."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = max(1, size)
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.size)
        self._idle: list[_Worker] = []
        self._cache: OrderedDict[tuple, bool] = OrderedDict()
        self.timeouts = 0

    def _cached(self, key: tuple) -> bool | None:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        return None

    def _remember(self, key: tuple, value: bool) -> None:
        with self._lock:
            self._cache[key] = value
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)

    def check(self, pred: str, gold: str, precision: int | None = None,
              limit_s: float | None = None) -> tuple[bool | None, str]:
        """``(verdict, reason)``; verdict None means no verdict (timeout / worker failure): score it 0."""
        limit = DEFAULT_LIMIT_S if limit_s is None else limit_s
        key = (pred, gold, precision)
        hit = self._cached(key)
        if hit is not None:
            return hit, "symbolic_cached"
        if not self._slots.acquire(timeout=STARTUP_LIMIT_S + limit):
            return None, "symbolic_pool_busy"
        worker: _Worker | None = None
        try:
            with self._lock:
                self._idle = [w for w in self._idle if w.alive() or w.kill()]
                if self._idle:  # prefer a worker that has finished starting up
                    worker = next((w for w in self._idle if w.poll_ready()), self._idle[-1])
                    self._idle.remove(worker)
            if worker is None:
                worker = _Worker()
            if not worker.wait_ready():
                worker.kill()
                worker = None
                return None, "symbolic_worker_start_failed"
            verdict = worker.check(pred, gold, precision, max(0.01, limit - _KILL_MARGIN_S))
            if verdict is None:
                worker.kill()
                worker = None
                self.timeouts += 1
                # the replacement starts importing now (off this call's clock), ready for a later call
                threading.Thread(target=self._replace, daemon=True).start()
                return None, "symbolic_timeout"
            self._remember(key, verdict)
            return verdict, "symbolic"
        except Exception as e:
            log.warning("symbolic check failed: %r", e)
            if worker is not None:
                worker.kill()
                worker = None
            return None, f"symbolic_error:{type(e).__name__}"
        finally:
            if worker is not None:
                with self._lock:
                    self._idle.append(worker)
            self._slots.release()

    def _replace(self) -> None:
        try:
            w = _Worker()
        except Exception as e:  # e.g. out of processes: the next call starts one itself
            log.warning("could not start a replacement symbolic worker: %r", e)
            return
        with self._lock:
            stale = self._pid != os.getpid() or len(self._idle) >= self.size
            if not stale:
                self._idle.append(w)
        if stale:
            w.kill()

    def warm(self, n: int | None = None) -> None:
        """Top the idle workers up to ``n`` (default: pool size) and wait until they are ready."""
        with self._lock:
            missing = (n or self.size) - len(self._idle)
        workers = [_Worker() for _ in range(max(0, missing))]
        for w in workers:
            w.wait_ready()
        with self._lock:
            self._idle.extend(workers)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for w in idle:
            w.kill()


_pool: SymbolicPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> SymbolicPool:
    """The process-wide pool (a fresh one after a fork: pipes of the parent's workers are not shared)."""
    global _pool
    pool = _pool
    if pool is None or pool._pid != os.getpid():
        with _pool_lock:
            if _pool is None or _pool._pid != os.getpid():
                _pool = SymbolicPool()
            pool = _pool
    return pool


def _shutdown() -> None:
    if _pool is not None and _pool._pid == os.getpid():
        _pool.close()


def _after_fork_in_child() -> None:
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


atexit.register(_shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
