"""The tiny world's copies of the paper's four benchmarks and its held-in slice, in their originals' columns.

mathvista, mathverse, mathvision and wemath like AI4Math/MathVista, AI4Math/MathVerse, MathLLMs/MathVision and
We-Math/We-Math (each with the real sets' quirks); heldin in MathVista's ``testmini`` columns. Written with
``data.write_dataset``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from datasets import Dataset, Features, Image, List, Value

from . import images as draw
from .data import ODD_MODES, rng_for, sample_problems, write_dataset
from .problems import GEOMETRY, LEARNABLE, LETTERS, SINGLE_IMAGE, Problem, make_multiple_choice

MATHVISTA_FEATURES = Features(
    {
        "pid": Value("string"),
        "question": Value("string"),
        "image": Value("string"),
        "decoded_image": Image(),
        "choices": List(Value("string")),
        "unit": Value("string"),
        "precision": Value("float64"),
        "answer": Value("string"),
        "question_type": Value("string"),
        "answer_type": Value("string"),
        "metadata": {
            "category": Value("string"),
            "context": Value("string"),
            "grade": Value("string"),
            "img_height": Value("int64"),
            "img_width": Value("int64"),
            "language": Value("string"),
            "skills": List(Value("string")),
            "source": Value("string"),
            "split": Value("string"),
            "task": Value("string"),
        },
        "query": Value("string"),
    }
)


def mathvista_query(
    question: str, choices: list[str] | None, answer_type: str, precision: int | None, unit: str | None
) -> str:
    """MathVista's ``query`` prompt (hint + question + choices), as in its testmini rows."""
    if choices:
        hint = (
            "Hint: Please answer the question and provide the correct option letter, "
            "e.g., A, B, C, D, at the end."
        )
    elif answer_type == "integer":
        hint = (
            "Hint: Please answer the question requiring an integer answer and provide the final value, "
            "e.g., 1, 2, 3, at the end."
        )
    elif precision == 1:
        hint = (
            "Hint: Please answer the question requiring a floating-point number with one decimal place "
            "and provide the final value, e.g., 1.2, 1.3, 1.4, at the end."
        )
    else:
        hint = (
            "Hint: Please answer the question requiring a floating-point number with two decimal places "
            "and provide the final value, e.g., 1.23, 1.34, 1.45, at the end."
        )
    q = f"{question} (Unit: {unit})" if unit else question
    text = f"{hint}\nQuestion: {q}"
    if choices:
        text += "\nChoices:\n" + "\n".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))
    return text


def _mathvista_row(p: Problem, pid: str) -> dict:
    """One MathVista ``testmini`` row for ``p`` (``pid`` is its id)."""
    mc = bool(p.choices)
    answer_type = "text" if mc else p.answer_type
    img = p.images[0]
    return {
        "pid": pid,
        "question": p.question,
        "image": f"images/{pid}.jpg",
        "decoded_image": img,
        "choices": p.choices,
        "unit": p.unit,
        "precision": float(p.precision) if p.precision else None,
        "answer": p.answer,
        "question_type": "multi_choice" if mc else "free_form",
        "answer_type": answer_type,
        "metadata": {
            "category": "math-targeted-vqa",
            "context": "synthetic scene",
            "grade": "elementary school",
            "img_height": img.height,
            "img_width": img.width,
            "language": "english",
            "skills": ["arithmetic reasoning"],
            "source": "tiny-world",
            "split": "testmini",
            "task": "math word problem",
        },
        "query": mathvista_query(p.question, p.choices, answer_type, p.precision, p.unit),
    }


def _duplicate_gold(p: Problem) -> None:
    """Give the gold option text a second letter after its first (real MathVista pid 781: 9, 12, 18, 18)."""
    first = p.choices.index(p.answer)
    if first == len(p.choices) - 1:  # gold is last: move it first so its copy comes after it
        p.choices[0], p.choices[first] = p.choices[first], p.choices[0]
    p.choices[-1] = p.answer


def build_mathvista(out_dir: Path, seed: int = 0, n: int = 24) -> None:
    """Like AI4Math/MathVista ``testmini`` (with its ``query`` prompt); fraction answers are always posed as
    multiple choice. Real quirks: the first multiple-choice row lists its gold text twice (pid 781), and
    the first integer row carries a unit ("(Unit: cm)" in its query)."""
    rng = rng_for("mathvista-mcq", seed)
    rows = []
    duplicated = unit_given = False
    for i, p in enumerate(sample_problems("mathvista", seed, n, n_big=1, two_image_rate=0.0)):
        if p.answer_type == "fraction" and not p.choices:
            make_multiple_choice(p, rng)
        if p.choices and not duplicated:
            _duplicate_gold(p)
            duplicated = True
        if not p.choices and p.answer_type == "integer" and not unit_given:
            p.unit, unit_given = p.unit or "cm", True
        rows.append(_mathvista_row(p, str(i + 1)))
    write_dataset(out_dir, {"testmini": Dataset.from_list(rows, features=MATHVISTA_FEATURES)}, "MathVista")


