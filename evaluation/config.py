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
    limit: int | None = None
    """At most this many items of this benchmark (with `eval.limit` set too, the smaller wins); null: no own cap."""


def _paper_sources() -> dict[str, BenchmarkSource]:
    return {
        "mathvista": BenchmarkSource("AI4Math/MathVista", "testmini"),
        "wemath": BenchmarkSource("We-Math/We-Math", "testmini"),
        "mathverse": BenchmarkSource("AI4Math/MathVerse", "testmini", "testmini"),
        "mathvision": BenchmarkSource("MathLLMs/MathVision", "test"),
    }


PAPER_SYSTEM_PROMPT = "You are a helpful assistant."
PAPER_USER_SUFFIX = " Please reason step by step, and put your final answer within \\boxed{}."
"""The authors' documented evaluation prompt (MM-UPT README "Evaluation"): `{question}` + this suffix."""


@dataclass
class JudgeConfig:
    """Optional LLM judge (an OpenAI-compatible chat endpoint, e.g. a vLLM server). Off by default:
    the rule-based grader shared with the reward is the headline; judge accuracy is shown beside it."""

    enabled: bool = False
    url: str | None = None
    """Base URL of the OpenAI-compatible API (`/chat/completions` is appended). null with `enabled`: the
    eval stage starts a local vLLM server for `model` after generation and stops it when judging is done."""
    model: str = "Qwen/Qwen2.5-32B-Instruct"
    """Judge model (MM-UPT, the sister paper, is said to judge with Qwen2.5-32B-Instruct)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (unset: no Authorization header)."""
    timeout_s: float = 60.0
    max_workers: int = 8
    """Concurrent judge requests."""
    port: int = 8011
    """Port of the local server (127.0.0.1) when `url` is null."""
    tensor_parallel_size: int = 2
    """GPUs of the local judge server (32B in bf16 needs about 65 GB)."""
    launch: str | None = None
    """Command that starts the local server; `{python}`, `{model}`, `{port}`, `{tp}` are filled in. null:
    `{python} -m vllm.entrypoints.openai.api_server --model {model} --port {port} --host 127.0.0.1
    --tensor-parallel-size {tp}`."""
    startup_timeout_s: float = 1800.0
    """How long to wait for the local server's `/v1/models` to answer (loading 32B takes minutes)."""


@dataclass
class EvalConfig:
    """Benchmarks, prompt protocol and generation settings for the eval stage and `scripts/evaluate.py`.

    The defaults are the authors' documented protocol (preset `paper`, MM-UPT README "Evaluation")."""

    preset: str = "paper"
    """Name of the protocol preset (recipes/conf/eval/<preset>.yaml), printed in results.md."""
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
    engines: int | None = None
    """Generation engines (one process each, its own GPUs). null: one per `tensor_parallel_size` GPUs of
    the visible GPUs (8 GPUs, tp 1: 8 engines); 1 on a CPU."""
    batch_size: int = 64
    """Items per generation call; predictions are appended and flushed after each batch."""
    tensor_parallel_size: int = 1
    """vLLM tensor parallel size (GPUs per engine)."""
    gpu_memory_utilization: float = 0.9
    """vLLM's share of GPU memory."""
    max_model_len: int = 20480
    enforce_eager: bool = False
    """vLLM without torch.compile and CUDA-graph capture: each engine starts 1-2 min sooner and decodes
    slower; on for short runs (tiny_gpu, the one-GPU proof), off for the paper's full benchmarks."""
    """vLLM context length: the prompt (at most 1280 image tokens plus text) + `max_new_tokens`."""
    system_prompt: str | None = PAPER_SYSTEM_PROMPT
    """System message. null: the SFT one (`recipes.pipeline.config.SYSTEM_PROMPT`)."""
    user_suffix: str = PAPER_USER_SUFFIX
    """Appended to every question (the paper protocol's boxed instruction; empty for `train_prompt`)."""
    temperature: float = 0.2
    """Sampling temperature (paper protocol 0.2, seeded by `seed`); 0 is greedy."""
    top_p: float = 1.0
    max_new_tokens: int = 16384
    """Generation budget per item (paper protocol 16,384)."""
    seed: int = 0
    """Sampling seed (recorded on every predictions row)."""
    max_pixels: int | None = 1280 * 28 * 28
    """Per-image pixel ceiling (paper protocol 1280*28*28); null: the training value (1204224)."""
    min_pixels: int | None = 224 * 224
    """Per-image pixel floor (paper protocol 224*224); null: the training value (262144)."""
    fallback_extraction: bool = True
    """Also report (in its own column, never the headline) accuracy when box-less responses are read by
    "the answer is X" / a final option letter."""
    judge: JudgeConfig = field(default_factory=JudgeConfig)
