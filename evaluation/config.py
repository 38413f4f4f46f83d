"""Evaluation settings: which benchmarks (from where), how to generate, how to score."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BenchmarkSource:
    """Where one benchmark's rows come from."""

    source: str = ""
    """Hub dataset id, local dataset dir, or `tiny:<name>` for the synthetic offline copy."""
    split: str = ""
    """Split to evaluate (paper: MathVista/We-Math/MathVerse `testmini`, MathVision `test`)."""
    config: str | None = None
    """Dataset config name where the hub repo has several (MathVerse: `testmini`); null: the default."""


def _paper_sources() -> dict[str, BenchmarkSource]:
    return {
        "mathvista": BenchmarkSource("AI4Math/MathVista", "testmini"),
        "wemath": BenchmarkSource("We-Math/We-Math", "testmini"),
        "mathverse": BenchmarkSource("AI4Math/MathVerse", "testmini", "testmini"),
        "mathvision": BenchmarkSource("MathLLMs/MathVision", "test"),
    }


@dataclass
class JudgeConfig:
    """Optional LLM judge (an OpenAI-compatible chat endpoint, e.g. a vLLM server). Off by default:
    the rule-based grader shared with the reward is the reported score."""

    enabled: bool = False
    url: str = "http://127.0.0.1:8000/v1"
    """Base URL of the OpenAI-compatible API (`/chat/completions` is appended)."""
    model: str = "Qwen/Qwen2.5-32B-Instruct"
    """Judge model name as the server knows it (MM-UPT, the sister paper, used Qwen2.5-32B-Instruct)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (unset: no Authorization header)."""
    timeout_s: float = 60.0
    max_workers: int = 8
    """Concurrent judge requests."""


@dataclass
class EvalConfig:
    """Benchmarks and generation settings for the eval stage and `scripts/evaluate.py`."""

    benchmarks: list[str] = field(default_factory=lambda: ["mathvista", "wemath", "mathverse", "mathvision"])
    """Benchmarks to run (paper: MathVista, We-Math, MathVerse, MathVision)."""
    sources: dict[str, BenchmarkSource] = field(default_factory=_paper_sources)
    """Benchmark -> {source, split}. Paper: the hub ids and splits of reference/paper.md."""
    model: str | None = None
    """Model to evaluate (hub id or dir). null: the merged model, else the GRPO / SFT checkpoint, else
    `model.path` (the base model)."""
    limit: int | None = None
    """Evaluate only the first N items of each benchmark (smoke tests); null is all."""
    backend: str = "auto"
    """`vllm` (GPU), `hf` (transformers `generate`, CPU fallback), or `auto` (vllm when importable and a
    GPU is visible, else hf)."""
    batch_size: int = 64
    """Items per generation call; predictions are appended and flushed after each batch."""
    tensor_parallel_size: int = 1
    """vLLM tensor parallel size (GPUs per model replica)."""
    gpu_memory_utilization: float = 0.9
    """vLLM's share of GPU memory."""
    max_model_len: int = 8192
    """vLLM context length (prompt with image tokens + max_new_tokens)."""
    temperature: float = 0.0
    """Sampling temperature; 0 is greedy (the paper does not publish its sampling)."""
    top_p: float = 1.0
    max_new_tokens: int = 2048
    """Generation budget per item."""
    seed: int = 0
    system_prompt: str | None = None
    """null: the paper's (`recipes.config.SYSTEM_PROMPT`)."""
    max_pixels: int | None = None
    """Per-image pixel ceiling; null: the paper's training value (1204224)."""
    min_pixels: int | None = None
    """Per-image pixel floor; null: the paper's training value (262144)."""
    judge: JudgeConfig = field(default_factory=JudgeConfig)
