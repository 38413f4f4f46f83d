"""The one-GPU proof's own logic on a CPU (scripts/gpu_check.sh, scripts/gpu_check.py): install stamps that
hold the carried set's hash, the site's console scripts on PATH, each stage in its own process session
under a timeout with the whole group ended on expiry, leftovers of an earlier run ended, and the JSON
written with the error and the log's tail when a stage fails."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import gpu_check  # noqa: E402

CHILD = ("import os, subprocess, sys, time; "
         "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
         "open(sys.argv[1], 'w').write(str(c.pid)); print('started', flush=True); time.sleep(600)")
"""A stage that hangs with a child of its own (a Ray worker, a vLLM engine)."""


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return status == "Z"  # a zombie: ended, not yet reaped by its (ended) parent


def _wait_for(path: Path, seconds: float = 30) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_a_hung_stage_is_ended_with_its_children_and_says_so(tmp_path):
    log, child, pids = tmp_path / "stage.log", tmp_path / "child.pid", tmp_path / "pgids.txt"
    result = gpu_check.run_session([sys.executable, "-c", CHILD, str(child)], log, timeout_s=3, pids=pids)
    assert result["exit"] != 0 and result["error"].startswith("timed out after 3 s: process group")
    assert "started" in result["log_tail"]
    assert _dead(int(child.read_text())), "the stage's child outlived the timeout"
    assert result["error"].endswith(f"process group {pids.read_text().split()[0]} ended")


def test_a_failing_stage_reports_its_exit_and_tail(tmp_path):
    result = gpu_check.run_session([sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
                                   tmp_path / "x.log", timeout_s=60)
    assert result["exit"] == 3 and result["error"] == "exited 3" and "boom" in result["log_tail"]
    ok = gpu_check.run_session([sys.executable, "-c", "print('fine')"], tmp_path / "y.log", timeout_s=60)
    assert ok["exit"] == 0 and "error" not in ok and "log_tail" not in ok


@pytest.mark.slow
def test_leftover_groups_of_an_earlier_run_are_ended_before_a_rerun(tmp_path):
    child = tmp_path / "child.pid"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(child)], start_new_session=True,
                            stdout=subprocess.DEVNULL)
    _wait_for(child)
    pids = tmp_path / "pgids.txt"
    pids.write_text(f"{proc.pid}\n999999999\n")  # the second: long gone
    lines = []
    assert gpu_check.end_leftovers(pids, stop_ray=False, echo=lines.append) == [proc.pid]
    proc.wait(timeout=30)
    assert _dead(int(child.read_text())) and not pids.exists() and str(proc.pid) in lines[0]


def test_the_json_gets_the_error_and_tail_when_a_stage_times_out(tmp_path, monkeypatch, tiny_world):
    monkeypatch.setattr(gpu_check, "STAGES", (gpu_check.Stage("sft_data", False, 2),
                                              gpu_check.Stage("rl_data", False, 60)))
    monkeypatch.setattr(gpu_check, "machine", lambda: {"gpus": [], "python": "3"})
    monkeypatch.setattr(gpu_check, "pipeline_argv", lambda runs, stages, dry_run=False, recipe=gpu_check.RECIPE:
                        [sys.executable, "-c", "print('stuck in', flush=True); import time; time.sleep(60)"])
    out = tmp_path / "gc.json"
    figures = gpu_check.run(out, tmp_path / "work", dry_run=True)
    saved = json.loads(out.read_text())
    assert saved["error"].startswith("sft_data: timed out after 2 s") and figures["error"] == saved["error"]
    assert "stuck in" in saved["stages"]["sft_data"]["log_tail"]
    assert "rl_data" not in saved["stages"]  # nothing runs after a failed stage
    assert saved["forecast"] and saved["timings_s"]["sft_data"] >= 2


def test_the_stage_commands_carry_the_proofs_settings(tmp_path):
    sft = gpu_check.pipeline_argv(tmp_path, ["sft"])
    assert {"sft.deepspeed=zero2", "model.torch_dtype=bfloat16", "sft.gradient_checkpointing=true"} <= set(sft)
    assert "stages=[sft]" in sft and not any(o.startswith("grpo.") for o in sft)
    grpo = gpu_check.pipeline_argv(tmp_path, ["grpo", "merge", "eval"], dry_run=True)
    assert {"merge.dtype=bf16", "eval.enforce_eager=true", "grpo.max_steps=2", "dry_run=true"} <= set(grpo)
    assert set(sft) & {o for o in grpo if o.startswith("model.")} == {"model.torch_dtype=bfloat16"}



@pytest.mark.parametrize("family", sorted(gpu_check.RECIPES))
def test_each_familys_proof_recipe_takes_the_proofs_overrides(family, tmp_path):
    """`--family qwen3_vl` runs tiny_gpu_qwen3_vl with the same overrides, and the schema accepts them there."""
    from recipes.pipeline.compose import compose
    from recipes.pipeline.validate import problems

    recipe = gpu_check.RECIPES[family]
    argv = gpu_check.pipeline_argv(tmp_path, ["grpo"], recipe=recipe)
    assert argv[argv.index("recipes.pipeline") + 1] == recipe
    cfg = compose(recipe, [f"runs_dir={tmp_path}", *gpu_check.overrides("eval")])
    assert problems(cfg, upstream=False) == []

def test_sft_figures_read_ms_swift_steps_and_the_deepspeed_banner():
    log = ("[2026-12-01 10:00:00] [INFO:swift] DeepSpeed info: version=0.18.9, git-hash=unknown\n"
           "{'loss': 2.31, 'grad_norm': 5.2, 'learning_rate': 1e-05, 'global_step/max_steps': '2/20', "
           "'train_speed(s/it)': 0.41}\n"
           "{'loss': 1.07, 'grad_norm': 2.0, 'learning_rate': 1e-05, 'global_step/max_steps': '4/20'}\n")
    figures = gpu_check.sft_figures(log)
    assert [s["loss"] for s in figures["logged_steps"]] == ["2.31", "1.07"]
    assert figures["logged_steps"][0]["global_step/max_steps"] == "2/20"
    assert figures["deepspeed"] == ["[2026-12-01 10:00:00] [INFO:swift] DeepSpeed info: version=0.18.9, git-hash=unknown"]


def _fake_python(path: Path, calls: Path) -> Path:
    """A stand-in interpreter that records its arguments and PATH (pip install and the exec of gpu_check.py)."""
    path.write_text(f'#!/usr/bin/env bash\necho "$* | PATH=$PATH" >> {calls}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def _parts(tmp: Path, wheels: dict[str, bytes]) -> Path:
    src, parts = tmp / "src", tmp / "parts"
    src.mkdir(exist_ok=True)
    parts.mkdir(exist_ok=True)
    for old in parts.iterdir():
        old.unlink()
    with tarfile.open(tmp / "w.tar", "w") as tar:
        for name, data in wheels.items():
            (src / name).write_bytes(data)
            tar.add(src / name, arcname=name)
    (parts / "part-00").write_bytes((tmp / "w.tar").read_bytes())
    return parts


def test_install_stamps_hold_the_carried_sets_hash_and_site_bin_is_on_path(tmp_path):
    calls, work = tmp_path / "calls.txt", tmp_path / "work"
    py = _fake_python(tmp_path / "python3", calls)
    env = {**os.environ, "RLCS_PYTHON": str(py), "RLCS_GPU_CHECK_WORK": str(work)}

    def check(parts: Path) -> list[str]:
        calls.unlink(missing_ok=True)
        subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--parts", str(parts), "--dry-run"],
                       env=env, check=True, capture_output=True, timeout=120)
        return calls.read_text().splitlines()

    parts = _parts(tmp_path, {"a-1.0-py3-none-any.whl": b"a" * 10})
    first = check(parts)
    assert first[0].startswith("-m pip install") and first[0].count(".whl") == 1
    assert f"PATH={work}/bin:{work}/site/bin:" in first[1] and "gpu_check.py" in first[1] and "--dry-run" in first[1]
    assert len(check(parts)) == 1  # same set: neither unpacked nor installed again
    parts = _parts(tmp_path, {"a-1.0-py3-none-any.whl": b"a" * 10, "b-2.0-py3-none-any.whl": b"b"})
    again = check(parts)
    assert again[0].startswith("-m pip install") and again[0].count(".whl") == 2  # a changed set: reinstalled
    assert (work / "wheels" / "b-2.0-py3-none-any.whl").exists()


@pytest.mark.parametrize("changed", ["size", "name"])
def test_a_wheel_changed_in_place_changes_the_site_stamp(tmp_path, changed):
    calls, work = tmp_path / "calls.txt", tmp_path / "work"
    py = _fake_python(tmp_path / "python3", calls)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "a-1.0-py3-none-any.whl").write_bytes(b"a")
    env = {**os.environ, "RLCS_PYTHON": str(py), "RLCS_GPU_CHECK_WORK": str(work)}
    run = lambda: subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--wheels", str(wheels),  # noqa: E731
                                  "--dry-run"], env=env, check=True, capture_output=True, timeout=120)
    run()
    stamp = (work / "site" / ".complete").read_text()
    if changed == "size":
        (wheels / "a-1.0-py3-none-any.whl").write_bytes(b"aa")
    else:
        (wheels / "a-1.0-py3-none-any.whl").rename(wheels / "a-1.1-py3-none-any.whl")
    run()
    assert (work / "site" / ".complete").read_text() != stamp
    assert sum(line.startswith("-m pip install") for line in calls.read_text().splitlines()) == 2


def test_console_scripts_are_written_from_the_sites_entry_points(tmp_path):
    """pip --target writes no console script when a package ships a top-level `bin` package (rouge does):
    the proof writes `swift` and the others from the entry points, and they run."""
    site = tmp_path / "site"
    (site / "fakepkg").mkdir(parents=True)
    (site / "fakepkg" / "__init__.py").write_text("def main():\n    print('fake swift ran')\n    return 0\n")
    (site / "fakepkg-1.0.dist-info").mkdir()
    (site / "fakepkg-1.0.dist-info" / "entry_points.txt").write_text(
        "[console_scripts]\nswift = fakepkg:main\n\n[other]\nx = fakepkg:main\n")
    names = gpu_check.write_console_scripts(site, tmp_path / "bin")
    assert names == ["swift"]
    p = subprocess.run([str(tmp_path / "bin" / "swift")], env={**os.environ, "PYTHONPATH": str(site)},
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout == "fake swift ran\n"


def test_eval_speed_is_completion_tokens_over_generation_seconds(tmp_path):
    rows = [{"completion_tokens": 30, "gen_seconds": 0.5}, {"completion_tokens": 10, "gen_seconds": 0.5},
            {"completion_tokens": 20, "gen_seconds": 1.0}]
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert gpu_check.generation_speed(tmp_path / "predictions.jsonl") == {
        "items": 3, "completion_tokens": 60, "generation_s": 2.0, "tokens_per_s": 30.0}
    assert gpu_check.generation_speed(tmp_path / "missing.jsonl") == {}
