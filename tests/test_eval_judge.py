"""The LLM judge's local server lifecycle, on a CPU: the eval starts a server (here a small OpenAI-compatible
stand-in, tests/fixtures/judge_standin.py, on 127.0.0.1), waits for its health, judges, and always stops it;
judge verdicts appear beside the rule verdicts and feed We-Math's four-dimensional metrics."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from evaluation.backends import Generation, GenSettings
from evaluation.bench_data import item_from_row
from evaluation.bench_specs import SPECS
from evaluation.generate import generate_predictions
from evaluation.judge import JudgeError, judge_server
from evaluation.run import rescore
from recipes.pipeline.compose import compose_eval

STANDIN = Path(__file__).parent / "fixtures" / "judge_standin.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _judge(port: int, *extra: str, timeout: float = 60.0):
    launch = f"{sys.executable} {STANDIN} --port {{port}} --max-seconds 90 " + " ".join(extra)
    return compose_eval("paper", ["judge.enabled=true", f"judge.port={port}", "judge.model=standin",
                                  f"judge.launch='{launch}'", f"judge.startup_timeout_s={timeout}"]).judge


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class Scripted:
    name = "scripted"

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def generate(self, items):
        return [Generation(self.answers[it.id], "stop", 10, 5) for it in items]


def _predictions(tmp_path: Path) -> Path:
    from PIL import Image

    img = Image.new("RGB", (28, 28))
    mv = [item_from_row(SPECS["mathvision"], {"id": str(i), "question": "q", "options": [], "decoded_image": img,
                                              "answer": str(i)}, "t") for i in range(3)]
    we = [item_from_row(SPECS["wemath"], {"ID": "2steps_1", "key": k, "question": "q", "option": "A. 1; B. 2",
                                          "answer": "B", "image_path": img}, "t")
          for k in ("2steps_1", "2steps_2", "2steps_multi")]
    answers = {mv[0].id: "\\boxed{0}", mv[1].id: "\\boxed{1.0}", mv[2].id: "\\boxed{7}",  # rule: 2 right, judge: 1
               we[0].id: "\\boxed{B}", we[1].id: "\\boxed{B}", we[2].id: "\\boxed{2}"}  # rule CM; judge IG
    path = tmp_path / "predictions.jsonl"
    generate_predictions(mv + we, lambda: Scripted(answers), GenSettings(model="m", system_prompt="s"), path, 8)
    return path


@pytest.mark.slow
def test_local_judge_server_is_started_used_and_stopped(tmp_path):
    path = _predictions(tmp_path)
    pidfile = tmp_path / "server.pid"
    res = rescore(path, judge=_judge(_free_port(), "--delay 1", f"--pidfile {pidfile}"))
    pid = int(pidfile.read_text())
    assert _gone(pid)  # stopped after judging
    mv, we = res["benchmarks"]["mathvision"], res["benchmarks"]["wemath"]
    assert (mv["accuracy"], mv["judge"]["accuracy"]) == (66.67, 33.33)  # rule and judge side by side
    assert we["four_dimensional"]["counts"]["CM_strict"] == 1
    assert we["four_dimensional_judge"]["counts"]["IG"] == 1  # judge verdicts feed the four dimensions
    md = (tmp_path / "results.md").read_text()
    assert "ours, LLM judge" in md and "Four-dimensional metrics (LLM-judge verdicts)" in md
    again = rescore(path, judge=_judge(_free_port(), "--exit-now 5"))  # all judged: no server is started
    assert again["benchmarks"]["mathvision"]["judge"] == mv["judge"]


@pytest.mark.slow
def test_a_server_that_dies_or_never_answers_is_an_error_and_is_stopped(tmp_path):
    path = _predictions(tmp_path)
    with pytest.raises(JudgeError, match="exited with 5 before answering"):
        rescore(path, judge=_judge(_free_port(), "--exit-now 5"))
    pidfile = tmp_path / "slow.pid"
    with pytest.raises(JudgeError, match=r"did not answer .* within 2.0 s"):
        rescore(path, judge=_judge(_free_port(), "--delay 30", f"--pidfile {pidfile}", timeout=2.0))
    assert _gone(int(pidfile.read_text()))


def test_a_port_already_answering_is_refused(tmp_path):
    port = _free_port()
    judge = _judge(port)
    with judge_server(judge, tmp_path / "a.log") as url:
        assert url == f"http://127.0.0.1:{port}/v1"
        with pytest.raises(JudgeError, match="already answers"), judge_server(judge, tmp_path / "b.log"):
            pass


def test_saved_judgements_are_read_like_every_appended_jsonl(tmp_path):
    """A torn last line is asked again; a bad line elsewhere is an error naming the file and the line (read_jsonl)."""
    from evaluation.judge import read_judgements

    path = tmp_path / "judgements.jsonl"
    rows = ['{"id": "a", "judge_model": "m", "correct": true}', '{"id": "b", "judge_model": "other", "correct": true}',
            '{"id": "c", "judge_model": "m", "correct": false}']
    path.write_text("\n".join([*rows, '{"id": "d", "judge_mo']), encoding="utf-8")
    assert read_judgements(path, "m") == {"a": True, "c": False}
    path.write_text("\n".join([rows[0], "not json", rows[2]]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path} line 2: not JSON"):
        read_judgements(path, "m")
    assert read_judgements(tmp_path / "absent.jsonl", "m") == {}
