"""The one map from our `grpo` / `data` / `model` / `cluster` config to `swift rlhf --rlhf_type grpo` (ms-swift 4.6).

`SWIFT_RLHF_FLAGS` lists every backend-neutral GRPO setting and the ms-swift flag it becomes
(GRPO/verl_overrides.py is the verl side); the paper's values are in GRPO/paper.py. Settings ms-swift cannot honour
are rows with a `warn` (the run goes on and the plan says so) or a `SwiftConfigError` from their value (the
run stops before anything starts): never dropped silently. GRPO/swift_command.py assembles the command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from recipes import tracking
from recipes.config_map import SKIP, MapRow
from recipes.ms_swift import on_gpu, world_size


class SwiftConfigError(ValueError):
    """The GRPO settings cannot make a valid `swift rlhf` command (said before anything runs)."""


ALL_TOKENS_TOP_K = 1_000_000
"""`--top_k` that keeps every token: transformers clamps top_k to the vocabulary. Needed because ms-swift's
transformers engine turns `top_k=-1` into "use the model's generation_config", which for Qwen2.5-VL-Instruct
is `top_k=1` (greedy: every response of a group identical, every advantage zero)."""

REWARD_ACCURACY = "rlcs_accuracy"
REWARD_FORMAT = "rlcs_format"
"""ORM names registered by reward_fns/swift_orm.py (reward_fns' ms-swift face; it reads verl's parquet columns)."""


def _g(key: str) -> Callable[[DictConfig], Any]:
    return lambda cfg: cfg.grpo[key]


def on_cpu(cfg: DictConfig) -> bool:
    return not on_gpu(cfg.cluster)


def uses_vllm(cfg: DictConfig) -> bool:
    """vLLM colocate rollouts: asked for and possible (a CUDA device)."""
    return str(cfg.grpo.rollout_engine) == "vllm" and not on_cpu(cfg)


def _engine(cfg: DictConfig) -> bool:
    engine = str(cfg.grpo.rollout_engine)
    if engine not in ("vllm", "transformers"):
        raise SwiftConfigError(f"grpo.rollout_engine={engine!r}: the swift backend generates with `vllm` "
                               "(colocate, GPU) or `transformers`")
    return uses_vllm(cfg)


def _responses_per_update(cfg: DictConfig) -> int:
    return int(cfg.grpo.global_batch_size) * int(cfg.grpo.rollout_n)


def micro_batch(cfg: DictConfig) -> int:
    return int(cfg.grpo.micro_batch_size_per_device_for_update)


def _grad_accum(cfg: DictConfig) -> int:
    """Accumulation steps so that one optimizer step sees global_batch_size prompts x rollout_n responses."""
    per_pass = micro_batch(cfg) * world_size(cfg.cluster)
    total = _responses_per_update(cfg)
    if per_pass < 1 or total % per_pass:
        raise SwiftConfigError(
            f"grpo.global_batch_size x grpo.rollout_n = {cfg.grpo.global_batch_size} x {cfg.grpo.rollout_n} = {total} "
            f"responses per update is not divisible by micro_batch_size_per_device_for_update x processes = "
            f"{micro_batch(cfg)} x {world_size(cfg.cluster)} = {per_pass}; change one of them"
        )
    return total // per_pass


def _generation_batch(cfg: DictConfig) -> int:
    """Responses per rollout (rollout_batch_size prompts x rollout_n): a whole number of updates."""
    rollout, update = int(cfg.grpo.rollout_batch_size), int(cfg.grpo.global_batch_size)
    if rollout % update:
        raise SwiftConfigError(
            f"grpo.rollout_batch_size={rollout} is not a multiple of grpo.global_batch_size={update} "
            "(each rollout must feed a whole number of optimizer updates, as in verl and EasyR1)"
        )
    _grad_accum(cfg)
    return rollout * int(cfg.grpo.rollout_n)


def _beta(cfg: DictConfig) -> float:
    if not cfg.grpo.use_kl_loss:
        return 0.0
    if str(cfg.grpo.kl_loss_type) not in ("low_var_kl", "k3"):
        raise SwiftConfigError(
            f"grpo.kl_loss_type={cfg.grpo.kl_loss_type!r}: ms-swift's GRPO loss has only the k3 estimator "
            "(verl's low_var_kl, clamped to [-10, 10]); use low_var_kl or the verl backend"
        )
    return float(cfg.grpo.kl_coef)


def _adv(cfg: DictConfig) -> str:
    est = str(cfg.grpo.adv_estimator)
    if est not in ("grpo", "rloo", "reinforce_plus_plus"):
        raise SwiftConfigError(f"grpo.adv_estimator={est!r}: ms-swift knows grpo, rloo, reinforce_plus_plus")
    return est


def _optim(cfg: DictConfig) -> str:
    name = str(cfg.grpo.optimizer).lower()
    mapping = {"adamw": "adamw_torch", "adam": "adamw_torch"}
    if name not in mapping:
        raise SwiftConfigError(f"grpo.optimizer={cfg.grpo.optimizer!r}: the swift backend maps adamw only")
    if name == "adam" and float(cfg.grpo.weight_decay):
        raise SwiftConfigError("grpo.optimizer=adam with weight_decay > 0 has no ms-swift equivalent; use adamw")
    return mapping[name]


def _report_to(cfg: DictConfig) -> list[str]:
    known = {"console": None, "wandb": "wandb", "tensorboard": "tensorboard", "swanlab": "swanlab",
             "mlflow": "mlflow"}
    top = tracking.chosen(cfg)  # the recipe's one `logger=[...]` (recipes/tracking.py)
    out = []
    for name in (cfg.grpo.loggers if top is None else top):
        if name not in known:
            raise SwiftConfigError(f"grpo.loggers: {name!r} is not one of {sorted(known)} for the swift backend")
        if known[name]:
            out.append(known[name])
    return out or ["none"]


def _reward_funcs(cfg: DictConfig) -> list[str]:
    w = float(cfg.grpo.format_weight)
    return [REWARD_ACCURACY, REWARD_FORMAT] if w else [REWARD_ACCURACY]


def _reward_weights(cfg: DictConfig) -> Any:
    w = float(cfg.grpo.format_weight)
    if not 0.0 <= w <= 1.0:
        raise SwiftConfigError(f"grpo.format_weight={w} must be in [0, 1]")
    return [1.0 - w, w] if w else SKIP


def dtype_flags(cfg: DictConfig) -> dict[str, Any]:
    dtype = str(cfg.model.torch_dtype)
    return {"torch_dtype": dtype, "bf16": dtype == "bfloat16", "fp16": dtype == "float16"}


def _warn_if(cond: Callable[[DictConfig], bool], text: Callable[[DictConfig], str]) -> Callable[[DictConfig], str | None]:
    return lambda cfg: text(cfg) if cond(cfg) else None


SWIFT_RLHF_FLAGS: tuple[MapRow, ...] = (
    # -- data ------------------------------------------------------------------------------------
    MapRow("data.max_prompt_length", "max_length", lambda c: c.data.max_prompt_length,
        "ms-swift's max_length bounds the encoded prompt; longer rows are dropped and resampled "
        "(`truncation_strategy delete`); the converter already rejects them"),
    MapRow("data.max_pixels", "MAX_PIXELS (env)",
        lambda c: c.data.max_pixels, "ms-swift ignores the per-image keys and reads the environment"),
    MapRow("data.min_pixels", "MIN_PIXELS (env)",
        lambda c: c.data.min_pixels, "as max_pixels"),
    MapRow("grpo.seed", "seed", _g("seed"), "also `data_seed`"),
    MapRow("grpo.seed", "data_seed", _g("seed")),
    # -- rollout ---------------------------------------------------------------------------------
    MapRow("grpo.rollout_n", "num_generations", _g("rollout_n")),
    MapRow("grpo.rollout_batch_size", "generation_batch_size", _generation_batch,
        "in responses: rollout_batch_size x rollout_n"),
    MapRow("grpo.max_response_length", "max_completion_length",
        _g("max_response_length")),
    MapRow("grpo.temperature", "temperature", _g("temperature")),
    MapRow("grpo.top_p", "top_p", _g("top_p")),
    MapRow("(top_k)", "top_k", lambda c: -1 if uses_vllm(c) else ALL_TOKENS_TOP_K,
        f"transformers rollouts pass {ALL_TOKENS_TOP_K} (= every token): ms-swift maps -1 to the model's "
        "generation_config top_k, 1 for Qwen2.5-VL-Instruct, i.e. greedy groups"),
    MapRow("(repetition penalty)", "repetition_penalty", lambda c: 1.0,
        "explicit, so the model's generation_config (1.05) is not used"),
    MapRow("grpo.rollout_engine", "use_vllm", _engine,
        "vLLM colocate on a GPU; transformers generation on a CPU",
        _warn_if(lambda c: str(c.grpo.rollout_engine) == "vllm" and on_cpu(c),
                 lambda c: "grpo.rollout_engine=vllm needs a GPU: rollouts use transformers generation on this CPU")),
    MapRow("grpo.rollout_engine", "vllm_mode",
        lambda c: "colocate" if uses_vllm(c) else SKIP),
    MapRow("grpo.tensor_parallel_size", "vllm_tensor_parallel_size",
        lambda c: c.grpo.tensor_parallel_size if uses_vllm(c) else SKIP, "vLLM only"),
    MapRow("grpo.gpu_memory_utilization", "vllm_gpu_memory_utilization",
        lambda c: c.grpo.gpu_memory_utilization if uses_vllm(c) else SKIP, "vLLM only"),
    MapRow("grpo.max_num_seqs", "vllm_max_num_seqs",
        lambda c: c.grpo.max_num_seqs if uses_vllm(c) else SKIP, "vLLM only"),
    MapRow("grpo.enforce_eager", "vllm_enforce_eager",
        lambda c: c.grpo.enforce_eager if uses_vllm(c) else SKIP, "vLLM only"),
    MapRow("grpo.val_temperature", None, None,
        "ms-swift validates with the rollout temperature",
        _warn_if(lambda c: int(c.grpo.val_freq) > 0 and c.grpo.val_temperature != c.grpo.temperature,
                 lambda c: f"grpo.val_temperature={c.grpo.val_temperature} is not honoured: ms-swift validates "
                           f"with the rollout temperature {c.grpo.temperature}")),
    MapRow("grpo.val_n", "num_generations_eval",
        lambda c: c.grpo.val_n if int(c.grpo.val_freq) > 0 else SKIP),
    # -- algorithm -------------------------------------------------------------------------------
    MapRow("grpo.adv_estimator", "advantage_estimator", _adv,
        "grpo scales by the group std in both (`scale_rewards group`)"),
    MapRow("grpo.adv_estimator", "scale_rewards",
        lambda c: "group" if _adv(c) == "grpo" else SKIP, "rloo / reinforce_plus_plus keep ms-swift's own scaling"),
    MapRow("grpo.use_kl_loss", "kl_in_reward", lambda c: False,
        "KL is a loss term in both; use_kl_loss=false gives beta 0 (no reference model)"),
    MapRow("grpo.kl_loss_type", None, None,
        "ms-swift's only estimator is k3 = verl's low_var_kl (same [-10, 10] clamp); other types are refused"),
    MapRow("grpo.kl_coef", "beta", _beta),
    MapRow("(policy loss aggregation)", "loss_type",
        lambda c: "dapo", "ms-swift `dapo` = token mean over the whole update (its `grpo` is sequence mean)"),
    MapRow("grpo.clip_ratio_low", "epsilon", _g("clip_ratio_low")),
    MapRow("grpo.clip_ratio_high", "epsilon_high", _g("clip_ratio_high")),
    MapRow("grpo.clip_ratio_c", None, None,
        "ms-swift has no dual clip (its `delta` caps the ratio for every advantage, not only negative ones)",
        _warn_if(lambda c: c.grpo.clip_ratio_c is not None,
                 lambda c: f"grpo.clip_ratio_c={c.grpo.clip_ratio_c} (dual clip) is not honoured: ms-swift has no "
                           "dual clip for negative advantages")),
    # -- actor / optimizer -----------------------------------------------------------------------
    MapRow("grpo.micro_batch_size_per_device_for_update",
        "per_device_train_batch_size", micro_batch),
    MapRow("grpo.global_batch_size", "gradient_accumulation_steps",
        _grad_accum, "global_batch_size x rollout_n / (micro batch x processes)"),
    MapRow("grpo.micro_batch_size_per_device_for_experience",
        None, None, "ms-swift computes old/ref log-probs in chunks of per_device_train_batch_size",
        _warn_if(lambda c: c.grpo.micro_batch_size_per_device_for_experience != micro_batch(c),
                 lambda c: "grpo.micro_batch_size_per_device_for_experience="
                           f"{c.grpo.micro_batch_size_per_device_for_experience} is not honoured: ms-swift uses "
                           f"the update micro batch ({micro_batch(c)}) for log-prob forwards")),
    MapRow("grpo.learning_rate", "learning_rate", _g("learning_rate")),
    MapRow("grpo.optimizer", "optim", _optim),
    MapRow("grpo.weight_decay", "weight_decay", _g("weight_decay")),
    MapRow("grpo.warmup_ratio", "warmup_ratio", _g("warmup_ratio")),
    MapRow("(lr schedule)", "lr_scheduler_type",
        lambda c: "constant_with_warmup" if float(c.grpo.warmup_ratio) else "constant",
        "ms-swift's default is cosine"),
    MapRow("grpo.max_grad_norm", "max_grad_norm", _g("max_grad_norm")),
    MapRow("grpo.padding_free", "padding_free",
        lambda c: bool(c.grpo.padding_free) and not on_cpu(c),
        "ms-swift's padding_free needs flash attention (`attn_impl flash_attn`, GPU)",
        _warn_if(lambda c: bool(c.grpo.padding_free) and on_cpu(c),
                 lambda c: "grpo.padding_free=true needs flash attention on a GPU: padded batches on this CPU")),
    MapRow("grpo.padding_free", "attn_impl",
        lambda c: "flash_attn" if c.grpo.padding_free and not on_cpu(c) else SKIP),
    MapRow("grpo.attn_implementation", None,
        None, "ms-swift picks flash_attn with padding_free, else its default (sdpa)",
        _warn_if(lambda c: str(c.grpo.attn_implementation) not in ("auto", "sdpa")
                 and not (c.grpo.padding_free and not on_cpu(c)),
                 lambda c: f"grpo.attn_implementation={c.grpo.attn_implementation} is not honoured: ms-swift uses "
                           "sdpa unless padding_free is on (then flash_attn)")),
    MapRow("grpo.gradient_checkpointing", "gradient_checkpointing",
        _g("gradient_checkpointing")),
    MapRow("grpo.freeze_vision_tower", "freeze_vit",
        _g("freeze_vision_tower"), "ms-swift freezes the ViT by default"),
    MapRow("grpo.freeze_vision_tower", "freeze_aligner",
        _g("freeze_vision_tower"), "the merger trains with the tower, as in EasyR1"),
    MapRow("grpo.param_offload", "offload_model",
        lambda c: bool(c.grpo.param_offload) if uses_vllm(c) else SKIP,
        "ms-swift moves the actor to CPU while vLLM generates (no FSDP; ZeRO-3 offload via extra_overrides "
        "`deepspeed: zero3_offload`)",
        _warn_if(lambda c: bool(c.grpo.param_offload) and not uses_vllm(c),
                 lambda c: "grpo.param_offload has no effect without vLLM colocate rollouts")),
    MapRow("grpo.optimizer_offload", "offload_optimizer",
        lambda c: bool(c.grpo.optimizer_offload) if uses_vllm(c) else SKIP, "as param_offload",
        _warn_if(lambda c: bool(c.grpo.optimizer_offload) and not uses_vllm(c),
                 lambda c: "grpo.optimizer_offload has no effect without vLLM colocate rollouts")),
    MapRow("grpo.ref_param_offload", None, None,
        "ms-swift keeps the reference model on the training device",
        _warn_if(lambda c: bool(c.grpo.ref_param_offload) and not on_cpu(c) and float(_beta(c)) > 0,
                 lambda c: "grpo.ref_param_offload is not honoured: ms-swift keeps the reference model on the GPU")),
    # -- reward ----------------------------------------------------------------------------------
    MapRow("grpo.format_weight", "reward_funcs",
        _reward_funcs, "accuracy ORM, plus the format ORM when the weight is > 0"),
    MapRow("grpo.format_weight", "reward_weights", _reward_weights, "(1 - w, w): the verl face's mix"),
    MapRow("grpo.reward_num_workers", None, None,
        "ms-swift scores in the trainer process (reward_fns bounds each call with its own time limit)",
        _warn_if(lambda c: int(c.grpo.reward_num_workers) > 1,
                 lambda c: f"grpo.reward_num_workers={c.grpo.reward_num_workers} is not honoured: ms-swift "
                           "scores in the trainer process")),
    # -- trainer ---------------------------------------------------------------------------------
    MapRow("grpo.total_epochs", "num_train_epochs", _g("total_epochs")),
    MapRow("grpo.max_steps", "max_steps",
        lambda c: c.grpo.max_steps if c.grpo.max_steps is not None else SKIP),
    MapRow("grpo.save_freq", "save_steps", _g("save_freq")),
    MapRow("grpo.save_limit", "save_total_limit", _g("save_limit")),
    MapRow("grpo.val_freq", "eval_steps",
        lambda c: c.grpo.val_freq if int(c.grpo.val_freq) > 0 else SKIP, "needs the rl_data val parquet"),
    MapRow("grpo.val_freq", "eval_strategy",
        lambda c: "steps" if int(c.grpo.val_freq) > 0 else "no"),
    MapRow("grpo.val_before_train", "eval_on_start",
        lambda c: bool(c.grpo.val_before_train) and int(c.grpo.val_freq) > 0),
    MapRow("grpo.val_after_train", None, None,
        "ms-swift validates every eval_steps only",
        _warn_if(lambda c: bool(c.grpo.val_after_train) and int(c.grpo.val_freq) <= 0,
                 lambda c: "grpo.val_after_train=true is not honoured: ms-swift validates only every "
                           "grpo.val_freq steps (set one > 0)")),
    MapRow("grpo.loggers", "report_to", _report_to,
        "console is always on; wandb reads WANDB_API_KEY, the project is WANDB_PROJECT"),
    MapRow("grpo.project_name", "WANDB_PROJECT (env)", _g("project_name")),
    MapRow("cluster.nproc_per_node", "NPROC_PER_NODE (env)",
        lambda c: c.cluster.nproc_per_node),
    MapRow("cluster.nnodes", "NNODES (env)", lambda c: c.cluster.nnodes,
        "ms-swift launches torchrun itself; no Ray"),
)
"""Every setting of the `grpo` group (and the data / cluster values GRPO reads) and its ms-swift flag; the
README's verl column comes from GRPO/verl_overrides.py's map (recipes/pipeline/parity_tables.py)."""


def flag_values(cfg: DictConfig) -> dict[str, Any]:
    """The config-derived flags (rows with a plain flag) in table order; raises SwiftConfigError."""
    out: dict[str, Any] = {}
    for row in SWIFT_RLHF_FLAGS:
        if row.target is None or row.value is None or row.target.endswith("(env)"):
            continue
        value = row.value(cfg)
        if value is not SKIP:
            out[row.target] = value
    return out


def warnings(cfg: DictConfig) -> list[str]:
    """What this config asks that ms-swift will not do as asked (logged and shown in the plan)."""
    out = []
    for row in SWIFT_RLHF_FLAGS:
        if row.warn is not None:
            text = row.warn(cfg)
            if text:
                out.append(text)
    world = world_size(cfg.cluster)
    if world > 1 and "deepspeed" not in (cfg.grpo.extra_overrides or {}):
        out.append(f"{world} processes without grpo.extra_overrides.deepspeed: each GPU holds a full actor, "
                   "reference and optimizer (verl shards them with FSDP); set `deepspeed: zero3` for 7B")
    return out
