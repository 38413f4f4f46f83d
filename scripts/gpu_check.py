"""The one-GPU proof after the install (scripts/gpu_check.sh installs the carried wheels, then runs this).

Builds the tiny world, then runs the whole pipeline on the head-size-64 tiny model, one stage per process:
sft_data -> `swift sft` (DeepSpeed ZeRO-2, bf16, gradient checkpointing, ~20 steps) -> rl_data -> 2 verl
GRPO steps from SFT's checkpoint (vLLM rollouts, our reward) -> merge in bf16 -> vLLM eval (enforce_eager)
on a few items of each benchmark. Each stage runs in its own process session under a timeout; on expiry
its whole group is ended and the JSON gets the error and the log's tail. Leftovers of an earlier run on a
warm machine (its recorded process groups, its Ray session) are ended first.

Every figure goes to one JSON file, rewritten after each stage: the machine, per stage exit code, seconds,
peak GPU memory (nvidia-smi, all processes) and its own figures (SFT loss at its logged steps and
DeepSpeed's banner, GRPO step metrics, merged files, eval accuracy and speed), the cost model's forecast.
Without a GPU (`--dry-run`, or none visible) the CPU stages run for real and the GPU stages' plans and
preflight are printed and recorded as skipped. See scripts/GPU_CHECK.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipes.atomic import atomic_write_json  # gpu_check.sh puts the repository on PYTHONPATH

ROOT = Path(__file__).resolve().parent.parent

RECIPE = "tiny_gpu"
RECIPES = {"qwen2_5_vl": RECIPE, "qwen3_vl": "tiny_gpu_qwen3_vl"}
"""`--family`: the tiny GPU recipe of each model family (recipes/families.py)."""
COMMON = ["model.torch_dtype=bfloat16"]
"""Both runs: bf16 (SFT's mixed precision; grpo's stage hash includes the dtype, so the two agree)."""
SFT = ["sft.deepspeed=zero2", "sft.gradient_checkpointing=true", "sft.num_train_epochs=1",
       "sft.save_steps=20", "sft.eval_steps=20", "sft.logging_steps=2", "+sft.extra_args={max_steps: '20'}"]
"""ZeRO-2 (one GPU: it shards nothing, it proves DeepSpeed loads and steps), ~20 optimizer steps."""
GRPO = ["grpo.max_steps=2", "grpo.save_freq=2", "grpo.val_after_train=false", "merge.dtype=bf16",
        "eval.backend=vllm", "eval.limit=4", "eval.engines=1", "eval.gpu_memory_utilization=0.3",
        "eval.max_model_len=4096", "eval.max_new_tokens=64", "eval.enforce_eager=true"]
"""2 GRPO steps, one checkpoint at the end, the merge in bf16, vLLM on 4 items a benchmark."""


@dataclass(frozen=True)
class Stage:
    """One pipeline stage of the proof and the most seconds it may take."""

    name: str
    gpu: bool
    """Needs the GPU, or a GPU stage's output (merge): planned, not run, without one."""
    timeout_s: int


STAGES = (
    Stage("sft_data", False, 300), Stage("sft", True, 300), Stage("rl_data", False, 300),
    Stage("grpo", True, 480), Stage("merge", True, 120), Stage("eval", True, 240),
)
"""grpo: the H200 took ~3 min to its first step's update (vLLM start 2-3 min); eval: one engine start."""


def overrides(stage: str) -> list[str]:
    return COMMON + SFT + (GRPO if stage in ("grpo", "merge", "eval") else [])


def pipeline_argv(runs: Path, stages: list[str], dry_run: bool = False, recipe: str = RECIPE) -> list[str]:
    """`python -m recipes.pipeline <recipe>` (tiny_gpu by default) for `stages` with the proof's overrides."""
    extra = sorted({o for s in stages for o in overrides(s)}, key=lambda o: (COMMON + SFT + GRPO).index(o))
    return [sys.executable, "-m", "recipes.pipeline", recipe, f"runs_dir={runs}", f"stages=[{','.join(stages)}]",
            *extra] + (["dry_run=true"] if dry_run else [])


# ---- processes: one session per stage, a timeout, the group ended on expiry --------------------------

