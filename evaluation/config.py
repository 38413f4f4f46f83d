"""Evaluation settings: which benchmarks (from where), how to generate, how to score."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import DictConfig

from recipes.checks import Problem, check, closest, free

EVAL_BACKENDS = ("auto", "vllm", "hf")


@dataclass
class BenchmarkDataset:
    """Where one benchmark's rows come from."""

    source: str = free("", "a hub dataset id, a local dataset dir or tiny:<name>")
    """Hub dataset id, local dataset dir, or `tiny:<name>` for the synthetic offline copy."""
    split: str = free("", "a split name of the source")
    """Split to evaluate (paper: MathVista/We-Math/MathVerse `testmini`, MathVision `test`)."""
    config: str | None = free(None, "a dataset config name of the source")
    """Dataset config name where the hub repo has several (MathVerse: `testmini`); null: the default."""
    limit: int | None = check(None, ge=1)
    """At most this many items of this benchmark (with `eval.limit` set too, the smaller wins); null: no own cap."""


def _paper_sources() -> dict[str, BenchmarkDataset]:
    return {
        "mathvista": BenchmarkDataset("AI4Math/MathVista", "testmini"),
        "wemath": BenchmarkDataset("We-Math/We-Math", "testmini"),
        "mathverse": BenchmarkDataset("AI4Math/MathVerse", "testmini", "testmini"),
        "mathvision": BenchmarkDataset("MathLLMs/MathVision", "test"),
    }


PAPER_SYSTEM_PROMPT = "You are a helpful assistant."
PAPER_USER_SUFFIX = " Please reason step by step, and put your final answer within \\boxed{}."
"""The authors' documented evaluation prompt (MM-UPT README "Evaluation"): `{question}` + this suffix."""


@dataclass
class JudgeConfig:
    """Optional LLM judge (an OpenAI-compatible chat endpoint, e.g. a vLLM server). Off by default:
    the rule-based grader shared with the reward is the headline; judge accuracy is shown beside it."""

    enabled: bool = check(False)
    url: str | None = check(None, pattern=r"https?://.+")
    """Base URL of the OpenAI-compatible API (`/chat/completions` is appended). null with `enabled`: the
    eval stage starts a local vLLM server for `model` after generation and stops it when judging is done."""
    model: str = free("Qwen/Qwen2.5-32B-Instruct", "a hub id or local model dir")
    """Judge model (MM-UPT, the sister paper, is said to judge with Qwen2.5-32B-Instruct)."""
    api_key_env: str = check("OPENAI_API_KEY", pattern=r"[A-Za-z_][A-Za-z0-9_]*")
    """Environment variable holding the API key (unset: no Authorization header)."""
    timeout_s: float = check(60.0, gt=0)
    max_workers: int = check(8, ge=1)
    """Concurrent judge requests."""
    port: int = check(8011, ge=1, le=65535)
    """Port of the local server (127.0.0.1) when `url` is null."""
    tensor_parallel_size: int = check(2, ge=1)
    """GPUs of the local judge server (32B in bf16 needs about 65 GB)."""
    launch: str | None = free(None, "a shell command template ({python}, {model}, {port}, {tp})")
    """Command that starts the local server; `{python}`, `{model}`, `{port}`, `{tp}` are filled in. null:
    `{python} -m vllm.entrypoints.openai.api_server --model {model} --port {port} --host 127.0.0.1
    --tensor-parallel-size {tp}`."""
    startup_timeout_s: float = check(1800.0, gt=0)
    """How long to wait for the local server's `/v1/models` to answer (loading 32B takes minutes)."""


