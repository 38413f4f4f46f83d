"""Evaluate any Hugging Face vision-language model on MathVista, We-Math, MathVerse and MathVision.

  run    MODEL -> predictions.jsonl (resumable) -> verdicts -> results.json, results.md, plot.png
  score  predictions.jsonl -> the same reports, with no model (audit any number; --check compares)

Scores come from the rule-based grader the GRPO reward uses (reward_fns.grader); an LLM judge is optional
(--judge-url, or --judge to start a local vLLM server for it). Settings come from
recipes/conf/eval/<preset>.yaml (`paper`: the authors' documented protocol on the four benchmarks' full
splits, one vLLM engine per GPU; `train_prompt`: the SFT system prompt, greedy; `tiny`: the offline synthetic
copies on CPU) and any `--set key=value` (fields of evaluation/config.py: EvalConfig), in the recipes' Hydra
override syntax (quote values with spaces or braces: --set "judge.launch='vllm serve M --port {port}'").
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from pathlib import Path

from evaluation.results import Results

EXAMPLES = """\
examples:
  rlcs evaluate run Qwen/Qwen2.5-VL-7B-Instruct --out runs/eval/qwen7b            # every GPU
  rlcs evaluate run MODEL --out DIR --preset train_prompt --engines 4 --tp 2
  rlcs evaluate run MODEL --out DIR --judge       # + local Qwen2.5-32B-Instruct judge server
  rlcs evaluate run WaltonFuture/Qwen2.5VL-7b-RLCS --out runs/eval/rlcs7b --testmini
  rlcs evaluate run runs/tiny/model --preset tiny --out /tmp/tiny-eval --limit 8
  rlcs evaluate run MODEL --out DIR --set sources.mathvista.source=/data/MathVista
  rlcs evaluate score runs/eval/qwen7b/predictions.jsonl --check
  rlcs evaluate score DIR/predictions.jsonl --out DIR/judged --judge-url http://host:8000/v1
