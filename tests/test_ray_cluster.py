"""The SFT stage on Ray: a placement group over a real local two-node Ray cluster (recipes/ray_launch.py).

The fast tests check when Ray is used, what a dry run shows and how a rank's process tree is stopped; the slow ones
start a head (custom resource node_a) and a second node (node_b) on 127.0.0.1, each with its own ports and temp
dir (tests/ray_nodes.py, stopped whatever happens), and run the tiny SFT across both as 2 torch.distributed ranks
(gloo on the CPU), kill a rank mid-run, and submit the tiny pipeline as one Ray job to compare with a local run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from recipes import ray_launch
from recipes.pipeline import ray_jobs
from recipes.pipeline.compose import compose
from recipes.pipeline.runner import Runner

sys.path.insert(0, str(Path(__file__).parent))
from ray_nodes import local_cluster

ROOT = Path(__file__).resolve().parent.parent
SFT_SHORT = ["sft.per_device_train_batch_size=1", "sft.global_batch_size=2", "sft.save_steps=2", "sft.eval_steps=2",
             "sft.max_length=512", "sft.split_dataset_ratio=0", "sft.save_total_limit=3", "sft.report_to=[none]",
             "sft.logging_steps=1", "data.max_rows=8"]
"""A short tiny SFT: 8 rows, 2 sequences per optimizer step (1 per rank on 2 nodes), a checkpoint every 2 steps."""


# -- fast: no cluster -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("overrides", "environ", "expected"), [
    ([], {}, False),                                                    # tiny: cpu, no address
    (["cluster=ray"], {}, True),                                        # cluster=ray: address auto, launcher ray
    (["cluster.address=auto"], {}, True),                               # auto + an address
    ([], {ray_launch.RAY_JOB_ENV: "{}"}, True),                         # inside a Ray job
    (["cluster.launcher=local"], {ray_launch.RAY_JOB_ENV: "{}"}, False),
    (["cluster.launcher=ray"], {}, True),
])
def test_when_a_stage_asks_ray_for_its_nodes(overrides, environ, expected):
    cfg = compose("tiny", overrides)
    assert ray_launch.uses_ray(cfg.cluster, environ) is expected


def test_unknown_launcher_is_refused():
    with pytest.raises(ValueError, match=r"cluster\.launcher must be one of auto, ray, local, got 'slurm'"):
        ray_launch.uses_ray(compose("tiny", ["cluster.launcher=slurm"]).cluster, {})


def test_7b_on_two_ray_nodes_dry_run_shows_the_layout(tmp_path, capsys):
    lines: list[str] = []
    cfg = compose("qwen2_5_vl_7b", [f"runs_dir={tmp_path}", "stages=[sft]", "dry_run=true", "cluster=ray",
                                    "cluster.nnodes=2"])
    Runner(cfg, echo=lines.append).run()
    text = "\n".join(lines)
    cmd = next(line for line in lines if " sft --model" in line)
    assert "NPROC_PER_NODE=8 NNODES=2 NODE_RANK='<k>' MASTER_ADDR='<rank-0 node IP>' MASTER_PORT='<free port>'" in cmd
    assert "--gradient_accumulation_steps 4 " in cmd  # 64 = 1 x 8 x 2 x 4
    assert "global batch 64 = 1 per device x 8 processes per node x 2 node(s) x 4 accumulation steps" in text
    assert "placement group of 2 bundle(s) {'CPU': 8, 'GPU': 8}, STRICT_SPREAD" in text
    assert "node 0 (bundle 0): NODE_RANK=0, 8 GPU(s), global ranks 0-7, MASTER_ADDR" in text
    assert "node 1 (bundle 1): NODE_RANK=1, 8 GPU(s), global ranks 8-15" in text
    assert not (tmp_path / "qwen2_5_vl_7b").exists()


def test_without_ray_the_one_node_command_is_unchanged(tmp_path):
    lines: list[str] = []
    Runner(compose("qwen2_5_vl_7b", [f"runs_dir={tmp_path}", "stages=[sft]", "dry_run=true"]),
           echo=lines.append).run()
    cmd = next(line for line in lines if " sft --model" in line)
    assert "NPROC_PER_NODE=8 NNODES=1 NODE_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500" in cmd
    assert "PET_TEE" not in cmd and "placement group" not in "\n".join(lines)


def test_stop_ends_the_whole_process_tree_of_a_rank():
    """torchrun starts its workers in sessions of their own: stopping a rank must reach them too."""
    node = ray_launch.NodeProcess()
    script = ("import subprocess, sys, time; "
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True); "
              "print('started', flush=True); time.sleep(600)")
    pid = node.start([sys.executable, "-c", script], {}, None)
    lines, code = [], None
    deadline = time.monotonic() + 60
    while "started" not in lines and time.monotonic() < deadline:
        got, code = node.read(0.5)
        lines += got
    children = psutil.Process(pid).children(recursive=True)
    assert lines == ["started"] and code is None and len(children) == 1
    assert node.stop(grace_s=10) == -signal.SIGTERM
    assert not psutil.pid_exists(pid) and not any(c.is_running() and c.status() != "zombie" for c in children)


def test_a_rank_keeps_the_nodes_pythonpath_behind_the_commands(tmp_path, monkeypatch):
    """A rank's command sets PYTHONPATH (the swift backend does); packages the node finds only through its
    own PYTHONPATH stay importable, as for a stage run in the driver (recipes.stage.child_env)."""
    site, ours = tmp_path / "site", tmp_path / "ours"
    for folder, module in ((site, "only_in_site"), (ours, "only_in_ours")):
        folder.mkdir()
        (folder / f"{module}.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(site))
    node = ray_launch.NodeProcess()
    node.start([sys.executable, "-c", "import only_in_site, only_in_ours; print('imported', flush=True)"],
               {"PYTHONPATH": str(ours)}, None)
    lines, code = [], None
    deadline = time.monotonic() + 60
    while code is None and time.monotonic() < deadline:
        got, code = node.read(0.5)
        lines += got
    assert (lines, code) == (["imported"], 0)


def test_a_missing_executable_names_the_node():
    with pytest.raises(FileNotFoundError, match="every node needs the project installed"):
        ray_launch.NodeProcess().start(["/nowhere/swift-not-installed", "sft"], {}, None)


# -- slow: a real two-node cluster ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_nodes():
    with local_cluster([{"node_a": 1}, {"node_b": 1}], num_cpus=2) as cluster:
        yield cluster


def _ray_overrides(cluster, runs_dir: Path, *extra: str) -> list[str]:
    return [f"runs_dir={runs_dir}", "stages=[sft_data,sft]", "cluster.launcher=ray", f"cluster.address={cluster.gcs}",
            "cluster.placement_timeout_s=300", *SFT_SHORT, *extra]


def _pipeline(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "recipes.pipeline", "tiny", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _rank_nodes(log: str) -> dict[int, str]:
    """rank -> node id prefix, from the launcher's per-rank header lines in the stage log."""
    return {int(m[0]): m[1] for m in re.findall(r"\[rank (\d+)\] node \S+ \([\d.]+, (\w+)\) pid", log)}