def build_heldin(out_dir: Path, seed: int = 0, n: int = 48) -> None:
    """The tiny run's held-in slice, in MathVista's ``testmini`` schema: unseen problems of the families the
    tiny model can learn (``LEARNABLE``), so base < SFT < SFT + GRPO shows on it."""
    rng = rng_for("heldin", seed)
    rows = [_mathvista_row(rng.choice(LEARNABLE)(rng), str(i + 1)) for i in range(n)]
    for row in rows:  # the question as trained, without MathVista's numeric-answer hint
        row["query"] = row["question"]
    write_dataset(out_dir, {"testmini": Dataset.from_list(rows, features=MATHVISTA_FEATURES)}, "Tiny held-in")


MATHVERSE_FEATURES = Features(
    {
        "sample_index": Value("string"),
        "problem_index": Value("string"),
        "problem_version": Value("string"),
        "question": Value("string"),
        "image": Image(),
        "answer": Value("string"),
        "question_type": Value("string"),
        "metadata": {
            "split": Value("string"),
            "source": Value("string"),
            "subject": Value("string"),
            "subfield": Value("string"),
        },
        "query_wo": Value("string"),
        "query_cot": Value("string"),
        "question_for_eval": Value("string"),
    }
)

MATHVERSE_VERSIONS = ("Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only")


def _mathverse_prompts(version: str, mc: bool) -> tuple[str, str]:
    what = (
        "provide the correct option letter, e.g., A, B, C, D"
        if mc
        else "provide the final value, e.g., 1, 2.5, 300"
    )
    if version == "Vision Only":
        return (
            f"According to the question shown in the image, please directly answer the question and {what}.",
            f"According to the question shown in the image, please first conduct reasoning, and then "
            f"answer the question and {what}, at the end.",
        )
    return (
        f"Please directly answer the question and {what}.",
        f"Please first conduct reasoning, and then answer the question and {what}, at the end.",
    )


def build_mathverse(out_dir: Path, seed: int = 0, n_problems: int = 4) -> None:
    """Like AI4Math/MathVerse ``testmini``: each problem in five versions that move text into the image."""
    from PIL import ImageDraw

    rng = rng_for("mathverse", seed)
    rows = []
    for pi in range(n_problems):
        p = rng.choice(GEOMETRY)(rng)
        if pi % 2 == 0:
            make_multiple_choice(p, rng)
        mc = bool(p.choices)
        choices = (
            "\nChoices:\n" + "\n".join(f"{LETTERS[i]}:{c}" for i, c in enumerate(p.choices)) if mc else ""
        )
        short_q = p.question.split(". ", 1)[-1]  # drop the sentence that states the numbers
        for vi, version in enumerate(MATHVERSE_VERSIONS):
            img = p.images[0].copy()
            if version == "Vision Only":
                question = ""
                ImageDraw.Draw(img).text((2, 2), p.question[:60], fill=(0, 0, 0))
            elif version in ("Text Dominant", "Text Lite"):
                question = (p.question if version == "Text Dominant" else short_q) + choices
            else:
                question = short_q + choices
            wo, cot = _mathverse_prompts(version, mc)
            body = f"\nQuestion: {question}" if question else ""
            rows.append(
                {
                    "sample_index": str(pi * len(MATHVERSE_VERSIONS) + vi + 1),
                    "problem_index": str(pi + 1),
                    "problem_version": version,
                    "question": question,
                    "image": img,
                    "answer": p.letter if mc else p.answer,
                    "question_type": "multi-choice" if mc else "free-form",
                    "metadata": {
                        "split": "testmini",
                        "source": "tiny-world",
                        "subject": "plane geometry",
                        "subfield": p.subject.split(" - ")[-1],
                    },
                    "query_wo": wo + body,
                    "query_cot": cot + body,
                    "question_for_eval": question or p.question + choices,
                }
            )
    write_dataset(out_dir, {"testmini": Dataset.from_list(rows, features=MATHVERSE_FEATURES)}, "MathVerse")


MATHVISION_FEATURES = Features(
    {
        "id": Value("string"),
        "question": Value("string"),
        "options": List(Value("string")),
        "image": Value("string"),
        "decoded_image": Image(),
        "answer": Value("string"),
        "solution": Value("string"),
        "level": Value("int64"),
        "subject": Value("string"),
    }
)


