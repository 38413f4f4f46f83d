"""The paper's GRPO overrides through verl 0.9.1's own objects on a CPU: Hydra config + checks,
RLHFDataset with the processor, and our reward loaded and scored by verl's reward manager; for each model
family (recipes/families.py): the paper's recipe on the tiny Qwen2.5-VL, qwen3_vl_8b on the tiny Qwen3-VL."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from GRPO.verl_check import VerlConfigError, check_overrides
from GRPO.verl_command import verl_overrides
from recipes.families import QWEN2_5_VL, QWEN3_VL
from recipes.pipeline.compose import compose
from recipes.pipeline.config import SYSTEM_PROMPT

from helpers.verl_objects import load_reward, load_rl_dataset, model_config, prompt_inputs, score_texts

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # ~30 s to import verl and compose its config once
IMAGE_PAD_ID = 151655  # <|image_pad|> of Qwen2.5-VL and Qwen3-VL (recipes/families.py)
FAMILY_RECIPES = [pytest.param((QWEN2_5_VL, "qwen2_5_vl_7b"), id="qwen2_5_vl"),
                  pytest.param((QWEN3_VL, "qwen3_vl_8b"), id="qwen3_vl")]
"""(family, the recipe whose overrides are checked on the family's tiny model)."""
ROWS = [("What is 2 + 3?", "5"), ("How many sides has a triangle?", "3"), ("Area of a 2 by 4 rectangle?", "8")]


def _png(color: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def _write_parquet(path, max_pixels: int, min_pixels: int) -> list[dict]:
    """Rows in verl's schema (what GRPO/rl_rows.py writes): chat prompt with <image>, image dicts with limits."""
    rows = []
    for i, (question, answer) in enumerate(ROWS):
        rows.append({
            "data_source": "tiny_rl",
            "prompt": [{"role": "system", "content": SYSTEM_PROMPT},
                       {"role": "user", "content": f"<image>{question}"}],
            "images": [{"bytes": _png((40 * i, 90, 160), (84, 56)), "max_pixels": max_pixels,
                        "min_pixels": min_pixels}],
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": answer},
            "extra_info": {"index": i, "split": "train", "problem": question},
        })
    pq.write_table(pa.Table.from_pylist(rows), path)
    return rows


@pytest.fixture(scope="module", params=FAMILY_RECIPES)
def setup(request, tiny_world, tmp_path_factory):
    family, recipe = request.param
    assert family.image_token_id == IMAGE_PAD_ID
    tmp = tmp_path_factory.mktemp(f"verl_{family.name}")
    cfg = compose(recipe, [])
    rows = _write_parquet(tmp / "train.parquet", cfg.data.max_pixels, cfg.data.min_pixels)
    model = tiny_world.models[family.tiny.split(":", 1)[1]]
    overrides = verl_overrides(cfg, model_path=str(model), train_files=str(tmp / "train.parquet"),
                               val_files=str(tmp / "train.parquet"), checkpoint_dir=str(tmp / "ckpt"))
    return cfg, overrides, check_overrides(overrides), rows, tmp, family, model


def test_paper_overrides_pass_verls_checks(setup):
    _, _, config, _, _, _, model_dir = setup
    assert config.actor_rollout_ref.model.path == str(model_dir)
    actor, rollout = config.actor_rollout_ref.actor, config.actor_rollout_ref.rollout
    assert config.algorithm.adv_estimator == "grpo" and config.trainer.use_v1 is False
    assert (actor.use_kl_loss, actor.kl_loss_type, actor.kl_loss_coef) == (True, "low_var_kl", 0.01)
    assert (actor.optim.lr, actor.optim.weight_decay, actor.optim.clip_grad) == (1e-6, 0.01, 1.0)
    assert actor.fsdp_config.param_offload and actor.fsdp_config.optimizer_offload
    assert config.actor_rollout_ref.ref.fsdp_config.param_offload
    assert (rollout.n, rollout.temperature, rollout.top_p) == (10, 0.7, 0.99)
    assert (rollout.tensor_model_parallel_size, rollout.gpu_memory_utilization) == (2, 0.6)
    assert (rollout.val_kwargs.temperature, rollout.val_kwargs.n, rollout.val_kwargs.do_sample) == (0.5, 1, True)
    assert (config.data.train_batch_size, actor.ppo_mini_batch_size, actor.ppo_micro_batch_size_per_gpu) == (512, 128, 4)
    assert (config.trainer.save_freq, config.trainer.max_actor_ckpt_to_keep, config.trainer.total_epochs) == (5, 7, 2)
    assert list(config.trainer.logger) == ["console", "wandb"]
    assert config.reward.custom_reward_function.path.endswith("reward_fns/verl_reward.py")


def test_unknown_key_fails_before_any_gpu(setup):
    _, overrides, _, _, _, _, _ = setup
    with pytest.raises(VerlConfigError, match=r"actor_rollout_ref\.actor\.kl_coef"):
        check_overrides([*overrides, "actor_rollout_ref.actor.kl_coef=0.01"])  # EasyR1's name, not verl's


def test_inconsistent_batches_fail_verls_own_check(tiny_world, tmp_path):
    cfg = compose("qwen2_5_vl_7b", ["grpo.rollout_batch_size=64"])  # fewer prompts than one update needs
    overrides = verl_overrides(cfg, model_path=str(tiny_world.model), train_files="t.parquet",
                               val_files="v.parquet", checkpoint_dir=str(tmp_path))
    with pytest.raises(VerlConfigError, match="ppo_mini_batch_size"):
        check_overrides(overrides)


def test_rl_parquet_loads_through_rlhf_dataset_with_processor(setup):
    _, _, config, rows, tmp, family, _ = setup
    model = model_config(config)
    assert type(model.processor).__name__ == family.processor
    assert model.processor is not None
    dataset = load_rl_dataset(config, str(tmp / "train.parquet"), model.tokenizer, model.processor)
    assert len(dataset) == len(rows)
    item = dataset[0]
    assert item["extra_info"]["index"] == 0 and item["reward_model"]["ground_truth"] == "5"
    system, user = item["raw_prompt"]
    assert system["content"][0]["text"] == SYSTEM_PROMPT
    assert [c["type"] for c in user["content"]] == ["image", "text"]
    inputs = prompt_inputs(dataset, item)  # as verl's agent loop does before the rollout
    merge = model.processor.image_processor.merge_size
    grid = inputs["image_grid_thw"]
    n_pad = int((inputs["input_ids"][0] == IMAGE_PAD_ID).sum())
    assert grid.shape[0] == 1 and n_pad == int(grid.prod()) // merge**2 > 0  # one image, features == tokens
    patch = model.processor.image_processor.patch_size
    assert (patch, merge) == (family.patch_size, family.merge_size)
    pixels = int(grid[0, 1] * grid[0, 2]) * patch**2
    assert pixels >= setup[0].data.min_pixels  # the 84x56 image was scaled up to the paper's pixel floor


def test_reward_loaded_and_scored_by_verls_reward_manager(setup):
    _, _, config, rows, _, _, _ = setup
    tokenizer = model_config(config).tokenizer
    manager = load_reward(config, tokenizer)
    responses = ["2 + 3 makes \\boxed{5}", "A triangle has \\boxed{4} sides", "no box here: 8"]
    results = score_texts(manager, tokenizer, rows, responses)
    scores = [r["reward_score"] for r in results]
    assert scores == [1.0, 0.0, 0.0]
    assert results[0]["reward_extra_info"]["acc"] == 1.0


def test_converter_output_trains_through_verls_dataset_and_reward(setup, tiny_world, tmp_path):
    """GRPO/rl_rows.py's parquet of the tiny RL set -> RLHFDataset -> prompt inputs; its gold scores 1."""
    from GRPO.rl_rows import convert_rl
    from recipes.data.rows import RowSettings
    from recipes.pipeline.config import DataConfig

    _, _, config, _, _, family, model_dir = setup
    tiny = compose("tiny" if family is QWEN2_5_VL else f"tiny_{family.name}")  # the family's tiny pixel limits
    convert_rl("tiny:rl", str(tiny_world.datasets["rl"]), "train", tmp_path, "train",
               RowSettings.from_data(DataConfig(), str(model_dir), system_prompt=None, max_pixels=tiny.data.max_pixels,
                                     min_pixels=tiny.data.min_pixels, max_prompt_length=1024, num_workers=1,
                                     max_rows=4),
               progress=False)
    model = model_config(config)
    dataset = load_rl_dataset(config, str(tmp_path / "train.parquet"), model.tokenizer, model.processor)
    assert len(dataset) == 4
    for i in range(len(dataset)):
        item = dataset[i]
        inputs = prompt_inputs(dataset, item)
        n_images = sum(c["type"] == "image" for m in item["raw_prompt"] if isinstance(m["content"], list)
                       for c in m["content"])
        assert inputs["image_grid_thw"].shape[0] == n_images
        assert int((inputs["input_ids"][0] == IMAGE_PAD_ID).sum()) == int(
            inputs["image_grid_thw"].prod(-1).sum()) // model.processor.image_processor.merge_size**2
        # our counted prompt length is verl's, with the template's own default system message (or none)
        assert inputs["input_ids"].shape[1] == item["extra_info"]["prompt_tokens"], f"row {i}"
        text = model.tokenizer.decode(inputs["input_ids"][0])
        assert ("You are a helpful assistant." in text) == (family.default_system is not None)
    rows = pq.read_table(tmp_path / "train.parquet").to_pylist()
    manager = load_reward(config, model.tokenizer)
    gold = [f"so the answer is \\boxed{{{r['reward_model']['ground_truth']}}}" for r in rows]
    assert [r["reward_score"] for r in score_texts(manager, model.tokenizer, rows, gold)] == [1.0] * 4
