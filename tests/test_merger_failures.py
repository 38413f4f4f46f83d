"""Every broken checkpoint gets its own clear error naming the file / parameter, and nothing is written.

Broken copies of one real 2-rank FSDP2 checkpoint (verl's FSDPCheckpointManager under torchrun), plus
LoRA checkpoints saved from a real PEFT model, and the checkpoint-discovery helper.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from fsdp_ckpt_worker import build_checkpoint, fallback_tiny_model

from GRPO.merger import (
    CheckpointLayoutError,
    LoraMergeError,
    ParameterMismatchError,
    ShardReadError,
    find_latest_actor_dir,
    merge,
)
from GRPO.merger.__main__ import main as cli_main
from GRPO.merger.writer import parse_size
from recipes.atomic import OutputExistsError


@pytest.fixture(scope="module")
def actor_w2(request, tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    try:
        model_dir = Path(request.getfixturevalue("tiny_world").model)
    except Exception:  # the tiny world is another helper's module; keep a way out
        model_dir = fallback_tiny_model(base / "fallback_model")
    return build_checkpoint(model_dir, base / "ckpt_w2_f2", 2, 2)


@pytest.fixture
def actor(actor_w2, tmp_path) -> Path:
    """A private copy (model shards, fsdp_config.json, huggingface/) to break."""
    dst = tmp_path / "global_step_1" / "actor"
    dst.mkdir(parents=True)
    for f in actor_w2.iterdir():
        if f.is_dir():
            shutil.copytree(f, dst / f.name)
        elif f.name.startswith("model_") or f.name == "fsdp_config.json":
            shutil.copy2(f, dst / f.name)
    return dst


def assert_nothing_written(target: Path) -> None:
    assert not target.exists(), f"{target} was written"
    leftovers = [p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.tmp")]
    assert not leftovers, f"temp dirs left behind: {leftovers}"


def edit_config(actor: Path, **text_config) -> None:
    path = actor / "huggingface" / "config.json"
    cfg = json.loads(path.read_text())
    cfg["text_config"].update(text_config)
    if "num_hidden_layers" in text_config:
        cfg["text_config"]["layer_types"] = ["full_attention"] * text_config["num_hidden_layers"]
        cfg["text_config"]["max_window_layers"] = text_config["num_hidden_layers"]
    path.write_text(json.dumps(cfg))


@pytest.mark.slow
def test_missing_rank_file(actor, tmp_path):
    (actor / "model_world_size_2_rank_1.pt").unlink()
    with pytest.raises(CheckpointLayoutError, match=r"model_world_size_2_rank_1\.pt"):
        merge(actor, tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


@pytest.mark.slow
def test_truncated_rank_file(actor, tmp_path):
    path = actor / "model_world_size_2_rank_1.pt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardReadError, match=r"model_world_size_2_rank_1\.pt"):
        merge(actor, tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


@pytest.mark.slow
def test_world_size_disagrees_with_fsdp_config(actor, tmp_path):
    (actor / "fsdp_config.json").write_text(json.dumps({"FSDP_version": 2, "world_size": 4}))
    with pytest.raises(CheckpointLayoutError, match=r"fsdp_config.json: world_size 4 .* world size 2"):
        merge(actor, tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


@pytest.mark.slow
def test_rank_missing_a_parameter(actor, tmp_path):
    path = actor / "model_world_size_2_rank_1.pt"
    state = torch.load(path, weights_only=False)
    dropped = next(k for k in state if "mlp.up_proj" in k)
    del state[dropped]
    torch.save(state, path)
    with pytest.raises(ShardReadError, match=rf"rank_1.pt: parameter names differ.*{dropped}"):
        merge(actor, tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


@pytest.mark.slow
def test_shape_differs_from_config(actor, tmp_path):
    edit_config(actor, intermediate_size=96)
    with pytest.raises(ParameterMismatchError, match=r"mlp\.(gate|up|down)_proj\.weight.*expects"):
        merge(actor, tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


@pytest.mark.parametrize(("layers", "word", "param"), [(3, "missing", "layers.2."), (1, "extra", "layers.1.")])
@pytest.mark.slow
def test_parameters_missing_or_extra_against_architecture(actor, tmp_path, layers, word, param):
    edit_config(actor, num_hidden_layers=layers)
    with pytest.raises(ParameterMismatchError, match=rf"{word} \[[^\]]*{param}"):
        merge(actor, tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


@pytest.mark.slow
def test_missing_fsdp_config_infers_world_size(actor, tmp_path):
    ref = merge(actor, tmp_path / "ref")
    (actor / "fsdp_config.json").unlink()
    report = merge(actor, tmp_path / "out")
    assert report.world_size == 2 and report.fsdp_version is None
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (ref.target_dir / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_existing_target_is_kept_unless_overwrite(actor, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="already exists"):
        merge(actor, target)
    assert (target / "keep.txt").read_text() == "mine"
    merge(actor, target, overwrite=True)
    assert not (target / "keep.txt").exists() and (target / "model.safetensors").is_file()


@pytest.mark.slow
def test_cli_reports_error_and_writes_nothing(actor, tmp_path, capsys):
    (actor / "model_world_size_2_rank_0.pt").unlink()
    rc = cli_main(["merge", "--backend", "fsdp", "--local_dir", str(actor), "--target_dir", str(tmp_path / "o")])
    assert rc == 2
    assert "model_world_size_2_rank_0.pt" in capsys.readouterr().err
    assert_nothing_written(tmp_path / "o")


def test_cli_help_names_verl_flags(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["merge", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--local_dir", "--target_dir", "--dtype", "--max_shard_size", "--overwrite", "--backend"):
        assert flag in out  # verl's spellings, beside the project's dashed ones
    for flag in ("--local-dir", "--target-dir", "--max-shard-size"):
        assert flag in out


# ---- LoRA: a real PEFT model's state dict saved as a world-size-1 verl checkpoint ----

@pytest.fixture(scope="module")
def lora_parts(tmp_path_factory):
    import transformers
    from peft import LoraConfig, get_peft_model

    base_dir = fallback_tiny_model(tmp_path_factory.getbasetemp() / "fallback_model")
    base = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained(base_dir, dtype=torch.float32)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
    state = {k: v.clone() for k, v in peft_model.state_dict().items()}
    expected = {k: v.clone() for k, v in peft_model.merge_and_unload().state_dict().items()}
    return base_dir, state, expected


def write_lora_ckpt(root: Path, base_dir: Path, state: dict, meta: dict | None) -> Path:
    actor = root / "actor"
    (actor / "huggingface").mkdir(parents=True)
    for name in ("config.json", "generation_config.json"):
        shutil.copy2(base_dir / name, actor / "huggingface" / name)
    torch.save(state, actor / "model_world_size_1_rank_0.pt")
    (actor / "fsdp_config.json").write_text(json.dumps({"FSDP_version": 2, "world_size": 1}))
    if meta is not None:
        (actor / "lora_train_meta.json").write_text(json.dumps(meta))
    return actor


def test_lora_is_merged(lora_parts, tmp_path):
    import transformers

    base_dir, state, expected = lora_parts
    actor = write_lora_ckpt(tmp_path, base_dir, state, {"r": 4, "lora_alpha": 8, "task_type": "CAUSAL_LM"})
    report = merge(actor, tmp_path / "out")
    assert report.lora_merged == 2 * 2  # q_proj and v_proj in 2 layers
    merged = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "out").state_dict()
    assert set(merged) == set(expected)
    for k, v in expected.items():
        torch.testing.assert_close(merged[k], v, rtol=1e-5, atol=1e-6, msg=k)
    q = "model.language_model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged[q], state[f"base_model.model.{q.replace('.weight', '.base_layer.weight')}"])


def test_lora_without_meta_is_refused(lora_parts, tmp_path):
    base_dir, state, _ = lora_parts
    actor = write_lora_ckpt(tmp_path, base_dir, state, None)
    with pytest.raises(LoraMergeError, match=r"lora_train_meta\.json: missing"):
        merge(actor, tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


def test_lora_only_checkpoint_is_refused(lora_parts, tmp_path):
    base_dir, state, _ = lora_parts
    only = {k: v for k, v in state.items() if "lora_" in k}
    actor = write_lora_ckpt(tmp_path, base_dir, only, {"r": 4, "lora_alpha": 8})
    with pytest.raises(LoraMergeError, match="only LoRA adapter weights"):
        merge(actor, tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


# ---- helpers ----

def test_find_latest_actor_dir(tmp_path):
    for step in (5, 10):
        actor = tmp_path / f"global_step_{step}" / "actor"
        actor.mkdir(parents=True)
        (actor / "model_world_size_2_rank_0.pt").write_bytes(b"")
    assert find_latest_actor_dir(tmp_path) == tmp_path / "global_step_10" / "actor"
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("5")  # verl's tracker wins (a complete save)
    assert find_latest_actor_dir(tmp_path) == tmp_path / "global_step_5" / "actor"
    assert find_latest_actor_dir(tmp_path, step=10) == tmp_path / "global_step_10" / "actor"
    with pytest.raises(CheckpointLayoutError, match="global_step_7"):
        find_latest_actor_dir(tmp_path, step=7)
    with pytest.raises(CheckpointLayoutError, match="no global_step_N/actor"):
        find_latest_actor_dir(tmp_path / "empty")


def test_parse_size():
    assert parse_size("5GB") == 5 * 10**9
    assert parse_size("500MiB") == 500 * 2**20
    assert parse_size(123) == 123
    with pytest.raises(ValueError, match="max_shard_size"):
        parse_size("lots")
