"""Generation behind one interface: vLLM on GPUs, transformers `generate` as the CPU fallback.

Predictions are appended to `predictions.jsonl` (flushed and fsynced after every batch); a rerun skips
the items already there, so an interrupted evaluation resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from evaluation.benchmarks import Item

log = logging.getLogger(__name__)


class GenerationError(RuntimeError):
    """Generation cannot start or its predictions file does not fit this run."""


@dataclass(frozen=True)
class GenSettings:
    """What determines a prediction besides the item (recorded on every predictions row)."""

    model: str
    system_prompt: str
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 2048
    seed: int = 0
    max_pixels: int | None = None
    min_pixels: int | None = None


def build_messages(item: Item, system_prompt: str) -> list[dict[str, Any]]:
    """Chat messages: the system prompt, then the item's image(s) and question."""
    content: list[dict[str, Any]] = [{"type": "image"} for _ in item.images]
    content.append({"type": "text", "text": item.question})
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": content}]


def render_prompt(processor: Any, item: Item, system_prompt: str) -> str:
    """The prompt text through the model's own chat template, ending with the assistant turn opener."""
    return processor.apply_chat_template(
        build_messages(item, system_prompt), tokenize=False, add_generation_prompt=True
    )


class Backend(Protocol):
    name: str

    def generate(self, items: Sequence[Item]) -> list[str]:
        """One response text per item, in order."""


def _pixel_kwargs(s: GenSettings) -> dict[str, int]:
    out = {}
    if s.min_pixels is not None:
        out["min_pixels"] = s.min_pixels
    if s.max_pixels is not None:
        out["max_pixels"] = s.max_pixels
    return out


class HFBackend:
    """transformers `generate`, batched with left padding (CPU fallback; also works on one GPU)."""

    name = "hf"

    def __init__(self, settings: GenSettings, model_path: str, device: str | None = None):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.settings = settings
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.processor = AutoProcessor.from_pretrained(model_path, **_pixel_kwargs(settings))
        self.processor.tokenizer.padding_side = "left"
        dtype = "auto" if self.device != "cpu" else torch.float32
        self.model = AutoModelForImageTextToText.from_pretrained(model_path, dtype=dtype).to(self.device).eval()
        self._torch = torch

    def generate(self, items: Sequence[Item]) -> list[str]:
        torch = self._torch
        s = self.settings
        texts = [render_prompt(self.processor, it, s.system_prompt) for it in items]
        images = [img for it in items for img in it.pil_images()]
        inputs = self.processor(text=texts, images=images or None, return_tensors="pt", padding=True)
        inputs = inputs.to(self.device)
        kwargs: dict[str, Any] = {"max_new_tokens": s.max_new_tokens}
        if s.temperature > 0:
            torch.manual_seed(s.seed)
            kwargs.update(do_sample=True, temperature=s.temperature, top_p=s.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **kwargs)
        new = out[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new, skip_special_tokens=True)


class VLLMBackend:
    """vLLM offline inference (GPU): continuous batching, tensor parallel, images via multi_modal_data."""

    name = "vllm"

    def __init__(self, settings: GenSettings, model_path: str, tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, max_model_len: int = 8192, max_images: int = 1):
        try:
            from vllm import LLM, SamplingParams
        except ImportError as err:
            raise GenerationError(
                "backend 'vllm' needs the vllm package (install the `gpu` extra: pip install -e '.[gpu]'), "
                "or use backend=hf"
            ) from err
        from transformers import AutoProcessor

        self.settings = settings
        self.processor = AutoProcessor.from_pretrained(model_path, **_pixel_kwargs(settings))
        self.llm = LLM(
            model=model_path, tensor_parallel_size=tensor_parallel_size, seed=settings.seed,
            gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
            limit_mm_per_prompt={"image": max_images}, mm_processor_kwargs=_pixel_kwargs(settings) or None,
        )
        self.params = SamplingParams(
            temperature=settings.temperature, top_p=settings.top_p if settings.temperature > 0 else 1.0,
            max_tokens=settings.max_new_tokens, seed=settings.seed,
        )

    def generate(self, items: Sequence[Item]) -> list[str]:
        s = self.settings
        requests = []
        for it in items:
            req: dict[str, Any] = {"prompt": render_prompt(self.processor, it, s.system_prompt)}
            if it.images:
                imgs = it.pil_images()
                req["multi_modal_data"] = {"image": imgs if len(imgs) > 1 else imgs[0]}
            requests.append(req)
        outputs = self.llm.generate(requests, self.params, use_tqdm=False)
        return [o.outputs[0].text for o in outputs]


