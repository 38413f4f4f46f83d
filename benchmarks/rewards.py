"""Reward benchmark, one CPU core: reward_fns vs mathruler ``grade_answer`` vs verl's math_verify reward.

Same realistic responses for all (reasoning text then a box; tests/reward_cases.py without the
pathological rows): calls/s, p50 / p99 latency, agreement with the expected verdicts, false positives on
letter-like golds (``A = 4``, ``D = (0, 1)``). Then the peers' own equivalence tests
(tests/fixtures/peer_cases.jsonl, from tests/helpers/build_peer_cases.py): agreement with the peers' expectations per
source, on every graded row and on the non-debatable ones. Then each pathological input in a child process
with a cap, for the max time per call (a hung call is killed at the cap and reported as ">= cap"). Prints
ratios against the baselines measured in the same run.

    .venv/bin/python benchmarks/rewards.py [--repeats 3] [--cap 15] [--cpu 0] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from reward_cases import CASES, Case  # noqa: E402

PEER_CASES = ROOT / "tests" / "fixtures" / "peer_cases.jsonl"

PATHOLOGICAL: list[tuple[str, str, str]] = [
    ("tower 9**9**9", r"The value is \boxed{9**9**9}", r"\frac{1}{2}"),
    ("tower 9^{9^{9}}", r"The value is \boxed{9^{9^{9}}}", r"\frac{1}{2}"),
    ("factorial 100000000!", r"The value is \boxed{100000000!}", r"\frac{1}{2}"),
    ("power 10^{1000000}", r"The value is \boxed{10^{1000000}}", "5"),
    ("100k-char box", r"The value is \boxed{" + "x+" * 50000 + "1}", "5"),
    ("depth-500 parens", r"The value is \boxed{" + "(" * 500 + "1" + ")" * 500 + "}", "2"),
    ("expand (x+y+z)^200", r"The value is \boxed{(x+y+z)^{200}}", r"(x+y+z)^{199}"),
    ("sin^200+cos^200", r"The value is \boxed{\sin(x)^{200}+\cos(x)^{200}}", "1"),
]


MCQ_PROBLEM = "Find the measure of angle 2.\nChoices:\n(A) 26°\n(B) 64°\n(C) 154°\n(D) 116°"
# (gold, correct forms: canonical first, wrong forms, problem text) -- GRPO-style answers on geometry/charts
MIX_POOL: list[tuple[str, list[str], list[str], str | None]] = [
    ("3", ["3", "3.0", "x = 3"], ["4", "2", "-3"], None),
    ("12.5", ["12.5", "12.50", r"\frac{25}{2}"], ["12", "125", "12.25"], None),
    (r"\frac{7}{2}", [r"\frac{7}{2}", "3.5", "7/2"], [r"\frac{2}{7}", "7", "3"], None),
    (r"2\sqrt{3}", [r"2\sqrt{3}", r"2 \sqrt{3}", r"\sqrt{12}"], [r"3\sqrt{2}", "4", r"\sqrt{3}"], None),
    ("60", ["60", r"60^\circ", "60°"], ["30", "120", "45"], None),
    ("C", ["C", "(C)", "C. 154°"], ["A", "D", "B"], MCQ_PROBLEM),
    ("154°", ["154°", "C", r"154^{\circ}"], ["116°", "A", "26"], MCQ_PROBLEM),
    (r"4\sqrt{2}", [r"4\sqrt{2}", r"\sqrt{32}"], ["8", r"2\sqrt{2}"], None),
    (r"\frac{\pi}{3}", [r"\frac{\pi}{3}", r"\pi/3"], [r"\frac{\pi}{6}", r"\frac{2\pi}{3}"], None),
    ("24", ["24", "24 cm", r"24\text{ cm}^2"], ["48", "12", "26"], None),
    ("0.5", ["0.5", r"\frac{1}{2}", ".5"], ["0.25", "5", "2"], None),
    ("Yes", ["Yes", "yes", r"\text{Yes}"], ["No", "no"], None),
    ("B", ["B", r"\text{B}", "Option B"], ["A", "C", "D"], MCQ_PROBLEM),
    ("1.2", ["1.2", "1.20"], ["1.25", "12", "1.3"], None),
    ("1,250", ["1,250", "1250"], ["1,200", "125"], None),
    ("(2, 3)", ["(2, 3)", "(2,3)"], ["(3, 2)", "(2, 4)"], None),
    ("-4", ["-4", "x=-4"], ["4", "-2"], None),
    (r"\frac{3}{4}", [r"\frac{3}{4}", "0.75", r"\dfrac{3}{4}"], [r"\frac{4}{3}", "0.7"], None),
]
FILLER = ("Looking at the figure, the two triangles share the angle at the vertex, so they are similar. "
          "Setting up the ratio of corresponding sides gives an equation in the unknown, $\\frac{a}{b} = "
          "\\frac{c}{d}$, which we solve step by step. Substituting the values read off the diagram and "
          "simplifying, we check the result against the constraints of the problem. ")


def realistic_mix(n: int = 400, seed: int = 0) -> list[Case]:
    """GRPO-style rollouts: 55% canonical right answers, 15% right in another form, 30% wrong."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        gold, right, wrong, problem = rng.choice(MIX_POOL)
        u = rng.random()
        pred, ok = (right[0], True) if u < 0.55 else (rng.choice(right[1:]), True) if u < 0.7 else (
            rng.choice(wrong), False)
        text = FILLER * rng.randint(1, 4) + "Therefore, the final answer is \\boxed{" + pred + "}."
        out.append(Case(text, gold, ok, "mix", problem=problem, raw=True))
    return out


