"""The four benchmarks as one item shape: prompt text, images, gold, options, answer kind, metadata.

Each benchmark is a small table of column mappings (`BenchmarkSpec`); `load_items` reads any of them
from a hub id or a local dataset dir through `datasets.load_dataset`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

LETTERS = "ABCDEFGHIJ"


class BenchmarkError(ValueError):
    """A benchmark row that does not have the columns / values its benchmark promises."""


@dataclass
class Item:
    """One evaluation question, whatever benchmark it came from."""

    id: str
    """`<benchmark>/<native id>` (unique within a predictions file)."""
    benchmark: str
    question: str
    """User text of the prompt (choices rendered in when the benchmark's own text lacks them)."""
    gold: str
    """Ground truth: a letter for multiple choice, else the answer text."""
    options: list[str] | None
    """Option texts, the first is (A); None for free-form questions."""
    answer_kind: str
    """`choice`, `integer`, `float`, `list`, `text` or `free`."""
    precision: int | None = None
    """Decimals a float answer is compared at (MathVista)."""
    unit: str | None = None
    """Unit the answer may carry (MathVista), stripped from predictions before grading."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Breakdown keys: problem_version, subject, level, knowledge_concept, wemath_key, ..."""
    images: list[Any] = field(default_factory=list, repr=False)
    """PIL images, or undecoded `{"bytes", "path"}` dicts decoded only when generating (never written to
    predictions); use `pil_images()`."""

    def pil_images(self) -> list[Any]:
        """The images as RGB PIL images (decoding stored bytes / paths now)."""
        return [_decode(img, self.id) for img in self.images]

    def record(self) -> dict[str, Any]:
        """Everything the scorer needs, JSON-ready (images excluded)."""
        return {
            "id": self.id, "benchmark": self.benchmark, "question": self.question, "gold": self.gold,
            "options": self.options, "answer_kind": self.answer_kind, "precision": self.precision,
            "unit": self.unit, "meta": self.meta,
        }


# -- column helpers ----------------------------------------------------------------------------------

def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def _as_int(value: Any) -> int | None:
    if _blank(value):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _list_options(value: Any) -> list[str] | None:
    """A list column (MathVista `choices`, MathVision `options`); empty or None -> None."""
    if _blank(value):
        return None
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"expected a list of option texts, got {type(value).__name__}")
    opts = [str(o).strip() for o in value]
    return opts or None


# "A. 8 cm; B. 10 cm", "A:40°\nB:50°", "(A) 3 (B) 4": a letter marker then its text, up to the next marker.
_MARK = r"(?:\(([A-J])\)|(?<![A-Za-z])([A-J])\s*[.:：)])"
_MARKER_RE = re.compile(r"(?:^|(?<=[\s;；]))" + _MARK)


def parse_option_text(text: str | None) -> list[str] | None:
    """Options written as text: `A. 8 cm; B. 10 cm`, `A:40°\\nB:50°`, `(A) 3 (B) 4` -> texts (A first).

    The last run of consecutive markers starting at A is used; fewer than two markers -> None.
    """
    if _blank(text):
        return None
    chain: list[re.Match[str]] = []
    best: list[re.Match[str]] = []
    for m in _MARKER_RE.finditer(text):
        idx = LETTERS.index(m.group(1) or m.group(2))
        if idx == 0:
            chain = [m]
        elif chain and idx == len(chain):
            chain.append(m)
        else:
            continue
        if len(chain) >= 2:
            best = list(chain)
    if len(best) < 2:
        return None
    out = []
    for k, m in enumerate(best):
        end = best[k + 1].start() if k + 1 < len(best) else len(text)
        part = text[m.end():end]
        if k + 1 == len(best):
            part = part.split("\n", 1)[0]
        out.append(part.strip().rstrip(";；,").strip())
    return out


def _text_options(value: Any) -> list[str] | None:
    if _blank(value):
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected option text like 'A. x; B. y', got {type(value).__name__}")
    opts = parse_option_text(value)
    if opts is None:
        raise ValueError(f"no 'A. ...; B. ...' options found in {value[:80]!r}")
    return opts


def render_choices(options: list[str]) -> str:
    return "Choices: " + " ".join(f"({LETTERS[i]}) {o}" for i, o in enumerate(options))


