"""One process: verl 0.9.1's own GRPO update path on a CPU, on the first real batch of the tiny RL set.

Usage (a fresh process: it initialises torch.distributed with gloo at world size 1, as a verl worker does)::

    python tests/verl_update_worker.py --model <tiny model_gpu dir> --data <rl data dir> --out <dir> \
        [--attn sdpa|eager] [key=value ...]

What runs, all verl's code except where said:
1. our recipe `tiny_gpu` -> our overrides -> verl's resolved config (GRPO.verl_check), with the actor's
   attention as given and padding off (the preflight's fallback without flash-attn);
2. the converted train parquet through verl's `create_rl_dataset` and `create_rl_sampler` (data.seed), the
   first batch of `data.train_batch_size` prompts, repeated `rollout.n` times (verl's `repeat(interleave)`);
3. responses sampled by transformers' `generate` from the same model (vLLM's stand-in: CPU), then each
   sample padded, its multi-modal inputs and its (4, L) mRoPE position ids built by verl's
   `AgentLoopWorker` methods, and the batch assembled by `AgentLoopWorker._postprocess`;
4. our reward through verl's reward manager (where no prompt's responses differ in reward, as with the
   untrained model, a synthetic ranking: the first response of each prompt gets 1, so that the policy
   loss has a gradient), verl's GRPO advantage (`compute_advantage`);
5. verl's `ActorRolloutRefWorker(role="actor_rollout")`'s inner actor and a reference `TrainingWorker`
   (FSDP engine, gloo), driven through verl's trainer methods `_compute_old_log_prob`,
   `_compute_ref_log_prob` and `_update_actor` (packing with `left_right_2_no_padding`,
   `maybe_fix_3d_position_ids`, mini-batches of `ppo_mini_batch_size x n`, micro-batches, forward and
   backward with `ppo_loss` and the low-var KL loss, grad clip, optimizer step);
6. the actor's checkpoint through the engine's `FSDPCheckpointManager` (global_step_1/actor), and the
   actor's full state dict after the step (`ref/full_state.pt`) to compare our merger's output with.

Writes `<out>/update.json`: prompt and sequence lengths, the update's metrics, the parameter change.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _init_dist() -> None:
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1",
                       "MASTER_ADDR": "127.0.0.1"}.items():
        os.environ.setdefault(key, value)
    if "MASTER_PORT" not in os.environ:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            os.environ["MASTER_PORT"] = str(s.getsockname()[1])
    import torch.distributed as dist

    from helpers.verl_cpu import use_cpu_platform

    use_cpu_platform()  # before verl's workers are imported: they read the platform at import
    dist.init_process_group("gloo")


def verl_config(model: str, data: Path, out: Path, attn: str, extra: list[str]) -> Any:
    """verl's resolved config for tiny_gpu on this CPU (sdpa/eager, padding off, device cpu)."""
    from GRPO.verl_check import check_overrides
    from GRPO.verl_command import verl_overrides
    from recipes.pipeline.compose import compose

    cfg = compose("tiny_gpu", [f"grpo.attn_implementation={attn}", "grpo.padding_free=false", "cluster.device=cpu",
                               *extra])
    train = str(data / "train.parquet")
    return cfg, check_overrides(verl_overrides(cfg, model_path=model, train_files=train, val_files=train,
                                               checkpoint_dir=str(out / "ckpt")))


def first_batch(config: Any) -> tuple[Any, Any]:
    """The trainer's first batch: verl's dataset, sampler (data.seed) and collate function."""
    from torchdata.stateful_dataloader import StatefulDataLoader
    from verl import DataProto
    from verl.trainer.ppo.utils import create_rl_sampler
    from verl.utils.dataset.rl_dataset import collate_fn

    from helpers.verl_objects import load_rl_dataset, model_config

    model = model_config(config)
    dataset = load_rl_dataset(config, config.data.train_files, model.tokenizer, model.processor)
    sampler = create_rl_sampler(config.data, dataset)
    loader = StatefulDataLoader(dataset, batch_size=config.data.train_batch_size, sampler=sampler,
                                collate_fn=collate_fn, drop_last=True, num_workers=0)
    batch = DataProto.from_single_dict(next(iter(loader)))
    return dataset, batch


