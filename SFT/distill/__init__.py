"""Stage `distill`: build a cold-start set by rejection sampling from a teacher (the paper's recipe).

A teacher samples k chain-of-thought responses per (problem, answer, images) row; a response is kept when
the shared grader (reward_fns) accepts its last `\\boxed{}` against the gold answer and the optional filters
pass; up to m kept responses per problem are written in the cold-start schema (images, problem, answer =
the response) that `sft_data` reads unchanged. Modules: config (settings), templates (prompts), judge
(verdicts, selection), sampling (generation through evaluation.generate, Ray Data), report, run, stage.
"""
