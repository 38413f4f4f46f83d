"""The test tiers' helper (docs/testing.md): a table's rows as parameters of which one in `every` runs in the
fast tier and the rest carry the `slow` marker (the default tier runs them all)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

FAST_SAMPLE_EVERY = 10
"""One row in ten of a large case table runs in the fast tier: every rule still meets a few rows there."""


def sampled(rows: Sequence[Any], every: int = FAST_SAMPLE_EVERY) -> list[Any]:
    """`rows` as pytest parameters: rows 0, every, 2*every, ... unmarked (fast tier), the others `slow`."""
    return [row if i % every == 0 else pytest.param(row, marks=pytest.mark.slow) for i, row in enumerate(rows)]


def one_fast(values: Sequence[Any], fast: Any) -> list[Any]:
    """`values` (recipes, say) as pytest parameters: `fast` unmarked (fast tier), the others `slow`."""
    assert fast in values, (fast, values)
    return [v if v == fast else pytest.param(v, marks=pytest.mark.slow) for v in values]
