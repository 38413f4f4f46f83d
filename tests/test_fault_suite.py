"""The fault suite (issue 29): the tiny pipeline's runner (`python -m recipes.pipeline tiny`, a real process)
killed with SIGKILL at chosen points of a stage, alone or with its whole process group, then rerun; the result is
compared with an uninterrupted run: equal outputs, or the difference the README's reliability table documents.
The cheap faults (torn files, empty and corrupt inputs, the lock) are in tests/test_faults.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.faults, pytest.mark.timeout(1200)]  # a tiny stage run twice or thrice: minutes

ROOT = Path(__file__).resolve().parents[1]
SFT = ["stages=[sft_data,sft]", "data.max_rows=24", "sft.per_device_train_batch_size=2", "sft.global_batch_size=2",
       "sft.num_train_epochs=1", "sft.save_steps=4", "sft.save_total_limit=10", "sft.split_dataset_ratio=0",
       "sft.logging_steps=1", "sft.report_to=[none]", "sft.warmup_ratio=0.2"]
"""12 optimizer steps, a checkpoint every 4, warmup then cosine decay: a restarted schedule shows at once."""


def start(runs: Path, *overrides: str) -> subprocess.Popen:
    """The runner as an operator starts it, in its own process group; output to `<runs>/runner.log`."""
    runs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    with open(runs / "runner.log", "a") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "recipes.pipeline", "tiny", f"runs_dir={runs}", *overrides],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def finish(proc: subprocess.Popen, runs: Path, timeout_s: float = 900) -> None:
    assert proc.wait(timeout=timeout_s) == 0, (runs / "runner.log").read_text()[-3000:]


def wait_for(cond, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the runner ended ({proc.returncode}) before the kill point")
        time.sleep(0.2)
    raise AssertionError("the kill point was never reached")


def lock_free(run_dir: Path, timeout_s: float = 30) -> None:
    """Wait until the killed run's processes are gone (the guard kills its group within its grace)."""
    from recipes.pipeline.manifest import RunLock, RunLockedError

    end = time.monotonic() + timeout_s
    while True:
        try:
            with RunLock(run_dir):
                return
        except RunLockedError:
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


