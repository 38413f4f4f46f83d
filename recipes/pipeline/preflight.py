"""Preflight: what the machine has against what the plan needs, said before any download or GPU work.

`recipes/pipeline/machine.py` reads the facts (GPUs and driver through `nvidia-smi`, importable packages,
free disk, host memory, wandb credentials) without importing torch; `preflight(cfg, stages, probe)` turns
them into verdicts, plus the config and environment changes it makes on the run's behalf (recorded in
the config, so the manifest says what ran):

- GPUs visible vs `cluster.nproc_per_node` and the driver (R580+ for torch 2.11 / vLLM 0.24, CUDA 13);
- verl's actor attention: `grpo.attn_implementation=auto` -> flash_attention_2 when flash-attn imports,
  else sdpa with padding_free off (a loud warning); `flash_attention_2` without flash-attn is refused;
- vLLM and verl for the verl backend, deepspeed when SFT asks for it on GPUs;
- wandb without WANDB_API_KEY -> WANDB_MODE=offline (said once);
- free disk against the checkpoints the plan keeps, host memory against verl's offloaded states;
- the cost model's shortfalls (recipes/pipeline/cost.py): host RAM for GRPO, the no-flash-attn log-prob loop.

`run_checks` (the runner's entry) prints the verdicts; in a real run any `fail` stops the run
(PreflightError), in a dry run it is printed as what a real run would refuse.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, read_write

from recipes import tracking
from recipes.pipeline.cost import GRPO_LOOP_S, REF_PARAMS, estimate, host_memory_need, model_params
from recipes.pipeline.machine import Probe, flash_attn_importable, probe_machine
from recipes.ray_launch import uses_ray
from recipes.stage import StageError

DRIVER_FLOOR = 580
"""Oldest NVIDIA driver series for the CUDA 13 stack (torch 2.11.0+cu130, vLLM 0.24.0)."""

GIB = 1 << 30
OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"


class PreflightError(StageError):
    """The machine cannot run the plan; every failed check is named with its fix."""


@dataclass(frozen=True)
class Verdict:
    """One check's outcome."""

    check: str
    status: str
    """ok | warn | FAIL | skip."""
    message: str


@dataclass
class Result:
    """The verdicts plus what the preflight changed on the run's behalf."""

    verdicts: list[Verdict]
    config: dict[str, Any]
    """Dotted config keys -> values set for this machine (e.g. the sdpa fallback)."""
    env: dict[str, str]
    """Environment set for the stages' commands (e.g. WANDB_MODE=offline)."""

    @property
    def failures(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == FAIL]


def _get(cfg: DictConfig, key: str, default: Any = None) -> Any:
    value = OmegaConf.select(cfg, key, default=default)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _on_gpu(cfg: DictConfig) -> bool:
    return str(_get(cfg, "cluster.device", "cpu")) == "cuda"


def _uses_verl(cfg: DictConfig, stages: list[str]) -> bool:
    return "grpo" in stages and _get(cfg, "grpo.backend") == "verl"


GPU_STAGES = ("distill", "sft", "grpo", "eval")
"""Stages that run on GPUs when cluster.device=cuda (sft and grpo on `nproc_per_node` of them per node; eval and
distill on every GPU they see, one engine per tensor-parallel group)."""