def rollout(config: Any, dataset: Any, batch: Any, seed: int) -> Any:
    """Sampled responses for every prompt x rollout.n, assembled into the trainer's batch by verl's agent
    loop code (padding, multi-modal inputs, mRoPE position ids, `_postprocess`)."""
    import asyncio

    import torch
    import transformers
    from verl.experimental.agent_loop.agent_loop import AgentLoopOutput, AgentLoopWorker

    from helpers.verl_objects import load_reward, prompt_inputs, score_texts

    rcfg = config.actor_rollout_ref.rollout
    n = int(rcfg.n)
    processor, tokenizer = dataset.processor, dataset.tokenizer
    hf = transformers.AutoConfig.from_pretrained(config.actor_rollout_ref.model.path)
    lm = getattr(transformers, hf.architectures[0]).from_pretrained(config.actor_rollout_ref.model.path,
                                                                   dtype=torch.float32).eval()
    worker = SimpleNamespace(rollout_config=rcfg, tokenizer=tokenizer, processor=processor,
                             mm_processor_kwargs=dataset.mm_processor_kwargs, reward_loop_worker_handles=None)
    for name in ("_pad_token_ids", "_compute_multi_modal_inputs", "_compute_position_ids", "_get_mm_processor_kwargs"):
        setattr(worker, name, getattr(AgentLoopWorker, name).__get__(worker))
    manager = load_reward(config, tokenizer)
    torch.manual_seed(seed)
    samples = []
    for i, raw in enumerate(batch.non_tensor_batch["raw_prompt"]):
        row = {k: batch.non_tensor_batch[k][i] for k in ("data_source", "reward_model", "extra_info")}
        item = {"raw_prompt": raw}
        inputs = prompt_inputs(dataset, item)
        images, _, _ = dataset._process_multi_modal_info(raw, dataset.image_patch_size, dataset.config)
        with torch.no_grad():
            out = lm.generate(**inputs, do_sample=True, temperature=float(rcfg.temperature), top_p=float(rcfg.top_p),
                              max_new_tokens=int(rcfg.response_length), num_return_sequences=n,
                              pad_token_id=tokenizer.pad_token_id)
        prompt_ids = inputs["input_ids"][0].tolist()
        for seq in out[:, len(prompt_ids):]:
            ids = seq.tolist()
            if tokenizer.eos_token_id in ids:  # up to and including the first end-of-sequence token
                ids = ids[:ids.index(tokenizer.eos_token_id) + 1]
            text = tokenizer.decode(ids, skip_special_tokens=True)
            score = score_texts(manager, tokenizer, [row], [text])[0]
            samples.append(AgentLoopOutput(prompt_ids=prompt_ids, response_ids=ids, response_mask=[1] * len(ids),
                                           multi_modal_data={"images": images}, num_turns=2, metrics={},
                                           reward_score=float(score["reward_score"]),
                                           extra_fields={"reward_extra_info": score.get("reward_extra_info", {})}))

    async def post(o: Any, raw: Any) -> Any:
        worker._compute_score = _no_score
        worker._compute_teacher_logprobs = _no_teacher
        return await AgentLoopWorker._agent_loop_postprocess(worker, o, validate=False, raw_prompt=raw)

    raws = [raw for raw in batch.non_tensor_batch["raw_prompt"] for _ in range(n)]
    internal = [asyncio.run(post(o, raw)) for o, raw in zip(samples, raws, strict=True)]
    return AgentLoopWorker._postprocess(worker, internal)


async def _no_score(outputs: Any, kwargs: Any) -> None:  # rewards come from verl's reward manager below
    return None


