"""Step figures read back from lines written by verl's own console logger."""

from __future__ import annotations

import pytest
from verl.utils.logger.aggregate_logger import concat_dict_to_str

from GRPO.verl_metrics import parse_steps, summarize


def test_figures_from_verls_console_lines():
    lines = ["step:0 - val-core/tiny_rl/acc/mean@1:0.25", "INFO some other line"]
    for step, (score, secs) in enumerate([(0.1, 30.0), (0.25, 10.0), (0.5, 12.0)], 1):
        lines.append("(TaskRunner pid=1) " + concat_dict_to_str(
            {"critic/score/mean": score, "timing_s/step": secs, "perf/throughput": 100.0 * step,
             "perf/total_num_tokens": 4096, "perf/max_memory_allocated_gb": 1.5 + step, "note": "text"}, step))
    steps = parse_steps(lines)
    assert [s["step"] for s in steps] == [0, 1, 2, 3]
    summary = summarize(steps)
    assert summary["steps"] == 3 and summary["reward_mean_per_step"] == [0.1, 0.25, 0.5]
    assert summary["mean_step_s_after_first"] == 11.0 and summary["tokens_per_s_per_gpu_after_first"] == 250.0
    assert summary["actor_peak_gb"] == 4.5


def test_a_log_without_training_steps_is_an_error():
    with pytest.raises(ValueError, match="no training step"):
        summarize(parse_steps(["step:0 - val-core/x/acc/mean@1:0.5"]))
