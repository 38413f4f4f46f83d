"""Send the pipeline (or chosen stages) to a Ray cluster as a Ray job, with the Ray Jobs SDK.

The job's runtime_env carries the project code only (no .git, runs/, data, checkpoints, virtual
environments or anything else git ignores) and the tokens the stages need (WANDB_API_KEY, HF_TOKEN, ...)
taken from the submitter's environment; everything this module prints or returns for display is masked
(`recipes.stage.mask_env`).
Inside the job, RAY_ADDRESS is set by Ray, so verl's `ray.init()` joins the cluster.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipes.ray_launch import job_env
from recipes.stage import mask_env

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]

EXCLUDES: tuple[str, ...] = (
    ".git", ".venv", "venv", "/runs", "/checkpoints", "/outputs", "/wandb", "/data", "*.parquet",
    "*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.arrow", "*.jsonl", "*.tar", "*.tar.gz",
    "*.zip", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", "*.egg-info", ".ipynb_checkpoints",
)
"""Never uploaded with the job (gitignore syntax, relative to the project root)."""

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


class JobError(RuntimeError):
    """A Ray job could not be submitted or failed; the message carries its log tail."""


@dataclass
class JobSpec:
    """Everything `JobSubmissionClient.submit_job` gets."""

    entrypoint: str
    runtime_env: dict[str, Any]
    entrypoint_num_cpus: float = 1
    entrypoint_num_gpus: float = 0
    entrypoint_resources: dict[str, float] = field(default_factory=dict)
    submission_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The spec with secret values masked: safe to print, log or dump."""
        env = dict(self.runtime_env)
        if "env_vars" in env:
            env["env_vars"] = mask_env(env["env_vars"])
        return {
            "entrypoint": self.entrypoint, "runtime_env": env, "entrypoint_num_cpus": self.entrypoint_num_cpus,
            "entrypoint_num_gpus": self.entrypoint_num_gpus, "entrypoint_resources": self.entrypoint_resources,
            "submission_id": self.submission_id, "metadata": self.metadata,
        }


def git_ignored(root: Path) -> list[str]:
    """What git ignores under `root` (.gitignore, .git/info/exclude, the global excludes), as anchored
    patterns: Ray reads .gitignore files itself, not the other two, so a large ignored folder kept there
    (wheels, old runs) would otherwise be zipped into the job. [] outside a git checkout or without git."""
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "--others", "--ignored", "--exclude-standard",
                              "--directory", "-z"], capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return ["/" + path for path in out.split("\0") if path]


def runtime_env(root: Path = PROJECT_ROOT, environ: Mapping[str, str] | None = None,
                excludes: Sequence[str] = EXCLUDES) -> dict[str, Any]:
    """runtime_env with the project code as working_dir and the forwarded environment."""
    excludes = [*excludes, *(p for p in git_ignored(root) if p not in excludes)]
    env = job_env(environ)
    # the unpacked working_dir: `python -m recipes.pipeline` finds the code (Ray keeps the node's own
    # PYTHONPATH behind it: tests/test_ray_jobs.py)
    env["PYTHONPATH"] = "."
    return {"working_dir": str(root), "excludes": list(excludes), "env_vars": env}


def entrypoint(recipe: str, overrides: Sequence[str] = (), stages: Sequence[str] | None = None,
               python: str = "python") -> str:
    """Shell command the job runs: the pipeline runner on `recipe` (optionally a subset of stages)."""
    argv = [python, "-m", "recipes.pipeline", recipe, *overrides]
    if stages:
        argv.append(f"stages=[{','.join(stages)}]")
    return shlex.join(argv)


def durable_runs_dir(overrides: Sequence[str], root: Path = PROJECT_ROOT) -> list[str]:
    """`overrides` with `runs_dir` absolute: a relative one (or the default `runs`) would be read inside the job's
    working_dir, Ray's per-session copy of the code, and its outputs lost with it. The default becomes
    `<project root>/runs` and a relative `runs_dir=DIR` the submitter's `./DIR`, the path every node must see."""
    out, given = [], False
    for o in overrides:
        key, sep, value = o.partition("=")
        if sep and key.lstrip("+") == "runs_dir":
            given = True
            path = Path(value).expanduser()
            o = f"{key}={path if path.is_absolute() else (Path.cwd() / path).resolve()}"
        out.append(o)
    return out if given else [*out, f"runs_dir={root / 'runs'}"]


