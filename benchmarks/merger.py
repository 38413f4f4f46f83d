"""Benchmark: our streaming merger against ``python -m verl.model_merger merge`` on one 4-rank FSDP2 checkpoint.

A randomly initialised Qwen2 text model (~0.74 B parameters with the defaults, fp32, ~3 GB) is sharded
over 4 gloo ranks by verl's own FSDPCheckpointManager (tests/fsdp_ckpt_worker.py --meta-init). Each merger
then runs as a subprocess on the same checkpoint (files pre-read into the page cache for both); wall time
and peak RSS (psutil, process tree, sampled every 20 ms; after one unmeasured warm-up run of each, so both
use cached bytecode and a warm page cache) are printed with their ratios, and the two bf16
outputs are compared tensor by tensor.

    .venv/bin/python benchmarks/merger.py [--layers 12 --hidden 2048 --vocab 32000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def run_measured(cmd: list[str], env: dict[str, str], interval: float = 0.02) -> dict[str, float]:
    """Run ``cmd``; return wall seconds and peak RSS (bytes, summed over the process tree)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(interval)
    wall = time.perf_counter() - start
    out = proc.stdout.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return {"wall_s": wall, "peak_rss_bytes": peak}


def make_model_dir(path: Path, layers: int, hidden: int, vocab: int, intermediate: int) -> int:
    """Write config + generation config (+ a tokenizer when the tiny world has one); return the parameter count."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                      num_attention_heads=16, num_key_value_heads=16, tie_word_embeddings=False,
                      max_position_embeddings=4096, bos_token_id=1, eos_token_id=2)
    cfg.architectures = ["Qwen2ForCausalLM"]
    with torch.device("meta"):
        n_params = sum(p.numel() for p in Qwen2ForCausalLM(cfg).parameters())
    path.mkdir(parents=True, exist_ok=True)
    cfg.save_pretrained(path)
    GenerationConfig(bos_token_id=1, eos_token_id=2, do_sample=False).save_pretrained(path)
    try:
        from recipes.tiny_world import ensure_tiny_world

        tiny = Path(ensure_tiny_world().model)
        for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
            if (tiny / name).is_file():
                shutil.copy2(tiny / name, path / name)
    except Exception:  # no tokenizer: both mergers just skip it
        pass
    return n_params


def compare_outputs(a: Path, b: Path) -> int:
    """Compare every tensor of two safetensors dirs bit for bit, one tensor at a time; return the count."""
    import torch
    from safetensors import safe_open

    def index(d: Path) -> dict[str, Path]:
        out = {}
        for f in sorted(d.glob("*.safetensors")):
            with safe_open(f, "pt") as h:
                out.update({k: f for k in h.keys()})  # noqa: SIM118 - safe_open has no __iter__
        return out

    ia, ib = index(a), index(b)
    if set(ia) != set(ib):
        raise AssertionError(f"tensor names differ: {sorted(set(ia) ^ set(ib))[:5]}")
    for name in ia:
        with safe_open(ia[name], "pt") as fa, safe_open(ib[name], "pt") as fb:
            ta, tb = fa.get_tensor(name), fb.get_tensor(name)
            if ta.dtype != tb.dtype or not torch.equal(ta.view(torch.int16), tb.view(torch.int16)):
                raise AssertionError(f"{name} differs")
    return len(ia)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--intermediate", type=int, default=5504)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--world", type=int, default=4)
    p.add_argument("--workdir", default=None, help="default: a temp dir, removed at the end")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--repeats", type=int, default=3, help="measured runs of each merger, interleaved; medians")
    args = p.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="merger-bench-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    py = sys.executable
    try:
        n_params = make_model_dir(work / "model", args.layers, args.hidden, args.vocab, args.intermediate)
        actor = work / "ckpt" / "global_step_1" / "actor"
        t0 = time.perf_counter()
        if not (actor / "fsdp_config.json").is_file():  # a kept --workdir is reused
            subprocess.run([py, "-m", "torch.distributed.run", f"--nproc_per_node={args.world}", "--standalone",
                            str(REPO / "tests" / "fsdp_ckpt_worker.py"), "--model", str(work / "model"), "--out",
                            str(actor), "--fsdp", "2", "--meta-init", "--contents", "model"],
                           env=env, check=True, capture_output=True)
        shard_bytes = sum(f.stat().st_size for f in actor.glob("model_world_size_*.pt"))
        print(f"checkpoint: {n_params / 1e9:.3f} B parameters, {args.world} ranks, "
              f"{shard_bytes / 2**30:.2f} GiB of shards, built in {time.perf_counter() - t0:.0f} s")
        for f in actor.glob("model_world_size_*.pt"):  # same warm page cache for both
            with open(f, "rb") as h:
                while h.read(1 << 24):
                    pass

        # Bytecode cached as in a normal install (this machine sets PYTHONDONTWRITEBYTECODE): one unmeasured
        # warm-up run of each merger fills a private pycache, then the measured runs follow.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        commands = {
            "verl": [py, "-m", "verl.model_merger", "merge", "--backend", "fsdp", "--local_dir", str(actor),
                     "--target_dir"],
            "ours_bf16": [py, "-m", "GRPO.merger", "merge", "--dtype", "bf16", "--local-dir", str(actor),
                          "--target-dir"],
            "ours_fp32": [py, "-m", "GRPO.merger", "merge", "--local-dir", str(actor), "--target-dir"],
        }
        for name in ("verl", "ours_bf16"):
            run_measured([*commands[name], str(work / "warmup")], env)
            shutil.rmtree(work / "warmup")
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
        for _ in range(args.repeats):  # interleaved, so a slow spell of the machine hits every merger
            for name, cmd in commands.items():
                shutil.rmtree(work / name, ignore_errors=True)
                runs[name].append(run_measured([*cmd, str(work / name)], env))
        results = {name: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for name, rs in runs.items()}
        n_equal = compare_outputs(work / "ours_bf16", work / "verl")
        base = results["verl"]
        print(f"medians of {args.repeats} interleaved runs each")
        print(f"{'merger':<12}{'wall s':>10}{'peak RSS GiB':>15}{'wall ratio':>12}{'RSS ratio':>11}")
        for name, r in results.items():
            r["wall_ratio"] = r["wall_s"] / base["wall_s"]
            r["rss_ratio"] = r["peak_rss_bytes"] / base["peak_rss_bytes"]
            print(f"{name:<12}{r['wall_s']:>10.1f}{r['peak_rss_bytes'] / 2**30:>15.2f}"
                  f"{r['wall_ratio']:>12.2f}{r['rss_ratio']:>11.2f}")
        print(f"bf16 outputs: {n_equal} tensors bit-identical to verl's")
        if args.json:
            Path(args.json).write_text(json.dumps({"parameters": n_params, "world_size": args.world,
                                                   "shard_bytes": shard_bytes, "results": results,
                                                   "bit_identical_tensors": n_equal}, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