A rerun of `run` into the same --out skips items already in predictions.jsonl.
"""


def _add_judge(p: argparse.ArgumentParser) -> None:
    p.add_argument("--judge-url", help="enable the LLM judge: base URL of an OpenAI-compatible API "
                   "(e.g. http://127.0.0.1:8000/v1 of `vllm serve Qwen/Qwen2.5-32B-Instruct`)")
    p.add_argument("--judge", action="store_true", help="enable the LLM judge; without --judge-url a local "
                   "vLLM server for it is started after generation and stopped after judging")
    p.add_argument("--judge-model", help="judge model (hub id / dir; the name the server knows it by)")


def _judge_overrides(args: argparse.Namespace) -> list[str]:
    out = []
    if args.judge or args.judge_url:
        out.append("judge.enabled=true")
    if args.judge_url:
        out.append(f"judge.url={args.judge_url}")
    if args.judge_model:
        out.append(f"judge.model={args.judge_model}")
    return out


def build_parser(prog: str = "scripts/evaluate.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="generate, score and report", epilog=EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("model", help="HF model dir, hub id, or tiny:model")
    run.add_argument("--out", required=True, type=Path, help="output dir (reused to resume)")
    run.add_argument("--preset", default="paper",
                     help="recipes/conf/eval/<preset>.yaml (paper, train_prompt, tiny)")
    run.add_argument("--benchmarks", nargs="+", help="subset of mathvista wemath mathverse mathvision")
    run.add_argument("--limit", type=int, help="first N items per benchmark")
    run.add_argument("--testmini", action="store_true", help="MathVision testmini (304) instead of test (3,040)")
    run.add_argument("--backend", choices=("auto", "vllm", "hf"), help="generation backend")
    run.add_argument("--tp", type=int, help="vLLM tensor parallel size (GPUs per engine)")
    run.add_argument("--engines", type=int, help="engine processes (default: visible GPUs / tp; 1 on a CPU)")
    run.add_argument("--batch-size", type=int, help="items per generation call / predictions flush")
    run.add_argument("--temperature", type=float, help="0 is greedy (paper preset: 0.2)")
    run.add_argument("--max-new-tokens", type=int)
    run.add_argument("--label", help="model name shown in the reports")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="any EvalConfig field, e.g. --set sources.mathvista.source=/data/MathVista")
    _add_judge(run)
    score = sub.add_parser("score", help="rescore a predictions.jsonl (no model needed)")
    score.add_argument("predictions", type=Path)
    score.add_argument("--out", type=Path, help="where to write reports (default: the predictions' dir)")
    score.add_argument("--check", action="store_true",
                       help="compare with the results.json next to the predictions; write nothing; exit 1 on any difference")
    score.add_argument("--overwrite", action="store_true", help="replace existing reports in --out")
    score.add_argument("--label", help="model name shown in the reports")
    _add_judge(score)
    return parser


def _run(args: argparse.Namespace) -> int:
    from evaluation.run import evaluate, hub_resolver, output_files
    from recipes.pipeline.compose import compose_eval

    overrides = list(args.set)
    if args.benchmarks:
        overrides.append(f"benchmarks=[{','.join(args.benchmarks)}]")
    if args.testmini:
        overrides.append("sources.mathvision.split=testmini")
    for flag, key in (("limit", "limit"), ("backend", "backend"), ("tp", "tensor_parallel_size"), ("engines", "engines"),
                      ("batch_size", "batch_size"), ("temperature", "temperature"),
                      ("max_new_tokens", "max_new_tokens")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    ecfg = compose_eval(args.preset, overrides + _judge_overrides(args))
    res = evaluate(ecfg, args.model, args.out, resolve=hub_resolver(), label=args.label)
    _print_summary(res, output_files(args.out))
    return 0


def _score(args: argparse.Namespace) -> int:
    from evaluation.results import RESULTS_JSON, load
    from evaluation.run import compare_results, output_files, rescore
    from recipes.pipeline.compose import compose_eval

    if args.check:
        stored_path = args.predictions.parent / RESULTS_JSON
        if not stored_path.is_file():
            print(f"error: --check needs {stored_path}", file=sys.stderr)
            return 2
        fresh = rescore(args.predictions, write=False)
        diffs = compare_results(load(stored_path), fresh)
        for d in diffs:
            print(f"DIFFERS {d}")
        print("rescore matches results.json exactly" if not diffs else f"{len(diffs)} difference(s)")
        _print_summary(fresh)
        return 1 if diffs else 0
    out = args.out or args.predictions.parent
    if (out / RESULTS_JSON).exists() and not args.overwrite:
        print(f"error: {out / RESULTS_JSON} exists; pass --overwrite, another --out, or --check", file=sys.stderr)
        return 2
    judge = compose_eval("paper", _judge_overrides(args)).judge
    files = output_files(out)
    _print_summary(rescore(args.predictions, out, judge=judge, label=args.label),
                   {k: files[k] for k in ("results", "report", "plot")})
    return 0


def _print_summary(res: Results, paths: Mapping[str, str] | None = None) -> None:
    for entry in res["benchmarks"].values():
        judge = f"  judge {entry['judge']['accuracy']:.2f}" if entry.get("judge", {}).get("n") else ""
        rates = f"  no answer {entry['no_answer']['rate']:.1f}%" if entry.get("no_answer") else ""
        if entry.get("truncated"):
            rates += f"  truncated {entry['truncated']['rate']:.1f}%"
        print(f"{entry['title']:11s} {entry['accuracy']:6.2f}  ({entry['correct']}/{entry['n']}){rates}{judge}")
    if res.get("average") is not None:
        print(f"{'average':11s} {res['average']:6.2f}  (over {', '.join(res.get('average_over') or [])})")
    gen = res.get("generation") or {}
    if gen.get("items_per_s"):
        print(f"generation: {gen['generated']} items in {gen['seconds']} s = {gen['items_per_s']} items/s "
              f"({gen['backend']})")
    for key, path in (paths or {}).items():
        print(f"{key:11s} {path}")


def main(argv: list[str] | None = None, prog: str = "scripts/evaluate.py") -> int:
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from evaluation.backends import GenerationError
    from evaluation.bench_data import BenchmarkError
    from evaluation.judge import JudgeError
    from recipes.hub import SourceError

    try:
        return _run(args) if args.cmd == "run" else _score(args)
    except (ValueError, BenchmarkError, GenerationError, JudgeError, SourceError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
