"""Settings of the `distill` stage (rejection sampling of a cold-start set from a teacher).

The paper distilled its 51,534-row cold-start set from Qwen2.5-VL-32B by rejection sampling but did not
publish k, the sampling settings or the filters: every default below other than the teacher is our choice,
and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from recipes.checks import Problem, check, free
from SFT.distill.templates import TEMPLATES

KEEP_POLICIES = ("shortest", "random", "all")
BACKENDS = ("auto", "vllm", "hf", "ray")
TEMPLATE_NAMES = tuple(TEMPLATES)


@dataclass
class DistillConfig:
    """`distill` stage: sources -> teacher samples -> grader + filters -> cold-start rows + report."""

    sources: list[str] = free(factory=lambda: ["WaltonFuture/Multimodal-RL-Data"],
                              why="hub ids, local paths or tiny:<name>, each optionally @split")
    """Datasets with problem / answer / images columns: hub id, local path or `tiny:<name>`, each optionally
    `@split` (EasyR1's spelling, e.g. `hiyouga/geometry3k@train`; default split `train`). The answer is the
    gold: a final answer, or a worked solution whose last `\\boxed{}` is used."""
    teacher: str = free("Qwen/Qwen2.5-VL-32B-Instruct", "a hub id, local dir or tiny:model")
    """Model that writes the chains of thought (the paper's teacher); any hub id, local dir or `tiny:model`."""
    template: str = check("distilled_cot", choices=TEMPLATE_NAMES)
    """Prompt template (SFT/distill/templates.py): distilled_cot, caption_cot, reflection_cot, self_critic_cot."""
    system_prompt: str | None = free(None, "any text")
    """null: `data.system_prompt` (the SFT system prompt), which the templates extend."""
    k: int = check(4, ge=1)
    """Responses sampled per problem (ours: the paper does not say)."""
    temperature: float = check(0.7, gt=0)
    """Sampling temperature (ours; the paper's GRPO rollouts use 0.7)."""
    top_p: float = check(0.99, gt=0, le=1)
    """Nucleus sampling (ours; the paper's GRPO rollouts use 0.99)."""
    max_new_tokens: int = check(2048, ge=1)
    """Generation budget per response (the paper's GRPO max_response_length)."""
    seed: int = check(0, ge=0)
    """Sampling seed and the seed of `keep=random`."""
    keep: str = check("shortest", choices=KEEP_POLICIES)
    """Which accepted responses of a problem to keep: `shortest`, `random`, or `all` (ignores max_per_problem)."""
    max_per_problem: int = check(1, ge=1)
    """m: at most this many kept responses per problem."""
    require_single_box: bool = check(True)
    """Reject responses with more than one `\\boxed{}` or other format faults (reward_fns.formatting)."""
    drop_truncated: bool = check(True)
    """Reject responses cut off by max_new_tokens."""
    min_tokens: int | None = check(None, ge=1)
    """Reject responses shorter than this many tokens; null: no floor."""
    max_tokens: int | None = check(None, ge=1)
    """Reject responses longer than this many tokens; null: no ceiling (besides max_new_tokens)."""
    max_problems: int | None = check(None, ge=1)
    """Use only the first N rows of each source (smoke tests); null: all."""
    backend: str = check("auto", choices=BACKENDS)
    """`vllm` (GPUs of this node), `ray` (Ray Data batch inference on the cluster's GPUs), `hf`
    (transformers, CPU), or `auto` (vllm when importable with a GPU, else hf)."""
    batch_size: int = check(64, ge=1)
    """Problems per generation call; samples are saved after each, so a rerun resumes there."""
    tensor_parallel_size: int = check(4, ge=1)
    """GPUs per vLLM engine (a 32B bf16 teacher: 4 x 80 GB leaves room for long KV caches)."""
    engines: int | None = check(None, ge=1)
    """vLLM engines (data parallel); null: every GPU of the plan, cluster.nproc_per_node x cluster.nnodes //
    tensor_parallel_size (with backend=ray, set the cluster's geometry there or name the engines here)."""
    gpu_memory_utilization: float = check(0.9, gt=0, le=1)
    max_model_len: int = check(8192, ge=1)
    """vLLM context length (prompt with image tokens + max_new_tokens)."""
    max_images: int = check(2, ge=1)
    """vLLM's image limit per prompt (rows with more images fail in vLLM; memory is reserved for this many)."""
    plan_tokens_per_s_per_gpu: float = check(1000.0, gt=0)
    """Assumed decode throughput per GPU for the dry-run estimate only (ours, for a 32B bf16 teacher on
    H100s with large batches); measured rates are in the report."""

    @staticmethod
    def relations(d: DictConfig) -> list[Problem]:
        if d.min_tokens is not None and d.max_tokens is not None and d.min_tokens > d.max_tokens:
            return [Problem("distill.min_tokens", d.min_tokens, f"must be <= distill.max_tokens ({d.max_tokens})")]
        return []
