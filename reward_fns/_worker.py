"""Worker process for symbolic checks: JSON lines in on stdin, JSON lines out on stdout.

Started by :mod:`reward_fns.timeout` as ``python -m reward_fns._worker``; exits when stdin closes.
"""

from __future__ import annotations

import json
import logging
import sys


def main() -> None:
    logging.disable(logging.WARNING)
    from reward_fns.symbolic import symbolic_equal

    # import sympy / math-verify and their lazily loaded parts before announcing readiness
    for pred, gold in (("1", "1"), ("x^2+2x+1", "(x+1)^2"), (r"\sqrt{2}/2", r"\frac{1}{\sqrt{2}}"),
                       (r"\log_2 8", "3"), (r"\sin^2 x + \cos^2 x", "1"), ("y=2x+1", "2x-y+1=0")):
        symbolic_equal(pred, gold)
    out = sys.stdout
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        req = None
        try:
            req = json.loads(line)
            res = {"id": req["id"], "equal": symbolic_equal(req["pred"], req["gold"], req.get("precision"))}
        except Exception as e:  # a verdict of "error" is scored 0 by the caller
            res = {"id": req.get("id") if isinstance(req, dict) else None, "error": repr(e)[:200]}
        out.write(json.dumps(res) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
