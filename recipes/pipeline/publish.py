"""After a run: the config in the trackers, the HTML report, the Hub upload when asked, and one list of what
the run produced, by what a person wants (model, results, curves, report, tracker). Nothing here fails a run
that trained: each step that cannot be done says why."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from recipes import tracking
from recipes.atomic import atomic_write_text
from recipes.pipeline.manifest import Manifest
from recipes.stage_outputs import done_outputs, grpo_model

log = logging.getLogger(__name__)


def produced(run_dir: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """What a person wants from a finished run -> where it is (only what exists)."""
    stages = done_outputs(manifest)
    out: dict[str, str] = {}
    model = (stages["merge"].get("model") if "merge" in stages else None) \
        or (grpo_model(stages["grpo"]) if "grpo" in stages else None) \
        or (stages["sft"].get("checkpoint") if "sft" in stages else None)  # .get: an embedded stage may differ
    if model:
        out["model"] = str(model)
    results = stages["eval"].get("results") if "eval" in stages else None
    if results:
        out["results"] = str(results)
    curves = sorted((run_dir / "curves").glob("*.png"))
    if curves:
        out["curves"] = ", ".join(str(p) for p in curves)
    report = run_dir / "report.html"
    if report.exists():
        out["report"] = f"{report}  (open in a browser; no server)"
    return out


def after_run(cfg: DictConfig, run_dir: Path, echo: Callable[[str], Any] = print) -> dict[str, str]:
    """Log the recipe and hashes to the trackers, write the report, push when `hub.push_to` is set, then
    print what the run produced; return that list."""
    manifest = Manifest(run_dir, str(cfg.run_name)).data
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))  # what the report/card read
    hashes = {n: e["config_hash"] for n, e in manifest.get("stages", {}).items() if e.get("config_hash")}
    for line in tracking.log_config(cfg, hashes):
        echo(f"  tracker: {line}")
    try:
        from recipes.pipeline.run_report import write_report

        write_report(run_dir, tracking.where_to_look(cfg))
    except (OSError, ValueError, KeyError, TypeError) as err:  # a report never fails a run that trained
        log.warning("run report of %s not written: %s", run_dir, err)
    push_to = cfg.hub.get("push_to")
    pushed = None
    if push_to:
        from recipes.pipeline.push import PushError, push_run

        try:
            pushed = push_run(run_dir, str(push_to), private=bool(cfg.hub.get("private", True)), echo=echo)
        except PushError as err:
            echo(f"  hub: not pushed: {err}")
    out = produced(run_dir, manifest)
    if pushed:
        out["hub"] = pushed
    echo("\nWhat this run produced:")
    for key, value in out.items():
        echo(f"  {key:8s} {value}")
    for line in tracking.where_to_look(cfg):
        echo(f"  tracker  {line}")
    return out
