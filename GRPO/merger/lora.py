"""Fold PEFT LoRA adapters found in a verl checkpoint into their base weights (W + alpha/r * B @ A).

verl saves a PEFT-wrapped actor with names like ``base_model.model.<m>.q_proj.base_layer.weight`` and
``...q_proj.lora_A.default.weight``, plus ``lora_train_meta.json`` (r, lora_alpha). What cannot be
merged exactly (DoRA, LoRA on embeddings or biases, adapter-only checkpoints, missing alpha) is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import LoraMergeError

PEFT_PREFIX = "base_model.model."
_LORA_RE = re.compile(r"^(?P<module>.+)\.lora_(?P<ab>[AB])\.(?P<adapter>[^.]+)\.weight$")
_REFUSED = ("lora_magnitude_vector", "lora_embedding_A", "lora_embedding_B")


@dataclass(frozen=True)
class LoraTarget:
    """One base weight with the adapter pair to add into it."""

    base_key: str
    a_key: str
    b_key: str


@dataclass(frozen=True)
class LoraPlan:
    """Checkpoint key -> output name, the LoRA pairs to fold, and the scaling alpha / r."""

    names: dict[str, str]
    """Checkpoint key of every non-adapter entry -> its plain model name."""
    targets: dict[str, LoraTarget]
    """Plain model name -> adapter pair to fold into it."""
    scaling: float


def has_lora(keys: list[str]) -> bool:
    return any(".lora_" in k for k in keys)


def plan_lora(keys: list[str], local_dir: Path) -> LoraPlan:
    """Pair every lora_A/lora_B with its base layer; raise LoraMergeError when a merge would not be exact."""
    refused = [k for k in keys if any(r in k for r in _REFUSED)]
    if refused:
        raise LoraMergeError(f"{local_dir}: adapter weights {refused[:3]} (DoRA / embedding LoRA) cannot be "
                             "merged by this merger; merge them with peft's merge_and_unload instead")
    lora_keys = [k for k in keys if ".lora_" in k]
    base_keys = [k for k in keys if ".lora_" not in k]
    if not base_keys:
        raise LoraMergeError(f"{local_dir}: the checkpoint holds only LoRA adapter weights (save_lora_only); "
                             "it cannot become a full model without the base model")
    meta_path = local_dir / "lora_train_meta.json"
    try:
        meta = json.loads(meta_path.read_text())
        r, alpha = int(meta["r"]), float(meta["lora_alpha"])
    except FileNotFoundError as exc:
        raise LoraMergeError(f"{meta_path}: missing; LoRA adapters found ({lora_keys[0]}, ...) but without "
                             "r and lora_alpha they cannot be merged") from exc
    except (KeyError, ValueError, TypeError) as exc:
        raise LoraMergeError(f"{meta_path}: needs integer 'r' and 'lora_alpha' ({exc})") from exc
    if r <= 0:
        raise LoraMergeError(f"{meta_path}: r must be positive, got {r}")

    def plain(k: str) -> str:
        k = k[len(PEFT_PREFIX):] if k.startswith(PEFT_PREFIX) else k
        return k.replace(".base_layer.", ".")

    names = {k: plain(k) for k in base_keys}
    pairs: dict[str, dict[str, str]] = {}
    adapters = set()
    for k in lora_keys:
        m = _LORA_RE.match(k)
        if not m:
            raise LoraMergeError(f"{local_dir}: unexpected adapter entry {k!r} (only lora_A/B weights are merged)")
        adapters.add(m.group("adapter"))
        pairs.setdefault(plain(m.group("module")) + ".weight", {})[m.group("ab")] = k
    if len(adapters) > 1:
        raise LoraMergeError(f"{local_dir}: several adapters {sorted(adapters)}; merge one at a time")
    plain_names = set(names.values())
    targets = {}
    for weight, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise LoraMergeError(f"{local_dir}: adapter of {weight!r} lacks lora_{'B' if 'A' in ab else 'A'}")
        if weight not in plain_names:
            raise LoraMergeError(f"{local_dir}: adapter {ab['A']!r} has no base weight {weight!r}")
        base_key = next(k for k, v in names.items() if v == weight)
        targets[weight] = LoraTarget(base_key, ab["A"], ab["B"])
    return LoraPlan(names, targets, alpha / r)


def fold(base: torch.Tensor, a: torch.Tensor, b: torch.Tensor, scaling: float, name: str) -> torch.Tensor:
    """Return ``base + scaling * b @ a`` computed in float32, cast back to ``base``'s dtype."""
    if base.dim() != 2 or a.dim() != 2 or b.dim() != 2 or (b.shape[0], a.shape[1]) != tuple(base.shape):
        raise LoraMergeError(f"{name}: LoRA shapes A {tuple(a.shape)}, B {tuple(b.shape)} do not fit the base "
                             f"weight {tuple(base.shape)} (only linear layers are merged)")
    merged = base.float().addmm_(b.float(), a.float(), alpha=scaling)
    return merged.to(base.dtype)
