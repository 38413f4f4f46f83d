"""The streaming merger on real verl shards (FSDPCheckpointManager under torchrun, gloo, CPU).

Checks, per layout (world size 1 with plain tensors, FSDP2 and FSDP1 on 2 and 4 ranks):
- default dtype: every tensor bit-identical to the unsharded state dict the shards came from,
  the model loads with ``from_pretrained`` and greedily generates the same tokens as the unsharded model;
- ``--dtype bf16``: every tensor bit-identical to ``verl.model_merger``'s output on the same checkpoint.
The tiny Qwen3-VL (recipes/families.py) goes through the same checks on two layouts (`test_merge_qwen3_vl`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from fsdp_ckpt_worker import PROMPT_IDS, build_checkpoint, fallback_tiny_model

from GRPO.merger import merge

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # FSDP workers save real shards, then verl merges: minutes

LAYOUTS = [
    pytest.param(1, 0, id="w1-plain"),
    pytest.param(2, 2, id="w2-fsdp2"),
    pytest.param(2, 1, id="w2-fsdp1", marks=pytest.mark.slow),
    pytest.param(4, 2, id="w4-fsdp2", marks=pytest.mark.slow),
    pytest.param(4, 1, id="w4-fsdp1", marks=pytest.mark.slow),
]


def tiny_model_dir(request: pytest.FixtureRequest, base: Path) -> Path:
    """The tiny world's Qwen2.5-VL when it is available, else a smaller random one built here."""
    try:
        return Path(request.getfixturevalue("tiny_world").model)
    except Exception:  # the tiny world is another helper's module; keep a way out
        return fallback_tiny_model(base / "fallback_model")


@pytest.fixture(scope="module")
def model_dir(request, tmp_path_factory) -> Path:
    return tiny_model_dir(request, tmp_path_factory.getbasetemp())


def load_safetensors_dir(path: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for f in sorted(path.glob("*.safetensors")):
        out.update(load_file(f))
    return out


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.view({1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def verl_merge(actor: Path, out: Path) -> None:
    from verl.model_merger.base_model_merger import ModelMergerConfig
    from verl.model_merger.fsdp_model_merger import FSDPModelMerger

    cfg = ModelMergerConfig(operation="merge", backend="fsdp", local_dir=str(actor), target_dir=str(out),
                            hf_model_config_path=str(actor / "huggingface"))
    FSDPModelMerger(cfg).merge_and_save()


@pytest.mark.parametrize(("world", "fsdp"), LAYOUTS)
def test_merge_matches_unsharded_and_verl(world, fsdp, model_dir, tmp_path_factory, tmp_path):
    check_merge(world, fsdp, model_dir, tmp_path_factory.getbasetemp() / f"ckpt_w{world}_f{fsdp}", tmp_path)


@pytest.mark.parametrize(("world", "fsdp"), [pytest.param(1, 0, id="w1-plain"),
                                             pytest.param(2, 2, id="w2-fsdp2", marks=pytest.mark.slow)])
def test_merge_qwen3_vl(world, fsdp, tiny_world, tmp_path_factory, tmp_path):
    """verl's checkpoint of the tiny Qwen3-VL (deepstack mergers, names saved as in memory) merges exactly."""
    root = tmp_path_factory.getbasetemp() / f"ckpt_qwen3_vl_w{world}_f{fsdp}"
    check_merge(world, fsdp, tiny_world.models["qwen3_vl"], root, tmp_path)


def check_merge(world: int, fsdp: int, model_dir: Path, root: Path, tmp_path: Path) -> None:
    """Shard `model_dir` with verl's checkpoint manager, merge it, and compare (module docstring)."""
    import transformers
    from transformers import AutoConfig

    actor = build_checkpoint(model_dir, root, world, fsdp)
    full = torch.load(root / "ref" / "full_state.pt")

    # default dtype: bit-identical to the unsharded model, loads, generates the same tokens
    ours = tmp_path / "ours"
    report = merge(actor, ours, max_shard_size="300KB" if world == 4 else "5GB")
    assert report.world_size == world and report.dtype == "float32"
    config = AutoConfig.from_pretrained(ours)
    model = getattr(transformers, config.architectures[0]).from_pretrained(ours, dtype=torch.float32).eval()
    loaded = model.state_dict()
    assert set(loaded) == set(full)
    for name, tensor in full.items():
        assert loaded[name].dtype == tensor.dtype, name
        assert torch.equal(bits(loaded[name]), bits(tensor)), f"{name} differs from the unsharded model"
    tokens = model.generate(input_ids=torch.tensor(PROMPT_IDS), attention_mask=torch.ones(1, len(PROMPT_IDS[0])),
                            max_new_tokens=8, do_sample=False)[0].tolist()
    assert tokens == json.loads((root / "ref" / "tokens.json").read_text())
    for f in ("generation_config.json", "config.json"):
        assert (ours / f).is_file()
    for f in (actor / "huggingface").iterdir():
        if f.name not in ("config.json",) and not f.name.endswith(".safetensors"):
            assert (ours / f.name).read_bytes() == f.read_bytes(), f"{f.name} not copied verbatim"
    if world == 4:  # small max_shard_size: several files and an index
        index = json.loads((ours / "model.safetensors.index.json").read_text())
        assert len(set(index["weight_map"].values())) > 1

    # --dtype bf16: bit-identical to verl's own merger, tensor by tensor
    ours_bf16, theirs = tmp_path / "ours_bf16", tmp_path / "verl"
    merge(actor, ours_bf16, dtype="bf16")
    verl_merge(actor, theirs)
    a, b = load_safetensors_dir(ours_bf16), load_safetensors_dir(theirs)
    assert set(a) == set(b) and len(a) > 10
    for name in b:
        assert a[name].dtype == b[name].dtype == torch.bfloat16, name
        assert a[name].shape == b[name].shape, name
        assert torch.equal(bits(a[name]), bits(b[name])), f"{name} differs from verl's merge"
    assert json.loads((ours_bf16 / "config.json").read_text())["dtype"] == "bfloat16"