def _node_names(cluster) -> dict[str, str]:
    """node id prefix (12) -> the custom resource that names it (node_a / node_b)."""
    names = {}
    for n in cluster.alive_nodes():
        names[n.node_id[:12]] = next(k for k in n.resources_total if k.startswith("node_") and ":" not in k
                                     and k in ("node_a", "node_b"))
    return names


def _no_live_placement_group(cluster) -> None:
    from ray.util.state import list_placement_groups

    live = [(p.name, p.state) for p in list_placement_groups(address=cluster.gcs, raise_on_missing_output=False)
            if p.name.startswith("rlcs-sft") and p.state != "REMOVED"]
    assert not live, f"placement groups left behind: {live}"


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.timeout(900)
def test_one_command_per_node_and_what_cannot_be_placed(two_nodes, tmp_path):
    """The generic launcher (any per-node command, e.g. one evaluation shard per node) and a clear placement error."""
    from recipes.stage import Command

    log = tmp_path / "log.txt"
    script = "import os, sys; print('shard', sys.argv[1], 'of 2 via', os.environ['MASTER_ADDR'], flush=True)"
    exits = ray_launch.run_on_nodes(
        lambda k, addr, port: Command([sys.executable, "-c", script, str(k)], {"MASTER_ADDR": f"{addr}:{port}"}),
        2, {"CPU": 1}, log, name="rlcs-sft-probe", address=two_nodes.gcs, timeout_s=120)
    text = log.read_text()
    assert [e.code for e in exits] == [0, 0] and exits[0].node_id != exits[1].node_id
    assert re.search(r"^\[rank 0\] shard 0 of 2 via [\d.]+:\d+$", text, re.M)
    assert re.search(r"^\[rank 1\] shard 1 of 2 via [\d.]+:\d+$", text, re.M)
    with pytest.raises(ray_launch.LaunchError, match=r"could not place 3 bundle\(s\) of \{'CPU': 1\} on 3 distinct "
                       r"node\(s\) within 5 s \(cluster.placement_timeout_s\); alive nodes: .*free now"):
        ray_launch.run_on_nodes(lambda k, a, p: Command(["true"], {}), 3, {"CPU": 1}, log, name="rlcs-sft-probe",
                                address=two_nodes.gcs, timeout_s=5)
    _no_live_placement_group(two_nodes)


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.timeout(900)
def test_tiny_sft_runs_as_two_ranks_on_two_nodes(two_nodes, tmp_path):
    from transformers import Qwen2_5_VLForConditionalGeneration

    t0 = time.monotonic()
    proc = _pipeline(_ray_overrides(two_nodes, tmp_path / "runs", "cluster.nnodes=2", "+sft.extra_args.max_steps=2"))
    out, _ = proc.communicate(timeout=1500)
    assert proc.returncode == 0, out[-4000:]
    run = tmp_path / "runs" / "tiny"
    entry = json.loads((run / "manifest.json").read_text())["stages"]["sft"]
    assert entry["status"] == "done" and entry["outputs"]["global_step"] == 2
    log = (run / "sft" / "log.txt").read_text()
    ranks = _rank_nodes(log)
    assert sorted(ranks) == [0, 1] and ranks[0] != ranks[1], ranks
    assert sorted(_node_names(two_nodes)[ranks[k]] for k in (0, 1)) == ["node_a", "node_b"]
    assert "NNODES=2 NODE_RANK=0 MASTER_ADDR=" in log and "NNODES=2 NODE_RANK=1 MASTER_ADDR=" in log
    assert re.search(r"^\[rank 0\] .*world_size: 2", log, re.M) and re.search(r"^\[rank 1\] .*world_size: 2", log, re.M)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(entry["outputs"]["checkpoint"])
    assert model.config.vision_config.depth == 2
    _no_live_placement_group(two_nodes)
    print(f"\n2-node SFT: {time.monotonic() - t0:.0f} s; ranks on {ranks}; checkpoint {entry['outputs']['checkpoint']}")


