"""What a run will cost, said before it starts: per stage, wall time, GPU memory per device, host memory.

A small model, scaled from a few measured or estimated reference figures (each with its source) by the
run's tokens, parameters and GPUs; ranges, not promises. Compute scales as tokens x parameters / GPUs
(training FLOPs ~ 6 x parameters a token).

References (`../shared/reference/audits/gpu-v2.md`, "Estimates, Qwen2.5-VL-7B", 8 x H100 80 GB, verl 0.9.1 with
sdpa and padding off, i.e. no flash-attn):
- GRPO: 8-11 min a step at ~6.7M tokens a step (512 prompts x n 10 x ~1.3k tokens), of which 1.5-2 min is
  verl's per-token log-prob loop without flash-attn (`logprobs_from_logits_v2`); 124 steps 17-23 h plus
  0.5-1 h of saves (~93 GB each: fp32 shards + Adam);
- SFT: ~185M tokens (51,534 rows x 0.99 x 3 epochs) in 2.5-4 h (compute 1.3-2 h, evals 0.3-0.5, saves 0.7-1.3);
- memory: vLLM reserves gpu_memory_utilization of each GPU; the actor update peaks at ~45-55 GB at 7B
  (fp32 shard, grads and Adam of 8.3B / 8 GPUs + the logits of a micro-batch); SFT ZeRO-2 bf16 ~35-40 GB;
  host: >= 512 GB a node (offloaded actor, Adam and reference states + fp32 pixel_values per response);
- start: Ray + vLLM engine up in ~3 min on one H200 (scripts/GPU_CHECK.md, measured 2026-11-27).
`calibrate` replaces a reference by a measured figure (the one-GPU proof's JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from recipes.families import FAMILIES, QWEN2_5_VL

KNOWN_PARAMS: dict[str, float] = {
    s.hub_id: s.params for f in FAMILIES.values() for s in f.sizes.values() if s.params is not None
}
"""Parameter counts of the known base models, ViT included (recipes/families.py)."""

GB = 1e9
REF_PARAMS: float = QWEN2_5_VL.sizes["7b"].params  # 8.29e9
"""Qwen2.5-VL-7B, the model the reference figures are for."""
REF_GPUS = 8

GRPO_REF_STEP_S = (480.0, 660.0)
"""Seconds a GRPO step at 7B on 8 x H100 without flash-attn (audit gpu-v2: 8-11 min)."""
GRPO_REF_STEP_TOKENS = 512 * 10 * 1300
"""Tokens in that step: 512 prompts x n 10 x ~1.3k tokens a sequence (audit gpu-v2)."""
GRPO_LOOP_S = (90.0, 120.0)
"""Of that step: verl's per-token log-prob loop without flash-attn (audit gpu-v2 #11: 1.5-2 min)."""
START_S = (120.0, 240.0)
"""Ray and vLLM start (H200: engine up at 3:13 after the command)."""
SAVE_GBPS = (0.65, 1.3)
"""Checkpoint write speed, GB/s: ~25 saves of ~93 GB in 0.5-1 h (audit gpu-v2)."""
SFT_REF_S = (2.5 * 3600, 4.0 * 3600)
SFT_REF_TOKENS = 185e6
"""SFT at 7B on 8 x H100: 185M tokens in 2.5-4 h, evals and saves included (audit gpu-v2)."""
RESPONSE_MEAN = 600
"""Mean sampled response in tokens at 7B (audit gpu.md: ~600-token mean responses), capped by the limit."""
PROMPT_MEAN = 700
"""Mean prompt tokens when no converted data exists yet (1.3k a sequence minus the mean response)."""
HOST_FLOOR_7B = 512 * GB
"""Host RAM a node at 7B: offloaded states + pixel_values, with the Ray object store's copies (audit gpu-v2)."""
DEVICE_GB = 80.0
"""GPU memory assumed per device (H100 80 GB) unless the machine says otherwise."""


