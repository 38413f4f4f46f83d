"""The one-GPU proof after the install (scripts/gpu_check.sh installs the carried wheels, then runs this).

Builds the tiny world, converts the tiny RL data, runs 2 verl GRPO steps (vLLM rollouts, our reward) on the
head-size-64 tiny model, merges with our merger, evaluates with the vLLM backend on a few items, and writes
every figure (machine, preflight, step metrics, reward mean, stage timings, peak GPU memory, what was
skipped and why) to one JSON file. Without a GPU (`--dry-run`, or none visible) it runs everything up to
the GPU stages for real and records those as skipped with the reason. See scripts/GPU_CHECK.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from GRPO.verl_metrics import parse_steps, summarize
from recipes.atomic import atomic_write_json
from recipes.pipeline.machine import GpuMemorySampler, gpu_inventory

ROOT = Path(__file__).resolve().parent.parent

GPU_STAGES = ["grpo", "merge", "eval"]
OVERRIDES = [
    "grpo.max_steps=2", "grpo.save_freq=2", "grpo.val_after_train=false",  # 2 steps; one checkpoint, at the end
    "eval.backend=vllm", "eval.limit=4", "eval.engines=1", "eval.gpu_memory_utilization=0.3",
    "eval.max_model_len=4096", "eval.max_new_tokens=64",
]
"""On top of the tiny_gpu recipe (one GPU, enforce_eager, head size 64, no SFT: GRPO starts from the model)."""


def _pipeline(runs: Path, stages: list[str], extra: list[str], log: Path, dry_run: bool = False) -> tuple[int, float]:
    argv = [sys.executable, "-m", "recipes.pipeline", "tiny_gpu", f"runs_dir={runs}", f"stages=[{','.join(stages)}]",
            *OVERRIDES, *extra] + (["dry_run=true"] if dry_run else [])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    start = time.monotonic()
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(argv)}\n")
        f.flush()
        code = subprocess.run(argv, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    return code, round(time.monotonic() - start, 1)


def _machine() -> dict[str, Any]:
    gpus, driver = gpu_inventory()
    info: dict[str, Any] = {"python": platform.python_version(), "gpus": gpus, "driver": driver,
                            "cpus": os.cpu_count()}
    for module in ("torch", "transformers", "vllm", "verl", "ray", "flash_attn"):
        try:
            mod = __import__(module)
            info[module] = getattr(mod, "__version__", "?")
        except Exception as err:  # a figure, not a failure: the JSON says what was missing
            info[module] = f"not importable: {type(err).__name__}: {str(err)[:200]}"
    return info


def _tail(path: Path, n: int = 60) -> str:
    return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-n:]) if path.exists() else ""


def run(out: Path, work: Path, dry_run: bool) -> dict[str, Any]:
    """Every step in order; the figures so far are written after each one."""
    t0 = time.monotonic()
    runs, log = work / "runs", work / "pipeline.log"
    runs.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": _machine(),
                               "timings_s": {}, "skipped": {}, "log": str(log)}
    if os.environ.get("RLCS_INSTALL_SECONDS"):
        figures["timings_s"]["install"] = float(os.environ["RLCS_INSTALL_SECONDS"])
    save = lambda: atomic_write_json(out, figures)  # noqa: E731
    save()

    start = time.monotonic()
    from recipes.tiny_world import ensure_tiny_world

    world = ensure_tiny_world()
    figures["timings_s"]["tiny_world"] = round(time.monotonic() - start, 1)
    figures["tiny_world"] = str(world.root)
    save()

    code, seconds = _pipeline(runs, ["rl_data"], [], log)
    figures["timings_s"]["rl_data"] = seconds
    manifest = runs / "tiny_gpu" / "manifest.json"
    if code:
        figures["error"] = f"rl_data exited {code}: {_tail(log)}"
        save()
        return figures
    figures["rl_data"] = json.loads(manifest.read_text())["stages"]["rl_data"]["outputs"]
    save()

    gpu = bool(figures["machine"]["gpus"]) and not dry_run
    if not gpu:
        reason = "--dry-run" if dry_run else "no CUDA GPU visible (nvidia-smi)"
        code, _ = _pipeline(runs, GPU_STAGES, [], log, dry_run=True)  # the plan and the preflight, printed
        figures["skipped"] = {s: f"{reason}: planned only (see the log)" for s in GPU_STAGES}
        figures["plan_exit_code"] = code
        figures["timings_s"]["total"] = round(time.monotonic() - t0, 1)
        save()
        return figures

    with GpuMemorySampler() as mem:
        code, seconds = _pipeline(runs, GPU_STAGES, [], log)
    figures["timings_s"]["grpo_merge_eval"] = seconds
    figures["peak_gpu_memory_mib"] = mem.peak_mib
    stages = json.loads(manifest.read_text())["stages"]
    figures["stages"] = {s: {k: stages.get(s, {}).get(k) for k in ("status", "seconds", "outputs", "error")}
                         for s in GPU_STAGES}
    for s in GPU_STAGES:
        figures["timings_s"][s] = stages.get(s, {}).get("seconds")
    grpo_log = runs / "tiny_gpu" / "grpo" / "log.txt"
    if grpo_log.exists():
        steps = parse_steps(grpo_log.read_text(errors="replace").splitlines())
        figures["grpo_steps"] = steps
        try:
            figures["grpo_summary"] = summarize(steps)
        except ValueError as err:
            figures["grpo_summary"] = f"no step metrics: {err}"
    results = runs / "tiny_gpu" / "eval" / "results.json"
    if results.exists():
        figures["eval_results"] = json.loads(results.read_text())
    if code:
        figures["error"] = f"grpo/merge/eval exited {code}: {_tail(log)}"
    figures["timings_s"]["total"] = round(time.monotonic() - t0, 1)
    save()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="the figures (JSON)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/rlcs_gpu_check"), help="runs and logs")
    parser.add_argument("--dry-run", action="store_true", help="stop before the GPU stages (a CPU rehearsal)")
    args = parser.parse_args(argv)
    figures = run(args.out.resolve(), args.work.resolve(), args.dry_run)
    print(json.dumps({k: figures.get(k) for k in ("timings_s", "skipped", "peak_gpu_memory_mib", "grpo_summary",
                                                     "error")}, indent=2))
    print(f"figures: {args.out}")
    return 1 if figures.get("error") else 0


if __name__ == "__main__":
    raise SystemExit(main())