# -- the table ---------------------------------------------------------------------------------------

Row = dict[str, Any]


@dataclass(frozen=True)
class BenchmarkSpec:
    """How one benchmark's columns become `Item`s."""

    name: str
    title: str
    id_cols: tuple[str, ...]
    """Columns that together identify a row (We-Math: ID and key; its ID names a problem group)."""
    question_col: str
    answer_col: str
    image_cols: tuple[str, ...]
    """Image columns, first non-empty wins (decoded images before paths)."""
    options: Callable[[Row], list[str] | None]
    question_has_choices: bool
    """True when the question text already lists the choices (MathVerse)."""
    kind: Callable[[Row, list[str] | None], str]
    meta: dict[str, str]
    """Our breakdown key -> column."""
    precision_col: str | None = None
    unit_col: str | None = None
    mcq_text_gold: bool = False
    """Gold is the option text (MathVista): map it to its letter."""


def _kind_mathvista(row: Row, options: list[str] | None) -> str:
    if row.get("question_type") == "multi_choice":
        return "choice"
    return str(row.get("answer_type") or "free")


def _kind_mc_or_free(row: Row, options: list[str] | None) -> str:
    if options:
        return "choice"
    qt = str(row.get("question_type") or "")
    if qt.startswith("multi"):
        return "choice"
    return "free"


def _mathverse_options(row: Row) -> list[str] | None:
    if not str(row.get("question_type") or "").startswith("multi"):
        return None
    return parse_option_text(row.get("question"))


SPECS: dict[str, BenchmarkSpec] = {
    "mathvista": BenchmarkSpec(
        name="mathvista", title="MathVista", id_cols=("pid",), question_col="question", answer_col="answer",
        image_cols=("decoded_image", "image"), options=lambda r: _list_options(r.get("choices")),
        question_has_choices=False, kind=_kind_mathvista,
        meta={"question_type": "question_type", "answer_type": "answer_type"},
        precision_col="precision", unit_col="unit", mcq_text_gold=True,
    ),
    "wemath": BenchmarkSpec(
        name="wemath", title="We-Math", id_cols=("ID", "key"), question_col="question", answer_col="answer",
        image_cols=("image_path", "image"), options=lambda r: _text_options(r.get("option")),
        question_has_choices=False, kind=_kind_mc_or_free,
        meta={"group": "ID", "key": "key", "knowledge_concept": "knowledge concept"},
    ),
    "mathverse": BenchmarkSpec(
        name="mathverse", title="MathVerse", id_cols=("sample_index",), question_col="question", answer_col="answer",
        image_cols=("image",), options=_mathverse_options, question_has_choices=True, kind=_kind_mc_or_free,
        meta={"problem_version": "problem_version", "problem_index": "problem_index",
              "question_type": "question_type"},
    ),
    "mathvision": BenchmarkSpec(
        name="mathvision", title="MathVision", id_cols=("id",), question_col="question", answer_col="answer",
        image_cols=("decoded_image", "image"), options=lambda r: _list_options(r.get("options")),
        question_has_choices=False, kind=_kind_mc_or_free, meta={"subject": "subject", "level": "level"},
    ),
}
"""Benchmark name -> column mapping."""

BENCHMARKS = tuple(SPECS)
_IMAGE_TAG_RE = re.compile(r"<image\d*>")
_VISION_ONLY_PROMPT = "Answer the question shown in the image."


def _decode(img: Any, item_id: str) -> Any:
    import io

    from PIL import Image, UnidentifiedImageError

    from recipes.rowdata import to_rgb  # alpha on white, as the training images were converted

    if isinstance(img, Image.Image):
        return img if img.mode == "RGB" else to_rgb(img)
    try:
        with Image.open(io.BytesIO(img["bytes"]) if img.get("bytes") else img["path"]) as im:
            return to_rgb(im)
    except (OSError, UnidentifiedImageError) as err:
        raise BenchmarkError(f"{item_id}: cannot decode its image ({err})") from err


