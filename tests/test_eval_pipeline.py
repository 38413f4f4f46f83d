"""End to end on the tiny world: the eval stage through the real runner (tiny Qwen2.5-VL, transformers on
CPU), reports, rescoring, resuming; the predictions file protocol; the optional judge over real HTTP; and
the vLLM path on a GPU."""

from __future__ import annotations

import json
import threading
from http.server import HTTPServer
from pathlib import Path

import pytest

from evaluation.backends import GenerationError, GenSettings
from evaluation.config import PAPER_SYSTEM_PROMPT
from evaluation.generate import generate_predictions, read_predictions
from evaluation.run import compare_results, evaluate, hub_resolver, rescore, settings_from
from recipes.pipeline.compose import compose, compose_eval
from recipes.pipeline.config import MAX_PIXELS, MIN_PIXELS, SYSTEM_PROMPT
from recipes.pipeline.runner import Runner

from helpers.eval_scripted import Scripted, scripted_items

TINY = ["eval.limit=2", "eval.max_new_tokens=8"]


@pytest.fixture(scope="module")
def tiny_run(tiny_world, tmp_path_factory):
    """The eval stage of the tiny recipe, run once through the pipeline runner."""
    runs = tmp_path_factory.mktemp("runs")
    cfg = compose("tiny", [f"runs_dir={runs}", "stages=[eval]", *TINY])
    lines: list[str] = []
    results = Runner(cfg, echo=lines.append).run()
    return cfg, runs / "tiny", results, lines


def test_eval_follows_the_training_settings_by_interpolation():
    """The presets that evaluate as the model was trained read data.* (`${oc.select:data.system_prompt,...}`):
    changing the training prompt or pixel limits changes evaluation too; standalone they get the schema's
    data defaults; the paper protocol keeps its own prompt and pixel range whatever the training used."""
    changed = ["data.system_prompt='Think first, then answer.'", "data.max_pixels=40000", "data.min_pixels=3136"]
    for preset in ("tiny", "train_prompt"):
        s = settings_from(compose("tiny", [f"eval={preset}", *changed]).eval, "m")
        assert s.system_prompt == "Think first, then answer.", preset
    s = settings_from(compose("tiny", ["eval=train_prompt", *changed]).eval, "m")
    assert (s.max_pixels, s.min_pixels) == (40000, 3136)
    alone = settings_from(compose_eval("train_prompt"), "m")
    assert (alone.system_prompt, alone.max_pixels, alone.min_pixels) == (SYSTEM_PROMPT, MAX_PIXELS, MIN_PIXELS)
    paper = settings_from(compose("qwen2_5_vl_7b", changed).eval, "m")
    assert paper.system_prompt == PAPER_SYSTEM_PROMPT and paper.max_pixels == 1280 * 28 * 28


def test_eval_presets_compose_like_recipes():
    ecfg = compose_eval("tiny", ["limit=3", "sources.mathvision.split=testmini"])
    assert ecfg.limit == 3 and ecfg.sources.mathvision.split == "testmini" and ecfg.preset == "tiny"
    with pytest.raises(ValueError, match=r"eval preset 'tiny'.*no_such_key"):
        compose_eval("tiny", ["no_such_key=1"])
    with pytest.raises(ValueError, match="unknown eval preset 'nope'; available: paper, paper_qwen3_vl, tiny, train_prompt"):
        compose_eval("nope")


