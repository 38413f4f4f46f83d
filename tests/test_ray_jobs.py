"""Ray job submission against a real Ray head started here on 127.0.0.1 (torn down in a finally)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest

from recipes.pipeline import ray_jobs

sys.path.insert(0, str(Path(__file__).parent))
from ray_nodes import local_cluster

ROOT = Path(__file__).resolve().parent.parent
SECRET = "wandb-test-secret-0123456789abcdef"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a pipeline job on a real head: ~2 min idle


@pytest.fixture(scope="module")
def ray_head():
    """A real Ray head on 127.0.0.1 with its own ports and temp dir (tests/ray_nodes.py); yields the dashboard URL."""
    with local_cluster([{}]) as cluster:
        yield cluster.dashboard


def test_runtime_env_carries_code_only_and_masks_tokens(tmp_path):
    spec = ray_jobs.build_spec("tiny", ["runs_dir=/x"], ["sft_data"],
                               environ={"WANDB_API_KEY": SECRET, "HF_TOKEN": "hf_secret", "PATH": "/bin"})
    env = spec.runtime_env
    assert env["working_dir"] == str(ROOT)
    for pattern in (".git", ".venv", "/runs", "*.parquet", "/checkpoints", "*.safetensors"):
        assert pattern in env["excludes"]
    assert env["env_vars"]["WANDB_API_KEY"] == SECRET and "PATH" not in env["env_vars"]
    shown = json.dumps(spec.describe())
    assert SECRET not in shown and "hf_secret" not in shown and '"WANDB_API_KEY": "***"' in shown
    assert spec.entrypoint == "python -m recipes.pipeline tiny runs_dir=/x 'stages=[sft_data]'"


def test_runs_dir_is_made_durable_before_submission(tmp_path, monkeypatch):
    """A relative (or default) runs_dir would resolve inside Ray's per-session copy of the code."""
    monkeypatch.chdir(tmp_path)
    assert ray_jobs.durable_runs_dir(["grpo.rollout_n=4"], ROOT) == ["grpo.rollout_n=4", f"runs_dir={ROOT / 'runs'}"]
    assert ray_jobs.durable_runs_dir(["runs_dir=out/runs"], ROOT) == [f"runs_dir={tmp_path / 'out' / 'runs'}"]
    assert ray_jobs.durable_runs_dir(["runs_dir=/shared/runs"], ROOT) == ["runs_dir=/shared/runs"]


def test_runtime_env_leaves_out_what_git_ignores(tmp_path):
    """Ray reads .gitignore but not .git/info/exclude: a big folder excluded there must not be zipped."""
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("/wheels/\n")
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "part-00").write_bytes(b"0" * 1024)
    (tmp_path / "code.py").write_text("x = 1\n")
    excludes = ray_jobs.runtime_env(tmp_path)["excludes"]
    assert "/wheels/" in excludes and not any("code.py" in e for e in excludes)
    assert ray_jobs.git_ignored(tmp_path / "no_repo_here") == []


def _cpu_job(runs_dir: Path) -> tuple[list[str], list[str], str]:
    """The CPU stages of the tiny pipeline (the data converters) when they have landed, else the grpo plan."""
    if all(importlib.util.find_spec(m) is not None for m in ("SFT.data_stage", "GRPO.data_stage")):
        return ["tiny", f"runs_dir={runs_dir}"], ["sft_data", "rl_data"], "real"
    return ["tiny_gpu", f"runs_dir={runs_dir}", "dry_run=true"], ["grpo"], "dry_run"


