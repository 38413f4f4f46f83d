"""The shared converter machinery (recipes/data/): validation errors, rejects, resume, overwrite."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from GRPO.rl_rows import convert_rl
from recipes.atomic import OutputExistsError
from recipes.checks import ConfigError
from recipes.data.errors import BadRowError, RowReject
from recipes.data.images import clean_image
from recipes.data.qwen_vl import PromptCounter, smart_resize
from recipes.data.rows import RowSettings, with_placeholders
from recipes.pipeline.config import DataConfig
from SFT.sft_rows import convert_sft, sft_settings


def _png(w: int = 64, h: int = 48, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    im = Image.new(mode, (w, h))
    im.save(buf, format="JPEG" if mode == "CMYK" else "PNG")
    return buf.getvalue()


def _rows(n: int) -> list[dict]:
    return [{"images": [{"bytes": _png(60 + i % 7, 40), "path": None}], "problem": f"<image>What is {i} + 1?",
             "answer": str(i + 1)} for i in range(n)]


def _write(path: Path, rows: list[dict], drop: str | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {k: [r[k] for r in rows] for k in ("images", "problem", "answer") if k != drop}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path, row_group_size=50)
    return path


def _sft(src: Path, out: Path, model_path: str | None = None, overwrite: bool = False, **kw):
    settings = sft_settings(DataConfig(), model_path, **{"num_workers": 1, **kw})
    return convert_sft("toy", str(src), "train", out, settings, progress=False, batch_size=16, overwrite=overwrite)


def test_corrupt_image_names_dataset_split_row_and_column(tmp_path: Path) -> None:
    rows = _rows(30)
    rows[17]["images"][0]["bytes"] = _png()[:60]  # truncated PNG
    src = _write(tmp_path / "d.parquet", rows)
    with pytest.raises(BadRowError) as err:
        _sft(src, tmp_path / "out")
    msg = str(err.value)
    assert msg.startswith("dataset 'toy' split 'train' row 17 column 'images': image 0: undecodable image")
    assert not (tmp_path / "out" / "train.jsonl").exists()


def _damaged() -> dict[str, bytes]:
    im = Image.radial_gradient("L").convert("RGB")
    png, jpg = io.BytesIO(), io.BytesIO()
    im.save(png, format="PNG")
    im.save(jpg, format="JPEG")
    flipped = bytearray(png.getvalue())
    flipped[len(flipped) // 2] ^= 0xFF  # inside the pixel data: the chunk CRC no longer matches
    return {"png_bit_flip": bytes(flipped), "png_cut_before_iend": png.getvalue()[:-12],
            "jpeg_truncated": jpg.getvalue()[: len(jpg.getvalue()) * 2 // 3], "zero_bytes": b""}


@pytest.mark.parametrize("kind", sorted(_damaged()))
def test_damaged_pass_through_images_are_rejected(kind: str) -> None:
    """RGB PNG / JPEG keep their bytes; damage is found by the full decode (and, for PNG, the chunk CRCs)."""
    with pytest.raises(RowReject, match=r"undecodable image|empty image \(0 bytes\)"):
        clean_image(_damaged()[kind])
    healthy = Image.radial_gradient("L").convert("RGB")
    buf = io.BytesIO()
    healthy.save(buf, format="PNG")
    assert clean_image(buf.getvalue()).data == buf.getvalue()  # intact RGB PNG: bytes kept as they are


def test_missing_column_is_named(tmp_path: Path) -> None:
    src = _write(tmp_path / "d.parquet", _rows(5), drop="answer")
    with pytest.raises(BadRowError, match=r"dataset 'toy' split 'train' column 'answer': missing column"):
        convert_rl("toy", str(src), "train", tmp_path / "out", "train",
                   RowSettings.from_data(DataConfig(), None, num_workers=1), progress=False)


def test_placeholder_mismatch_empty_answer_and_zero_bytes(tmp_path: Path) -> None:
    rows = _rows(3)
    rows[1]["problem"] = "<image><image>Compare the two figures."
    src = _write(tmp_path / "a.parquet", rows)
    with pytest.raises(BadRowError, match=r"row 1 column 'problem': 2 <image> placeholder\(s\) in the problem "
                                          r"but 1 image\(s\)"):
        _sft(src, tmp_path / "o1")
    rows = _rows(3)
    rows[2]["answer"] = "  "
    with pytest.raises(BadRowError, match=r"row 2 column 'answer': empty answer"):
        _sft(_write(tmp_path / "b.parquet", rows), tmp_path / "o2")
    rows = _rows(3)
    rows[0]["images"][0]["bytes"] = b""
    rows[0]["images"][0]["path"] = None
    with pytest.raises(BadRowError, match=r"row 0 column 'images': image 0: image has no bytes"):
        _sft(_write(tmp_path / "c.parquet", rows), tmp_path / "o3")


def test_prompt_too_long_and_extreme_aspect_ratio_are_rejected(tmp_path: Path, tiny_world) -> None:
    rows = _rows(4)
    rows[3]["problem"] = "<image>" + "word " * 600
    rows[1]["images"][0]["bytes"] = _png(10000, 30)  # aspect 333: Qwen2.5-VL's resize raises on it
    src = _write(tmp_path / "d.parquet", rows)
    summary = _sft(src, tmp_path / "out", model_path=str(tiny_world.model), max_pixels=200704,
                   max_prompt_length=256, on_bad_row="skip")
    assert summary["rows"] == 2 and summary["rejected"] == 2
    rejects = [json.loads(line) for line in Path(summary["rejects"]).read_text().splitlines()]
    assert [r["index"] for r in rejects] == [1, 3]
    assert rejects[0]["column"] == "images" and "aspect ratio 333 > 200 (10000x30)" in rejects[0]["reason"]
    assert rejects[1]["column"] == "problem" and "above max_prompt_length 256" in rejects[1]["reason"]


def test_skip_mode_writes_rejects_and_modes_become_rgb(tmp_path: Path) -> None:
    rows = _rows(40)
    rows[5]["images"][0]["bytes"] = b"not an image"
    for i, mode in zip((1, 2, 3, 4), ("RGBA", "P", "L", "CMYK"), strict=True):
        rows[i]["images"] = [{"bytes": _png(mode=mode), "path": None}, {"bytes": _png(), "path": None}]
        rows[i]["problem"] = "Two figures."  # no tags: one per image is prepended
    summary = _sft(_write(tmp_path / "d.parquet", rows), tmp_path / "out", on_bad_row="skip")
    assert summary["rows"] == 39 and summary["rejected"] == 1
    lines = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    for line in lines:
        user = line["messages"][1]["content"]
        assert user.count("<image>") == len(line["images"])
        for p in line["images"]:
            with Image.open(p) as im:
                assert im.mode == "RGB"
    assert lines[1]["messages"][1]["content"] == "<image><image>Two figures." and len(lines[1]["images"]) == 2
    assert [r["index"] for r in map(json.loads, Path(summary["rejects"]).read_text().splitlines())] == [5]


def test_resume_after_failure_continues_and_matches_a_fresh_run(tmp_path: Path, monkeypatch) -> None:
    from recipes.data import engine

    src = _write(tmp_path / "d.parquet", _rows(100))
    real = engine._results

    def crash_after_five_chunks(*args, **kwargs):
        for i, result in enumerate(real(*args, **kwargs)):
            if i == 5:
                raise RuntimeError("simulated crash")
            yield result

    monkeypatch.setattr(engine, "_results", crash_after_five_chunks)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _sft(src, tmp_path / "out", num_workers=2)
    monkeypatch.undo()
    state = json.loads((tmp_path / "out" / ".train.work" / "state.json").read_text())
    done = state["next_row"]  # chunks follow batches within parquet row groups of 50: 16+16+16+2+16
    assert done == 66 and state["rows"] == 66 and len(state["chunks"]) == 5
    summary = _sft(src, tmp_path / "out", num_workers=2)  # resumes after the last complete chunk
    assert summary["resumed_at"] == done and summary["rows"] == 100
    _sft(src, tmp_path / "fresh")
    a = (tmp_path / "out" / "train.jsonl").read_text().replace(str(tmp_path / "out"), "X")
    b = (tmp_path / "fresh" / "train.jsonl").read_text().replace(str(tmp_path / "fresh"), "X")
    assert a == b and not (tmp_path / "out" / ".train.work").exists()


def test_a_bad_row_fixed_in_place_starts_the_partial_work_over(tmp_path: Path) -> None:
    """The source's content is part of the work's identity: rows converted from the old bytes are not kept."""
    good = _rows(100)
    bad = [dict(r) for r in good]
    bad[70] = {**bad[70], "problem": ""}
    src = tmp_path / "d.parquet"
    _write(src, bad)
    with pytest.raises(BadRowError, match="row 70"):
        _sft(src, tmp_path / "out", num_workers=2)
    _write(src, good)  # fixed in place: another input
    summary = _sft(src, tmp_path / "out", num_workers=2)
    assert summary["resumed_at"] is None and summary["rows"] == 100


def test_finished_output_is_kept_unless_overwrite(tmp_path: Path) -> None:
    src = _write(tmp_path / "d.parquet", _rows(20))
    first = _sft(src, tmp_path / "out")
    again = _sft(src, tmp_path / "out")
    assert again["settings_hash"] == first["settings_hash"] and again["seconds"] == first["seconds"]  # no work
    with pytest.raises(OutputExistsError, match="changed: max_rows"):
        _sft(src, tmp_path / "out", max_rows=10)
    assert len((tmp_path / "out" / "train.jsonl").read_text().splitlines()) == 20
    redo = _sft(src, tmp_path / "out", max_rows=10, overwrite=True)
    assert redo["rows"] == 10 and len((tmp_path / "out" / "train.jsonl").read_text().splitlines()) == 10


def test_helpers() -> None:
    assert with_placeholders("x", 2) == "<image><image>x"
    assert smart_resize(2000, 1000, 28, 3136, 200704)[0] * smart_resize(2000, 1000, 28, 3136, 200704)[1] <= 200704
    im = clean_image(_png(mode="RGBA"))
    assert im.ext == "png" and Image.open(io.BytesIO(im.data)).mode == "RGB"
    assert clean_image(_png()).data == _png()  # RGB PNG bytes kept as they are


def test_prompt_counter_matches_the_real_processor(tiny_world) -> None:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(str(tiny_world.model))
    counter = PromptCounter(tiny_world.model)
    img = Image.new("RGB", (300, 200), "white")
    h, w = smart_resize(200, 300, 28, 3136, 200704)
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is 2+2? Options."}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = processor(text=[text], images=[img.resize((w, h))])["input_ids"][0]
    n_img = counter.image_tokens(200, 300, 3136, 200704)[0]
    assert counter.count("Be brief.", "<image>What is 2+2? Options.", [n_img]) == len(ids)


def test_row_settings_are_read_once_from_the_data_config() -> None:
    """Converters take cfg.data's values (no defaults of their own); SFT keeps ms-swift's pixel floor; a bad
    on_bad_row is named."""
    from recipes.data.qwen_vl import QWEN_MIN_PIXELS
    from recipes.pipeline.compose import compose

    data = compose("qwen2_5_vl_7b", ["data.max_rows=7", "data.on_bad_row=skip"]).data
    s = RowSettings.from_data(data, "/m")
    d = DataConfig()
    assert (s.system_prompt, s.max_pixels, s.min_pixels, s.max_prompt_length, s.num_workers) == (
        d.system_prompt, d.max_pixels, d.min_pixels, d.max_prompt_length, d.num_workers)
    assert (s.max_rows, s.on_bad_row, s.model_path) == (7, "skip", "/m") and "num_workers" not in s.hashed()
    assert sft_settings(data, None).min_pixels == QWEN_MIN_PIXELS
    with pytest.raises(ConfigError) as err:
        RowSettings.from_data(data, None, on_bad_row="ignore", num_workers=0, max_pixels=1000)
    assert str(err.value).splitlines() == [
        "data settings refused; nothing was converted:",
        "  data.on_bad_row='ignore': one of error, skip",
        "  data.num_workers=0: must be >= 1",
        "  data.min_pixels=262144: must be <= data.max_pixels (1000)"]


def test_row_settings_come_from_the_schema_only() -> None:
    """RowSettings reads the schema's data settings, nothing shaped like them: a plain namespace with the same
    names is refused, and every field it reads is a DataConfig field."""
    import argparse
    import dataclasses

    from recipes.data.rows import FROM_DATA

    assert set(FROM_DATA) <= {f.name for f in dataclasses.fields(DataConfig)}
    with pytest.raises(TypeError) as err:
        RowSettings.from_data(argparse.Namespace(**{n: getattr(DataConfig(), n) for n in FROM_DATA}), None)
    assert str(err.value) == "RowSettings.from_data needs cfg.data (the schema's DataConfig), got Namespace"
    assert RowSettings.from_data(DataConfig(max_rows=3), None).max_rows == 3
