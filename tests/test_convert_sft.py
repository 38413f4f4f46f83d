"""SFT/ converter: ms-swift JSON lines + images, cross-checked with ms-swift's dataset loading and template."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from recipes.pipeline.config import SYSTEM_PROMPT, DataConfig
from SFT.checks import check_dataset
from SFT.sft_rows import convert_sft, sft_settings


@pytest.fixture(scope="module")
def converted(tiny_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft_data")
    summary = convert_sft("tiny:cold_start", str(tiny_world.datasets["cold_start"]), "train", out,
                          sft_settings(DataConfig(), str(tiny_world.model), max_pixels=200704,
                                       max_prompt_length=1024, num_workers=2), progress=False)
    return out, summary


def test_every_image_kept_rgb_with_one_tag_each(converted, tiny_world) -> None:
    from datasets import load_dataset

    out, summary = converted
    source = load_dataset(str(tiny_world.datasets["cold_start"]), split="train")
    lines = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    assert summary["rows"] == len(lines) == len(source) and summary["rejected"] == 0
    assert check_dataset(out / "train.jsonl") == len(lines)  # the sft stage's own pre-flight check
    multi = 0
    for line, src in zip(lines, source, strict=True):
        roles = [m["role"] for m in line["messages"]]
        assert roles == ["system", "user", "assistant"] and line["messages"][0]["content"] == SYSTEM_PROMPT
        assert line["messages"][2]["content"] == src["answer"]
        assert line["messages"][1]["content"].count("<image>") == len(line["images"]) == len(src["images"])
        multi += len(line["images"]) > 1
        for path, orig in zip(line["images"], src["images"], strict=True):
            with Image.open(path) as im:
                assert im.mode == "RGB" and im.size == orig.size
    assert multi > 0  # rows with two images keep both (the reference kept only the first)


@pytest.mark.slow
def test_jsonl_loads_through_ms_swift_and_encodes_with_matching_image_tokens(converted, tiny_world) -> None:
    from swift.dataset import load_dataset
    from swift.model import get_model_processor
    from swift.template import get_template

    out, summary = converted
    train, _ = load_dataset([str(out / "train.jsonl")], use_hf=True)
    assert len(train) == summary["rows"]
    _, processor = get_model_processor(str(tiny_world.model), model_type="qwen2_5_vl", use_hf=True,
                                       load_model=False, download_model=False)
    template = get_template(processor, template_type="qwen2_5_vl")
    template.set_mode("train")
    for i in range(len(train)):
        row = train[i]
        enc = template.encode(row)
        n_images = len(row["images"])
        assert enc["image_grid_thw"].shape[0] == n_images >= 1
        assert enc["input_ids"].count(151655) == int(enc["image_grid_thw"].prod(-1).sum()) // 4, f"row {i}"
        assert enc["input_ids"].count(151652) == n_images  # one <|vision_start|> per image
        assert any(label != -100 for label in enc["labels"])  # the answer is trained on
