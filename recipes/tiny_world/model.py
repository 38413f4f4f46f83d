"""A randomly initialised, tiny ``Qwen2_5_VLForConditionalGeneration`` with Qwen2.5-VL's real token ids.

Written as a normal Hugging Face model dir: ``config.json``, ``generation_config.json``,
``model.safetensors`` (float32), tokenizer files, ``chat_template.jinja`` and the processor configs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .tokenizer import QWEN2_5_VL_CHAT_TEMPLATE, build_hf_tokenizer

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


def generation_config():
    """Qwen2.5-VL-7B-Instruct's generation defaults (near-greedy sampling; eos = im_end or endoftext)."""
    from transformers import GenerationConfig

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


def build_processor(tokenizer):
    """Wrap the tokenizer in a ``Qwen2_5_VLProcessor`` with Qwen's image and video processors."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

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
        chat_template=QWEN2_5_VL_CHAT_TEMPLATE,
    )


def build_model_dir(out_dir: Path, seed: int = 0, size: str = "cpu") -> Path:
    """Write the tiny model (`SIZES[size]`), tokenizer and processor to ``out_dir`` (not holding a model yet)."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_hf_tokenizer(seed=seed)
    processor = build_processor(tokenizer)
    torch.manual_seed(seed)
    config = tiny_config(size)
    model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32).eval()
    model.generation_config = generation_config()
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("tiny Qwen2.5-VL: %.2f M parameters (tied embeddings)", n_params / 1e6)
    model.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    for f in out_dir.iterdir():
        f.chmod(0o644)  # safetensors writes 0600; the cache is shared between users and containers
    return out_dir
