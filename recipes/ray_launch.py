"""Run a stage's command on the nodes Ray gives it: one placement-group bundle per node, one process per bundle.

On a Ray cluster (`cluster=ray`, or inside a Ray job) a GPU stage does not use the GPUs of whatever node runs the
pipeline: `run_on_nodes` asks Ray for a placement group of `nnodes` bundles (STRICT_SPREAD: one bundle per node,
each `nproc_per_node` GPUs, or CPUs on a CPU cluster), starts a small actor in each bundle, and has it run the
command for its rank on its node. Rank 0's actor names its node's IP and a free port there; `torchrun_rank_env`
turns those into the NODE_RANK / MASTER_ADDR / MASTER_PORT a torchrun-style command (`swift sft`) reads. Every
line a rank prints is streamed to the terminal and the stage log as `[rank k] ...`. When any rank fails (or its
node is lost) the others are stopped and the stage fails; the placement group is removed whatever happens, so
the GPUs go back to Ray for the next stage (verl's own workers, evaluation).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from omegaconf import DictConfig

from recipes.stage import Command, StageError, child_env

log = logging.getLogger(__name__)

RAY_JOB_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"
"""Set by Ray in the environment of a Ray job's entrypoint (ray/_private/runtime_env/constants.py)."""
LAUNCHERS = ("auto", "ray", "local")
SECRET_ENV: tuple[str, ...] = ("WANDB_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "SWANLAB_API_KEY")
"""Tokens forwarded to a Ray job and to the ranks Ray starts, when set (masked in everything shown)."""
PASS_ENV: tuple[str, ...] = (
    "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_MODE", "HF_HOME", "HF_ENDPOINT", "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "RLCS_CACHE", "MLFLOW_TRACKING_URI", "SWANLAB_MODE",
)
"""Plain settings forwarded when set."""


def job_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The tokens and settings a Ray job or rank needs, read from `environ` (default: this process)."""
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in (*SECRET_ENV, *PASS_ENV) if environ.get(k)}


class LaunchError(StageError):
    """Ray could not place the stage, or a rank failed; the message names the rank, its node and its log."""


# -- when and what to ask Ray for ---------------------------------------------------------------------------
def in_ray_job(environ: Mapping[str, str] | None = None) -> bool:
    """True inside the entrypoint of a Ray job (Ray sets RAY_JOB_CONFIG_JSON_ENV_VAR there)."""
    return RAY_JOB_ENV in (os.environ if environ is None else environ)


def uses_ray(cluster: DictConfig, environ: Mapping[str, str] | None = None) -> bool:
    """Whether multi-process stages take their devices from Ray: `cluster.launcher` ray, or auto with a Ray
    address configured (`cluster=ray`) or inside a Ray job; local runs torchrun on this node as before."""
    launcher = str(cluster.get("launcher", "auto"))
    if launcher not in LAUNCHERS:
        raise ValueError(f"cluster.launcher must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
    if launcher == "auto":
        return bool(cluster.get("address")) or in_ray_job(environ)
    return launcher == "ray"


def bundle(cluster: DictConfig) -> dict[str, float]:
    """One node's share: `nproc_per_node` GPUs (and a CPU per process), or `nproc_per_node` CPUs on a CPU cluster."""
    n = int(cluster.nproc_per_node)
    if n < 1:
        raise ValueError(f"cluster.nproc_per_node must be >= 1, got {cluster.nproc_per_node}")
    return {"CPU": n} if str(cluster.device) == "cpu" else {"CPU": n, "GPU": n}


def layout_notes(cluster: DictConfig) -> list[str]:
    """What a dry run shows of the Ray launch: the placement group and each node's ranks."""
    nnodes, nproc = int(cluster.nnodes), int(cluster.nproc_per_node)
    unit = "CPU process(es)" if str(cluster.device) == "cpu" else "GPU(s)"
    lines = [f"Ray: placement group of {nnodes} bundle(s) {bundle(cluster)}, STRICT_SPREAD (each on its own node); "
             f"waits up to {cluster.get('placement_timeout_s', 600)} s for Ray to place them, removed when the stage ends"]
    for k in range(nnodes):
        lines.append(f"node {k} (bundle {k}): NODE_RANK={k}, {nproc} {unit}, global ranks {k * nproc}-{(k + 1) * nproc - 1}"
                     + (", MASTER_ADDR = this node's IP, MASTER_PORT = a free port on it" if k == 0 else ""))
    lines.append("each node's output is streamed to log.txt with a [rank k] prefix (k = NODE_RANK); any rank failing "
                 "stops the others and fails the stage")
    return lines


def torchrun_rank_env(env: Mapping[str, str], rank: int | str, master_addr: str, master_port: int | str,
                      log_dir: str | None = None) -> dict[str, str]:
    """`env` for node `rank` of a torchrun-style command (NNODES given): its NODE_RANK and rank 0's address; with
    `log_dir`, torchrun also tees each process's output to `<log_dir>/node<rank>/` and prefixes its lines with the
    process's local and global rank (torchrun's PET_TEE / PET_LOG_DIR)."""
    out = dict(env)
    if "NNODES" in out:
        out.update(NODE_RANK=str(rank), MASTER_ADDR=str(master_addr), MASTER_PORT=str(master_port))
        if log_dir:
            out.update(PET_TEE="3", PET_LOG_DIR=f"{log_dir}/node{rank}",
                       TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE="[local ${local_rank} global ${rank}]:")
    return out


def torchrun_commands(cmd: Command, log_dir: str | None = None) -> Callable[[int, str, int], Command]:
    """Per-rank copies of a torchrun-style command, for `run_on_nodes`."""
    return lambda rank, addr, port: Command(
        list(cmd.argv), torchrun_rank_env(cmd.env, rank, addr, port, log_dir), cmd.cwd)


# -- the actor that runs one rank on its node --------------------------------------------------------------
class NodeProcess:
    """Runs one command on the node Ray placed it on and hands its output back line by line (a Ray actor)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.done = threading.Event()

    def where(self) -> dict[str, str]:
        import ray

        return {"ip": ray.util.get_node_ip_address(), "node_id": ray.get_runtime_context().get_node_id(),
                "host": socket.gethostname(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES", "")}

    def free_port(self) -> int:
        with socket.socket() as s:
            s.bind(("", 0))
            return int(s.getsockname()[1])

    def start(self, argv: list[str], env: dict[str, str], cwd: str | None) -> int:
        """Start the command (its executable looked up on this node) and return its pid."""
        argv = [_local_executable(argv[0]), *argv[1:]]
        cwd = cwd if cwd and os.path.isdir(cwd) else None  # the submitter's dir may not exist on this node
        self.proc = subprocess.Popen(
            argv, env=child_env({"PYTHONUNBUFFERED": "1", **env}), cwd=cwd, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1, start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()
        return self.proc.pid

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.proc.wait()
        self.done.set()
        self.lines.put(None)

    def read(self, wait_s: float = 0.5, max_lines: int = 2000) -> tuple[list[str], int | None]:
        """New output lines (waiting up to `wait_s` for the first) and the exit code once all output is read."""
        out: list[str] = []
        deadline = time.monotonic() + wait_s
        while len(out) < max_lines:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()) if not out else 0)
            except queue.Empty:
                return out, None
            if line is None:
                assert self.proc is not None
                return out, self.proc.returncode
            out.append(line)
        return out, None

    def stop(self, grace_s: float = 20.0) -> int | None:
        """SIGTERM the command's process tree (torchrun's workers sit in sessions of their own), SIGKILL what is
        left after `grace_s`; return its exit code."""
        if self.proc is None:
            return None
        import psutil

        try:  # descendants only: the command itself is waited for by Popen, which keeps its exit status
            tree = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        for p in tree:
            with contextlib.suppress(psutil.Error):  # gone already
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=grace_s)
        _, alive = psutil.wait_procs(tree, timeout=max(0.1, deadline - time.monotonic()))
        if self.proc.poll() is None:
            self.proc.kill()
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGKILL)
        psutil.wait_procs(alive, timeout=10)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None


def _local_executable(program: str) -> str:
    """`program` as this node has it: the same absolute path, else the same name beside this Python, else PATH."""
    if os.path.isabs(program) and os.path.exists(program):
        return program
    name = os.path.basename(program)
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{program!r} is not on node {socket.gethostname()} (not beside {sys.executable} "
                                "nor on PATH): every node needs the project installed")
    return found


# -- the driver side ---------------------------------------------------------------------------------------
@dataclass
class RankExit:
    """How one rank ended."""

    rank: int
    host: str
    ip: str
    node_id: str
    code: int | None


def _connect(address: str | None) -> bool:
    """Join the Ray cluster (`address`, else RAY_ADDRESS as set in a Ray job, else the one on this machine);
    True when this call connected (the caller disconnects)."""
    import ray

    if ray.is_initialized():
        return False
    target = address or (None if os.environ.get("RAY_ADDRESS") else "auto")
    try:
        ray.init(address=target, log_to_driver=False, logging_level=logging.WARNING)
    except ConnectionError as err:
        raise LaunchError(f"could not join a Ray cluster at {target or os.environ.get('RAY_ADDRESS')!r} ({err}): "
                          "start one (`ray start --head`), set cluster.address (with the cluster's token in "
                          "~/.ray/auth_token or RAY_AUTH_TOKEN if it uses token auth), or use cluster.launcher=local"
                          ) from err
    return True


def _cluster_state() -> str:
    import ray

    nodes = [f"{n['NodeManagerAddress']} {({k: v for k, v in n['Resources'].items() if not k.startswith('node:')})}"
             for n in ray.nodes() if n.get("Alive")]
    return f"alive nodes: {'; '.join(nodes) or 'none'}; free now: {ray.available_resources()}"


def _place(bundles: list[dict[str, float]], name: str, timeout_s: float) -> Any:
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group

    pg = placement_group(bundles, strategy="STRICT_SPREAD", name=name)
    ready, _ = ray.wait([pg.ready()], timeout=timeout_s)
    if not ready:
        state = _cluster_state()
        remove_placement_group(pg)
        raise LaunchError(f"Ray could not place {len(bundles)} bundle(s) of {bundles[0]} on {len(bundles)} distinct "
                          f"node(s) within {timeout_s:.0f} s (cluster.placement_timeout_s); {state}")
    return pg


def run_on_nodes(
    command_for: Callable[[int, str, int], Command],
    nnodes: int,
    resources: Mapping[str, float],
    log_path: Path,
    *,
    name: str = "rlcs",
    address: str | None = None,
    timeout_s: float = 600.0,
    out: TextIO | None = None,
) -> list[RankExit]:
    """Run `command_for(rank, master_addr, master_port)` on each of `nnodes` nodes that Ray places (one bundle of
    `resources` per node), streaming every rank's output as `[rank k] ...` to `out` (default stdout) and to
    `log_path` (appended). Return each rank's exit; raise LaunchError (after stopping the other ranks) when a
    rank fails or its node is lost. The placement group is always removed.

    `master_addr` / `master_port` are rank 0's node IP and a free port found there; commands that are not
    torch.distributed (one evaluation shard per node) ignore them.
    """
    import ray
    from ray.util.placement_group import remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    out = out or sys.stdout
    joined = _connect(address)
    pg_name = f"{name}-{uuid.uuid4().hex[:8]}"
    pg = None
    actors: list[Any] = []
    try:
        pg = _place([dict(resources)] * nnodes, pg_name, timeout_s)
        remote = ray.remote(NodeProcess)
        gpus = float(resources.get("GPU", 0))
        custom = {k: v for k, v in resources.items() if k not in ("CPU", "GPU")}
        actors = [remote.options(
            num_cpus=float(resources.get("CPU", 0)), num_gpus=gpus, resources=custom or None, max_concurrency=4,
            name=f"{pg_name}-rank{k}",
            scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=k),
        ).remote() for k in range(nnodes)]
        where = ray.get([a.where.remote() for a in actors], timeout=timeout_s)
        master = (where[0]["ip"], int(ray.get(actors[0].free_port.remote())))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as logf:
            for k, actor in enumerate(actors):
                cmd = command_for(k, *master)
                pid = ray.get(actor.start.remote(cmd.argv, cmd.env, cmd.cwd))
                head = (f"# {time.strftime('%Y-%m-%d %H:%M:%S')} [rank {k}] node {where[k]['host']} ({where[k]['ip']}, "
                        f"{where[k]['node_id'][:12]}) pid {pid} $ {cmd.render()}")
                logf.write(head + "\n")
                out.write(head + "\n")
            logf.flush()
            return _stream(actors, where, logf, out, log_path)
    finally:
        _stop(actors)
        if pg is not None:
            remove_placement_group(pg)
        if joined:
            ray.shutdown()


def _stream(actors: list[Any], where: list[dict[str, str]], logf: TextIO, out: TextIO,
            log_path: Path) -> list[RankExit]:
    """Relay every rank's lines until all exit; on the first failure stop the rest and raise."""
    import ray
    from ray.exceptions import GetTimeoutError, RayError

    running = dict(enumerate(actors))
    exits: dict[int, RankExit] = {}
    tails: dict[int, deque[str]] = {k: deque(maxlen=30) for k in running}
    while running:
        refs = {k: a.read.remote(0.5) for k, a in running.items()}
        for k, ref in refs.items():
            try:
                lines, code = ray.get(ref, timeout=300)
            except (RayError, GetTimeoutError) as err:  # the actor or its node is gone
                lines, code = [f"lost: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"], -1
            for line in lines:
                text = f"[rank {k}] {line}\n"
                out.write(text)
                logf.write(text)
                tails[k].append(text)
            if code is not None:
                w = where[k]
                exits[k] = RankExit(k, w["host"], w["ip"], w["node_id"], code)
                del running[k]
        out.flush()
        logf.flush()
        failed = [e for e in exits.values() if e.code != 0]
        if failed:
            first = failed[0]
            stopped = sorted(running)
            _stop([running[k] for k in stopped])
            raise LaunchError(
                f"rank {first.rank} on {first.host} ({first.ip}) exited with {first.code}; "
                f"{'stopped rank(s) ' + ', '.join(map(str, stopped)) if stopped else 'no other rank was running'}. "
                f"Full log: {log_path}\n--- last lines of rank {first.rank} ---\n{''.join(tails[first.rank])}")
    return [exits[k] for k in sorted(exits)]