def check_gpus(cfg: DictConfig, stages: list[str], probe: Probe) -> list[Verdict]:
    gpu_stages = [s for s in GPU_STAGES if s in stages]
    if not _on_gpu(cfg) or not gpu_stages:
        return [Verdict("gpus", SKIP, f"no GPU stage in this plan (cluster.device=cpu or none of "
                        f"{', '.join(GPU_STAGES)})")]
    cluster = OmegaConf.select(cfg, "cluster")
    if cluster is not None and uses_ray(cluster):
        return [Verdict("gpus", SKIP, f"on Ray: {', '.join(gpu_stages)} ask the cluster for their GPUs "
                        f"({_get(cfg, 'cluster.nnodes', 1)} node(s) x {_get(cfg, 'cluster.nproc_per_node', 1)}); "
                        "this node needs none, and a stage Ray cannot place fails after "
                        "cluster.placement_timeout_s naming the free resources")]
    need = int(_get(cfg, "cluster.nproc_per_node", 1)) if {"sft", "grpo"} & set(stages) else 1
    have = len(probe.gpus)
    names = f" ({', '.join(sorted(set(probe.gpus)))})" if probe.gpus else ""
    fix = ("" if have >= need else ": run on a GPU node (cluster.device=cuda)" if not have else
           f": run on a node with {need} GPUs or set cluster.nproc_per_node={have} (SFT keeps its global batch; "
           "GRPO's batch geometry must still divide)")
    out = [Verdict("gpus", OK if have >= need else FAIL,
                   f"{have} GPU(s) visible{names}, the plan needs {need} per node{fix}")]
    if probe.driver is None:
        out.append(Verdict("driver", FAIL if not have else WARN,
                           f"no NVIDIA driver found (nvidia-smi); torch 2.11.0+cu130 and vLLM 0.24 need R{DRIVER_FLOOR}+"))
    else:
        major = int(probe.driver.split(".")[0]) if probe.driver.split(".")[0].isdigit() else 0
        out.append(Verdict("driver", OK if major >= DRIVER_FLOOR else FAIL,
                           f"NVIDIA driver {probe.driver}; the CUDA 13 stack needs R{DRIVER_FLOOR} or newer"
                           + ("" if major >= DRIVER_FLOOR else ": upgrade the driver")))
    return out


def check_attention(cfg: DictConfig, stages: list[str], probe: Probe) -> tuple[list[Verdict], dict[str, Any]]:
    """verl builds actor and ref with flash-attention 2 unless told otherwise; resolve `auto` here."""
    if not _uses_verl(cfg, stages):
        return [], {}
    impl = str(_get(cfg, "grpo.attn_implementation", "auto"))
    version = probe.modules.get("flash_attn")
    if impl == "auto" and version:
        return [Verdict("flash-attn", OK, f"flash-attn {version}: actor/ref use flash_attention_2"
                        + (" with padding_free" if _get(cfg, "grpo.padding_free") else ""))], \
            {"grpo.attn_implementation": "flash_attention_2"}
    if impl == "auto":
        return [Verdict("flash-attn", WARN,
                        "!!! flash-attn is NOT importable: verl's actor/ref fall back to sdpa with padding_free off "
                        "(+actor_rollout_ref.model.override_config.attn_implementation=sdpa, "
                        "actor_rollout_ref.model.use_remove_padding=false): padded batches, slower, and unlike the "
                        "reference's padding_free. Install flash-attn 2.8.3 (docs/gpu.md: GPU install) to match it.")], \
            {"grpo.attn_implementation": "sdpa", "grpo.padding_free": False}
    if impl == "flash_attention_2" and not version:
        return [Verdict("flash-attn", FAIL, "grpo.attn_implementation=flash_attention_2 but flash-attn is not "
                        "importable: install flash-attn 2.8.3 (docs/gpu.md: GPU install) or set "
                        "grpo.attn_implementation=auto to fall back to sdpa")], {}
    return [Verdict("flash-attn", OK, f"grpo.attn_implementation={impl} as asked"
                    + (f" (flash-attn {version})" if version else ""))], {}


def check_packages(cfg: DictConfig, stages: list[str], probe: Probe) -> list[Verdict]:
    out = []
    if _uses_verl(cfg, stages) and _on_gpu(cfg):
        for module in ("verl", "vllm") if _get(cfg, "grpo.rollout_engine") == "vllm" else ("verl",):
            v = probe.modules.get(module)
            out.append(Verdict(module, OK if v else FAIL, f"{module} {v}" if v else
                               f"{module} is not importable: install the GPU extra (RLCS_EXTRAS=dev,gpu)"))
    if "sft" in stages and _on_gpu(cfg) and _get(cfg, "sft.deepspeed"):
        v = probe.modules.get("deepspeed")
        out.append(Verdict("deepspeed", OK if v else FAIL,
                           f"deepspeed {v} for sft.deepspeed={_get(cfg, 'sft.deepspeed')}" if v else
                           f"sft.deepspeed={_get(cfg, 'sft.deepspeed')} but deepspeed is not importable (ms-swift "
                           "stops while parsing its arguments): install the GPU extra (RLCS_EXTRAS=dev,gpu) or set "
                           "sft.deepspeed=null"))
    return out