@pytest.mark.cluster
def test_submitted_pipeline_job_runs_and_its_outputs_are_checked(ray_head, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    monkeypatch.chdir(tmp_path)  # a relative runs_dir, given after the flags: the submitter's ./runs, not Ray's copy
    args, stages, kind = _cpu_job(Path("runs"))
    job_id = f"rlcs-test-{os.getpid()}-{int(time.time())}"
    rc = _cli([args[0], "--stages", ",".join(stages), "--address", ray_head, "--job-id", job_id,
               "--follow", *args[1:]])
    captured = capsys.readouterr()
    printed = captured.out
    assert rc == 0, f"submit exited {rc}: {captured.err[-3000:]}"  # before asking for the job: it may not exist
    log = ray_jobs.logs(ray_head, job_id)
    assert ray_jobs.status(ray_head, job_id) == "SUCCEEDED"
    info = ray_jobs.client(ray_head).get_job_info(job_id)
    assert info.runtime_env["env_vars"]["WANDB_API_KEY"] == SECRET  # the token reached the job ...
    assert SECRET not in log and SECRET not in printed  # ... and was never shown
    if kind == "real":  # the job's stages wrote their outputs where the submitter can read them
        manifest = json.loads((tmp_path / "runs" / "tiny" / "manifest.json").read_text())
        sft_data, rl_data = manifest["stages"]["sft_data"], manifest["stages"]["rl_data"]
        assert sft_data["status"] == rl_data["status"] == "done"
        lines = Path(sft_data["outputs"]["train"]).read_text().splitlines()
        assert len(lines) == sft_data["outputs"]["rows"] > 0 and json.loads(lines[0])
        import pyarrow.parquet as pq

        table = pq.read_table(rl_data["outputs"]["train"])
        assert table.num_rows == rl_data["outputs"]["rows_train"] > 0
        assert {"prompt", "images", "reward_model"} <= set(table.column_names)
        assert SECRET not in json.dumps(manifest)
    else:  # the job ran the runner with the venv's interpreter and printed verl's full command
        assert f"{Path(sys.executable).parent}/python -m verl.trainer.main_ppo" in log
        assert "actor_rollout_ref.rollout.n=4" in log and "trainer.use_v1=false" in log
    assert f"submitted job {job_id}" in printed


@pytest.mark.cluster
def test_failing_job_reports_failure_and_log_tail(ray_head, tmp_path):
    spec = ray_jobs.build_spec("tiny", [f"runs_dir={tmp_path}", "grpo.rollout_n=not_a_number"], ["grpo"])
    job_id = ray_jobs.submit(ray_head, spec)
    with pytest.raises(ray_jobs.JobError) as err:
        ray_jobs.check_succeeded(ray_head, job_id, timeout_s=300)
    text = str(err.value)
    assert "FAILED" in text and "grpo.rollout_n" in text and "--- last lines ---" in text
    assert _cli(["status", job_id, "--address", ray_head]) == 0


@pytest.mark.cluster
def test_stop_a_running_job(ray_head):
    spec = ray_jobs.build_spec("tiny", [], None)
    spec.entrypoint = "python -c 'import time; time.sleep(300)'"
    job_id = ray_jobs.submit(ray_head, spec)
    deadline = time.monotonic() + 120
    while ray_jobs.status(ray_head, job_id) == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ray_jobs.stop(ray_head, job_id)
    assert ray_jobs.wait(ray_head, job_id, timeout_s=120) == "STOPPED"



@pytest.mark.cluster
def test_a_stopped_job_resubmitted_resumes_and_equals_an_uninterrupted_one(ray_head, tmp_path, monkeypatch):
    """The tiny pipeline's data stages as a Ray job, stopped (`ray job stop`) once its first stage is done, then
    the same command resubmitted: the finished stage is kept (not redone), the rest completes, and the outputs
    equal those of a job that was never stopped."""
    import pyarrow.parquet as pq

    monkeypatch.chdir(tmp_path)
    tag = f"{os.getpid()}-{int(time.time())}"

    def submit(runs: str, job_id: str, follow: bool) -> int:
        return _cli(["tiny", "--stages", "sft_data,rl_data", "--address", ray_head, "--job-id", job_id,
                     *(["--follow"] if follow else []), f"runs_dir={runs}"])

    manifest = tmp_path / "stopped" / "tiny" / "manifest.json"
    assert submit("stopped", f"rlcs-stop-{tag}", follow=False) == 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if manifest.exists() and json.loads(manifest.read_text())["stages"].get("sft_data", {}).get("status") == "done":
            break
        time.sleep(0.2)
    else:
        raise AssertionError("sft_data never finished in the first job")
    ray_jobs.stop(ray_head, f"rlcs-stop-{tag}")
    assert ray_jobs.wait(ray_head, f"rlcs-stop-{tag}", timeout_s=120) in ("STOPPED", "SUCCEEDED")
    first = json.loads(manifest.read_text())["stages"]["sft_data"]
    from recipes.pipeline.manifest import RunLock, RunLockedError

    end = time.monotonic() + 60  # the stopped runner's guarded group goes within its grace
    while True:
        try:
            with RunLock(manifest.parent):
                break
        except RunLockedError:
            assert time.monotonic() < end, "the stopped job's processes still hold the run"
            time.sleep(0.5)

    assert submit("stopped", f"rlcs-again-{tag}", follow=True) == 0
    assert submit("whole", f"rlcs-whole-{tag}", follow=True) == 0
    resumed = json.loads(manifest.read_text())["stages"]
    assert resumed["sft_data"]["started"] == first["started"]  # kept, not redone
    assert resumed["rl_data"]["status"] == "done"
    whole = json.loads((tmp_path / "whole" / "tiny" / "manifest.json").read_text())["stages"]
    a = Path(resumed["sft_data"]["outputs"]["train"]).read_text().replace(str(tmp_path / "stopped"), "X")
    b = Path(whole["sft_data"]["outputs"]["train"]).read_text().replace(str(tmp_path / "whole"), "X")
    assert a == b
    ta, tb = pq.read_table(resumed["rl_data"]["outputs"]["train"]), pq.read_table(whole["rl_data"]["outputs"]["train"])
    assert ta.num_rows == tb.num_rows > 0
    assert ta.drop_columns(["images"]).equals(tb.drop_columns(["images"]))

@pytest.mark.cluster
def test_job_keeps_the_nodes_pythonpath_behind_the_code(ray_head):
    """Packages a cluster finds through PYTHONPATH (a shared site folder) stay importable in the job."""
    spec = ray_jobs.build_spec("tiny", [], None)
    spec.entrypoint = "python -c 'import os; print(\"PP=\" + os.environ[\"PYTHONPATH\"])'"
    job_id = ray_jobs.submit(ray_head, spec)
    ray_jobs.check_succeeded(ray_head, job_id, timeout_s=300)
    printed = [line for line in ray_jobs.logs(ray_head, job_id).splitlines() if line.startswith("PP=")]
    assert len(printed) == 1, printed
    entries = printed[0].removeprefix("PP=").split(os.pathsep)
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]  # what the head started with
    assert "." in entries and all(p in entries[entries.index(".") + 1:] for p in inherited), (entries, inherited)


def _cli(argv: list[str]) -> int:
    from recipes.pipeline.submit import main

    return main(argv)
