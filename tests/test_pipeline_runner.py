"""The runner: order, manifest, skip, resume after an interruption, config-change refusal, dry run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from recipes.pipeline.compose import ConfigError, compose, list_recipes
from recipes.pipeline.runner import ConfigChangedError, Runner
from recipes.pipeline.validate import validate
from recipes.stage import Command, Stage, StageContext, StagePlan


class CountingStage(Stage):
    """Writes `n` numbered chunk files, resuming after the last one; can be told to crash once."""

    def __init__(self, name: str, depends_on: tuple[str, ...] = (), crash_after: int | None = None):
        self.name = name
        self.depends_on = depends_on
        self.config_keys = ("sft.learning_rate",) if name == "sft" else ("data.max_rows",)
        self.crash_after = crash_after
        self.calls = 0

    def plan(self, ctx: StageContext) -> StagePlan:
        inputs = [ctx.output_of(d, "path") for d in self.depends_on]
        return StagePlan(commands=[Command(["echo", self.name, *inputs], env={"HF_TOKEN": "secret-value"})],
                         outputs={"path": str(ctx.stage_dir)})

    def run(self, ctx: StageContext) -> dict[str, Any]:
        self.calls += 1
        for d in self.depends_on:
            assert Path(ctx.output_of(d, "path")).is_dir()
        ctx.stage_dir.mkdir(parents=True, exist_ok=True)
        for i in range(4):
            chunk = ctx.stage_dir / f"chunk-{i}"
            if chunk.exists():
                continue
            if self.crash_after is not None and i == self.crash_after:
                self.crash_after = None
                raise RuntimeError(f"simulated crash before chunk {i}")
            chunk.write_text(str(i))
        return {"path": str(ctx.stage_dir), "chunks": len(list(ctx.stage_dir.glob("chunk-*")))}


def _cfg(tmp_path: Path, *overrides: str):
    return compose("tiny", [f"runs_dir={tmp_path}", "stages=[sft_data,sft]", *overrides])


def _stages(**kw: Any) -> dict[str, Stage]:
    return {"sft_data": CountingStage("sft_data", **kw), "sft": CountingStage("sft", depends_on=("sft_data",))}


def test_runs_in_order_records_manifest_and_skips_when_done(tmp_path: Path) -> None:
    stages = _stages()
    results = Runner(_cfg(tmp_path), echo=lambda *_: None, stages=stages).run()
    assert [r.name for r in results] == ["sft_data", "sft"]
    manifest = json.loads((tmp_path / "tiny" / "manifest.json").read_text())
    for name in ("sft_data", "sft"):
        entry = manifest["stages"][name]
        assert entry["status"] == "done" and entry["outputs"]["chunks"] == 4
        assert entry["config_hash"] and entry["seconds"] >= 0 and entry["started"] and entry["finished"]
    assert manifest["stages"]["sft"]["inputs"]["sft_data"]["path"].endswith("sft_data")

    again = Runner(_cfg(tmp_path), echo=lambda *_: None, stages=stages).run()
    assert [r.status for r in again] == ["skipped", "skipped"]
    assert stages["sft_data"].calls == 1


def test_interrupted_stage_resumes_instead_of_starting_over(tmp_path: Path) -> None:
    stages = _stages(crash_after=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        Runner(_cfg(tmp_path), echo=lambda *_: None, stages=stages).run()
    manifest = json.loads((tmp_path / "tiny" / "manifest.json").read_text())
    assert manifest["stages"]["sft_data"]["status"] == "failed"
    assert "simulated crash" in manifest["stages"]["sft_data"]["error"]
    first_chunk = (tmp_path / "tiny" / "sft_data" / "chunk-0").stat().st_mtime_ns

    results = Runner(_cfg(tmp_path), echo=lambda *_: None, stages=stages).run()
    assert [r.status for r in results] == ["done", "done"]
    assert (tmp_path / "tiny" / "sft_data" / "chunk-0").stat().st_mtime_ns == first_chunk  # not redone
    manifest = json.loads((tmp_path / "tiny" / "manifest.json").read_text())
    assert manifest["stages"]["sft_data"]["attempts"] == 2


def test_changed_config_is_refused_until_rerun_and_old_output_is_kept(tmp_path: Path) -> None:
    Runner(_cfg(tmp_path), echo=lambda *_: None, stages=_stages()).run()
    with pytest.raises(ConfigChangedError, match=r"sft\.learning_rate: .* -> 0\.5.*rerun=\[sft\]"):
        Runner(_cfg(tmp_path, "sft.learning_rate=0.5"), echo=lambda *_: None, stages=_stages()).run()

    # an upstream change propagates: sft_data's config changed, so sft must be asked for too
    with pytest.raises(ConfigChangedError, match="sft_data"):
        Runner(_cfg(tmp_path, "data.max_rows=3"), echo=lambda *_: None, stages=_stages()).run()
    with pytest.raises(ConfigChangedError, match=r"stage 'sft'.*upstream"):
        Runner(_cfg(tmp_path, "data.max_rows=3", "rerun=[sft_data]"), echo=lambda *_: None,
               stages=_stages()).run()

    results = Runner(_cfg(tmp_path, "sft.learning_rate=0.5", "rerun=[sft]"), echo=lambda *_: None,
                     stages=_stages()).run()
    assert [r.status for r in results] == ["skipped", "done"]
    kept = [p.name for p in (tmp_path / "tiny").iterdir() if p.name.startswith("sft.prev-")]
    assert len(kept) == 1 and (tmp_path / "tiny" / kept[0] / "chunk-3").exists()


def test_rerun_already_honoured_resumes_instead_of_restarting(tmp_path: Path) -> None:
    Runner(_cfg(tmp_path), echo=lambda *_: None, stages=_stages()).run()
    crashing = {"sft_data": CountingStage("sft_data"), "sft": CountingStage("sft", ("sft_data",), crash_after=2)}
    with pytest.raises(RuntimeError, match="simulated crash"):
        Runner(_cfg(tmp_path, "sft.learning_rate=0.5", "rerun=[sft]"), echo=lambda *_: None, stages=crashing).run()
    partial = tmp_path / "tiny" / "sft" / "chunk-0"
    first = partial.stat().st_mtime_ns
    lines: list[str] = []
    results = Runner(_cfg(tmp_path, "sft.learning_rate=0.5", "rerun=[sft]"), echo=lines.append,
                     stages=_stages()).run()  # the same command, re-issued after the crash
    assert [r.status for r in results] == ["skipped", "done"]
    assert partial.stat().st_mtime_ns == first  # resumed: the partial rerun was not moved aside
    assert len([p for p in (tmp_path / "tiny").iterdir() if p.name.startswith("sft.prev-")]) == 1
    assert any("already honoured" in line for line in lines)
    manifest = json.loads((tmp_path / "tiny" / "manifest.json").read_text())
    assert manifest["stages"]["sft"]["rerun"]["config_hash"] == manifest["stages"]["sft"]["config_hash"]
    assert manifest["stages"]["sft"]["attempts"] == 2
    again = Runner(_cfg(tmp_path, "sft.learning_rate=0.5", "rerun=[sft]"), echo=lambda *_: None,
                   stages=_stages()).run()
    assert [r.status for r in again] == ["skipped", "skipped"]
    results = Runner(_cfg(tmp_path, "sft.learning_rate=0.25", "rerun=[sft]"), echo=lambda *_: None,
                     stages=_stages()).run()  # a new config: a new rerun
    assert [r.status for r in results] == ["skipped", "done"]
    assert len([p for p in (tmp_path / "tiny").iterdir() if p.name.startswith("sft.prev-")]) == 2


def test_dry_run_prints_commands_masks_secrets_and_writes_nothing(tmp_path: Path) -> None:
    lines: list[str] = []
    Runner(_cfg(tmp_path, "dry_run=true"), echo=lines.append, stages=_stages()).run()
    text = "\n".join(lines)
    assert "[1/2] sft_data" in text and "[2/2] sft" in text
    assert "$ HF_TOKEN='***' echo sft '<sft_data.path>'" in text
    assert "secret-value" not in text
    assert not (tmp_path / "tiny").exists()


def test_compose_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="unknown recipe 'nope'"):
        compose("nope")
    with pytest.raises(ConfigError, match=r"sft\.no_such_key"):
        compose("tiny", ["sft.no_such_key=1"])
    with pytest.raises(ConfigError, match=r"stages='train': one of distill, sft_data"):
        validate(compose("tiny", ["stages=[sft,train]"]))  # the validation pass names it (recipes/checks.py)


@pytest.mark.parametrize("recipe", list_recipes())
def test_every_recipe_composes(recipe: str) -> None:
    cfg = compose(recipe)
    assert cfg.run_name == recipe
    assert "\\boxed{}" in cfg.data.system_prompt


SLEEPER = '''
import sys
from recipes.stage import Command, Stage, StagePlan

class Sleeper(Stage):
    name = "sft_data"
    def plan(self, ctx):
        return StagePlan(commands=[Command([sys.executable, "-c", "import time; time.sleep(120)"])])
    def run(self, ctx):
        ctx.run_command(self.plan(ctx).commands[0])
        return {}

STAGE = Sleeper()
'''


def test_sigterm_stops_the_child_and_leaves_the_stage_resumable(tmp_path: Path) -> None:
    """`ray job stop` / a scheduler sends SIGTERM: the stage's command is terminated, not orphaned, the
    manifest keeps the stage resumable, and the pipeline exits 130."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    (tmp_path / "sleeper_stage.py").write_text(SLEEPER)
    script = ("import sys; sys.path.insert(0, sys.argv[1]); from recipes.pipeline import rlcs_run, stages; "
              "stages.STAGE_MODULES['sft_data'] = 'sleeper_stage'; "
              "sys.exit(rlcs_run.main(['tiny', f'runs_dir={sys.argv[1]}', 'stages=[sft_data]']))")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)})
    try:
        deadline = time.monotonic() + 60
        children: list[psutil.Process] = []
        while time.monotonic() < deadline and not children:
            children = [c for c in psutil.Process(proc.pid).children(recursive=True) if "sleep(120)" in " ".join(c.cmdline())]
            time.sleep(0.2)
        assert children, "the stage's command never started"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
        psutil.wait_procs(children, timeout=10)
        assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    finally:
        if proc.poll() is None:
            proc.kill()
    entry = json.loads((tmp_path / "tiny" / "manifest.json").read_text())["stages"]["sft_data"]
    assert entry["status"] == "running" and "signal 15" in entry["error"]  # resumed by the next run


def test_a_stage_command_keeps_the_inherited_pythonpath(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """verl's command sets PYTHONPATH to the project root; packages found only through an inherited PYTHONPATH
    (scripts/gpu_check.sh installs the carried verl/vLLM with `pip --target` and puts that folder there) must
    stay importable in the child, behind the command's own entry."""
    import sys

    from omegaconf import OmegaConf

    site, ours = tmp_path / "site", tmp_path / "ours"
    for folder, module in ((site, "only_in_site"), (ours, "only_in_ours")):
        folder.mkdir()
        (folder / f"{module}.py").write_text(f"WHERE = {str(folder)!r}\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    ctx = StageContext(OmegaConf.create({}), tmp_path / "run", "grpo", {}, {}, dry_run=False)
    probe = "import only_in_site, only_in_ours, os; print('PATH=' + os.environ['PYTHONPATH'])"
    ctx.run_command(Command([sys.executable, "-c", probe], env={"PYTHONPATH": str(ours)}))
    printed = [line for line in (ctx.stage_dir / "log.txt").read_text().splitlines() if line.startswith("PATH=")]
    assert printed == [f"PATH={ours}{os.pathsep}{site}"]