def vllm_available() -> bool:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def make_backend(kind: str, settings: GenSettings, model_path: str, **vllm_kwargs: Any) -> Backend:
    """`vllm`, `hf`, or `auto` (vllm when importable and a GPU is visible, else hf)."""
    if kind == "auto":
        kind = "vllm" if vllm_available() else "hf"
        log.info("backend auto -> %s", kind)
    if kind == "vllm":
        return VLLMBackend(settings, model_path, **vllm_kwargs)
    if kind == "hf":
        return HFBackend(settings, model_path)
    raise GenerationError(f"unknown backend {kind!r}; use auto, vllm or hf")


# -- the resumable predictions file --------------------------------------------------------------------

def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Rows of a predictions file. A torn last line (a crash mid-write) is ignored; other bad lines raise."""
    if not path.exists():
        return []
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            if n == len(lines):
                log.warning("%s: ignoring a torn last line %d (interrupted write)", path, n)
                break
            raise GenerationError(f"{path} line {n}: not JSON ({err})") from err
    return rows


def _settings_of(row: dict[str, Any]) -> dict[str, Any]:
    return row.get("settings", {})


def _truncate_torn_tail(path: Path) -> None:
    """Cut a partial last line so appended rows start on a fresh line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        with open(path, "r+b") as f:
            f.truncate(keep)


def generate_predictions(items: Sequence[Item], backend_factory: Callable[[], Backend], settings: GenSettings,
                         path: Path, batch_size: int) -> dict[str, Any]:
    """Generate for every item not yet in `path`, appending one row per item after each batch.

    The backend is built only when something is left to do. Returns counts and throughput.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = read_predictions(path)
    want = asdict(settings)
    for row in existing:
        if _settings_of(row) != want:
            raise GenerationError(
                f"{path} holds predictions made with other settings ({_settings_of(row)}), not {want}; "
                "use another output directory (or move that file aside)"
            )
    done = {row["id"] for row in existing}
    todo = [it for it in items if it.id not in done]
    stats: dict[str, Any] = {"total": len(items), "skipped": len(items) - len(todo), "generated": 0,
                             "seconds": 0.0, "items_per_s": None, "backend": None}
    if not todo:
        log.info("all %d items already in %s", len(items), path)
        return stats
    if path.exists():
        _truncate_torn_tail(path)
    backend = backend_factory()
    stats["backend"] = backend.name
    log.info("generating %d items (%d already done) with %s", len(todo), stats["skipped"], backend.name)
    t0 = time.monotonic()
    with open(path, "a", encoding="utf-8") as f:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            b0 = time.monotonic()
            responses = backend.generate(batch)
            if len(responses) != len(batch):
                raise GenerationError(f"backend {backend.name} returned {len(responses)} responses for {len(batch)}")
            secs = (time.monotonic() - b0) / len(batch)
            for it, resp in zip(batch, responses):
                row = {**it.record(), "response": resp, "backend": backend.name, "settings": want,
                       "gen_seconds": round(secs, 4)}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
            stats["generated"] += len(batch)
            log.info("generated %d/%d", stats["generated"], len(todo))
    stats["seconds"] = round(time.monotonic() - t0, 3)
    stats["items_per_s"] = round(stats["generated"] / max(stats["seconds"], 1e-9), 3)
    return stats
