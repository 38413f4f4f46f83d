"""Optional LLM judge over an OpenAI-compatible chat endpoint (plain HTTP, e.g. `vllm serve`).

Off by default. The paper's sister paper judges with Qwen2.5-32B-Instruct comparing the extracted answer
with the ground truth; this mirrors that protocol. Verdicts are appended to `judgements.jsonl` (keyed by
item id and judge model) so a rerun only asks about items not judged yet.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from recipes.atomic import read_jsonl, seal_jsonl_tail
from reward_fns.choices import LETTERS
from reward_fns.grader import extract_answer

log = logging.getLogger(__name__)

JUDGE_PROMPT = """You are grading a student's answer to a math question against the ground truth.
Decide whether the student's final answer is equivalent to the ground truth (same value, same option,
equivalent expression; ignore formatting and units). Reply with one line: "Judgement: 1" if equivalent,
"Judgement: 0" otherwise.

Question: {question}
Ground truth: {gold}
Student's final answer: {answer}"""

_VERDICT_RE = re.compile(r"judgement\s*[:：]\s*([01])", re.IGNORECASE)


class JudgeError(RuntimeError):
    """The judge endpoint failed or answered something that is not a verdict."""


def judge_prompt(row: dict[str, Any]) -> str:
    gold = row["gold"]
    opts = row.get("options")
    if opts and len(gold) == 1 and gold in LETTERS[: len(opts)]:
        gold = f"{gold} ({opts[LETTERS.index(gold)]})"
    answer = extract_answer(row.get("response") or "")
    if answer is None:  # no box: show the response's end, where a final answer would be
        answer = (row.get("response") or "")[-600:]
    # MathVerse: the official judge reads `question_for_eval` (Vision Only rows' `question` is empty)
    question = (row.get("meta") or {}).get("question_for_eval") or row.get("question", "")
    return JUDGE_PROMPT.format(question=question, gold=gold, answer=answer)


def parse_verdict(text: str) -> bool:
    m = _VERDICT_RE.findall(text or "")
    if not m:
        raise JudgeError(f"judge reply has no 'Judgement: 0/1': {text[:200]!r}")
    return m[-1] == "1"


def ask(url: str, model: str, prompt: str, api_key: str | None, timeout_s: float) -> str:
    """One chat completion (temperature 0); returns the reply text."""
    body = json.dumps({"model": model, "temperature": 0.0, "max_tokens": 64,
                       "messages": [{"role": "user", "content": prompt}]}).encode()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    req = urllib.request.Request(url.rstrip("/") + "/chat/completions", data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            data = json.loads(resp.read().decode())
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as err:
        raise JudgeError(f"judge endpoint {url}: {err}") from err
    try:
        return data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as err:
        raise JudgeError(f"judge endpoint {url}: unexpected reply {str(data)[:200]}") from err


def read_judgements(path: Path, model: str) -> dict[str, bool]:
    """id -> verdict of `model` already in `path`, read as every appended JSON-lines file is (`read_jsonl`): a torn
    last line is skipped (its item is asked again), a bad line elsewhere is an error naming the file and line."""
    return {rec["id"]: bool(rec["correct"]) for rec in read_jsonl(path) if rec.get("judge_model") == model}


def judge_rows(rows: list[dict[str, Any]], path: Path, url: str, model: str, api_key_env: str = "OPENAI_API_KEY",
               timeout_s: float = 60.0, max_workers: int = 8) -> dict[str, bool]:
    """Judge every row (resuming from `path`); return id -> verdict for all rows."""
    done = read_judgements(path, model)
    todo = [r for r in rows if r["id"] not in done]
    if todo:
        log.info("judging %d items with %s at %s", len(todo), model, url)
        api_key = os.environ.get(api_key_env)
        seal_jsonl_tail(path)
        with open(path, "a", encoding="utf-8") as f, ThreadPoolExecutor(max_workers) as pool:
            futures = {pool.submit(ask, url, model, judge_prompt(r), api_key, timeout_s): r for r in todo}
            for fut in as_completed(futures):
                row = futures[fut]
                reply = fut.result()
                verdict = parse_verdict(reply)
                done[row["id"]] = verdict
                f.write(json.dumps({"id": row["id"], "judge_model": model, "correct": verdict,
                                    "reply": reply}, ensure_ascii=False) + "\n")
                f.flush()
    return {r["id"]: done[r["id"]] for r in rows}


# -- a local judge server for the run ---------------------------------------------------------------------

DEFAULT_LAUNCH = ("{python} -m vllm.entrypoints.openai.api_server --model {model} --served-model-name {name} "
                  "--port {port} --host 127.0.0.1 --tensor-parallel-size {tp}")


def server_command(judge: Any, model_path: str | None = None) -> list[str]:
    """The argv that starts the local judge server (`judge.launch`, else vLLM's OpenAI server) for the
    weights at `model_path` (default: `judge.model`), served under the name `judge.model`."""
    template = judge.launch or DEFAULT_LAUNCH
    return [part.format(python=sys.executable, model=model_path or judge.model, name=judge.model, port=judge.port,
                        tp=judge.tensor_parallel_size) for part in shlex.split(template)]


def local_url(judge: Any) -> str:
    return f"http://127.0.0.1:{judge.port}/v1"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/models", timeout=5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError):
        return False


def _stop(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM the server's whole process group, then SIGKILL what is left after `grace_s`."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def judge_server(judge: Any, log_path: Path, model_path: str | None = None) -> Iterator[str]:
    """Start the judge server (own process group, output to `log_path`), wait until `/v1/models` answers,
    yield its base URL, and stop it on the way out whatever happened."""
    cmd = server_command(judge, model_path)
    url = local_url(judge)
    if _healthy(url):
        raise JudgeError(f"something already answers at {url}; set eval.judge.url to use it, or another "
                         "eval.judge.port")
    log.info("starting the judge server: %s (log: %s)", shlex.join(cmd), log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as logf:
        try:
            from recipes import child_guard  # the server's group dies with this process, however it dies

            env = {**os.environ, child_guard.PARENT_ENV: str(os.getpid())}
            proc = subprocess.Popen(child_guard.guarded_argv(cmd), stdout=logf, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=env)
        except OSError as err:
            raise JudgeError(f"cannot start the judge server {shlex.join(cmd)}: {err}") from err
    try:
        deadline = time.monotonic() + float(judge.startup_timeout_s)
        while not _healthy(url):
            if proc.poll() is not None:
                raise JudgeError(f"the judge server exited with {proc.returncode} before answering; see {log_path}")
            if time.monotonic() > deadline:
                raise JudgeError(f"the judge server did not answer at {url} within {judge.startup_timeout_s} s; "
                                 f"see {log_path}")
            time.sleep(0.5)
        log.info("judge server ready at %s", url)
        yield url
    finally:
        _stop(proc)
        log.info("judge server stopped (exit %s)", proc.returncode)
