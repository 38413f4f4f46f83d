"""Faults that must not cost results (issue 29), each at the unit where it is decided: a prediction row without
its newline, a rerun request already honoured, sources rewritten in place, images that decode to garbage, empty
and malformed inputs, the reward's deadline, a trainer outliving its runner, the disk check. The SIGKILL cases
on the tiny pipeline are in tests/test_fault_suite.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluation.backends import GenerationError, GenSettings
from evaluation.generate import check_complete, generate_predictions, read_predictions
from recipes.atomic import seal_jsonl_tail

from helpers.eval_scripted import Scripted, scripted_items

# -- (3) evaluation never drops a prediction ----------------------------------------------------------------

def test_complete_last_row_without_newline_is_kept_not_cut(tmp_path):
    items = scripted_items(4)
    s = GenSettings(model="m", system_prompt="sys", max_new_tokens=4)
    backend = Scripted({it.id: f"\\boxed{{{it.gold}}}" for it in items})
    path = tmp_path / "predictions.jsonl"
    generate_predictions(items[:2], lambda: backend, s, path, batch_size=2)
    path.write_bytes(path.read_bytes()[:-1])  # the crash hit between the last row and its newline
    assert len(read_predictions(path)) == 2  # counted as done ...
    st = generate_predictions(items, lambda: backend, s, path, batch_size=2)
    assert (st["skipped"], st["generated"]) == (2, 2)
    rows = read_predictions(path)  # ... and kept: four rows, each on its own line
    assert [r["id"] for r in rows] == [it.id for it in items]
    assert path.read_text().count("\n") == 4
    check_complete(items, path)


def test_torn_tail_is_cut_and_regenerated(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b", "resp')
    assert seal_jsonl_tail(path) == "cut"
    assert path.read_text() == '{"id": "a"}\n'
    path.write_text('{"id": "a"}\n{"id": "b"}')
    assert seal_jsonl_tail(path) == "sealed"
    assert path.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    assert seal_jsonl_tail(path) == ""


def test_fewer_predictions_than_items_fails_naming_the_file(tmp_path):
    items = scripted_items(3)
    s = GenSettings(model="m", system_prompt="sys", max_new_tokens=4)
    path = tmp_path / "predictions.jsonl"
    generate_predictions(items[:2], lambda: Scripted({it.id: "x" for it in items}), s, path, batch_size=2)
    with pytest.raises(GenerationError, match=r"predictions.jsonl: 2 predictions for 3 items; missing 1"):
        check_complete(items, path)


# -- (9) a stage's command dies with its runner; the run lock covers it ----------------------------------------

RUNNER_SCRIPT = """
import sys
from pathlib import Path
from omegaconf import OmegaConf
from recipes.pipeline.manifest import RunLock
from recipes.stage import Command, StageContext

run_dir = Path(sys.argv[1])
with RunLock(run_dir):
    ctx = StageContext(OmegaConf.create({}), run_dir, "sft", {}, {}, dry_run=False)
    ctx.run_command(Command(["sh", "-c", "sleep 300 & echo $! > grandchild.pid; wait"], cwd=str(run_dir)))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state != "Z"


def _wait_for(cond, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def test_a_killed_runner_takes_its_command_and_grandchildren_with_it(tmp_path):
    from recipes.pipeline.manifest import RunLock, RunLockedError

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    runner = subprocess.Popen([sys.executable, "-c", RUNNER_SCRIPT, str(run_dir)], env=env, start_new_session=True)
    pid_file = run_dir / "grandchild.pid"
    assert _wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 120)
    grandchild = int(pid_file.read_text())
    assert _alive(grandchild)
    with pytest.raises(RunLockedError):  # the runner holds the lock
        RunLock(run_dir).__enter__()
    runner.send_signal(signal.SIGKILL)  # the runner alone, as the OOM killer does
    runner.wait()
    assert _wait_for(lambda: not _alive(grandchild), 60), "the grandchild outlived its runner"

    def lock_is_free() -> bool:
        try:
            with RunLock(run_dir):  # free again, and no group of the dead runner is left on record
                return not list((run_dir / ".children").glob("*"))
        except RunLockedError:  # the guard's own exit, on a loaded machine
            return False

    assert _wait_for(lock_is_free, 60)


