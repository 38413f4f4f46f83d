"""The distill stage's pure parts: judging responses with the project's grader, choosing what to keep,
the templates, and the report's counts."""

from __future__ import annotations

import pytest

from SFT.distill.judge import Filters, choose, gold_answer, judge
from SFT.distill.report import ProblemResult, SampleResult, markdown, stats
from SFT.distill.templates import TEMPLATES, get_template, question_text

COT = "The legs are 3 and 4, so the hypotenuse is sqrt(9 + 16) = 5. Therefore, the answer is \\boxed{5}."
MC_PROBLEM = "<image>What is the hypotenuse?\nChoices: (A) 7 (B) 5 (C) 4 (D) 8"

# (response, gold, problem, tokens, truncated, filters, expected reason)
CASES = [
    (COT, "5", "", 30, False, Filters(), "ok"),
    (COT, "6", "", 30, False, Filters(), "wrong"),
    (COT, "B", MC_PROBLEM, 30, False, Filters(), "ok"),  # option content 5 is option (B)
    (COT.replace("\\boxed{5}", "\\boxed{B}"), "B", MC_PROBLEM, 30, False, Filters(), "ok"),
    (COT, "5", "", 2048, True, Filters(), "truncated"),
    (COT, "5", "", 2048, True, Filters(drop_truncated=False), "ok"),
    ("The hypotenuse is 5.", "5", "", 8, False, Filters(), "no_box"),
    ("so it is \\boxed{5", "5", "", 8, False, Filters(), "no_box"),  # a box left open is no answer
    ("<answer>5</answer>", "5", "", 8, False, Filters(), "no_box"),  # the last *boxed* answer is required
    ("First \\boxed{4}, no wait: the hypotenuse is sqrt(25) = 5, \\boxed{5}", "5", "", 30, False, Filters(),
     "bad_format"),
    ("First \\boxed{4}, no wait: the hypotenuse is sqrt(25) = 5, \\boxed{5}", "5", "", 30, False,
     Filters(require_single_box=False), "ok"),
    (COT, "5", "", 30, False, Filters(min_tokens=31), "too_short"),
    (COT, "5", "", 30, False, Filters(max_tokens=29), "too_long"),
    (COT, "5", "", 30, False, Filters(min_tokens=30, max_tokens=30), "ok"),
    (COT.replace("\\boxed{5}", "\\boxed{\\frac{10}{2}}"), "5", "", 30, False, Filters(), "ok"),
]


@pytest.mark.parametrize("response, gold, problem, tokens, truncated, filters, reason", CASES)
def test_judge(response, gold, problem, tokens, truncated, filters, reason) -> None:
    j = judge(response, gold, problem, tokens, truncated, filters)
    assert j.reason == reason and j.accepted == (reason == "ok")


