"""torchrun worker: write a real sharded verl checkpoint with verl's own ``FSDPCheckpointManager`` on CPU/gloo.

Usage (one process per simulated GPU)::

    OMP_NUM_THREADS=1 torchrun --nproc_per_node=2 tests/fsdp_ckpt_worker.py \
        --model <hf model dir> --out <.../global_step_1/actor> --fsdp 2 --reference <ref dir>

``--fsdp 2`` wraps with ``fully_shard`` (FSDP2), ``--fsdp 1`` with ``FullyShardedDataParallel`` (FSDP1),
``--fsdp 0`` leaves the model unwrapped (the plain-tensor checkpoints of verl#903). Before wrapping, every
rank perturbs the weights with the same seeded noise, so the checkpoint differs from the base model; rank 0
saves that unsharded state dict (``full_state.pt``) and the tokens it greedily generates (``tokens.json``)
under ``--reference``. ``--meta-init`` (FSDP2 only, for large benchmark models) skips the full model:
it shards a meta-device model and fills each rank's local shards with random values.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
import torch.distributed as dist

PROMPT_IDS = [[5, 17, 42, 99, 7, 23, 11, 64]]


def _model_class(config):
    import transformers

    return getattr(transformers, config.architectures[0])


def _perturb(model: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.dtype) * 0.02)


def _wrap(model: torch.nn.Module, fsdp: int, mesh) -> torch.nn.Module:
    if fsdp == 0:
        return model
    layer_names = set(getattr(model, "_no_split_modules", None) or [])
    if fsdp == 2:
        from torch.distributed.fsdp import fully_shard

        for module in model.modules():
            if type(module).__name__ in layer_names:
                fully_shard(module, mesh=mesh)
        fully_shard(model, mesh=mesh)
        return model
    import functools

    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp import ShardingStrategy
    from torch.distributed.fsdp.wrap import lambda_auto_wrap_policy

    policy = functools.partial(lambda_auto_wrap_policy, lambda_fn=lambda m: type(m).__name__ in layer_names)
    return FSDP(
        model,
        device_mesh=mesh,
        auto_wrap_policy=policy,
        sharding_strategy=ShardingStrategy.FULL_SHARD,
        use_orig_params=True,
        device_id=torch.device("cpu"),
        sync_module_states=False,
    )


def _meta_init_model(config, mesh, rank: int) -> torch.nn.Module:
    from torch.distributed.fsdp import fully_shard

    with torch.device("meta"):
        model = _model_class(config)(config)
    layer_names = set(getattr(model, "_no_split_modules", None) or [])
    for module in model.modules():
        if type(module).__name__ in layer_names:
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(1234 + rank)
    with torch.no_grad():
        for p in model.parameters():
            local = p._local_tensor if hasattr(p, "_local_tensor") else p
            local.copy_(torch.randn(local.shape, generator=gen) * 0.02)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Hugging Face model dir to shard")
    parser.add_argument("--out", required=True, help="actor dir to write (global_step_N/actor)")
    parser.add_argument("--fsdp", type=int, choices=[0, 1, 2], default=2)
    parser.add_argument("--reference", default=None, help="rank 0 writes full_state.pt and tokens.json here")
    parser.add_argument("--meta-init", action="store_true", help="random local shards of a meta model (FSDP2)")
    parser.add_argument("--contents", default="model,optimizer,extra", help="checkpoint save_contents")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from omegaconf import OmegaConf
    from torch.distributed.device_mesh import init_device_mesh
    from transformers import AutoConfig, AutoProcessor
    from verl.utils.checkpoint.fsdp_checkpoint_manager import FSDPCheckpointManager

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(args.seed)
    mesh = init_device_mesh("cpu", (world,), mesh_dim_names=("fsdp",))
    config = AutoConfig.from_pretrained(args.model)

    if args.meta_init:
        model = _meta_init_model(config, mesh, rank)
    else:
        model = _model_class(config).from_pretrained(args.model, dtype=torch.float32)
        _perturb(model, seed=args.seed + 1)
        if rank == 0 and args.reference:
            ref = Path(args.reference)
            ref.mkdir(parents=True, exist_ok=True)
            torch.save({k: v.clone() for k, v in model.state_dict().items()}, ref / "full_state.pt")
            model.eval()
            out = model.generate(
                input_ids=torch.tensor(PROMPT_IDS), attention_mask=torch.ones(1, len(PROMPT_IDS[0])),
                max_new_tokens=8, do_sample=False,
            )
            (ref / "tokens.json").write_text(json.dumps(out[0].tolist()))
        model = _wrap(model, args.fsdp, mesh)

    contents = [c for c in args.contents.split(",") if c]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4) if "optimizer" in contents else None
    try:
        processor = AutoProcessor.from_pretrained(args.model)
    except Exception:  # a text-only model dir (benchmark) has only a tokenizer, or nothing
        processor = None
    ckpt_cfg = OmegaConf.create({"save_contents": contents, "load_contents": contents})
    manager = FSDPCheckpointManager(model=model, optimizer=optimizer, lr_scheduler=None,
                                    processing_class=processor, checkpoint_config=ckpt_cfg)
    manager.save_checkpoint(args.out, global_step=1)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()


# ---- helpers for the tests (imported, not run under torchrun) ----

def fallback_tiny_model(out: Path) -> Path:
    """A tiny random Qwen2.5-VL (hidden 64, 2 layers, vision depth 2, vocab 512) for when the tiny world is absent."""
    import transformers
    from transformers import Qwen2_5_VLConfig

    if (out / "config.json").is_file():
        return out
    text = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]})
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                  fullatt_block_indexes=[1])
    cfg = Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True,
                           image_token_id=500, video_token_id=501, vision_start_token_id=502)
    torch.manual_seed(0)
    transformers.Qwen2_5_VLForConditionalGeneration(cfg).save_pretrained(out)
    return out


def build_checkpoint(model_dir: Path, root: Path, world: int, fsdp: int, timeout: float = 300) -> Path:
    """Run this worker under torchrun (gloo, CPU) once; return ``root/global_step_1/actor`` (cached by path)."""
    import subprocess
    import sys

    actor = root / "global_step_1" / "actor"
    if (root / "ref" / "tokens.json").is_file() and (actor / "fsdp_config.json").is_file():
        return actor
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           # compiled bytecode shared by the runs of one test session, kept beside the checkpoints
           "PYTHONPYCACHEPREFIX": str(root.parent / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={world}", "--standalone",
           __file__, "--model", str(model_dir), "--out", str(actor), "--fsdp", str(fsdp),
           "--reference", str(root / "ref")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun worker failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return actor
