"""Real local Ray clusters for tests: a head and more nodes started with `ray start --block` on 127.0.0.1, each with its
own ports, temp dir and resources, and stopped whatever happens (their own process trees only: never `ray stop`,
which would end every Ray on the machine, another test's included)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalCluster:
    """A running local cluster: its GCS address (for `ray.init`), dashboard URL (jobs, state API) and nodes."""

    gcs: str
    dashboard: str
    procs: list[subprocess.Popen] = field(default_factory=list)
    temp_dirs: list[str] = field(default_factory=list)
    resources: list[dict[str, float]] = field(default_factory=list)

    def alive_nodes(self) -> list[dict]:
        from ray.util.state import list_nodes

        return [n for n in list_nodes(address=self.gcs, raise_on_missing_output=False) if n.state == "ALIVE"]


def _env() -> dict[str, str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", "RAY_USAGE_STATS_ENABLED": "0",
           "HF_HUB_OFFLINE": "1",
           # a busy machine starts the dashboard agent slowly; the raylet gives up waiting for it after 30 s
           "RAY_agent_register_timeout_ms": "600000",
           # no token auth, whatever ~/.ray/auth_token holds (any local `ray.init()` writes one, after which every
           # new cluster on the machine would want it)
           "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    return env


def _start(args: list[str], num_cpus: int, resources: dict[str, float], temp_dir: str) -> subprocess.Popen:
    cmd = [f"{VENV_BIN}/ray", "start", "--block", "--node-ip-address=127.0.0.1", f"--num-cpus={num_cpus}",
           "--num-gpus=0", f"--resources={json.dumps(resources)}", "--object-store-memory=100000000",
           f"--temp-dir={temp_dir}", f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
           f"--dashboard-agent-listen-port={free_port()}", f"--metrics-export-port={free_port()}",
           f"--runtime-env-agent-port={free_port()}", *args]
    out = open(f"{temp_dir}/ray_start.log", "w")  # noqa: SIM115 - the node outlives this call
    return subprocess.Popen(cmd, env=_env(), stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=_die_with_parent)


STARTUP_NICE = -15
"""A node starts at this priority (where allowed) and is set back to 0 once it is up: its raylet gives its agents
15 s, and its registration 30 s, hard-coded, which a node started on a machine with a run queue of 20 misses.
RLCS_TEST_RAY_STARTUP_RT=1 (root) starts it under real-time round robin instead, for machines busier still."""


def _die_with_parent() -> None:
    """SIGTERM `ray start` when the test process dies without running its finalizers (killed by a timeout); start
    at STARTUP_NICE."""
    with contextlib.suppress(Exception):  # Linux only
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    with contextlib.suppress(OSError):  # not permitted: normal priority
        os.nice(STARTUP_NICE)
    if os.environ.get("RLCS_TEST_RAY_STARTUP_RT") == "1":  # opt-in, root only: round-robin real time until up
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))


def _normal_priority(proc: subprocess.Popen) -> None:
    """The node's processes back to nice 0 (what its raylet starts later inherits it)."""
    with contextlib.suppress(psutil.Error):
        for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]:
            with contextlib.suppress(psutil.Error, OSError):
                os.sched_setscheduler(p.pid, os.SCHED_OTHER, os.sched_param(0))
                p.nice(0)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM `ray start` and everything under it (raylet, workers and what they started), SIGKILL leftovers."""
    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    for p in tree:
        with contextlib.suppress(psutil.Error):
            p.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=30)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


def _wait(what: str, ok: Callable[[], bool], proc: subprocess.Popen, temp_dir: str, timeout_s: float = 240) -> None:
    """Until `ok()`; NodeStartError when `ray start` exits first (Ray gives a node's raylet 30 s, hard-coded, to
    register: on a busy machine that can run out) or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            tail = Path(temp_dir, "ray_start.log").read_text(errors="replace")[-2000:]
            raise NodeStartError(f"ray start exited ({proc.returncode}) before {what}:\n{tail}")
        with contextlib.suppress(Exception):
            if ok():
                return
        if time.monotonic() > deadline:
            raise NodeStartError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(1)


class NodeStartError(RuntimeError):
    """A node did not come up."""


@contextlib.contextmanager
def local_cluster(node_resources: list[dict[str, float]], num_cpus: int = 2, attempts: int = 5) -> Iterator[LocalCluster]:
    """A head (with dashboard) plus one node per further entry of `node_resources`, all alive when yielded. A node
    that fails to start is stopped and started again (new ports, new temp dir), up to `attempts` times."""
    cluster = LocalCluster(gcs="", dashboard="", resources=list(node_resources))
    try:
        for i, resources in enumerate(node_resources):
            for attempt in range(1, attempts + 1):
                temp_dir = tempfile.mkdtemp(prefix=f"rlcs-ray{i}-", dir="/tmp")  # short: socket paths are limited
                cluster.temp_dirs.append(temp_dir)
                if i == 0:
                    port, dash = free_port(), free_port()
                    cluster.gcs, cluster.dashboard = f"127.0.0.1:{port}", f"http://127.0.0.1:{dash}"
                    args = ["--head", f"--port={port}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                            f"--dashboard-port={dash}", f"--ray-client-server-port={free_port()}"]
                else:
                    args = [f"--address={cluster.gcs}"]
                proc = _start(args, num_cpus, resources, temp_dir)
                cluster.procs.append(proc)
                try:
                    if i == 0:
                        _wait("the dashboard answered", lambda: urllib.request.urlopen(
                            f"{cluster.dashboard}/api/version", timeout=2).status == 200, proc, temp_dir)
                    _wait(f"{i + 1} node(s) alive", lambda n=i + 1: len(cluster.alive_nodes()) == n, proc, temp_dir)
                    _normal_priority(proc)
                    break
                except NodeStartError:
                    _stop(proc)
                    cluster.procs.remove(proc)
                    if attempt == attempts:
                        raise
        yield cluster
    finally:
        for proc in reversed(cluster.procs):
            _stop(proc)
        for d in cluster.temp_dirs:
            shutil.rmtree(d, ignore_errors=True)