def build_spec(recipe: str, overrides: Sequence[str] = (), stages: Sequence[str] | None = None, *,
               python: str = "python", num_cpus: float = 1, num_gpus: float = 0,
               resources: Mapping[str, float] | None = None, submission_id: str | None = None,
               root: Path = PROJECT_ROOT, environ: Mapping[str, str] | None = None) -> JobSpec:
    """A JobSpec for the pipeline: code-only runtime_env, entrypoint resources, optional job id. `runs_dir` is
    made absolute here (see `durable_runs_dir`)."""
    overrides = durable_runs_dir(overrides, root)
    return JobSpec(
        entrypoint=entrypoint(recipe, overrides, stages, python),
        runtime_env=runtime_env(root, environ),
        entrypoint_num_cpus=num_cpus, entrypoint_num_gpus=num_gpus,
        entrypoint_resources=dict(resources or {}), submission_id=submission_id,
        metadata={"recipe": recipe, "stages": ",".join(stages or ["<recipe default>"])},
    )


def client(address: str) -> Any:
    """A Ray Jobs SDK client for the dashboard at `address` (e.g. http://127.0.0.1:8265)."""
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address)


TRANSIENT = ("No available agent to submit job", "Failed to get head node agent")
"""Answers of a Ray head whose job agent is not up yet (it gives its agent 10 s; a busy or just-started head
needs longer): the submission is retried, not failed."""


def new_job_id(recipe: str) -> str:
    """A readable, unique submission id: rlcs-<recipe>-<date>-<time>-<random>."""
    return f"rlcs-{recipe}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def submit(address: str, spec: JobSpec, retry_s: float = 120.0) -> str:
    """Submit `spec`; return the job id. While the head says its job agent is not ready, retry for up to
    `retry_s` seconds under the same id (so a submission that did get through is not made twice)."""
    job_id = spec.submission_id or new_job_id(spec.metadata.get("recipe", "job"))
    log.info("submitting %s to %s: %s", job_id, address, spec.describe())
    deadline = time.monotonic() + retry_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return client(address).submit_job(
                entrypoint=spec.entrypoint, runtime_env=spec.runtime_env, submission_id=job_id,
                entrypoint_num_cpus=spec.entrypoint_num_cpus, entrypoint_num_gpus=spec.entrypoint_num_gpus,
                entrypoint_resources=spec.entrypoint_resources or None, metadata=spec.metadata,
            )
        except RuntimeError as err:
            if attempt > 1 and "already exists" in str(err):
                return job_id  # an earlier attempt got through after all
            if not any(t in str(err) for t in TRANSIENT) or time.monotonic() > deadline:
                raise JobError(f"could not submit job {job_id} to {address} (attempt {attempt}): {err}") from err
            log.warning("the Ray head's job agent is not ready (attempt %d); retrying: %s", attempt, err)
            time.sleep(2.0)


def status(address: str, job_id: str) -> str:
    """PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED."""
    return str(client(address).get_job_status(job_id).value)


def logs(address: str, job_id: str) -> str:
    return client(address).get_job_logs(job_id)


def stop(address: str, job_id: str) -> bool:
    """Ask Ray to stop the job; True if it was running."""
    return bool(client(address).stop_job(job_id))


def follow(address: str, job_id: str) -> Iterator[str]:
    """Yield the job's log as it is written, until the job ends."""
    tailer = client(address).tail_job_logs(job_id)
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(tailer.__anext__())
            except StopAsyncIteration:
                return
            except Exception as err:  # the stream broke (head busy, websocket closed): the job itself goes on
                log.warning("log stream of job %s ended early (%s: %s); `logs %s` prints the whole log",
                            job_id, type(err).__name__, err, job_id)
                return
    finally:
        loop.close()


def wait(address: str, job_id: str, timeout_s: float = 3600, poll_s: float = 1.0) -> str:
    """Block until the job ends (or `timeout_s`); return its final status."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = status(address, job_id)
        if state in TERMINAL:
            return state
        if time.monotonic() > deadline:
            raise JobError(f"job {job_id} still {state} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def check_succeeded(address: str, job_id: str, timeout_s: float = 3600) -> str:
    """Wait for the job; raise JobError with its status message and log tail unless it succeeded."""
    state = wait(address, job_id, timeout_s)
    if state != "SUCCEEDED":
        info = client(address).get_job_info(job_id)
        raise JobError(f"job {job_id} {state}: {info.message}\n--- last lines ---\n{tail(logs(address, job_id))}")
    return state
