"""The cost model (recipes/pipeline/cost.py) against the figures it is built from, and the preflight's
warnings where a node falls short of it."""

from __future__ import annotations

import json

import pytest

from recipes.pipeline.compose import compose
from recipes.pipeline.cost import GB, cost_lines, estimate
from recipes.pipeline.machine import Probe
from recipes.pipeline.preflight import check_cost


def _stage(costs, name):
    return next(c for c in costs if c.stage == name)


def test_the_7b_forecast_reproduces_its_sources():
    """audit gpu-v2: GRPO 17-23 h for 124 steps without flash-attn (+0.5-1 h of saves), 14-19 h with it;
    SFT 2.5-4 h; >= 512 GB of host RAM a node; the bf16 merge writes half of the fp32 one."""
    cfg = compose("qwen2_5_vl_7b")
    costs = estimate(cfg, list(cfg.stages), flash_attn=False)
    grpo, sft = _stage(costs, "grpo"), _stage(costs, "sft")
    assert grpo.wall_s[0] / 3600 >= 17 and grpo.wall_s[1] / 3600 <= 24 and "124 steps" in grpo.basis
    assert sft.wall_s[0] / 3600 >= 2.4 and sft.wall_s[1] / 3600 <= 4.1
    assert grpo.host_gb >= 512 and grpo.gpu_gb[1] <= 80
    fast = _stage(estimate(cfg, ["grpo"], flash_attn=True), "grpo")
    assert 13.5 <= fast.wall_s[0] / 3600 < grpo.wall_s[0] / 3600 and fast.wall_s[1] / 3600 <= 20
    merge = _stage(costs, "merge")
    fp32 = _stage(estimate(compose("qwen2_5_vl_7b", ["merge.dtype=null"]), ["merge"]), "merge")
    assert "writes ~16.6 GB" in merge.basis and "writes ~33.2 GB" in fp32.basis
    lines = cost_lines(costs)
    assert lines[0].startswith("[cost]") and lines[-1].startswith("  total") and len(lines) == len(costs) + 2


def test_the_3b_costs_less_and_the_steps_follow_the_converted_data(tmp_path):
    big, small = compose("qwen2_5_vl_7b"), compose("qwen2_5_vl_3b")
    assert _stage(estimate(small, ["grpo"]), "grpo").wall_s[1] < _stage(estimate(big, ["grpo"]), "grpo").wall_s[0]
    (tmp_path / "rl_data").mkdir()
    (tmp_path / "rl_data" / "train.summary.json").write_text(json.dumps({"rows": 5120}))
    few = _stage(estimate(big, ["grpo"], run_dir=tmp_path), "grpo")
    assert few.basis.startswith("20 steps (5,120 rows from") and few.wall_s[1] < 5 * 3600


def _probe(memory_gb: float, flash: bool) -> Probe:
    return Probe(gpus=["NVIDIA H100 80GB HBM3"] * 8, driver="580.1", modules={"verl": "0.9.1", "vllm": "0.24.0",
                 "flash_attn": "2.8.3" if flash else None}, free_disk=10**13, host_memory=int(memory_gb * GB), env={})


@pytest.mark.parametrize(("memory_gb", "flash", "warned"), [(256, False, {"host RAM", "log-prob"}),
                                                           (1024, False, {"log-prob"}), (1024, True, set())])
def test_the_preflight_warns_where_the_node_falls_short(memory_gb, flash, warned):
    cfg = compose("qwen2_5_vl_7b")
    verdicts = check_cost(cfg, ["grpo"], _probe(memory_gb, flash))
    assert {v.check for v in verdicts} == warned and all(v.status == "warn" for v in verdicts)
    loop = [v.message for v in verdicts if v.check == "log-prob"]
    assert not loop or "over 124 steps" in loop[0]
    assert check_cost(cfg, ["sft"], _probe(64, False)) == []


def test_every_dry_run_prints_the_forecast(capsys):
    from recipes.pipeline.rlcs_run import main

    assert main(["qwen2_5_vl_3b", "dry_run=true", "stages=[grpo,merge]"]) == 0
    out = capsys.readouterr().out
    assert "[cost] forecast" in out and "  grpo " in out and "  merge " in out