@dataclass(frozen=True)
class StageCost:
    """One stage's forecast: (low, high) ranges."""

    stage: str
    wall_s: tuple[float, float]
    gpu_gb: tuple[float, float] | None
    """Per device; None on a CPU stage."""
    host_gb: float | None
    basis: str
    """What the figure was scaled from."""


def _get(cfg: DictConfig, key: str, default: Any = None) -> Any:
    value = OmegaConf.select(cfg, key, default=default)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _scale(ref: tuple[float, float], factor: float) -> tuple[float, float]:
    return ref[0] * factor, ref[1] * factor


def rl_rows(cfg: DictConfig, run_dir: Path | None) -> tuple[int, str]:
    """RL rows: from the converted data's summary when rl_data has run, else the paper's count."""
    from GRPO.verl_backend import PAPER_RL_ROWS

    summary = run_dir / "rl_data" / "train.summary.json" if run_dir else None
    if summary is not None and summary.exists():
        import json

        return int(json.loads(summary.read_text())["rows"]), f"{summary}"
    if str(_get(cfg, "model.path", "")).startswith("tiny:"):
        return 160, "the tiny RL set (160 rows)"
    return PAPER_RL_ROWS, "the paper's RL set"


def _prompt_tokens(cfg: DictConfig) -> float:
    """A prompt: its image at data.max_pixels (one token per 28 x 28 pixels) plus ~100 tokens of text, or
    the paper's mean when the image cap is large."""
    image = int(_get(cfg, "data.max_pixels", 0) or 0) / 784
    return min(PROMPT_MEAN, image + 100) if image else PROMPT_MEAN


def grpo_cost(cfg: DictConfig, params: float, gpus: int, run_dir: Path | None, flash_attn: bool) -> StageCost:
    from GRPO.verl_backend import training_steps

    g = lambda k, d=None: _get(cfg, f"grpo.{k}", d)  # noqa: E731
    rows, source = rl_rows(cfg, run_dir)
    steps = training_steps(cfg, rows)
    response = min(RESPONSE_MEAN, int(g("max_response_length", 2048)))
    if str(_get(cfg, "model.path", "")).startswith("tiny:"):
        response = int(g("max_response_length", 128))  # an untrained model runs to the cap
    tokens = int(g("rollout_batch_size")) * int(g("rollout_n")) * (_prompt_tokens(cfg) + response)
    factor = tokens / GRPO_REF_STEP_TOKENS * params / REF_PARAMS * REF_GPUS / gpus
    step = _scale(GRPO_REF_STEP_S, factor)
    if flash_attn:
        step = (step[0] - GRPO_LOOP_S[0] * factor, step[1] - GRPO_LOOP_S[1] * factor)
    saves = steps // max(int(g("save_freq", 1)), 1) if int(g("save_freq", -1)) > 0 else 0
    save_gb = params * 12 / GB
    wall = (START_S[0] + steps * step[0] + saves * save_gb / SAVE_GBPS[1],
            START_S[1] + steps * step[1] + saves * save_gb / SAVE_GBPS[0])
    device = _device_gb()
    vllm = float(g("gpu_memory_utilization", 0.6)) * device
    micro = int(g("micro_batch_size_per_device_for_update", 4))
    seq = int(_get(cfg, "data.max_prompt_length", 2048)) + int(g("max_response_length", 2048))
    vocab = 152064
    update = params * 16 / gpus / GB + micro * seq * vocab * 12 / GB  # fp32 shard+grad+Adam, logits+grads
    offload, images = host_memory_need(cfg, params)
    host = max(offload + 2 * images, HOST_FLOOR_7B * params / REF_PARAMS) / GB if params >= 1e9 else \
        (offload + 2 * images) / GB + 8
    return StageCost("grpo", wall, (min(vllm, device), min(max(vllm, update), device)), host,
                     f"{steps} steps ({rows:,} rows from {source}) x ~{_n(tokens)} tokens a step; "
                     f"{'flash-attn' if flash_attn else 'no flash-attn: +per-token log-prob loop'}; "
                     f"{saves} saves of ~{save_gb:.1f} GB")