def test_the_run_lock_refuses_while_an_orphaned_group_runs(tmp_path):
    from recipes.child_guard import record
    from recipes.pipeline.manifest import RunLock, RunLockedError

    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        record(tmp_path, orphan.pid)
        with pytest.raises(RunLockedError, match=rf"process group {orphan.pid}.*kill -- -{orphan.pid}"):
            RunLock(tmp_path).__enter__()
    finally:
        orphan.kill()
        orphan.wait()
    with RunLock(tmp_path):
        pass



def test_a_standalone_converter_refuses_an_output_another_one_is_writing(tmp_path, capsys):
    from recipes.atomic import output_lock
    from recipes.pipeline.convert_cli import main_sft

    src = _parquet(tmp_path / "cold.parquet", 2)
    argv = ["--out", str(tmp_path / "out"), "model.path=none", f"data.sft_source={src}", "--no-progress"]
    with output_lock(tmp_path / "out" / ".train.lock", "the other converter"):
        assert main_sft(argv, prog="rlcs convert-sft") == 2
    assert "train.jsonl is being written by another process (pid" in capsys.readouterr().err
    assert main_sft(argv, prog="rlcs convert-sft") == 0  # the lock went with its holder

# -- (8) empty and malformed inputs: one line naming the file ----------------------------------------------------

def _parquet(path: Path, n: int) -> Path:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, "PNG")
    img = {"bytes": buf.getvalue(), "path": None}
    pq.write_table(pa.table({"images": [[img]] * n, "problem": ["<image>What colour?"] * n,
                             "answer": ["red"] * n}), path)
    return path


@pytest.mark.parametrize(("name", "make", "match"), [
    ("zero.parquet", lambda p: _parquet(p, 0), r"0 rows in .*zero\.parquet: nothing to convert"),
    ("empty.parquet", lambda p: p.write_bytes(b""), r"empty\.parquet: not a readable parquet file"),
    ("rows.jsonl", lambda p: p.write_text('{"problem": "p", "answer": "a", "images": []}\n'),
     r"rows\.jsonl: only parquet data files are supported"),
])
def test_empty_and_non_parquet_sources_fail_in_one_line_naming_the_file(tmp_path, capsys, name, make, match):
    import re

    from recipes.pipeline.convert_cli import main_sft

    make(tmp_path / name)
    code = main_sft(["--out", str(tmp_path / "out"), "model.path=none", f"data.sft_source={tmp_path / name}",
                     "--no-progress"], prog="rlcs convert-sft")
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and err and re.search(match, err[-1]), err
    assert "Traceback" not in "\n".join(err)


