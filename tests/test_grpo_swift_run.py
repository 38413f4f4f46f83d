"""A real 2-step ms-swift GRPO run on the CPU with the tiny Qwen2.5-VL, then a resumed third step.

Checks what the issue asks: the reward function is called with the expected arguments (ground truths and
options of the rows, rollout_n completions per prompt), the checkpoint loads with transformers, per-step
reward means are recorded, and a rerun resumes from the newest checkpoint instead of starting over.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from GRPO import swift_backend
from GRPO.train_stage import STAGE
from recipes.pipeline.compose import compose
from recipes.stage import StageContext

ROWS = 6
TINY_GRPO = [
    "grpo.backend=swift", "grpo.rollout_engine=transformers", "grpo.rollout_n=2", "grpo.rollout_batch_size=2",
    "grpo.global_batch_size=2", "grpo.micro_batch_size_per_device_for_update=4",
    "grpo.micro_batch_size_per_device_for_experience=4", "grpo.max_response_length=16", "grpo.total_epochs=1",
    "grpo.save_freq=1", "grpo.save_limit=3", "grpo.val_freq=-1", "grpo.val_before_train=false",
    "grpo.loggers=[console]", "grpo.padding_free=false", "grpo.param_offload=false",
    "grpo.optimizer_offload=false", "grpo.ref_param_offload=false", "grpo.reward_num_workers=1",
    "grpo.gradient_checkpointing=false", "data.num_workers=1",
]


def _rl_parquet(world, out_dir: Path) -> tuple[Path, list[dict]]:
    """A few rows of the tiny RL set through the real rl_data converter (verl's schema)."""
    from GRPO.rl_rows import convert_rl
    from recipes.data.rows import RowSettings
    from recipes.pipeline.config import DataConfig

    settings = RowSettings.from_data(DataConfig(), str(world.model), system_prompt=None, max_pixels=200704,
                                     min_pixels=3136, max_prompt_length=1024, num_workers=1, max_rows=ROWS)
    summary = convert_rl("tiny:rl", str(world.datasets["rl"]), "train", out_dir, "train", settings, progress=False)
    path = Path(summary["output"])
    return path, pq.read_table(path).to_pylist()


def _ctx(tmp_path: Path, world, train: Path, max_steps: int) -> StageContext:
    cfg = compose("tiny", [*TINY_GRPO, f"grpo.max_steps={max_steps}", f"runs_dir={tmp_path}",
                           "stages=[rl_data,grpo]"])
    return StageContext(cfg, tmp_path / "tiny", "grpo", {"rl_data": {"train": str(train)}},
                        {"tiny:model": str(world.model)}, dry_run=False)


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_tiny_cpu_grpo_two_steps_then_resume(tiny_world, tmp_path, monkeypatch):
    train, rows = _rl_parquet(tiny_world, tmp_path / "rl_data")
    trace = tmp_path / "reward_calls.jsonl"
    monkeypatch.setenv("RLCS_REWARD_TRACE", str(trace))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    out = STAGE.run(_ctx(tmp_path, tiny_world, train, max_steps=2))

    # The reward: called once per step with 2 prompts x 2 completions and the rows' own gold answers.
    calls = [json.loads(line) for line in trace.read_text().splitlines()]
    assert len(calls) == 2
    golds = {(r["reward_model"]["ground_truth"], tuple(r["extra_info"]["options"] or ())) for r in rows}
    for call in calls:
        assert call["reward"] == "accuracy"
        assert len(call["completions"]) == 4 and all(isinstance(c, str) for c in call["completions"])
        assert call["solution"][0::2] == call["solution"][1::2]  # each prompt's group shares its gold
        for gold, options in zip(call["solution"], call["options"]):
            assert (gold, tuple(options or [])) in golds
        assert {"reward_model", "extra_info", "messages", "images", "solution", "options"} <= set(call["kwargs"])
        assert set(call["rewards"]) <= {0.0, 1.0}
    mean_of_calls = [sum(c["rewards"]) / 4 for c in calls]

    # The outputs: the newest checkpoint, the per-step reward means (matching what the reward returned).
    ckpt = Path(out["checkpoint"])
    assert ckpt.name == "checkpoint-2" and out["step"] == 2 and out["format"] == "hf"
    assert out["reward_mean"] == pytest.approx(mean_of_calls)
    assert (tmp_path / "tiny" / "grpo" / "log.txt").is_file()
    assert json.loads((tmp_path / "tiny" / "grpo" / "summary.json").read_text())["reward_mean"] == out["reward_mean"]
    info = swift_backend.validate_swift_checkpoint(ckpt)
    assert info["architecture"] == "Qwen2_5_VLForConditionalGeneration" and info["step"] == 2

    # The checkpoint loads with plain transformers, trained weights differ from the start, forward is finite.
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(ckpt, dtype=torch.float32)
    AutoProcessor.from_pretrained(ckpt)
    start = load_file(str(Path(tiny_world.model) / "model.safetensors"))
    trained = load_file(str(ckpt / "model.safetensors"))
    assert any(not torch.equal(start[k], trained[k]) for k in start if k in trained)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[151644, 872, 198, 16, 10, 16, 151645]])).logits
    assert torch.isfinite(logits).all()

    # A rerun with one more step resumes from checkpoint-2 (one more reward call, not three).
    out3 = STAGE.run(_ctx(tmp_path, tiny_world, train, max_steps=3))
    assert Path(out3["checkpoint"]).name == "checkpoint-3"
    assert len(trace.read_text().splitlines()) == 3
    assert out3["reward_mean"][:2] == pytest.approx(out["reward_mean"]) and len(out3["reward_mean"]) == 3
    assert "--resume_from_checkpoint" in (tmp_path / "tiny" / "grpo" / "log.txt").read_text()


def test_validate_swift_checkpoint_names_what_is_wrong(tiny_world, tmp_path):
    """A model dir without trainer state, then with a truncated weight file: each error says which file."""
    import shutil

    ckpt = tmp_path / "checkpoint-1"
    shutil.copytree(tiny_world.model, ckpt)
    with pytest.raises(swift_backend.SwiftCheckpointError, match=r"missing trainer_state\.json"):
        swift_backend.validate_swift_checkpoint(ckpt)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 1, "log_history": [
        {"step": 1, "reward": 0.25}, {"step": 1, "train_runtime": 3.0}]}))
    info = swift_backend.validate_swift_checkpoint(ckpt)
    assert info["step"] == 1 and info["num_parameters"] > 1_000_000
    assert swift_backend.reward_means(ckpt) == [0.25]
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(swift_backend.SwiftCheckpointError, match=r"model\.safetensors: unreadable safetensors"):
        swift_backend.validate_swift_checkpoint(ckpt)
