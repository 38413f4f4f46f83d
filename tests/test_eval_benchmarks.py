"""Benchmark loaders: the tiny world's copies (real columns) and bad rows with clear errors."""

from __future__ import annotations

import pytest

from evaluation.bench_data import BenchmarkError, item_from_row, load_items
from evaluation.bench_specs import SPECS
from reward_fns.choices import parse_options

SPLITS = {"mathvista": "testmini", "wemath": "testmini", "mathverse": "testmini", "mathvision": "test"}


@pytest.fixture(scope="module")
def items(tiny_world):
    return {name: load_items(name, str(tiny_world.datasets[name]), split) for name, split in SPLITS.items()}


def test_every_benchmark_loads_into_one_shape(items):
    for name, its in items.items():
        assert its, name
        assert len({it.id for it in its}) == len(its), f"{name}: ids not unique"
        for it in its:
            assert it.benchmark == name and it.id.startswith(name + "/")
            assert len(it.images) == 1 and isinstance(it.images[0], dict)  # decoded only when generating
            (img,) = it.pil_images()
            assert img.mode == "RGB" and img.size[0] > 0
            assert it.question and it.gold
            assert it.answer_kind in {"choice", "integer", "float", "text", "list", "free"}
            if it.answer_kind == "choice" and it.options:
                assert len(it.gold) == 1 and "ABCDEFGHIJ".index(it.gold) < len(it.options)


def test_mathvista_mapping(items):
    mc = [it for it in items["mathvista"] if it.answer_kind == "choice"]
    assert mc
    for it in mc:
        assert it.options[ord(it.gold) - 65] == it.meta["gold_text"]
        assert "Choices:\n(A) " in it.question  # the official query's own choices
        assert it.question.startswith("Hint: Please answer the question and provide the correct option letter.")
    assert mc[0].options.count(mc[0].meta["gold_text"]) == 2  # the pid-781 quirk: gold text under two letters
    floats = [it for it in items["mathvista"] if it.answer_kind == "float"]
    assert floats and all(isinstance(it.precision, int) for it in floats)
    assert all("decimal place" in it.question for it in floats)  # the precision hint reaches the model
    units = [it for it in items["mathvista"] if it.unit]
    assert units and all(f"(Unit: {it.unit})" in it.question for it in units)
    assert not any("at the end" in it.question for it in items["mathvista"])


def test_mathverse_versions_and_options(items):
    versions = {it.meta["problem_version"] for it in items["mathverse"]}
    assert {"Text Dominant", "Vision Only"} <= versions
    mc = [it for it in items["mathverse"] if it.answer_kind == "choice" and it.meta["problem_version"] != "Vision Only"]
    assert mc and all(it.options and len(it.options) >= 2 for it in mc)
    assert "Choices: (A)" not in mc[0].question  # MathVerse lists its own choices


def test_mathvision_and_wemath_metadata(items):
    assert all(it.meta["subject"] and it.meta["level"] for it in items["mathvision"])
    assert all("<image" not in it.question for it in items["mathvision"])
    we = items["wemath"]
    assert all(it.options and it.answer_kind == "choice" for it in we)
    assert {it.meta["key"] for it in we} >= {"2steps_1", "2steps_multi"}
    assert "load_note" not in we[0].meta and len(we[0].options) == 5  # `A. x;B．y;C. z; ...` parsed
    assert any(len(set(it.options)) < len(it.options) for it in we)  # duplicate option texts kept


def test_mathvision_letters_only_options_are_not_rendered(items):
    letters_only = [it for it in items["mathvision"] if it.options == list("ABCDE")]
    texts = [it for it in items["mathvision"] if it.options and it.options != list("ABCDE")]
    assert letters_only and texts
    assert all("Choices" not in it.question for it in letters_only)
    assert all(f"Choices: (A) {it.options[0]}" in it.question for it in texts)


def test_mathverse_vision_only_uses_the_official_wording(items):
    vo = [it for it in items["mathverse"] if it.meta["problem_version"] == "Vision Only"]
    assert vo and all(it.question.startswith("According to the question shown in the image") for it in vo)


def test_testmini_is_selectable(tiny_world):
    full = load_items("mathvision", str(tiny_world.datasets["mathvision"]), "test")
    mini = load_items("mathvision", str(tiny_world.datasets["mathvision"]), "testmini")
    assert 0 < len(mini) < len(full)
    assert len(load_items("mathvision", str(tiny_world.datasets["mathvision"]), "test", limit=3)) == 3
    with pytest.raises(BenchmarkError, match="split"):
        load_items("mathvision", str(tiny_world.datasets["mathvision"]), "nope")


@pytest.mark.parametrize("text,expected", [
    ("A. 8 cm; B. 10 cm; C. 12 cm", ["8 cm", "10 cm", "12 cm"]),
    ("Find x.\nChoices:\nA:40°\nB:50°", ["40°", "50°"]),
    ("(A) 3 (B) 4 (C) 5", ["3", "4", "5"]),
    ("no options here", None),
])
def test_parse_options(text, expected):
    assert parse_options(text) == expected


def test_bad_rows_say_where_and_what():
    from PIL import Image

    img = Image.new("RGB", (8, 8))
    with pytest.raises(BenchmarkError, match=r"We-Math x row 3: missing column 'key'"):
        item_from_row(SPECS["wemath"], {"ID": "1", "question": "q", "answer": "A", "image_path": img}, "We-Math x row 3")
    row = {"id": "7", "question": "q", "options": "A, B", "decoded_image": img, "answer": "A"}
    with pytest.raises(BenchmarkError, match=r"MathVision x row 0: bad options \(id '7'\): expected a list"):
        item_from_row(SPECS["mathvision"], row, "MathVision x row 0")
    row = {"id": "7", "question": "q", "options": ["1", "2"], "decoded_image": img, "answer": "D"}
    with pytest.raises(BenchmarkError, match="gold letter 'D' but only 2 options"):
        item_from_row(SPECS["mathvision"], row, "MathVision x row 0")
    row = {"id": "7", "question": "q", "options": [], "decoded_image": None, "answer": "3"}
    with pytest.raises(BenchmarkError, match="no image"):
        item_from_row(SPECS["mathvision"], row, "MathVision x row 0")
    row = {"id": "7", "question": "q", "options": [], "decoded_image": {"bytes": b"not an image"}, "answer": "3"}
    with pytest.raises(BenchmarkError, match="mathvision/7: cannot decode its image"):
        item_from_row(SPECS["mathvision"], row, "MathVision x row 0").pil_images()
    row = {"id": "7", "question": "q", "options": [], "decoded_image": img, "answer": ""}
    with pytest.raises(BenchmarkError, match="empty 'answer'"):
        item_from_row(SPECS["mathvision"], row, "MathVision x row 0")


def test_transparent_benchmark_images_are_flattened_on_white_as_in_training() -> None:
    import io

    from PIL import Image

    from evaluation.bench_data import _decode

    buf = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(buf, format="PNG")
    for cell in ({"bytes": buf.getvalue(), "path": None}, Image.open(io.BytesIO(buf.getvalue()))):
        im = _decode(cell, "mathvista/1")
        assert im.mode == "RGB" and im.getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(BenchmarkError, match="mathvista/2: cannot decode its image"):
        _decode({"bytes": b"not an image", "path": None}, "mathvista/2")
