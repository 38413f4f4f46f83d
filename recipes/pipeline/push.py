"""`rlcs push RUN --to ORG/NAME` (and `hub.push_to=ORG/NAME` after a run): the merged model with its processor,
a model card from results.json (recipes/pipeline/model_card.py), the results and the training curves, uploaded with
huggingface_hub's `upload_folder`. Rerunning an interrupted push resumes it: with hf_xet (the Hub's default)
upload_folder commits in batches and skips what is committed; on the LFS path the Hub answers "already
present" for every large file it holds, so only what is missing is sent, and unchanged files are not
committed again. Refused, before anything is sent, when offline or without a token.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recipes import hub
from recipes.atomic import atomic_write_text
from recipes.stage_outputs import RunOutputs, done_outputs, grpo_model

TRAINING_STATE = ("optimizer.pt", "scheduler.pt", "rng_state*.pth", "training_args.bin", "trainer_state.json",
                  "args.json", "latest", "zero_to_fp32.py", "global_step*", "*.distcp")
"""Files of a training checkpoint that are not the model (the swift backend's GRPO checkpoint is the model dir)."""
STAGING = "hub_upload"
"""The folder under the run that mirrors the repo (hard links to the run's files, plus README.md)."""


class PushError(RuntimeError):
    """The run cannot be pushed (offline, no token, nothing to push, the Hub said no); the message says why."""


def _outputs(run_dir: Path) -> RunOutputs:
    path = run_dir / "manifest.json"
    if not path.exists():
        raise PushError(f"{run_dir} is not a run directory (no manifest.json)")
    return done_outputs(json.loads(path.read_text()))


def model_dir(run_dir: Path) -> Path:
    """The run's Hugging Face model directory: merge's output, else GRPO's (the swift backend writes one)."""
    outputs = _outputs(run_dir)
    for model in (outputs["merge"].get("model") if "merge" in outputs else None,
                  grpo_model(outputs["grpo"]) if "grpo" in outputs else None):
        if model and (Path(model) / "config.json").exists():
            return Path(model)
    raise PushError(f"{run_dir}: no merged model (a finished merge or grpo stage with a config.json); "
                    "run the pipeline through merge first")


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        if dst.stat().st_ino == src.stat().st_ino:
            return  # linked by an earlier push: unchanged, so the resumed upload skips it
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def stage(run_dir: Path, repo_id: str) -> Path:
    """Lay out the repo in `runs/<run>/hub_upload/`: model + processor at the top, README.md, config.yaml,
    results/, curves/. Files are hard links, so staging costs no space; rerunning keeps what is unchanged."""
    from evaluation.results import load as load_results
    from recipes.pipeline.model_card import render

    out = run_dir / STAGING
    model = model_dir(run_dir)
    wanted: set[Path] = set()
    for f in sorted(model.rglob("*")):
        rel = f.relative_to(model)
        if f.is_file() and not any(rel.match(p) or rel.parts[0] == p for p in TRAINING_STATE):
            _link(f, out / rel)
            wanted.add(out / rel)
    if (run_dir / "config.yaml").exists():
        _link(run_dir / "config.yaml", out / "config.yaml")
        wanted.add(out / "config.yaml")
    results = None
    eval_out = _outputs(run_dir).get("eval")
    files = [eval_out.get("results"), eval_out.get("report"), eval_out.get("plot")] if eval_out else []
    for f in [Path(f) for f in files if f and Path(f).exists()]:
        _link(f, out / "results" / f.name)
        wanted.add(out / "results" / f.name)
    if eval_out and eval_out.get("results") and Path(eval_out["results"]).exists():
        results = load_results(eval_out["results"])
    curves = []
    for png in sorted((run_dir / "curves").glob("*.png")):
        _link(png, out / "curves" / png.name)
        wanted.add(out / "curves" / png.name)
        curves.append(f"curves/{png.name}")
    for stale in [p for p in out.rglob("*") if p.is_file() and p not in wanted and p.name != "README.md"]:
        stale.unlink()  # staged by an earlier push, no longer part of the run
    card = render(run_dir, repo_id, results, curves)
    readme = out / "README.md"
    if not readme.exists() or readme.read_text() != card:
        atomic_write_text(readme, card)
    return out


def check_can_push(offline: bool = False, token: str | None = None) -> str:
    """The token to push with; PushError when offline or when there is none."""
    if hub.is_offline(offline):
        raise PushError("offline (hub.offline=true or HF_HUB_OFFLINE=1): nothing can be pushed; run "
                        "`rlcs push RUN --to ORG/NAME` later on a connected machine")
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise PushError("no Hugging Face token: set HF_TOKEN (a write token) or run `hf auth login`, then "
                        "`rlcs push RUN --to ORG/NAME`")
    return token


def push_run(run_dir: Path, repo_id: str, *, private: bool = True, offline: bool = False, token: str | None = None,
             endpoint: str | None = None, echo: Callable[[str], Any] = print) -> str:
    """Upload the run to `repo_id` (created if missing); return the repo URL. Resumes an interrupted push."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    if not hub._HUB_ID.match(repo_id):
        raise PushError(f"{repo_id!r} is not ORG/NAME")
    token = check_can_push(offline, token)
    run_dir = Path(run_dir)
    folder = stage(run_dir, repo_id)
    api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)
    try:
        who = api.whoami()
    except HfHubHTTPError as err:
        raise PushError(f"the Hub refused the token ({err.response.status_code}): set a valid write token in "
                        "HF_TOKEN") from err
    files = [p for p in folder.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    echo(f"  hub: pushing {len(files)} files ({size / 2**20:.1f} MiB) from {folder} to {repo_id} as "
         f"{who.get('name')} ({'private' if private else 'public'}); rerun to resume if interrupted")
    try:
        repo = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, folder_path=folder, repo_type="model",
                                   commit_message=f"rlcs push of run {run_dir.name}")
    except HfHubHTTPError as err:
        raise PushError(f"the Hub refused the upload to {repo_id} ({err.response.status_code}): {err}; rerun "
                        "the same push to resume") from err
    except (RuntimeError, OSError, ValueError) as err:  # a dropped transfer (LFS/Xet), invalid card metadata
        raise PushError(f"the upload to {repo_id} stopped ({err.__cause__ or err}); rerun the same push to "
                        "resume: what the Hub already holds is not sent again") from err
    echo(f"  hub: {repo} (commit {getattr(commit, 'oid', '-')})")
    return str(repo)


def main(argv: list[str] | None = None, prog: str = "rlcs push") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run directory (runs/<run>) or a run name under --runs-dir")
    parser.add_argument("--to", required=True, help="ORG/NAME of the model repo (created if missing)")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--public", action="store_true", help="create the repo public (default: private)")
    parser.add_argument("--offline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    run_dir = Path(args.run) if Path(args.run).is_dir() else Path(args.runs_dir) / args.run
    try:
        push_run(run_dir, args.to, private=not args.public, offline=args.offline)
    except PushError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