def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def end_group(pgid: int, grace_s: float = 10.0, proc: subprocess.Popen | None = None) -> bool:
    """SIGTERM the process group, then SIGKILL whatever is left of it after `grace_s` (or as soon as its
    leader `proc` has exited and been reaped); True if something had to be killed."""
    if not _alive(pgid):
        return False
    os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _alive(pgid):
        if proc is not None and proc.poll() is not None:
            break  # the leader is gone; its children get no more grace than this
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def tail(path: Path, n: int = 60) -> str:
    return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-n:]) if path.exists() else ""


def run_session(argv: list[str], log: Path, timeout_s: float, pids: Path | None = None,
                env: dict[str, str] | None = None, cwd: Path = ROOT) -> dict[str, Any]:
    """Run `argv` in a new process session (its own group) with output to `log`. On timeout the whole group
    (Ray, vLLM and engine children included) is ended. `pids` records the group id while it runs, so a
    rerun on the same machine can end it if this process dies first."""
    start = time.monotonic()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(argv)}\n")
        f.flush()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        if pids is not None:
            with open(pids, "a") as p:
                p.write(f"{proc.pid}\n")
        timed_out = False
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            end_group(proc.pid, proc=proc)
            code = proc.wait()
    end_group(proc.pid, grace_s=5.0, proc=proc)  # children left behind by a stage that exited (a Ray worker, an engine)
    out: dict[str, Any] = {"exit": code, "seconds": round(time.monotonic() - start, 1)}
    if timed_out:
        out["error"] = f"timed out after {timeout_s:.0f} s: process group {proc.pid} ended"
    elif code:
        out["error"] = f"exited {code}"
    if "error" in out:
        out["log_tail"] = tail(log)
    return out


def end_leftovers(pids: Path, stop_ray: bool, echo: Any = print) -> list[int]:
    """End the process groups an earlier run recorded (alive ones) and, with `stop_ray` (the GPU machine,
    where the proof is the only user of Ray), the machine's Ray session: stray Ray workers and vLLM engines
    keep GPU memory, and vLLM's free-memory check then fails the next start."""
    ended = []
    if pids.exists():
        for line in pids.read_text().split():
            if line.isdigit() and _alive(int(line)):
                end_group(int(line))
                ended.append(int(line))
        pids.unlink()
    ray = Path(sys.executable).with_name("ray")
    ray_cmd = [str(ray)] if ray.exists() else [sys.executable, "-m", "ray.scripts.scripts"]
    if stop_ray and Path("/tmp/ray/session_latest").exists():
        # Ray's own command: ends the Ray processes of this machine's session (GCS, raylet, workers)
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run([*ray_cmd, "stop", "--force"], capture_output=True, timeout=60)
    if ended:
        echo(f"[gpu_check] ended {len(ended)} leftover process group(s) of an earlier run: {ended}")
    return ended


# ---- figures -----------------------------------------------------------------------------------------

_LOSS = re.compile(r"\{[^{}]*'loss': [^{}]*\}")


def sft_figures(log_text: str) -> dict[str, Any]:
    """ms-swift's logged steps ({'loss': ..., 'global_step/max_steps': ...}) and DeepSpeed's banner."""
    steps = []
    for m in _LOSS.finditer(log_text):
        row = {}
        for key in ("loss", "grad_norm", "learning_rate", "global_step/max_steps", "train_speed(s/it)"):
            hit = re.search(rf"'{re.escape(key)}': '?([^,'}}]+)", m.group(0))
            if hit:
                row[key] = hit.group(1)
        steps.append(row)
    banner = [line.strip() for line in log_text.splitlines()
              if re.search(r"DeepSpeed info|\[deepspeed\]|deepspeed.*version|ZeRO|zero_optimization", line, re.I)][:8]
    return {"logged_steps": steps, "deepspeed": banner}


