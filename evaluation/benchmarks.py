"""The four benchmarks as one item shape: prompt text, images, gold, options, answer kind, metadata.

Each benchmark is a small table of column mappings (`BenchmarkSpec`); `load_items` reads any of them
from a hub id or a local dataset dir through `datasets.load_dataset`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
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
    """User text of the prompt as the benchmark's official tools build it (choices rendered in when its own
    text lacks them); the preset's instruction is added when generating."""
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


# "A. 8 cm; B. 10 cm", "A:40°\nB:50°", "(A) 3 (B) 4", "A. ①;B．②" (We-Math, full-width stop), "（A）3":
# a letter marker then its text, up to the next marker.
_MARK = r"(?:[(（]([A-J])[)）]|(?<![A-Za-z])([A-J])\s*[.:：)．、])"
_MARKER_RE = re.compile(r"(?:^|(?<=[\s;；,，]))" + _MARK)


_EMPTY_AFTER_RE = re.compile(r"\s*(?:[;；]|$)")
_MAX_LETTER_GAP = 2


def parse_option_text(text: str | None) -> list[str] | None:
    """Options written as text: `A. 8 cm; B. 10 cm`, `A:40°\\nB:50°`, `(A) 3 (B) 4` -> texts (A first).

    The last run of markers starting at A is used; fewer than two markers -> None. Real We-Math quirks:
    a "marker" with nothing after it before the next `;` is text (`around point ;O.;B. ...`), and a
    chain may skip up to two letters after a `;` (`C. No.; F. No correct answer`): the skipped letters
    get empty texts, so every letter keeps its written meaning.
    """
    if _blank(text):
        return None
    chain: list[re.Match[str] | None] = []
    best: list[re.Match[str] | None] = []
    for m in _MARKER_RE.finditer(text):
        if _EMPTY_AFTER_RE.match(text, m.end()):
            continue
        idx = LETTERS.index(m.group(1) or m.group(2))
        if idx == 0:
            chain = [m]
        elif chain and idx == len(chain):
            chain.append(m)
        elif chain and len(chain) < idx <= len(chain) + _MAX_LETTER_GAP and text[:m.start()].rstrip().endswith(
                (";", "；")):
            chain += [None] * (idx - len(chain)) + [m]
        else:
            continue
        if len(chain) >= 2:
            best = list(chain)
    if len(best) < 2:
        return None
    out = []
    for k, m in enumerate(best):
        if m is None:
            out.append("")
            continue
        nxt = next((x for x in best[k + 1:] if x is not None), None)
        part = text[m.end():nxt.start() if nxt is not None else len(text)]
        if nxt is None:
            part = part.split("\n", 1)[0]
        out.append(part.strip().rstrip(";；,，").strip())
    return out


class OptionsUnparsed(ValueError):
    """An option string with no `A. ...; B. ...` markers: the item is kept, its raw options shown."""


def _text_options(value: Any) -> list[str] | None:
    if _blank(value):
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected option text like 'A. x; B. y', got {type(value).__name__}")
    opts = parse_option_text(value)
    if opts is None:
        raise OptionsUnparsed(f"no 'A. ...; B. ...' options found in {value[:80]!r}")
    return opts


def render_choices(options: list[str]) -> str:
    """`Choices: (A) x (B) y`; letters a source skipped (empty texts) are left out."""
    return "Choices: " + " ".join(f"({LETTERS[i]}) {o}" for i, o in enumerate(options) if o)


def letters_only(options: list[str] | None) -> bool:
    """True when the options are just their own letters (`A`..`E`: MATH-V's answer-in-the-image items)."""
    return bool(options) and [o.strip() for o in options] == list(LETTERS[: len(options)])


# -- prompts as the official tools build them ---------------------------------------------------------

Row = dict[str, Any]

# MathVista `query` hints end with a format request ("..., e.g., 1.2, 1.3, 1.4, at the end."); the
# answer-type and precision part stays, the format part gives way to the preset's own instruction.
_MATHVISTA_FORMAT_RE = re.compile(r",\s*e\.g\.,[^\n]*?,\s*at the end\.")
IN_IMAGE_PROMPT = "According to the question shown in the image, please answer the question."
"""The text of a row whose whole question is in its image (MathVerse Vision Only; MATH-V rows whose question
is just `<image1>`): MathVerse's official `query_cot` wording, less its format request ("..., and provide
the correct option letter, e.g., A, B, C, D, at the end")."""
_IMAGE_TAG_RE = re.compile(r"<image\d*>")


def _clean(text: Any) -> str:
    return _IMAGE_TAG_RE.sub("", "" if _blank(text) else str(text)).strip()


