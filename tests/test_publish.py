"""What a run publishes: the config in its tracker, the HTML report (rendered in headless Chromium), and the push
to a Hub (a stand-in Hub on 127.0.0.1 speaking huggingface_hub's real upload protocol: tests/hub_standin.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from fixtures.hub_standin import StandinHub

from recipes.pipeline.compose import compose
from recipes.pipeline.manifest import Manifest
from recipes.pipeline.push import PushError, push_run
from recipes.pipeline.runner import Runner
from recipes.stage_outputs import DONE

pytestmark = pytest.mark.slow  # every test reads one evaluated tiny run (the module fixture: ~17 s loaded)

TOKEN = "hf_standin_token"


@pytest.fixture(scope="module")
def eval_run(tiny_world, tmp_path_factory):
    """A real eval-only tiny run (the tiny model, 2 items a benchmark) with tensorboard as its logger, an SFT
    log in ms-swift's format (so there are curves), and the tiny model recorded as the run's merged model."""
    runs = tmp_path_factory.mktemp("runs")
    run_dir = runs / "tiny"
    log = run_dir / "sft" / "output" / "logging.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("".join(json.dumps({"loss": 2.0 / s, "token_acc": 0.1 * s, "global_step/max_steps": f"{s}/8"})
                           + "\n" for s in range(1, 9)))
    cfg = compose("tiny", [f"runs_dir={runs}", "stages=[eval]", "eval.limit=2", "eval.max_new_tokens=8",
                           "logger=[tensorboard]"])
    lines: list[str] = []
    Runner(cfg, echo=lines.append).run()
    Manifest(run_dir, "tiny").update("merge", status=DONE, outputs={"model": str(tiny_world.model)}, seconds=1.0)
    return run_dir, lines


def test_run_summary_lists_what_was_produced(eval_run):
    run_dir, lines = eval_run
    text = "\n".join(lines)
    assert "What this run produced:" in text
    assert f"results  {run_dir / 'eval' / 'results.json'}" in text
    assert f"curves   {run_dir / 'curves' / 'sft.png'}" in text
    assert f"report   {run_dir / 'report.html'}" in text
    assert f"tensorboard --logdir {run_dir.resolve() / 'tensorboard'}" in text
    assert (run_dir / "config.yaml").read_text().startswith("run_name: tiny")


def test_tensorboard_receives_the_recipe_and_hashes(eval_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = eval_run
    acc = EventAccumulator(str(run_dir / "tensorboard" / "config"), size_guidance={"tensors": 0}).Reload()
    tags = acc.Tags()["tensors"]
    assert {"recipe/text_summary", "config_hashes/text_summary"} <= set(tags)
    hashes = acc.Tensors("config_hashes/text_summary")[0].tensor_proto.string_val[0].decode()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert f"eval: `{manifest['stages']['eval']['config_hash']}`" in hashes
    recipe = acc.Tensors("recipe/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "run_name: tiny" in recipe and "logger:\n- tensorboard" in recipe


def test_push_refused_offline_or_without_token(eval_run, monkeypatch):
    run_dir, _ = eval_run
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PushError, match=r"offline .*rlcs push RUN --to ORG/NAME"):
        push_run(run_dir, "rlcs-org/tiny", token=TOKEN)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(run_dir / "no_hf_home"))  # no stored token either
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(run_dir / "no_hf_home" / "token"))
    with pytest.raises(PushError, match="no Hugging Face token: set HF_TOKEN"):
        push_run(run_dir, "rlcs-org/tiny")


@pytest.fixture
def online(monkeypatch):
    """huggingface_hub as on a connected machine (the suite runs with HF_HUB_OFFLINE=1), on the LFS path:
    the stand-in does not speak Xet."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_DISABLE_XET", True)


