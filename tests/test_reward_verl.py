"""verl loads reward_fns through its own config + reward-loading code and scores a real DataProto batch."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from reward_cases import CASES

ROOT = Path(__file__).resolve().parent.parent
# A spread of the table: plain numbers, symbolic, MCQ with options in extra_info or in the problem text.
BATCH = [c for c in CASES if len(c.full_response) < 2000][::4]


def _compose(overrides: list[str]):
    import verl
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=os.path.join(os.path.dirname(verl.__file__), "trainer/config"),
                               version_base=None):
        return compose("ppo_trainer", overrides=overrides)


def _data_proto(tokenizer, cases):
    import torch
    from verl import DataProto

    prompt_len, pad = 8, tokenizer.pad_token_id
    resp_ids = [tokenizer.encode(c.full_response, add_special_tokens=False) for c in cases]
    resp_len = max(map(len, resp_ids))
    prompts = torch.full((len(cases), prompt_len), pad, dtype=torch.long)
    responses = torch.full((len(cases), resp_len), pad, dtype=torch.long)
    mask = torch.zeros((len(cases), prompt_len + resp_len), dtype=torch.long)
    for i, ids in enumerate(resp_ids):
        q = tokenizer.encode("Find x.", add_special_tokens=False)[:prompt_len]
        prompts[i, prompt_len - len(q):] = torch.tensor(q)  # left-padded prompt
        mask[i, prompt_len - len(q):prompt_len] = 1
        responses[i, : len(ids)] = torch.tensor(ids)  # right-padded response
        mask[i, prompt_len:prompt_len + len(ids)] = 1
    return DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "attention_mask": mask,
                 "input_ids": torch.cat([prompts, responses], dim=1)},
        non_tensors={
            "data_source": np.array(["rlcs_test"] * len(cases), dtype=object),
            "reward_model": np.array([{"style": "rule", "ground_truth": c.gold} for c in cases], dtype=object),
            "extra_info": np.array(
                [{"options": np.array(c.options, dtype=object) if c.options else None, "problem": c.problem,
                  "precision": c.precision} for c in cases], dtype=object),
        },
    )


@pytest.mark.slow
@pytest.mark.parametrize("path", [str(ROOT / "reward_fns" / "verl_reward.py"), "pkg://reward_fns.verl_reward"])
def test_verl_reward_loop_scores_dataproto(tiny_world, path):
    from verl.experimental.reward_loop import RewardLoopWorker
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager

    cfg = _compose([
        f"reward.custom_reward_function.path={path}",
        "reward.custom_reward_function.name=compute_score",
        "+reward.custom_reward_function.reward_kwargs.format_weight=0.0",
        f"actor_rollout_ref.model.path={tiny_world.model}",
    ])
    worker = RewardLoopWorker(cfg)  # verl's own: tokenizer from the model path + load_reward_manager(cfg, ...)
    manager = worker.reward_manager
    assert isinstance(manager, NaiveRewardManager)
    data = _data_proto(worker.input_tokenizer, BATCH)
    # compute_score_batch runs every item through manager.run_single concurrently (executor threads)
    outputs = manager.loop.run_until_complete(worker.compute_score_batch(data))
    scores = [o["reward_score"] for o in outputs]
    assert scores == [1.0 if c.expected else 0.0 for c in BATCH]
    infos = [o["reward_extra_info"] for o in outputs]
    assert all({"acc", "pred", "reason", "format"} <= set(i) for i in infos)
    assert [i["acc"] for i in infos] == scores
    rm = NaiveRewardManager.assemble_rm_scores(data, scores)
    assert rm.shape == data.batch["responses"].shape and float(rm.sum()) == sum(scores)
    assert 10 <= sum(scores) < len(BATCH)  # both verdicts are present


@pytest.mark.slow
def test_verl_reward_kwargs_reach_the_function(tiny_world):
    from verl.trainer.ppo.reward import load_reward_manager
    from verl.utils import hf_tokenizer

    cfg = _compose([
        f"reward.custom_reward_function.path={ROOT / 'reward_fns' / 'verl_reward.py'}",
        "+reward.custom_reward_function.reward_kwargs.format_weight=0.5",
        f"actor_rollout_ref.model.path={tiny_world.model}",
    ])
    tokenizer = hf_tokenizer(str(tiny_world.model))
    manager = load_reward_manager(cfg, tokenizer)
    good = "We compute the sum carefully and check it twice to be sure. " + r"So \boxed{6}."
    case = type(BATCH[0])(good, "5", False, "format_only", raw=True)
    data = _data_proto(tokenizer, [case])
    out = manager.loop.run_until_complete(manager.run_single(data[0:1]))
    assert out["reward_score"] == pytest.approx(0.5)  # wrong answer, well formed, weight 0.5
    assert out["reward_extra_info"]["format"] == 1.0 and out["reward_extra_info"]["acc"] == 0.0
