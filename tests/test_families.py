"""Model families as one table (recipes/families.py): lookups and refusals, the Qwen3-VL recipes against the
paper's 7B recipe (every difference named), the stages' reads of the table, and each family's tiny model
against its row (config class, processor geometry, token ids, the merger's saved names, ms-swift's template)."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from recipes.families import (
    FAMILIES,
    QWEN2_5_VL,
    QWEN3_5,
    QWEN3_VL,
    RECIPE_DIFFERENCES,
    FamilyError,
    UnknownFamily,
    check_template,
    family_of,
    markdown,
)
from recipes.pipeline.compose import compose

from helpers.tiers import one_fast

SUPPORTED = [f for f in FAMILIES.values() if f.supported]
"""Rows the stack runs (each has a tiny model)."""


# --------------------------------------------------------------------------- lookups and refusals


@pytest.mark.parametrize("family", SUPPORTED, ids=lambda f: f.name)
def test_every_size_and_the_tiny_model_resolve_to_their_row(family):
    for size in family.sizes.values():
        assert family_of(size.hub_id) is family
    assert family_of(family.tiny) is family
    assert family.factor == family.patch_size * family.merge_size
    assert family.pixels(1536) == 1536 * family.factor ** 2


def test_pixel_factors_are_the_families_patch_times_merge():
    assert (QWEN2_5_VL.factor, QWEN3_VL.factor) == (28, 32)
    assert QWEN3_VL.same_budget(1204224, QWEN2_5_VL) == 1536 * 32 * 32  # the paper's 1,536 tokens


@pytest.mark.parametrize(("ref", "match"), [
    ("Qwen/Qwen3-VL-8B-Thinking", "Thinking variants are refused"),
    ("Qwen/Qwen3-VL-30B-A3B-Instruct", "mixture-of-experts"),
    ("Qwen/Qwen3.5-9B", "Qwen3.5 is not supported yet"),
])
def test_thinking_moe_and_unsupported_rows_are_refused_in_one_line(ref, match):
    with pytest.raises(FamilyError, match=match) as err:
        family_of(ref)
    assert "\n" not in str(err.value) and not isinstance(err.value, UnknownFamily)


def test_unknown_models_are_unknown_not_refused(tmp_path):
    with pytest.raises(UnknownFamily):
        family_of("someone/finetune-7b")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(UnknownFamily, match="model_type 'llava'"):
        family_of(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen3_vl"}))
    assert family_of(str(tmp_path)) is QWEN3_VL
    assert check_template("someone/finetune-7b", "anything") is None  # nothing to check against


def test_qwen3_5_row_names_what_is_missing_upstream():
    assert not QWEN3_5.supported and len(QWEN3_5.missing) >= 3
    assert QWEN3_5.image_token_id == 248056 and QWEN3_5.template == "qwen3_5"
    from transformers import Qwen3_5Config

    cfg = Qwen3_5Config()
    assert (cfg.image_token_id, cfg.vision_start_token_id, cfg.vision_config.patch_size) == (
        QWEN3_5.image_token_id, QWEN3_5.vision_start_id, QWEN3_5.patch_size)
    assert "not yet" in markdown() and "Qwen3-VL" in markdown()


# --------------------------------------------------------------------------- recipes


def _leaves(cfg) -> dict[str, object]:
    flat: dict[str, object] = {}

    def walk(node, prefix):
        for k, v in node.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                walk(v, key + ".")
            else:
                flat[key] = v
    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return flat


@pytest.mark.parametrize("recipe", ["qwen3_vl_8b", "qwen3_vl_4b"])
def test_qwen3_vl_recipes_differ_from_the_papers_only_where_named(recipe):
    paper, ours = _leaves(compose("qwen2_5_vl_7b")), _leaves(compose(recipe))
    assert set(paper) == set(ours)
    differ = {k for k in paper if paper[k] != ours[k]} - {"run_name"}
    assert differ == set(RECIPE_DIFFERENCES), "a difference from the paper's recipe without its reason"
    assert family_of(str(ours["model.path"])) is QWEN3_VL and ours["model.template"] == QWEN3_VL.template
    for key in ("data.max_pixels", "eval.max_pixels", "eval.min_pixels"):  # the same image-token budget
        assert ours[key] == QWEN3_VL.same_budget(int(paper[key]), QWEN2_5_VL), key
    assert ours["data.min_pixels"] == QWEN3_VL.same_budget(int(paper["data.min_pixels"]), QWEN2_5_VL)


def test_the_qwen3_vl_eval_preset_is_the_papers_protocol_at_qwen3_vls_pixel_factor():
    from recipes.pipeline.compose import compose_eval

    paper, ours = (OmegaConf.to_container(compose_eval(p), resolve=True) for p in ("paper", "paper_qwen3_vl"))
    assert {k for k in paper if paper[k] != ours[k]} == {"preset", "max_pixels", "min_pixels"}
    assert (ours["max_pixels"], ours["min_pixels"]) == tuple(
        QWEN3_VL.same_budget(paper[k], QWEN2_5_VL) for k in ("max_pixels", "min_pixels"))


def test_tiny_qwen3_vl_recipe_keeps_the_tiny_token_budget():
    tiny, ours = compose("tiny"), compose("tiny_qwen3_vl")
    assert ours.model.path == QWEN3_VL.tiny and ours.model.template == "qwen3_vl"
    assert ours.data.max_pixels == QWEN3_VL.same_budget(tiny.data.max_pixels, QWEN2_5_VL)
    assert ours.eval.max_pixels == QWEN3_VL.same_budget(tiny.eval.max_pixels, QWEN2_5_VL)
    assert ours.sft == tiny.sft and ours.grpo == tiny.grpo and ours.eval.sources == tiny.eval.sources
    gpu, gpu_ours = compose("tiny_gpu"), compose("tiny_gpu_qwen3_vl")  # the one-GPU recipe, same way
    assert gpu_ours.model.path == QWEN3_VL.tiny and gpu_ours.grpo == gpu.grpo
    assert (gpu_ours.data.max_pixels, gpu_ours.eval.max_pixels) == (ours.data.max_pixels, ours.eval.max_pixels)


# --------------------------------------------------------------------------- stages read the table


@pytest.mark.slow
def test_sft_and_swift_grpo_commands_name_the_familys_template_and_model_type():
    from GRPO.swift_command import SwiftPaths, swift_command
    from SFT.flags import SFTConfigError
    from SFT.sft_command import SFTPaths, build_command

    paths = SFTPaths(model="Qwen/Qwen3-VL-8B-Instruct", dataset="d.jsonl", output_dir="out", system_file="s.txt")
    argv = build_command(compose("qwen3_vl_8b"), paths).argv
    assert argv[argv.index("--template") + 1] == "qwen3_vl" and argv[argv.index("--model_type") + 1] == "qwen3_vl"
    assert "--model_type" not in build_command(compose("qwen2_5_vl_7b"), paths).argv  # inferred by ms-swift
    with pytest.raises(SFTConfigError, match=r"set model\.template=qwen3_vl"):
        build_command(compose("qwen3_vl_8b", ["model.template=qwen2_5_vl"]), paths)
    grpo = swift_command(compose("tiny_qwen3_vl"), SwiftPaths(model="m", train_file="t.parquet", val_file="v.parquet",
                                                              output_dir="o"))
    assert grpo.argv[grpo.argv.index("--model_type") + 1] == "qwen3_vl"


def test_preflight_knows_every_recorded_size():
    from recipes.pipeline.preflight import model_params

    for fam in FAMILIES.values():
        for size in fam.sizes.values():
            assert model_params(OmegaConf.create({"model": {"path": size.hub_id}})) == size.params


# --------------------------------------------------------------------------- tiny models against their rows


@pytest.fixture(scope="module")
def tiny_dirs(tiny_world):
    return {f.name: tiny_world.models[f.tiny.split(":", 1)[1]] for f in SUPPORTED}


@pytest.mark.parametrize("family", one_fast(SUPPORTED, SUPPORTED[0]), ids=lambda f: f.name)
def test_tiny_model_matches_its_row(family, tiny_dirs):
    from transformers import AutoConfig, AutoProcessor, AutoTokenizer

    path = tiny_dirs[family.name]
    cfg = AutoConfig.from_pretrained(path)
    assert cfg.model_type == family.model_type and cfg.architectures == [family.architecture]
    assert (cfg.image_token_id, cfg.video_token_id) == (family.image_token_id, family.video_token_id)
    assert (cfg.vision_start_token_id, cfg.vision_end_token_id) == (family.vision_start_id, family.vision_end_id)
    assert cfg.text_config.vocab_size == family.vocab_size
    assert (cfg.vision_config.patch_size, cfg.vision_config.spatial_merge_size) == (family.patch_size,
                                                                                   family.merge_size)
    processor = AutoProcessor.from_pretrained(path)
    assert type(processor).__name__ == family.processor
    assert type(processor.video_processor).__name__ == family.video_processor
    ip = processor.image_processor
    assert (ip.patch_size, ip.merge_size) == (family.patch_size, family.merge_size)
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.convert_tokens_to_ids(family.image_token) == family.image_token_id
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    if family.default_system:
        assert text.startswith(f"<|im_start|>system\n{family.default_system}<|im_end|>\n")
    else:
        assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.slow  # loads a 151k-token tokenizer: ~5 s loaded
def test_tiny_qwen3_vl_has_qwen3s_extra_tokens_and_a_head_size_vllm_supports(tiny_dirs):
    from transformers import AutoConfig, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dirs["qwen3_vl"])
    assert [tok.convert_tokens_to_ids(t) for t in ("<think>", "</think>")] == [151667, 151668] and len(tok) == 151669
    cfg = AutoConfig.from_pretrained(tiny_dirs["qwen3_vl"])
    assert cfg.text_config.head_dim == 64 and cfg.vision_config.hidden_size // cfg.vision_config.num_heads == 64
    assert sum(cfg.text_config.rope_parameters["mrope_section"]) == cfg.text_config.head_dim // 2


@pytest.mark.parametrize("family", SUPPORTED, ids=lambda f: f.name)
def test_merger_saved_names_follow_the_rows_rule(family, tiny_dirs):
    """The merger reads names from transformers' own model (meta device); the row says what that gives."""
    from GRPO.merger.architecture import load_architecture

    _, arch = load_architecture(tiny_dirs[family.name])
    assert arch.class_name == family.architecture
    renamed = {k: v for k, v in arch.saved_names.items() if k != v}
    if family.saved_layout.startswith("renamed"):
        assert renamed and all(k.startswith("model.") for k in renamed)
        assert renamed.get("model.language_model.embed_tokens.weight") == "model.embed_tokens.weight"
    else:
        assert not renamed
        assert any(k.startswith("model.visual.deepstack_merger_list.") for k in arch.shapes)
    assert arch.tied_aliases == {"lm_head.weight": "model.language_model.embed_tokens.weight"}


@pytest.mark.slow
@pytest.mark.parametrize("family", SUPPORTED, ids=lambda f: f.name)
def test_ms_swift_encodes_the_tiny_model_with_its_template(family, tiny_dirs):
    from PIL import Image
    from swift.model import get_model_processor
    from swift.template import get_template

    _, processor = get_model_processor(str(tiny_dirs[family.name]), model_type=family.swift_model_type or
                                       family.name, use_hf=True, load_model=False, download_model=False)
    template = get_template(processor, template_type=family.template)
    template.set_mode("train")
    enc = template.encode({"messages": [{"role": "user", "content": "<image>What is the perimeter?"},
                                        {"role": "assistant", "content": r"\boxed{16}"}],
                           "images": [Image.new("RGB", (224, 168), "white")]})
    n_pad = enc["input_ids"].count(family.image_token_id)
    grid = [int(x) for x in enc["image_grid_thw"][0]]
    assert n_pad == grid[0] * grid[1] * grid[2] // family.merge_size ** 2 > 0
    # the family's pixel factor at work: 224 x 168 -> 224 x 168 (28) or 224 x 160 (32)
    assert (grid[1] * family.patch_size, grid[2] * family.patch_size) == (round(168 / family.factor) * family.factor,
                                                                          224)
