"""Scoring with hand-made predictions whose correct accuracy is known (no model)."""

from __future__ import annotations

import json

import pytest

from evaluation.backends import GenSettings
from evaluation.bench_data import item_from_row
from evaluation.bench_specs import SPECS
from evaluation.run import compare_results, rescore
from evaluation.score import aggregate, score_rows, strip_unit, wemath_four_dimensional

SETTINGS = {**GenSettings(model="hand-made", system_prompt="sys").__dict__}


def _img():
    from PIL import Image

    return Image.new("RGB", (28, 28), "white")


def _row(bench: str, raw: dict, response: str) -> dict:
    item = item_from_row(SPECS[bench], raw, f"test {bench}")
    return {**item.record(), "response": response, "backend": "hand", "settings": SETTINGS}


def mathvista(pid, answer, response, *, choices=None, precision=None, unit=None, answer_type="integer"):
    raw = {"pid": pid, "question": f"question {pid}", "decoded_image": _img(), "choices": choices, "unit": unit,
           "precision": precision, "answer": answer,
           "question_type": "multi_choice" if choices else "free_form", "answer_type": answer_type}
    return _row("mathvista", raw, response)


def mathverse(idx, answer, response, version, question, qtype="multi-choice"):
    raw = {"sample_index": idx, "problem_index": "1", "problem_version": version, "question": question,
           "image": _img(), "answer": answer, "question_type": qtype}
    return _row("mathverse", raw, response)


def mathvision(i, answer, response, subject, level, options=()):
    raw = {"id": i, "question": "<image1>\nq", "options": list(options), "decoded_image": _img(), "answer": answer,
           "level": level, "subject": subject}
    return _row("mathvision", raw, response)


def wemath(group, key, correct: bool):
    raw = {"ID": group, "key": key, "knowledge concept": "k", "question": "q", "option": "A. 1; B. 2; C. 3",
           "answer": "B", "image_path": _img()}
    return _row("wemath", raw, "\\boxed{B}" if correct else "\\boxed{C}")


CLOCK = ["5:25", "3:55", "8:20", "9:05"]


def mathvista_rows():
    """10 rows, 6 correct."""
    return [
        mathvista("1", "3:55", "so \\boxed{B}", choices=CLOCK),                      # letter: right
        mathvista("2", "3:55", "it is \\boxed{3:55}", choices=CLOCK),                # option text: right
        mathvista("3", "3:55", "\\boxed{(B) 3:55}", choices=CLOCK),                  # letter + text: right
        mathvista("4", "3:55", "\\boxed{A}", choices=CLOCK),                         # wrong letter
        mathvista("5", "6.28", "\\boxed{6.283}", precision=2, answer_type="float"),  # rounds to 6.28: right
        mathvista("6", "6.28", "\\boxed{6.3}", precision=2, answer_type="float"),    # 6.30 != 6.28: wrong
        mathvista("7", "5", "\\boxed{5 cm}", unit="cm"),                             # unit: right
        mathvista("8", "5", "\\boxed{5\\text{ cm}}", unit="cm"),                     # unit in \text: right
        mathvista("9", "5", "the answer is 5", unit="cm"),                           # no box: wrong
        mathvista("10", "13", "\\boxed{12}"),                                        # wrong number
    ]


def test_mathvista_known_accuracy():
    rows, verdicts = score_rows(mathvista_rows())
    got = {v["id"]: v["correct"] for v in verdicts}
    assert [got[f"mathvista/{i}"] for i in range(1, 11)] == [True, True, True, False, True, False, True, True,
                                                             False, False]
    res = aggregate(rows, verdicts)
    mv = res["benchmarks"]["mathvista"]
    assert (mv["n"], mv["correct"], mv["accuracy"]) == (10, 6, 60.0)
    assert mv["breakdown"]["question_type"]["multi_choice"] == {"n": 4, "correct": 3, "accuracy": 75.0}
    assert mv["breakdown"]["answer_type"]["float"]["accuracy"] == 50.0
    assert mv["reasons"]["no_answer"] == 1


def test_mathvista_text_gold_becomes_letter():
    row = mathvista("1", "3:55", "", choices=CLOCK)
    assert row["gold"] == "B" and row["meta"]["gold_text"] == "3:55" and row["answer_kind"] == "choice"
    assert "Choices: (A) 5:25 (B) 3:55 (C) 8:20 (D) 9:05" in row["question"]


