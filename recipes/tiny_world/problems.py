"""Synthetic visual math problems with correct answers and a short, regular chain of thought.

The tokenizer corpus includes these texts: a change here changes the model dir too (bump MODEL_VERSION).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction

from PIL.Image import Image

from . import images as draw

LETTERS = "ABCDE"
BAR_LABELS = ("A", "B", "C", "D", "E")


@dataclass
class Problem:
    """One problem: its pictures, its text, its gold answer and the reasoning that reaches it."""

    kind: str
    """Generator name, e.g. ``rect_perimeter``."""
    images: list[Image]
    question: str
    """The question alone: no ``<image>`` tag, no choices."""
    answer: str
    """Gold final answer (the option text when ``choices`` is set)."""
    answer_type: str
    """``integer``, ``float``, ``fraction`` or ``text``."""
    steps: list[str]
    """Reasoning sentences; the last one states the answer value (unless ``conclusion`` does)."""
    subject: str
    facts: dict = field(default_factory=dict)
    """The numbers the picture encodes (for checks)."""
    precision: int | None = None
    """Decimal places of a ``float`` answer."""
    unit: str | None = None
    choices: list[str] | None = None
    conclusion: str = "Therefore, the answer is {boxed}."
    """Last sentence of the chain, with a ``{boxed}`` slot for the final answer."""

    @property
    def letter(self) -> str | None:
        """The gold option letter of a multiple-choice problem."""
        return LETTERS[self.choices.index(self.answer)] if self.choices else None

    def choices_text(self) -> str:
        """``Choices: (A) .. (B) ..`` line, or ``''``."""
        if not self.choices:
            return ""
        return "Choices: " + " ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(self.choices))


def fraction_tex(fr: Fraction) -> str:
    """``Fraction(3, 4)`` -> ``\\frac{3}{4}``; integers stay plain."""
    return str(fr.numerator) if fr.denominator == 1 else rf"\frac{{{fr.numerator}}}{{{fr.denominator}}}"


def rect_perimeter(rng: random.Random) -> Problem:
    w, h = rng.randint(2, 15), rng.randint(2, 15)
    p = 2 * (w + h)
    return Problem(
        "rect_perimeter",
        [draw.rectangle(w, h, rng)],
        f"The rectangle in the figure has width {w} and height {h}. What is its perimeter?",
        str(p),
        "integer",
        [
            "The perimeter of a rectangle is 2 times the sum of its width and height.",
            rf"So the perimeter is 2 \times ({w} + {h}) = 2 \times {w + h} = {p}.",
        ],
        "metric geometry - length",
        {"width": w, "height": h},
        unit="cm" if rng.random() < 0.3 else None,
    )


def rect_area(rng: random.Random) -> Problem:
    w, h = rng.randint(2, 12), rng.randint(2, 12)
    return Problem(
        "rect_area",
        [draw.rectangle(w, h, rng)],
        f"The rectangle in the figure has width {w} and height {h}. What is its area?",
        str(w * h),
        "integer",
        [
            "The area of a rectangle is its width times its height.",
            rf"So the area is {w} \times {h} = {w * h}.",
        ],
        "metric geometry - area",
        {"width": w, "height": h},
    )


def triangle_hypotenuse(rng: random.Random) -> Problem:
    a0, b0, c0 = rng.choice([(3, 4, 5), (5, 12, 13), (8, 15, 17), (7, 24, 25)])
    k = rng.randint(1, 3)
    a, b, c = a0 * k, b0 * k, c0 * k
    return Problem(
        "triangle_hypotenuse",
        [draw.right_triangle(a, b, rng)],
        f"The right triangle in the figure has legs {a} and {b}. What is the length of its hypotenuse?",
        str(c),
        "integer",
        [
            r"By the Pythagorean theorem, the hypotenuse is \sqrt{a^2 + b^2}.",
            rf"So it is \sqrt{{{a}^2 + {b}^2}} = \sqrt{{{a * a + b * b}}} = {c}.",
        ],
        "metric geometry - length",
        {"a": a, "b": b},
    )


def triangle_area(rng: random.Random) -> Problem:
    a, b = rng.randint(2, 13), rng.randint(2, 13)
    area = a * b / 2
    is_int = (a * b) % 2 == 0
    ans = str(a * b // 2) if is_int else f"{area:.1f}"
    return Problem(
        "triangle_area",
        [draw.right_triangle(a, b, rng)],
        f"The right triangle in the figure has legs {a} and {b}. What is its area?",
        ans,
        "integer" if is_int else "float",
        [
            "The area of a right triangle is half the product of its legs.",
            rf"So the area is \frac{{1}}{{2}} \times {a} \times {b} = {ans}.",
        ],
        "metric geometry - area",
        {"a": a, "b": b},
        precision=None if is_int else 1,
    )


def circle_circumference(rng: random.Random) -> Problem:
    r = rng.randint(1, 9)
    c = f"{2 * 314 * r / 100:.2f}"
    return Problem(
        "circle_circumference",
        [draw.circle(r, rng)],
        rf"The circle in the figure has radius {r}. Using 3.14 for \pi, what is its circumference? "
        "Give the answer to two decimal places.",
        c,
        "float",
        [r"The circumference of a circle is 2 \pi r.", rf"So it is 2 \times 3.14 \times {r} = {c}."],
        "metric geometry - length",
        {"r": r},
        precision=2,
    )


def _bars(rng: random.Random) -> tuple[list[str], list[int]]:
    k = rng.randint(3, 5)
    return list(BAR_LABELS[:k]), [rng.randint(1, 20) for _ in range(k)]


def bar_value(rng: random.Random) -> Problem:
    labels, values = _bars(rng)
    i = rng.randrange(len(labels))
    return Problem(
        "bar_value",
        [draw.bar_chart(labels, values, rng)],
        f"What is the value of bar {labels[i]} in the bar chart?",
        str(values[i]),
        "integer",
        [f"The number printed above bar {labels[i]} is {values[i]}.", f"So its value is {values[i]}."],
        "statistics",
        {"labels": labels, "values": values},
    )


def bar_difference(rng: random.Random) -> Problem:
    labels, values = _bars(rng)
    hi, lo = max(values), min(values)
    return Problem(
        "bar_difference",
        [draw.bar_chart(labels, values, rng)],
        "How much larger is the tallest bar than the shortest bar in the chart?",
        str(hi - lo),
        "integer",
        [
            f"The bar values are {', '.join(map(str, values))}.",
            f"The tallest is {hi} and the shortest is {lo}, so the difference is {hi} - {lo} = {hi - lo}.",
        ],
        "statistics",
        {"labels": labels, "values": values},
    )


def bar_mean(rng: random.Random) -> Problem:
    labels, values = _bars(rng)
    mean = Fraction(sum(values), len(values))
    ans = fraction_tex(mean)
    return Problem(
        "bar_mean",
        [draw.bar_chart(labels, values, rng)],
        "What is the average (mean) of the bar values? Give an exact answer.",
        ans,
        "integer" if mean.denominator == 1 else "fraction",
        [
            f"The bar values are {', '.join(map(str, values))}, and their sum is {sum(values)}.",
            rf"The mean is \frac{{{sum(values)}}}{{{len(values)}}} = {ans}.",
        ],
        "statistics",
        {"labels": labels, "values": values},
    )


def dots_count(rng: random.Random) -> Problem:
    n = rng.randint(1, 12)
    return Problem(
        "dots_count",
        [draw.dots(n, rng)],
        "How many dots are there in the image?",
        str(n),
        "integer",
        [f"Counting the red dots one by one gives {n}.", f"So there are {n} dots."],
        "counting",
        {"counts": [n]},
    )


def dots_fraction(rng: random.Random) -> Problem:
    n = rng.randint(4, 12)
    k = rng.randint(1, n - 1)
    fr = Fraction(n - k, n)
    ans = fraction_tex(fr)
    return Problem(
        "dots_fraction",
        [draw.dots(n, rng)],
        f"If {k} of the dots in the image are removed, what fraction of the dots remain?",
        ans,
        "fraction",
        [
            f"There are {n} dots, and {n} - {k} = {n - k} remain.",
            rf"The fraction is \frac{{{n - k}}}{{{n}}} = {ans}.",
        ],
        "counting",
        {"counts": [n], "removed": k},
    )


def clock_time(rng: random.Random) -> Problem:
    h, m = rng.randint(1, 12), rng.choice(range(0, 60, 5))
    ans = f"{h}:{m:02d}"
    return Problem(
        "clock_time",
        [draw.clock(h, m, rng)],
        "What time does the clock show?",
        ans,
        "text",
        [
            f"The short hour hand is at {h} or just past it, and the long minute hand points at {m // 5 if m else 12}.",
            f"So the time is {ans}.",
        ],
        "arithmetic",
        {"hour": h, "minute": m},
    )


def dots_total_two(rng: random.Random) -> Problem:
    n1, n2 = rng.randint(1, 9), rng.randint(1, 9)
    return Problem(
        "dots_total_two",
        [draw.dots(n1, rng), draw.dots(n2, rng)],
        "How many dots are there in the two images altogether?",
        str(n1 + n2),
        "integer",
        [
            f"The first image has {n1} dots and the second has {n2} dots.",
            f"Together there are {n1} + {n2} = {n1 + n2} dots.",
        ],
        "counting",
        {"counts": [n1, n2]},
    )


def rect_area_sum_two(rng: random.Random) -> Problem:
    (w1, h1), (w2, h2) = [(rng.randint(2, 9), rng.randint(2, 9)) for _ in range(2)]
    s = w1 * h1 + w2 * h2
    return Problem(
        "rect_area_sum_two",
        [draw.rectangle(w1, h1, rng), draw.rectangle(w2, h2, rng)],
        f"The first image shows a {w1} by {h1} rectangle and the second a {w2} by {h2} rectangle. "
        "What is the sum of their areas?",
        str(s),
        "integer",
        [
            rf"The areas are {w1} \times {h1} = {w1 * h1} and {w2} \times {h2} = {w2 * h2}.",
            f"Their sum is {w1 * h1} + {w2 * h2} = {s}.",
        ],
        "metric geometry - area",
        {"rects": [[w1, h1], [w2, h2]]},
    )


#: Share of ``shape_color`` chains of thought that re-check the picture before answering, so that
#: reflection words ("Wait", "check again") are in the cold-start data before any RL (the paper's claim (2)).
RECHECK_RATE = 0.25


#: Phrasings of the ``shape_color`` question, of different lengths. With one phrasing every such prompt
#: tokenizes to the same length and the tiny model never stops early, so a whole GRPO batch could hold
#: sequences of one length: verl 0.9.1 then builds the mRoPE position_ids as a nested tensor ragged
#: along the wrong dimension and its update step fails (scripts/GPU_CHECK.md; not fixed upstream: verl PR #5829 closed unmerged).
SHAPE_COLOR_QUESTIONS = (
    "What color is the largest shape in the image?",
    "What is the color of the largest shape?",
    "Which color does the biggest shape in the picture have?",
    "Look at the image. What color is the largest shape in it?",
    "Name the color of the largest shape.",
    "The image shows a few filled shapes. What color is the largest one?",
)


def shape_color(rng: random.Random) -> Problem:
    """The colour of the largest of a few filled shapes: the answer follows from what the tiny vision
    tower sees (the colour covering most image patches), not from digits printed in the picture."""
    names = list(draw.SHAPE_COLOURS)
    big = rng.choice(names)
    small = rng.sample([c for c in names if c != big], rng.randint(1, 2))
    steps = []
    if rng.random() < RECHECK_RATE:
        steps = [f"The largest shape in the picture looks {big}.", "Wait, let me check the picture again."]
    image = draw.shapes_scene(big, small, rng)
    return Problem(
        "shape_color",
        [image],
        rng.choice(SHAPE_COLOR_QUESTIONS),
        big,
        "text",
        steps,
        "visual perception",
        {"big": big, "small": small},
        # The box holds the colour read off the picture, not copied from a sentence before it: in the
        # box the colour is another token (`blue` vs ` blue`), and the 2-layer model copied it wrong.
        conclusion="The largest shape in the picture is {boxed}.",
    )


#: Families a ~10 M-parameter model learns from a few hundred rows (the tiny run's held-in slice).
LEARNABLE = (shape_color,)

SINGLE_IMAGE = (
    rect_perimeter,
    rect_area,
    triangle_hypotenuse,
    triangle_area,
    circle_circumference,
    bar_value,
    bar_difference,
    bar_mean,
    dots_count,
    dots_fraction,
    clock_time,
)
TWO_IMAGES = (dots_total_two, rect_area_sum_two)
GEOMETRY = (rect_perimeter, rect_area, triangle_hypotenuse, triangle_area, circle_circumference)


def _distractors(p: Problem, rng: random.Random, k: int) -> list[str]:
    out: set[str] = set()
    while len(out) < k:
        if p.answer_type == "text":
            h, m = rng.randint(1, 12), rng.choice(range(0, 60, 5))
            cand = f"{h}:{m:02d}"
        elif p.answer_type == "fraction":
            fr = Fraction(rng.randint(1, 11), rng.randint(2, 12))
            cand = fraction_tex(fr)
        elif p.answer_type == "float":
            delta = rng.choice([-3, -2, -1, 1, 2, 3]) * (10 ** -(p.precision or 1)) * rng.randint(1, 20)
            cand = f"{float(p.answer) + delta:.{p.precision}f}"
        else:
            cand = str(max(0, int(p.answer) + rng.choice([-4, -3, -2, -1, 1, 2, 3, 4, 6])))
        if cand != p.answer:
            out.add(cand)
    return sorted(out)


def make_multiple_choice(p: Problem, rng: random.Random, n_options: int = 4) -> Problem:
    """Give ``p`` ``n_options`` shuffled options, one of them its answer (which stays the option text)."""
    opts = [p.answer, *_distractors(p, rng, n_options - 1)]
    rng.shuffle(opts)
    p.choices = opts
    return p


def sample_problem(
    rng: random.Random, two_image_rate: float = 0.1, mcq_rate: float = 0.35, kinds: tuple = SINGLE_IMAGE
) -> Problem:
    """Draw one problem: ~``two_image_rate`` with two pictures, ~``mcq_rate`` multiple choice."""
    gen = rng.choice(TWO_IMAGES) if rng.random() < two_image_rate else rng.choice(kinds)
    p = gen(rng)
    if p.kind == "clock_time" or rng.random() < mcq_rate:
        make_multiple_choice(p, rng)
    return p


def cot_answer(p: Problem, final: str) -> str:
    """Chain of thought for the cold-start set: the reasoning sentences, then a conclusion that boxes
    ``final``."""
    lines = list(p.steps)
    if p.choices:
        lines.append(f"This matches option ({p.letter}).")
    lines.append(p.conclusion.format(boxed=rf"\boxed{{{final}}}"))
    return " ".join(lines)