def _ours() -> Callable[[str, Case | None, str], float]:
    from reward_fns import compute_score
    from reward_fns.timeout import get_pool

    get_pool().warm()

    def fn(response: str, case: Case | None, gold: str) -> float:
        extra = {"options": case.options, "problem": case.problem, "precision": case.precision} if case else None
        return compute_score("bench", response, gold, extra)["score"]

    fn.clear_cache = lambda: get_pool()._cache.clear()  # type: ignore[attr-defined]
    return fn


def _mathruler() -> Callable[[str, Case | None, str], float]:
    from mathruler.grader import extract_boxed_content, grade_answer

    def fn(response: str, case: Case | None, gold: str) -> float:  # EasyR1's math.py accuracy_reward
        return 1.0 if grade_answer(extract_boxed_content(response), gold) else 0.0

    return fn


def _verl_pool() -> Callable[[str, Case | None, str], float]:
    from verl.utils.reward_score import math_verify

    math_verify.compute_score("\\boxed{1}", "1")  # start its process pool

    def fn(response: str, case: Case | None, gold: str) -> float:
        return float(math_verify.compute_score(response, gold))

    return fn


def _verl_inproc() -> Callable[[str, Case | None, str], float]:
    from verl.utils.reward_score.math_verify import _verify_in_subprocess

    def fn(response: str, case: Case | None, gold: str) -> float:  # the same check, main thread, no pool
        try:
            return float(_verify_in_subprocess("\\boxed{" + gold + "}", response))
        except Exception:
            return 0.0

    return fn


METHODS = {"reward_fns": _ours, "mathruler": _mathruler, "verl_math_verify": _verl_pool,
           "verl_math_verify_inproc": _verl_inproc}


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def _one_pass(fn: Callable[[str, Case | None, str], float], cases: list[Case]) -> tuple[list[float], list[bool]]:
    if hasattr(fn, "clear_cache"):
        fn.clear_cache()  # no credit for repeated answers: every pass starts cold
    lat: list[float] = []
    verdicts: list[bool] = []
    for c in cases:
        t = time.perf_counter()
        try:
            score = fn(c.full_response, c, c.gold)
        except Exception:  # a baseline that raises (e.g. on a None gold) scores 0
            score = 0.0
        lat.append(time.perf_counter() - t)
        verdicts.append(score > 0.5)
    return lat, verdicts


