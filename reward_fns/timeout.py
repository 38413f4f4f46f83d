"""A hard wall-clock limit for symbolic checks that works from any thread.

math-verify's own timeout uses ``signal.alarm`` (main thread only). Here each check runs in a small pool of
persistent worker processes (``python -m reward_fns._worker``, started with ``subprocess``: no fork of the
caller, so it is safe inside Ray actors and threads). The limit is a deadline for the whole call: the wait
for a free slot, for a ready worker and for the verdict all count against it, and killing an overrunning
worker and starting its replacement happen in the background, so a call returns within its limit plus a
small constant (a few tens of ms; the tests allow 1 s on a contended machine). A warm spare worker beside the
``size`` busy ones means a killed worker's replacement (seconds of sympy import) is rarely waited for.

One exception: the first check of a process waits for the pool's start-up (up to
``RLCS_REWARD_STARTUP_TIMEOUT``, like an import); ``warm()`` pays it up front. Thread-safe; fork-aware (a
forked child starts its own pool).
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
SPARE_WORKERS = int(os.environ.get("RLCS_REWARD_SPARE_WORKERS", "1"))
_CACHE_SIZE = 65536
_KILL_MARGIN_S = 0.05  # the verdict wait ends this much before the deadline
_POLL_S = 0.01  # how often a caller looks for a ready worker while none is
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

    def wait_ready(self, timeout_s: float = STARTUP_LIMIT_S) -> bool:
        if not self._ready:
            line = self._readline(time.monotonic() + timeout_s)
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
                return self.wait_ready(0.5)
            except (EOFError, OSError):
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
    """Bounded pool of symbolic workers (``size`` at work, ``spare`` warm beside them) with a verdict cache;
    every method is thread-safe."""

    def __init__(self, size: int = POOL_SIZE, spare: int = SPARE_WORKERS) -> None:
        self.size = max(1, size)
        self.spare = max(0, spare)
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.size)
        self._idle: list[_Worker] = []  # ready or still starting
        self._busy = 0
        self._starting = 0
        self._closed = False
        self._started = threading.Event()  # set once any worker was ready: the start-up wait is over
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

    def check(self, pred: str, gold: str, precision: int | None = None, limit_s: float | None = None,
              deadline: float | None = None) -> tuple[bool | None, str]:
        """``(verdict, reason)``; verdict None means no verdict (``symbolic_timeout...``, worker failure): score 0.

        Returns by ``deadline`` (``time.monotonic()``; default now + ``limit_s``) plus a small constant, whatever
        it waited for; only a process's first check waits longer, for the pool's start-up.
        """
        limit = DEFAULT_LIMIT_S if limit_s is None else limit_s
        now = time.monotonic()
        deadline = now + limit if deadline is None else deadline
        key = (pred, gold, precision)
        hit = self._cached(key)
        if hit is not None:
            return hit, "symbolic_cached"
        cold = not self._started.is_set()
        wait_until = now + STARTUP_LIMIT_S if cold else deadline
        if not self._slots.acquire(timeout=max(0.0, wait_until - time.monotonic())):
            return None, "symbolic_timeout:busy"
        worker: _Worker | None = None
        try:
            worker = self._take(wait_until)
            if worker is None:
                return None, "symbolic_worker_start_failed" if cold else "symbolic_timeout:no_worker"
            if cold:  # the start-up wait is not the check's time
                deadline = max(deadline, time.monotonic() + limit)
            remaining = deadline - time.monotonic() - _KILL_MARGIN_S
            if remaining <= 0:
                return None, "symbolic_timeout"
            verdict = worker.check(pred, gold, precision, remaining)
            if verdict is None:
                self._discard(worker)
                worker = None
                with self._lock:
                    self.timeouts += 1
                return None, "symbolic_timeout"
            self._remember(key, verdict)
            return verdict, "symbolic"
        except Exception as e:
            log.warning("symbolic check failed: %r", e)
            if worker is not None:
                self._discard(worker)
                worker = None
            return None, f"symbolic_error:{type(e).__name__}"
        finally:
            if worker is not None:
                self._give_back(worker)
            self._slots.release()

    def _take(self, deadline: float) -> _Worker | None:
        """A ready worker (marked busy), waiting for one to start until ``deadline``; None when none came."""
        while True:
            with self._lock:
                for w in [w for w in self._idle if not w.alive()]:
                    self._idle.remove(w)
                    threading.Thread(target=w.kill, daemon=True).start()
                worker = next((w for w in self._idle if w.poll_ready()), None)
                if worker is not None:
                    self._idle.remove(worker)
                    self._busy += 1
                    self._started.set()
                    return worker
                self._top_up()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(_POLL_S, remaining))

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            self._busy -= 1
            if not self._closed:
                self._idle.append(worker)
                return
        worker.kill()

    def _discard(self, worker: _Worker) -> None:
        """Kill a taken worker in the background and start its replacement (neither on the caller's clock)."""
        threading.Thread(target=worker.kill, daemon=True).start()
        with self._lock:
            self._busy -= 1
            self._top_up()

    def _top_up(self) -> None:
        """Start workers (in the background) until ``size + spare`` exist; call with the lock held."""
        missing = self.size + self.spare - (len(self._idle) + self._busy + self._starting)
        if self._closed or self._pid != os.getpid():
            return
        for _ in range(max(0, missing)):
            self._starting += 1
            threading.Thread(target=self._spawn, daemon=True).start()

    def _spawn(self) -> None:
        try:
            w: _Worker | None = _Worker()
        except Exception as e:  # e.g. out of processes: a later call tries again
            log.warning("could not start a symbolic worker: %r", e)
            w = None
        with self._lock:
            self._starting -= 1
            if w is not None and not self._closed and self._pid == os.getpid():
                self._idle.append(w)
                return
        if w is not None:
            w.kill()

    def warm(self, n: int | None = None) -> None:
        """Start the workers and wait (up to the start-up limit) until ``n`` (default: all) are ready."""
        want = min(n or self.size + self.spare, self.size + self.spare)
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while time.monotonic() < deadline:
            with self._lock:
                self._top_up()
                ready = sum(w.poll_ready() for w in self._idle if w.alive())
            if ready >= want:
                self._started.set()
                return
            time.sleep(0.05)

    def close(self) -> None:
        with self._lock:
            self._closed = True
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