@dataclass
class EvalConfig:
    """Benchmarks, prompt protocol and generation settings for the eval stage and `scripts/evaluate.py`.

    The defaults are the authors' documented protocol (preset `paper`, MM-UPT README "Evaluation")."""

    preset: str = free("paper", "a label printed in results.md (the eval group picks the preset)")
    """Name of the protocol preset (recipes/conf/eval/<preset>.yaml), printed in results.md."""
    benchmarks: list[str] = check(factory=lambda: ["mathvista", "wemath", "mathverse", "mathvision"],
                                  refuses=["mathvistaa"])  # names of eval.sources entries: see `relations`
    """Benchmarks to run (paper: MathVista, We-Math, MathVerse, MathVision)."""
    sources: dict[str, BenchmarkDataset] = field(default_factory=_paper_sources)  # entries' leaves: BenchmarkDataset
    """Benchmark -> {source, split}. Paper: the hub ids and splits of reference/paper.md."""
    model: str | None = free(None, "a hub id or model dir")
    """Model to evaluate (hub id or dir). null: the merged model, else the GRPO / SFT checkpoint, else
    `model.path` (the base model)."""
    limit: int | None = check(None, ge=1)
    """Evaluate only the first N items of each benchmark (smoke tests); null is all."""
    backend: str = check("auto", choices=EVAL_BACKENDS)
    """`vllm` (GPU), `hf` (transformers `generate`, CPU fallback), or `auto` (vllm when importable and a
    GPU is visible, else hf)."""
    engines: int | None = check(None, ge=1)
    """Generation engines (one process each, its own GPUs). null: one per `tensor_parallel_size` GPUs of
    the visible GPUs (8 GPUs, tp 1: 8 engines); 1 on a CPU."""
    batch_size: int = check(64, ge=1)
    """Items per generation call; predictions are appended and flushed after each batch."""
    tensor_parallel_size: int = check(1, ge=1)
    """vLLM tensor parallel size (GPUs per engine)."""
    gpu_memory_utilization: float = check(0.9, gt=0, le=1)
    """vLLM's share of GPU memory."""
    max_model_len: int = check(20480, ge=1)
    """vLLM context length: the prompt (at most 1280 image tokens plus text) + `max_new_tokens`."""
    enforce_eager: bool = check(False)
    """vLLM without torch.compile and CUDA-graph capture: each engine starts 1-2 min sooner and decodes
    slower; on for short runs (tiny_gpu, the one-GPU proof), off for the paper's full benchmarks."""
    system_prompt: str | None = free(PAPER_SYSTEM_PROMPT, "any text")
    """System message. null: the SFT one (`SFT.paper.SYSTEM_PROMPT`)."""
    user_suffix: str = free(PAPER_USER_SUFFIX, "any text")
    """Appended to every question (the paper protocol's boxed instruction; empty for `train_prompt`)."""
    temperature: float = check(0.2, ge=0)
    """Sampling temperature (paper protocol 0.2, seeded by `seed`); 0 is greedy."""
    top_p: float = check(1.0, gt=0, le=1)
    max_new_tokens: int = check(16384, ge=1)
    """Generation budget per item (paper protocol 16,384)."""
    seed: int = check(0, ge=0)
    """Sampling seed (recorded on every predictions row)."""
    max_pixels: int | None = check(1280 * 28 * 28, ge=28 * 28)
    """Per-image pixel ceiling (paper protocol 1280*28*28); null: the training value (1204224)."""
    min_pixels: int | None = check(224 * 224, ge=28 * 28)
    """Per-image pixel floor (paper protocol 224*224); null: the training value (262144)."""
    fallback_extraction: bool = check(True)
    """Also report (in its own column, never the headline) accuracy when box-less responses are read by
    "the answer is X" / a final option letter."""
    judge: JudgeConfig = field(default_factory=JudgeConfig)

    @staticmethod
    def relations(e: DictConfig) -> list[Problem]:
        out = [Problem("eval.benchmarks", name, f"not a benchmark of eval.sources ({', '.join(e.sources)})",
                       closest(name, e.sources)) for name in e.benchmarks if name not in e.sources]
        if e.max_pixels is not None and e.min_pixels is not None and e.min_pixels > e.max_pixels:
            out.append(Problem("eval.min_pixels", e.min_pixels, f"must be <= eval.max_pixels ({e.max_pixels})"))
        if e.max_new_tokens >= e.max_model_len:
            out.append(Problem("eval.max_new_tokens", e.max_new_tokens,
                               f"must be < eval.max_model_len ({e.max_model_len}), which also holds the prompt"))
        return out
