"""verl 0.9.1 fails its update step when every sequence of a batch has the same length (Qwen2.5-VL's
mRoPE position_ids), which the tiny world once triggered on a real H200 (scripts/GPU_CHECK.md):

`left_right_2_no_padding` packs the (4, length) position_ids with `torch.nested.as_nested_tensor`; when
all lengths are equal, torch makes the 4 mRoPE rows the ragged dimension, `maybe_fix_3d_position_ids`
then declares dimension 2 ragged, and `make_iterator`'s unbind fails with `split_with_sizes expects
split_sizes to sum exactly to <length> ... [4, 4, ...]`. Upstream it is NOT fixed: verl PR #5829 was closed
unmerged, and verl main still packs with `as_nested_tensor` and `_ragged_idx=2`. The open fix, PR #7901 for
issue #7899 (https://github.com/verl-project/verl/issues/7899), concerns the V1 trainer, in which a real VLM
run crashed after 81 steps; our guard is the v0 trainer (`trainer.use_v1=false`, GRPO/verl_overrides.py,
kept by tests/test_grpo_overrides.py while verl is 0.9.x).

The first test runs verl's own functions, as `engine_workers.train_mini_batch` calls them, so it says
when an upgraded verl no longer needs the guard; the second checks the guard: the tiny RL prompts, through
our converter and verl's RLHFDataset, have lengths varied enough that no tiny_gpu batch is all one length.
"""

from __future__ import annotations

from collections import Counter

import pytest

from recipes.pipeline.compose import compose

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # verl import, and the tiny RL set through RLHFDataset


def _padded_batch(valid_lengths: list[int], max_len: int):
    """A right-aligned batch as verl's trainer holds it: input_ids, masks, (B, 4, L) mRoPE position_ids."""
    import torch
    from tensordict import TensorDict

    b = len(valid_lengths)
    attention = torch.zeros(b, max_len, dtype=torch.long)
    for i, n in enumerate(valid_lengths):
        attention[i, max_len - n:] = 1
    position_ids = (attention.cumsum(-1) - 1).clamp(min=0).unsqueeze(1).expand(b, 4, max_len).contiguous()
    return TensorDict({"input_ids": torch.randint(5, 100, (b, max_len)), "attention_mask": attention,
                       "response_mask": attention[:, -4:].clone(), "position_ids": position_ids}, batch_size=b)


def _update_batches(valid_lengths: list[int]) -> list:
    """verl's path from the trainer's padded batch to the actor's update mini-batches."""
    from verl.utils import tensordict_utils as tu
    from verl.workers.utils.padding import left_right_2_no_padding

    data = left_right_2_no_padding(_padded_batch(valid_lengths, max(valid_lengths) + 3))
    tu.maybe_fix_3d_position_ids(data)  # train_mini_batch's first line
    return list(tu.make_iterator(data, mini_batch_size=16, epochs=1, seed=0))


def test_verl_update_batching_fails_when_every_sequence_has_one_length() -> None:
    """The H200 run's batch: 8 prompts x 4 responses, every sequence 184 tokens long; the same error."""
    with pytest.raises(RuntimeError, match=r"split_with_sizes expects split_sizes to sum exactly to 184 .*\[4, 4, 4"):
        _update_batches([184] * 32)
    batches = _update_batches([184] * 31 + [183])  # one shorter sequence: the nested tensor is built right
    assert [len(b) for b in batches] == [16, 16]
    assert all(t.shape == (4, n) for b in batches for t, n in zip(b["position_ids"].unbind(), b["input_ids"].offsets().diff()))


def test_tiny_rl_prompts_never_make_a_one_length_batch(tiny_world, tmp_path) -> None:
    """Prompt lengths in tokens (image pads included) of the whole tiny RL set, as verl's agent loop builds
    them. Responses of the untrained tiny model run to the length cap, so a batch is all one length exactly
    when its prompts are: the chance of that for tiny_gpu's batch size must be negligible."""
    from GRPO.rl_rows import convert_rl
    from GRPO.verl_check import check_overrides
    from GRPO.verl_command import verl_overrides
    from recipes.data.rows import RowSettings

    from helpers.verl_objects import load_rl_dataset, model_config, prompt_inputs

    cfg = compose("tiny_gpu")
    convert_rl("tiny:rl", str(tiny_world.datasets["rl"]), "train", tmp_path, "train",
               RowSettings.from_data(cfg.data, str(tiny_world.model_gpu), num_workers=1), progress=False)
    train = str(tmp_path / "train.parquet")
    config = check_overrides(verl_overrides(cfg, model_path=str(tiny_world.model_gpu), train_files=train,
                                            val_files=train, checkpoint_dir=str(tmp_path / "ckpt")))
    model = model_config(config)
    dataset = load_rl_dataset(config, train, model.tokenizer, model.processor)
    lengths = Counter(int(prompt_inputs(dataset, dataset[i])["input_ids"].shape[-1]) for i in range(len(dataset)))
    shares = [n / len(dataset) for n in lengths.values()]
    batch = int(cfg.grpo.rollout_batch_size)
    p_one_length = sum(p**batch for p in shares)  # a batch's prompts drawn at random (verl shuffles)
    assert len(dataset) == 160 and p_one_length < 1e-3, (sorted(lengths.items()), p_one_length)
