"""A stage's command dies with its runner: `python recipes/child_guard.py ARGV...` runs ARGV in its own process
group and kills that whole group when the runner dies, however it dies (SIGKILL, the OOM killer).

The guard asks the kernel for a signal when its parent exits (Linux `PR_SET_PDEATHSIG`), so it needs no help
from a runner that is already gone; on that signal (or SIGTERM / SIGINT / SIGHUP from the runner) it sends
SIGTERM to its group, which holds every process ARGV started (swift's `sft.py`, torchrun's ranks, verl's
workers started from there), and SIGKILL after `GRACE_S`. Each live group is recorded under
`<run_dir>/.children/` so the run lock can refuse a rerun while an orphan of a killed guard still runs.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

GRACE_S = 10
PARENT_ENV = "RLCS_GUARD_PARENT"
_PR_SET_PDEATHSIG = 1
CHILDREN_DIR = ".children"


_LOCK_FDS: set[int] = set()


def guarded_argv(argv: list[str]) -> list[str]:
    """`argv` run under the guard (this file by path: it needs the standard library only)."""
    return [sys.executable, str(Path(__file__).resolve()), *argv]


def hold_for_children(fd: int) -> None:
    """Pass the run lock's descriptor `fd` to every guarded child, so the lock lasts as long as they do."""
    _LOCK_FDS.add(fd)


def release_for_children(fd: int) -> None:
    _LOCK_FDS.discard(fd)


def lock_fds() -> tuple[int, ...]:
    return tuple(sorted(_LOCK_FDS))


def record(run_dir: Path, pgid: int) -> Path:
    """Note a live process group of this run (removed by `forget` when it ends)."""
    path = run_dir / CHILDREN_DIR / str(pgid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.uname().nodename}\n")
    return path


def forget(path: Path) -> None:
    path.unlink(missing_ok=True)


def live_groups(run_dir: Path) -> list[int]:
    """Process groups recorded for `run_dir` that still have a member on this host (stale records removed)."""
    root = run_dir / CHILDREN_DIR
    alive = []
    for rec in sorted(root.glob("*")) if root.is_dir() else []:
        try:
            pgid = int(rec.name)
            host = rec.read_text().strip()
        except (ValueError, OSError):
            continue
        if host != os.uname().nodename:
            continue  # another node's group: cannot be checked from here
        if not group_alive(pgid):
            rec.unlink(missing_ok=True)
            continue
        alive.append(pgid)
    return alive


def group_alive(pgid: int) -> bool:
    """A process of group `pgid` still runs (zombies, which an orphan's reaper may leave, do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _ask_for_parent_death_signal(sig: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the runner's own SIGTERM on exit still applies
        pass


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python recipes/child_guard.py ARGV...", file=sys.stderr)
        return 2
    if os.getpgrp() != os.getpid():
        os.setpgrp()  # the group that dies together (the runner starts us with start_new_session=True)
    _ask_for_parent_death_signal(signal.SIGTERM)
    expected = os.environ.pop(PARENT_ENV, "")
    if expected and str(os.getppid()) != expected:  # the runner died before the request took effect
        return 143
    stopping: list[int] = []

    def kill_group(signum: int, _frame: object) -> None:
        os.killpg(0, signal.SIGKILL)

    def stop(signum: int, _frame: object) -> None:
        if stopping:
            return
        stopping.append(signum)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group's SIGTERM reaches us too
        signal.signal(signal.SIGALRM, kill_group)
        os.killpg(0, signal.SIGTERM)
        signal.alarm(GRACE_S)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    fds = tuple(int(f) for f in os.environ.get("RLCS_LOCK_FDS", "").split(",") if f)
    proc = subprocess.Popen(argv, pass_fds=fds)
    code = proc.wait()
    if stopping:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        os.killpg(0, signal.SIGKILL)  # whatever ARGV left behind; this ends the guard as well
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
