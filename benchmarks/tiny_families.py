"""Benchmark: one SFT-like training step of each family's tiny model (recipes/families.py), interleaved.

Each tiny model (the tiny world's `tiny:model` and `tiny:qwen3_vl`) takes the same batch built by its own
processor: 4 rows of the tiny cold-start set's first images and texts at the tiny recipes' pixel limits (the same
image-token budget: 256 x 28 x 28 and 256 x 32 x 32), forward + backward + AdamW step, vision tower frozen as in
SFT. Steps alternate between the models so both see the same machine load; median step time per model, the
ratio, and the image tokens per batch are printed. On a shared machine only the ratio means anything.

    .venv/bin/python benchmarks/tiny_families.py [--steps 6] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODELS = {"qwen2_5_vl": ("model", 200704, 3136), "qwen3_vl": ("qwen3_vl", 262144, 4096)}
"""Family -> (tiny world model, the tiny recipe's data.max_pixels, data.min_pixels)."""


def _batch(model_dir: Path, rows: list[dict], max_pixels: int, min_pixels: int):
    from PIL import Image
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir, min_pixels=min_pixels, max_pixels=max_pixels)
    texts, images = [], []
    for row in rows:
        content = [{"type": "image"}, {"type": "text", "text": row["problem"].replace("<image>", "")}]
        messages = [{"role": "user", "content": content}, {"role": "assistant", "content": row["answer"]}]
        texts.append(processor.apply_chat_template(messages, tokenize=False))
        cell = row["images"][0]
        images.append(Image.open(io.BytesIO(cell["bytes"])).convert("RGB") if isinstance(cell, dict) else cell)
    batch = processor(text=texts, images=images, return_tensors="pt", padding=True)
    batch["labels"] = batch["input_ids"].clone()
    return batch


def main(argv: list[str] | None = None) -> int:
    import datasets
    import torch
    from transformers import AutoModelForImageTextToText

    from recipes.tiny_world import ensure_tiny_world

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    world = ensure_tiny_world()
    rows = datasets.load_dataset(str(world.datasets["cold_start"]), split="train").select(range(4)).to_list()
    setups = {}
    for family, (name, max_px, min_px) in MODELS.items():
        model = AutoModelForImageTextToText.from_pretrained(world.models[name], dtype=torch.float32).train()
        for p in model.model.visual.parameters():
            p.requires_grad_(False)
        optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        batch = _batch(world.models[name], rows, max_px, min_px)
        image_tokens = int(batch["image_grid_thw"].prod(-1).sum()) // 4
        setups[family] = (model, optim, batch, image_tokens, [])
    for step in range(args.steps + 1):  # step 0 warms up each model
        for model, optim, batch, _, times in setups.values():
            t0 = time.perf_counter()
            loss = model(**batch).loss
            loss.backward()
            optim.step()
            optim.zero_grad()
            if step:
                times.append(time.perf_counter() - t0)
    result = {f: {"median_step_s": statistics.median(t), "image_tokens": n, "seq_len": int(b["input_ids"].shape[1])}
              for f, (_, _, b, n, t) in setups.items()}
    for family, r in result.items():
        print(f"{family:11s} step {r['median_step_s']:.3f} s (median of {args.steps}), "
              f"{r['image_tokens']} image tokens, sequence {r['seq_len']}")
    ratio = result["qwen3_vl"]["median_step_s"] / result["qwen2_5_vl"]["median_step_s"]
    print(f"qwen3_vl / qwen2_5_vl step time: {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({**result, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
