"""Grading classes on official rows and outputs (tests/fixtures/official_grading.json, each case names its
source): several-letter golds, inline options, the gold letter with another option's text, same-text letters,
computations ending in the value, out-of-range letters, named left sides and units, and MathVerse Vision Only
rows read through `question_for_eval`. The training reward gets the same verdicts where the rule applies."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from evaluation.bench_data import item_from_row
from evaluation.bench_specs import SPECS
from evaluation.judge import judge_prompt
from evaluation.report import render_markdown
from evaluation.score import aggregate, score_row, score_rows
from reward_fns.verl_reward import compute_score

CASES = json.loads((Path(__file__).parent / "fixtures" / "official_grading.json").read_text(encoding="utf-8"))["cases"]
_IMAGE_COL = {"mathvista": "decoded_image", "mathvision": "decoded_image", "mathverse": "image", "wemath": "image"}


def _record(case: dict) -> dict:
    img = Image.new("RGB", (28, 28), "white")
    return item_from_row(SPECS[case["benchmark"]], {**case["row"], _IMAGE_COL[case["benchmark"]]: img},
                         f"fixture {case['source']}").record()


def _ids() -> list[str]:
    seen: Counter = Counter()
    out = []
    for c in CASES:
        seen[c["class"]] += 1
        out.append(f"{c['class']}-{seen[c['class']]}")
    return out


def test_every_class_has_right_and_wrong_cases():
    by_class: dict[str, set[bool]] = {}
    for c in CASES:
        by_class.setdefault(c["class"], set()).add(c["correct"])
    assert len(by_class) >= 8
    assert all(v == {True, False} for v in by_class.values()), by_class


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_official_case(case: dict):
    verdict = score_row({**_record(case), "response": case["response"]}, fallback=False)
    assert verdict["correct"] is case["correct"], (case["source"], case["response"][-120:], verdict)


@pytest.mark.parametrize("case", [c for c in CASES if c["benchmark"] != "mathvista"],
                         ids=[i for i, c in zip(_ids(), CASES) if c["benchmark"] != "mathvista"])
def test_training_reward_agrees(case: dict):
    """The GRPO reward (verl face) with the item's options and problem text gives the evaluation's verdict
    (MathVista golds are option texts mapped to letters by the loader, so they are left to the evaluation)."""
    rec = _record(case)
    extra = {"options": rec["options"], "problem": rec["question"]}
    out = compute_score("official", case["response"], rec["gold"], extra)
    assert bool(out["acc"]) is case["correct"], (case["source"], case["response"][-120:], out)


def test_vision_only_options_and_judge_read_question_for_eval():
    case = next(c for c in CASES if c["class"] == "vision_only_question_for_eval")
    rec = _record(case)
    assert case["row"]["question"] == "" and rec["options"] == ["40°", "60°", "120°", "140°"]
    prompt = judge_prompt({**rec, "response": "\\boxed{140°}"})
    assert "Choices:" in prompt and "D:140°" in prompt


def test_mathverse_as_reported_all_five_versions_and_vision_only():
    base = next(c for c in CASES if c["class"] == "vision_only_question_for_eval")
    versions = ("Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only")
    rows = []
    for k, version in enumerate(versions):
        row = {**_record(base), "id": f"mathverse/{k}", "response": "\\boxed{D}" if k % 2 == 0 else "\\boxed{A}"}
        row["meta"] = {**row["meta"], "problem_version": version}
        rows.append(row)
    res = aggregate(*score_rows(rows))
    rep = res["benchmarks"]["mathverse"]["as_reported"]
    assert rep["all_five"] == {"n": 5, "correct": 3, "accuracy": 60.0}
    assert rep["vision_only"] == {"n": 1, "correct": 1, "accuracy": 100.0}
    assert "all five versions (the authors' overall) 60.00 (3/5) | Vision Only 100.00 (1)" in render_markdown(res, "t")


def test_average_is_over_the_papers_benchmarks_only():
    """The tiny report's avg: a held-in slice is no benchmark of the paper's (15.4 beside four zeros)."""
    heldin = {"id": "heldin/1", "benchmark": "heldin", "gold": "3", "response": "\\boxed{3}", "options": None,
              "question": "q", "answer_kind": "integer", "meta": {}}
    verse = next(c for c in CASES if c["class"] == "vision_only_question_for_eval")
    wrong = {**_record(verse), "response": "\\boxed{A}"}
    res = aggregate(*score_rows([heldin, wrong]))
    assert res["benchmarks"]["heldin"]["accuracy"] == 100.0
    assert res["average"] == 0.0 and res["average_over"] == ["mathverse"]
    assert aggregate(*score_rows([heldin]))["average"] is None
