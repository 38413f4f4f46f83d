"""The contract between the runner and a stage.

A stage is a small object with one entry point: `plan(ctx)` says what it would do (the exact
upstream commands for stages that shell out to swift or verl, a description for stages we own),
`run(ctx)` does it and returns its outputs, a TypedDict per stage (recipes/stage_outputs.py) that later
stages read with `ctx.outputs("<stage>")`. The runner never knows a stage's internals.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, overload

from omegaconf import DictConfig

from recipes.checks import Problem
from recipes.hub import HubRef
from recipes.stage_outputs import (
    DistillOutputs,
    EvalOutputs,
    GrpoOutputs,
    MergeOutputs,
    RlDataOutputs,
    RunOutputs,
    SftDataOutputs,
    SftOutputs,
)

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


class StageContext:
    """What a stage gets from the runner: config, its directory, earlier outputs, resolved sources."""

    def __init__(
        self,
        cfg: DictConfig,
        run_dir: Path,
        name: str,
        outputs_of: RunOutputs,
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

    @overload
    def outputs(self, stage: Literal["distill"]) -> DistillOutputs: ...
    @overload
    def outputs(self, stage: Literal["sft_data"]) -> SftDataOutputs: ...
    @overload
    def outputs(self, stage: Literal["sft"]) -> SftOutputs: ...
    @overload
    def outputs(self, stage: Literal["rl_data"]) -> RlDataOutputs: ...
    @overload
    def outputs(self, stage: Literal["grpo"]) -> GrpoOutputs: ...
    @overload
    def outputs(self, stage: Literal["merge"]) -> MergeOutputs: ...
    @overload
    def outputs(self, stage: Literal["eval"]) -> EvalOutputs: ...

    def outputs(self, stage: str) -> Mapping[str, Any]:
        """The outputs an earlier stage recorded, typed by the stage's name (recipes/stage_outputs.py).

        `key in ...` says whether it recorded `key`; reading a key it did not record raises StageError naming
        the stage to run first, and in a dry run gives the placeholder `<stage.key>` instead.
        """
        return _Recorded(self, stage)

    def output_of(self, stage: str, key: str) -> str:
        """One output as text, for readers whose (stage, key) comes from a table (recipes/ablation.py's
        producers); a reader that names its stage uses the typed `outputs(stage)`."""
        return str(_Recorded(self, stage)[key])

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


class _Recorded(dict[str, Any]):
    """An earlier stage's recorded outputs; a key it did not record fails with the stage to run first (in a
    dry run: a placeholder, since the stage may be about to run)."""

    def __init__(self, ctx: StageContext, stage: str):
        super().__init__(ctx._outputs_of.get(stage, {}))
        self._ctx, self._stage = ctx, stage

    def __missing__(self, key: str) -> str:
        ctx = self._ctx
        if ctx.dry_run:
            return f"<{self._stage}.{key}>"
        raise StageError(
            f"stage {ctx.name!r} needs output {key!r} of stage {self._stage!r}, which has not run in "
            f"{ctx.run_dir}: add {self._stage!r} to stages= or run it first"
        )


Outputs = TypeVar("Outputs", bound=Mapping[str, Any])
"""A stage's outputs type (recipes/stage_outputs.py)."""


class Stage(ABC, Generic[Outputs]):
    """One pipeline stage. Subclasses set `name`, `config_keys` and `depends_on`, and name their outputs type:
    `class SFTStage(Stage[SftOutputs])`."""

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
    def run(self, ctx: StageContext) -> Outputs:
        """Do the work (resuming when partial outputs exist) and return the outputs to record."""
