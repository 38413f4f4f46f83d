"""Submit the pipeline to a Ray cluster as a Ray job, and watch, inspect or stop it.

    rlcs submit qwen2_5_vl_7b cluster=ray --address http://HEAD:8265 --follow
    rlcs submit tiny --stages sft_data,sft --address http://127.0.0.1:8265
    rlcs submit status JOB_ID | logs JOB_ID | stop JOB_ID   [--address ...]

`rlcs submit RECIPE ...` is short for `rlcs submit submit RECIPE ...`; `rlcs submit submit --help` lists its flags.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from recipes.checks import ConfigError
from recipes.pipeline import ray_jobs
from recipes.pipeline.compose import compose
from recipes.pipeline.validate import validate
from recipes.ray_launch import RAY_JOB_ENV

DEFAULT_ADDRESS = os.environ.get("RAY_API_SERVER_ADDRESS", "http://127.0.0.1:8265")
VERBS = ("submit", "status", "logs", "stop")


def check(recipe: str, overrides: list[str], stages: list[str] | None) -> None:
    """The job's validation pass, run here before anything is sent, as the job's entrypoint will see the config
    (inside a Ray job); ConfigError names every problem."""
    extra = [f"stages=[{','.join(stages)}]"] if stages else []
    saved = os.environ.get(RAY_JOB_ENV)
    os.environ[RAY_JOB_ENV] = saved or "{}"
    try:
        validate(compose(recipe, [*overrides, *extra]))
    finally:
        if saved is None:
            del os.environ[RAY_JOB_ENV]


def main(argv: list[str] | None = None, prog: str = "scripts/submit.py") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in VERBS and not argv[0].startswith("-"):
        argv.insert(0, "submit")  # a recipe first: submit it
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("submit", help="send RECIPE [overrides] as a Ray job; prints the job id")
    s.add_argument("recipe", help="a recipe under recipes/conf (tiny, qwen2_5_vl_7b, ...)")
    s.add_argument("overrides", nargs="*", help="Hydra key=value overrides for the recipe")
    s.add_argument("--stages", help="comma-separated subset of stages (default: the recipe's)")
    s.add_argument("--follow", action="store_true", help="stream the job's log until it ends; exit 1 if it fails")
    s.add_argument("--job-id", help="submission id to use (default: Ray generates one)")
    s.add_argument("--python", default="python", help="interpreter on the cluster nodes (default: python on PATH)")
    s.add_argument("--num-cpus", type=float, default=1, help="CPUs reserved for the entrypoint (default 1)")
    s.add_argument("--num-gpus", type=float, default=0,
                   help="GPUs reserved for the entrypoint (default 0: verl's workers reserve their own)")
    s.add_argument("--resources", default="{}", help='custom entrypoint resources as JSON, e.g. \'{"gpu_node": 1}\'')
    for name, text in (("status", "print the job's status"), ("logs", "print the job's log"), ("stop", "stop the job")):
        p = sub.add_parser(name, help=text)
        p.add_argument("job_id")
    for p in sub.choices.values():
        p.add_argument("--address", default=DEFAULT_ADDRESS,
                       help=f"Ray dashboard address (default: $RAY_API_SERVER_ADDRESS or {DEFAULT_ADDRESS})")
    args, extra = parser.parse_known_args(argv)
    if args.cmd == "submit":  # overrides may follow the flags too: `rlcs submit tiny --follow grpo.x=1`
        stray = [a for a in extra if a.startswith("-") or "=" not in a]
        if stray:
            parser.error(f"unrecognized arguments: {' '.join(stray)}")
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")

    try:
        if args.cmd == "submit":
            check(args.recipe, args.overrides, args.stages.split(",") if args.stages else None)
            spec = ray_jobs.build_spec(
                args.recipe, args.overrides, args.stages.split(",") if args.stages else None,
                python=args.python, num_cpus=args.num_cpus, num_gpus=args.num_gpus,
                resources=json.loads(args.resources), submission_id=args.job_id)
            print(json.dumps(spec.describe(), indent=2))  # secrets masked
            job_id = ray_jobs.submit(args.address, spec)
            print(f"submitted job {job_id}")
            if args.follow:
                for chunk in ray_jobs.follow(args.address, job_id):
                    print(chunk, end="", flush=True)
                state = ray_jobs.wait(args.address, job_id)
                print(f"job {job_id}: {state}")
                return 0 if state == "SUCCEEDED" else 1
        elif args.cmd == "status":
            print(ray_jobs.status(args.address, args.job_id))
        elif args.cmd == "logs":
            print(ray_jobs.logs(args.address, args.job_id), end="")
        elif args.cmd == "stop":
            print("stopped" if ray_jobs.stop(args.address, args.job_id) else "not running")
    except (ray_jobs.JobError, ConnectionError, RuntimeError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
