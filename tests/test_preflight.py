"""The preflight (recipes/pipeline/preflight.py, machine.py), the environment check (recipes/envcheck.py) and recipes/_env.sh.

Machine facts are given as `Probe` values (what `probe_machine` reads on a GPU node), so every verdict is
checked here without a GPU; the real probe of this machine is checked too.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from GRPO.verl_command import verl_overrides
from recipes import envcheck
from recipes.pipeline.compose import compose
from recipes.pipeline.machine import Probe, probe_machine
from recipes.pipeline.preflight import FAIL, OK, WARN, PreflightError, apply, preflight, run_checks

ROOT = Path(__file__).resolve().parent.parent
STAGES = ["sft_data", "sft", "rl_data", "grpo", "merge", "eval"]
TB = 1 << 40
H100_NODE = dict(gpus=["NVIDIA H100 80GB HBM3"] * 8, driver="580.159.04", free_disk=4 * TB, host_memory=2 * TB,
                 modules={"flash_attn": "2.8.3", "deepspeed": "0.18.9", "vllm": "0.24.0", "verl": "0.9.1",
                          "wandb": "0.31.0"},
                 env={"WANDB_API_KEY": "k"})


def _probe(**changes) -> Probe:
    facts = {**H100_NODE, **changes}
    facts["modules"] = {**H100_NODE["modules"], **changes.get("modules", {})}
    return Probe(**facts)


def _by_check(result) -> dict[str, str]:
    return {v.check: v.status for v in result.verdicts}


def test_a_complete_8_gpu_node_passes_and_keeps_flash_attention():
    cfg = compose("qwen2_5_vl_7b")
    result = preflight(cfg, STAGES, _probe())
    assert not result.failures and all(v.status == OK for v in result.verdicts), result.verdicts
    assert result.config == {"grpo.attn_implementation": "flash_attention_2"} and result.env == {}


def test_without_flash_attn_the_fallback_is_loud_recorded_and_reaches_the_verl_command():
    cfg = compose("qwen2_5_vl_7b")
    result = preflight(cfg, STAGES, _probe(modules={"flash_attn": None}))
    flash = next(v for v in result.verdicts if v.check == "flash-attn")
    assert flash.status == WARN and "!!!" in flash.message and "use_remove_padding=false" in flash.message
    apply(cfg, result)
    assert cfg.grpo.attn_implementation == "sdpa" and cfg.grpo.padding_free is False
    ov = dict(o.split("=", 1) for o in verl_overrides(cfg, model_path="m", train_files="t", val_files="v",
                                                       checkpoint_dir="c"))
    assert ov["+actor_rollout_ref.model.override_config.attn_implementation"] == "sdpa"
    assert ov["actor_rollout_ref.model.use_remove_padding"] == "false"


@pytest.mark.parametrize("overrides, probe, check, words", [
    (["grpo.attn_implementation=flash_attention_2"], {"modules": {"flash_attn": None}}, "flash-attn", "pinned"),
    ([], {"gpus": ["NVIDIA H100 80GB HBM3"] * 4}, "gpus", "cluster.nproc_per_node=4"),
    ([], {"gpus": []}, "gpus", "GPU node"),
    ([], {"driver": "550.54.15"}, "driver", "upgrade the driver"),
    ([], {"modules": {"deepspeed": None}}, "deepspeed", "sft.deepspeed=null"),
    ([], {"modules": {"vllm": None}}, "vllm", "RLCS_EXTRAS=dev,gpu"),
    ([], {"modules": {"wandb": None}}, "wandb", "grpo.loggers=[console]"),
])
def test_each_missing_piece_fails_with_its_fix(overrides, probe, check, words):
    result = preflight(compose("qwen2_5_vl_7b", overrides), STAGES, _probe(**probe))
    failed = {v.check: v.message for v in result.failures}
    assert list(failed) == [check], result.verdicts
    assert words in failed[check] or (words == "pinned" and "flash_attention_2 but" in failed[check])


def test_deepspeed_is_only_asked_for_when_sft_uses_it_on_gpus():
    probe = _probe(modules={"deepspeed": None})
    assert "deepspeed" not in _by_check(preflight(compose("qwen2_5_vl_7b", ["sft.deepspeed=null"]), STAGES, probe))
    assert "deepspeed" not in _by_check(preflight(compose("qwen2_5_vl_7b"), ["rl_data", "grpo"], probe))
    assert "deepspeed" not in _by_check(preflight(compose("tiny_gpu"), STAGES, probe))  # one GPU: no ZeRO


def test_wandb_without_a_key_goes_offline_once_and_respects_the_users_mode():
    cfg = compose("qwen2_5_vl_7b")
    keyless = preflight(cfg, STAGES, _probe(env={}))
    assert keyless.env == {"WANDB_MODE": "offline"}
    assert [v.status for v in keyless.verdicts if v.check == "wandb"] == [WARN]
    assert preflight(cfg, STAGES, _probe(env={"WANDB_MODE": "disabled"})).env == {}
    assert "wandb" not in _by_check(preflight(compose("tiny"), ["grpo"], _probe(env={})))  # console only


def test_disk_and_memory_estimates_name_the_7b_checkpoint_size():
    cfg = compose("qwen2_5_vl_7b")
    small = preflight(cfg, STAGES, _probe(free_disk=200 << 30, host_memory=64 << 30))
    verdicts = {v.check: v for v in small.verdicts}
    assert verdicts["disk"].status == FAIL and "x7 kept" in verdicts["disk"].message  # cannot fit: refused
    assert "~92.6 GiB" in verdicts["disk"].message  # 8.29e9 params x (fp32 4 + Adam 8) bytes
    assert "RLCS_DISK_CHECK=warn" in verdicts["disk"].message  # the override is named
    assert verdicts["host memory"].status == WARN and "host OOM" in verdicts["host memory"].message
    assert [v.check for v in small.failures] == ["disk"]  # the memory estimate only warns
    forced = preflight(cfg, STAGES, _probe(free_disk=200 << 30, host_memory=64 << 30,
                                           env={"RLCS_DISK_CHECK": "warn"}))
    assert not forced.failures and _by_check(forced)["disk"] == WARN


def test_disk_need_follows_the_dtype_and_counts_ms_swift_grpo_checkpoints():
    from recipes.pipeline.preflight import disk_need

    bf16 = disk_need(compose("qwen2_5_vl_7b"), ["sft"], 1e9)["sft"]
    fp32 = disk_need(compose("qwen2_5_vl_7b", ["model.torch_dtype=float32"]), ["sft"], 1e9)["sft"]
    assert fp32 == 2 * bf16 == 2 * 1e9 * 2 * 3  # weights only, save_total_limit 2 + the best
    full = disk_need(compose("qwen2_5_vl_7b", ["sft.save_only_model=false"]), ["sft"], 1e9)["sft"]
    assert full == 1e9 * (2 + 12) * 3  # weights + fp32 master and Adam moments
    swift = disk_need(compose("qwen2_5_vl_7b", ["grpo.backend=swift"]), ["grpo"], 1e9)
    assert swift["grpo"] == 1e9 * (2 + 12) * 7  # ms-swift GRPO saves full checkpoints, save_limit kept


def test_a_resumed_run_counts_the_checkpoints_it_already_holds(tmp_path, monkeypatch):
    import recipes.pipeline.cost as cost
    import recipes.pipeline.preflight as pf

    monkeypatch.setitem(cost.KNOWN_PARAMS, "org/one-million", 1e6)
    cfg = compose("qwen2_5_vl_7b", [f"runs_dir={tmp_path}", "model.path=org/one-million"])
    need = 1e6 * 2 * 3  # weights-only bf16 SFT: save_total_limit 2 + the best
    held = tmp_path / "qwen2_5_vl_7b" / "sft" / "checkpoint-20"
    held.mkdir(parents=True)
    (held / "model.safetensors").write_bytes(b"\0" * int(need // 2))
    assert pf.check_disk(cfg, ["sft"], _probe(free_disk=int(need * 0.6)))[0].status == OK  # 0.6 free + 0.5 held
    assert pf.check_disk(cfg, ["sft"], _probe(free_disk=int(need * 0.4)))[0].status == FAIL


def test_a_real_run_refuses_and_a_dry_run_only_prints(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    probe = _probe(gpus=[])
    printed: list[str] = []
    result = run_checks(compose("qwen2_5_vl_7b"), STAGES, printed.append, dry_run=True, probe=probe)
    assert result.failures and any("a real run would refuse" in line for line in printed)
    with pytest.raises(PreflightError, match="gpus: 0 GPU"):
        run_checks(compose("qwen2_5_vl_7b"), STAGES, printed.append, dry_run=False, probe=probe)


def test_cpu_recipe_needs_no_gpu_checks():
    result = preflight(compose("tiny"), STAGES, _probe(gpus=[], driver=None, modules={"vllm": None}))
    assert not result.failures and _by_check(result)["gpus"] == "skip"


def test_probe_of_this_machine_reads_real_facts(tmp_path):
    probe = probe_machine(str(tmp_path / "not" / "yet"))
    assert probe.free_disk > 0 and probe.host_memory > 1 << 30
    assert set(probe.modules) >= {"flash_attn", "deepspeed", "vllm", "verl", "wandb"}
    assert probe.modules["verl"] == "0.9.1"  # the project's venv
    assert len(probe.gpus) == 0 or probe.driver is not None


@pytest.mark.slow
def test_dry_runs_of_the_paper_recipes_print_verdicts_and_succeed_without_gpus(tmp_path):
    """What the closing note asks of this CPU machine: the 7B and 3B dry runs print the preflight and exit 0."""
    for recipe in ("qwen2_5_vl_7b", "qwen2_5_vl_3b"):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "RLCS_NO_INSTALL": "1", "CUDA_VISIBLE_DEVICES": ""}
        env.pop("WANDB_API_KEY", None)
        env.pop("WANDB_MODE", None)
        p = subprocess.run(["bash", f"recipes/{recipe}.sh", "dry_run=true", "stages=[sft,grpo]",
                            f"runs_dir={tmp_path}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-3000:]
        assert "[preflight]" in p.stdout and f"{FAIL} gpus" in p.stdout and "WANDB_MODE=offline" in p.stdout
        assert "actor_rollout_ref.actor.clip_ratio_high=0.3" in p.stdout
        assert "installing" not in p.stderr


def test_env_sh_dry_run_with_the_gpu_extra_installs_nothing(tmp_path):
    """`RLCS_EXTRAS=dev,gpu bash recipes/tiny_gpu.sh dry_run=true` on a venv without vLLM: no install (and
    RLCS_NO_INSTALL=1 turns any attempt into exit 3 instead of touching the shared venv)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RLCS_EXTRAS": "dev,gpu", "RLCS_NO_INSTALL": "1"}
    p = subprocess.run(["bash", "recipes/tiny_gpu.sh", "dry_run=true", "stages=[rl_data]", f"runs_dir={tmp_path}"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "the gpu extra is not installed for a plan" in p.stderr and "installing" not in p.stderr
    real = subprocess.run(["bash", "-c", "source recipes/_env.sh"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    if envcheck.unmet(envcheck.wanted(str(ROOT / "pyproject.toml"), ["dev", "gpu"])):
        assert real.returncode == 3 and "vllm" in real.stderr and "not installing" in real.stderr


def test_envcheck_follows_extras_and_pins(tmp_path):
    project = tmp_path / "pyproject.toml"
    project.write_text('[project]\nname = "x"\ndependencies = ["verl==0.9.1", "omegaconf>=2.3,<2.4"]\n'
                       '[project.optional-dependencies]\ngpu = ["verl[vllm]==0.9.1"]\nold = ["verl==0.8.0"]\n')
    assert envcheck.unmet(envcheck.wanted(str(project), [])) == []
    assert envcheck.unmet(envcheck.wanted(str(project), ["old"])) == ["verl==0.8.0 (installed: 0.9.1)"]
    gpu = envcheck.unmet(envcheck.wanted(str(project), ["gpu"]))
    assert ("vllm==0.24.0 (not installed)" in gpu) == (not _has("vllm"))
    with pytest.raises(SystemExit, match="no extra 'cuda'"):
        envcheck.wanted(str(project), ["cuda"])


def _has(dist: str) -> bool:
    try:
        envcheck.metadata.version(dist)
    except envcheck.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_gpu_check_rehearses_up_to_the_gpu_stages(tmp_path):
    """scripts/gpu_check.sh --dry-run with this venv: tiny world, the real sft_data and rl_data conversions
    (each in its own process session under its timeout), then the GPU stages planned (preflight and cost
    forecast included) and recorded as skipped with the reason, all in one JSON file."""
    import json
    import sys

    out = tmp_path / "figures.json"
    env = {**os.environ, "RLCS_PYTHON": sys.executable, "RLCS_GPU_CHECK_WORK": str(tmp_path / "work")}
    p = subprocess.run(["bash", "scripts/gpu_check.sh", "--dry-run", "--out", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    figures = json.loads(out.read_text())
    stages = figures["stages"]
    assert stages["sft_data"]["exit"] == stages["rl_data"]["exit"] == figures["plan"]["exit"] == 0
    assert stages["rl_data"]["figures"]["outputs"]["rows_train"] > 0
    assert set(figures["skipped"]) == {"sft", "grpo", "merge", "eval"}
    assert all("--dry-run" in why for why in figures["skipped"].values())
    assert {"tiny_world", "sft_data", "rl_data", "total"} <= set(figures["timings_s"])
    assert any(line.startswith("[cost]") for line in figures["forecast"])
    log = Path(figures["plan"]["log"]).read_text()
    assert "[preflight]" in log and "[cost] forecast" in log and "verl.trainer.main_ppo" in log
    assert "--deepspeed zero2" in log and "--gradient_checkpointing true" in log
    assert "trainer.total_training_steps=2" in log and "actor_rollout_ref.rollout.enforce_eager=true" in log


def test_an_eval_only_plan_checks_for_a_gpu_and_a_ray_plan_leaves_the_gpus_to_ray():
    cfg = compose("qwen2_5_vl_7b")
    gpus = next(v for v in preflight(cfg, ["eval"], _probe(gpus=[], driver=None)).verdicts if v.check == "gpus")
    assert gpus.status == FAIL and "needs 1 per node" in gpus.message
    assert _by_check(preflight(cfg, ["eval"], _probe(gpus=["NVIDIA H100 80GB HBM3"])))["gpus"] == OK
    on_ray = compose("qwen2_5_vl_7b", ["cluster=ray", "cluster.nnodes=2"])
    gpus = next(v for v in preflight(on_ray, STAGES, _probe(gpus=[], driver=None)).verdicts if v.check == "gpus")
    assert gpus.status not in (FAIL, WARN) and "2 node(s) x 8" in gpus.message