def host_memory_need(cfg: DictConfig, params: float) -> tuple[float, float]:
    """(pinned offload bytes, rollout image bytes) verl's driver and workers hold on the host per node."""
    g = lambda k: bool(_get(cfg, f"grpo.{k}"))  # noqa: E731
    offload = params * ((4 if g("param_offload") else 0) + (8 if g("optimizer_offload") else 0)
                        + (4 if g("ref_param_offload") else 0))
    # fp32 pixel_values: (pixels / 14^2) patches x (3 x 2 x 14 x 14) values x 4 bytes = 24 B per pixel, per response
    images = 24.0 * int(_get(cfg, "data.max_pixels", 0)) * int(_get(cfg, "grpo.rollout_batch_size", 0)) \
        * int(_get(cfg, "grpo.rollout_n", 1))
    return offload, images


def _device_gb() -> float:
    return DEVICE_GB


def sft_cost(cfg: DictConfig, params: float, gpus: int) -> StageCost:
    s = lambda k, d=None: _get(cfg, f"sft.{k}", d)  # noqa: E731
    tiny = str(_get(cfg, "model.path", "")).startswith("tiny:")
    rows = 320 if tiny else 51534  # the paper's SFT set (audit gpu-v2)
    seq = min(int(s("max_length") or 2048), 1200 if not tiny else 300)
    epochs = float(s("num_train_epochs", 3))
    tokens = rows * (1 - float(s("split_dataset_ratio", 0.01))) * epochs * seq
    extra = (s("extra_args") or {}).get("max_steps")
    if extra:
        tokens = min(tokens, int(extra) * int(s("global_batch_size", 64)) * seq)
    factor = tokens / SFT_REF_TOKENS * params / REF_PARAMS * REF_GPUS / gpus
    wall = _scale(SFT_REF_S, factor)
    wall = (wall[0] + 30, wall[1] + 90)  # torchrun + model load
    zero2 = bool(s("deepspeed"))
    weights = params * (2 + (2 + 12) / (gpus if zero2 else 1)) / GB  # bf16 weights; grads + fp32 Adam sharded
    act = (4, 9) if params >= 1e9 else (0.5, 2)
    return StageCost("sft", wall, (weights + act[0] * params / REF_PARAMS + 1, weights + act[1] * params / REF_PARAMS
                                   + 2), params * 16 / GB + 32,
                     f"~{_n(tokens)} tokens ({rows:,} rows x {epochs:g} epochs x <= {seq} tokens"
                     f"{f', max_steps {extra}' if extra else ''})"
                     f"{', ZeRO-2' if zero2 else ''}")


def eval_cost(cfg: DictConfig, params: float, gpus: int) -> StageCost:
    limit = _get(cfg, "eval.limit")
    items = sum(int(v.get("limit") or limit or 2000) for v in (_get(cfg, "eval.sources") or {}).values()) or 8000
    tokens = items * int(_get(cfg, "eval.max_new_tokens", 2048)) * 0.5
    engines = int(_get(cfg, "eval.engines") or gpus)
    per_engine = 2000.0 * REF_PARAMS / params  # decode tok/s of one batched vLLM engine (an estimate)
    wall = (START_S[0] * (0.5 if _get(cfg, "eval.enforce_eager") else 1) + tokens / (per_engine * engines * 2),
            START_S[1] * (0.5 if _get(cfg, "eval.enforce_eager") else 1) + tokens / (per_engine * engines * 0.5))
    util = float(_get(cfg, "eval.gpu_memory_utilization", 0.9)) * _device_gb()
    return StageCost("eval", wall, (util, util), params * 2 / GB * engines + 16,
                     f"~{items:,} items x half of max_new_tokens on {engines} engine(s); decode speed estimated, "
                     "not measured")


