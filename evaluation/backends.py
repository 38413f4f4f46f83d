"""Generation behind one interface (`Backend`): vLLM on GPUs, transformers `generate` as the CPU fallback,
and the chat prompt both build from an item."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from evaluation.bench_data import Item

log = logging.getLogger(__name__)


class GenerationError(RuntimeError):
    """Generation cannot start or its predictions file does not fit this run."""


@dataclass(frozen=True)
class GenSettings:
    """What determines a prediction besides the item (recorded on every predictions row)."""

    model: str
    system_prompt: str
    user_suffix: str = ""
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 2048
    seed: int = 0
    max_pixels: int | None = None
    min_pixels: int | None = None


def build_messages(item: Item, system_prompt: str, user_suffix: str = "") -> list[dict[str, Any]]:
    """Chat messages: the system prompt, then the item's image(s) and `question + user_suffix`."""
    content: list[dict[str, Any]] = [{"type": "image"} for _ in item.images]
    content.append({"type": "text", "text": item.question + user_suffix})
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": content}]


def render_prompt(processor: Any, item: Item, settings: GenSettings) -> str:
    """The prompt text through the model's own chat template, ending with the assistant turn opener."""
    return processor.apply_chat_template(
        build_messages(item, settings.system_prompt, settings.user_suffix), tokenize=False,
        add_generation_prompt=True,
    )


@dataclass(frozen=True)
class Generation:
    """One response and how it ended."""

    text: str
    finish_reason: str
    """`stop` (end of sequence) or `length` (cut off at max_new_tokens); vLLM's own value otherwise."""
    prompt_tokens: int
    completion_tokens: int


class Backend(Protocol):
    name: str

    def generate(self, items: Sequence[Item]) -> list[Generation]:
        """One generation per item, in order."""


def _pixel_kwargs(s: GenSettings) -> dict[str, int]:
    out = {}
    if s.min_pixels is not None:
        out["min_pixels"] = s.min_pixels
    if s.max_pixels is not None:
        out["max_pixels"] = s.max_pixels
    return out


def _hf_finish(tokens: list[int], stop_ids: set[int], pad_id: int | None) -> tuple[str, int]:
    """(finish reason, completion tokens) of one row of `generate`'s new tokens (right-padded after a stop)."""
    for i, t in enumerate(tokens):
        if t in stop_ids:
            return "stop", i + 1
    n = len(tokens)
    while n and pad_id is not None and tokens[n - 1] == pad_id and pad_id not in stop_ids:
        n -= 1
    return "length", n


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
        eos = self.model.generation_config.eos_token_id
        self._stop_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self._pad_id = self.processor.tokenizer.pad_token_id

    def generate(self, items: Sequence[Item]) -> list[Generation]:
        texts = [render_prompt(self.processor, it, self.settings) for it in items]
        return self.generate_prompts(texts, [img for it in items for img in it.pil_images()])

    def generate_prompts(self, texts: Sequence[str], images: Sequence[Any] = ()) -> list[Generation]:
        """One generation per prompt already rendered through the chat template (`images`: every prompt's
        images, in order), with this backend's model, settings and sampling pins (SFT/box_rate.py uses it)."""
        torch = self._torch
        s = self.settings
        inputs = self.processor(text=list(texts), images=list(images) or None, return_tensors="pt", padding=True)
        inputs = inputs.to(self.device)
        # Every sampling knob is set, so the model's generation_config.json does not leak in (Qwen2.5-VL
        # ships top_k 1, top_p 0.001, repetition_penalty 1.05: near-greedy at any temperature, and a
        # penalty even when greedy). vLLM, given explicit SamplingParams, applies none of them either.
        kwargs: dict[str, Any] = {"max_new_tokens": s.max_new_tokens, "repetition_penalty": 1.0}
        if s.temperature > 0:
            torch.manual_seed(s.seed)
            kwargs.update(do_sample=True, temperature=s.temperature, top_p=s.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **kwargs)
        new = out[:, inputs["input_ids"].shape[1]:]
        texts = self.processor.batch_decode(new, skip_special_tokens=True)
        prompt_lens = inputs["attention_mask"].sum(dim=1).tolist()
        out_rows = []
        for text, row, n in zip(texts, new, prompt_lens):
            reason, n_new = _hf_finish(row.tolist(), self._stop_ids, self._pad_id)
            out_rows.append(Generation(text, reason, int(n), n_new))
        return out_rows


class VLLMBackend:
    """vLLM offline inference (GPU): continuous batching, tensor parallel, images via multi_modal_data."""

    name = "vllm"

    def __init__(self, settings: GenSettings, model_path: str, tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, max_model_len: int = 8192, max_images: int = 1,
                 enforce_eager: bool = False):
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
            enforce_eager=enforce_eager,  # no torch.compile / CUDA-graph capture: 1-2 min saved at each start
        )
        self.params = SamplingParams(
            temperature=settings.temperature, top_p=settings.top_p if settings.temperature > 0 else 1.0,
            max_tokens=settings.max_new_tokens, seed=settings.seed,
        )

    def request(self, item: Item) -> dict[str, Any]:
        """One vLLM prompt: the chat text through the model's template, and the item's images."""
        req: dict[str, Any] = {"prompt": render_prompt(self.processor, item, self.settings)}
        if item.images:
            imgs = item.pil_images()
            req["multi_modal_data"] = {"image": imgs if len(imgs) > 1 else imgs[0]}
        return req

    def generate(self, items: Sequence[Item]) -> list[str]:
        outputs = self.llm.generate([self.request(it) for it in items], self.params, use_tqdm=False)
        return [Generation(o.outputs[0].text, str(o.outputs[0].finish_reason or "stop"), len(o.prompt_token_ids or ()),
                           len(o.outputs[0].token_ids)) for o in outputs]


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
