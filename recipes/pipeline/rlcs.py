"""`rlcs`: the project's one front door. Each subcommand hands its arguments to the `main(argv)` of the module that
owns the job, as `main(argv, prog)` (imported only when chosen, so `rlcs --help` imports no torch or verl):

    rlcs run tiny                        rlcs evaluate run MODEL --out DIR
    rlcs convert-sft --out DIR           rlcs compare runs/tiny_base runs/tiny --preset tiny --out DIR
    rlcs merge --local-dir A --target-dir B     rlcs submit tiny --address http://HEAD:8265 --follow

`rlcs X --help` explains X. `python -m recipes.pipeline RECIPE ...` is `rlcs run`, and `scripts/*.py` are
the same commands for a checkout that calls them by path.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Subcommand:
    """One subcommand: where its `main(argv, prog) -> int` lives and what it does."""

    target: str
    """`module:function`."""
    summary: str

    def main(self) -> Callable[..., int]:
        module, function = self.target.split(":")
        return getattr(importlib.import_module(module), function)


SUBCOMMANDS: dict[str, Subcommand] = {
    "run": Subcommand("recipes.pipeline.rlcs_run:main",
                   "run a recipe's stages (SFT -> GRPO -> merge -> eval); skips what is done, resumes the rest"),
    "validate": Subcommand("recipes.pipeline.validate:main",
                        "check a recipe and overrides (schema, relations, verl's and ms-swift's own checks); run nothing"),
    "convert-sft": Subcommand("recipes.pipeline.convert_cli:main_sft",
                           "convert the cold-start set to ms-swift JSON lines plus images"),
    "convert-rl": Subcommand("recipes.pipeline.convert_cli:main_rl",
                          "convert the RL and validation sets to verl's RL parquet"),
    "merge": Subcommand("GRPO.merger.__main__:main",
                     "merge a verl FSDP actor checkpoint into a Hugging Face model dir (verl's merger flags)"),
    "evaluate": Subcommand("evaluation.rlcs_evaluate:main",
                        "evaluate a model on MathVista, We-Math, MathVerse, MathVision; or rescore predictions"),
    "compare": Subcommand("evaluation.compare:main",
                       "evaluate runs and models side by side, beside the paper's rows"),
    "submit": Subcommand("recipes.pipeline.submit:main",
                      "send a recipe to a Ray cluster as a Ray job; its status, logs, or stop it"),
    "check-verl": Subcommand("recipes.pipeline.check_verl:main",
                          "check a recipe's GRPO overrides with verl's own config code, on this CPU"),
    "push": Subcommand("recipes.pipeline.push:main",
                    "upload a run's merged model, processor, model card, results and curves to the Hub"),
    "report": Subcommand("recipes.pipeline.run_report:main",
                      "write a run's report as one self-contained HTML page (opens with no server)"),
    "tiny-world": Subcommand("recipes.tiny_world.rlcs_tiny_world:main",
                          "build (or reuse) the offline tiny models (Qwen2.5-VL, Qwen3-VL) and synthetic datasets"),
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {cmd.summary}" for name, cmd in SUBCOMMANDS.items())
    return (f"usage: rlcs COMMAND [ARGS ...]\n\nThe cold-start RL pipeline (arXiv 2505.22334): ms-swift SFT -> verl "
            f"GRPO on Ray -> FSDP merge -> evaluation.\n\ncommands:\n{rows}\n\n`rlcs COMMAND --help` explains "
            f"one; recipes: `rlcs run --help`.")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"rlcs: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return SUBCOMMANDS[name].main()(rest, prog=f"rlcs {name}")


if __name__ == "__main__":
    sys.exit(main())
