"""Share of prompts a model answers with a closed `\\boxed{...}`: did cold-start SFT teach the answer format?

Greedy generation with transformers on the prompts (system + user turn) of an ms-swift JSONL, the same
file `swift sft` trained on. Independent of the evaluation package on purpose: it measures the format,
not correctness.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from recipes.data.qwen_vl import typed_parts
from reward_fns.extract import box_spans

log = logging.getLogger(__name__)


def has_closed_box(text: str) -> bool:
    """True when `text` has a `\\boxed{...}` whose braces close (the reward's own box finder)."""
    return any(content is not None for _, _, content in box_spans(text))


@dataclass
class BoxRate:
    """Result of one measurement."""

    prompts: int
    boxed: int
    seconds: float
    samples: list[str] = field(default_factory=list)
    """The first few generations, for a human to look at."""

    @property
    def share(self) -> float:
        return self.boxed / self.prompts if self.prompts else 0.0


def read_prompts(jsonl: str | Path, limit: int | None = None) -> list[dict]:
    """Rows of an ms-swift JSONL with the assistant turn removed."""
    rows = []
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                msgs = [m for m in row["messages"] if m["role"] != "assistant"]
                rows.append({"messages": msgs, "images": row.get("images") or []})
                if limit and len(rows) >= limit:
                    break
    return rows


def _hf_messages(messages: list[dict]) -> list[dict]:
    """ms-swift `<image>` tags -> transformers' typed content parts."""
    return [{"role": m["role"], "content": typed_parts(str(m["content"]))} for m in messages]


def measure(model_dir: str | Path, jsonl: str | Path, limit: int | None = None, max_new_tokens: int = 128,
            max_pixels: int | None = None, n_samples: int = 3) -> BoxRate:
    """Greedy-generate on the prompts of `jsonl` with the model in `model_dir`; count closed boxes."""
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    torch.manual_seed(0)
    kwargs = {"max_pixels": max_pixels} if max_pixels else {}
    processor = AutoProcessor.from_pretrained(str(model_dir), **kwargs)
    model = AutoModelForImageTextToText.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    rows = read_prompts(jsonl, limit)
    boxed, samples, t0 = 0, [], time.perf_counter()
    for i, row in enumerate(rows, 1):
        text = processor.apply_chat_template(_hf_messages(row["messages"]), add_generation_prompt=True,
                                             tokenize=False)
        images = [Image.open(p).convert("RGB") for p in row["images"]] or None
        inputs = processor(text=[text], images=images, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        answer = processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0]
        boxed += has_closed_box(answer)
        if len(samples) < n_samples:
            samples.append(answer)
        if i % 16 == 0:
            log.info("box rate: %d/%d prompts, %d boxed", i, len(rows), boxed)
    return BoxRate(len(rows), boxed, round(time.perf_counter() - t0, 1), samples)


CLI_DOC = """Share of training prompts a model answers with a closed \\boxed{...} (greedy, transformers, CPU or GPU).

Example, before and after the tiny SFT:
  python scripts/sft_box_rate.py --model ~/.cache/rl-cold-start/tiny-v1/model --data runs/tiny/sft_data/train.jsonl
  python scripts/sft_box_rate.py --model runs/tiny/sft/output/checkpoint-120 --data runs/tiny/sft_data/train.jsonl
"""


def main(argv: list[str] | None = None, prog: str = "scripts/sft_box_rate.py") -> int:
    """The box rate of a model on an ms-swift JSONL, printed as JSON."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=CLI_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="HF model dir (base model or an SFT checkpoint-N)")
    parser.add_argument("--data", required=True, help="ms-swift JSONL (messages + images), e.g. sft_data's train")
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts (default: all)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="generation budget per prompt")
    parser.add_argument("--max-pixels", type=int, default=None, help="image pixel ceiling (as in training)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    r = measure(args.model, args.data, args.limit, args.max_new_tokens, args.max_pixels)
    print(json.dumps({"prompts": r.prompts, "boxed": r.boxed, "share": round(r.share, 3), "seconds": r.seconds,
                      "samples": r.samples}, indent=2))
    return 0