def test_mathverse_per_version_and_colon_options():
    q = "Find the angle.\nChoices:\nA:40°\nB:50°\nC:60°\nD:70°"
    rows = [
        mathverse("1", "B", "\\boxed{B}", "Text Dominant", q),
        mathverse("2", "B", "\\boxed{50^\\circ}", "Text Lite", q),       # option text with degree: right
        mathverse("3", "B", "\\boxed{40°}", "Vision Intensive", q),      # another option's text: wrong
        mathverse("4", "B", "\\boxed{B}", "Vision Only", ""),             # vision only, no text options
        mathverse("5", "7.5", "\\boxed{7.50}", "Text Dominant", "Area?", "free-form"),
    ]
    assert rows[0]["options"] == ["40°", "50°", "60°", "70°"]
    assert rows[3]["question"] == "According to the question shown in the image, please answer the question."
    res = aggregate(*score_rows(rows))
    mv = res["benchmarks"]["mathverse"]
    assert (mv["correct"], mv["n"], mv["accuracy"]) == (4, 5, 80.0)
    versions = mv["breakdown"]["problem_version"]
    assert versions["Text Dominant"] == {"n": 2, "correct": 2, "accuracy": 100.0}
    assert versions["Vision Intensive"]["correct"] == 0 and versions["Vision Only"]["correct"] == 1


def test_mathvision_per_subject_and_level():
    rows = [
        mathvision("1", "A", "\\boxed{A}", "statistics", 1, ["13", "16", "11", "10"]),
        mathvision("2", "A", "\\boxed{13}", "statistics", 2, ["13", "16", "11", "10"]),
        mathvision("3", "39", "\\boxed{39}", "geometry", 2),
        mathvision("4", "\\frac{1}{3}", "\\boxed{2/6}", "counting", 3),
        mathvision("5", "11", "\\boxed{12}", "counting", 3),
    ]
    assert "<image1>" not in rows[0]["question"]
    mv = aggregate(*score_rows(rows))["benchmarks"]["mathvision"]
    assert (mv["correct"], mv["accuracy"]) == (4, 80.0)
    assert mv["breakdown"]["subject"]["counting"] == {"n": 2, "correct": 1, "accuracy": 50.0}
    assert mv["breakdown"]["level"]["2"]["accuracy"] == 100.0


def wemath_rows():
    """Five two-step groups (CM, IG, IK, RM by one wrong sub, RM by all wrong subs) + one three-step CM."""
    plan = {"g1": (1, 1, 1), "g2": (1, 1, 0), "g3": (1, 0, 0), "g4": (0, 1, 1), "g5": (0, 0, 1)}
    rows = []
    for g, (s1, s2, multi) in plan.items():
        rows += [wemath(g, "2steps_1", s1), wemath(g, "2steps_2", s2), wemath(g, "2steps_multi", multi)]
    rows += [wemath("g6", k, True) for k in ("3steps_1", "3steps_2", "3steps_3", "3steps_multi")]
    return rows


def test_wemath_average_and_four_dimensional():
    rows, verdicts = score_rows(wemath_rows())
    res = aggregate(rows, verdicts)["benchmarks"]["wemath"]
    assert (res["n"], res["correct"]) == (19, 13)
    assert res["accuracy"] == round(100 * 13 / 19, 2)
    assert res["breakdown"]["steps"]["3steps"]["accuracy"] == 100.0
    four = res["four_dimensional"]
    assert four["groups"] == 6
    c = four["counts"]
    assert (c["CM_strict"], c["CM_loose"], c["IG"], c["IK"], c["RM_strict"], c["RM_loose"]) == (2, 3, 1, 1, 2, 1)
    # strict: (6 - 0.5*1 - 2 - 1) / 6; loose: (6 - 0.5*1 - 1 - 1) / 6
    assert four["strict"]["score"] == round(100 * 2.5 / 6, 2)
    assert four["loose"]["score"] == round(100 * 3.5 / 6, 2)
    assert four["strict"]["RM"] == 50.0  # RM / (RM + CM) = 2 / 4