def _sft_worker_of_rank(log_path: Path, rank: int, timeout_s: float) -> psutil.Process:
    """The training process (torchrun's child) of node `rank`, once the launcher has logged its pid."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log_path.read_text() if log_path.exists() else ""
        m = re.search(rf"\[rank {rank}\] node .* pid (\d+) \$", text)
        if m:
            try:
                workers = [p for p in psutil.Process(int(m[1])).children(recursive=True)
                           if "swift/cli/sft.py" in " ".join(p.cmdline())
                           and "torch.distributed.run" in " ".join(p.parent().cmdline())]
            except psutil.Error:
                workers = []
            if workers:
                return workers[0]
        time.sleep(0.5)
    raise AssertionError(f"no training process of rank {rank} within {timeout_s:.0f} s")


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.timeout(900)
def test_a_killed_rank_fails_the_stage_and_a_rerun_resumes(two_nodes, tmp_path):
    args = _ray_overrides(two_nodes, tmp_path / "runs", "cluster.nnodes=2", "+sft.extra_args.max_steps=12")
    run = tmp_path / "runs" / "tiny"
    proc = _pipeline(args)
    try:
        worker = _sft_worker_of_rank(run / "sft" / "log.txt", 1, timeout_s=900)
        deadline = time.monotonic() + 900  # kill once checkpoint-2 is complete, mid-run
        while not (run / "sft" / "output" / "checkpoint-2" / "trainer_state.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before checkpoint-2"
            time.sleep(0.5)
        rank0_pid = int(re.search(r"\[rank 0\] node .* pid (\d+) \$", (run / "sft" / "log.txt").read_text())[1])
        worker.kill()
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, out[-3000:]
    assert re.search(r"rank 1 on \S+ \([\d.]+\) exited with -?\d+; stopped rank\(s\) 0", out), out[-3000:]
    entry = json.loads((run / "manifest.json").read_text())["stages"]["sft"]
    assert entry["status"] == "failed" and "rank 1" in entry["error"]
    assert not psutil.pid_exists(rank0_pid) or psutil.Process(rank0_pid).status() == "zombie"  # rank 0 stopped
    _no_live_placement_group(two_nodes)

    proc = _pipeline(args)  # the same command resumes from the last complete checkpoint
    out, _ = proc.communicate(timeout=1500)
    assert proc.returncode == 0, out[-4000:]
    attempt = (run / "sft" / "log.txt").read_text().split("# ")[-1]
    assert "--resume_from_checkpoint " + str(run / "sft" / "output" / "checkpoint-") in attempt
    entry = json.loads((run / "manifest.json").read_text())["stages"]["sft"]
    assert entry["status"] == "done" and entry["attempts"] == 2 and entry["outputs"]["global_step"] == 12
    _no_live_placement_group(two_nodes)


def _digest(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _outputs(run: Path) -> dict:
    """What the compared stages made: data files by content, the SFT checkpoint's files and tensors."""
    import pyarrow.parquet as pq
    from safetensors.torch import load_file

    manifest = json.loads((run / "manifest.json").read_text())["stages"]
    ckpt = Path(manifest["sft"]["outputs"]["checkpoint"])
    images = sorted((run / "sft_data" / "images").rglob("*.*"))
    return {
        "status": {k: v["status"] for k, v in manifest.items()},
        "sft_data": {  # the JSON lines name the run's own image paths: compared with the run dir masked
            "rows": manifest["sft_data"]["outputs"]["rows"], "images": _digest(images),
            "train": hashlib.sha256((run / "sft_data" / "train.jsonl").read_text().replace(str(run), "<run>")
                                    .encode()).hexdigest()},
        "rl_data": {k: pq.read_table(manifest["rl_data"]["outputs"][k]).to_pylist() for k in ("train", "val")},
        "sft_files": sorted(p.name for p in ckpt.iterdir()),
        "sft_step": manifest["sft"]["outputs"]["global_step"],
        "weights": load_file(str(ckpt / "model.safetensors")),
    }


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.timeout(900)
def test_tiny_pipeline_as_one_ray_job_matches_a_local_run(two_nodes, tmp_path):
    """The data stages and the SFT (through a one-bundle placement group in the job) against the same run locally."""
    import torch

    common = ["stages=[sft_data,sft,rl_data]", *SFT_SHORT, "+sft.extra_args.max_steps=2"]
    t0 = time.monotonic()
    local = _pipeline([f"runs_dir={tmp_path / 'local'}", *common])
    out, _ = local.communicate(timeout=1500)
    assert local.returncode == 0, out[-4000:]
    t_local = time.monotonic() - t0

    t0 = time.monotonic()
    spec = ray_jobs.build_spec("tiny", [f"runs_dir={tmp_path / 'job'}", *common[1:]], ["sft_data", "sft", "rl_data"],
                               python=sys.executable)
    job_id = ray_jobs.submit(two_nodes.dashboard, spec)
    ray_jobs.check_succeeded(two_nodes.dashboard, job_id, timeout_s=1500)
    t_job = time.monotonic() - t0
    log = ray_jobs.logs(two_nodes.dashboard, job_id)
    assert re.search(r"\[rank 0\] node \S+ \(", log), log[-3000:]  # the job's SFT ran through the placement group

    a, b = _outputs(tmp_path / "local" / "tiny"), _outputs(tmp_path / "job" / "tiny")
    assert a["status"] == b["status"] == {"sft_data": "done", "sft": "done", "rl_data": "done"}
    assert a["sft_data"] == b["sft_data"] and a["rl_data"] == b["rl_data"]
    assert a["sft_files"] == b["sft_files"] and a["sft_step"] == b["sft_step"] == 2
    assert a["weights"].keys() == b["weights"].keys()
    worst = max(float((a["weights"][k] - b["weights"][k]).abs().max()) for k in a["weights"])
    assert all(torch.allclose(a["weights"][k], b["weights"][k], atol=1e-5, rtol=1e-4) for k in a["weights"]), worst
    _no_live_placement_group(two_nodes)
    print(f"\nlocal run {t_local:.0f} s, Ray job {t_job:.0f} s; max |weight difference| {worst:.2e}")