def bench_realistic(names: list[str], cases: list[Case], repeats: int) -> dict[str, dict]:
    """Passes interleaved across methods (pass 1 of each, then pass 2, ...), so a change in machine load hits
    every method alike; ``pass_rates`` (calls/s per pass) give per-pass ratios."""
    fns = {name: METHODS[name]() for name in names}
    lat: dict[str, list[float]] = {n: [] for n in names}
    rates: dict[str, list[float]] = {n: [] for n in names}
    verdicts: dict[str, list[bool]] = {}
    for _ in range(repeats):
        for name in names:
            t = time.perf_counter()
            pass_lat, pass_verdicts = _one_pass(fns[name], cases)
            rates[name].append(len(cases) / (time.perf_counter() - t))
            lat[name] += pass_lat
            verdicts.setdefault(name, pass_verdicts)
    out = {}
    for name in names:
        v, ls = verdicts[name], lat[name]
        letterlike = [x for x, c in zip(v, cases) if c.rule.startswith("letterlike") and not c.expected]
        wall = sum(len(cases) / r for r in rates[name])
        out[name] = {"calls_per_s": len(ls) / wall, "pass_rates": rates[name],
                     "p50_ms": 1e3 * statistics.median(ls), "p99_ms": 1e3 * _pct(ls, 0.99), "max_ms": 1e3 * max(ls),
                     "agree": sum(x == c.expected for x, c in zip(v, cases)), "n": len(cases),
                     "letter_fp": sum(letterlike), "letter_n": len(letterlike)}
    return out


_PEER_SUBSETS = ("all", "no_design", "ok")  # every graded row; without our box-rule rows; non-debatable rows


def bench_peer(name: str, rows: list[dict]) -> dict[str, dict[str, list[int]]]:
    """Per source, per subset (:data:`_PEER_SUBSETS`): [rows agreeing with the peer's expectation, rows]."""
    fn = METHODS[name]()
    out: dict[str, dict[str, list[int]]] = {}
    for r in rows:
        case = Case(r["response"], r["gold"], bool(r["peer_expected"]), "peer", precision=r["precision"], raw=True)
        try:
            got = fn(r["response"], case, r["gold"]) > 0.5
        except Exception:
            got = False
        agree = int(got == bool(r["peer_expected"]))
        per = out.setdefault(r["source"], {k: [0, 0] for k in _PEER_SUBSETS})
        for subset in ("all", "no_design" if r["kind"] != "design" else None, "ok" if r["kind"] == "ok" else None):
            if subset:
                per[subset][0] += agree
                per[subset][1] += 1
    return out


def _child(name: str, start: int) -> None:
    fn = METHODS[name]()
    fn(r"so \boxed{\sqrt{4}}", None, "2")
    print(json.dumps({"ready": True}), flush=True)
    for i in range(start, len(PATHOLOGICAL)):
        _, resp, gold = PATHOLOGICAL[i]
        t = time.perf_counter()
        score = fn(resp, None, gold)
        print(json.dumps({"i": i, "s": time.perf_counter() - t, "score": score}), flush=True)


