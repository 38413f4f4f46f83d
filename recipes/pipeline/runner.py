"""The pipeline runner: orders stages, records what they made, skips what is already made."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from recipes import hub
from recipes.ablation import ABLATIONS, ablation_of
from recipes.atomic import move_aside
from recipes.hashing import changed_keys, content_id, stable_hash
from recipes.hub import HubRef
from recipes.pipeline.cost import echo_forecast
from recipes.pipeline.manifest import FAILED, RUNNING, Manifest, RunLock, now
from recipes.pipeline.preflight import run_checks
from recipes.pipeline.stages import load_stage
from recipes.pipeline.validate import validate
from recipes.stage import STAGES, Stage, StageContext, StageError
from recipes.stage_outputs import DONE, done_outputs

log = logging.getLogger(__name__)


class ConfigChangedError(StageError):
    """A finished (or partial) stage was made with another config; the user must ask to rerun it."""


@dataclass
class StageResult:
    name: str
    status: str  # done | skipped | planned | failed
    seconds: float
    outputs: Mapping[str, Any]
    """What the stage recorded (its type in recipes/stage_outputs.py), or, when planned, what it would make."""
    note: str = ""


def _slice(cfg: DictConfig, keys: tuple[str, ...], leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    out = {k: OmegaConf.to_container(OmegaConf.create({"v": OmegaConf.select(cfg, k)}), resolve=True)["v"]
           for k in keys}
    for dotted in leave_out:  # e.g. sft.resume_weights_only: how to resume, not what is made
        head, _, tail = dotted.partition(".")
        if isinstance(out.get(head), dict):
            out[head].pop(tail, None)
    return out


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, kids) / 1024, 1)


def _fmt(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Runner:
    """Runs the selected stages of one composed recipe into `<runs_dir>/<run_name>/`."""

    def __init__(self, cfg: DictConfig, echo: Any = print, stages: dict[str, Stage] | None = None):
        """`stages` replaces the registry's stage objects by name (for embedding and tests)."""
        self.cfg = cfg
        self.run_dir = Path(cfg.runs_dir).expanduser() / cfg.run_name
        self.selected = [s for s in STAGES if s in cfg.stages]
        given = stages or {}
        self.stages: dict[str, Stage] = {s: given[s] if s in given else load_stage(s) for s in self.selected}
        self.echo = echo

    # -- hashing --------------------------------------------------------------------------------
    def _config_of(self, stage: Stage, manifest: Manifest, projected: dict[str, str] | None = None) -> dict[str, Any]:
        """The stage's own config slice plus the config hashes of the upstream stages it reads
        (`projected` overrides the manifest with the hashes upstream stages are about to get)."""
        projected = projected or {}
        upstream = {}
        for d in stage.depends_on:
            h = projected.get(d) or manifest.stage(d).get("config_hash")
            if h:
                upstream[d] = h
        out = {"config": _slice(self.cfg, stage.config_keys, stage.unhashed_keys), "upstream": upstream}
        contents = self._local_contents(stage, manifest)
        if contents:
            out["sources"] = contents
        return out

    def _local_contents(self, stage: Stage, manifest: Manifest) -> dict[str, str]:
        """Content ids of the stage's local sources (hub ids are pinned by their snapshot's revision, the tiny
        world by its build), so a file rewritten in place counts as a changed input. Digests are cached in
        the manifest by size and mtime."""
        cache = manifest.data.setdefault("source_digests", {})
        out = {}
        for src in stage.sources(self.cfg):
            path = Path(src.ref).expanduser()
            if not src.ref.startswith(hub.TINY_PREFIX) and path.exists():
                out[src.ref] = content_id(path, cache)
        return out

    # -- dry run ---------------------------------------------------------------------------------
    def plan(self) -> list[StageResult]:
        """Print every selected stage's commands and outputs; run nothing."""
        validate(self.cfg, self.stages)  # every problem at once, before the preflight and any stage
        manifest = Manifest(self.run_dir, self.cfg.run_name)  # read-only here: never saved
        outputs = done_outputs(manifest.data)
        self.echo(f"Plan for run {self.cfg.run_name!r} in {self.run_dir} (dry run: nothing is executed)")
        ablation = ablation_of(self.cfg)
        self.echo(f"ablation: {ablation} ({ABLATIONS[ablation].description}); stages: {', '.join(self.selected)}")
        run_checks(self.cfg, self.selected, self.echo, dry_run=True)  # may set the sdpa fallback in cfg
        echo_forecast(self.cfg, self.selected, self.run_dir, self.echo)
        sources = self._sources()
        if sources:
            self.echo("\n[prepare] fetch / build before any stage starts:")
            for s in sources:
                self.echo(f"  {s.kind:8s} {s.ref}")
        results = []
        for i, name in enumerate(self.selected, 1):
            stage = self.stages[name]
            ctx = StageContext(self.cfg, self.run_dir, name, outputs, {}, dry_run=True)
            state = manifest.data["stages"].get(name, {}).get("status", "pending")
            self.echo(f"\n[{i}/{len(self.selected)}] {name}  (currently: {state})")
            p = stage.plan(ctx)
            for cmd in p.commands:
                self.echo(f"  $ {cmd.render()}")
            for note in p.notes:
                self.echo(f"  - {note}")
            for key, value in p.outputs.items():
                self.echo(f"  -> {key}: {value}")
            results.append(StageResult(name, "planned", 0.0, dict(p.outputs)))
        return results

    def _sources(self) -> list[HubRef]:
        out: list[HubRef] = []
        for name in self.selected:
            out.extend(self.stages[name].sources(self.cfg))
        return out

    # -- run -------------------------------------------------------------------------------------
    def run(self) -> list[StageResult]:
        """Run the selected stages in order; skip finished ones; resume partial ones."""
        if self.cfg.dry_run:
            return self.plan()
        validate(self.cfg, self.stages)  # before any download, install check, stage or file under runs/
        run_checks(self.cfg, self.selected, self.echo, dry_run=False)  # before any download or GPU work
        echo_forecast(self.cfg, self.selected, self.run_dir, self.echo)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with RunLock(self.run_dir):
            manifest = Manifest(self.run_dir, self.cfg.run_name)
            manifest.data["last_invocation"] = {"at": now(), "stages": self.selected}
            manifest.save()
            self._check_config_changes(manifest)
            t0 = time.monotonic()
            self.echo(f"[prepare] resolving {len(self._sources())} model/dataset source(s)")
            resolved = hub.resolve_all(self._sources(), self.cfg.hub.cache_dir, self.cfg.hub.offline)
            self.echo(f"[prepare] done in {_fmt(time.monotonic() - t0)}")
            results: list[StageResult] = []
            for i, name in enumerate(self.selected, 1):
                results.append(self._run_one(i, name, manifest, resolved))
            self._summary(results)
            return results

    def _check_config_changes(self, manifest: Manifest) -> None:
        """Refuse, before anything runs, to reuse outputs made with another config."""
        projected: dict[str, str] = {}
        for name in self.selected:
            entry = manifest.stage(name)
            new = self._config_of(self.stages[name], manifest, projected)
            projected[name] = stable_hash(new)
            if not entry or name in self.cfg.rerun:
                continue
            if entry.get("config_hash") != projected[name]:
                old = entry.get("config", {})
                changed = changed_keys(old.get("config", {}), new["config"])
                if old.get("upstream") != new["upstream"]:
                    changed.append("(upstream stage outputs)")
                changed += [f"(contents of {ref})" for ref in sorted(set(old.get("sources", {})) | set(new.get(
                    "sources", {}))) if old.get("sources", {}).get(ref) != new.get("sources", {}).get(ref)]
                raise ConfigChangedError(
                    f"stage {name!r} in {self.run_dir} was {entry.get('status')} with a different config "
                    f"(changed: {', '.join(changed) or 'unknown'}). Its outputs are kept. Pass "
                    f"rerun=[{name}] to run it again (old outputs are moved aside), or use another run_name."
                )

    def _run_one(self, i: int, name: str, manifest: Manifest, resolved: dict[str, str]) -> StageResult:
        stage = self.stages[name]
        head = f"[{i}/{len(self.selected)}] {name}"
        entry = manifest.stage(name)
        cfg_slice = self._config_of(stage, manifest)
        config_hash = stable_hash(cfg_slice)
        if name in self.cfg.rerun and entry and entry.get("rerun", {}).get("config_hash") != config_hash:
            moved = move_aside(self.run_dir / name, f"prev-{time.strftime('%Y%m%d-%H%M%S')}")
            manifest.reset(name)
            # recorded, so re-issuing the same command (after a crash) resumes this rerun instead of restarting it
            manifest.update(name, rerun={"config_hash": config_hash, "at": now(), "moved_to": str(moved)})
            self.echo(f"{head}: rerun requested; previous outputs moved to {moved}")
            entry = manifest.stage(name)
        elif name in self.cfg.rerun and entry:
            self.echo(f"{head}: rerun=[{name}] was already honoured at {entry['rerun'].get('at')} with this "
                      "config, so it is not restarted (another run_name starts afresh)")
        if entry.get("status") == DONE:
            self.echo(f"{head}: done earlier ({_fmt(entry.get('seconds', 0))}), skipped")
            return StageResult(name, "skipped", 0.0, entry.get("outputs", {}))
        resume = entry.get("status") in (RUNNING, FAILED)
        self.echo(f"{head}: {'resuming' if resume else 'starting'} at {time.strftime('%H:%M:%S')}")
        outputs_of = done_outputs(manifest.data)
        ctx = StageContext(self.cfg, self.run_dir, name, outputs_of, resolved, dry_run=False)
        manifest.update(
            name, status=RUNNING, config=cfg_slice, config_hash=config_hash, started=now(),
            attempts=entry.get("attempts", 0) + 1, inputs={d: outputs_of.get(d, {}) for d in stage.depends_on},
        )
        start = time.monotonic()
        try:
            outputs = stage.run(ctx)
        except BaseException as err:
            seconds = time.monotonic() - start
            status = FAILED if isinstance(err, Exception) else RUNNING  # Ctrl-C leaves it resumable
            manifest.update(name, status=status, seconds=round(seconds, 1), error=str(err)[:2000], finished=now())
            self.echo(f"{head}: {'FAILED' if status == FAILED else 'interrupted'} after {_fmt(seconds)}")
            raise
        seconds = time.monotonic() - start
        manifest.update(
            name, status=DONE, outputs=outputs, finished=now(), seconds=round(seconds, 1),
            peak_rss_mb=_peak_rss_mb(), error=None,
        )
        self.echo(f"{head}: done in {_fmt(seconds)}")
        return StageResult(name, "done", seconds, outputs)

    def _summary(self, results: list[StageResult]) -> None:
        self.echo(f"\nSummary of run {self.cfg.run_name!r} ({self.run_dir}/manifest.json):")
        for r in results:
            self.echo(f"  {r.name:9s} {r.status:8s} {_fmt(r.seconds):>8s}")
            for key, value in r.outputs.items():
                if isinstance(value, (str, int, float)):
                    self.echo(f"      {key}: {value}")
        self._curves()
        from recipes.pipeline.publish import after_run

        after_run(self.cfg, self.run_dir, self.echo)  # trackers, report, hub.push_to, what was produced

    def _curves(self) -> None:
        """Draw the run's training curves (recipes/pipeline/curves.py) and name them; a plot never fails the run."""
        from recipes.pipeline.curves import write_run_curves

        try:
            paths = write_run_curves(self.run_dir)
        except (OSError, ValueError) as err:
            log.warning("training curves of %s not drawn: %s", self.run_dir, err)
            return
        for stage, path in paths.items():
            self.echo(f"  curves of {stage}: {path}")
