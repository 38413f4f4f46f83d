"""The tiny offline world: random tiny models of each family in recipes/families.py (Qwen2.5-VL, Qwen3-VL; real ids,
trained tokenizer) and small synthetic datasets.

from recipes.tiny_world import ensure_tiny_world
world = ensure_tiny_world()          # builds once into $RLCS_CACHE/tiny-v1, then returns at once
world.model                          # HF model dir (Qwen2.5-VL); world.models["qwen3_vl"]: the tiny Qwen3-VL
world.datasets["rl"]                 # datasets.load_dataset(str(path), split="train")
"""

from .build import TinyWorld, default_cache_dir, ensure_tiny_world

__all__ = ["TinyWorld", "default_cache_dir", "ensure_tiny_world"]
