"""Qwen-VL geometry and prompts: the image resize (`smart_resize`, at the family's patch x merge factor),
prompt-token counting (`PromptCounter`, from the model dir's own processor config and chat template) and
`<image>`-tagged text as typed chat parts."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from recipes.data.errors import RowReject

IMAGE_TAG = "<image>"
QWEN_MIN_TOKENS = 4
"""qwen_vl_utils' default image floor in tokens (IMAGE_MIN_TOKEN_NUM), what ms-swift uses without MIN_PIXELS."""
QWEN_MIN_PIXELS = QWEN_MIN_TOKENS * 28 * 28
"""That floor in pixels for Qwen2.5-VL (4 x 28 x 28); `min_pixels_floor` gives any family's."""
MAX_ASPECT_RATIO = 200
"""qwen_vl_utils' smart_resize raises beyond this aspect ratio."""


def min_pixels_floor(model_path: str | None) -> int:
    """qwen_vl_utils' image floor for the model's family (4 tokens: 3,136 pixels for Qwen2.5-VL, 4,096 for
    Qwen3-VL); Qwen2.5-VL's when the family is unknown."""
    from recipes.families import family_or_none

    fam = family_or_none(model_path)
    return fam.pixels(QWEN_MIN_TOKENS) if fam else QWEN_MIN_PIXELS


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """The size Qwen2.5-VL's preprocessing gives an image (qwen_vl_utils / transformers `smart_resize`)."""
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise RowReject(None, f"aspect ratio {max(height, width) / min(height, width):.0f} > {MAX_ASPECT_RATIO} "
                              f"({width}x{height}): Qwen-VL's resize rejects it")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


class PromptCounter:
    """Counts a chat prompt's tokens as the model's processor would, image tokens included.

    Torch-free and fast: the model's chat template (jinja), its `tokenizer.json` (tokenizers) and its
    image processor's patch / merge sizes and pixel bounds. tests/test_convert_rl.py checks it against
    the real processor through verl's RLHFDataset.
    """

    def __init__(self, model_dir: str | Path):
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.template = self._compile(_chat_template(model_dir))
        ip = _image_processor_config(model_dir)
        self.patch = int(ip.get("patch_size", 14))
        self.merge = int(ip.get("merge_size", 2))
        size = ip.get("size") or {}
        self.proc_min = int(ip.get("min_pixels") or size.get("shortest_edge") or 56 * 56)
        self.proc_max = int(ip.get("max_pixels") or size.get("longest_edge") or 28 * 28 * 1280)

    @staticmethod
    def _compile(source: str) -> Any:
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(msg: str) -> None:
            raise ValueError(msg)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        env.filters["tojson"] = lambda x, **kw: json.dumps(x, ensure_ascii=False, **kw)
        env.globals["raise_exception"] = raise_exception
        return env.from_string(source)

    def image_tokens(self, height: int, width: int, min_pixels: int, max_pixels: int) -> tuple[int, tuple[int, int]]:
        """Tokens of one image after the data-level resize and then the processor's own resize."""
        factor = self.patch * self.merge
        h, w = smart_resize(height, width, factor, min_pixels, max_pixels)
        h, w = smart_resize(h, w, factor, self.proc_min, self.proc_max)
        return (h // self.patch) * (w // self.patch) // (self.merge ** 2), (h, w)

    def count(self, system: str | None, user_text: str, image_tokens: list[int]) -> int:
        """Tokens of [system, user] + generation prompt, `<image>` tags in `user_text` becoming images; with
        `system` None, what the chat template writes for a conversation without one (Qwen2.5-VL: its default)."""
        user = {"role": "user", "content": typed_parts(user_text)}
        messages = [user] if system is None else [{"role": "system", "content": system}, user]
        text = self.template.render(messages=messages, add_generation_prompt=True)
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        return len(ids) - len(image_tokens) + sum(image_tokens)


def _chat_template(model_dir: Path) -> str:
    if (model_dir / "chat_template.jinja").is_file():
        return (model_dir / "chat_template.jinja").read_text(encoding="utf-8")
    for name in ("chat_template.json", "processor_config.json", "tokenizer_config.json"):
        p = model_dir / name
        if p.is_file():
            tmpl = json.loads(p.read_text(encoding="utf-8")).get("chat_template")
            if isinstance(tmpl, str):
                return tmpl
    raise FileNotFoundError(f"model {model_dir}: no chat template (chat_template.jinja / .json, tokenizer_config)")


def _image_processor_config(model_dir: Path) -> dict[str, Any]:
    p = model_dir / "preprocessor_config.json"
    if p.is_file():
        return json.loads(p.read_text(encoding="utf-8"))
    p = model_dir / "processor_config.json"
    if p.is_file():
        return json.loads(p.read_text(encoding="utf-8")).get("image_processor", {})
    raise FileNotFoundError(f"model {model_dir}: no preprocessor_config.json or processor_config.json")


def typed_parts(text: str) -> list[dict[str, str]]:
    """`<image>`-tagged text -> the typed content parts chat templates take (`{"type": "image"}`, text)."""
    parts: list[dict[str, str]] = []
    for k, seg in enumerate(text.split(IMAGE_TAG)):
        if k:
            parts.append({"type": "image"})
        if seg:
            parts.append({"type": "text", "text": seg})
    return parts


_COUNTERS: dict[str, PromptCounter] = {}


def counter_for(model_path: str | None) -> PromptCounter | None:
    """One PromptCounter per model per process (loaded on first use in each worker)."""
    if model_path is None:
        return None
    if model_path not in _COUNTERS:
        _COUNTERS[model_path] = PromptCounter(model_path)
    return _COUNTERS[model_path]