def lr_by_step(output_dir: Path) -> dict[int, float]:
    """The learning rate ms-swift logged at each step (a resumed step's last record wins)."""
    out = {}
    for line in (output_dir / "logging.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "learning_rate" in row and "global_step/max_steps" in row:
            out[int(row["global_step/max_steps"].split("/")[0])] = float(row["learning_rate"])
    return out


def max_weight_diff(a: Path, b: Path) -> float:
    from safetensors.torch import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


@pytest.mark.slow
def test_sft_killed_after_a_checkpoint_resumes_on_the_uninterrupted_schedule(tmp_path, tiny_world):
    """SIGKILL to the runner alone (as the OOM killer does) after checkpoint-4: its trainer dies with it, the
    rerun resumes from checkpoint-4 with optimizer and scheduler state and ends where an uninterrupted run ends."""
    whole = start(tmp_path / "whole", *SFT)
    killed_runs = tmp_path / "killed"
    killed = start(killed_runs, *SFT)
    out = killed_runs / "tiny" / "sft" / "output"
    wait_for(lambda: (out / "checkpoint-4" / "trainer_state.json").exists() and 6 in lr_by_step(out), 900, killed)
    killed.send_signal(signal.SIGKILL)  # the runner only: its guard takes swift and its trainer down
    killed.wait()
    lock_free(killed_runs / "tiny")
    manifest = json.loads((killed_runs / "tiny" / "manifest.json").read_text())
    assert manifest["stages"]["sft"]["status"] == "running"  # left resumable by the kill
    finish(killed := start(killed_runs, *SFT), killed_runs)
    finish(whole, tmp_path / "whole")

    log = (killed_runs / "tiny" / "sft" / "log.txt").read_text().split("\n# ")[-1]
    assert "--resume_from_checkpoint" in log and "--resume_only_model" not in log
    lr_whole, lr_resumed = lr_by_step(tmp_path / "whole" / "tiny" / "sft" / "output"), lr_by_step(out)
    assert sorted(lr_resumed) == sorted(lr_whole) == list(range(1, 13))
    assert lr_resumed == pytest.approx(lr_whole, rel=1e-6)  # the same schedule, step by step
    diff = max_weight_diff(tmp_path / "whole" / "tiny" / "sft" / "output" / "checkpoint-12", out / "checkpoint-12")
    print(f"sft resumed vs uninterrupted: lr at step 6 {lr_resumed[6]:.6g} vs {lr_whole[6]:.6g}; "
          f"max |weight diff| {diff:.3g}")
    assert diff < 1e-4


EVAL = ["stages=[eval]", "eval.limit=3", "eval.batch_size=1", "eval.max_new_tokens=16"]
"""The base tiny model on 3 items of each of the 5 tiny benchmarks, one prediction row appended at a time."""


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_eval_killed_mid_generation_resumes_per_item_and_equals_an_uninterrupted_run(tmp_path, tiny_world):
    """SIGKILL to the runner's whole process group after 4 of 15 predictions; the rerun generates only the
    missing ones, and predictions (greedy) and results equal an uninterrupted run's."""
    whole = start(tmp_path / "whole", *EVAL)
    runs = tmp_path / "killed"
    killed = start(runs, *EVAL)
    pred = runs / "tiny" / "eval" / "predictions.jsonl"
    wait_for(lambda: len(_rows(pred)) >= 4, 900, killed)
    os.killpg(killed.pid, signal.SIGKILL)  # the runner and everything in its group
    killed.wait()
    lock_free(runs / "tiny")
    kept = len(_rows(pred))
    finish(start(runs, *EVAL), runs)
    finish(whole, tmp_path / "whole")
    rerun_log = (runs / "runner.log").read_text().split("[1/1] eval: resuming")[-1]
    assert f"generating {15 - kept} items ({kept} already done)" in rerun_log
    a, b = _rows(tmp_path / "whole" / "tiny" / "eval" / "predictions.jsonl"), _rows(pred)
    assert len(a) == len(b) == 15
    assert [(r["id"], r["response"]) for r in a] == [(r["id"], r["response"]) for r in b]
    ra = json.loads((tmp_path / "whole" / "tiny" / "eval" / "results.json").read_text())
    rb = json.loads((runs / "tiny" / "eval" / "results.json").read_text())
    assert (ra["benchmarks"], ra["average"]) == (rb["benchmarks"], rb["average"])


def test_a_second_runner_on_the_same_run_is_refused_in_one_line(tmp_path):
    """Two runs at once: the second runner process exits 2 naming the holder; nothing of the run is touched."""
    from recipes.pipeline.manifest import RunLock

    with RunLock(tmp_path / "tiny"):
        p = start(tmp_path, "stages=[sft_data]")
        assert p.wait(timeout=300) == 2
    log = (tmp_path / "runner.log").read_text()
    assert f"error: {tmp_path / 'tiny'} is in use by another runner (pid {os.getpid()}" in log
    assert not (tmp_path / "tiny" / "manifest.json").exists()


@pytest.mark.slow
def test_converter_killed_mid_conversion_resumes_to_the_same_bytes(tmp_path, tiny_world):
    """`rlcs convert-sft` SIGKILLed after its first chunks: the rerun resumes after the last complete chunk and
    writes the same file as an uninterrupted conversion."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

    def convert(out: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "recipes.pipeline.rlcs", "convert-sft", "--out", str(out),
                                 "data.sft_source=tiny:cold_start", "model.path=tiny:model", "data.max_rows=48",
                                 "--batch-size", "4", "data.num_workers=1", "--no-progress"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    state = tmp_path / "killed" / ".train.work" / "state.json"
    killed = convert(tmp_path / "killed")
    wait_for(lambda: state.exists() and json.loads(state.read_text())["next_row"] >= 8, 300, killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    done = json.loads(state.read_text())["next_row"]
    assert 0 < done < 48
    assert convert(tmp_path / "killed").wait(timeout=600) == 0
    assert convert(tmp_path / "whole").wait(timeout=600) == 0
    summary = json.loads((tmp_path / "killed" / "train.summary.json").read_text())
    assert summary["resumed_at"] == done and summary["rows"] == 48
    a = (tmp_path / "killed" / "train.jsonl").read_text().replace(str(tmp_path / "killed"), "X")
    b = (tmp_path / "whole" / "train.jsonl").read_text().replace(str(tmp_path / "whole"), "X")
    assert a == b


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs (root only; skipped where mounting is not allowed), unmounted afterwards."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root and a kernel that allows it")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_fails_in_one_line_and_the_rerun_resumes_to_the_same_bytes(small_tmpfs, tmp_path, tiny_world):
    """`rlcs convert-sft` into a tmpfs with ~160 KiB free: exit 2 with one line naming the row, the file and
    ENOSPC (no traceback); with the space freed the rerun resumes after the last complete chunk and writes the
    same file as a conversion that never ran out of space."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

    def convert(out: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "recipes.pipeline.rlcs", "convert-sft", "--out", str(out),
                               "data.sft_source=tiny:cold_start", "model.path=tiny:model", "data.max_rows=48",
                               "--batch-size", "4", "data.num_workers=1", "--no-progress"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)

    filler = small_tmpfs / "filler"
    filler.write_bytes(b"\0" * 880_000)  # a whole conversion needs ~240 KiB
    full = convert(small_tmpfs / "out")
    assert full.returncode == 2, full.stderr[-2000:]
    assert "Traceback" not in full.stderr
    line = [ln for ln in full.stderr.splitlines() if ln.startswith("error:")]
    assert len(line) == 1 and "No space left on device" in line[0] and str(small_tmpfs / "out") in line[0]
    assert not (small_tmpfs / "out" / "train.jsonl").exists()  # nothing half-written in the output's place

    filler.unlink()
    again = convert(small_tmpfs / "out")
    assert again.returncode == 0, again.stderr[-2000:]
    assert convert(tmp_path / "whole").returncode == 0
    summary = json.loads((small_tmpfs / "out" / "train.summary.json").read_text())
    assert summary["rows"] == 48 and 0 < summary["resumed_at"] < 48
    a = (small_tmpfs / "out" / "train.jsonl").read_text().replace(str(small_tmpfs / "out"), "X")
    b = (tmp_path / "whole" / "train.jsonl").read_text().replace(str(tmp_path / "whole"), "X")
    assert a == b
