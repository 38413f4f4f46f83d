"""Rewards for GRPO and grading for evaluation: one grader, three faces. No torch, no GPU, no network.

- verl: ``reward.custom_reward_function.path=reward_fns/verl_reward.py`` (or ``pkg://reward_fns.verl_reward``),
  ``.name=compute_score``, optional ``+reward.custom_reward_function.reward_kwargs.format_weight=0.1``;
  also ``from reward_fns import compute_score``.
- EasyR1: ``worker.reward.reward_type=batch worker.reward.score_function=reward_fns/easyr1.py:compute_score``.
- ms-swift: ``--external_plugins reward_fns/swift_orm.py --reward_funcs rlcs_accuracy [rlcs_format]``.
- evaluation: ``reward_fns.grader.grade`` / ``grade_answer`` / ``extract_answer``.

Default = the paper: accuracy of the last ``\\boxed{}`` (format weight 0). Symbolic checks run in worker
processes under a hard limit (``RLCS_REWARD_TIMEOUT`` seconds, default 3; ``RLCS_REWARD_WORKERS``, default 2).
"""

from typing import Any

from reward_fns.grader import Verdict, extract_answer, grade, grade_answer

__all__ = ["Verdict", "compute_score", "extract_answer", "grade", "grade_answer"]


def __getattr__(name: str) -> Any:
    """`compute_score` is the verl face, imported on first use: importing a face warms the symbolic pool,
    which the graders alone (evaluation, tools) must not pay for at import."""
    if name == "compute_score":
        from reward_fns.verl_reward import compute_score

        return compute_score
    raise AttributeError(f"module 'reward_fns' has no attribute {name!r}")