def generation_speed(predictions: Path) -> dict[str, Any]:
    """Completion tokens per second of generation (each row's `gen_seconds` is its share of its batch's time)."""
    if not predictions.exists():
        return {}
    rows = [json.loads(line) for line in predictions.read_text().splitlines() if line.strip()]
    tokens = sum(int(r.get("completion_tokens") or 0) for r in rows)
    seconds = sum(float(r.get("gen_seconds") or 0) for r in rows)
    return {"items": len(rows), "completion_tokens": tokens, "generation_s": round(seconds, 2),
            "tokens_per_s": round(tokens / seconds, 1) if seconds else None}


def merged_files(path: Path) -> dict[str, int]:
    return {f.name: f.stat().st_size for f in sorted(path.iterdir()) if f.is_file()} if path.is_dir() else {}


def stage_figures(stage: str, run_dir: Path, log_text: str) -> dict[str, Any]:
    """The figures each stage leaves: from its outputs under `run_dir` and its log."""
    if stage == "sft":
        return sft_figures(log_text)
    if stage == "grpo":
        from GRPO.verl_metrics import parse_steps, summarize

        grpo_log = run_dir / "grpo" / "log.txt"
        steps = parse_steps(grpo_log.read_text(errors="replace").splitlines()) if grpo_log.exists() else []
        try:
            summary: Any = summarize(steps)
        except ValueError as err:
            summary = f"no step metrics: {err}"
        return {"steps": steps, "summary": summary}
    if stage == "merge":
        merged = run_dir / "merge" / "model"
        return {"dir": str(merged), "files": merged_files(merged if merged.is_dir() else run_dir / "merge")}
    if stage == "eval":
        results = run_dir / "eval" / "results.json"
        out = {"results": json.loads(results.read_text())} if results.exists() else {}
        return {**out, **generation_speed(run_dir / "eval" / "predictions.jsonl")}
    manifest = run_dir / "manifest.json"
    if manifest.exists():
        return {"outputs": json.loads(manifest.read_text())["stages"].get(stage, {}).get("outputs")}
    return {}


def write_console_scripts(site: Path, bindir: Path, python: str = sys.executable) -> list[str]:
    """A launcher in `bindir` for every console script the site's packages declare (as pip writes them),
    for the ones `pip --target` did not write."""
    import configparser

    bindir.mkdir(parents=True, exist_ok=True)
    names = []
    for entry_points in sorted(site.glob("*.dist-info/entry_points.txt")):
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # keep the names' case
        try:
            parser.read_string(entry_points.read_text())
        except configparser.Error:
            continue
        if not parser.has_section("console_scripts"):
            continue
        for name, target in parser.items("console_scripts"):
            module, _, func = target.split("[")[0].strip().partition(":")
            script = bindir / name
            script.write_text(f"#!{python}\nimport sys\nfrom {module} import {func.split('.')[0]}\n"
                              f"sys.exit({func}())\n")
            script.chmod(0o755)
            names.append(name)
    return names


def machine() -> dict[str, Any]:
    from recipes.pipeline.machine import gpu_inventory

    gpus, driver = gpu_inventory()
    info: dict[str, Any] = {"python": platform.python_version(), "gpus": gpus, "driver": driver,
                            "cpus": os.cpu_count()}
    for module in ("torch", "transformers", "vllm", "verl", "ray", "swift", "deepspeed", "flash_attn"):
        try:
            mod = __import__(module)
            info[module] = getattr(mod, "__version__", "?")
        except Exception as err:  # a figure, not a failure: the JSON says what was missing
            info[module] = f"not importable: {type(err).__name__}: {str(err)[:200]}"
    return info


def forecast(dry_run: bool, recipe: str = RECIPE) -> list[str]:
    """The cost model's lines for the proof's recipe (recipes/pipeline/cost.py)."""
    try:
        from recipes.pipeline.compose import compose
        from recipes.pipeline.cost import cost_lines, estimate

        cfg = compose(recipe, overrides("eval"))
        return cost_lines(estimate(cfg, ["sft", "grpo", "merge", "eval"]))
    except Exception as err:  # the forecast is a figure; its failure must not stop the proof
        return [f"cost model failed: {type(err).__name__}: {err}"]


# ---- the run -----------------------------------------------------------------------------------------