async def _no_teacher(*args: Any, **kwargs: Any) -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", type=Path, required=True, help="rl_data output (train.parquet)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="recipe overrides")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    _init_dist()
    args.out.mkdir(parents=True, exist_ok=True)

    import numpy as np
    import torch

    _cfg, config = verl_config(args.model, args.data, args.out, args.attn, args.overrides)
    dataset, batch = first_batch(config)
    n = int(config.actor_rollout_ref.rollout.n)
    batch.non_tensor_batch["uid"] = np.array([f"p{i}" for i in range(len(batch))], dtype=object)
    gen = rollout(config, dataset, batch, args.seed)
    batch = batch.repeat(repeat_times=n, interleave=True).union(gen)  # as RayPPOTrainer.fit
    batch.meta_info["temperature"] = config.actor_rollout_ref.rollout.temperature
    batch.meta_info["global_token_num"] = torch.sum(batch.batch["attention_mask"], dim=-1).tolist()
    batch.meta_info["images_seqlens"] = [s for m in batch.non_tensor_batch["multi_modal_inputs"]
                                         for s in m["images_seqlens"].tolist()]
    report = update(config, batch, args.out)
    report["attn"] = args.attn
    (args.out / "update.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "metrics"}))


def update(config: Any, batch: Any, out: Path) -> dict[str, Any]:
    """Old and reference log-probs, advantages and the actor update through verl's trainer methods, on
    in-process workers (the trainer calls them through Ray worker groups); then the checkpoint."""
    import torch
    from verl.trainer.ppo.core_algos import agg_loss
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer, compute_advantage
    from verl.trainer.ppo.reward import extract_reward
    from verl.workers.engine_workers import ActorRolloutRefWorker

    actor = ActorRolloutRefWorker(config.actor_rollout_ref, role="actor")
    actor.init_model()
    ref = ActorRolloutRefWorker(config.actor_rollout_ref, role="ref")
    ref.init_model()
    trainer = SimpleNamespace(config=config, actor_rollout_wg=actor, ref_policy_wg=ref, ref_in_actor=False,
                              distillation_config=None)
    before = {k: v.detach().clone() for k, v in _state(actor).items()}

    reward_source = "our reward through verl's reward manager"
    scores = batch.batch["rm_scores"].sum(-1).view(-1, int(config.actor_rollout_ref.rollout.n))
    if bool((scores.std(-1) == 0).all()):  # no group has a signal: GRPO's advantages would all be 0
        last = batch.batch["response_mask"].sum(-1) - 1
        ranked = torch.zeros_like(scores).flatten()
        ranked[:: scores.shape[1]] = 1.0  # the first response of each prompt wins
        batch.batch["rm_scores"] = torch.zeros_like(batch.batch["rm_scores"])
        batch.batch["rm_scores"][torch.arange(len(ranked)), last] = ranked
        reward_source = "synthetic: the untrained model earned no reward, the first response of each prompt gets 1"
    reward, _ = extract_reward(batch)
    old, _ = RayPPOTrainer._compute_old_log_prob(trainer, batch)
    entropy = agg_loss(loss_mat=old.batch["entropys"], loss_mask=batch.batch["response_mask"],
                       loss_agg_mode=config.actor_rollout_ref.actor.loss_agg_mode).item()
    old.batch.pop("entropys")
    batch = batch.union(old)
    batch = batch.union(RayPPOTrainer._compute_ref_log_prob(trainer, batch))
    batch.batch["token_level_scores"] = reward
    batch.batch["token_level_rewards"] = reward
    batch = compute_advantage(batch, adv_estimator=config.algorithm.adv_estimator, gamma=config.algorithm.gamma,
                              lam=config.algorithm.lam, num_repeat=config.actor_rollout_ref.rollout.n,
                              norm_adv_by_std_in_grpo=config.algorithm.get("norm_adv_by_std_in_grpo", True),
                              config=config.algorithm)
    metrics = RayPPOTrainer._update_actor(trainer, batch).meta_info["metrics"]
    after = _state(actor)
    changed = sum(not torch.equal(before[k], after[k]) for k in after)

    # the engine's FSDPCheckpointManager (engine.save_checkpoint first moves the parameters to the GPU)
    actor.actor.engine.checkpoint_manager.save_checkpoint(local_path=str(out / "global_step_1" / "actor"),
                                                          global_step=1)
    (out / "ref").mkdir(exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in after.items()}, out / "ref" / "full_state.pt")
    mask = batch.batch["attention_mask"]
    plen = batch.batch["prompts"].shape[1]
    return {
        "prompt_lengths": mask[:, :plen].sum(-1).tolist(),
        "sequence_lengths": mask.sum(-1).tolist(),
        "position_ids_shape": list(batch.batch["position_ids"].shape),
        "reward_mean": float(reward.sum(-1).mean()), "reward_source": reward_source,
        "advantage_abs_max": float(batch.batch["advantages"].abs().max()),
        "entropy": entropy,
        "kl_old_vs_ref_abs_max": float((batch.batch["old_log_probs"] - batch.batch["ref_log_prob"]).abs().max()),
        "metrics": {k: _plain(v) for k, v in metrics.items()},
        "tensors": len(after), "tensors_changed": changed,
    }


def _state(worker: Any) -> dict[str, Any]:
    """The actor's full state dict (world size 1: the FSDP module's own tensors)."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp import StateDictType

    module = worker.actor.engine.module
    if isinstance(module, FSDP):
        with FSDP.state_dict_type(module, StateDictType.FULL_STATE_DICT):
            return module.state_dict()
    return {k: (v.full_tensor() if hasattr(v, "full_tensor") else v) for k, v in module.state_dict().items()}


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)

if __name__ == "__main__":
    main()
