"""One raw `{images, problem, answer}` row checked against the settings (`prepare_row`): text present,
images decodable, `<image>` placeholders matching, every image within the pixel ceiling after Qwen's
resize, the prompt within its token limit."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from recipes.data.errors import RowReject
from recipes.data.images import CleanImage, clean_image, image_bytes
from recipes.data.qwen_vl import IMAGE_TAG, counter_for, smart_resize
from recipes.families import QWEN2_5_VL

ON_BAD_ROW = ("error", "skip")
"""`error` stops at the first bad row; `skip` writes it to the rejects file and goes on."""


@dataclass(frozen=True)
class RowSettings:
    """How rows are checked and converted: `cfg.data`'s settings, resolved (`from_data`). All of it but
    `num_workers` is part of a conversion's settings hash."""

    system_prompt: str | None
    """The system message; None: none of its own (the reference's RL prompt, see GRPO/convert.py)."""
    max_pixels: int
    min_pixels: int
    max_prompt_length: int | None
    """Prompt token limit, images included; None skips the check."""
    model_path: str | None
    """Model dir whose tokenizer / chat template / image processor count prompt tokens; None skips the check."""
    on_bad_row: str
    max_rows: int | None = None
    """Convert only the first N rows; None converts everything."""
    num_workers: int = 1
    """Worker processes (1: in this process)."""
    image_dir: str | None = None
    """Where image files go (SFT); None keeps images inline (RL parquet)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.on_bad_row not in ON_BAD_ROW:
            raise ValueError(f"on_bad_row must be one of {', '.join(ON_BAD_ROW)}, got {self.on_bad_row!r}")
        if self.num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {self.num_workers}")

    @classmethod
    def from_data(cls, data: Any, model_path: str | None, **changes: Any) -> RowSettings:
        """From `cfg.data` (its DictConfig, a DataConfig, or command-line args with the same names) and the
        resolved model dir; `changes` set fields directly (and are not read from `data`)."""
        names = ("system_prompt", "max_pixels", "min_pixels", "max_prompt_length", "on_bad_row", "max_rows",
                 "num_workers")
        return cls(model_path=model_path, **{n: getattr(data, n) for n in names if n not in changes}, **changes)

    def hashed(self) -> dict[str, Any]:
        """The fields that decide the output (all but `num_workers`)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "num_workers"}


def text_cell(row: dict[str, Any], column: str) -> str:
    """A non-empty text cell (numbers become text), else RowReject."""
    value = row.get(column)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise RowReject(column, f"empty {column}" if value is None or isinstance(value, str)
                        else f"{column} is a {type(value).__name__}, expected text")
    return value


def with_placeholders(problem: str, n_images: int) -> str:
    """`problem` with exactly one `<image>` per image: its own tags when it has any (the count must
    match), else one tag per image prepended."""
    k = problem.count(IMAGE_TAG)
    if k == 0:
        return IMAGE_TAG * n_images + problem
    if k != n_images:
        raise RowReject("problem", f"{k} {IMAGE_TAG} placeholder(s) in the problem but {n_images} image(s) "
                                   "in 'images'")
    return problem


@dataclass
class PreparedRow:
    """The format-independent result of checking one row."""

    problem: str
    """With one `<image>` tag per image."""
    answer: str
    images: list[CleanImage]
    prompt_tokens: int | None


def prepare_row(row: dict[str, Any], s: RowSettings) -> PreparedRow:
    """Validate a raw `{images, problem, answer}` row: text present, images decodable, placeholders
    matching, every image within max_pixels after Qwen's resize, prompt within max_prompt_length."""
    problem = text_cell(row, "problem")
    answer = text_cell(row, "answer")
    raw_images = row.get("images")
    if raw_images is None:
        raw_images = []
    if not isinstance(raw_images, list):
        raw_images = [raw_images]
    images = []
    for k, cell in enumerate(raw_images):
        try:
            images.append(clean_image(image_bytes(cell)))
        except RowReject as err:
            raise RowReject("images", f"image {k}: {err.reason}") from None
    problem = with_placeholders(problem, len(images))
    counter = counter_for(s.model_path)
    factor = counter.patch * counter.merge if counter else QWEN2_5_VL.factor  # no model dir: the paper's family
    tokens = []
    for k, im in enumerate(images):
        try:
            h, w = smart_resize(im.height, im.width, factor, s.min_pixels, s.max_pixels)
            if h * w > s.max_pixels:
                raise RowReject(None, f"{im.width}x{im.height} becomes {w}x{h} = {w * h} pixels after "
                                      f"resizing, above max_pixels {s.max_pixels}")
            if counter:
                tokens.append(counter.image_tokens(im.height, im.width, s.min_pixels, s.max_pixels)[0])
        except RowReject as err:
            raise RowReject("images", f"image {k}: {err.reason}") from None
    n_tokens = None
    if counter:
        n_tokens = counter.count(s.system_prompt, problem, tokens)
        if s.max_prompt_length is not None and n_tokens > s.max_prompt_length:
            raise RowReject("problem", f"prompt is {n_tokens} tokens with its {len(images)} image(s), above "
                                       f"max_prompt_length {s.max_prompt_length}")
    return PreparedRow(problem, answer, images, n_tokens)