def _images(row: Row, spec: BenchmarkSpec, where: str) -> list[Any]:
    from PIL import Image

    for col in spec.image_cols:
        value = row.get(col)
        if isinstance(value, Image.Image):
            return [value]
        if isinstance(value, dict) and (value.get("bytes") or value.get("path")):
            return [{"bytes": value.get("bytes"), "path": value.get("path")}]
    raise BenchmarkError(f"{where}: no image in column(s) {', '.join(spec.image_cols)} (expected an image)")


def item_from_row(spec: BenchmarkSpec, row: Row, where: str) -> Item:
    """Turn one dataset row into an Item; BenchmarkError names the row and column when it cannot."""
    for col in (*spec.id_cols, spec.question_col, spec.answer_col):
        if col not in row:
            raise BenchmarkError(f"{where}: missing column {col!r} (columns: {', '.join(sorted(row))})")
    native_id = "|".join(str(row[c]) for c in spec.id_cols)
    gold = row[spec.answer_col]
    if _blank(gold):
        raise BenchmarkError(f"{where}: empty {spec.answer_col!r} (id {native_id!r})")
    gold = str(gold).strip()
    try:
        options = spec.options(row)
    except (TypeError, ValueError) as err:
        raise BenchmarkError(f"{where}: bad options (id {native_id!r}): {err}") from err
    question = _IMAGE_TAG_RE.sub("", str(row[spec.question_col] or "")).strip()
    if not question:
        question = _VISION_ONLY_PROMPT  # MathVerse "Vision Only": the whole question is in the image
    if options and not spec.question_has_choices:
        question = f"{question}\n{render_choices(options)}"
    kind = spec.kind(row, options)
    meta: dict[str, Any] = {"native_id": native_id}
    for key, col in spec.meta.items():
        value = row.get(col)
        meta[key] = None if _blank(value) else value
    if spec.mcq_text_gold and kind == "choice" and options:
        if gold in options:
            meta["gold_text"] = gold
            gold = LETTERS[options.index(gold)]
        else:
            log.warning("%s: gold %r is not one of the choices %s; graded as text", where, gold, options)
    if kind == "choice" and options and len(gold) == 1 and gold in LETTERS and LETTERS.index(gold) >= len(options):
        raise BenchmarkError(f"{where}: gold letter {gold!r} but only {len(options)} options (id {native_id!r})")
    return Item(
        id=f"{spec.name}/{native_id}", benchmark=spec.name, question=question, gold=gold, options=options,
        answer_kind=kind, precision=_as_int(row.get(spec.precision_col)) if spec.precision_col else None,
        unit=None if not spec.unit_col or _blank(row.get(spec.unit_col)) else str(row[spec.unit_col]).strip(),
        meta=meta, images=_images(row, spec, where),
    )


def iter_items(name: str, rows: Any, source: str, limit: int | None = None) -> Iterator[Item]:
    """Items of benchmark `name` from an iterable of rows (a `datasets.Dataset` or a list of dicts)."""
    if name not in SPECS:
        raise BenchmarkError(f"unknown benchmark {name!r}; known: {', '.join(SPECS)}")
    spec = SPECS[name]
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if limit is not None and i >= limit:
            break
        item = item_from_row(spec, row, f"{spec.title} {source} row {i}")
        if item.id in seen:
            log.warning("%s %s row %d: duplicate id %r; using %r", spec.title, source, i, item.id, f"{item.id}#{i}")
            item.id = f"{item.id}#{i}"
        seen.add(item.id)
        yield item


def load_items(name: str, path: str, split: str, limit: int | None = None, config: str | None = None) -> list[Item]:
    """Load benchmark `name` from `path` (hub id or local dataset dir), split `split`, first `limit` rows."""
    import datasets

    try:
        ds = datasets.load_dataset(path, config, split=split) if config else datasets.load_dataset(path, split=split)
    except ValueError as err:
        raise BenchmarkError(f"{name}: cannot load split {split!r} of {path!r}: {err}") from err
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    for col, feature in ds.features.items():  # keep images encoded until generation needs them
        if isinstance(feature, datasets.Image) and feature.decode:
            ds = ds.cast_column(col, datasets.Image(decode=False))
    items = list(iter_items(name, ds, f"{path}[{split}]"))
    log.info("%s: %d items from %s[%s]", name, len(items), path, split)
    return items
