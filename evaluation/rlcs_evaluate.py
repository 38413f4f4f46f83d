"""Evaluate any Hugging Face vision-language model on MathVista, We-Math, MathVerse and MathVision.

  run    MODEL -> predictions.jsonl (resumable) -> verdicts -> results.json, results.md, plot.png
  score  predictions.jsonl -> the same reports, with no model (audit any number; --check compares)

Scores come from the rule-based grader the GRPO reward uses (reward_fns.grader); an LLM judge is optional
(judge.enabled=true judge.url=URL, or judge.enabled=true alone to start a local vLLM server for it). Settings come from
recipes/conf/eval/<preset>.yaml (`paper`: the authors' documented protocol on the four benchmarks' full
splits, one vLLM engine per GPU; `train_prompt`: the SFT system prompt, greedy; `tiny`: the offline synthetic
copies on CPU) and any `key=value` overrides of its fields (evaluation/config.py: EvalConfig), in the syntax
`rlcs run` takes (quote values with spaces or braces: "judge.launch='vllm serve M --port {port}'"). Flags are
only for what is not a setting (--out, --preset, --label, --check, --overwrite).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from pathlib import Path

from evaluation.results import Results
from recipes.overrides import Alias, aliases_epilog, parse

JUDGE_ALIASES = (
    Alias("--judge", ("judge.enabled=true",), nargs=0),
    Alias("--judge-url", ("judge.enabled=true", "judge.url={}")),
    Alias("--judge-model", ("judge.model={}",)),
)
RUN_ALIASES = (
    Alias("--set", ("{}",), metavar="KEY=VALUE"),
    Alias("--benchmarks", ("benchmarks=[{}]",), nargs="+"),
    Alias("--limit", ("limit={}",)),
    Alias("--testmini", ("sources.mathvision.split=testmini",), nargs=0),
    Alias("--backend", ("backend={}",)),
    Alias("--tp", ("tensor_parallel_size={}",)),
    Alias("--engines", ("engines={}",)),
    Alias("--batch-size", ("batch_size={}",)),
    Alias("--temperature", ("temperature={}",)),
    Alias("--max-new-tokens", ("max_new_tokens={}",)),
    *JUDGE_ALIASES,
)
SETTINGS = """\
settings: key=value, any field of the preset's eval config (evaluation/config.py EvalConfig; a recipe's
eval.KEY without `eval.`), e.g. limit=8 benchmarks=[mathvista,wemath] tensor_parallel_size=2 engines=4
temperature=0 sources.mathvision.split=testmini judge.enabled=true judge.url=http://host:8000/v1
"""
EXAMPLES = """\
examples:
  rlcs evaluate run Qwen/Qwen2.5-VL-7B-Instruct --out runs/eval/qwen7b            # every GPU
  rlcs evaluate run MODEL --out DIR --preset train_prompt engines=4 tensor_parallel_size=2
  rlcs evaluate run MODEL --out DIR judge.enabled=true  # + local Qwen2.5-32B-Instruct judge server
  rlcs evaluate run WaltonFuture/Qwen2.5VL-7b-RLCS --out runs/eval/rlcs7b sources.mathvision.split=testmini
  rlcs evaluate run runs/tiny/model --preset tiny --out /tmp/tiny-eval limit=8
  rlcs evaluate run MODEL --out DIR sources.mathvista.source=/data/MathVista
  rlcs evaluate score runs/eval/qwen7b/predictions.jsonl --check
  rlcs evaluate score DIR/predictions.jsonl --out DIR/judged judge.enabled=true judge.url=http://host:8000/v1
A rerun of `run` into the same --out skips items already in predictions.jsonl.
"""


def build_parser(prog: str = "scripts/evaluate.py") -> argparse.ArgumentParser:
    epilog = f"{SETTINGS}\n{EXAMPLES}"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="generate, score and report", epilog=f"{epilog}\n{aliases_epilog(RUN_ALIASES)}",
                         usage=f"{prog} run MODEL [key=value ...] --out DIR [--preset P] [--label L]",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("model", help="HF model dir, hub id, or tiny:model")
    run.add_argument("overrides", nargs="*", metavar="key=value", help="eval settings (below)")
    run.add_argument("--out", required=True, type=Path, help="output dir (reused to resume)")
    run.add_argument("--preset", default="paper",
                     help="recipes/conf/eval/<preset>.yaml (paper, train_prompt, tiny)")
    run.add_argument("--label", help="model name shown in the reports")
    for alias in RUN_ALIASES:
        alias.add_to(run)
    score = sub.add_parser("score", help="rescore a predictions.jsonl (no model needed)",
                           usage=f"{prog} score PREDICTIONS [judge.KEY=value ...] [--out DIR] [--check] [--overwrite]",
                           epilog="settings: judge.KEY=value only (the rescoring reads the judge's settings; "
                                  "the rest are the predictions').\n\n" + aliases_epilog(JUDGE_ALIASES),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    score.add_argument("predictions", type=Path)
    score.add_argument("overrides", nargs="*", metavar="judge.KEY=value", help="judge settings")
    score.add_argument("--out", type=Path, help="where to write reports (default: the predictions' dir)")
    score.add_argument("--check", action="store_true",
                       help="compare with the results.json next to the predictions; write nothing; exit 1 on any difference")
    score.add_argument("--overwrite", action="store_true", help="replace existing reports in --out")
    score.add_argument("--label", help="model name shown in the reports")
    for alias in JUDGE_ALIASES:
        alias.add_to(score)
    return parser


def _run(args: argparse.Namespace) -> int:
    from evaluation.run import evaluate, hub_resolver, output_files
    from recipes.pipeline.compose import compose_eval

    ecfg = compose_eval(args.preset, args.overrides)
    res = evaluate(ecfg, args.model, args.out, resolve=hub_resolver(), label=args.label)
    _print_summary(res, output_files(args.out))
    return 0


def _score(args: argparse.Namespace) -> int:
    from evaluation.results import RESULTS_JSON, load
    from evaluation.run import compare_results, output_files, rescore
    from recipes.pipeline.compose import compose_eval

    others = [o for o in args.overrides if not o.lstrip("+~").startswith("judge.")]
    if others:
        print(f"error: score reads only judge.KEY=value settings, not {' '.join(others)}", file=sys.stderr)
        return 2
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
    judge = compose_eval("paper", args.overrides).judge
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
    args = parse(build_parser(prog), argv, RUN_ALIASES)  # the judge's aliases are among them
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from evaluation.backends import GenerationError
    from evaluation.bench_data import BenchmarkError
    from evaluation.judge import JudgeError
    from recipes.hub import HubRefError

    try:
        return _run(args) if args.cmd == "run" else _score(args)
    except (ValueError, BenchmarkError, GenerationError, JudgeError, HubRefError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
