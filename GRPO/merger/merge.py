"""``merge()``: validate a verl FSDP actor checkpoint completely, then stream it into a Hugging Face model dir."""

from __future__ import annotations

import json
import logging
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from recipes.atomic import OutputExistsError, atomic_dir

from .architecture import load_architecture
from .assemble import ParamPlan, assemble, plan_param
from .errors import LoraMergeError, MergeError, ParameterMismatchError
from .lora import fold, has_lora, plan_lora
from .shards import discover, open_all
from .writer import StreamingSafetensorsWriter, TensorSpec, parse_size

logger = logging.getLogger(__name__)

DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
          "fp32": torch.float32, "float32": torch.float32}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".index.json")


@dataclass
class MergeReport:
    """What a merge wrote, for logs and the pipeline manifest."""

    target_dir: Path
    world_size: int
    fsdp_version: int | None
    num_tensors: int
    num_parameters: int
    dtype: str
    files: list[str]
    lora_merged: int = 0
    generation_config: str = "copied"
    seconds: float = 0.0


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """None keeps the checkpoint's dtype; otherwise one of bf16 / fp16 / fp32 (or their long names)."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype.lower() in ("none", "auto", "checkpoint"):
        return None
    try:
        return DTYPES[dtype.lower()]
    except KeyError:
        raise ValueError(f"dtype {dtype!r}: expected one of {sorted(DTYPES)} or None") from None


def merge(local_dir: str | Path, target_dir: str | Path, dtype: str | torch.dtype | None = None,
          max_shard_size: int | str = "5GB", overwrite: bool = False, trust_remote_code: bool = False) -> MergeReport:
    """Merge ``<global_step_N>/actor`` into a Hugging Face model at ``target_dir``.

    Everything is checked before anything is written (rank files, world size, placements, names and
    shapes against the architecture, LoRA); output goes to a temp dir renamed onto ``target_dir`` at the end.
    """
    start = time.perf_counter()
    target = Path(target_dir)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} already exists; pass overwrite=True (--overwrite) to replace it")
    out_dtype = parse_dtype(dtype)
    max_bytes = parse_size(max_shard_size)

    layout = discover(local_dir)
    states = open_all(layout)
    files = [str(p) for p in layout.rank_files]
    keys = list(states[0])
    plans = {k: plan_param(k, [s[k] for s in states], files) for k in keys}

    lora = plan_lora(keys, layout.local_dir) if has_lora(keys) else None
    names = lora.names if lora else {k: k for k in keys}
    config, arch = load_architecture(layout.hf_dir, trust_remote_code)
    key_of = {name: key for key, name in names.items()}
    for alias, canonical in arch.tied_aliases.items():  # keep one copy of tied weights, as config ties them
        if canonical not in key_of and alias in key_of:
            key_of[canonical] = key_of[alias]
        key_of.pop(alias, None)
    required = set(arch.shapes) - set(arch.tied_aliases)
    missing, extra = sorted(required - set(key_of)), sorted(set(key_of) - required)
    if missing or extra:
        raise ParameterMismatchError(
            f"{files[0]}: parameters do not match {arch.class_name} from {layout.hf_dir / 'config.json'}: "
            f"missing {missing[:10]}{' ...' if len(missing) > 10 else ''}, "
            f"extra {extra[:10]}{' ...' if len(extra) > 10 else ''}"
        )
    for name, key in key_of.items():
        if plans[key].shape != arch.shapes[name]:
            raise ParameterMismatchError(
                f"{files[0]}: parameter {key!r} merges to shape {plans[key].shape}, but the config's "
                f"{arch.class_name} expects {arch.shapes[name]}"
            )
    if lora:
        for name, t in lora.targets.items():
            a, b, w = plans[t.a_key].shape, plans[t.b_key].shape, plans[t.base_key].shape
            if len(a) != 2 or len(b) != 2 or (b[0], a[1]) != w or b[1] != a[0]:
                raise LoraMergeError(f"{files[0]}: LoRA of {name!r}: A {a}, B {b} do not fit weight {w}")

    order = [n for n in (names.get(k) for k in keys) if n in key_of]
    order += [n for n in key_of if n not in order]  # a canonical name filled from its alias

    def out_dtype_of(plan: ParamPlan) -> torch.dtype:
        return out_dtype if (out_dtype is not None and plan.dtype.is_floating_point) else plan.dtype

    specs = [TensorSpec(arch.saved_names[n], plans[key_of[n]].shape, out_dtype_of(plans[key_of[n]])) for n in order]
    n_params = sum(int(torch.Size(s.shape).numel()) for s in specs)
    floating = [s.dtype for s in specs if s.dtype.is_floating_point]
    written_dtype = out_dtype or (max(set(floating), key=floating.count) if floating else torch.float32)
    logger.info("merging %d tensors (%d parameters) from %d ranks into %s as %s",
                len(specs), n_params, layout.world_size, target, written_dtype)

    with atomic_dir(target, overwrite=overwrite) as tmp, ThreadPoolExecutor(max_workers=1) as io:
        writer = StreamingSafetensorsWriter(tmp, specs, max_bytes, n_params)
        merged_lora = 0
        pending: Future | None = None  # one tensor written while the next is assembled: at most two in memory
        for name, spec in zip(order, specs, strict=True):
            plan = plans[key_of[name]]
            if lora and name in lora.targets:
                t = lora.targets[name]
                base = assemble(plan, states, files, None)
                a = assemble(plans[t.a_key], states, files, None)
                b = assemble(plans[t.b_key], states, files, None)
                tensor = fold(base, a, b, lora.scaling, name).to(spec.dtype)
                merged_lora += 1
                del base, a, b
            else:
                tensor = assemble(plan, states, files, out_dtype)
            if pending is not None:
                pending.result()
            pending = io.submit(writer.write, spec.name, tensor)
            del tensor
        if pending is not None:
            pending.result()
        written = writer.finish()
        gen_source = copy_hf_files(layout.hf_dir, tmp, written_dtype, config)
    del states
    report = MergeReport(target, layout.world_size, layout.fsdp_version, len(specs), n_params,
                         str(written_dtype).removeprefix("torch."), written, merged_lora, gen_source,
                         time.perf_counter() - start)
    logger.info("merged into %s in %.1f s (%s)", target, report.seconds, ", ".join(written))
    return report


def copy_hf_files(hf_dir: Path, out_dir: Path, dtype: torch.dtype, config) -> str:
    """Copy config (with the written dtype), generation config, tokenizer, processor, chat template.

    Returns where the generation config came from: ``copied``, or ``derived`` from the model config
    when the checkpoint lacks one (verl#1246: a lost generation_config made models loop; this warns).
    """
    for src in sorted(hf_dir.iterdir()):
        if src.name == "config.json" or src.name.endswith(_WEIGHT_SUFFIXES):
            continue
        if src.is_dir():
            shutil.copytree(src, out_dir / src.name)
        else:
            shutil.copy2(src, out_dir / src.name)
    cfg = json.loads((hf_dir / "config.json").read_text())
    dtype_name = str(dtype).removeprefix("torch.")

    def set_dtype(d: dict) -> None:
        for key in ("dtype", "torch_dtype"):
            if key in d:
                d[key] = dtype_name
        for v in d.values():
            if isinstance(v, dict):
                set_dtype(v)

    set_dtype(cfg)
    cfg.setdefault("dtype", dtype_name)
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    if (out_dir / "generation_config.json").is_file():
        return "copied"
    from transformers import GenerationConfig

    logger.warning("%s has no generation_config.json; deriving one from config.json (check eos/pad tokens, "
                   "verl#1246)", hf_dir)
    try:
        GenerationConfig.from_model_config(config).save_pretrained(out_dir)
    except Exception as exc:  # a config that cannot generate (e.g. a reward model) needs none
        raise MergeError(f"{hf_dir}: no generation_config.json and none can be derived ({exc})") from exc
    return "derived"
