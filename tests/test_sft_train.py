"""A real `swift sft` run of the tiny model on CPU through the runner: checkpoint, manifest, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recipes.pipeline.compose import compose
from recipes.pipeline.config import SYSTEM_PROMPT
from recipes.pipeline.runner import Runner
from recipes.stage import Stage, StageContext, StagePlan
from SFT.box_rate import has_closed_box, read_prompts
from SFT.train_stage import STAGE


def write_swift_jsonl(dataset_dir: Path, out_dir: Path, limit: int | None = None) -> Path:
    """The tiny cold-start set as ms-swift JSONL (messages + image paths), as the sft_data stage writes it."""
    from datasets import load_dataset

    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, row in enumerate(load_dataset(str(dataset_dir), split="train")):
        if limit is not None and i >= limit:
            break
        paths = []
        for k, image in enumerate(row["images"]):
            path = out_dir / "images" / f"{i:05d}_{k}.jpg"
            image.convert("RGB").save(path, "JPEG", quality=90)
            paths.append(str(path))
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": row["problem"]},
                    {"role": "assistant", "content": row["answer"]}]
        lines.append(json.dumps({"messages": messages, "images": paths}))
    (out_dir / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out_dir / "train.jsonl"


class GivenData(Stage):
    """Stands in for the sft_data stage's output: a JSONL already written by the test."""

    name = "sft_data"

    def __init__(self, path: Path):
        self.path = path

    def plan(self, ctx: StageContext) -> StagePlan:
        return StagePlan(outputs={"train": str(self.path)})

    def run(self, ctx: StageContext) -> dict:
        return {"train": str(self.path)}


def test_has_closed_box() -> None:
    assert has_closed_box(r"so \boxed{\frac{3}{4}}.")
    assert has_closed_box(r"\boxed{ \boxed{1}")
    assert not has_closed_box(r"answer \boxed{12")
    assert not has_closed_box("answer 12")


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_tiny_swift_sft_trains_checkpoints_and_resumes(tmp_path: Path, tiny_world) -> None:
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    jsonl = write_swift_jsonl(tiny_world.datasets["cold_start"], tmp_path / "data", limit=12)
    assert len(read_prompts(jsonl)) == 12
    overrides = [f"runs_dir={tmp_path / 'runs'}", "stages=[sft_data,sft]", "sft.per_device_train_batch_size=2",
                 "sft.global_batch_size=2", "sft.save_steps=2", "sft.eval_steps=2", "sft.max_length=512",
                 "sft.split_dataset_ratio=0.2", "sft.save_total_limit=3", "sft.report_to=[none]",
                 "+sft.extra_args.max_steps=4"]
    stages = {"sft_data": GivenData(jsonl), "sft": STAGE}
    Runner(compose("tiny", overrides), echo=lambda *_: None, stages=stages).run()

    run_dir = tmp_path / "runs" / "tiny"
    out = run_dir / "sft" / "output"
    entry = json.loads((run_dir / "manifest.json").read_text())["stages"]["sft"]
    assert entry["status"] == "done" and entry["outputs"]["global_step"] == 4
    assert entry["outputs"]["checkpoint"] == str(out / "checkpoint-4")
    assert Path(entry["outputs"]["best_checkpoint"]).parent == out  # eval loss was recorded
    assert (run_dir / "sft" / "system.txt").read_text() == SYSTEM_PROMPT
    log = (run_dir / "sft" / "log.txt").read_text()
    assert "--system " + str(run_dir / "sft" / "system.txt") in log and "--resume_from_checkpoint" not in log
    assert (out / "logging.jsonl").is_file()
    # the checkpoint is a Hugging Face model dir GRPO can start from
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(out / "checkpoint-4"))
    AutoProcessor.from_pretrained(str(out / "checkpoint-4"))
    assert model.config.vision_config.depth == 2

    # An interruption after checkpoint-2: the last checkpoint is gone and the stage is left `running`.
    for f in (out / "checkpoint-4").iterdir():
        f.unlink() if f.is_file() else None
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["stages"]["sft"]["status"] = "running"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    Runner(compose("tiny", overrides), echo=lambda *_: None, stages=stages).run()

    log = (run_dir / "sft" / "log.txt").read_text().split("\n# ")[-1]  # the second attempt
    assert f"--resume_from_checkpoint {out / 'checkpoint-2'}" in log and "--resume_only_model" not in log
    assert f"--model {out / 'checkpoint-2'} " in log  # a full checkpoint: weights, optimizer and schedule
    assert "| 1/4 [" not in log and "| 2/4 [" not in log and "| 4/4 [" in log  # steps 3-4 only
    assert json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4
    entry = json.loads((run_dir / "manifest.json").read_text())["stages"]["sft"]
    assert entry["status"] == "done" and entry["attempts"] == 2



PIXELS = 64 * 28 * 28
"""A small image-token budget for the box-rate checks (generation time grows with it)."""


def _bare_greedy(model_dir: Path, jsonl: Path, max_new_tokens: int) -> str:
    """The first prompt through a bare `model.generate(do_sample=False)` (what box_rate did before): the
    model's generation_config.json fills every knob not given."""
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from recipes.data.qwen_vl import typed_parts

    row = read_prompts(jsonl, 1)[0]
    processor = AutoProcessor.from_pretrained(str(model_dir), max_pixels=PIXELS)
    messages = [{"role": m["role"], "content": typed_parts(str(m["content"]))} for m in row["messages"]]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text], images=[Image.open(p).convert("RGB") for p in row["images"]] or None,
                       return_tensors="pt")
    model = AutoModelForImageTextToText.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0]


@pytest.mark.slow
def test_box_rate_generates_through_evaluations_backend_with_its_pins(tmp_path: Path, tiny_world) -> None:
    """SFT/box_rate.py generates with evaluation's HFBackend: a model's generation_config.json (here a copy of
    the tiny model with its repetition penalty raised from 1.05 to 3.0) changes nothing, unlike a bare greedy
    `generate`."""
    import shutil

    from SFT.box_rate import measure

    jsonl = write_swift_jsonl(tiny_world.datasets["cold_start"], tmp_path / "data", limit=2)
    penalised = tmp_path / "penalised"
    shutil.copytree(tiny_world.model, penalised)
    gen_cfg = json.loads((penalised / "generation_config.json").read_text())
    (penalised / "generation_config.json").write_text(json.dumps({**gen_cfg, "repetition_penalty": 3.0}))

    base = measure(tiny_world.model, jsonl, max_new_tokens=24, max_pixels=PIXELS, n_samples=2)
    assert (base.prompts, len(base.samples)) == (2, 2)
    assert base.boxed == sum(map(has_closed_box, base.samples))
    again = measure(penalised, jsonl, max_new_tokens=24, max_pixels=PIXELS, n_samples=2,
                    batch_size=2)
    assert again.samples == base.samples and again.boxed == base.boxed
    assert _bare_greedy(tiny_world.model, jsonl, 24) != _bare_greedy(penalised, jsonl, 24)