def _mathvision_rows(problems: list[Problem], start: int) -> list[dict]:
    """Rows in MATH-V's shape; every other multiple-choice row has letters-only options (``A``..``E``, the
    option texts being in the picture: 384 of the real test set's 3,040)."""
    rows = []
    n_mc = 0
    for i, p in enumerate(problems):
        pid = str(start + i)
        options = p.choices or []
        if options:
            n_mc += 1
            if n_mc % 2 == 1:
                options = list(LETTERS[:5])
        rows.append(
            {
                "id": pid,
                "question": f"<image1>\n{p.question}",
                "options": options,
                "image": f"images/{pid}.jpg",
                "decoded_image": p.images[0],
                "answer": p.letter if p.choices else p.answer,
                "solution": " ".join(p.steps) if i % 3 == 0 else None,
                "level": 1 + i % 5,
                "subject": p.subject,
            }
        )
    return rows


def build_mathvision(out_dir: Path, seed: int = 0, n_test: int = 24, n_testmini: int = 12) -> None:
    """Like MathLLMs/MathVision: ``test`` and ``testmini`` splits; choice answers are letters."""
    test = sample_problems("mathvision-test", seed, n_test, n_big=1, two_image_rate=0.0, kinds=SINGLE_IMAGE)
    mini = sample_problems("mathvision-testmini", seed, n_testmini, n_big=0, two_image_rate=0.0)
    write_dataset(
        out_dir,
        {
            "test": Dataset.from_list(_mathvision_rows(test, 1), features=MATHVISION_FEATURES),
            "testmini": Dataset.from_list(_mathvision_rows(mini, 1), features=MATHVISION_FEATURES),
        },
        "MathVision",
    )


WEMATH_FEATURES = Features(
    {
        "ID": Value("string"),
        "split": Value("string"),
        "knowledge concept": Value("string"),
        "question": Value("string"),
        "option": Value("string"),
        "answer": Value("string"),
        "image_path": Image(),
        "key": Value("string"),
        "question number": Value("int64"),
        "knowledge concept description": Value("string"),
    }
)


def _wemath_option(choices: list[str], row: int) -> str:
    """The ``option`` string as the real testmini writes it: mostly ``A. x; B. y``, with its quirks on the
    first rows: ``A. x;B．y;C. z`` (full-width stop, no space: row ``2steps_59``), ``;`` with no space
    throughout."""
    parts = [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    if row == 0:
        parts[1] = f"{LETTERS[1]}．{choices[1]}"
        return ";".join(parts[:3]) + "; " + "; ".join(parts[3:])
    if row == 1:
        return ";".join(parts)
    return "; ".join(parts)


def _repeat_a_distractor(p: Problem) -> None:
    """Two wrong options with the same text (real ``3steps_126``: B and C read alike)."""
    wrong = [i for i, c in enumerate(p.choices) if c != p.answer]
    p.choices[wrong[1]] = p.choices[wrong[0]]


def build_wemath(out_dir: Path, seed: int = 0, n_two: int = 4, n_three: int = 3) -> None:
    """Like We-Math ``testmini``: groups of sub-problems (``2steps_1``, ``2steps_2``, ``2steps_multi``;
    ``3steps_1..3``, ``3steps_multi``), all multiple choice with a letter answer; option strings with the
    real separators (``_wemath_option``)."""
    rng = rng_for("wemath", seed)
    rows = []
    number = 0
    for steps, n_groups in ((2, n_two), (3, n_three)):
        for _ in range(n_groups):
            number += 1
            keys = [f"{steps}steps_{j + 1}" for j in range(steps)] + [f"{steps}steps_multi"]
            for key in keys:
                p = make_multiple_choice(rng.choice(SINGLE_IMAGE)(rng), rng, n_options=5)
                if len(rows) == 2:
                    _repeat_a_distractor(p)
                if len(rows) % 5 == 4:
                    p.images = [draw.to_mode(p.images[0], ODD_MODES[len(rows) % len(ODD_MODES)])]
                rows.append(
                    {
                        "ID": f"{steps}steps_{number}",
                        "split": "testmini",
                        "knowledge concept": p.subject,
                        "question": p.question,
                        "option": _wemath_option(p.choices, len(rows)),
                        "answer": p.letter,
                        "image_path": p.images[0],
                        "key": key,
                        "question number": number,
                        "knowledge concept description": f"Problems about {p.subject}.",
                    }
                )
    write_dataset(out_dir, {"testmini": Dataset.from_list(rows, features=WEMATH_FEATURES)}, "We-Math")


#: name -> builder writing the benchmark's dir (versions and splits: ``registry``).
BENCHMARK_BUILDERS: dict[str, Callable[[Path], None]] = {
    "mathvista": build_mathvista,
    "mathverse": build_mathverse,
    "mathvision": build_mathvision,
    "wemath": build_wemath,
    "heldin": build_heldin,
}
