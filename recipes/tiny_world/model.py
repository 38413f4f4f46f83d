"""Randomly initialised, tiny models of each family (recipes/families.py) with the family's real token ids:
``Qwen2_5_VLForConditionalGeneration`` (`tiny:model`, `tiny:model_gpu`) and ``Qwen3VLForConditionalGeneration``
(`tiny:qwen3_vl`), each built from transformers' own config class at tiny sizes.

Written as a normal Hugging Face model dir: ``config.json``, ``generation_config.json``,
``model.safetensors`` (float32), tokenizer files, ``chat_template.jinja`` and the processor configs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .tokenizer import FAMILY_TOKENS, build_hf_tokenizer

logger = logging.getLogger(__name__)

#: Qwen2.5-VL's real vocabulary size (embedding rows; the tokenizer has 151,665 entries).
VOCAB_SIZE = 151936
IMAGE_TOKEN_ID = 151655
VIDEO_TOKEN_ID = 151656
VISION_START_TOKEN_ID = 151652
VISION_END_TOKEN_ID = 151653
BOS_TOKEN_ID = 151643
EOS_TOKEN_ID = 151645
PAD_TOKEN_ID = 151643

#: Qwen2.5-VL's image preprocessing constants (preprocessor_config.json of the 7B-Instruct model).
IMAGE_MEAN = [0.48145466, 0.4578275, 0.40821073]
IMAGE_STD = [0.26862954, 0.26130258, 0.27577711]
MIN_PIXELS = 3136
MAX_PIXELS = 12845056


SIZES: dict[str, dict[str, int]] = {
    # CPU: the smallest model that learns the format quickly (head size 16 in text and vision).
    "cpu": {"hidden": 64, "intermediate": 128, "heads": 4, "kv_heads": 2, "vit_hidden": 32, "vit_heads": 2},
    # GPU: head size 64 in text and vision, which vLLM's and flash-attention's Hopper kernels support.
    "gpu": {"hidden": 128, "intermediate": 256, "heads": 2, "kv_heads": 1, "vit_hidden": 128, "vit_heads": 2},
}
"""Tiny model sizes: `cpu` (the tiny recipe) and `gpu` (tiny_gpu: verl + vLLM on one GPU)."""


def tiny_config(size: str = "cpu"):
    """Return a ``Qwen2_5_VLConfig`` of `SIZES[size]`: 2 text layers, vision depth 2, tied embeddings,
    M-RoPE sections in Qwen's 2:3:3 proportion of half the head size."""
    from transformers import Qwen2_5_VLConfig

    dims = SIZES[size]
    hidden = dims["hidden"]
    half = hidden // dims["heads"] // 2
    mrope = [half // 4, half * 3 // 8, half - half // 4 - half * 3 // 8]  # 16 -> [2,3,3]; 64 -> [8,12,12]
    text_config = {
        "vocab_size": VOCAB_SIZE,
        "hidden_size": hidden,
        "intermediate_size": dims["intermediate"],
        "num_hidden_layers": 2,
        "num_attention_heads": dims["heads"],
        "num_key_value_heads": dims["kv_heads"],
        "hidden_act": "silu",
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "use_sliding_window": False,
        "sliding_window": 32768,
        "max_window_layers": 2,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": mrope},
        "bos_token_id": BOS_TOKEN_ID,
        "eos_token_id": EOS_TOKEN_ID,
        "pad_token_id": PAD_TOKEN_ID,
        "tie_word_embeddings": True,
    }
    vision_config = {
        "depth": 2,
        "hidden_size": dims["vit_hidden"],
        "intermediate_size": 2 * dims["vit_hidden"],
        "num_heads": dims["vit_heads"],
        "in_channels": 3,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "tokens_per_second": 2,
        "window_size": 112,
        "out_hidden_size": hidden,
        "fullatt_block_indexes": [1],
        "hidden_act": "silu",
    }
    return Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=IMAGE_TOKEN_ID,
        video_token_id=VIDEO_TOKEN_ID,
        vision_start_token_id=VISION_START_TOKEN_ID,
        vision_end_token_id=VISION_END_TOKEN_ID,
        tie_word_embeddings=True,
        bos_token_id=BOS_TOKEN_ID,
        eos_token_id=EOS_TOKEN_ID,
        pad_token_id=PAD_TOKEN_ID,
    )


QWEN3_VL_SIZE = {"hidden": 64, "intermediate": 128, "heads": 2, "kv_heads": 1, "head_dim": 64,
                 "vit_hidden": 64, "vit_heads": 1}
"""The tiny Qwen3-VL: head size 64 in text (Qwen3's `head_dim` is free of the hidden size) and vision, which
vLLM's kernels support, at the CPU tiny model's hidden size 64: one model for the CPU and a GPU."""

#: Qwen3-VL's image normalisation (preprocessor_config.json of Qwen3-VL-8B-Instruct).
QWEN3_VL_IMAGE_MEAN = [0.5, 0.5, 0.5]
QWEN3_VL_IMAGE_STD = [0.5, 0.5, 0.5]
#: Qwen3-VL's processor ceiling (its `size.longest_edge`); the floor is qwen_vl_utils' 4 tokens (4 x 32 x 32)
#: rather than the real 65,536, so that the tiny world's small pictures are not upscaled 4-fold on a CPU.
QWEN3_VL_MAX_PIXELS = 16777216
QWEN3_VL_MIN_PIXELS = 4 * 32 * 32


