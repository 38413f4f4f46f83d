"""verl 0.9.1's own objects on a CPU, for tests: the actor's model config, the RL parquet through
`create_rl_dataset` (RLHFDataset) with the processor, and our reward through verl's `load_reward_manager`
(`score_texts` scores responses through the manager's `run_single`, as verl's reward loop does)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig

from GRPO.verl_check import VerlConfigError


def model_config(config: DictConfig) -> Any:
    """verl's HFModelConfig for the actor (loads tokenizer and processor from the model path)."""
    from verl.utils.config import omega_conf_to_dataclass

    return omega_conf_to_dataclass(config.actor_rollout_ref.model)


def load_rl_dataset(config: DictConfig, files: str | Sequence[str], tokenizer: Any, processor: Any) -> Any:
    """The RL parquet as verl's trainer loads it (`create_rl_dataset` -> RLHFDataset)."""
    from verl.trainer.ppo.utils import create_rl_dataset

    if processor is None:
        raise VerlConfigError("verl found no processor for the model: images would be dropped silently")
    files = [files] if isinstance(files, str) else list(files)
    return create_rl_dataset(files, config.data, tokenizer, processor, is_train=True)


def prompt_inputs(dataset: Any, item: dict[str, Any]) -> dict[str, Any]:
    """Model inputs for one dataset item, built as verl's agent loop builds them before the rollout:
    qwen_vl_utils resizes the images (honouring each image's max/min_pixels), the processor expands them."""
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    messages = item["raw_prompt"]
    images, videos, _ = dataset._process_multi_modal_info(messages, dataset.image_patch_size, dataset.config)
    text = dataset.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return build_multimodal_processor_inputs(dataset.processor, text=[text], images=images, videos=videos,
                                             mm_processor_kwargs=dataset.mm_processor_kwargs)


def load_reward(config: DictConfig, tokenizer: Any) -> Any:
    """verl's reward manager with our custom reward function, loaded by verl's own code."""
    from verl.trainer.ppo.reward import load_reward_manager

    return load_reward_manager(config, tokenizer)


def score_texts(manager: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], responses: Sequence[str]) -> list[dict]:
    """Score decoded `responses` for parquet `rows` through the manager's `run_single` (verl's reward loop)."""
    import numpy as np
    import torch
    from verl import DataProto

    async def _all() -> list[dict]:
        out = []
        for row, text in zip(rows, responses, strict=True):
            ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids[0]
            prompt = torch.zeros(4, dtype=torch.long)
            data = DataProto.from_dict(
                tensors={"responses": ids[None], "prompts": prompt[None],
                         "attention_mask": torch.ones(1, len(prompt) + len(ids), dtype=torch.long)},
                non_tensors={"data_source": np.array([row["data_source"]], dtype=object),
                             "reward_model": np.array([row["reward_model"]], dtype=object),
                             "extra_info": np.array([dict(row.get("extra_info") or {})], dtype=object)},
            )
            out.append(await manager.run_single(data))
        return out

    return manager.loop.run_until_complete(_all())  # the loop the manager's executor calls are bound to
