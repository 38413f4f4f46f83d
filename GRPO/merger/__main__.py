"""CLI: ``rlcs merge --local-dir <global_step_N/actor> --target-dir <out>`` (``python -m GRPO.merger merge ...`` as verl spells it).

Flags follow ``python -m verl.model_merger merge`` (``--backend fsdp`` is accepted and is the only
backend; verl's ``--local_dir`` spellings are accepted too), so a command written for verl's merger works here.
"""

from __future__ import annotations

import argparse
import logging
import sys


def build_parser(prog: str = "python -m GRPO.merger") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Merge a verl FSDP actor checkpoint (model_world_size_W_rank_R.pt + huggingface/) into a "
        "Hugging Face model dir, streaming one parameter at a time, after validating every shard.",
    )
    sub = parser.add_subparsers(dest="operation", required=True)
    m = sub.add_parser("merge", help="merge shards into a Hugging Face model dir")
    m.add_argument("--backend", default="fsdp", choices=["fsdp"], help="checkpoint backend (only fsdp)")
    m.add_argument("--local-dir", "--local_dir", required=True, help="the actor dir: global_step_N/actor")
    m.add_argument("--target-dir", "--target_dir", required=True,
                   help="output model dir (must not exist unless --overwrite)")
    m.add_argument("--dtype", default=None,
                   help="bf16 | fp16 | fp32; default keeps the checkpoint's dtype (verl's merger always writes bf16)")
    m.add_argument("--max-shard-size", "--max_shard_size", default="5GB", help="largest safetensors file, e.g. 5GB, 500MiB")
    m.add_argument("--overwrite", action="store_true", help="replace an existing --target-dir")
    m.add_argument("--trust-remote-code", dest="trust_remote_code", action="store_true",
                   help="allow model classes defined by code in huggingface/")
    m.add_argument("--tie-word-embedding", dest="tie_word_embedding", action="store_true",
                   help="accepted for verl compatibility; ties always follow the model config")
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m GRPO.merger") -> int:
    """`merge` is the one operation (verl's spelling names it); `rlcs merge --local-dir ...` may leave it out."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] not in (["merge"], ["-h"], ["--help"]):
        argv.insert(0, "merge")
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from recipes.atomic import OutputExistsError

    from .errors import MergeError
    from .merge import merge

    try:
        report = merge(args.local_dir, args.target_dir, dtype=args.dtype, max_shard_size=args.max_shard_size,
                       overwrite=args.overwrite, trust_remote_code=args.trust_remote_code)
    except (MergeError, OutputExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"merged {report.num_tensors} tensors ({report.num_parameters:,} parameters, {report.dtype}) "
          f"from {report.world_size} ranks into {report.target_dir} in {report.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
