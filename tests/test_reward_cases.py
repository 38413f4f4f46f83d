"""The reward case table through the grader and the three faces' shared scoring."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from reward_cases import CASES, FORMAT_CASES, Case

from reward_fns import compute_score, extract_answer, grade, grade_answer
from reward_fns.easyr1 import compute_score as easyr1_compute_score
from reward_fns.formatting import format_ok

from helpers.tiers import sampled

pytestmark = pytest.mark.usefixtures("symbolic_pool")  # warm math-verify workers: no case pays the start-up


def _id(c: Case) -> str:
    return f"{c.rule}:{c.response[:30]!r}->{str(c.gold)[:20]!r}"


def test_table_is_large_and_covers_every_rule():
    assert len(CASES) >= 150
    families = Counter(c.rule.split("_")[0] for c in CASES)
    for fam in ("extract", "int", "decimal", "fraction", "percent", "degree", "unit", "thousands", "text",
                "tuple", "interval", "symbolic", "precision", "mcq", "none", "pathological"):
        assert families[fam] >= 1, fam
    assert sum(c.expected for c in CASES) >= 60 and sum(not c.expected for c in CASES) >= 60


@pytest.mark.parametrize("case", sampled(CASES), ids=_id)
def test_case(case: Case):
    v = grade(case.full_response, case.gold, options=case.options, problem=case.problem,
              precision=case.precision)
    assert v.correct is case.expected, v


@pytest.mark.parametrize("case", sampled(CASES[::7]), ids=_id)
def test_verl_face_matches_grader(case: Case):
    extra = {"options": case.options, "problem": case.problem, "precision": case.precision}
    out = compute_score("geometry3k", case.full_response, case.gold, extra)
    assert out["score"] == (1.0 if case.expected else 0.0)
    assert out["acc"] == out["score"] and isinstance(out["pred"], str) and out["reason"]


def test_extracted_prediction_api():
    assert extract_answer(r"so \boxed{\frac{1}{2}} done") == r"\frac{1}{2}"
    assert extract_answer("no answer") is None
    v = grade_answer("(B)", "B", options=["1", "2"])
    assert v.correct and v.pred_letter == "B" and v.gold_letter == "B"
    assert not grade_answer(None, "5").correct
    assert grade_answer("1.53", "1.5", precision=float("nan")).correct is False  # NaN precision = none


@pytest.mark.parametrize(("response", "expected", "rule"), FORMAT_CASES, ids=[r for _, _, r in FORMAT_CASES])
def test_format_term(response: str, expected: bool, rule: str):
    assert format_ok(response)[0] is expected


def test_format_weight_combines_and_defaults_to_zero():
    good = "We add the two numbers and check the sum twice to be sure. " + r"So \boxed{5}."
    spam = r"\boxed{4}" * 5
    assert compute_score("x", good, "5")["score"] == 1.0
    assert compute_score("x", spam, "5")["score"] == 0.0
    assert compute_score("x", good, "5", format_weight=0.1)["score"] == pytest.approx(1.0)
    assert compute_score("x", r"\boxed{4}", "5", format_weight=0.1)["score"] == 0.0  # no reasoning
    wrong_but_formatted = compute_score("x", good.replace("{5}", "{6}"), "5", format_weight=0.1)
    assert wrong_but_formatted["score"] == pytest.approx(0.1) and wrong_but_formatted["format"] == 1.0
    assert compute_score("x", good, "5", None, reward_router_address=None)["score"] == 1.0  # extra kwargs


def test_verl_face_reads_numpy_options():
    np = pytest.importorskip("numpy")
    extra = {"options": np.array(["14", "16", "18"], dtype=object), "precision": None}
    assert compute_score("mathvista", r"\boxed{16}", "B", extra)["score"] == 1.0


def test_verl_face_reads_option_string():
    extra = {"option": "A. 3; B. 4; C. 5; D. 6; E. No correct answer"}  # We-Math's column
    assert compute_score("wemath", r"\boxed{5}", "C", extra)["score"] == 1.0
    assert compute_score("wemath", r"\boxed{4}", "C", extra)["score"] == 0.0


def test_easyr1_batch_face():
    inputs = [{"response": c.full_response, "ground_truth": c.gold, "options": c.options, "problem": c.problem,
               "precision": c.precision, "response_length": 10} for c in CASES[:40]]
    out = easyr1_compute_score(inputs)
    assert [o["accuracy"] for o in out] == [1.0 if c.expected else 0.0 for c in CASES[:40]]
    assert all(set(o) == {"overall", "accuracy", "format"} for o in out)
    with pytest.raises(ValueError):
        easyr1_compute_score({"response": "x"})  # type: ignore[arg-type]
