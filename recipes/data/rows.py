"""One raw `{images, problem, answer}` row checked against the settings (`prepare_row`): text present,
images decodable, `<image>` placeholders matching, every image within the pixel ceiling after Qwen's
resize, the prompt within its token limit."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import DictConfig, OmegaConf

from recipes.checks import ConfigError, schema_problems
from recipes.data.errors import RowReject
from recipes.data.images import CleanImage, clean_image, image_bytes
from recipes.data.qwen_vl import IMAGE_TAG, counter_for, smart_resize
from recipes.families import QWEN2_5_VL

ON_BAD_ROW = ("error", "skip")
"""`error` stops at the first bad row; `skip` writes it to the rejects file and goes on."""
FROM_DATA = ("system_prompt", "max_pixels", "min_pixels", "max_prompt_length", "on_bad_row", "max_rows", "num_workers")
"""The RowSettings fields read from the schema's data settings (same names; declared, typed, defaulted and
checked there: recipes/pipeline/config.py DataConfig)."""


@dataclass(frozen=True)
class RowSettings:
    """How rows are checked and converted: the schema's data settings (`cfg.data`), checked and resolved
    (`from_data`; the only way the stages and the converters build one). All of it but `num_workers` is part
    of a conversion's settings hash."""

    system_prompt: str | None
    """The system message; None: none of its own (the reference's RL prompt, see GRPO/rl_rows.py)."""
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

    @classmethod
    def from_data(cls, data: DictConfig | Any, model_path: str | None, **changes: Any) -> RowSettings:
        """From the schema's data settings: `cfg.data` of a composed recipe (or a DataConfig, the schema's
        dataclass) and the resolved model dir; `changes` set fields directly. Values the schema refuses (its
        field rules and relations, data settings among `changes` included) raise ConfigError with the
        pipeline's one line per problem (`data.on_bad_row='ignore': one of error, skip; ...`)."""
        if not isinstance(data, DictConfig) and not dataclasses.is_dataclass(data):
            raise TypeError(f"RowSettings.from_data needs cfg.data (the schema's DataConfig), got {type(data).__name__}")
        node = data if isinstance(data, DictConfig) else OmegaConf.structured(data)
        schema = OmegaConf.get_type(node)
        if not dataclasses.is_dataclass(schema):
            raise TypeError("RowSettings.from_data needs cfg.data (the schema's DataConfig), got an untyped DictConfig")
        given = {k: v for k, v in changes.items() if k in node and v is not None}
        checked = OmegaConf.merge(node, given) if given else node
        problems = schema_problems(schema, checked, "data.")
        if problems:
            raise ConfigError("data settings refused; nothing was converted:", problems)
        return cls(model_path=model_path, **{n: checked[n] for n in FROM_DATA if n not in changes}, **changes)

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
