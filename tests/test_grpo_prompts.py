"""RL prompts as the reference builds them (one user turn, no system message of its own), the SFT system
prompt as a named option, and prompt lengths counted as verl will see them (Qwen's template default system)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from GRPO.data_stage import rl_system_prompt
from GRPO.rl_rows import convert_rl
from recipes.data.rows import RowSettings
from recipes.pipeline.compose import compose
from recipes.pipeline.config import SYSTEM_PROMPT, DataConfig

TINY_MAX, TINY_MIN = 200704, 3136


def test_the_recipes_default_to_the_reference_prompt_and_name_the_option():
    assert rl_system_prompt(compose("qwen2_5_vl_7b")) is None
    assert rl_system_prompt(compose("qwen2_5_vl_7b", ["data.rl_system_prompt=true"])) == SYSTEM_PROMPT


@pytest.fixture(scope="module")
def converted(tiny_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("rl_prompts")
    settings = RowSettings.from_data(DataConfig(), str(tiny_world.model), max_pixels=TINY_MAX, min_pixels=TINY_MIN,
                                     max_prompt_length=1024, num_workers=1, max_rows=12)
    plain = convert_rl("tiny:rl", str(tiny_world.datasets["rl"]), "train", out, "plain",
                       replace(settings, system_prompt=None), progress=False)
    sft = convert_rl("tiny:rl", str(tiny_world.datasets["rl"]), "train", out, "sft", settings, progress=False)
    return out, plain, sft


def test_reference_prompt_is_one_user_turn_counted_with_the_template_default(converted, tiny_world):
    """Each prompt_tokens equals the processor's own count of the user-only conversation with its images."""
    import pyarrow.parquet as pq
    from omegaconf import OmegaConf
    from transformers import AutoProcessor, AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    out, plain, sft = converted
    assert plain["rows"] == sft["rows"] == 12
    rows = pq.read_table(out / "plain.parquet").to_pylist()
    with_system = pq.read_table(out / "sft.parquet").to_pylist()
    assert all([m["role"] for m in r["prompt"]] == ["user"] for r in rows)
    assert all([m["role"] for m in r["prompt"]] == ["system", "user"] for r in with_system)
    assert all(r["prompt"][0]["content"] == SYSTEM_PROMPT for r in with_system)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_world.model))
    processor = AutoProcessor.from_pretrained(str(tiny_world.model))
    config = OmegaConf.create({"prompt_key": "prompt", "image_key": "images", "max_prompt_length": 1024,
                               "filter_overlong_prompts": False, "cache_dir": str(out / "verl_cache")})
    ds = RLHFDataset([str(out / "plain.parquet")], tokenizer, config, processor)
    for i in range(len(ds)):
        messages = ds[i]["raw_prompt"]
        images, _, _ = RLHFDataset._process_multi_modal_info(messages, ds.image_patch_size, config)
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")
        ids = processor(text=[text], images=images, return_tensors="pt")["input_ids"][0]
        assert len(ids) == rows[i]["extra_info"]["prompt_tokens"], f"row {i}"
        assert rows[i]["extra_info"]["prompt_tokens"] != with_system[i]["extra_info"]["prompt_tokens"]


def test_tiny_gpu_model_has_head_size_64(tiny_world):
    from transformers import AutoConfig

    from recipes.hub import HubRef, resolve

    path = resolve(HubRef("tiny:model_gpu", "model"))
    cfg = AutoConfig.from_pretrained(str(path))
    text, vision = cfg.text_config, cfg.vision_config
    assert text.hidden_size // text.num_attention_heads == 64 and vision.hidden_size // vision.num_heads == 64
    assert sum(text.rope_parameters["mrope_section"]) == 32
    assert (path / "chat_template.jinja").is_file() or (path / "tokenizer_config.json").is_file()
    assert compose("tiny_gpu").model.path == "tiny:model_gpu" and compose("tiny").model.path == "tiny:model"
