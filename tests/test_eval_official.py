"""The loaders and prompts on real official rows (tests/fixtures, sources named there): every We-Math
testmini option string parses, MathVista prompts come from `query`, MATH-V letters-only options stay out of
the prompt, and one bad row never stops a benchmark."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from evaluation.bench_data import BenchmarkError, item_from_row, iter_items
from evaluation.bench_specs import SPECS
from evaluation.score import score_row
from reward_fns.choices import LETTERS, parse_options

FIXTURES = Path(__file__).parent / "fixtures"
# A real option marker: at the start or after `;`, a letter, a stop (ASCII or full-width), then text.
_REAL_MARKER = re.compile(r"(?:^|[;；])\s*([A-J])\s*[.．]\s*(?![\s;]*(?:;|$))")


def _wemath_options() -> list[tuple[str, str]]:
    lines = (FIXTURES / "wemath_testmini_options.tsv").read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if line and not line.startswith("#")]


def test_every_official_wemath_option_string_parses():
    rows = _wemath_options()
    assert len(rows) == 1225  # the distinct strings of the 1,740 testmini rows
    for row_id, text in rows:
        opts = parse_options(text)
        assert opts is not None and len(opts) >= 2, (row_id, text)
        letters = [m.group(1) for m in _REAL_MARKER.finditer(text)]
        assert LETTERS[len(opts) - 1] == letters[-1], (row_id, text, opts)  # up to the last written letter
        assert all(opts[LETTERS.index(x)] for x in letters), (row_id, opts)  # every written letter has text
        assert not any(re.search(r"[;；]\s*[A-J]\s*[.．]\s+\w", o) for o in opts), (row_id, opts)  # no marker left


@pytest.mark.parametrize("row_id,expected", [
    ("2steps_59|2steps_1", ["①", "②", "③", "Cannot be determined", "No correct answer"]),  # `B．②`
    ("2steps_94|2steps_1", ["Yes, A needs to be rotated 90 degrees clockwise around point ;O.",
                            "Yes, A needs to be rotated 45 degrees counterclockwise around point ;O.",
                            "No.", "", "", "No correct answer"]),  # `;O.;` is text; C jumps to F
    ("2steps_101|2steps_1", ["Yes, A needs to be translated 5dm to the right",
                             "Yes, A needs to be translated 5dm to the left", "No.", "No correct answer"]),  # `;  ;`
    ("3steps_156|3steps_3", ["There is an obtuse angle ∠AB;E.", "There is an obtuse angle ∠AB;C.",
                             "There is no obtuse angle.", "It cannot be determined.", "No correct answer"]),
])
def test_official_wemath_quirks(row_id, expected):
    text = dict(_wemath_options())[row_id]
    assert parse_options(text) == expected


def _image() -> Image.Image:
    return Image.new("RGB", (28, 28), "white")


@pytest.fixture(scope="module")
def official():
    return json.loads((FIXTURES / "official_rows.json").read_text(encoding="utf-8"))


def _item(bench: str, row: dict):
    image_col = {"mathvista": "decoded_image", "mathvision": "decoded_image", "mathverse": "image"}[bench]
    return item_from_row(SPECS[bench], {**row, image_col: _image()}, f"official {bench}")


def test_mathvista_prompt_is_the_official_query_less_its_format_request(official):
    items = {r["pid"]: _item("mathvista", r) for r in official["mathvista"]}
    for pid, it in items.items():
        query = next(r["query"] for r in official["mathvista"] if r["pid"] == pid)
        assert "at the end" not in it.question and "e.g.," not in it.question
        assert it.question.split("\n", 1)[1] == query.split("\n", 1)[1]  # question, unit, choices untouched
    assert "(Unit: years)" in items["27"].question and "(Unit: g)" in items["2"].question
    assert items["1"].question.startswith("Hint: Please answer the question requiring a floating-point number "
                                          "with one decimal place and provide the final value.")
    assert "two decimal places" in items["108"].question and items["108"].precision == 2


def test_pid_781_any_letter_with_the_gold_text_is_right(official):
    row = next(r for r in official["mathvista"] if r["pid"] == "781")
    it = _item("mathvista", row)
    assert it.options == ["9", "12", "18", "18"] and it.gold == "C"
    record = {**it.record(), "response": ""}
    verdicts = {r: score_row({**record, "response": f"so \\boxed{{{r}}}"}) for r in ("C", "D", "18", "B")}
    assert [verdicts[r]["correct"] for r in ("C", "D", "18", "B")] == [True, True, True, False]
    assert verdicts["D"]["reason"] == "choice_letter_same_text"


def test_mathvision_options_only_when_more_than_letters(official):
    letters, texts, free, image_only = (_item("mathvision", r) for r in official["mathvision"])
    assert letters.options == list("ABCDE") and "Choices" not in letters.question and "(A)" not in letters.question
    assert "Choices: (A) Wednesday (B) Thursday" in texts.question
    assert free.options is None and free.question.startswith("Which number should be written")
    assert "<image" not in free.question
    right = score_row({**letters.record(), "response": f"\\boxed{{{letters.gold}}}"})
    assert right["correct"]
    assert image_only.meta["native_id"] == "528"  # its question is only `<image1>`: the official in-image wording
    assert image_only.question.startswith("According to the question shown in the image, please answer")


def test_mathverse_question_field_with_its_own_choices(official):
    mc, free = (_item("mathverse", r) for r in official["mathverse"])
    assert mc.options == ["40°", "60°", "120°", "140°"] and mc.question.count("Choices") == 1
    assert free.options is None and free.answer_kind == "free"


def test_one_bad_row_is_reported_and_the_rest_load():
    img = _image()
    good = {"ID": "2steps_1", "key": "2steps_1", "question": "q", "option": "A. 1;B．2", "answer": "B",
            "image_path": img}
    rows = [good, {**good, "key": "2steps_2", "image_path": None}, {**good, "key": "2steps_multi", "answer": ""},
            {**good, "ID": "2steps_2", "option": "1 or 2"}]
    skipped: list = []
    items = list(iter_items("wemath", rows, "test.json", skipped=skipped))
    assert [it.id for it in items] == ["wemath/2steps_1|2steps_1", "wemath/2steps_2|2steps_1"]
    assert [(s.row, s.id) for s in skipped] == [(1, "2steps_1|2steps_2"), (2, "2steps_1|2steps_multi")]
    assert "no image in column(s) image_path, image" in skipped[0].why and "empty 'answer'" in skipped[1].why
    degraded = items[1]  # options it cannot parse: shown verbatim, graded by letter
    assert degraded.options is None and degraded.question.endswith("1 or 2") and "load_note" in degraded.meta
    assert score_row({**degraded.record(), "response": "\\boxed{B}"})["correct"]
    with pytest.raises(BenchmarkError, match="row 1"):  # without a `skipped` list the first bad row raises
        list(iter_items("wemath", rows, "test.json"))