def bench_pathological(name: str, cap: float, cpu: int) -> list[tuple[str, float | None, float | None]]:
    """Per input: (label, seconds or None if killed at the cap, score)."""
    out: dict[int, tuple[float | None, float | None]] = {}
    start = 0
    while start < len(PATHOLOGICAL):
        proc = subprocess.Popen([sys.executable, __file__, "--child", name, "--start", str(start),
                                 "--cpu", str(cpu)], stdout=subprocess.PIPE, text=True,
                                start_new_session=True)  # its own group: pool workers die with it
        deadline = time.monotonic() + 120  # start-up
        i = start
        while i < len(PATHOLOGICAL):
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            line = proc.stdout.readline() if ready else ""
            if not line:
                out[i] = (None, None)
                break
            msg = json.loads(line)
            if "ready" in msg:
                deadline = time.monotonic() + cap
                continue
            out[msg["i"]] = (msg["s"], msg["score"])
            i = msg["i"] + 1
            deadline = time.monotonic() + cap
        os.killpg(proc.pid, signal.SIGKILL)  # the child and any pool it started (verl's math_verify)
        proc.wait()
        start = i + 1
    return [(PATHOLOGICAL[i][0], *out.get(i, (None, None))) for i in range(len(PATHOLOGICAL))]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="passes over the realistic set per method")
    ap.add_argument("--cap", type=float, default=15.0, help="seconds before a pathological call is killed")
    ap.add_argument("--cpu", type=int, default=0, help="the one CPU core everything is pinned to")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    ap.add_argument("--no-peer", action="store_true", help="skip the peers' equivalence tests")
    ap.add_argument("--no-pathological", action="store_true", help="skip the pathological inputs")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})  # child processes (worker pools) inherit the single core
    if args.child:
        _child(args.child, args.start)
        return
    names = args.methods.split(",")
    cases = [c for c in CASES if not c.rule.startswith("pathological")]
    print(f"realistic responses: {len(cases)} (x{args.repeats} passes), pathological: {len(PATHOLOGICAL)}, "
          f"one core (cpu {args.cpu})")
    res = {}
    mix = realistic_mix()
    for label, data in (("case table (edge-heavy)", cases), ("GRPO-style mix", mix)):
        print(f"\n{label}: {len(data)} responses x{args.repeats} passes")
        by_name = bench_realistic(names, data, args.repeats)
        for name in names:
            r = res[(label, name)] = by_name[name]
            letter = f"  letter-like gold FP {r['letter_fp']}/{r['letter_n']}" if r["letter_n"] else ""
            print(f"{name:26s} {r['calls_per_s']:9.0f} calls/s  p50 {r['p50_ms']:7.3f} ms  p99 {r['p99_ms']:8.2f} ms"
                  f"  max {r['max_ms']:8.1f} ms  agree {r['agree']}/{r['n']} ({100 * r['agree'] / r['n']:.1f}%)"
                  + letter, flush=True)
    if not args.no_peer:
        rows = [json.loads(x) for x in PEER_CASES.read_text(encoding="utf-8").splitlines() if x.strip()]
        rows = [r for r in rows if r["kind"] != "out_of_scope"]
        n_ok = sum(r["kind"] == "ok" for r in rows)
        n_design = sum(r["kind"] == "design" for r in rows)
        print(f"\npeers' equivalence tests ({PEER_CASES.relative_to(ROOT)}): {len(rows)} graded rows; agreement "
              f"with the peer's expectation: all rows | without the {n_design} rows our design rules decide (last "
              f"box, no box, refusals) | the {n_ok} non-debatable rows")
        peer = {name: bench_peer(name, rows) for name in names if name != "verl_math_verify_inproc"}
        for source in [*sorted({r["source"] for r in rows}), "all"]:
            cells = []
            for name, per in peer.items():
                counts = {k: [sum(p[k][i] for p in per.values()) for i in (0, 1)] if source == "all"
                          else per[source][k] for k in _PEER_SUBSETS}
                cells.append(f"{name} " + " | ".join(f"{a}/{n} ({100 * a / max(n, 1):.1f}%)"
                                                     for a, n in counts.values()))
            print(f"  {source:15s} " + "    ".join(cells), flush=True)
    worst: dict[str, float] = {}
    if not args.no_pathological:
        print(f"\npathological inputs (cap {args.cap:.0f} s; '>=cap' = hung and killed):")
    for name in names if not args.no_pathological else []:
        rows = bench_pathological(name, args.cap, args.cpu)
        worst[name] = max((s if s is not None else float("inf")) for _, s, _ in rows)
        cells = "  ".join(f"{lab}: {f'{s:.3f}s' if s is not None else '>=cap'}" for lab, s, _ in rows)
        top = f"{worst[name]:.3f} s" if worst[name] != float("inf") else ">= cap"
        print(f"{name:26s} max {top} | {cells}", flush=True)
    for label in ("case table (edge-heavy)", "GRPO-style mix"):
        if (label, "reward_fns") not in res:
            continue
        ours = res[(label, "reward_fns")]
        print(f"\nratios, {label} (reward_fns vs baseline):")
        for name in names:
            if name != "reward_fns":
                b = res[(label, name)]
                per_pass = statistics.median(o / x for o, x in zip(ours["pass_rates"], b["pass_rates"]))
                print(f"  vs {name:24s} throughput x{ours['calls_per_s'] / b['calls_per_s']:.2f} "
                      f"(median per pass x{per_pass:.2f})   "
                      f"p99 x{b['p99_ms'] / ours['p99_ms']:.2f} lower   agreement {ours['agree']} vs {b['agree']}")
    if "reward_fns" in worst:
        for name in names:
            if name != "reward_fns":
                ratio = worst[name] / worst["reward_fns"]
                print(f"  pathological max: {name} / reward_fns = "
                      f"{'>= %.0f' % (args.cap / worst['reward_fns']) if ratio == float('inf') else f'{ratio:.1f}'}")


if __name__ == "__main__":
    main()