def test_truncated_safetensors_is_named_before_training(tmp_path, tiny_world):
    import shutil

    from SFT.checks import SFTInputError, check_model_dir

    model = tmp_path / "model"
    shutil.copytree(tiny_world.model, model)
    weights = sorted(model.glob("*.safetensors"))[0]
    check_model_dir(model)
    with open(weights, "r+b") as f:
        f.truncate(weights.stat().st_size // 2)
    with pytest.raises(SFTInputError, match=rf"{weights.name}: .* bytes but its tensors need .*truncated"):
        check_model_dir(model)


def test_runner_reports_an_offline_hub_id_in_one_line(tmp_path, capsys):
    from recipes.pipeline.rlcs_run import main

    code = main(["tiny", f"runs_dir={tmp_path}", "stages=[sft_data]", "data.sft_source=nosuch-org/no-such-set",
                 "hub.offline=true"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: dataset 'nosuch-org/no-such-set': offline mode is on")


# -- (5) local sources are identified by content ------------------------------------------------------------------

def _rewrite_in_place(path: Path, n: int) -> None:
    """Same path, same size class, other rows; the mtime is set back so only the content tells."""
    st = path.stat()
    _parquet(path, n)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.slow
def test_a_source_rewritten_in_place_is_a_changed_input_not_a_reuse(tmp_path, tiny_world):
    from recipes.pipeline.compose import compose
    from recipes.pipeline.runner import ConfigChangedError, Runner

    src = _parquet(tmp_path / "cold.parquet", 3)
    over = [f"runs_dir={tmp_path / 'runs'}", "stages=[sft_data]", f"data.sft_source={src}"]
    Runner(compose("tiny", over), echo=lambda *_: None).run()
    train = tmp_path / "runs" / "tiny" / "sft_data" / "train.jsonl"
    assert len(train.read_text().splitlines()) == 3
    os.utime(src)  # touched, same bytes: still the same input
    assert [r.status for r in Runner(compose("tiny", over), echo=lambda *_: None).run()] == ["skipped"]
    _rewrite_in_place(src, 5)
    with pytest.raises(ConfigChangedError, match=rf"changed: \(contents of {src}\).*rerun=\[sft_data\]"):
        Runner(compose("tiny", over), echo=lambda *_: None).run()
    Runner(compose("tiny", [*over, "rerun=[sft_data]"]), echo=lambda *_: None).run()
    assert len(train.read_text().splitlines()) == 5  # reconverted from the new content


def test_standalone_converter_notices_a_rewritten_source(tmp_path, capsys):
    from recipes.pipeline.convert_cli import main_sft

    src = _parquet(tmp_path / "cold.parquet", 3)
    argv = ["--out", str(tmp_path / "out"), "model.path=none", f"data.sft_source={src}", "--no-progress"]
    assert main_sft(argv, prog="rlcs convert-sft") == 0
    assert main_sft(argv, prog="rlcs convert-sft") == 0  # same content: nothing to do
    _rewrite_in_place(src, 4)
    capsys.readouterr()
    assert main_sft(argv, prog="rlcs convert-sft") != 0
    assert "source_content" in capsys.readouterr().err
    assert main_sft([*argv, "--overwrite"], prog="rlcs convert-sft") == 0
    assert len((tmp_path / "out" / "train.jsonl").read_text().splitlines()) == 4


# -- (6) images are decoded in full at validation -----------------------------------------------------------------

def _png_with_garbage_data() -> bytes:
    """A PNG whose IDAT holds random bytes under a correct CRC: every chunk checks, the pixels do not inflate."""
    import io
    import struct
    import zlib

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buf, "PNG")
    data, out, pos = buf.getvalue(), bytearray(buf.getvalue()[:8]), 8
    rng = __import__("random").Random(0)
    while pos < len(data):
        (n,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IDAT":
            body = bytes(rng.randrange(256) for _ in range(n))
        out += struct.pack(">I", n) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        pos += 12 + n
    return bytes(out)


def test_png_with_valid_crcs_and_garbage_pixels_is_refused():
    from PIL import Image

    from recipes.data.errors import RowReject
    from recipes.data.images import clean_image

    bad = _png_with_garbage_data()
    with Image.open(__import__("io").BytesIO(bad)) as im:
        im.verify()  # the CRC check alone passes it
    with pytest.raises(RowReject, match="undecodable image"):
        clean_image(bad)


# -- (7) the reward is bounded by its deadline end to end, and its faces warm their pool ---------------------------

def test_option_matching_is_bounded_whatever_the_option_list():
    from reward_fns.grader import grade_answer

    many = [f"{k} cm" for k in range(100_000)]
    v = grade_answer("50000 cm", "B", options=many)  # only A-J can be named: the rest is never scanned
    assert not v.correct and v.reason != "choice_content"
    assert grade_answer("1 cm", "B", options=many).correct  # option B, found among the first ten
    late = grade_answer("3 cm", "B", options=many, limit_s=-1.0, timeout_retries=0)  # deadline already past
    assert (late.correct, late.reason) == (False, "symbolic_timeout:options")


@pytest.mark.slow
def test_loading_a_reward_face_warms_the_symbolic_pool():
    code = ("import importlib.util, sys, time\n"
            "spec = importlib.util.spec_from_file_location('custom_module', sys.argv[1])\n"
            "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
            "from reward_fns.timeout import get_pool\n"
            "pool = get_pool()\n"
            "print('warm' if pool._started.wait(120) and not pool._cache else 'cold')\n")
    face = Path(__file__).resolve().parents[1] / "reward_fns" / "verl_reward.py"
    out = subprocess.run([sys.executable, "-c", code, str(face)], capture_output=True, text=True, timeout=180,
                         env={**{k: v for k, v in os.environ.items() if k != "RLCS_REWARD_WARM"},
                              "RLCS_REWARD_WORKERS": "1", "RLCS_REWARD_SPARE_WORKERS": "0"})
    assert out.stdout.strip() == "warm", out.stderr[-2000:]
