"""MathVerse as its official judge reads it, probed with answers whose verdict is known, over every testmini
row the official repository ships, and the judge prompt's own examples.

The repository (ZrrSkywalker/MathVerse) keeps `data/testmini.json` on the hub; a snapshot without it still has
`data/testmini_text_only.json` (the 788 problems' text, `Text Only`) and `output_templates/output_testmini.json`
(rows of all five versions). The rows are built into items by `evaluation.bench_data.iter_items` and graded by
`evaluation.score.score_row`. Vision Only rows on the hub have an empty `question` and their choices only in
`question_for_eval`; a stand-in of that shape is built from every text-only row (`question` emptied,
`question_for_eval` = its text) and reported as its own version.

Probes (each with the verdict it must get):
  gold        the gold itself in a box                                   right
  option      the gold option's text (multiple choice)                   right
  letter+text "(C) <C's text>"                                            right
  other       every other letter                                         wrong
  several     a gold naming several options ("C\nD"): "C, D" right, "C" alone wrong
  mixed       the gold letter with another option's text                 wrong
  bare        a free-form gold's value without its named left side and units, as the official judge would
              accept it ("Area $=9 \\pi \\mathrm{cm}^{2}$" -> "9 \\pi")    right
  judge       the judge prompt's in-context examples (evaluation/prompts.py demo_prompt_score): their Judgement

    .venv/bin/python audits/mathverse_probes.py --mathverse PATH [--out DIR]
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audits.official_agreement import _NO_IMAGE, Repo  # noqa: E402

_JUDGE_EXAMPLE_RE = re.compile(r"\[Question\]: (.*?)\n\[Standard Answer\]: (.*?)\n\[Model_answer\] : (.*?)\n"
                               r"Judgement: ([01])", re.DOTALL)
STAND_IN = "Vision Only (stand-in)"


def load_rows(repo: Repo) -> tuple[list[dict[str, Any]], list[str]]:
    """Every testmini row the snapshot has, and notes on what it lacks."""
    notes, rows = [], []
    full = repo.read("data/testmini.json")
    if full is not None:
        rows += json.loads(full)
    else:
        notes.append("data/testmini.json is not in the snapshot (it is on the hub, unreachable here): the 788 "
                     "text-only rows, a Vision Only stand-in of each, and the 5 output-template rows stand in")
        text_only = json.loads(repo.read("data/testmini_text_only.json"))
        rows += text_only
        rows += [{**r, "sample_index": f"vo{r['sample_index']}", "problem_version": STAND_IN, "question": "",
                  "question_for_eval": r["question"]} for r in text_only]
        rows += [{k: v for k, v in r.items() if k != "model_answer"}
                 for r in json.loads(repo.read("output_templates/output_testmini.json"))]
    return [{**r, "image": _NO_IMAGE} for r in rows], notes


_UNIT_TAIL = re.compile(r"(?:\\(?:mathrm|text|mbox)\s*\{[^{}]*\}|\b(?:cm|mm|m|km|units?|metres|meters)\b)"
                        r"\s*(?:\^\s*\{?\s*[23]\s*\}?)?\s*$")


def bare_value(gold: str) -> str | None:
    """The value of a gold written with a named left side and/or a unit ("Area $=9 \\pi \\mathrm{cm}^{2}$",
    "S.A. $=1209.84$", "36\\pi \\mathrm{cm}^3"): the text after its last "=", units removed; None when the gold
    has neither (nothing to probe)."""
    g = gold.replace("$", "").strip()
    named = re.fullmatch(r"([A-Za-z][A-Za-z .]*?)\s*=\s*(.+)", g)
    value = named.group(2) if named else g
    for _ in range(3):
        value = _UNIT_TAIL.sub("", value).strip().rstrip("~").strip()
    if value == g or not value or re.search(r"[=<>]", value):
        return None
    return value


def probes(item: dict[str, Any], raw: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(probe, response, verdict it must get). Options: the item's, else those written in the row
    (`question_for_eval`, else `question`), so a loader that misses them is probed all the same."""
    from reward_fns.choices import parse_options

    gold, opts = item["gold"], item.get("options")
    multi = str(raw.get("question_type", "")).startswith("multi")
    if not opts and multi:
        opts = parse_options(raw.get("question_for_eval") or raw.get("question") or "")
    out = [("gold", f"\\boxed{{{gold}}}", True)]
    if multi and opts and len(gold) == 1:
        gi = ord(gold) - ord("A")
        if 0 <= gi < len(opts):
            out += [("option", f"\\boxed{{{opts[gi]}}}", True), ("letter+text", f"\\boxed{{({gold}) {opts[gi]}}}", True)]
            for k, o in enumerate(opts):
                if k != gi:
                    out.append(("other", f"\\boxed{{{chr(65 + k)}}}", False))
                    if o.strip() and o.strip() != opts[gi].strip():
                        out.append(("mixed", f"\\boxed{{({gold}) {o}}}", False))
    elif multi and opts and re.fullmatch(r"[A-J](?:\n[A-J])+", gold):
        letters = gold.split("\n")
        out += [("several", f"\\boxed{{{', '.join(letters)}}}", True),
                ("several", f"\\boxed{{{letters[0]}}}", False)]
    elif not multi:
        bare = bare_value(str(raw["answer"]))
        if bare is not None:
            out.append(("bare", f"\\boxed{{{bare}}}", True))
    return out