def test_gold_is_the_last_box_of_a_worked_solution() -> None:
    assert gold_answer(COT) == "5"
    assert gold_answer(" 3/4 ") == "3/4"
    assert gold_answer("first \\boxed{1} then \\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"


def test_choose_policies() -> None:
    tokens = [50, 20, 90, 20]
    assert choose(tokens, "shortest", 1, "k") == [1]  # tie: the earlier sample
    assert choose(tokens, "shortest", 2, "k") == [1, 3]
    assert choose(tokens, "all", 1, "k") == [0, 1, 2, 3]
    picked = choose(tokens, "random", 2, "src/7")
    assert len(picked) == 2 and picked == sorted(set(picked)) and picked == choose(tokens, "random", 2, "src/7")
    assert choose(tokens, "random", 9, "x") == [0, 1, 2, 3]
    assert choose([], "shortest", 1, "k") == []
    with pytest.raises(ValueError, match="shortest, random or all"):
        choose(tokens, "longest", 1, "k")


def test_templates_are_named_and_marked() -> None:
    assert set(TEMPLATES) == {"distilled_cot", "caption_cot", "reflection_cot", "self_critic_cot"}
    assert get_template("distilled_cot").user_suffix == "" and not get_template("distilled_cot").ours
    for name in ("caption_cot", "reflection_cot", "self_critic_cot"):
        t = get_template(name)
        assert t.ours and t.user_suffix.startswith("\n\n") and "\\boxed{}" in t.user_suffix
    assert "describe the image" in get_template("caption_cot").instruction
    assert question_text("<image><image>Compare them.") == "Compare them."
    with pytest.raises(ValueError, match="known: distilled_cot"):
        get_template("nope")


def test_report_counts_per_k_and_reasons() -> None:
    def p(row: int, reasons: list[str], kept: int | None = None) -> ProblemResult:
        return ProblemResult("s", row, [SampleResult(j, 10 * (j + 1), r, kept == j) for j, r in enumerate(reasons)])

    results = [p(0, ["ok", "wrong"], kept=0), p(1, ["no_box", "ok"], kept=1), p(2, ["truncated", "wrong"])]
    s = stats(results, 2, bad_rows=1)
    assert s["problems_in"] == 4 and s["problems_sampled"] == 3 and s["problems_with_kept"] == 2
    assert s["responses"] == 6 and s["accepted"] == 2 and s["kept"] == 2
    assert s["acceptance_rate"] == round(2 / 6, 4)
    assert s["problems_accepted_by_k"] == {1: round(1 / 3, 4), 2: round(2 / 3, 4)}
    assert s["rejections"] == {"truncated": 1, "no_box": 1, "bad_format": 0, "too_short": 0, "too_long": 0,
                               "wrong": 2}
    assert s["tokens_kept"]["min"] == 10 and s["tokens_kept"]["max"] == 20
    report = {"teacher": "t", "settings": {"template": "distilled_cot", "k": 2, "temperature": 1.0, "top_p": 1.0,
                                           "max_new_tokens": 8, "keep": "shortest", "max_per_problem": 1},
              "sources": {"s": s}, "overall": s}
    md = markdown(report)
    assert "| problems accepted within 2 sample(s) | 66.7% | 66.7% |" in md
    assert "| rejected: wrong | 2 | 2 |" in md


def test_bad_rows_are_named_or_skipped(tiny_world, tmp_path) -> None:
    """A row without a problem and one whose image does not decode: on_bad_row=error names the first (dataset,
    row, column); skip lists both in bad_rows.jsonl and the report, and the run finishes (no teacher needed)."""
    import json

    import pyarrow.parquet as pq

    from recipes.data.errors import BadRowError
    from SFT.distill.config import DistillConfig
    from SFT.distill.run import SourceRef, distill

    table = pq.read_table(next((tiny_world.datasets["rl"] / "data").glob("*.parquet"))).slice(0, 2)
    rows = table.to_pylist()
    rows[0]["problem"] = "  "
    rows[1]["images"] = [{"bytes": b"not an image", "path": None}]
    src = tmp_path / "bad.parquet"
    pq.write_table(table.from_pylist(rows, schema=table.schema), src)
    kw = {"system_prompt": "sys", "max_pixels": 200704, "min_pixels": 3136, "progress": False}
    c = DistillConfig(sources=["bad"], teacher="tiny:model", backend="hf")
    with pytest.raises(BadRowError, match="dataset 'bad' split 'train' row 0 column 'problem': empty problem"):
        distill(c, [SourceRef("bad", str(src), "train")], "tiny:model", str(tiny_world.model), tmp_path / "a",
                on_bad_row="error", **kw)
    s = distill(c, [SourceRef("bad", str(src), "train")], "tiny:model", str(tiny_world.model), tmp_path / "b",
                on_bad_row="skip", **kw)
    assert s["rows"] == 0 and s["problems"] == 2
    bad = [json.loads(line) for line in (tmp_path / "b" / "bad_rows.jsonl").read_text().splitlines()]
    assert [(b["row"], b["column"]) for b in bad] == [(0, "problem"), (1, "images")]
    assert "undecodable image" in bad[1]["reason"]
    assert "| bad rows (skipped) | 2 | 2 |" in (tmp_path / "b" / "report.md").read_text()