def test_wemath_incomplete_groups_are_left_out():
    rows = [wemath("g1", "2steps_1", True), wemath("g1", "2steps_multi", True)]
    assert wemath_four_dimensional(rows, {r["id"]: True for r in rows}) is None


def test_strip_unit():
    assert strip_unit("5 cm", "cm") == "5"
    assert strip_unit("5\\text{ cm}", "cm") == "5"
    assert strip_unit("cm", "cm") == "cm"
    assert strip_unit("5", None) == "5"


def test_average_over_benchmarks_and_duplicate_ids():
    rows = mathvista_rows() + wemath_rows()
    res = aggregate(*score_rows(rows))
    assert res["average"] == round((60.0 + round(100 * 13 / 19, 2)) / 2, 2)
    with pytest.raises(ValueError, match="duplicate id"):
        score_rows(rows + rows[:1])


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_rescore_reproduces_stored_numbers(tmp_path):
    pred = tmp_path / "predictions.jsonl"
    _write(pred, mathvista_rows() + wemath_rows())
    stored = rescore(pred)  # writes results.json / results.md / plot.png / verdicts.jsonl
    for name in ("results.json", "results.md", "plot.png", "verdicts.jsonl"):
        assert (tmp_path / name).stat().st_size > 0
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["benchmarks"]["mathvista"]["accuracy"] == 60.0 == stored["benchmarks"]["mathvista"]["accuracy"]
    assert compare_results(on_disk, rescore(pred, write=False)) == []
    md = (tmp_path / "results.md").read_text()
    assert "| cold start + GRPO, 7B (paper) | 30.3 | 48.6 | 73.4 | 70.4 | 55.7 |" in md
    assert "**60.0** (10)" in md
    on_disk["benchmarks"]["mathvista"]["correct"] = 7
    assert compare_results(on_disk, rescore(pred, write=False))


def test_score_cli_check_and_refusal(tmp_path, capsys):
    from evaluation import rlcs_evaluate

    pred = tmp_path / "predictions.jsonl"
    _write(pred, mathvista_rows())
    assert rlcs_evaluate.main(["score", str(pred)]) == 0
    assert rlcs_evaluate.main(["score", str(pred)]) == 2  # results.json exists: not overwritten silently
    assert rlcs_evaluate.main(["score", str(pred), "--check"]) == 0
    assert "matches results.json exactly" in capsys.readouterr().out
    res = json.loads((tmp_path / "results.json").read_text())
    res["average"] = 99.0
    (tmp_path / "results.json").write_text(json.dumps(res))
    assert rlcs_evaluate.main(["score", str(pred), "--check"]) == 1


@pytest.mark.parametrize("response,n_options,expected", [
    ("... so the answer is 42.", None, "42"),
    ("Therefore, the final answer is: $\\frac{3}{4}$", None, "\\frac{3}{4}"),
    ("Answer: B", 4, "B"),
    ("The correct option is (C).", 4, "(C)"),
    ("Comparing the bars, it must be (D)", 4, "D"),
    ("I cannot tell from the picture", None, None),
    ("I cannot tell; maybe E", 4, None),  # E is not one of four options
])
def test_fallback_reads_box_less_answers(response, n_options, expected):
    from evaluation.fallback import fallback_answer

    assert fallback_answer(response, n_options) == expected


def test_fallback_column_is_separate_from_the_headline():
    rows = [mathvista("1", "3:55", "so \\boxed{B}", choices=CLOCK),       # boxed, right
            mathvista("2", "3:55", "The answer is B.", choices=CLOCK),    # no box: 0 in the headline
            mathvista("3", "5", "the answer is 5 cm", unit="cm"),          # no box: 0 in the headline
            mathvista("4", "5", "I do not know", unit="cm")]               # no box, nothing to read
    rows[0]["finish_reason"], rows[3]["finish_reason"] = "stop", "length"
    rows, verdicts = score_rows(rows)
    mv = aggregate(rows, verdicts)["benchmarks"]["mathvista"]
    assert (mv["accuracy"], mv["fallback"]["accuracy"]) == (25.0, 75.0)
    assert mv["no_answer"] == {"count": 3, "rate": 75.0}
    assert mv["truncated"] == {"count": 1, "rate": 25.0}
    assert mv["reasons"]["no_answer"] == 3
