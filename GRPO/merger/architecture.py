"""What the model in ``huggingface/config.json`` expects: parameter names, shapes, tied aliases, saved names.

Built from a meta-device instance of the model class (no memory, no weights), so the checks and the
renaming are those of the installed transformers, not a hand-kept table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import MergeError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Architecture:
    """Expected state dict of the model, and how its names are written to disk."""

    class_name: str
    shapes: dict[str, tuple[int, ...]]
    """In-memory state-dict name -> shape (what FSDP saved)."""
    tied_aliases: dict[str, str]
    """Alias name -> canonical name for tied parameters (e.g. lm_head.weight -> embed_tokens.weight)."""
    saved_names: dict[str, str]
    """In-memory name -> name in the safetensors files (transformers' revert_weight_conversion)."""


def _model_class(config, trust_remote_code: bool):
    import transformers

    arch = (getattr(config, "architectures", None) or [None])[0]
    if arch is None:
        raise MergeError("huggingface/config.json has no 'architectures'; cannot tell which model to build")
    auto_map = getattr(config, "auto_map", None) or {}
    if trust_remote_code and any(arch in str(v) for v in auto_map.values()):
        auto_name = next(k for k, v in auto_map.items() if arch in str(v))
        auto_cls = getattr(transformers, auto_name)
        return lambda cfg: auto_cls.from_config(cfg, trust_remote_code=True)
    cls = getattr(transformers, arch, None)
    if cls is None:
        raise MergeError(f"architecture {arch!r} is not in transformers {transformers.__version__} "
                         "(remote code needs --trust-remote-code)")
    return cls._from_config


def load_architecture(hf_dir: Path, trust_remote_code: bool = False) -> tuple[object, Architecture]:
    """Return (config, Architecture) for the model described in ``hf_dir``."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(hf_dir, trust_remote_code=trust_remote_code)
    build = _model_class(config, trust_remote_code)
    with torch.device("meta"):
        model = build(config)
    state = model.state_dict()
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    tied: dict[str, str] = {}
    canonical_by_id: dict[int, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        first = canonical_by_id.setdefault(id(param), name)
        if first != name:
            tied[name] = first
    saved = _saved_names(model, {k: v for k, v in state.items() if k not in tied})
    return config, Architecture(type(model).__name__, shapes, tied, saved)


def _saved_names(model, state: dict[str, torch.Tensor]) -> dict[str, str]:
    """Names that ``save_pretrained`` would write (e.g. Qwen2.5-VL's model.language_model.* -> model.*)."""
    try:
        from transformers.core_model_loading import revert_weight_conversion
    except ImportError:  # older transformers: no conversion on save
        return {k: k for k in state}
    owner = {id(v): k for k, v in state.items()}
    reverted = revert_weight_conversion(model, dict(state))
    names: dict[str, str] = {}
    for new_name, value in reverted.items():
        old = owner.get(id(value))
        if old is None:
            raise MergeError(f"{type(model).__name__}: saving needs a weight conversion ({new_name}) "
                             "that is more than a rename; not supported by the streaming merger")
        names[old] = new_name
    if set(names) != set(state):
        raise MergeError(f"{type(model).__name__}: weight conversion on save merges or drops parameters "
                         f"{sorted(set(state) - set(names))[:5]}; not supported by the streaming merger")
    return names