def _stop(actors: list[Any]) -> None:
    """Stop each actor's command (best effort: a lost node has nothing left to stop), then the actors."""
    import ray

    refs = []
    for a in actors:
        try:
            refs.append(a.stop.remote())
        except Exception as err:  # the actor is gone
            log.debug("stop: %s", err)
    for ref in refs:
        try:
            ray.get(ref, timeout=60)
        except Exception as err:  # a lost actor or node
            log.debug("stop: %s", err)
    for a in actors:
        try:
            ray.kill(a)
        except Exception as err:
            log.debug("kill: %s", err)


def run_stage_command(cmd: Command, cluster: DictConfig, stage_dir: Path, stage: str,
                      log_name: str = "log.txt") -> list[RankExit]:
    """A stage's torchrun-style `cmd` on `cluster.nnodes` Ray-placed nodes (see `run_on_nodes`), with the tokens
    and hub settings of this environment (as a submitted job gets them) and this directory as the working dir."""
    cmd = Command(list(cmd.argv), {**job_env(), **cmd.env}, cmd.cwd or os.getcwd())
    log.info("%s: asking Ray for %d node(s) x %s; command %s", stage, int(cluster.nnodes), bundle(cluster),
             shlex.join(cmd.argv[:2]))
    exits = run_on_nodes(
        torchrun_commands(cmd, str((stage_dir / "ranks").resolve())), int(cluster.nnodes), bundle(cluster), stage_dir / log_name,
        name=f"rlcs-{stage}", address=cluster.get("address") or None,
        timeout_s=float(cluster.get("placement_timeout_s", 600)))
    log.info("%s: ranks %s", stage, ", ".join(f"{e.rank}@{e.host}({e.node_id[:8]})={e.code}" for e in exits))
    return exits


