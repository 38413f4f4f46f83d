"""Reflection analysis: the documented patterns, configurable lists, per-benchmark shares and accuracies."""

from __future__ import annotations

import pytest

from evaluation.reflection import (
    DEFAULT_PATTERNS,
    compile_patterns,
    reflection_markdown,
    reflection_stats,
    reflection_words,
)


@pytest.mark.parametrize("text", [
    "Wait, let me check the picture again: it is red.",
    "Hmm, I should re-evaluate the area.",
    "Let me double-check: 3 + 4 = 7.",
    "Let's recheck the sum.", "I need to reconsider this.", "Re-examining the figure, the angle is 30.",
    "Let me verify that.", "I'll think again about the units.",
])
def test_reflection_phrases_are_found(text: str) -> None:
    assert compile_patterns().search(text), text


@pytest.mark.parametrize("text", [
    "The largest shape in the picture is red. So its color is red. Therefore, the answer is \\boxed{red}.",
    "Waiting time is 5 minutes, so \\boxed{5}.",  # `wait` as a whole word only
    "The recipe checks out.", "",
])
def test_plain_reasoning_is_not_reflection(text: str) -> None:
    assert not compile_patterns().search(text), text


def test_words_and_custom_list() -> None:
    assert reflection_words("Wait. WAIT, let me verify.") == ["wait", "wait", "let me verify"]
    assert reflection_words("aha! so 3", patterns=[r"\baha\b"]) == ["aha"]
    assert reflection_words("wait", patterns=[r"\baha\b"]) == []
    with pytest.raises(ValueError, match=r"reflection pattern '\(' is not a valid"):
        compile_patterns(["("])
    assert len(DEFAULT_PATTERNS) == len(set(DEFAULT_PATTERNS))


def test_stats_per_benchmark_with_verdicts() -> None:
    rows = [
        {"id": "a/1", "benchmark": "a", "response": "Wait, let me check again. \\boxed{1}"},
        {"id": "a/2", "benchmark": "a", "response": "\\boxed{2}"},
        {"id": "a/3", "benchmark": "a", "response": "\\boxed{3}"},
        {"id": "b/1", "benchmark": "b", "response": "I re-evaluate: \\boxed{1}"},
        {"id": "b/2", "benchmark": "b", "response": "wait... \\boxed{2}"},
    ]
    correct = {"a/1": False, "a/2": True, "a/3": False, "b/1": True, "b/2": True}
    stats = reflection_stats(rows, correct)
    a, b, overall = stats["benchmarks"]["a"], stats["benchmarks"]["b"], stats["overall"]
    assert (a["n"], a["reflection_n"], a["reflection_share"]) == (3, 1, 33.33)
    assert a["with"] == {"n": 1, "accuracy": 0.0} and a["without"] == {"n": 2, "accuracy": 50.0}
    assert b["reflection_share"] == 100.0 and b["with"]["accuracy"] == 100.0
    assert b["without"] == {"n": 0, "accuracy": None}
    assert (overall["n"], overall["reflection_n"], overall["reflection_share"]) == (5, 3, 60.0)
    assert overall["with"]["accuracy"] == 66.67 and overall["without"]["accuracy"] == 50.0
    md = reflection_markdown(stats)
    assert "| a | 3 | 33.3% (1) | 0.0 | 50.0 |" in md and "| b | 2 | 100.0% (2) | 100.0 | - |" in md


def test_rollout_rows_carry_their_own_reward_and_bad_rows_are_named() -> None:
    rows = [{"response": "wait, \\boxed{1}", "reward": 1.0}, {"response": "\\boxed{2}", "reward": 0.0},
            {"response": "\\boxed{2}", "correct": True}]
    stats = reflection_stats(rows)
    assert stats["benchmarks"]["all"]["with"] == {"n": 1, "accuracy": 100.0}
    assert stats["overall"]["without"] == {"n": 2, "accuracy": 50.0}
    with pytest.raises(ValueError, match=r"row 1 \(id 'x'\): no verdict"):
        reflection_stats([{"response": "a", "reward": 1}, {"id": "x", "response": "b"}])
    with pytest.raises(ValueError, match=r"row 0 \(id None\): no 'response'"):
        reflection_stats([{"reward": 1}])


def test_eval_report_has_the_reflection_table(tmp_path) -> None:
    import json

    from PIL import Image

    from evaluation.bench_data import item_from_row
    from evaluation.bench_specs import SPECS
    from evaluation.run import rescore

    img = Image.new("RGB", (28, 28))
    responses = {"1": "Wait, let me check again: \\boxed{1}", "2": "\\boxed{5}", "3": "\\boxed{3}"}
    with open(tmp_path / "predictions.jsonl", "w") as f:
        for i, text in responses.items():
            item = item_from_row(SPECS["mathvision"], {"id": i, "question": "q", "options": [], "decoded_image": img,
                                                       "answer": i}, "t")
            f.write(json.dumps({**item.record(), "response": text, "settings": {"model": "m"}}) + "\n")
    res = rescore(tmp_path / "predictions.jsonl", tmp_path / "out")
    refl = res["reflection"]["benchmarks"]["mathvision"]
    assert (refl["n"], refl["reflection_n"], refl["with"]["accuracy"], refl["without"]["accuracy"]) == (3, 1, 100.0, 50.0)
    assert json.loads((tmp_path / "out" / "results.json").read_text())["reflection"]["overall"]["reflection_n"] == 1
    assert "| mathvision | 3 | 33.3% (1) | 100.0 | 50.0 |" in (tmp_path / "out" / "results.md").read_text()
