"""The tiny offline world: API and caching, the tiny Qwen2.5-VL (ids, processor, ms-swift), the datasets."""

from __future__ import annotations

import math
import multiprocessing
import os
import re
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from recipes.tiny_world import TinyWorld, build, ensure_tiny_world
from recipes.tiny_world.problems import SHAPE_COLOR_QUESTIONS
from recipes.tiny_world.registry import DATASET_SPLITS
from recipes.tiny_world.tokenizer import QWEN2_5_VL_CHAT_TEMPLATE, QWEN_ADDED_TOKENS

REPO = Path(__file__).resolve().parents[1]
MAX_PIXELS = 1204224  # the paper's per-image ceiling


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> TinyWorld:
    """The shared cache when $RLCS_CACHE is set, else a fresh build in a session temp dir."""
    cache = os.environ.get("RLCS_CACHE") or tmp_path_factory.mktemp("tiny_cache")
    return ensure_tiny_world(cache)


# --------------------------------------------------------------------------- API, cache, atomicity


def test_api_layout_and_cached_second_call(world: TinyWorld) -> None:
    assert world.root.name == "tiny-v1"
    assert (world.model / "config.json").is_file() and (world.model / "model.safetensors").is_file()
    assert set(world.datasets) == set(DATASET_SPLITS)
    assert all(p.is_dir() for p in world.datasets.values())
    t0 = time.perf_counter()
    again = ensure_tiny_world(world.root.parent)
    assert time.perf_counter() - t0 < 0.5
    assert again == world


def test_default_cache_dir_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RLCS_CACHE", str(tmp_path / "c"))
    assert build.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("RLCS_CACHE")
    assert build.default_cache_dir() == Path.home() / ".cache" / "rl-cold-start"


def _fake_parts(log: Path, fail: bool = False) -> list[build.Part]:
    def ok(out: Path) -> None:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(0.3)
        (out / "data.txt").write_text("done")

    def broken(out: Path) -> None:
        (out / "half.txt").write_text("half")
        raise RuntimeError("killed mid-build")

    return [build.Part("model", 1, ok), build.Part("datasets/x", 1, broken if fail else ok)]


def test_failed_build_leaves_no_half_part_and_resumes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "log.txt"
    monkeypatch.setattr(build, "_parts", lambda: _fake_parts(log, fail=True))
    with pytest.raises(RuntimeError, match="killed mid-build"):
        ensure_tiny_world(tmp_path)
    root = tmp_path / "tiny-v1"
    assert (root / "model" / "data.txt").is_file()
    assert not (root / "datasets" / "x").exists()
    assert not [p for p in (root / "datasets").iterdir()], "temp dir left behind"
    assert set(build.manifest_of(TinyWorld(root, root / "model"))["parts"]) == {"model"}
    monkeypatch.setattr(build, "_parts", lambda: _fake_parts(log))
    w = ensure_tiny_world(tmp_path)
    assert (w.datasets["x"] / "data.txt").read_text() == "done"
    assert len(log.read_text().split()) == 2  # model built once, the failed part once more


def _call_in_child(cache: str) -> None:
    ensure_tiny_world(cache)


def test_concurrent_builders_build_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    monkeypatch.setattr(build, "_parts", lambda: _fake_parts(log))
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_call_in_child, args=(str(tmp_path),)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert len(log.read_text().split()) == 2, "each part must be built by exactly one process"


def test_cli_prints_paths(world: TinyWorld) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "build_tiny_world.py"),
            "--cache-dir",
            str(world.root.parent),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        timeout=120,
    ).stdout
    assert str(world.model) in out and str(world.datasets["rl"]) in out and "MB" in out


# --------------------------------------------------------------------------- model, tokenizer, processor


def test_tokenizer_has_qwen_special_ids_and_template(world: TinyWorld) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(world.model)
    for offset, (content, _) in enumerate(QWEN_ADDED_TOKENS):
        assert tok.convert_tokens_to_ids(content) == 151643 + offset, content
    assert tok.convert_tokens_to_ids("<|image_pad|>") == 151655
    assert tok.convert_tokens_to_ids("<|video_pad|>") == 151656
    assert (tok.eos_token, tok.eos_token_id, tok.pad_token_id) == ("<|im_end|>", 151645, 151643)
    assert len(tok) == 151665 and tok.chat_template == QWEN2_5_VL_CHAT_TEMPLATE
    text = r"Find x. <think> 2 \times (3 + 5) = 16 </think> \boxed{\frac{3}{4}} Choices: (A) 1.5 (B) 2"
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text
    assert max(ids) < 5000, "ordinary text must never reach the placeholder ids"
    assert len(ids) < len(text) / 1.8, "the trained BPE should merge common words"
    assert tok("user")["input_ids"] == [tok.convert_tokens_to_ids("user")]


