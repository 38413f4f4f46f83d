"""GRPO/README.md's and SFT/README.md's parity tables, generated from the paper's values (GRPO/paper.py,
SFT/paper.py), the three config -> upstream maps and the composed 7B recipe.

`python -m recipes.pipeline.parity_tables --write` regenerates both READMEs' tables (`--markdown` prints
them); tests/test_grpo_parity.py and tests/test_sft_parity.py check them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from GRPO import paper as grpo
from GRPO.swift_flags import SWIFT_RLHF_FLAGS
from GRPO.verl_overrides import VERL_OVERRIDES
from recipes.pipeline.compose import compose
from recipes.readme_tables import readme_cli, show
from SFT import paper as sft
from SFT.flags import OTHER_FLAGS, SWIFT_SFT_FLAGS

PROJECT = Path(__file__).resolve().parents[2]
GRPO_README = PROJECT / "GRPO" / "README.md"
SFT_README = PROJECT / "SFT" / "README.md"
RECIPE = grpo.RECIPE
"""The recipe whose values the tables show and the parity tests check (the paper's)."""


def paper_value(key: str) -> str:
    """The paper's GRPO value for `key` as the tables show it, `—` when the reference has none."""
    return show(grpo.REFERENCE[key].value) if key in grpo.REFERENCE else "—"


def composed_value(cfg: DictConfig, key: str) -> grpo.Value:
    """What recipe `cfg` gives the setting `key` (lists as tuples, like the reference values): the config
    value, or for a parenthesised setting the backend maps' value (verl's, the paper's backend; else
    ms-swift's, composed with grpo.backend=swift)."""
    if not key.startswith("("):
        value = OmegaConf.select(cfg, key, throw_on_missing=True)
        return tuple(value) if OmegaConf.is_list(value) else value
    for row in VERL_OVERRIDES:
        if row.key == key and row.value is not None:
            return row.value(cfg)
    swift_cfg = OmegaConf.merge(cfg, {"grpo": {"backend": "swift"}})
    for row in SWIFT_RLHF_FLAGS:
        if row.key == key and row.value is not None:
            return row.value(swift_cfg)
    raise KeyError(f"{key!r}: no verl or ms-swift row carries this setting")


def _cell(value: Any) -> str:
    """A composed value as a table cell, with this checkout's path written `<project>`."""
    if OmegaConf.is_list(value):
        value = tuple(str(v) for v in value)
    return show(value).replace(str(PROJECT), "<project>")


def _table(rows: dict[str, str], head: str) -> str:
    return "\n".join([f"| {head} |", "|---|---|"] + [f"| `{k}` | {v} |" for k, v in rows.items()])


def verl_markdown(cfg: DictConfig) -> str:
    """The verl parity table: every verl row with the paper's value and recipe `cfg`'s."""
    lines = [f"| reference key (EasyR1) | reference value | verl 0.9.1 key | our value ({cfg.run_name}) | "
             "our config |", "|---|---|---|---|---|"]
    for row in VERL_OVERRIDES:
        ref = grpo.REFERENCE[row.key]
        ours = _cell(row.value(cfg)) if row.value is not None else "—"
        note = f" ({row.note})" if row.note else ""
        lines.append(f"| `{ref.reference}` | {show(ref.value)} | `{row.target}` | {ours} | `{row.key}`{note} |")
    return "\n".join(lines)


def verl_keys(key: str) -> str:
    """The verl keys our setting `key` becomes (GRPO/verl_overrides.py's map), `—` when verl has none."""
    keys = list(dict.fromkeys(row.target for row in VERL_OVERRIDES if row.key == key and row.target))
    return ", ".join(f"`{k}`" for k in keys) or "—"


def swift_markdown() -> str:
    """The side-by-side table (both backends) for every ms-swift row."""
    lines = ["| setting | paper | verl key | ms-swift flag | note |", "|---|---|---|---|---|"]
    for r in SWIFT_RLHF_FLAGS:
        flag = f"`{r.target}`" if r.target else "— (warned)" if r.warn else "— (refused unless paper value)"
        lines.append(f"| `{r.key}` | {paper_value(r.key)} | {verl_keys(r.key)} | {flag} | {r.note} |")
    return "\n".join(lines)


def grpo_sections(cfg: DictConfig) -> dict[str, str]:
    """GRPO/README.md's generated sections, by marker name."""
    return {
        "verl": verl_markdown(cfg),
        "differences": _table(grpo.DIFFERENCES, "setting | how the recipe differs from the paper"),
        "no-counterpart": _table(grpo.NO_COUNTERPART, "reference key | what we do"),
        "swift": swift_markdown(),
    }


def sft_flag(key: str) -> str:
    """The `swift sft` flag(s) our setting `key` becomes: SFT/flags.OTHER_FLAGS's text, else its rows' flags in
    SFT/flags.SWIFT_SFT_FLAGS."""
    if key in OTHER_FLAGS:
        return OTHER_FLAGS[key]
    flags = [f"`--{row.target}`" for row in SWIFT_SFT_FLAGS if row.key == key and row.target]
    if not flags:
        raise ValueError(f"{key}: no row of SFT/flags.SWIFT_SFT_FLAGS, so SFT/flags.OTHER_FLAGS must name its flag")
    return ", ".join(flags)


def sft_markdown(cfg: DictConfig) -> str:
    """SFT/README.md's parity table: reference flag and value, our flag, our key and recipe `cfg`'s value."""
    lines = ["| reference flag (ms-swift 3.x) | reference value | ms-swift 4.6 flag | our setting = value "
             f"({cfg.run_name}) | why / difference |", "|---|---|---|---|---|"]
    for key, ref in sft.REFERENCE.items():
        ours = show(composed_value(cfg, key))
        lines.append(f"| {ref.reference} | {show(ref.value)} | {sft_flag(key)} | `{key}` = {ours} | {ref.note} |")
    return "\n".join(lines)


def sft_sections(cfg: DictConfig) -> dict[str, str]:
    """SFT/README.md's generated sections, by marker name."""
    return {"sft": sft_markdown(cfg)}


def main(argv: list[str] | None = None) -> int:
    """`python -m recipes.pipeline.parity_tables [--markdown | --write]`: print the parity tables, or write them
    into GRPO/README.md and SFT/README.md."""
    cfg: list[DictConfig] = []

    def recipe() -> DictConfig:
        if not cfg:
            cfg.append(compose(RECIPE))
        return cfg[0]

    return readme_cli({GRPO_README: lambda: grpo_sections(recipe()), SFT_README: lambda: sft_sections(recipe())},
                      argv)


if __name__ == "__main__":
    sys.exit(main())
