"""The paper's headline table (Figure 1 of arXiv 2505.22334, via reference/paper.md), written once.

Bold values are printed on the figure; the others were read off bar heights (+-0.1) and are marked
approximate.
"""

from __future__ import annotations

from dataclasses import dataclass

COLUMNS = ("mathvision", "mathverse", "mathvista", "wemath")
"""Benchmark keys in the paper's column order."""


@dataclass(frozen=True)
class PaperRow:
    label: str
    scores: dict[str, float]
    average: float
    printed: frozenset[str]
    """Columns (and `avg`) printed on the figure; the others were read off bar heights (approximate)."""

    def approximate(self, column: str) -> bool:
        return column not in self.printed


_ALL = frozenset((*COLUMNS, "avg"))


PAPER_ROWS: tuple[PaperRow, ...] = (
    PaperRow("Qwen2.5-VL-3B (base)",
             {"mathvision": 19.5, "mathverse": 33.6, "mathvista": 56.3, "wemath": 50.6}, 39.9, frozenset()),
    PaperRow("cold start + GRPO, 3B (paper)",
             {"mathvision": 27.0, "mathverse": 44.0, "mathvista": 68.2, "wemath": 64.1}, 50.8, _ALL),
    PaperRow("Qwen2.5-VL-7B (base)",
             {"mathvision": 24.9, "mathverse": 43.9, "mathvista": 66.3, "wemath": 62.9}, 49.5,
             frozenset({"mathvista", "wemath"})),
    PaperRow("cold start + GRPO, 7B (paper)",
             {"mathvision": 30.3, "mathverse": 48.6, "mathvista": 73.4, "wemath": 70.4}, 55.7, _ALL),
)
"""Base and cold start + GRPO rows for 3B and 7B."""