def test_config_matches_qwen2_5_vl(world: TinyWorld) -> None:
    from transformers import AutoConfig, GenerationConfig

    cfg = AutoConfig.from_pretrained(world.model)
    assert cfg.model_type == "qwen2_5_vl" and cfg.architectures == ["Qwen2_5_VLForConditionalGeneration"]
    assert (cfg.image_token_id, cfg.video_token_id) == (151655, 151656)
    assert (cfg.vision_start_token_id, cfg.vision_end_token_id) == (151652, 151653)
    assert cfg.text_config.vocab_size == 151936 and cfg.tie_word_embeddings
    assert cfg.vision_config.out_hidden_size == cfg.text_config.hidden_size
    gen = GenerationConfig.from_pretrained(world.model)
    assert gen.eos_token_id == [151645, 151643] and gen.pad_token_id == 151643


def test_processor_and_model_forward_generate(world: TinyWorld) -> None:
    import torch
    from PIL import Image
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    t0 = time.perf_counter()
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(world.model).eval()
    processor = AutoProcessor.from_pretrained(world.model)
    load_s = time.perf_counter() - t0
    assert model.dtype == torch.float32 and load_s < 30
    assert model.lm_head.weight.data_ptr() == model.model.language_model.embed_tokens.weight.data_ptr()
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    ip = processor.image_processor
    assert (ip.patch_size, ip.merge_size, ip.temporal_patch_size) == (14, 2, 2)
    msgs = [
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "image"},
                {"type": "text", "text": "How many dots in total?"},
            ],
        }
    ]
    text = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
    imgs = [Image.new("RGB", (100, 80), "white"), Image.new("L", (60, 130), 128)]
    batch = processor(text=[text], images=imgs, return_tensors="pt")
    n_pad = int((batch["input_ids"] == 151655).sum())
    assert n_pad == int(batch["image_grid_thw"].prod(dim=1).sum()) // 4 > 0
    with torch.no_grad():
        logits = model(**batch).logits
        out = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert logits.shape[-1] == 151936 and torch.isfinite(logits).all()
    assert out.shape[1] == batch["input_ids"].shape[1] + 4


def test_ms_swift_loads_and_encodes_images(world: TinyWorld) -> None:
    from PIL import Image
    from swift.model import get_model_processor
    from swift.template import get_template

    _, processor = get_model_processor(
        str(world.model), model_type="qwen2_5_vl", use_hf=True, load_model=False, download_model=False
    )
    template = get_template(processor, template_type="qwen2_5_vl")
    template.set_mode("train")
    enc = template.encode(
        {
            "messages": [
                {"role": "user", "content": "<image>What is the perimeter?"},
                {"role": "assistant", "content": r"2 \times (3 + 5) = 16. \boxed{16}"},
            ],
            "images": [Image.new("RGB", (112, 84), "white")],
        }
    )
    n_pad = enc["input_ids"].count(151655)
    assert n_pad == int(enc["image_grid_thw"].prod()) // 4 == 12
    assert enc["input_ids"].count(151652) == 1 and 151645 in enc["input_ids"]


# --------------------------------------------------------------------------- datasets


EXPECTED_COLUMNS = {
    "cold_start": ["images", "problem", "answer"],
    "rl": ["images", "problem", "answer"],
    "geometry3k": ["images", "problem", "answer"],
    "mathvista": [
        "pid",
        "question",
        "image",
        "decoded_image",
        "choices",
        "unit",
        "precision",
        "answer",
        "question_type",
        "answer_type",
        "metadata",
        "query",
    ],
    "mathverse": [
        "sample_index",
        "problem_index",
        "problem_version",
        "question",
        "image",
        "answer",
        "question_type",
        "metadata",
        "query_wo",
        "query_cot",
        "question_for_eval",
    ],
    "mathvision": [
        "id",
        "question",
        "options",
        "image",
        "decoded_image",
        "answer",
        "solution",
        "level",
        "subject",
    ],
    "wemath": [
        "ID",
        "split",
        "knowledge concept",
        "question",
        "option",
        "answer",
        "image_path",
        "key",
        "question number",
        "knowledge concept description",
    ],
}
IMAGE_COLUMNS = {
    "cold_start": "images",
    "rl": "images",
    "geometry3k": "images",
    "mathvista": "decoded_image",
    "mathverse": "image",
    "mathvision": "decoded_image",
    "wemath": "image_path",
}
ROWS = {
    ("cold_start", "train"): 160,
    ("rl", "train"): 160,
    ("geometry3k", "test"): 32,
    ("mathvista", "testmini"): 24,
    ("mathverse", "testmini"): 20,
    ("mathvision", "test"): 24,
    ("mathvision", "testmini"): 12,
    ("wemath", "testmini"): 24,
}