def _prompt_mathvista(row: Row, options: list[str] | None) -> str:
    """The official `query` (hint with answer type and precision, question, "(Unit: ...)", choices) with
    its format request removed; rows without `query` get question + unit + choices."""
    query = _clean(row.get("query"))
    if query:
        return _MATHVISTA_FORMAT_RE.sub(".", query, count=1)
    question = _clean(row.get("question"))
    if not _blank(row.get("unit")):
        question = f"{question} (Unit: {str(row['unit']).strip()})"
    return f"{question}\n{render_choices(options)}" if options else question


def _prompt_question(row: Row, options: list[str] | None) -> str:
    """`question` (`IN_IMAGE_PROMPT` when it is only an image tag), then the options unless they are only
    letters (MATH-V)."""
    question = _clean(row.get("question")) or IN_IMAGE_PROMPT
    if options and not letters_only(options):
        question = f"{question}\n{render_choices(options)}"
    return question


def _prompt_mathverse(row: Row, options: list[str] | None) -> str:
    """MathVerse `question` (it lists its own choices), as VLMEvalKit's MathVerse_MINI uses it; the
    README's `query_cot` adds a format request that conflicts with the boxed instruction."""
    return _clean(row.get("question")) or IN_IMAGE_PROMPT


# -- the table ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BenchmarkSpec:
    """How one benchmark's columns become `Item`s."""

    name: str
    title: str
    id_cols: tuple[str, ...]
    """Columns that together identify a row (We-Math: ID and key; its ID names a problem group)."""
    answer_col: str
    image_cols: tuple[str, ...]
    """Image columns, first non-empty wins (decoded images before paths)."""
    options: Callable[[Row], list[str] | None]
    prompt: Callable[[Row, list[str] | None], str]
    """The user text (without the preset's instruction), as the benchmark's official tools build it."""
    kind: Callable[[Row, list[str] | None], str]
    meta: dict[str, str]
    """Our breakdown key -> column."""
    raw_options_col: str | None = None
    """Column shown verbatim when its options cannot be parsed (the item is kept, graded by letter)."""
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
        name="mathvista", title="MathVista", id_cols=("pid",), answer_col="answer",
        image_cols=("decoded_image", "image"), options=lambda r: _list_options(r.get("choices")),
        prompt=_prompt_mathvista, kind=_kind_mathvista,
        meta={"question_type": "question_type", "answer_type": "answer_type"},
        precision_col="precision", unit_col="unit", mcq_text_gold=True,
    ),
    "wemath": BenchmarkSpec(
        name="wemath", title="We-Math", id_cols=("ID", "key"), answer_col="answer",
        image_cols=("image_path", "image"), options=lambda r: _text_options(r.get("option")),
        prompt=_prompt_question, kind=_kind_mc_or_free, raw_options_col="option",
        meta={"group": "ID", "key": "key", "knowledge_concept": "knowledge concept"},
    ),
    "mathverse": BenchmarkSpec(
        name="mathverse", title="MathVerse", id_cols=("sample_index",), answer_col="answer",
        image_cols=("image",), options=_mathverse_options, prompt=_prompt_mathverse, kind=_kind_mc_or_free,
        meta={"problem_version": "problem_version", "problem_index": "problem_index",
              "question_type": "question_type"},
    ),
    "mathvision": BenchmarkSpec(
        name="mathvision", title="MathVision", id_cols=("id",), answer_col="answer",
        image_cols=("decoded_image", "image"), options=lambda r: _list_options(r.get("options")),
        prompt=_prompt_question, kind=_kind_mc_or_free, meta={"subject": "subject", "level": "level"},
    ),
}
"""Benchmark name -> column mapping."""
SPECS["heldin"] = replace(SPECS["mathvista"], name="heldin", title="Tiny held-in")
"""The tiny world's held-in slice (`tiny:heldin`, recipes/tiny_world/data.py build_heldin): MathVista's columns."""

BENCHMARKS = tuple(SPECS)


