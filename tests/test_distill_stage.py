"""The distill stage end to end on the tiny world: real sampling from the tiny Qwen2.5-VL (transformers on CPU),
the grader, resume, the cold-start parquet, and `sft_data` converting it; the Ray Data path; the GPU plan."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from recipes.pipeline.compose import compose
from recipes.pipeline.runner import Runner
from recipes.stage import StageError

TINY = ["stages=[distill,sft_data]", "distill.sources=[tiny:cold_start]", "distill.max_problems=3", "distill.k=2",
        "distill.max_new_tokens=8", "distill.batch_size=2", "distill.keep=all", "data.num_workers=1"]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_rows(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.slow
def test_distill_samples_judges_resumes_and_feeds_sft_data(tiny_world, tmp_path: Path) -> None:
    from datasets import load_dataset

    cfg = compose("tiny", [f"runs_dir={tmp_path}", *TINY])
    # 1. the random tiny teacher: every response is rejected, and the stage says why instead of handing
    #    sft_data an empty set
    with pytest.raises(StageError, match="no response accepted on 3 problems"):
        Runner(cfg, echo=lambda *_: None).run()
    stage_dir = tmp_path / "tiny" / "distill"
    report = json.loads((stage_dir / "report.json").read_text())
    overall = report["overall"]
    assert overall["problems_in"] == 3 and overall["responses"] == 6 and overall["kept"] == 0
    assert sum(overall["rejections"].values()) == 6 and report["backend"] == "hf" and report["generated"] == 6
    assert "| responses sampled | 6 | 6 |" in (stage_dir / "report.md").read_text()

    # 2. a better teacher's responses for rows 0-1 (the tiny set's own chains of thought: right for sample 0;
    #    for sample 1 the final answer changed in row 0, the same right text again in row 1); row 2 loses its
    #    last sample as if interrupted mid-write
    chunk0, chunk1 = sorted(stage_dir.glob("samples/*/*.jsonl"))
    source = load_dataset(str(tiny_world.datasets["cold_start"]), split="train")
    rows = _rows(chunk0)
    for r in rows:
        cot = source[r["meta"]["row"]]["answer"]
        wrong = r["meta"]["sample"] == 1 and r["meta"]["row"] == 0
        text = cot.rsplit("\\boxed{", 1)[0] + "\\boxed{wrong}." if wrong else cot
        r.update(response=text, finish_reason="stop", completion_tokens=len(text.split()))
    _write_rows(chunk0, rows)
    _write_rows(chunk1, _rows(chunk1)[:1])
    chunk1.with_suffix(".done.json").unlink()
    (stage_dir / "distill.summary.json").unlink()

    results = Runner(cfg, echo=lambda *_: None).run()
    distill, sft_data = results
    assert distill.status == "done" and distill.outputs["rows"] == 2 and distill.outputs["problems_with_kept"] == 2
    report = json.loads((stage_dir / "report.json").read_text())
    assert report["generated"] == 1  # only the missing sample was drawn again
    assert report["overall"]["accepted"] == 3 and report["overall"]["rejections"]["wrong"] == 1
    assert report["overall"]["kept"] == 2  # keep=all, but row 1's repeated response is kept once
    assert report["overall"]["problems_accepted_by_k"] == {"1": round(2 / 3, 4), "2": round(2 / 3, 4)}

    out = load_dataset("parquet", data_files=distill.outputs["data"], split="train")
    assert out.num_rows == 2 and out.features["images"].feature.__class__.__name__ == "Image"
    for row in out:
        src = source[row["source_row"]]
        assert row["answer"] == src["answer"] and row["problem"] == src["problem"] and row["sample"] == 0
        assert row["images"][0].size == src["images"][0].size

    # 3. sft_data converted the distilled rows, not data.sft_source
    assert sft_data.status == "done" and sft_data.outputs["rows"] == 2
    lines = _rows(Path(sft_data.outputs["train"]))
    assert [m["messages"][2]["content"] for m in lines] == [r["answer"] for r in out]
    assert all(Path(p).is_file() for m in lines for p in m["images"])


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_ray_data_path_on_cpu(tiny_world, tmp_path: Path) -> None:
    """Ray Data streams the items through an actor pool of evaluation backends (HF on this CPU) and the
    driver appends the rows; a second call finds everything done."""
    ray = pytest.importorskip("ray")
    import pyarrow.parquet as pq

    from evaluation.backends import GenSettings
    from evaluation.generate import read_predictions
    from evaluation.ray_generate import ray_generate
    from SFT.distill.sampling import Problem, backend_factory, items_for

    sys.path.insert(0, str(Path(__file__).parent))  # tests/ray_nodes.py: real local Ray clusters
    from ray_nodes import local_cluster

    row = pq.read_table(next((tiny_world.datasets["rl"] / "data").glob("*.parquet"))).slice(0, 1).to_pylist()[0]
    p = Problem("tiny:rl@train", 0, row["problem"], row["answer"], [row["images"][0]["bytes"]])
    items = items_for(p, "What is shown?", 2)
    settings = GenSettings(model="tiny:model", system_prompt="sys", temperature=1.0, max_new_tokens=4)
    path = tmp_path / "samples.jsonl"
    with local_cluster([{}]) as cluster:
        ray.init(address=cluster.gcs, log_to_driver=False)
        try:
            factory = backend_factory("hf", settings, str(tiny_world.model))
            s = ray_generate(items, factory, "hf", settings, path, engines=1, gpus_per_engine=0, batch_size=2)
            again = ray_generate(items, factory, "hf", settings, path, engines=1, gpus_per_engine=0, batch_size=2)
        finally:
            ray.shutdown()
    rows = read_predictions(path)
    assert s["generated"] == 2 and again["generated"] == 0 and again["skipped"] == 2
    assert [r["id"] for r in rows] == ["tiny:rl@train/0#0", "tiny:rl@train/0#1"]
    assert all(r["backend"] == "ray+hf" and r["completion_tokens"] <= 4 and r["finish_reason"] in ("stop", "length")
               for r in rows)


@pytest.mark.slow
def test_32b_plan_dry_run() -> None:
    lines: list[str] = []
    cfg = compose("qwen2_5_vl_7b", ["stages=[distill,sft_data,sft]", "dry_run=true"])
    Runner(cfg, echo=lines.append).run()
    text = "\n".join(lines)
    assert "teacher Qwen/Qwen2.5-VL-32B-Instruct samples k=4" in text
    assert "2 engine(s) x tensor parallel 4 = 8 GPU(s)" in text and "problems/s" in text
    assert "convert <distill.data> [train]" in text  # sft_data reads the distilled set
    assert "dataset  WaltonFuture/Multimodal-Cold-Start" not in text  # the released set is not fetched
    default = compose("qwen2_5_vl_7b", [])
    assert "distill" not in default.stages  # off in the paper recipes