def _load(world: TinyWorld, name: str, split: str):
    from datasets import load_dataset

    return load_dataset(str(world.datasets[name]), split=split)


def _rows(world: TinyWorld, name: str, split: str):
    """The split as written, read from its parquet file: `load_dataset(dir)` may serve a rebuilt dir's old rows
    from its cache (one cache entry per dir name, shared by every world)."""
    import pyarrow.parquet as pq
    from datasets import Dataset

    return Dataset(pq.read_table(next((world.datasets[name] / "data").glob(f"{split}-*.parquet"))))


@pytest.mark.parametrize(("name", "split"), sorted(ROWS))
def test_dataset_loads_with_real_columns(world: TinyWorld, name: str, split: str) -> None:
    from datasets import Image, List

    ds = _load(world, name, split)
    assert ds.column_names == EXPECTED_COLUMNS[name] and len(ds) == ROWS[(name, split)]
    feat = ds.features[IMAGE_COLUMNS[name]]
    if IMAGE_COLUMNS[name] == "images":
        assert isinstance(feat, List) and isinstance(feat.feature, Image)
        assert all(r["problem"].count("<image>") == len(r["images"]) for r in ds)
    else:
        assert isinstance(feat, Image)
    if name == "mathvista":
        assert {r["question_type"] for r in ds} == {"multi_choice", "free_form"}
        assert all(r["answer"] in r["choices"] for r in ds if r["question_type"] == "multi_choice")
        assert all(r["choices"] is None for r in ds if r["question_type"] == "free_form")
    if name == "mathverse":
        assert [r["problem_version"] for r in ds][:5] == [
            "Text Dominant",
            "Text Lite",
            "Vision Intensive",
            "Vision Dominant",
            "Vision Only",
        ]
    if name == "wemath":
        assert all(re.fullmatch("[A-E]", r["answer"]) for r in ds)
        assert {r["key"] for r in ds} >= {"2steps_1", "2steps_2", "2steps_multi", "3steps_3", "3steps_multi"}


def _is_learnable(problem: str) -> bool:
    """A ``shape_color`` question, in any of its phrasings."""
    return any(q in problem for q in SHAPE_COLOR_QUESTIONS)


def test_train_mix_modes_sizes_and_two_images(world: TinyWorld) -> None:
    rows = list(_rows(world, "rl", "train")) + list(_rows(world, "cold_start", "train"))
    imgs = [im for r in rows for im in r["images"]]
    assert {"RGB", "RGBA", "P", "L", "CMYK"} <= {im.mode for im in imgs}
    assert any(im.width * im.height > MAX_PIXELS for im in imgs)
    assert sum(im.width * im.height <= 224 * 224 for im in imgs) / len(imgs) > 0.9
    learnable = sum(_is_learnable(r["problem"]) for r in rows) / len(rows)
    assert 0.68 < learnable < 0.86  # cold start 0.75, RL 0.8 (recipes/tiny_world/data.py)
    other = [r for r in rows if not _is_learnable(r["problem"])]
    two = sum(len(r["images"]) == 2 for r in other) / len(other)
    mcq = sum("Choices: (A)" in r["problem"] for r in other) / len(other)
    assert 0.05 < two < 0.3 and 0.25 < mcq < 0.5


def _colour_shares(img) -> dict[str, float]:
    """Share of an RGB picture's pixels in each SHAPE_COLOURS colour."""
    import numpy as np

    from recipes.tiny_world.images import SHAPE_COLOURS

    px = np.asarray(img).reshape(-1, 3).astype(int)
    return {name: float((np.abs(px - rgb).sum(axis=1) < 30).mean()) for name, rgb in SHAPE_COLOURS.items()}


def _largest_colour(img) -> str | None:
    """The SHAPE_COLOURS name covering the most pixels of an RGB picture (None for other modes)."""
    if img.mode != "RGB":
        return None
    shares = _colour_shares(img)
    return max(shares, key=shares.get)


def _count_dots(img) -> int:
    import numpy as np
    from scipy import ndimage

    gray = np.asarray(img.convert("RGB").convert("L"))
    return int(ndimage.label(gray < 200)[1])


