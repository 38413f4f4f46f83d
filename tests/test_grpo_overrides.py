"""The grpo config group, its one verl override map, the parity table, the stage's plan and dispatch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from GRPO.config import GRPOConfig
from GRPO.train_stage import STAGE
from GRPO.verl_overrides import NO_COUNTERPART, PARITY, hydra_value, verl_overrides
from recipes.compose import compose
from recipes.pipeline import main as pipeline_main
from recipes.stage import StageContext, StageError

README = Path(__file__).resolve().parent.parent / "GRPO" / "README.md"
PATHS = {"model_path": "/m", "train_files": "/d/train.parquet", "val_files": "/d/val.parquet",
         "checkpoint_dir": "/r/grpo/checkpoints"}


def _as_dict(overrides: list[str]) -> dict[str, str]:
    return dict(o.split("=", 1) for o in overrides)


def test_paper_recipe_maps_to_reference_values():
    ov = _as_dict(verl_overrides(compose("qwen2_5_vl_7b"), **PATHS))
    expected = {
        "data.train_batch_size": "512", "data.max_prompt_length": "2048", "data.max_response_length": "2048",
        "data.seed": "1", "actor_rollout_ref.rollout.n": "10", "actor_rollout_ref.rollout.temperature": "0.7",
        "actor_rollout_ref.rollout.top_p": "0.99", "actor_rollout_ref.rollout.tensor_model_parallel_size": "2",
        "actor_rollout_ref.rollout.gpu_memory_utilization": "0.6", "actor_rollout_ref.actor.ppo_mini_batch_size": "128",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": "4",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu": "8",
        "actor_rollout_ref.actor.optim.lr": "1e-06", "actor_rollout_ref.actor.optim.weight_decay": "0.01",
        "actor_rollout_ref.actor.optim.lr_warmup_steps_ratio": "0.0", "actor_rollout_ref.actor.optim.clip_grad": "1.0",
        "actor_rollout_ref.actor.kl_loss_type": "low_var_kl", "actor_rollout_ref.actor.kl_loss_coef": "0.01",
        "actor_rollout_ref.actor.fsdp_config.param_offload": "true",
        "actor_rollout_ref.actor.fsdp_config.optimizer_offload": "true",
        "actor_rollout_ref.ref.fsdp_config.param_offload": "true", "trainer.save_freq": "5",
        "trainer.max_actor_ckpt_to_keep": "7", "trainer.total_epochs": "2", "trainer.logger": "[console,wandb]",
        "actor_rollout_ref.rollout.val_kwargs.temperature": "0.5", "actor_rollout_ref.rollout.val_kwargs.n": "1",
        "trainer.n_gpus_per_node": "8", "actor_rollout_ref.model.path": "/m", "trainer.use_v1": "false",
        "trainer.default_local_dir": "/r/grpo/checkpoints", "reward.custom_reward_function.name": "compute_score",
    }
    assert {k: ov.get(k) for k in expected} == expected
    assert Path(ov["reward.custom_reward_function.path"]).is_file()


@pytest.mark.parametrize("field", [f for f in dataclasses.fields(GRPOConfig)
                                   if f.name not in ("backend", "extra_overrides")], ids=lambda f: f.name)
def test_every_grpo_field_reaches_the_verl_command(field):
    base = verl_overrides(compose("qwen2_5_vl_7b"), **PATHS)
    value = getattr(GRPOConfig(), field.name)
    new = {bool: lambda v: not v, int: lambda v: v + 1, float: lambda v: v * 3 + 0.125, str: lambda v: v + "x",
           list: lambda v: ["console"], type(None): lambda v: 3}[type(value)](value)
    changed = verl_overrides(compose("qwen2_5_vl_7b", [f"grpo.{field.name}={hydra_value(new)}"]), **PATHS)
    assert changed != base, f"grpo.{field.name} does not change any verl override"


def test_extra_overrides_replace_mapped_keys():
    cfg = compose("qwen2_5_vl_7b", ["+grpo.extra_overrides={actor_rollout_ref.rollout.n: '3'}"])
    ov = verl_overrides(cfg, **PATHS)
    assert [o for o in ov if o.startswith("actor_rollout_ref.rollout.n=")] == ["actor_rollout_ref.rollout.n=3"]


def test_parity_table_lists_every_mapped_and_unmapped_key():
    text = README.read_text()
    for row in PARITY:
        assert f"`{row.verl_key}`" in text, f"{row.verl_key} missing from the parity table"
        assert f"`{row.reference_key}`" in text or row.reference_key.startswith("("), row.reference_key
    for key in NO_COUNTERPART:
        assert key.split(" ")[0] in text, key


def test_dry_run_prints_the_full_main_ppo_command(capsys, tmp_path):
    assert pipeline_main(["qwen2_5_vl_7b", "stages=[grpo]", "dry_run=true", f"runs_dir={tmp_path}"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "verl.trainer.main_ppo" in ln)
    for override in verl_overrides(compose("qwen2_5_vl_7b"), model_path="Qwen/Qwen2.5-VL-7B-Instruct",
                                   train_files="x", val_files="y", checkpoint_dir=str(tmp_path))[:40]:
        if not override.startswith(("data.train_files", "data.val_files", "trainer.default_local_dir")):
            assert override in line
    assert f"trainer.default_local_dir={tmp_path}/qwen2_5_vl_7b/grpo/checkpoints" in line
    assert "RAY_ADDRESS" not in line


def test_cluster_address_joins_that_ray_cluster(tmp_path):
    cfg = compose("qwen2_5_vl_7b", ["cluster=ray", f"runs_dir={tmp_path}"])
    ctx = StageContext(cfg, tmp_path / "r", "grpo", {}, {}, dry_run=True)
    assert STAGE.command(ctx).env["RAY_ADDRESS"] == "auto"
    assert STAGE.plan(ctx).outputs["checkpoint_dir"].endswith("grpo/checkpoints")


def test_actor_model_is_the_sft_checkpoint_when_sft_ran(tmp_path):
    cfg = compose("qwen2_5_vl_7b", [f"runs_dir={tmp_path}"])
    outputs = {"sft": {"checkpoint": "/ck/sft/checkpoint-9"}, "rl_data": {"train": "/t", "val": "/v"}}
    ctx = StageContext(cfg, tmp_path, "grpo", outputs, {}, dry_run=False)
    assert "actor_rollout_ref.model.path=/ck/sft/checkpoint-9" in STAGE.overrides(ctx)


def test_swift_backend_dispatch(tmp_path):
    """grpo.backend=swift plans an ms-swift `rlhf` command, not verl's main_ppo."""
    cfg = compose("tiny", [f"runs_dir={tmp_path}"])
    ctx = StageContext(cfg, tmp_path, "grpo", {}, {}, dry_run=True)
    rendered = " ".join(c.render() for c in STAGE.plan(ctx).commands)
    assert "rlhf" in rendered and "verl.trainer.main_ppo" not in rendered


def test_verl_on_a_cpu_is_refused_with_the_way_out(tmp_path):
    cfg = compose("tiny", [f"runs_dir={tmp_path}", "grpo.backend=verl"])
    ctx = StageContext(cfg, tmp_path, "grpo", {"rl_data": {"train": "t", "val": "v"}}, {"tiny:model": "/m"},
                       dry_run=False)
    with pytest.raises(StageError, match=r"grpo\.backend=swift"):
        STAGE.run(ctx)
    assert not (tmp_path / "grpo").exists()