def judge_examples(repo: Repo) -> list[dict[str, Any]]:
    """The judge prompt's in-context examples as (question, gold, model answer, judgement)."""
    tree = ast.parse(repo.read("evaluation/prompts.py"))
    text = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and node.targets[0].id == "demo_prompt_score")
    text = text.replace("{{", "{").replace("}}", "}")
    return [{"question": q, "gold": g.strip(), "answer": a.strip(), "judgement": j == "1"}
            for q, g, a, j in _JUDGE_EXAMPLE_RE.findall(text)]


def run(repo: Repo) -> dict[str, Any]:
    from evaluation.bench_data import iter_items
    from evaluation.score import score_row
    from reward_fns.grader import grade_answer

    rows, notes = load_rows(repo)
    by_id = {str(r["sample_index"]): r for r in rows}
    skipped: list = []
    items = [it.record() for it in iter_items("mathverse", rows, "MathVerse testmini", skipped=skipped)]
    table: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    failures: list[dict[str, Any]] = []
    for item in items:
        version = str(item["meta"].get("problem_version"))
        raw = by_id[item["meta"]["native_id"]]
        for probe, response, expected in probes(item, raw):
            got = score_row({**item, "response": response}, fallback=False)
            cell = table[version][probe]
            cell[0] += got["correct"] == expected
            cell[1] += 1
            if got["correct"] != expected and len(failures) < 60:
                failures.append({"id": item["id"], "version": version, "probe": probe, "gold": item["gold"],
                                 "response": response, "reason": got["reason"]})
    judge = []
    for ex in judge_examples(repo):
        answer = re.sub(r"^Extracted Answer:\s*", "", ex["answer"])
        v = grade_answer(None if answer == "null" else answer, ex["gold"], problem=ex["question"])
        judge.append({**ex, "ours": v.correct, "reason": v.reason})
    return {"notes": notes, "items": len(items), "skipped": [s.record() for s in skipped],
            "table": {v: dict(c) for v, c in table.items()}, "failures": failures, "judge_examples": judge}


def render(res: dict[str, Any], source: str) -> str:
    probes_order = ("gold", "option", "letter+text", "other", "mixed", "several", "bare")
    lines = ["# MathVerse probes", "", f"- {source}", *[f"- {n}" for n in res["notes"]],
             f"- items built: {res['items']}, rows skipped: {len(res['skipped'])}", "",
             "Cells: probes given the verdict they must get / probes.", "",
             "| version | " + " | ".join(probes_order) + " |", "|---|" + "---|" * len(probes_order)]
    for version in sorted(res["table"]):
        cells = res["table"][version]
        lines.append(f"| {version} | " + " | ".join(
            f"{cells[p][0]}/{cells[p][1]}" if p in cells else "-" for p in probes_order) + " |")
    ok = sum(j["ours"] == j["judgement"] for j in res["judge_examples"])
    lines += ["", f"Judge-prompt examples: {ok}/{len(res['judge_examples'])} verdicts as the official Judgement.", "",
              "| gold | model answer | official | ours | reason |", "|---|---|---|---|---|"]
    lines += [f"| {j['gold']!r} | {j['answer'][:60]!r} | {int(j['judgement'])} | {int(j['ours'])} | {j['reason']} |"
              for j in res["judge_examples"]]
    if res["failures"]:
        lines += ["", "Probes with the other verdict (first 60):", "", "| id | version | probe | gold | response | reason |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {f['id']} | {f['version']} | {f['probe']} | {f['gold']!r} | {f['response'][:80]!r} "
                  f"| {f['reason']} |" for f in res["failures"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mathverse", required=True, help="ZrrSkywalker/MathVerse checkout or bare git dir")
    p.add_argument("--out", type=Path, default=Path("/tmp/rlcs-mathverse-probes"))
    args = p.parse_args(argv)
    from recipes.atomic import atomic_write_json, atomic_write_text

    repo = Repo(args.mathverse)
    source = f"ZrrSkywalker/MathVerse @{repo.commit()}"
    res = run(repo)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "probes.json", {"source": source, **res})
    md = render(res, source)
    atomic_write_text(args.out / "probes.md", md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
