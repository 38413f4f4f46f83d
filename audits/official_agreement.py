"""Re-score the real model outputs shipped in the official MathVista and MATH-V repositories with this
project's evaluation code, and measure agreement with their official verdicts.

Items are built from each repository's own data (MathVista `data/testmini.json` + `data/query.json`,
MATH-V `data/test.jsonl`) with `evaluation.bench_data.item_from_row`; responses and official verdicts come
from MathVista `results/*/output_*.json` (`response`, GPT `extraction`, `true_false`) and MATH-V
`outputs/**/*.jsonl` (`response`, `model_answer`, `correct`). Three readings are graded by
`evaluation.score.score_row`:

  raw        the response as the evaluation reads it (last \\boxed{}, else no answer): the headline
  fallback   raw, plus "the answer is X" / a final letter for box-less responses (the report's own column)
  official   the official extraction wrapped in \\boxed{} (isolates the comparison step)

The official verdicts are recomputed, not trusted as saved (some saved MathVista `true_false` values are
stale): MathVista with its own `normalize_extracted_answer` + `safe_equal` (evaluation/calculate_score.py),
MATH-V with its own `is_equal` on the saved `model_answer` (evaluation/utils.py), both executed from the
repository's source. MATH-V's `is_equal` needs `latex2sympy2` (its pinned ANTLR clashes with math-verify's),
so it runs in a subprocess with `--official-deps DIR` (e.g. `uv pip install --target DIR latex2sympy2==1.9.1
antlr4-python3-runtime==4.7.2 levenshtein`); without it the saved verdicts are used and the output says so.

Each repository path may be a checkout or a bare git dir (as `fetch` leaves it; read with `git show`).
Their data are read, never copied into this project.

    .venv/bin/python audits/official_agreement.py --mathvista PATH --mathv PATH [--out DIR]
        [--official-deps DIR] [--only SUBSTR ...] [--stride K] [--max-files N] [--workers N]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_NO_IMAGE = {"bytes": None, "path": "<not loaded: scoring only>"}


class Repo:
    """Read files of a checkout or of a bare git dir (HEAD)."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.bare = (self.path / "HEAD").is_file() and (self.path / "objects").is_dir()

    def commit(self) -> str:
        args = ["--git-dir", str(self.path)] if self.bare else ["-C", str(self.path)]
        out = subprocess.run(["git", *args, "rev-parse", "HEAD"], capture_output=True, text=True)
        return out.stdout.strip() or "unknown"

    def files(self, prefix: str, suffix: str) -> list[str]:
        if not self.bare:
            return sorted(str(p.relative_to(self.path)) for p in (self.path / prefix).rglob(f"*{suffix}"))
        out = subprocess.run(["git", "--git-dir", str(self.path), "ls-tree", "-r", "--name-only", "HEAD", prefix],
                             capture_output=True, text=True, check=True).stdout
        return sorted(f for f in out.splitlines() if f.endswith(suffix))

    def read(self, rel: str) -> str | None:
        """The file's text, or None when it is absent (large files the snapshot left out)."""
        if not self.bare:
            p = self.path / rel
            return p.read_text(encoding="utf-8") if p.is_file() else None
        out = subprocess.run(["git", "--git-dir", str(self.path), "show", f"HEAD:{rel}"], capture_output=True)
        return out.stdout.decode("utf-8") if out.returncode == 0 else None


def _none(v: Any) -> Any:
    return None if v in (None, "None", "", "nan") else v


def _truth(v: Any) -> bool:
    return v is True or str(v).strip().lower() == "true"


# -- the official formulas, executed from the repositories' own source -----------------------------------

