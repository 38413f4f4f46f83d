"""verl 0.9.1's own GRPO update path on a CPU, on the first real batch of the converted tiny RL set, then
verl's checkpoint of the updated actor merged by our merger, bit-exact (tests/verl_update_worker.py runs
it in a fresh process: verl's workers need torch.distributed, here gloo at world size 1).

What runs: tiny_gpu's verl config (`tiny:model_gpu`, head size 64) with sdpa and padding off (the
preflight's fallback without flash-attn); verl's dataset, sampler (data.seed) and collate; sampled
responses (transformers `generate` standing in for vLLM) assembled by verl's agent-loop code with the
(4, L) mRoPE position ids; verl's FSDP1 actor and reference engines through the trainer's
`_compute_old_log_prob`, `_compute_ref_log_prob` and `_update_actor`: packing with
`left_right_2_no_padding`, `maybe_fix_3d_position_ids`, mini-batches of ppo_mini_batch_size x n, micro-
batches of 4, forward and backward with `ppo_loss` and the low-var KL loss, gradient clipping, AdamW;
then the engine's `FSDPCheckpointManager.save_checkpoint` and our merger on its output.

verl has no CPU platform: tests/helpers/verl_cpu.py registers one through verl's plugin hook (device
`cpu`, gloo, no pinned memory). Only a GPU proves FSDP mixed precision (bf16 compute over fp32 shards:
on a CPU the autocast is CPU bf16 autocast) and CUDA sdpa's backward under gradient checkpointing; the
one-GPU proof (scripts/gpu_check.sh) runs those.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(1800)]  # verl's two FSDP engines and a real update on the CPU: minutes


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view({1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def test_verls_update_path_runs_on_the_first_tiny_batch_and_our_merger_is_bit_exact(tiny_world, tmp_path):
    from GRPO.rl_rows import convert_rl
    from recipes.data.rows import RowSettings
    from recipes.pipeline.compose import compose

    cfg = compose("tiny_gpu")
    data = tmp_path / "data"
    convert_rl("tiny:rl", str(tiny_world.datasets["rl"]), "train", data, "train",
               RowSettings.from_data(cfg.data, str(tiny_world.model_gpu), num_workers=1), progress=False)
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    # responses capped at 48 tokens (tiny_gpu: 128) to keep the CPU run short; the lengths still vary
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "verl_update_worker.py"), "--model",
                           str(tiny_world.model_gpu), "--data", str(data), "--out", str(out),
                           "grpo.max_response_length=48"], env=env, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    report = json.loads((out / "update.json").read_text())
    print(json.dumps(report, indent=1))

    # the batch: 8 prompts x n 4 of varied lengths (no one-length batch), (B, 4, L) mRoPE position ids
    assert len(report["sequence_lengths"]) == 32 and len(set(report["sequence_lengths"])) > 1
    assert report["position_ids_shape"][:2] == [32, 4]
    m = report["metrics"]
    # one mini-batch (8 prompts x 4) of 8 micro-batches of 4; step 1: actor = reference, so the KL is 0
    assert len(m["actor/kl_coef"]) == 8 and m["actor/kl_loss"] == [0.0] and report["kl_old_vs_ref_abs_max"] == 0
    grad = m["actor/grad_norm"][0]
    assert math.isfinite(grad) and grad > 0 and all(math.isfinite(x) for x in m["actor/pg_loss"])
    assert report["advantage_abs_max"] > 0 and 0 < report["tensors_changed"] <= report["tensors"]

    # verl's checkpoint (FSDP1, world size 1) -> our merger: every tensor bit-identical to the updated actor
    actor = out / "global_step_1" / "actor"
    assert json.loads((actor / "fsdp_config.json").read_text())["world_size"] == 1
    merged = tmp_path / "merged"
    assert_merge_is_bit_exact(actor, merged, out / "ref" / "full_state.pt")


def assert_merge_is_bit_exact(actor: Path, merged: Path, full_state: Path) -> None:
    """Our merger's output, loaded by transformers (which maps the checkpoint's names onto the module's),
    holds every tensor of the updated actor bit for bit."""
    import transformers
    from transformers import AutoConfig

    from GRPO.merger import merge

    report = merge(actor, merged)
    assert report.world_size == 1 and report.dtype == "float32"
    assert len(load_safetensors(merged)) > 10
    config = AutoConfig.from_pretrained(merged)
    loaded = getattr(transformers, config.architectures[0]).from_pretrained(merged, dtype=torch.float32).state_dict()
    full = torch.load(full_state)
    assert set(loaded) == set(full)
    for name, tensor in full.items():
        assert loaded[name].dtype == tensor.dtype, name
        assert torch.equal(_bits(loaded[name]), _bits(tensor)), f"{name} differs from the updated actor"


def load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for f in sorted(path.glob("*.safetensors")):
        out.update(load_file(f))
    return out
