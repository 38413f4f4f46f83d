"""`Results`: one evaluation's numbers, as `evaluate` returns them, the reports and compare render them, and
`results.json` holds them (one `save`, one `load`; the file's format is these dicts as JSON).

`score.aggregate` makes the `Scores` (per benchmark: accuracy and counts, rates, breakdowns, grader reasons);
`run.evaluate` adds what the run was (model, settings, preset, reflection, generation) to make `Results`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

from evaluation.reflection import Reflection
from recipes.atomic import atomic_write_json

RESULTS_JSON = "results.json"


class ResultsError(ValueError):
    """A results.json that cannot be read; the message names the file and what is wrong."""


class Cell(TypedDict):
    """Items, how many were right, accuracy in % (2 decimals)."""

    n: int
    correct: int
    accuracy: float


class Rate(TypedDict):
    count: int
    rate: float
    """% of the benchmark's items."""


class FourDimensionalMode(TypedDict):
    score: float
    IK: float
    IG: float
    CM: float
    RM: float


class FourDimensional(TypedDict):
    """We-Math's four-dimensional metrics over its complete multi-step groups (score.wemath_four_dimensional)."""

    groups: int
    counts: dict[str, int]
    strict: FourDimensionalMode
    loose: FourDimensionalMode


class AsReported(TypedDict):
    """MathVerse as it is quoted: all five versions, and Vision Only (score.mathverse_as_reported)."""

    all_five: Cell
    vision_only: Cell
    versions: dict[str, Cell]


class BenchmarkScores(Cell):
    """One benchmark's entry in `Results.benchmarks`."""

    title: str
    no_answer: Rate
    truncated: Rate | None
    """None when no prediction says why it stopped."""
    mean_prompt_tokens: float | None
    mean_completion_tokens: float | None
    breakdown: dict[str, dict[str, Cell]]
    """Meta key (score.BREAKDOWNS) -> its value -> cell."""
    fallback: NotRequired[Cell]
    """Box-less responses read by "the answer is X": never in the headline."""
    as_reported: NotRequired[AsReported]
    four_dimensional: NotRequired[FourDimensional]
    four_dimensional_judge: NotRequired[FourDimensional]
    reasons: dict[str, int]
    """Grader decision -> count."""
    judge: NotRequired[Cell]


class Loading(TypedDict):
    """Per benchmark: items built, official rows skipped, items kept with a load note."""

    items: int
    skipped: int
    degraded: int


class Scores(TypedDict):
    """What the predictions and verdicts alone give (score.aggregate)."""

    scorer: str
    benchmarks: dict[str, BenchmarkScores]
    average: float | None
    """Over the paper's four benchmarks present (`average_over`)."""
    average_over: list[str]
    n: int
    loading: dict[str, Loading]
    skipped: list[dict[str, Any]]
    """The official rows that could not become items, with why."""
    judge_average: NotRequired[float | None]


class Results(Scores):
    """Scores plus what the evaluation was: the body of results.json."""

    reflection: NotRequired[Reflection]
    """evaluation/reflection.py's share of responses with a reflection pattern, per benchmark and overall."""
    model: str | None
    settings: dict[str, Any] | None
    """The generation settings every prediction was made with."""
    preset: str | None
    fallback_extraction: NotRequired[bool]
    generation: NotRequired[dict[str, Any]]
    """How the predictions were made: counts, seconds, items/s, backend (not in a rescore)."""


def results_of(scores: Scores, *, model: str | None, settings: dict[str, Any] | None, preset: str | None,
               reflection: Reflection | None = None, fallback_extraction: bool | None = None,
               generation: dict[str, Any] | None = None) -> Results:
    """`scores` with what the evaluation was; the keys in results.json's order, the optional ones only when given."""
    out: dict[str, Any] = dict(scores)
    if reflection is not None:
        out["reflection"] = reflection
    out.update(model=model, settings=settings, preset=preset)
    if fallback_extraction is not None:
        out["fallback_extraction"] = fallback_extraction
    if generation is not None:
        out["generation"] = generation
    return cast("Results", out)


def save(path: str | Path, results: Results) -> None:
    """Write `results` to `path` (results.json) atomically."""
    atomic_write_json(path, results)


def load(path: str | Path) -> Results:
    """The results in `path` (a results.json written by `save`); ResultsError naming the file when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path}: unreadable results file ({err})") from err
    missing = [k for k in ("scorer", "benchmarks", "average") if not isinstance(data, dict) or k not in data]
    if missing:
        raise ResultsError(f"{path}: not an evaluation's results.json (no {', '.join(missing)})")
    return data  # type: ignore[no-any-return]
