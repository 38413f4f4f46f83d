"""The `grpo` stage with `grpo.backend=swift`: ms-swift 4.6 GRPO on one node, no Ray; runs on a CPU.

GRPO/train_stage.py and GRPO/merge_stage.py dispatch here. The command comes from GRPO/swift_command.py over GRPO/swift_flags.py (the one
flag map); ms-swift reads the rl_data parquet (verl's schema) directly and scores with reward_fns/swift_orm.py
(reward_fns' ms-swift face). Checkpoints land in `<stage_dir>/checkpoints/checkpoint-N` (Hugging Face layout); a
rerun resumes from the newest one. Outputs: `checkpoint` (newest checkpoint-N), `format` (`hf`), `step`,
`reward_mean` (per step), `log`. The merge stage validates the checkpoint and records it as the model.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from GRPO.swift_command import SwiftPaths, swift_command
from GRPO.swift_flags import SwiftConfigError, warnings
from recipes.atomic import atomic_write_json
from recipes.checks import Problem, problem_from
from recipes.ms_swift import argument_errors, last_checkpoint
from recipes.stage import StageContext, StageError, StagePlan
from recipes.stage_outputs import HF_MODEL, GrpoOutputs, MergeOutputs

log = logging.getLogger(__name__)

SUMMARY = "summary.json"


class SwiftCheckpointError(StageError):
    """An ms-swift checkpoint directory is incomplete or unreadable (the message says what and where)."""


def _paths(ctx: StageContext, model: str, out: Path, resume_from: str | None) -> SwiftPaths:
    data = ctx.outputs("rl_data")
    val = data["val"] if int(ctx.cfg.grpo.val_freq) > 0 else None
    return SwiftPaths(model=model, train_file=data["train"], output_dir=str(out),
                      val_file=val, resume_from=resume_from)


# -- stage entry points ---------------------------------------------------------------------------------
def validate(cfg: DictConfig) -> list[Problem]:
    """The `swift rlhf` command our settings make (placeholder paths), then ms-swift's own parser over it."""
    try:
        cmd = swift_command(cfg, SwiftPaths(model="<model>", train_file="<rl_data>/train.parquet",
                                            output_dir="<grpo>/checkpoints", val_file="<rl_data>/val.parquet"))
    except SwiftConfigError as err:
        text = str(err)
        key = text.split("=", 1)[0].split(":", 1)[0] if text.startswith("grpo.") else "grpo"
        return [problem_from(key, OmegaConf.select(cfg, key, default=None), text)]
    from swift.arguments import RLHFArguments

    extra = {str(k).lstrip("-") for k in (cfg.grpo.extra_overrides or {})}
    return [Problem(*((f"grpo.extra_overrides.{flag}", None) if flag in extra else ("grpo.backend", "swift")),
                    f"ms-swift's parser refuses --{flag}: {why}")
            for flag, why in argument_errors(RLHFArguments, cmd.argv[2:]).items()]


def plan(ctx: StageContext, model: str, out: Path) -> StagePlan:
    """The exact `swift rlhf` command, its outputs, and every setting ms-swift will not honour as given."""
    try:
        cmd = swift_command(ctx.cfg, _paths(ctx, model, out, None))
        notes = [f"WARNING: {w}" for w in warnings(ctx.cfg)]
    except SwiftConfigError as err:
        raise StageError(f"stage 'grpo' (backend swift): {err}") from err
    notes.insert(0, "ms-swift GRPO on one node (no Ray); resumes from the newest checkpoint-N on rerun")
    return StagePlan(commands=[cmd], notes=notes,
                     outputs={"checkpoint": str(out / "checkpoint-<N>"), "format": HF_MODEL,
                              "reward_mean": "[per step]", "log": str(ctx.stage_dir / "log.txt")})


def run(ctx: StageContext, model: str, out: Path) -> GrpoOutputs:
    """Train `model` into `out` (resuming from its newest complete checkpoint), validate the newest
    checkpoint, record per-step reward."""
    resume = last_checkpoint(out)
    try:
        cmd = swift_command(ctx.cfg, _paths(ctx, model, out, str(resume) if resume else None))
        for w in warnings(ctx.cfg):
            log.warning("grpo (swift): %s", w)
    except SwiftConfigError as err:
        raise StageError(f"stage 'grpo' (backend swift): {err}") from err
    if resume:
        log.info("grpo (swift): resuming from %s", resume)
    out.mkdir(parents=True, exist_ok=True)
    ctx.run_command(cmd)
    ckpt = last_checkpoint(out)
    if ckpt is None:
        raise StageError(f"ms-swift finished but saved no checkpoint-N under {out}; check grpo.save_freq "
                         f"and the log in {ctx.stage_dir / 'log.txt'}")
    info = validate_swift_checkpoint(ckpt)
    rewards = reward_means(ckpt)
    log.info("grpo (swift): reward mean per step %s", [round(r, 4) for r in rewards])
    summary = {"checkpoint": str(ckpt), "reward_mean": rewards, "validation": info}
    atomic_write_json(ctx.stage_dir / SUMMARY, summary)
    return GrpoOutputs(checkpoint=str(ckpt), format=HF_MODEL, step=info["step"], reward_mean=rewards,
                       reward_mean_last=rewards[-1] if rewards else None, log=str(ctx.stage_dir / "log.txt"))


