"""Evaluation items and a scripted backend for tests of the predictions-file protocol (not generation)."""

from __future__ import annotations

from evaluation.backends import Generation
from evaluation.bench_data import item_from_row
from evaluation.bench_specs import SPECS


class Scripted:
    """A backend answering from a table (tests the file protocol, not generation)."""

    name = "scripted"

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.calls = 0

    def generate(self, items):
        self.calls += 1
        return [Generation(self.answers[it.id], "stop", 10, 5) for it in items]


def scripted_items(n: int):
    from PIL import Image

    img = Image.new("RGB", (28, 28))
    return [item_from_row(SPECS["mathvision"], {"id": str(i), "question": "q", "options": [],
                                                "decoded_image": img, "answer": str(i)}, "t") for i in range(n)]