def run(out: Path, work: Path, dry_run: bool, only: list[str] | None = None, recipe: str = RECIPE) -> dict[str, Any]:
    """Every stage in order, each under its timeout; the figures so far are written after each one."""
    t0 = time.monotonic()
    runs, logs, pids = work / "runs", work / "logs", work / "stage_pgids.txt"
    runs.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "timings_s": {}, "stages": {},
                               "skipped": {}, "logs": str(logs), "recipe": recipe}
    save = lambda: atomic_write_json(out, figures)  # noqa: E731
    figures["machine"] = machine()
    gpu = bool(figures["machine"]["gpus"]) and not dry_run
    figures["leftovers_ended"] = end_leftovers(pids, stop_ray=gpu)
    if os.environ.get("RLCS_INSTALL_SECONDS"):
        figures["timings_s"]["install"] = float(os.environ["RLCS_INSTALL_SECONDS"])
    if os.environ.get("RLCS_SITE") and Path(os.environ["RLCS_SITE"]).is_dir():
        figures["console_scripts"] = len(write_console_scripts(Path(os.environ["RLCS_SITE"]), work / "bin"))
    figures["forecast"] = forecast(dry_run, recipe)
    for line in figures["forecast"]:
        print(f"[gpu_check] {line}", flush=True)
    save()

    start = time.monotonic()
    from recipes.tiny_world import ensure_tiny_world

    world = ensure_tiny_world()
    figures["timings_s"]["tiny_world"] = round(time.monotonic() - start, 1)
    figures["tiny_world"] = str(world.root)
    save()

    reason = "--dry-run" if dry_run else "no CUDA GPU visible (nvidia-smi)"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    from recipes.pipeline.machine import GpuMemorySampler

    planned = []
    for stage in STAGES:
        if only and stage.name not in only:
            continue
        if stage.gpu and not gpu:
            planned.append(stage.name)
            continue
        log = logs / f"{stage.name}.log"
        print(f"[gpu_check] {stage.name} (timeout {stage.timeout_s} s) ...", flush=True)
        with GpuMemorySampler() as mem:
            result = run_session(pipeline_argv(runs, [stage.name], recipe=recipe), log, stage.timeout_s, pids, env)
        result["peak_gpu_memory_mib"] = mem.peak_mib
        try:
            result["figures"] = stage_figures(stage.name, runs / recipe, log.read_text(errors="replace"))
        except Exception as err:  # a figure, not a failure
            result["figures"] = f"unreadable: {type(err).__name__}: {err}"
        figures["stages"][stage.name] = result
        figures["timings_s"][stage.name] = result["seconds"]
        print(f"[gpu_check] {stage.name}: exit {result['exit']} in {result['seconds']} s", flush=True)
        save()
        if result.get("error"):
            figures["error"] = f"{stage.name}: {result['error']}"
            break
    if planned and not figures.get("error"):
        log = logs / "plan.log"
        result = run_session(pipeline_argv(runs, planned, dry_run=True, recipe=recipe), log, 300, pids, env)
        figures["skipped"] = {s: f"{reason}: planned only (see {log})" for s in planned}
        figures["plan"] = {"exit": result["exit"], "seconds": result["seconds"], "log": str(log)}
        print(tail(log, 200), flush=True)
    figures["timings_s"]["total"] = round(time.monotonic() - t0, 1)
    save()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="the figures (JSON)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/rlcs_gpu_check"), help="runs and logs")
    parser.add_argument("--dry-run", action="store_true", help="CPU stages for real, GPU stages planned")
    parser.add_argument("--stages", default="", help="comma-separated subset (a rerun of what failed)")
    parser.add_argument("--family", choices=sorted(RECIPES), default="qwen2_5_vl",
                        help="the model family whose tiny GPU recipe runs (qwen3_vl: tiny_gpu_qwen3_vl)")
    args = parser.parse_args(argv)
    only = [s for s in args.stages.split(",") if s] or None
    figures = run(args.out.resolve(), args.work.resolve(), args.dry_run, only, RECIPES[args.family])
    print(json.dumps({k: figures.get(k) for k in ("timings_s", "skipped", "error")}, indent=2))
    print(f"figures: {args.out}")
    return 1 if figures.get("error") else 0


if __name__ == "__main__":
    raise SystemExit(main())
