"""The four benchmarks as one item shape: prompt text, images, gold, options, answer kind, metadata.

`load_items` reads any benchmark of `SPECS` (evaluation/bench_specs.py) from a hub id or a local dataset
dir through `datasets.load_dataset`; `item_from_row` turns one row into an `Item`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.bench_specs import SPECS, BenchmarkSpec, OptionsUnparsed, Row, as_int, blank
from reward_fns.choices import LETTERS

log = logging.getLogger(__name__)


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
    if blank(gold):
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
        meta[key] = None if blank(value) else value
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
        answer_kind=kind, precision=as_int(row.get(spec.precision_col)) if spec.precision_col else None,
        unit=None if not spec.unit_col or blank(row.get(spec.unit_col)) else str(row[spec.unit_col]).strip(),
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
