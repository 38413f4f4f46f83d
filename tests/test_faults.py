"""Faults that must not cost results (issue 29), each at the unit where it is decided: a prediction row without
its newline, a rerun request already honoured, sources rewritten in place, images that decode to garbage, empty
and malformed inputs, the reward's deadline, a trainer outliving its runner, the disk check. The SIGKILL cases
on the tiny pipeline are in tests/test_fault_suite.py."""

from __future__ import annotations

import pytest

from evaluation.backends import Generation, GenerationError, GenSettings
from evaluation.bench_data import item_from_row
from evaluation.bench_specs import SPECS
from evaluation.generate import check_complete, generate_predictions, read_predictions
from recipes.atomic import seal_jsonl_tail


class Scripted:
    """A backend answering from a table (tests the file protocol, not generation)."""

    name = "scripted"

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.calls = 0

    def generate(self, items):
        self.calls += 1
        return [Generation(self.answers[it.id], "stop", 10, 5) for it in items]


def _items(n: int):
    from PIL import Image

    img = Image.new("RGB", (28, 28))
    return [item_from_row(SPECS["mathvision"], {"id": str(i), "question": "q", "options": [],
                                                "decoded_image": img, "answer": str(i)}, "t") for i in range(n)]


# -- (3) evaluation never drops a prediction ----------------------------------------------------------------

def test_complete_last_row_without_newline_is_kept_not_cut(tmp_path):
    items = _items(4)
    s = GenSettings(model="m", system_prompt="sys", max_new_tokens=4)
    backend = Scripted({it.id: f"\\boxed{{{it.gold}}}" for it in items})
    path = tmp_path / "predictions.jsonl"
    generate_predictions(items[:2], lambda: backend, s, path, batch_size=2)
    path.write_bytes(path.read_bytes()[:-1])  # the crash hit between the last row and its newline
    assert len(read_predictions(path)) == 2  # counted as done ...
    st = generate_predictions(items, lambda: backend, s, path, batch_size=2)
    assert (st["skipped"], st["generated"]) == (2, 2)
    rows = read_predictions(path)  # ... and kept: four rows, each on its own line
    assert [r["id"] for r in rows] == [it.id for it in items]
    assert path.read_text().count("\n") == 4
    check_complete(items, path)


def test_torn_tail_is_cut_and_regenerated(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b", "resp')
    assert seal_jsonl_tail(path) == "cut"
    assert path.read_text() == '{"id": "a"}\n'
    path.write_text('{"id": "a"}\n{"id": "b"}')
    assert seal_jsonl_tail(path) == "sealed"
    assert path.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    assert seal_jsonl_tail(path) == ""


def test_fewer_predictions_than_items_fails_naming_the_file(tmp_path):
    items = _items(3)
    s = GenSettings(model="m", system_prompt="sys", max_new_tokens=4)
    path = tmp_path / "predictions.jsonl"
    generate_predictions(items[:2], lambda: Scripted({it.id: "x" for it in items}), s, path, batch_size=2)
    with pytest.raises(GenerationError, match=r"predictions.jsonl: 2 predictions for 3 items; missing 1"):
        check_complete(items, path)
