"""The contract between the runner and a stage.

A stage is a small object with one entry point: `plan(ctx)` says what it would do (the exact
upstream commands for stages that shell out to swift or verl, a description for stages we own),
`run(ctx)` does it and returns its outputs. The runner never knows a stage's internals.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from recipes.checks import Problem
from recipes.hub import HubRef

log = logging.getLogger(__name__)

STAGES = ("distill", "sft_data", "sft", "rl_data", "grpo", "merge", "eval")
"""Every stage the runner knows, in pipeline order (recipes/pipeline/stages.py says where each lives)."""

_SECRET = re.compile(r"(TOKEN|SECRET|PASSWORD|API_KEY|_KEY)$", re.IGNORECASE)


class StageError(RuntimeError):
    """A stage failed; the message says why and where its log is."""


def child_env(extra: dict[str, str], base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) updated with `extra`, for a child process.

    A PYTHONPATH in `extra` goes in front of the inherited one instead of replacing it: packages found
    only through PYTHONPATH (a `pip install --target` site, as scripts/gpu_check.sh uses) stay visible.
    """
    env = dict(os.environ if base is None else base)
    inherited = env.get("PYTHONPATH", "")
    env.update(extra)
    if "PYTHONPATH" in extra and inherited:
        ours = extra["PYTHONPATH"].split(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join(ours + [p for p in inherited.split(os.pathsep) if p and p not in ours])
    return env


def mask_env(env: dict[str, str]) -> dict[str, str]:
    """Copy of `env` with secret-looking values (tokens, keys, passwords) replaced by `***`."""
    return {k: ("***" if _SECRET.search(k) else v) for k, v in env.items()}


@dataclass
class Command:
    """One upstream command line with the extra environment it needs."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None

    def render(self) -> str:
        """Shell-ready text with secrets masked."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in mask_env(self.env).items())
        return f"{env} {shlex.join(self.argv)}".strip()


@dataclass
class StagePlan:
    """What a stage will do: commands it runs, outputs it makes, notes for the reader."""

    commands: list[Command] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


HF_MODEL = "hf"
"""The `format` output of a stage whose `checkpoint` is a Hugging Face model directory, the default when a
stage records no `format` (SFT). Another format (verl's FSDP shards) is not a model until the merge stage ran."""


class StageContext:
    """What a stage gets from the runner: config, its directory, earlier outputs, resolved sources."""

    def __init__(
        self,
        cfg: DictConfig,
        run_dir: Path,
        name: str,
        outputs_of: dict[str, dict[str, Any]],
        resolved: dict[str, str],
        dry_run: bool,
    ):
        self.cfg = cfg
        self.run_dir = run_dir
        self.name = name
        self.stage_dir = run_dir / name
        self._outputs_of = outputs_of
        self._resolved = resolved
        self.dry_run = dry_run

    def output_of(self, stage: str, key: str) -> str:
        """An output recorded by an earlier stage; in a dry run, a placeholder when not made yet."""
        outputs = self._outputs_of.get(stage, {})
        if key in outputs:
            return str(outputs[key])
        if self.dry_run:
            return f"<{stage}.{key}>"
        raise StageError(
            f"stage {self.name!r} needs output {key!r} of stage {stage!r}, which has not run in "
            f"{self.run_dir}: add {stage!r} to stages= or run it first"
        )

    def has_output(self, stage: str, key: str) -> bool:
        return key in self._outputs_of.get(stage, {})

    def resolve(self, ref: str) -> str:
        """Local path of a model / dataset reference (fetched before the stages ran)."""
        return self._resolved.get(ref, ref)

    def run_command(self, cmd: Command, log_name: str = "log.txt") -> None:
        """Run `cmd`, streaming its output to the terminal and to `<stage_dir>/<log_name>` (appended).

        Raise StageError with the log's last lines when it exits non-zero.
        """
        from recipes import child_guard

        self.stage_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.stage_dir / log_name
        env = child_env(cmd.env)
        fds = child_guard.lock_fds()  # the run lock lasts as long as the command does
        env.update({child_guard.PARENT_ENV: str(os.getpid()), "RLCS_LOCK_FDS": ",".join(map(str, fds))})
        tail: deque[str] = deque(maxlen=40)
        with open(log_path, "a", encoding="utf-8") as logf:
            logf.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} $ {cmd.render()}\n")
            logf.flush()
            proc = subprocess.Popen(  # the guard: the command's whole process group dies with this runner
                child_guard.guarded_argv(cmd.argv), env=env, cwd=cmd.cwd, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1, start_new_session=True,
                pass_fds=fds,
            )
            record = child_guard.record(self.run_dir, proc.pid)
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    sys.stdout.write(line)
                    logf.write(line)
                    tail.append(line)
                code = proc.wait()
            except BaseException:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                raise
            finally:
                child_guard.forget(record)
        if code != 0:
            raise StageError(
                f"stage {self.name!r}: `{shlex.join(cmd.argv[:3])} ...` exited with {code}; "
                f"full log: {log_path}\n--- last lines ---\n{''.join(tail)}"
            )


class Stage(ABC):
    """One pipeline stage. Subclasses set `name`, `config_keys` and `depends_on`."""

    name: str = ""
    config_keys: tuple[str, ...] = ()
    """Dotted config keys whose values define this stage's config hash."""
    depends_on: tuple[str, ...] = ()
    """Earlier stages whose outputs this stage may read."""
    unhashed_keys: tuple[str, ...] = ()
    """Dotted keys under `config_keys` that say how to resume, not what is made: left out of the hash."""

    def sources(self, cfg: DictConfig) -> list[HubRef]:
        """Models and datasets to fetch before any stage runs."""
        return []

    def validate(self, cfg: DictConfig) -> list[Problem]:
        """Every problem this stage would hit with `cfg` beyond the schema's own rules (relations with other
        groups, the upstream tool's own checks), found before any stage runs: no files, no GPU, no network."""
        return []

    @abstractmethod
    def plan(self, ctx: StageContext) -> StagePlan:
        """What `run` would do, without side effects."""

    @abstractmethod
    def run(self, ctx: StageContext) -> dict[str, Any]:
        """Do the work (resuming when partial outputs exist) and return the outputs to record."""
