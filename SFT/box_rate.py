"""Share of prompts a model answers with a closed `\\boxed{...}`: did cold-start SFT teach the answer format?

Greedy generation on the prompts (system + user turn) of an ms-swift JSONL, the same file `swift sft` trained
on, through evaluation's transformers backend (evaluation/backends.py HFBackend: its model loading and sampling
pins, so the model's generation_config cannot leak a repetition penalty in). It measures the format, not
correctness: no grading.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from evaluation.backends import GenSettings, HFBackend
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
            max_pixels: int | None = None, n_samples: int = 3, batch_size: int = 1) -> BoxRate:
    """Greedy-generate on the prompts of `jsonl` with the model in `model_dir`; count closed boxes."""
    from PIL import Image

    # the prompts are the JSONL's own messages (system prompt included), rendered below, not evaluation's
    settings = GenSettings(model=str(model_dir), system_prompt="", max_new_tokens=max_new_tokens,
                           max_pixels=max_pixels)
    backend = HFBackend(settings, str(model_dir))
    rows = read_prompts(jsonl, limit)
    boxed, samples, t0 = 0, [], time.perf_counter()
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        texts = [backend.processor.apply_chat_template(_hf_messages(row["messages"]), add_generation_prompt=True,
                                                       tokenize=False) for row in batch]
        images = [Image.open(p).convert("RGB") for row in batch for p in row["images"]]
        for gen in backend.generate_prompts(texts, images):
            boxed += has_closed_box(gen.text)
            if len(samples) < n_samples:
                samples.append(gen.text)
        done = start + len(batch)
        if done % 16 < len(batch):
            log.info("box rate: %d/%d prompts, %d boxed", done, len(rows), boxed)
    return BoxRate(len(rows), boxed, round(time.perf_counter() - t0, 1), samples)


CLI_DOC = """Share of training prompts a model answers with a closed \\boxed{...} (greedy, evaluation's
transformers backend: CPU, or one GPU when visible).

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
    parser.add_argument("--batch-size", type=int, default=1, help="prompts per generate call (left-padded)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    r = measure(args.model, args.data, args.limit, args.max_new_tokens, args.max_pixels,
                batch_size=args.batch_size)
    print(json.dumps({"prompts": r.prompts, "boxed": r.boxed, "share": round(r.share, 3), "seconds": r.seconds,
                      "samples": r.samples}, indent=2))
    return 0