def test_push_to_standin_hub_then_resume(eval_run, online, tiny_world):
    run_dir, _ = eval_run
    with StandinHub(TOKEN) as hub:
        with pytest.raises(PushError, match=r"refused the token \(401\)"):
            push_run(run_dir, "rlcs-org/tiny-run", token="hf_wrong", endpoint=hub.url)
        hub.state.fail_next_lfs_put = 1  # the connection drops during one large file
        with pytest.raises(PushError, match="rerun the same push to resume"):
            push_run(run_dir, "rlcs-org/tiny-run", token=TOKEN, endpoint=hub.url)
        first = list(hub.state.log)
        url = push_run(run_dir, "rlcs-org/tiny-run", token=TOKEN, endpoint=hub.url, echo=lambda *_: None)
        resumed = hub.state.log[len(first):]
        push_run(run_dir, "rlcs-org/tiny-run", token=TOKEN, endpoint=hub.url, echo=lambda *_: None)
        again = hub.state.log[len(first) + len(resumed):]
        repo = hub.state.repos["rlcs-org/tiny-run"]
    assert url == f"{hub.url}/rlcs-org/tiny-run" and repo.private
    # the real protocol: whoami, create, preupload, card YAML check, LFS batch + PUT + verify, NDJSON commit
    methods = [" ".join(line.split()[:2]) for line in first + resumed]
    assert methods[:2] == ["GET /api/whoami-v2", "GET /api/whoami-v2"]  # the wrong token, then the right one
    assert "POST /api/repos/create" in methods and "POST /api/validate-yaml" in methods
    assert "POST /api/models/rlcs-org/tiny-run/preupload/main" in methods
    assert "POST /rlcs-org/tiny-run.git/info/lfs/objects/batch" in methods
    assert "POST /rlcs-org/tiny-run.git/info/lfs/objects/verify" in methods
    assert "POST /api/models/rlcs-org/tiny-run/commit/main" in methods
    # resumed: every large file crossed the wire once; the second try sent only what the Hub lacked
    lfs_files = [p for p, e in repo.files.items() if "lfs" in e]
    assert {"model.safetensors", "curves/sft.png"} <= set(lfs_files)
    put_ok = [line.split()[1] for line in first + resumed if line.startswith("PUT /lfs/") and line.endswith(" 200")]
    assert sorted(put_ok) == sorted(set(put_ok)) and len(put_ok) == len(lfs_files)
    assert any(line.startswith("PUT /lfs/") and line.endswith(" 400") for line in first)
    assert sum(line.startswith("PUT /lfs/") for line in resumed) < len(lfs_files)
    # pushing an unchanged run again sends no file and makes no commit
    assert len(repo.commits) == 1 and not any(line.startswith(("PUT", "POST /api/models/rlcs-org/tiny-run/commit"))
                                              for line in again)
    # what is on the Hub: the model with its processor, the card, results, curves
    model = Path(tiny_world.model)
    for name in ("model.safetensors", "config.json", "processor_config.json", "chat_template.jinja", "tokenizer.json"):
        assert hub.state.file_bytes("rlcs-org/tiny-run", name) == (model / name).read_bytes(), name
    assert hub.state.file_bytes("rlcs-org/tiny-run", "curves/sft.png")[:4] == b"\x89PNG"
    results = json.loads(hub.state.file_bytes("rlcs-org/tiny-run", "results/results.json"))
    card = hub.state.file_bytes("rlcs-org/tiny-run", "README.md").decode()
    assert card.startswith("---\n") and "license:" in card and "pipeline_tag: image-text-to-text" in card
    assert "cold start + GRPO, 3B (paper)" in card and "**ours: tiny-run**" in card
    assert f"**{results['average']:.1f}**" in card and "preset `tiny`" in card
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stages"]["eval"]["config_hash"] in card and "![sft](curves/sft.png)" in card
    assert "`tiny:cold_start`" in card


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_report_renders_in_headless_chromium(eval_run, tmp_path):
    """The page a collaborator opens from disk: Chromium's DOM after rendering it (no server, no network) shows
    the plan, an inlined curve, the eval table beside the paper's rows, breakdowns and reflection; the
    screenshot is kept in this test's tmp folder."""
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium binary on this machine (apt-get install chromium) to render the report")
    run_dir, _ = eval_run
    page = run_dir / "report.html"
    text = page.read_text()
    assert "src='http" not in text and "href='http" not in text  # self-contained
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    shot = tmp_path / "report.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert "<h1>Run tiny</h1>" in dom and "Plan and stage timings" in dom
    assert "<td>eval</td><td class=\"done\">done</td>" in dom
    assert 'src="data:image/png;base64,' in dom and 'alt="sft curves"' in dom
    assert "cold start + GRPO, 3B (paper)" in dom and "<strong>ours: tiny</strong>" in dom
    assert "Reflection" in dom and "Grader decisions" in dom
    results = json.loads((run_dir / "eval" / "results.json").read_text())
    assert f"<strong>{results['average']:.1f}</strong>" in dom
    print(f"screenshot: {shot}")