def _decode(img: Any, item_id: str) -> Any:
    import io

    from PIL import Image, UnidentifiedImageError

    from recipes.data.images import to_rgb  # alpha on white, as the training images were converted

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
    """Turn one dataset row into an Item; BenchmarkError names the row and column when it cannot.

    Options that cannot be parsed (`raw_options_col`) do not lose the item: the raw text is shown and
    the letter graded; `meta["load_note"]` says so."""
    for col in (*spec.id_cols, spec.answer_col):
        if col not in row:
            raise BenchmarkError(f"{where}: missing column {col!r} (columns: {', '.join(sorted(row))})")
    native_id = "|".join(str(row[c]) for c in spec.id_cols)
    gold = row[spec.answer_col]
    if _blank(gold):
        raise BenchmarkError(f"{where}: empty {spec.answer_col!r} (id {native_id!r})")
    gold = str(gold).strip()
    meta: dict[str, Any] = {"native_id": native_id}
    try:
        options = spec.options(row)
    except OptionsUnparsed as err:
        if spec.raw_options_col is None:
            raise BenchmarkError(f"{where}: bad options (id {native_id!r}): {err}") from err
        options = None
        meta["load_note"] = f"options unparsed, shown verbatim and graded by letter: {err}"
        log.warning("%s (id %r): %s", where, native_id, meta["load_note"])
    except (TypeError, ValueError) as err:
        raise BenchmarkError(f"{where}: bad options (id {native_id!r}): {err}") from err
    question = spec.prompt(row, options)
    if "load_note" in meta:
        question = f"{question}\n{str(row[spec.raw_options_col]).strip()}"
    if not question:
        raise BenchmarkError(f"{where}: empty question (id {native_id!r})")
    kind = "choice" if "load_note" in meta else spec.kind(row, options)
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


@dataclass(frozen=True)
class Skipped:
    """An official row that could not become an item (reported, never fatal)."""

    benchmark: str
    row: int
    id: str | None
    why: str

    def record(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "row": self.row, "id": self.id, "why": self.why}


def _row_id(spec: BenchmarkSpec, row: Any) -> str | None:
    try:
        return "|".join(str(row[c]) for c in spec.id_cols)
    except (KeyError, TypeError):
        return None


def iter_items(name: str, rows: Any, source: str, limit: int | None = None,
               skipped: list[Skipped] | None = None) -> Iterator[Item]:
    """Items of benchmark `name` from an iterable of rows (a `datasets.Dataset` or a list of dicts).

    With a `skipped` list, a row that cannot become an item is appended there (and logged) instead of
    raising, so one bad row never stops the rest."""
    if name not in SPECS:
        raise BenchmarkError(f"unknown benchmark {name!r}; known: {', '.join(SPECS)}")
    spec = SPECS[name]
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if limit is not None and i >= limit:
            break
        try:
            item = item_from_row(spec, row, f"{spec.title} {source} row {i}")
        except BenchmarkError as err:
            if skipped is None:
                raise
            skipped.append(Skipped(name, i, _row_id(spec, row), str(err)))
            log.warning("skipped: %s", err)
            continue
        if item.id in seen:
            log.warning("%s %s row %d: duplicate id %r; using %r", spec.title, source, i, item.id, f"{item.id}#{i}")
            item.id = f"{item.id}#{i}"
        seen.add(item.id)
        yield item


_FILE_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv"}


def _load_split(path: str, split: str, config: str | None) -> Any:
    """One split as a `datasets.Dataset`. A local dir is read through its data files, whose cache key
    follows their content: `load_dataset(dir)` keys its cache on the dir name alone and serves a rebuilt
    dir's old rows."""
    import datasets

    if not Path(path).is_dir():
        return datasets.load_dataset(path, config, split=split) if config else datasets.load_dataset(path, split=split)
    files = datasets.load_dataset_builder(path, config).config.data_files or {}
    if split not in files:
        raise ValueError(f"unknown split {split!r}; the dir has {', '.join(files) or 'none'}")
    chosen = [str(f) for f in files[split]]
    kind = _FILE_BUILDERS.get(Path(chosen[0]).suffix) if chosen else None
    if kind is None:
        raise ValueError(f"unsupported data files {chosen[:1]} (expected parquet, json or csv)")
    return datasets.load_dataset(kind, data_files={split: chosen}, split=split)


def load_items(name: str, path: str, split: str, limit: int | None = None, config: str | None = None,
               skipped: list[Skipped] | None = None) -> list[Item]:
    """Load benchmark `name` from `path` (hub id or local dataset dir), split `split`, first `limit` rows;
    bad rows go to `skipped` when it is given (see `iter_items`)."""
    import datasets

    try:
        ds = _load_split(path, split, config)
    except ValueError as err:
        raise BenchmarkError(f"{name}: cannot load split {split!r} of {path!r}: {err}") from err
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    for col, feature in ds.features.items():  # keep images encoded until generation needs them
        if isinstance(feature, datasets.Image) and feature.decode:
            ds = ds.cast_column(col, datasets.Image(decode=False))
    items = list(iter_items(name, ds, f"{path}[{split}]", skipped=skipped))
    log.info("%s: %d items from %s[%s]", name, len(items), path, split)
    return items