@pytest.mark.slow
def test_eval_stage_writes_all_reports(tiny_run):
    cfg, run_dir, results, _ = tiny_run
    (res,) = results
    assert res.name == "eval" and res.status == "done"
    out = res.outputs
    for key in ("predictions", "results", "report", "plot"):
        assert Path(out[key]).is_file() and Path(out[key]).stat().st_size > 0, key
    assert Path(out["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out["model"] == "tiny:model"
    stored = json.loads(Path(out["results"]).read_text())
    assert set(stored["benchmarks"]) >= {"mathvista", "wemath", "mathverse", "mathvision"}
    assert all(b["n"] == 2 for b in stored["benchmarks"].values())
    n_items = 2 * len(stored["benchmarks"])
    assert stored["generation"]["generated"] == n_items and stored["generation"]["backend"] == "hf"
    for name, b in stored["benchmarks"].items():
        assert out[f"{name}_accuracy"] == b["accuracy"]
    rows = read_predictions(Path(out["predictions"]))
    assert len(rows) == n_items and all(isinstance(r["response"], str) for r in rows)
    assert rows[0]["settings"]["system_prompt"] == cfg.data.system_prompt  # tiny preset: the SFT prompt
    for r in rows:  # every row says how it ended and what it cost
        assert r["finish_reason"] in ("stop", "length") and r["prompt_tokens"] > 0
        assert 0 < r["completion_tokens"] <= 8
        assert (r["finish_reason"] == "length") == (r["completion_tokens"] == 8)
    for name, b in stored["benchmarks"].items():
        assert b["truncated"]["count"] == sum(r["finish_reason"] == "length" for r in rows if r["benchmark"] == name)
        assert 0 <= b["no_answer"]["rate"] <= 100 and b["fallback"]["n"] == 2
    assert stored["preset"] == "tiny" and stored["loading"]["wemath"] == {"items": 2, "skipped": 0, "degraded": 0}
    md = Path(out["report"]).read_text()
    assert "ours: " in md and "cold start + GRPO, 3B (paper)" in md
    assert "Preset: **tiny**" in md and "| no answer % | truncated % |" in md
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stages"]["eval"]["status"] == "done"


@pytest.mark.slow
def test_rescoring_reproduces_the_stage_numbers(tiny_run):
    _, _, (res,), _ = tiny_run
    stored = json.loads(Path(res.outputs["results"]).read_text())
    assert compare_results(stored, rescore(Path(res.outputs["predictions"]), write=False)) == []


@pytest.mark.slow
def test_rerun_resumes_without_generating(tiny_run):
    _, run_dir, _, _ = tiny_run
    ecfg = compose_eval("tiny", ["limit=2", "max_new_tokens=8"])
    again = evaluate(ecfg, "tiny:model", run_dir / "eval", resolve=hub_resolver(offline=True))
    n_items = 2 * len(again["benchmarks"])
    assert again["generation"] == {**again["generation"], "generated": 0, "skipped": n_items, "backend": None}
    other = compose_eval("tiny", ["limit=2", "max_new_tokens=9"])
    with pytest.raises(GenerationError, match="other settings"):
        evaluate(other, "tiny:model", run_dir / "eval", resolve=hub_resolver(offline=True))


def test_dry_run_names_model_and_benchmarks(tiny_world, tmp_path):
    cfg = compose("tiny", [f"runs_dir={tmp_path}", "stages=[eval]", "dry_run=true"])
    lines: list[str] = []
    Runner(cfg, echo=lines.append).run()
    text = "\n".join(lines)
    assert "evaluate tiny:model (from model.path (base model))" in text
    assert "tiny:mathvision [test]" in text and "dataset  tiny:wemath" in text
    cfg = compose("tiny", [f"runs_dir={tmp_path}", "stages=[merge,eval]", "dry_run=true"])
    lines.clear()
    Runner(cfg, echo=lines.append).run()
    assert "evaluate <merge.model>" in "\n".join(lines)


def test_model_choice_order(tmp_path):
    from evaluation.stage import choose_model
    from recipes.stage import StageContext, StageError

    cfg = compose("tiny", [f"runs_dir={tmp_path}"])

    def pick(outputs, c=cfg):
        return choose_model(StageContext(c, tmp_path, "eval", outputs, {}, dry_run=False))

    assert pick({}) == ("tiny:model", "model.path (base model)")
    assert pick({"sft": {"checkpoint": "/s"}}) == ("/s", "sft.checkpoint")
    assert pick({"sft": {"checkpoint": "/s"}, "grpo": {"checkpoint": "/g", "format": "hf"}})[0] == "/g"
    assert pick({"grpo": {"checkpoint": "/a", "format": "verl_fsdp"}, "merge": {"model": "/m"}})[0] == "/m"
    with pytest.raises(StageError, match=r"grpo left a verl_fsdp checkpoint .*add merge"):
        pick({"sft": {"checkpoint": "/s"}, "grpo": {"checkpoint": "/a", "format": "verl_fsdp"}})
    explicit = compose("tiny", [f"runs_dir={tmp_path}", "eval.model=org/x"])
    assert pick({"merge": {"model": "/m"}}, explicit) == ("org/x", "eval.model")


# -- the predictions file protocol -------------------------------------------------------------------

def test_predictions_append_resume_and_torn_line(tmp_path):
    items = scripted_items(5)
    s = GenSettings(model="m", system_prompt="sys", max_new_tokens=4)
    backend = Scripted({it.id: f"\\boxed{{{it.gold}}}" for it in items})
    path = tmp_path / "predictions.jsonl"
    st = generate_predictions(items[:3], lambda: backend, s, path, batch_size=2)
    assert (st["generated"], backend.calls) == (3, 2)
    with open(path, "a") as f:  # a crash in the middle of writing a row
        f.write('{"id": "mathvision/3", "respo')
    st = generate_predictions(items, lambda: backend, s, path, batch_size=2)
    assert (st["skipped"], st["generated"]) == (3, 2)
    rows = read_predictions(path)
    assert [r["id"] for r in rows] == [it.id for it in items]
    built = []
    st = generate_predictions(items, lambda: built.append(1) or backend, s, path, batch_size=2)
    assert st["generated"] == 0 and built == []  # nothing to do: the model is never loaded
    res = rescore(path, write=False)
    assert res["benchmarks"]["mathvision"]["accuracy"] == 100.0


# -- the optional judge over real HTTP -----------------------------------------------------------------

def _judge_handler() -> type:
    """The judge stand-in's request handler (tests/fixtures/judge_standin.py): "Judgement: 1" when the
    student's answer equals the gold."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("judge_standin", Path(__file__).parent / "fixtures" / "judge_standin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Handler


def test_judge_mode_over_http(tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _judge_handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        items = scripted_items(4)
        answers = {it.id: f"\\boxed{{{it.gold if i % 2 == 0 else 'x'}}}" for i, it in enumerate(items)}
        path = tmp_path / "predictions.jsonl"
        generate_predictions(items, lambda: Scripted(answers), GenSettings(model="m", system_prompt="s"), path, 4)
        judge = compose_eval("paper", ["judge.enabled=true", f"judge.url=http://127.0.0.1:{server.server_port}/v1",
                                              "judge.model=j"]).judge
        res = rescore(path, judge=judge)
        mv = res["benchmarks"]["mathvision"]
        assert mv["judge"] == {"n": 4, "correct": 2, "accuracy": 50.0} and mv["accuracy"] == 50.0
        assert len((tmp_path / "judgements.jsonl").read_text().splitlines()) == 4
        assert "ours, LLM judge" in (tmp_path / "results.md").read_text()
    finally:
        server.shutdown()


# -- vLLM on a GPU -------------------------------------------------------------------------------------

@pytest.mark.gpu
def test_vllm_backend_on_tiny_slice(tiny_world, tmp_path):
    pytest.importorskip("vllm")
    ecfg = compose_eval("tiny", ["backend=vllm", "limit=4", "batch_size=16", "max_new_tokens=32",
                                        "gpu_memory_utilization=0.3", "max_model_len=4096"])
    res = evaluate(ecfg, "tiny:model", tmp_path, resolve=hub_resolver(offline=True))
    gen = res["generation"]
    assert gen["backend"] == "vllm" and gen["generated"] == 16 and gen["items_per_s"] > 0
    print(f"vLLM tiny slice: {gen['generated']} items in {gen['seconds']} s = {gen['items_per_s']} items/s")


def test_7b_dry_run_plans_the_paper_preset_and_one_engine_per_gpu(tmp_path):
    cfg = compose("qwen2_5_vl_7b", [f"runs_dir={tmp_path}", "stages=[eval]", "dry_run=true", "hub.offline=true"])
    lines: list[str] = []
    Runner(cfg, echo=lines.append).run()
    text = "\n".join(lines)
    assert "preset paper: system='You are a helpful assistant.'" in text
    assert "temperature=0.2" in text and "max_new_tokens=16384" in text and "pixels 50176..1003520" in text
    assert "generation: 8 engine(s) x tensor_parallel_size=1 over 8 GPU(s)" in text
    cfg = compose("qwen2_5_vl_7b", [f"runs_dir={tmp_path}", "stages=[eval]", "dry_run=true", "hub.offline=true",
                                    "cluster=ray", "eval.tensor_parallel_size=2", "eval=train_prompt",
                                    "eval.judge.enabled=true"])
    lines.clear()
    Runner(cfg, echo=lines.append).run()
    text = "\n".join(lines)
    assert "4 engine(s) x tensor_parallel_size=2" in text and "Ray Data actors" in text
    assert f"system={cfg.data.system_prompt!r}" in text and "greedy" in text
    assert "vllm.entrypoints.openai.api_server --model Qwen/Qwen2.5-32B-Instruct" in text