def _recompute(problem: str, images: list) -> Fraction | str | None:
    """The answer recomputed from the question text and, for dot counts and colours, from the pixels."""
    if _is_learnable(problem):
        return _largest_colour(images[0])
    nums = [int(x) for x in re.findall(r"\d+", problem.split("\nChoices:")[0])]
    if "perimeter" in problem:
        return Fraction(2 * (nums[0] + nums[1]))
    if "rectangle has width" in problem or "rectangle in the figure has width" in problem:
        return Fraction(nums[0] * nums[1])
    if "hypotenuse" in problem:
        return Fraction(math.isqrt(nums[0] ** 2 + nums[1] ** 2))
    if "right triangle" in problem and "area" in problem:
        return Fraction(nums[0] * nums[1], 2)
    if "circumference" in problem:
        return Fraction(2 * 314 * nums[0], 100)
    if "sum of their areas" in problem:
        return Fraction(nums[0] * nums[1] + nums[2] * nums[3])
    counts = [_count_dots(im) for im in images]
    if "How many dots" in problem:
        return Fraction(sum(counts))
    if "dots in the image are removed" in problem:
        return Fraction(counts[0] - nums[0], counts[0])
    return None  # bar charts and clocks: checked through the chain of thought below


def _value(s: str) -> Fraction:
    m = re.fullmatch(r"\\frac\{(\d+)\}\{(\d+)\}", s)
    return Fraction(int(m[1]), int(m[2])) if m else Fraction(s)


def _gold_value(problem: str, answer: str) -> str:
    if re.fullmatch("[A-E]", answer) and "Choices:" in problem:
        opts = dict(re.findall(r"\(([A-E])\) (\S+)", problem.split("Choices:")[1]))
        return opts[answer]
    return answer


@pytest.mark.parametrize("name", ["rl", "cold_start", "geometry3k"])
def test_answers_are_correct(world: TinyWorld, name: str) -> None:
    split = DATASET_SPLITS[name][0]
    checked = 0
    for r in _rows(world, name, split):
        answer = r["answer"]
        if name == "cold_start":
            boxed = re.findall(r"\\boxed\{(.+)\}\.$", answer)
            assert len(boxed) == 1, answer
            answer = boxed[0]
        gold = _gold_value(r["problem"], answer)
        want = _recompute(r["problem"], r["images"])
        if want is None:
            continue
        assert (gold if isinstance(want, str) else _value(gold)) == want, (r["problem"], r["answer"])
        checked += 1
    assert checked > (20 if name == "geometry3k" else 80)


def test_cold_start_chain_of_thought_is_consistent(world: TinyWorld) -> None:
    learnable = rechecked = 0
    for r in _rows(world, "cold_start", "train"):
        cot = r["answer"]
        assert cot.count(". ") + 1 <= 6 and cot.endswith("}.")
        final = re.findall(r"\\boxed\{(.+)\}\.$", cot)[0]
        if _is_learnable(r["problem"]):
            # the colour goes into the box straight from the picture, never copied from an earlier sentence
            assert cot.endswith(rf"The largest shape in the picture is \boxed{{{final}}}."), cot
            learnable += 1
            rechecked += "Wait, let me check the picture again." in cot
            continue
        assert cot.count(". ") + 1 >= 2
        value = _gold_value(r["problem"], final)
        assert value in cot.replace(rf"\boxed{{{final}}}", ""), cot  # the reasoning states the value
    assert 0.1 < rechecked / learnable < 0.4  # RECHECK_RATE 0.25: reflection words before any RL


def test_heldin_slice_is_unseen_learnable_problems(world: TinyWorld) -> None:
    from recipes.tiny_world.images import SHAPE_COLOURS

    ds = _rows(world, "heldin", "testmini")
    assert len(ds) == 48 and set(ds.column_names) == set(EXPECTED_COLUMNS["mathvista"])
    assert {r["answer"] for r in ds} == set(SHAPE_COLOURS)
    assert all(r["query"] == r["question"] in SHAPE_COLOR_QUESTIONS and r["question_type"] == "free_form" for r in ds)
    assert all(_largest_colour(r["decoded_image"].convert("RGB")) == r["answer"] for r in ds)
    # the answer's colour fills much of the picture: most patches the tiny vision tower sees carry it
    assert min(_colour_shares(r["decoded_image"].convert("RGB"))[r["answer"]] for r in ds) > 0.4
    train = {r["images"][0].tobytes() for r in _rows(world, "cold_start", "train") if _is_learnable(r["problem"])}
    assert not any(r["decoded_image"].convert("RGB").tobytes() in train for r in ds)