# -- merge stage entry points: the checkpoint already is a Hugging Face model ---------------------------
def plan_hf_model(ctx: StageContext, target: Path) -> StagePlan:
    """No merge: the grpo checkpoint is validated and recorded as the model (`target` is not written)."""
    ckpt = ctx.outputs("grpo")["checkpoint"]
    return StagePlan(notes=[f"validate the ms-swift checkpoint {ckpt} and record it (no merge needed)"],
                     outputs={"model": ckpt})


def make_hf_model(ctx: StageContext, target: Path) -> MergeOutputs:
    """Validate the grpo checkpoint (every tensor readable and finite, parameter count equal to the
    architecture's) and record it as the model; `target` is not written."""
    info = validate_swift_checkpoint(ctx.outputs("grpo")["checkpoint"])
    return MergeOutputs(model=info["path"], checkpoint=info["path"], step=info["step"],
                        num_parameters=info["num_parameters"], dtype=",".join(info["dtype"]))


# -- reading what ms-swift wrote --------------------------------------------------------------------------
def reward_means(ckpt: Path) -> list[float]:
    """Mean reward of each logged step, from the checkpoint's trainer_state.json (survives resumes)."""
    state = _read_json(ckpt / "trainer_state.json")
    by_step: dict[int, float] = {}
    for entry in state.get("log_history", []):
        if "reward" in entry and "step" in entry:
            by_step[int(entry["step"])] = float(entry["reward"])
    return [by_step[s] for s in sorted(by_step)]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SwiftCheckpointError(f"{path.parent}: missing {path.name}") from None
    except (OSError, json.JSONDecodeError) as err:
        raise SwiftCheckpointError(f"{path}: unreadable JSON ({err})") from err


def _weight_files(path: Path) -> list[Path]:
    index = path / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(_read_json(index).get("weight_map", {}).values()))
        if not shards:
            raise SwiftCheckpointError(f"{index}: empty weight_map")
        missing = [s for s in shards if not (path / s).is_file()]
        if missing:
            raise SwiftCheckpointError(f"{path}: shards listed in {index.name} are missing: {missing}")
        return [path / s for s in shards]
    single = path / "model.safetensors"
    if single.is_file():
        return [single]
    raise SwiftCheckpointError(f"{path}: no model.safetensors or model.safetensors.index.json (an adapter-only "
                               "or half-written checkpoint?)")


def _expected_parameters(path: Path) -> int | None:
    """Parameter count of the architecture in config.json (built on the meta device), or None if unknown."""
    try:
        import torch
        from transformers import AutoConfig, AutoModelForImageTextToText

        config = AutoConfig.from_pretrained(path)
        with torch.device("meta"):
            model = AutoModelForImageTextToText.from_config(config)
        return sum(p.numel() for p in model.parameters())
    except (ValueError, KeyError, ImportError) as err:
        log.warning("validate_swift_checkpoint: cannot build %s on meta to count parameters (%s)", path, err)
        return None


def validate_swift_checkpoint(path: str | Path, check_values: bool = True) -> dict[str, Any]:
    """Check an ms-swift `checkpoint-N` is a complete Hugging Face model and describe it.

    Checks: config.json with an architecture; every safetensors shard present and readable; tensor count and
    parameter total equal to the architecture's (tied weights counted once); tokenizer and processor files;
    `trainer_state.json`; with `check_values`, every tensor finite (streamed one at a time).
    Returns `{path, step, architecture, dtype, num_tensors, num_parameters, files, bytes}`; raises
    SwiftCheckpointError naming the file and the problem.
    """
    from safetensors import safe_open

    path = Path(path).resolve()
    if not path.is_dir():
        raise SwiftCheckpointError(f"{path}: not a directory")
    config = _read_json(path / "config.json")
    archs = config.get("architectures") or []
    if not archs:
        raise SwiftCheckpointError(f"{path / 'config.json'}: no `architectures` entry")
    for group, names in {"tokenizer": ("tokenizer.json", "tokenizer_config.json"),
                         "processor": ("preprocessor_config.json", "processor_config.json")}.items():
        if not any((path / n).is_file() for n in names):
            raise SwiftCheckpointError(f"{path}: no {group} file (expected one of {names})")
    step = int(_read_json(path / "trainer_state.json").get("global_step", -1))
    tensors, params, dtypes = 0, 0, set()
    files = _weight_files(path)
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as st:
                names = st.keys()
                for key in names:
                    sl = st.get_slice(key)
                    shape = sl.get_shape()
                    dtypes.add(str(sl.get_dtype()))
                    tensors += 1
                    params += math.prod(shape)
                    if check_values:
                        t = st.get_tensor(key)
                        if t.is_floating_point() and not bool(t.isfinite().all()):
                            raise SwiftCheckpointError(f"{f}: tensor {key!r} has NaN or inf values")
        except SwiftCheckpointError:
            raise
        except Exception as err:  # safetensors raises its own error types for truncated files
            raise SwiftCheckpointError(f"{f}: unreadable safetensors ({type(err).__name__}: {err})") from err
    expected = _expected_parameters(path)
    if expected is not None and expected != params:
        raise SwiftCheckpointError(f"{path}: {params:,} parameters in the weights, but {archs[0]} from config.json "
                                   f"has {expected:,} (missing or extra tensors)")
    return {"path": str(path), "step": step, "architecture": archs[0], "dtype": sorted(dtypes),
            "num_tensors": tensors, "num_parameters": params, "files": [f.name for f in files],
            "bytes": sum(f.stat().st_size for f in files)}