def _trackers(cfg: DictConfig, stages: list[str]) -> set[str]:
    """The trackers the training stages of this plan report to (recipes/tracking.py)."""
    return {name for stage in ("sft", "grpo") if stage in stages for name in tracking.stage_loggers(cfg, stage)}


def _wandb_wanted(cfg: DictConfig, stages: list[str]) -> bool:
    return "wandb" in _trackers(cfg, stages)


def check_trackers(cfg: DictConfig, stages: list[str], probe: Probe) -> list[Verdict]:
    """Every tracker but wandb (checked with its credentials below) must be importable."""
    out = []
    for name in sorted(_trackers(cfg, stages) - {"wandb"}):
        module = tracking.MODULES[name]
        version = probe.modules.get(module)
        if version is None and module not in probe.modules:
            version = _module_version(module)
        out.append(Verdict(name, OK, f"{module} {version}") if version else Verdict(
            name, FAIL, f"{name} is a logger of this plan but {module} is not importable: install it or drop "
            f"it from logger=[...]"))
    return out


def _module_version(module: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    from importlib.util import find_spec

    if find_spec(module) is None:
        return None
    try:
        return version(module)
    except PackageNotFoundError:
        return "(installed)"


def check_wandb(cfg: DictConfig, stages: list[str], probe: Probe) -> tuple[list[Verdict], dict[str, str]]:
    if not _wandb_wanted(cfg, stages):
        return [], {}
    if not probe.modules.get("wandb"):
        return [Verdict("wandb", FAIL, "wandb is a logger of this plan but is not importable: install wandb or "
                        "set grpo.loggers=[console] / sft.report_to=[tensorboard]")], {}
    mode = probe.env.get("WANDB_MODE")
    if mode:
        return [Verdict("wandb", OK, f"WANDB_MODE={mode} (set by you)")], {}
    if probe.env.get("WANDB_API_KEY"):
        return [Verdict("wandb", OK, "WANDB_API_KEY set: logging online")], {}
    return [Verdict("wandb", WARN, "no WANDB_API_KEY: wandb logs offline (WANDB_MODE=offline) under each stage's "
                    "directory; upload later with `wandb sync`")], {"WANDB_MODE": "offline"}


DISK_OVERRIDE_ENV = "RLCS_DISK_CHECK"
"""`RLCS_DISK_CHECK=warn` lets a real run start although its checkpoints will not fit (the check then warns)."""
_DTYPE_BYTES = {"bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2, "half": 2, "float32": 4, "fp32": 4, "float": 4}
_OPTIMIZER_BYTES = 12
"""fp32 master weights and two fp32 Adam moments per parameter, as a full (resumable) checkpoint holds them."""


def _weight_bytes(cfg: DictConfig) -> int:
    """Bytes per parameter of the saved weights: `model.torch_dtype` (bf16 for the paper, fp32 on CPUs)."""
    return _DTYPE_BYTES.get(str(_get(cfg, "model.torch_dtype", "bfloat16")).lower(), 4)


def disk_need(cfg: DictConfig, stages: list[str], params: float) -> dict[str, float]:
    """Bytes each stage keeps on disk (estimates from the parameter count, the weights' dtype and the plan's
    save limits)."""
    need: dict[str, float] = {}
    w = _weight_bytes(cfg)
    if "sft" in stages:  # save_total_limit checkpoints plus the best one; weights only, or with optimizer state
        per = params * (w if _get(cfg, "sft.save_only_model", True) else w + _OPTIMIZER_BYTES)
        need["sft"] = per * (int(_get(cfg, "sft.save_total_limit", 2)) + 1)
    if _uses_verl(cfg, stages):  # fp32 model shards + fp32 Adam moments (save_contents model, optimizer, extra)
        need["grpo"] = params * 12 * int(_get(cfg, "grpo.save_limit", 7))
    elif "grpo" in stages:  # ms-swift GRPO: full checkpoints (save_only_model false), save_total_limit kept
        need["grpo"] = params * (w + _OPTIMIZER_BYTES) * int(_get(cfg, "grpo.save_limit", 7))
    if "merge" in stages:
        need["merge"] = params * (2 if _get(cfg, "merge.dtype") in ("bf16", "bfloat16", "fp16") else 4)
    return need


def check_disk(cfg: DictConfig, stages: list[str], probe: Probe) -> list[Verdict]:
    params = model_params(cfg)
    if params is None:
        return [Verdict("disk", SKIP, f"parameter count of {_get(cfg, 'model.path')} unknown until it is fetched")]
    need = disk_need(cfg, stages, params)
    if not need:
        return []
    total = sum(need.values())
    held = _already_held(cfg, need)  # a resumed run's checkpoints are on disk already
    parts = ", ".join(f"{k} {v / GIB:,.1f} GiB" for k, v in need.items())
    per_grpo = params * (12 if _uses_verl(cfg, stages) else _weight_bytes(cfg) + _OPTIMIZER_BYTES)
    grpo = (f"; each GRPO checkpoint holds fp32 shards + Adam state, ~{per_grpo / GIB:,.1f} GiB, "
            f"x{_get(cfg, 'grpo.save_limit')} kept" if "grpo" in need else "")
    ok = probe.free_disk + held >= total
    forced = str(probe.env.get(DISK_OVERRIDE_ENV, "")).lower() == "warn"
    return [Verdict("disk", OK if ok else WARN if forced else FAIL,
                    f"{probe.free_disk / GIB:,.1f} GiB free under {_get(cfg, 'runs_dir', 'runs')}"
                    + (f" (+{held / GIB:,.1f} GiB this run already holds)" if held else "")
                    + f", the plan keeps ~{total / GIB:,.1f} GiB ({parts}{grpo})" + ("" if ok else
                    ": the run would stop when the disk fills; free space, point runs_dir elsewhere, or lower "
                    f"grpo.save_limit / sft.save_total_limit ({DISK_OVERRIDE_ENV}=warn starts it anyway)"))]


def _already_held(cfg: DictConfig, need: dict[str, float]) -> float:
    """Bytes already under the run's stage folders of `need` (counted as room: they are part of the need)."""
    run_dir = Path(str(_get(cfg, "runs_dir", "runs"))).expanduser() / str(_get(cfg, "run_name", ""))
    held = 0.0
    for stage in need:
        root = run_dir / stage
        if root.is_dir():
            for dirpath, _dirs, files in os.walk(root):
                for f in files:
                    with contextlib.suppress(OSError):  # removed meanwhile
                        held += os.lstat(os.path.join(dirpath, f)).st_size
    return min(held, sum(need.values()))


def check_memory(cfg: DictConfig, stages: list[str], probe: Probe) -> list[Verdict]:
    params = model_params(cfg)
    if not _uses_verl(cfg, stages) or params is None:
        return []
    offload, images = host_memory_need(cfg, params)
    need = offload + images
    ok = probe.host_memory >= need
    return [Verdict("host memory", OK if ok else WARN,
                    f"{probe.host_memory / GIB:,.0f} GiB RAM; verl holds ~{offload / GIB:,.0f} GiB of offloaded actor, "
                    f"Adam and reference states plus up to ~{images / GIB:,.0f} GiB of fp32 pixel_values per step "
                    f"(one image at data.max_pixels per response)" + ("" if ok else
                    ": expect Ray to kill workers (host OOM); use a node with more RAM, lower data.max_pixels, or "
                    "turn off grpo.ref_param_offload"))]


def check_cost(cfg: DictConfig, stages: list[str], probe: Probe) -> list[Verdict]:
    """Where the node falls short of the cost model (recipes/pipeline/cost.py): host RAM for GRPO, and the
    time verl's per-token log-prob loop costs without flash-attn."""
    if not _uses_verl(cfg, stages) or not _on_gpu(cfg):
        return []
    params = model_params(cfg) or REF_PARAMS
    grpo = next(c for c in estimate(cfg, ["grpo"], flash_attn=True) if c.stage == "grpo")
    out = []
    if grpo.host_gb and probe.host_memory < grpo.host_gb * 1e9:
        out.append(Verdict("host RAM", WARN, f"{probe.host_memory / 1e9:,.0f} GB on this node, the cost model expects "
                           f"GRPO to need ~{grpo.host_gb:,.0f} GB (>= 512 GB a node at 7B: offloaded states + fp32 "
                           "pixel_values and their Ray copies): expect host OOM; use a larger node"))
    impl = str(_get(cfg, "grpo.attn_implementation", "auto"))
    from GRPO.verl_backend import PAPER_RL_ROWS, training_steps

    steps = training_steps(cfg, PAPER_RL_ROWS if params >= 1e9 else 160)
    scale = params / REF_PARAMS
    lo, hi = (s * scale * steps / 3600 for s in GRPO_LOOP_S)
    if not probe.modules.get("flash_attn") and impl != "flash_attention_2" and hi >= 0.05:  # >= 3 min in all
        out.append(Verdict("log-prob", WARN, f"no flash-attn: verl computes log-probs token row by token row "
                           f"(logprobs_from_logits_v2), ~{GRPO_LOOP_S[0] * scale / 60:.1f}-"
                           f"{GRPO_LOOP_S[1] * scale / 60:.1f} min a step here, ~{lo:.1f}-{hi:.1f} h over "
                           f"{steps} steps; the flash-attn wheel (docs/gpu.md: GPU install) removes it"))
    return out


CHECKS: tuple[Callable[[DictConfig, list[str], Probe], list[Verdict]], ...] = (
    check_gpus, check_packages, check_disk, check_memory, check_cost)


def preflight(cfg: DictConfig, stages: list[str], probe: Probe) -> Result:
    """Every verdict for running `stages` of `cfg` on the machine `probe` describes."""
    verdicts: list[Verdict] = []
    for check in CHECKS[:2]:
        verdicts += check(cfg, stages, probe)
    attn, config = check_attention(cfg, stages, probe)
    wandb, env = check_wandb(cfg, stages, probe)
    verdicts += attn + check_trackers(cfg, stages, probe) + wandb
    for check in CHECKS[2:]:
        verdicts += check(cfg, stages, probe)
    return Result(verdicts, config, env)


def apply(cfg: DictConfig, result: Result) -> None:
    """Write the preflight's config choices into `cfg` (so stage hashes and the manifest record them) and
    its environment into this process (the stages' commands inherit it)."""
    with read_write(cfg):  # the composed recipe is read-only; these are the preflight's recorded choices
        for key, value in result.config.items():
            OmegaConf.update(cfg, key, value, merge=False)
    for key, value in result.env.items():
        os.environ.setdefault(key, value)


def lines(result: Result, dry_run: bool) -> list[str]:
    """The verdicts as the runner prints them."""
    out = ["[preflight] " + ("what a real run would find on this machine:" if dry_run else "checking this machine:")]
    for v in result.verdicts:
        out.append(f"  {v.status:4s} {v.check:11s} {v.message}")
    for key, value in result.config.items():
        out.append(f"  set  {key}={value}")
    for key, value in result.env.items():
        out.append(f"  env  {key}={value}")
    if result.failures:
        out.append(f"  -> {len(result.failures)} check(s) failed: "
                   + ("a real run would refuse to start here" if dry_run else "not starting"))
    return out


def run_checks(cfg: DictConfig, stages: list[str], echo: Callable[[str], Any], dry_run: bool,
               probe: Probe | None = None) -> Result:
    """Probe, check, apply and print; in a real run raise PreflightError on any failed check."""
    if probe is None:
        probe = probe_machine(str(_get(cfg, "runs_dir", "runs")))
        if not dry_run and _uses_verl(cfg, stages) and probe.modules.get("flash_attn") and _on_gpu(cfg) \
                and not flash_attn_importable():
            probe.modules["flash_attn"] = None  # installed but broken (built for another torch): as absent
    result = preflight(cfg, stages, probe)
    apply(cfg, result)
    for line in lines(result, dry_run):
        echo(line)
    if result.failures and not dry_run:
        raise PreflightError("preflight: " + "; ".join(f"{v.check}: {v.message}" for v in result.failures))
    return result
