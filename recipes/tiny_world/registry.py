"""What the tiny world holds, without importing anything heavy (so a cached lookup stays instant)."""

from __future__ import annotations

#: Bump when the model dir's content changes (cached worlds with another version are rebuilt). The
#: tokenizer corpus includes the problem texts of ``problems.py``, so changes there count too.
MODEL_VERSION = 3

#: Version of ``model_gpu/``: the same model code at head size 64 (tiny_gpu's verl + vLLM run).
MODEL_GPU_VERSION = 2

#: Version of ``qwen3_vl/``: the tiny Qwen3-VL (``tiny:qwen3_vl``), head size 64, for the CPU and a GPU.
MODEL_QWEN3_VL_VERSION = 1

#: Dataset name -> version of its builder's output (bump on any change to what it writes).
DATASET_VERSIONS: dict[str, int] = {
    "cold_start": 9,
    "rl": 8,
    "geometry3k": 3,
    "mathvista": 5,
    "mathverse": 2,
    "mathvision": 4,
    "wemath": 3,
    "heldin": 5,
}

#: Dataset name -> the splits its dir holds (what ``load_dataset(str(dir), split=...)`` accepts).
DATASET_SPLITS: dict[str, tuple[str, ...]] = {
    "cold_start": ("train",),
    "rl": ("train",),
    "geometry3k": ("test",),
    "mathvista": ("testmini",),
    "mathverse": ("testmini",),
    "mathvision": ("test", "testmini"),
    "wemath": ("testmini",),
    "heldin": ("testmini",),
}
