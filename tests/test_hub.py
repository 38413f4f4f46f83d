"""Hub ids, local paths and tiny refs all resolve to a local dir through the same code, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recipes.hub import HubRef, HubRefError, resolve
from recipes.pipeline.compose import compose
from recipes.pipeline.runner import Runner
from recipes.stage import Stage, StageContext, StagePlan

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _cached_dataset(cache: Path, repo_id: str) -> Path:
    """Lay out `repo_id` in a Hugging Face hub cache exactly as snapshot_download leaves it."""
    repo = cache / f"datasets--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snap = repo / "snapshots" / COMMIT / "data"
    snap.mkdir(parents=True)
    (snap / "train.jsonl").write_text('{"problem": "1+1?", "answer": "2"}\n')
    return snap.parent


def test_cached_hub_id_resolves_offline_and_loads_like_a_local_path(tmp_path: Path) -> None:
    snap = _cached_dataset(tmp_path, "org/cold-start")
    got = resolve(HubRef("org/cold-start", "dataset"), cache_dir=str(tmp_path), offline=True)
    assert got == snap
    import datasets

    rows = datasets.load_dataset(str(got), split="train")
    assert rows[0] == {"problem": "1+1?", "answer": "2"}


def test_missing_id_offline_names_the_id_and_cache(tmp_path: Path) -> None:
    with pytest.raises(HubRefError, match=r"dataset 'org/absent'.*offline.*" + str(tmp_path).replace("/", ".")):
        resolve(HubRef("org/absent", "dataset"), cache_dir=str(tmp_path), offline=True)


def test_local_path_and_bad_refs(tmp_path: Path) -> None:
    assert resolve(HubRef(str(tmp_path), "model")) == tmp_path.resolve()
    with pytest.raises(HubRefError, match="not an existing path, a hub id"):
        resolve(HubRef("./no/such/dir", "model"))
    with pytest.raises(HubRefError, match="tiny world has no 'nope'"):
        resolve(HubRef("tiny:nope", "dataset"))


class ReadsSource(Stage):
    name = "sft_data"
    config_keys = ("data.sft_source",)

    def sources(self, cfg: Any) -> list[HubRef]:
        return [HubRef(cfg.data.sft_source, "dataset")]

    def plan(self, ctx: StageContext) -> StagePlan:
        return StagePlan(outputs={"source": ctx.resolve(ctx.cfg.data.sft_source)})

    def run(self, ctx: StageContext) -> dict[str, Any]:
        return {"source": ctx.resolve(ctx.cfg.data.sft_source)}


def test_runner_fetches_sources_before_stages(tmp_path: Path) -> None:
    snap = _cached_dataset(tmp_path / "hf", "org/cold-start")
    cfg = compose("tiny", [f"runs_dir={tmp_path}", "stages=[sft_data]", "data.sft_source=org/cold-start",
                           f"hub.cache_dir={tmp_path / 'hf'}"])
    results = Runner(cfg, echo=lambda *_: None, stages={"sft_data": ReadsSource()}).run()
    assert results[0].outputs["source"] == str(snap)