def model_params(cfg: DictConfig) -> float | None:
    """Parameters of `model.path`: the paper's models by id, a local dir by its safetensors, else None."""
    ref = str(_get(cfg, "model.path", ""))
    if ref in KNOWN_PARAMS:
        return KNOWN_PARAMS[ref]
    if ref.startswith("tiny:"):
        return 2.0e7
    path = Path(ref).expanduser()
    files = list(path.glob("*.safetensors")) if path.is_dir() else []
    if not files:
        return None
    width = 4 if "32" in str(_get(cfg, "model.torch_dtype", "bfloat16")) else 2
    return sum(f.stat().st_size for f in files) / width


def merge_cost(cfg: DictConfig, params: float) -> StageCost:
    out = 2 if _get(cfg, "merge.dtype") in ("bf16", "bfloat16", "fp16") else 4
    gb = params * (4 + out) / GB  # read the fp32 shards, write the output
    return StageCost("merge", (gb / SAVE_GBPS[1] + 10, gb / SAVE_GBPS[0] + 30), None, params * 4 / GB + 4,
                     f"reads ~{params * 4 / GB:.1f} GB of fp32 shards, writes ~{params * out / GB:.1f} GB")


def estimate(cfg: DictConfig, stages: list[str], run_dir: Path | None = None,
             flash_attn: bool | None = None) -> list[StageCost]:
    """The forecast for the GPU-heavy stages of `stages` on the recipe's cluster."""
    params = model_params(cfg) or REF_PARAMS
    gpus = int(_get(cfg, "cluster.nproc_per_node", 1)) * int(_get(cfg, "cluster.nnodes", 1))
    if flash_attn is None:
        flash_attn = str(_get(cfg, "grpo.attn_implementation", "auto")) == "flash_attention_2"
    out = []
    if "sft" in stages:
        out.append(sft_cost(cfg, params, gpus))
    if "grpo" in stages and _get(cfg, "grpo.backend") == "verl":
        out.append(grpo_cost(cfg, params, gpus, run_dir, flash_attn))
    if "merge" in stages:
        out.append(merge_cost(cfg, params))
    if "eval" in stages:
        out.append(eval_cost(cfg, params, gpus))
    return out


def echo_forecast(cfg: DictConfig, stages: list[str], run_dir: Path | None, echo: Any) -> None:
    """Print the forecast (the runner, before any stage); a failure of the model is said, never raised."""
    try:
        lines = cost_lines(estimate(cfg, stages, run_dir))
    except Exception as err:  # a forecast must never stop a run
        lines = [f"[cost] no forecast: {type(err).__name__}: {err}"]
    for line in lines:
        echo(line)


def _n(count: float) -> str:
    return f"{count / 1e6:.2f}M" if count >= 1e5 else f"{count / 1e3:.1f}k"


def _t(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min" if seconds >= 90 else \
        f"{seconds:.0f} s"


def cost_lines(costs: list[StageCost]) -> list[str]:
    """The forecast as the runner prints it."""
    if not costs:
        return []
    lo, hi = sum(c.wall_s[0] for c in costs), sum(c.wall_s[1] for c in costs)
    out = ["[cost] forecast (recipes/pipeline/cost.py; ranges scaled from the sources named there):"]
    for c in costs:
        gpu = f"{c.gpu_gb[0]:.0f}-{c.gpu_gb[1]:.0f} GB/GPU" if c.gpu_gb else "no GPU"
        host = f"host ~{c.host_gb:,.0f} GB" if c.host_gb is not None else ""
        out.append(f"  {c.stage:6s} {_t(c.wall_s[0])}-{_t(c.wall_s[1])}, {gpu}, {host}: {c.basis}")
    out.append(f"  total  {_t(lo)}-{_t(hi)}")
    return out