def tiny_qwen3_vl_config():
    """A ``Qwen3VLConfig`` at QWEN3_VL_SIZE: 2 text layers, vision depth 2 with one deepstack merger, tied
    embeddings, interleaved M-RoPE in Qwen3-VL's 24:20:20 proportion of half the head size."""
    from transformers import Qwen3VLConfig

    from recipes.families import QWEN3_VL

    dims = QWEN3_VL_SIZE
    half = dims["head_dim"] // 2
    side = half * 5 // 16
    text_config = {
        "vocab_size": QWEN3_VL.vocab_size,
        "hidden_size": dims["hidden"],
        "intermediate_size": dims["intermediate"],
        "num_hidden_layers": 2,
        "num_attention_heads": dims["heads"],
        "num_key_value_heads": dims["kv_heads"],
        "head_dim": dims["head_dim"],
        "hidden_act": "silu",
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 5000000.0,
                            "mrope_section": [half - 2 * side, side, side], "mrope_interleaved": True},
        "bos_token_id": BOS_TOKEN_ID,
        "eos_token_id": EOS_TOKEN_ID,
        "pad_token_id": PAD_TOKEN_ID,
        "tie_word_embeddings": True,
    }
    vision_config = {
        "depth": 2,
        "hidden_size": dims["vit_hidden"],
        "intermediate_size": 2 * dims["vit_hidden"],
        "num_heads": dims["vit_heads"],
        "in_channels": 3,
        "patch_size": QWEN3_VL.patch_size,
        "spatial_merge_size": QWEN3_VL.merge_size,
        "temporal_patch_size": 2,
        "out_hidden_size": dims["hidden"],
        "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [0],
        "hidden_act": "gelu_pytorch_tanh",
    }
    return Qwen3VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=QWEN3_VL.image_token_id,
        video_token_id=QWEN3_VL.video_token_id,
        vision_start_token_id=QWEN3_VL.vision_start_id,
        vision_end_token_id=QWEN3_VL.vision_end_id,
        tie_word_embeddings=True,
    )


def generation_config(family: str = "qwen2_5_vl"):
    """The family's Instruct generation defaults: Qwen2.5-VL-7B's near-greedy sampling, Qwen3-VL-8B's
    temperature 0.7 / top_p 0.8 / top_k 20 (eos = im_end or endoftext in both)."""
    from transformers import GenerationConfig

    if family == "qwen3_vl":
        return GenerationConfig(bos_token_id=BOS_TOKEN_ID, pad_token_id=PAD_TOKEN_ID,
                                eos_token_id=[EOS_TOKEN_ID, PAD_TOKEN_ID], do_sample=True, repetition_penalty=1.0,
                                temperature=0.7, top_p=0.8, top_k=20)
    return GenerationConfig(
        bos_token_id=BOS_TOKEN_ID,
        pad_token_id=PAD_TOKEN_ID,
        eos_token_id=[EOS_TOKEN_ID, PAD_TOKEN_ID],
        do_sample=True,
        repetition_penalty=1.05,
        temperature=0.1,
        top_p=0.001,
        top_k=1,
    )


def build_processor(tokenizer, family: str = "qwen2_5_vl"):
    """Wrap the tokenizer in the family's processor with Qwen's image and video processors."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    if family == "qwen3_vl":
        from transformers import Qwen3VLProcessor, Qwen3VLVideoProcessor

        from recipes.families import QWEN3_VL

        geometry = {"patch_size": QWEN3_VL.patch_size, "temporal_patch_size": 2, "merge_size": QWEN3_VL.merge_size,
                    "image_mean": QWEN3_VL_IMAGE_MEAN, "image_std": QWEN3_VL_IMAGE_STD,
                    "size": {"shortest_edge": QWEN3_VL_MIN_PIXELS, "longest_edge": QWEN3_VL_MAX_PIXELS}}
        return Qwen3VLProcessor(image_processor=Qwen2VLImageProcessor(**geometry), tokenizer=tokenizer,
                                video_processor=Qwen3VLVideoProcessor(**geometry),
                                chat_template=FAMILY_TOKENS[family][1])

    common = {
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": IMAGE_MEAN,
        "image_std": IMAGE_STD,
        "min_pixels": MIN_PIXELS,
        "max_pixels": MAX_PIXELS,
    }
    image_processor = Qwen2VLImageProcessor(**common)
    video_processor = Qwen2VLVideoProcessor(**common)
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=FAMILY_TOKENS["qwen2_5_vl"][1],
    )


def build_model_dir(out_dir: Path, seed: int = 0, size: str = "cpu", family: str = "qwen2_5_vl") -> Path:
    """Write the family's tiny model (Qwen2.5-VL at `SIZES[size]`; Qwen3-VL at QWEN3_VL_SIZE), tokenizer and
    processor to ``out_dir`` (not holding a model yet)."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen3VLForConditionalGeneration

    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_hf_tokenizer(seed=seed, family=family)
    processor = build_processor(tokenizer, family)
    torch.manual_seed(seed)
    if family == "qwen3_vl":
        model = Qwen3VLForConditionalGeneration(tiny_qwen3_vl_config()).to(torch.float32).eval()
    else:
        model = Qwen2_5_VLForConditionalGeneration(tiny_config(size)).to(torch.float32).eval()
    model.generation_config = generation_config(family)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("tiny %s: %.2f M parameters (tied embeddings)", family, n_params / 1e6)
    model.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    for f in out_dir.iterdir():
        f.chmod(0o644)  # safetensors writes 0600; the cache is shared between users and containers
    return out_dir