def official_functions(source: str, names: tuple[str, ...], namespace: dict[str, Any]) -> dict[str, Any]:
    """The named top-level functions of an official script, executed in ``namespace`` (its imports are
    supplied by the caller: the scripts import dataset/IO modules this comparison does not need)."""
    tree = ast.parse(source)
    defs = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names]
    missing = set(names) - {d.name for d in defs}
    if missing:
        raise ValueError(f"official source lacks {sorted(missing)}")
    exec(compile(ast.Module(body=defs, type_ignores=[]), "<official>", "exec"), namespace)
    return {n: namespace[n] for n in names}


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (the `Levenshtein` package's `distance`, when that is not installed)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def mathvista_official(repo: Repo) -> Any:
    """``verdict(extraction, problem)`` by MathVista's calculate_score.py (normalize_extracted_answer,
    safe_equal), as its main loop calls them."""
    try:
        from Levenshtein import distance
    except ImportError:
        distance = _edit_distance
    import logging

    fns = official_functions(repo.read("evaluation/calculate_score.py"),
                             ("get_most_similar", "normalize_extracted_answer", "safe_equal"),
                             {"re": re, "logging": logging, "distance": distance})

    def verdict(extraction: Any, problem: dict[str, Any]) -> bool:
        pred = fns["normalize_extracted_answer"](extraction, problem["choices"], problem["question_type"],
                                                 problem["answer_type"], problem["precision"])
        return bool(fns["safe_equal"](pred, problem["answer"]))

    return verdict


def _mathv_official_main() -> int:
    """Subprocess: stdin JSON [[gold, gold_value, model_answer], ...] -> stdout JSON verdicts, by MATH-V's
    `is_equal` (evaluate.py: ``is_equal(gt, model_answer) or is_equal(gt_value, model_answer)``)."""
    import numpy as np
    from latex2sympy2 import latex2sympy

    source = Repo(os.environ["RLCS_MATHV_REPO"]).read("evaluation/utils.py")
    namespace: dict[str, Any] = {"re": re, "np": np, "latex2sympy": latex2sympy}
    exec("from math import *", namespace)  # as utils.py does
    fns = official_functions(source, ("eval_tuple", "is_equal"), namespace)
    out = []
    for k, (gt, gv, ans) in enumerate(json.load(sys.stdin)):
        out.append(bool(fns["is_equal"](gt, ans) or fns["is_equal"](gv, ans)))
        if k % 5000 == 4999:
            print(f"MATH-V official: {k + 1} verdicts", file=sys.stderr, flush=True)
    json.dump(out, sys.stdout)
    return 0


def mathv_recompute(repo: Repo, triples: list[tuple[str, str, str]], deps: str | None,
                    cache: Path | None = None, workers: int = 1) -> list[bool] | None:
    """MATH-V verdicts recomputed in a subprocess whose path starts with ``deps`` (latex2sympy2); None
    when that is not possible (no ``deps``, or the subprocess failed: the reason goes to stderr). ``cache``:
    a JSON file keeping them for the same inputs (they depend on the official code and outputs only)."""
    import hashlib

    key = hashlib.sha256(json.dumps([repo.commit(), triples]).encode()).hexdigest()
    if cache is not None and cache.is_file():
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved.get("key") == key:
            return saved["verdicts"]
    if not deps:
        return None
    env = {**os.environ, "PYTHONPATH": deps, "RLCS_MATHV_REPO": str(repo.path)}
    chunks = [triples[k::workers] for k in range(workers)]
    procs = [subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--_mathv-official"], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # stderr: progress
             for _ in chunks]
    outs = [proc.communicate(json.dumps(chunk))[0] for proc, chunk in zip(procs, chunks)]
    if any(proc.returncode != 0 for proc in procs):
        print("MATH-V official recompute failed (its error is above)", file=sys.stderr)
        return None
    parts = [json.loads(o) for o in outs]
    verdicts = [parts[k % workers][k // workers] for k in range(len(triples))]
    if cache is not None:
        from recipes.atomic import atomic_write_json

        atomic_write_json(cache, {"key": key, "verdicts": verdicts})
    return verdicts


# -- building prediction rows -----------------------------------------------------------------------------

def _items(name: str, rows: list[dict[str, Any]], source: str, key: str) -> dict[str, dict[str, Any]]:
    """Native id -> item record, through the evaluation's loader; rows it reports are printed."""
    from evaluation.bench_data import iter_items

    skipped: list = []
    items = {it.meta["native_id"]: it.record() for it in iter_items(name, rows, source, skipped=skipped)}
    for s in skipped:
        print(f"{name}: skipped {s.id}: {s.why}", file=sys.stderr)
    print(f"{name}: {len(items)} items, {len(skipped)} skipped, "
          f"{sum(bool(r['meta'].get('load_note')) for r in items.values())} with a load note", file=sys.stderr)
    return items


def mathvista_items(repo: Repo) -> dict[str, dict[str, Any]]:
    rows = json.loads(repo.read("data/testmini.json"))
    queries = json.loads(repo.read("data/query.json"))
    return _items("mathvista", [{**row, "query": queries.get(pid), "decoded_image": _NO_IMAGE}
                                for pid, row in rows.items()], "data/testmini.json", "pid")


def mathv_items(repo: Repo) -> dict[str, dict[str, Any]]:
    rows = [{**json.loads(line), "decoded_image": _NO_IMAGE} for line in repo.read("data/test.jsonl").splitlines()]
    return _items("mathvision", rows, "data/test.jsonl", "id")


def _select(files: list[str], args: argparse.Namespace) -> list[str]:
    """`--only` substrings (any), then every `--stride`-th file, then the first `--max-files`."""
    if args.only:
        files = [f for f in files if any(o in f for o in args.only)]
    return files[:: args.stride][: args.max_files]


Output = tuple[str, str, str, str, bool, dict[str, Any]]
"""(file, native id, response, official extraction, official verdict, info: saved verdict, well_formed)."""

_NUMBER_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")


def mathvista_well_formed(extraction: str, problem: dict[str, Any]) -> bool:
    """A well-formed official extraction: one letter of the choices or exactly a choice (multiple choice),
    a number or a bracketed list (free form)."""
    e = extraction.strip()
    choices = problem.get("choices") or []
    if problem.get("question_type") == "multi_choice":
        return (len(e) == 1 and e in "ABCDEFGHIJ"[: len(choices)]) or e in choices
    return bool(_NUMBER_RE.match(e)) or (e.startswith("[") and e.endswith("]"))


def mathvista_outputs(repo: Repo, args: argparse.Namespace) -> Iterator[Output]:
    """Verdicts recomputed by the official formulas from the saved extraction (`true_false` kept as
    `saved` to count stale ones)."""
    files = [f for f in repo.files("results", ".json") if "/output_" in f and "template" not in f
             and "/test_" not in f and "output_test_" not in f]
    rows = json.loads(repo.read("data/testmini.json"))
    verdict = mathvista_official(repo)
    for rel in _select(files, args):
        text = repo.read(rel)
        if text is None:
            continue
        for pid, r in json.loads(text).items():
            if "extraction" not in r or pid not in rows:
                continue
            problem = {**rows[pid], **{k: r[k] for k in ("choices", "question_type", "answer_type", "precision",
                                                         "answer") if k in r}}
            extraction = r.get("extraction")
            official = verdict(extraction, problem)
            text_ex = "" if extraction is None else str(extraction)
            saved = _truth(r["true_false"]) if "true_false" in r else None
            yield rel, pid, str(r.get("response") or ""), text_ex, official, {
                "saved": saved, "well_formed": mathvista_well_formed(text_ex, problem)}


def mathv_outputs(repo: Repo, args: argparse.Namespace) -> Iterator[Output]:
    """Saved verdicts; `recompute_mathv` replaces them by the official `is_equal`'s when it can."""
    for rel in _select(repo.files("outputs", ".jsonl"), args):
        text = repo.read(rel)
        if text is None:
            continue
        for line in text.splitlines():
            if line.strip():
                r = json.loads(line)
                saved = _truth(r.get("correct"))
                yield rel, str(r["id"]), str(r.get("response") or ""), str(r.get("model_answer") or ""), saved, \
                    {"saved": saved, "well_formed": True}


def recompute_mathv(repo: Repo, outputs: list[Output], deps: str | None,
                    cache: Path | None = None, workers: int = 1) -> tuple[list[Output], str]:
    """MATH-V outputs with verdicts recomputed by the official `is_equal` (or the saved ones), and which."""
    raw = {str(r["id"]): r for r in (json.loads(x) for x in repo.read("data/test.jsonl").splitlines() if x.strip())}
    triples = []
    for _, iid, _, model_answer, _, _ in outputs:
        row = raw.get(iid, {"answer": "", "options": []})
        gt = str(row["answer"])
        value = row["options"][ord(gt) - ord("A")] if row.get("options") and len(gt) == 1 else ""
        triples.append((gt, value, model_answer))
    verdicts = mathv_recompute(repo, triples, deps, cache, workers)
    if verdicts is None:
        return outputs, "saved `correct` (not recomputed: no --official-deps with latex2sympy2)"
    return [(*o[:4], v, o[5]) for o, v in zip(outputs, verdicts, strict=True)], \
        "recomputed: official is_equal on the saved model_answer"


# -- grading (in worker processes) ------------------------------------------------------------------------

def _grade(task: tuple[dict[str, Any], str, str, bool]) -> dict[str, Any]:
    from evaluation.score import score_row

    item, response, extraction, with_official = task
    raw = score_row({**item, "response": response})
    official = score_row({**item, "response": f"\\boxed{{{extraction}}}"}, fallback=False) \
        if extraction and with_official else None
    return {"raw": raw["correct"], "raw_reason": raw["reason"], "no_answer": raw["no_answer"],
            "fallback": raw["fallback_correct"], "official_extraction": official["correct"] if official else False,
            "official_reason": official["reason"] if official else "no_extraction"}


def rescore(name: str, items: dict[str, dict[str, Any]], outputs: Iterator[Output] | list[Output],
            workers: int, with_official: bool = True) -> dict[str, Any]:
    """Grade every output in the readings (raw and fallback; the official extraction too unless
    ``with_official`` is off) and summarize agreement; progress goes to stderr."""
    meta, tasks, infos = [], [], []
    missing = 0
    for rel, iid, response, extraction, verdict, info in outputs:
        item = items.get(iid)
        if item is None:
            missing += 1
            continue
        meta.append((rel, iid, verdict, response, extraction, item))
        tasks.append((item, response, extraction, with_official))
        infos.append(info)
    t0 = time.monotonic()
    with ProcessPoolExecutor(workers) as pool:
        graded = []
        for g in pool.map(_grade, tasks, chunksize=16):
            graded.append(g)
            if len(graded) % 2000 == 0:
                print(f"{name}: {len(graded)}/{len(tasks)} graded", file=sys.stderr, flush=True)
    secs = time.monotonic() - t0
    out = summarize(name, meta, graded, missing, secs, with_official)
    saved = [(i["saved"], m[2]) for i, m in zip(infos, meta) if i.get("saved") is not None]
    out["stale_saved_verdicts"] = sum(a != b for a, b in saved)
    wf = [k for k, i in enumerate(infos) if i.get("well_formed")]
    if len(wf) < len(infos):
        official = [meta[k][2] for k in wf]
        ours = [graded[k]["official_extraction"] for k in wf]
        out["well_formed"] = {
            "items": len(wf), "official_accuracy": round(100 * sum(official) / max(len(wf), 1), 2),
            "ours_accuracy": round(100 * sum(ours) / max(len(wf), 1), 2),
            "agreement": round(100 * sum(a == b for a, b in zip(official, ours)) / max(len(wf), 1), 2),
            **_classes([meta[k] for k in wf], [graded[k] for k in wf], "official_extraction", "official_reason")}
    return out


def _classes(meta: list, graded: list[dict[str, Any]], mode: str, reason_key: str) -> dict[str, Any]:
    """Disagreements in one reading, by direction and by the grader's reason."""
    ours_only, official_only = Counter(), Counter()
    examples: dict[str, list[dict[str, Any]]] = {"ours_right_official_wrong": [], "ours_wrong_official_right": []}
    for (rel, iid, verdict, response, extraction, item), g in zip(meta, graded):
        if g[mode] == verdict:
            continue
        reason = g[reason_key].split(":")[0] if g[reason_key] else "-"
        key = "ours_right_official_wrong" if g[mode] else "ours_wrong_official_right"
        (ours_only if g[mode] else official_only)[reason] += 1
        if len(examples[key]) < 8 and (len(examples[key]) < 4 or reason not in {e["reason"] for e in examples[key]}):
            examples[key].append({"file": rel, "id": iid, "gold": item["gold"], "options": item["options"],
                                  "reason": reason, "graded": extraction if mode == "official_extraction"
                                  else response[-160:]})
    return {"ours_right_official_wrong": dict(ours_only.most_common()),
            "ours_wrong_official_right": dict(official_only.most_common()), "examples": examples}


def summarize(name: str, meta: list, graded: list[dict[str, Any]], missing: int, secs: float,
              with_official: bool = True) -> dict[str, Any]:
    n = len(graded)
    official = [m[2] for m in meta]

    def acc(flags: list[bool]) -> float:
        return round(100 * sum(flags) / max(n, 1), 2)

    out: dict[str, Any] = {"benchmark": name, "items": n, "files": len({m[0] for m in meta}),
                           "unmatched_ids": missing, "grading_seconds": round(secs, 1),
                           "official_accuracy": acc(official),
                           "no_answer_rate": acc([g["no_answer"] for g in graded]), "modes": {}}
    modes = [("raw", "raw_reason"), ("fallback", "raw_reason"), ("official_extraction", "official_reason")]
    for mode, reason_key in modes[: 3 if with_official else 2]:
        flags = [g[mode] for g in graded]
        agree = sum(f == o for f, o in zip(flags, official))
        out["modes"][mode] = {"accuracy": acc(flags), "agreement": round(100 * agree / max(n, 1), 2),
                              "disagreements": n - agree, **_classes(meta, graded, mode, reason_key)}
    boxed = [(g, o) for g, o in zip(graded, official) if not g["no_answer"]]
    if boxed:
        out["boxed_only"] = {"items": len(boxed),
                             "official_accuracy": round(100 * sum(o for _, o in boxed) / len(boxed), 2),
                             "raw_accuracy": round(100 * sum(g["raw"] for g, _ in boxed) / len(boxed), 2),
                             "agreement": round(100 * sum(g["raw"] == o for g, o in boxed) / len(boxed), 2)}
    reasons = Counter(g["raw_reason"].split(":")[0] for g in graded)
    out["raw_reasons"] = dict(reasons.most_common())
    return out


def render(results: list[dict[str, Any]], sources: dict[str, str]) -> str:
    lines = ["# Official verdicts vs this project's evaluation", "",
             *[f"- {k}: {v}" for k, v in sources.items()], "",
             "| benchmark | files | items | official acc | reading | ours acc | agreement | ours ✓ official ✗ "
             "| ours ✗ official ✓ |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for mode, m in r["modes"].items():
            top = lambda d: ", ".join(f"{k} {v}" for k, v in list(d.items())[:4])  # noqa: E731
            lines.append(f"| {r['benchmark']} | {r['files']} | {r['items']} | {r['official_accuracy']} | {mode} "
                         f"| {m['accuracy']} | {m['agreement']}% | {sum(m['ours_right_official_wrong'].values())}: "
                         f"{top(m['ours_right_official_wrong'])} | {sum(m['ours_wrong_official_right'].values())}: "
                         f"{top(m['ours_wrong_official_right'])} |")
    for r in results:
        w = r.get("well_formed")
        if w:
            lines.append(f"\n{r['benchmark']}, well-formed official extractions graded by us: {w['items']} items, "
                         f"official {w['official_accuracy']}, ours {w['ours_accuracy']}, agreement {w['agreement']}% "
                         f"(ours ✓ official ✗: {w['ours_right_official_wrong']}; ours ✗ official ✓: "
                         f"{w['ours_wrong_official_right']}).")
        lines.append(f"{r['benchmark']}: official verdicts {r.get('verdicts', 'recomputed')}; saved verdicts that "
                     f"differ from the recomputed ones: {r.get('stale_saved_verdicts', 0)}.")
        b = r.get("boxed_only")
        if b:
            lines.append(f"\n{r['benchmark']}, responses with a box: {b['items']} items, official {b['official_accuracy']}, "
                         f"ours {b['raw_accuracy']}, agreement {b['agreement']}%.")
        lines.append(f"{r['benchmark']}: no-answer rate (no box) {r['no_answer_rate']}%; grader reasons (raw): "
                     + ", ".join(f"{k} {v}" for k, v in r["raw_reasons"].items()))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mathvista", help="lupantech/MathVista checkout or bare git dir")
    p.add_argument("--mathv", help="mathllm/MATH-V checkout or bare git dir")
    p.add_argument("--out", type=Path, default=Path("/tmp/rlcs-official-agreement"))
    p.add_argument("--max-files", type=int, help="only the first N output files of each repository")
    p.add_argument("--stride", type=int, default=1, help="every K-th output file")
    p.add_argument("--only", action="append", help="only output files whose path contains this (repeatable)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--official-deps", help="dir with latex2sympy2 (+ its ANTLR 4.7.2) for MATH-V's is_equal")
    p.add_argument("--official-cache", type=Path, help="JSON file keeping MATH-V's recomputed verdicts "
                   "(default: OUT/mathv_official_verdicts.json)")
    p.add_argument("--raw-only", action="store_true", help="MATH-V: skip the official-extraction reading")
    p.add_argument("--mathv-boxed-only", action="store_true", help="MATH-V: only responses with a \\boxed{}")
    p.add_argument("--_mathv-official", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._mathv_official:
        return _mathv_official_main()
    from recipes.atomic import atomic_write_json, atomic_write_text

    results, sources = [], {}
    if args.mathvista:
        repo = Repo(args.mathvista)
        sources["MathVista"] = f"lupantech/MathVista @{repo.commit()}"
        results.append(rescore("MathVista testmini", mathvista_items(repo), mathvista_outputs(repo, args),
                               args.workers))
        results[-1]["verdicts"] = "recomputed: official normalize_extracted_answer + safe_equal on the extraction"
    if args.mathv:
        repo = Repo(args.mathv)
        sources["MATH-V"] = f"mathllm/MATH-V @{repo.commit()}"
        args.out.mkdir(parents=True, exist_ok=True)
        outputs = [o for o in mathv_outputs(repo, args) if not args.mathv_boxed_only or "oxed{" in o[2]]
        outputs, how = recompute_mathv(repo, outputs, args.official_deps,
                                       args.official_cache or args.out / "mathv_official_verdicts.json", args.workers)
        results.append(rescore("MATH-V test", mathv_items(repo), outputs, args.workers, not args.raw_only))
        results[-1]["verdicts"] = how
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "agreement.json", {"sources": sources, "results": results})
    md = render(results, sources)
    atomic_write_text(args.out / "agreement.md", md)
    print(md)
    print(f"written: {args.out / 'agreement.json'}, {args.out / 'agreement.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
