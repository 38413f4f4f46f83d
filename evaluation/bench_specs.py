"""The four benchmarks' columns and prompts, one `BenchmarkSpec` each (`SPECS`): where the id, answer,
options and images are, and the user text as each benchmark's official tools build it."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from reward_fns.choices import LETTERS, parse_options

# -- column helpers ----------------------------------------------------------------------------------

def blank(value: Any) -> bool:
    """None, NaN or whitespace: a cell with nothing in it."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def as_int(value: Any) -> int | None:
    """A cell as an int (`"2"`, `2.0`), None when blank or not a number."""
    if blank(value):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _list_options(value: Any) -> list[str] | None:
    """A list column (MathVista `choices`, MathVision `options`); empty or None -> None."""
    if blank(value):
        return None
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"expected a list of option texts, got {type(value).__name__}")
    opts = [str(o).strip() for o in value]
    return opts or None


class OptionsUnparsed(ValueError):
    """An option string with no `A. ...; B. ...` markers: the item is kept, its raw options shown."""


def _text_options(value: Any) -> list[str] | None:
    if blank(value):
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected option text like 'A. x; B. y', got {type(value).__name__}")
    opts = parse_options(value)
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
    return _IMAGE_TAG_RE.sub("", "" if blank(text) else str(text)).strip()


def _prompt_mathvista(row: Row, options: list[str] | None) -> str:
    """The official `query` (hint with answer type and precision, question, "(Unit: ...)", choices) with
    its format request removed; rows without `query` get question + unit + choices."""
    query = _clean(row.get("query"))
    if query:
        return _MATHVISTA_FORMAT_RE.sub(".", query, count=1)
    question = _clean(row.get("question"))
    if not blank(row.get("unit")):
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
    """Options as the official judge reads them: from `question_for_eval` (Vision Only rows carry their
    choices only there, the `question` being empty), else from `question`."""
    if not str(row.get("question_type") or "").startswith("multi"):
        return None
    for col in ("question_for_eval", "question"):
        if not blank(row.get(col)):
            opts = parse_options(str(row[col]))
            if opts:
                return opts
    return None


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
              "question_type": "question_type", "question_for_eval": "question_for_eval"},
    ),
    "mathvision": BenchmarkSpec(
        name="mathvision", title="MathVision", id_cols=("id",), answer_col="answer",
        image_cols=("decoded_image", "image"), options=lambda r: _list_options(r.get("options")),
        prompt=_prompt_question, kind=_kind_mc_or_free, meta={"subject": "subject", "level": "level"},
    ),
}
"""Benchmark name -> column mapping."""
SPECS["heldin"] = replace(SPECS["mathvista"], name="heldin", title="Tiny held-in")
"""The tiny world's held-in slice (`tiny:heldin`, recipes/tiny_world/benchmarks.py build_heldin): MathVista's columns."""
