"""`rlcs report RUN`: one self-contained HTML page of a run (`runs/<run>/report.html`) that opens from disk with
no server: the plan (stages, status, timings, config hashes), the training curves (PNG inlined as base64), the
eval table beside the paper's rows with each benchmark's breakdowns and the reflection share
(evaluation/report.py), and compare rows against the other runs of the same runs folder evaluated with the same
preset (evaluation/compare.py). The runner writes it after every run."""

from __future__ import annotations

import argparse
import base64
import html
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recipes.atomic import atomic_write_text
from recipes.stage_outputs import done_outputs

if TYPE_CHECKING:
    from evaluation.results import Results

REPORT = "report.html"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;
padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:left}th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}
.muted{color:#666}.done{color:#1a7f37;font-weight:600}.failed{color:#c00;font-weight:600}
.running{color:#b60}img{max-width:100%;border:1px solid #eee;margin:.4em 0}code{background:#f3f3f3;padding:0 .2em}
details{margin:.5em 0}summary{cursor:pointer;font-weight:600}
"""


def _md(text: str) -> str:
    """Markdown (tables included) as HTML; raw HTML in the text is escaped."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def _fmt_s(seconds: float | None) -> str:
    if not seconds:
        return "-"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _plan(manifest: dict[str, Any]) -> str:
    rows = ["<table><tr><th>stage</th><th>status</th><th>time</th><th>attempts</th><th>peak RSS (MB)</th>"
            "<th>config hash</th><th>finished</th></tr>"]
    total = 0.0
    for name, e in manifest.get("stages", {}).items():
        status = str(e.get("status", "pending"))
        total += float(e.get("seconds") or 0)
        rows.append(f"<tr><td>{html.escape(name)}</td><td class='{html.escape(status)}'>{html.escape(status)}</td>"
                    f"<td>{_fmt_s(e.get('seconds'))}</td><td>{e.get('attempts', '-')}</td>"
                    f"<td>{e.get('peak_rss_mb', '-')}</td><td><code>{html.escape(str(e.get('config_hash', '-'))[:12])}"
                    f"</code></td><td>{html.escape(str(e.get('finished', '-')))}</td></tr>")
    rows.append(f"<tr><th>total</th><th></th><th>{_fmt_s(total)}</th><th colspan='4'></th></tr></table>")
    errors = [f"<p class='failed'>{html.escape(n)}: {html.escape(str(e['error']))}</p>"
              for n, e in manifest.get("stages", {}).items() if e.get("error")]
    return "\n".join(rows + errors)


def _config(run_dir: Path) -> str:
    from recipes.pipeline.model_card import _get, base_license, run_config

    cfg = run_config(run_dir)
    base = str(_get(cfg, "model.path", "-"))
    items = [("base model", f"{base} (license: {base_license(base)})"), ("ablation", cfg.get("ablation", "full")),
             ("SFT data", _get(cfg, "data.sft_source", "-")), ("RL data", _get(cfg, "data.rl_source", "-")),
             ("eval preset", _get(cfg, "eval.preset", "-")), ("GRPO backend", _get(cfg, "grpo.backend", "-")),
             ("loggers", _get(cfg, "logger") or f"sft {_get(cfg, 'sft.report_to', '-')}, "
              f"grpo {_get(cfg, 'grpo.loggers', '-')}")]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in items)
    full = ""
    if (run_dir / "config.yaml").exists():
        full = (f"<details><summary>composed recipe (config.yaml)</summary><pre>"
                f"{html.escape((run_dir / 'config.yaml').read_text())}</pre></details>")
    return f"<table>{rows}</table>{full}"


def _curves(run_dir: Path) -> str:
    pngs = sorted((run_dir / "curves").glob("*.png"))
    if not pngs:
        return "<p class='muted'>No training curves (no sft or grpo stage logged in this run).</p>"
    out = []
    for png in pngs:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        out.append(f"<h3>{html.escape(png.stem)}</h3><img alt='{html.escape(png.stem)} curves' "
                   f"src='data:image/png;base64,{data}'>")
    return "\n".join(out)


def _results(run_dir: Path, manifest: dict[str, Any]) -> tuple[Results | None, Path | None]:
    from evaluation.results import RESULTS_JSON, load

    eval_out = done_outputs(manifest).get("eval")
    recorded = eval_out.get("results") if eval_out else None
    path = Path(recorded) if recorded else run_dir / "eval" / RESULTS_JSON
    return (load(path), path) if path.exists() else (None, None)


def _siblings(run_dir: Path, preset: str) -> list[tuple[str, Results]]:
    """Other runs in the same runs folder with an evaluation under the same preset (their results.json)."""
    from evaluation.results import RESULTS_JSON, ResultsError, load

    out = []
    for other in sorted(run_dir.parent.glob(f"*/eval/{RESULTS_JSON}")):
        if other.parent.parent == run_dir:
            continue
        try:
            res = load(other)
        except ResultsError:
            continue
        if res.get("preset") == preset and res.get("reflection"):
            out.append((other.parent.parent.name, res))
    return out


def render(run_dir: Path, trackers: list[str] | None = None) -> str:
    """The report page of the run in `run_dir`, as one HTML string with everything inlined."""
    from evaluation.report import render_markdown

    run_dir = Path(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    name = str(manifest.get("run_name", run_dir.name))
    results, results_path = _results(run_dir, manifest)
    parts = [f"<h1>Run {html.escape(name)}</h1>",
             f"<p class='muted'>{html.escape(str(run_dir.resolve()))} · created {html.escape(str(manifest.get('created')))}"
             f" · report written {time.strftime('%Y-%m-%d %H:%M:%S')}</p>",
             "<h2 id='plan'>Plan and stage timings</h2>", _plan(manifest), _config(run_dir),
             "<h2 id='curves'>Training curves</h2>", _curves(run_dir), "<h2 id='eval'>Evaluation</h2>"]
    if results:
        body = render_markdown(results, name).split("\n", 1)[1]  # its own H1 is replaced by the section title
        parts.append(f"<p class='muted'>from {html.escape(str(results_path))}</p>" + _md(body))
        siblings = _siblings(run_dir, str(results.get("preset")))
        if siblings and results.get("reflection"):
            from evaluation.compare import render_markdown as compare_markdown

            labels = [name] + [s for s, _ in siblings]
            table = compare_markdown(labels, [results] + [r for _, r in siblings], name, str(results.get("preset")))
            parts += ["<h2 id='compare'>Compared with the other runs in this folder</h2>",
                      _md(table.split("\n", 1)[1])]
    else:
        parts.append("<p class='muted'>No evaluation in this run (no finished eval stage).</p>")
    if trackers:
        parts += ["<h2 id='trackers'>Experiment trackers</h2>",
                  "<ul>" + "".join(f"<li><code>{html.escape(t)}</code></li>" for t in trackers) + "</ul>"]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Run {html.escape(name)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")


def write_report(run_dir: Path, trackers: list[str] | None = None) -> Path:
    """Write `runs/<run>/report.html` atomically; return its path."""
    path = Path(run_dir) / REPORT
    atomic_write_text(path, render(run_dir, trackers))
    return path


def main(argv: list[str] | None = None, prog: str = "rlcs report") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run directory (runs/<run>) or a run name under --runs-dir")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--out", help="where to write the page (default: <run>/report.html)")
    args = parser.parse_args(argv)
    run_dir = Path(args.run) if Path(args.run).is_dir() else Path(args.runs_dir) / args.run
    if not (run_dir / "manifest.json").exists():
        print(f"error: {run_dir} is not a run directory (no manifest.json)", file=sys.stderr)
        return 2
    trackers = None
    if (run_dir / "config.yaml").exists():
        from omegaconf import OmegaConf

        from recipes.tracking import where_to_look

        trackers = where_to_look(OmegaConf.load(run_dir / "config.yaml"))
    page = render(run_dir, trackers)
    out = Path(args.out) if args.out else run_dir / REPORT
    atomic_write_text(out, page)
    print(f"report: {out.resolve()}  (open it in a browser: file://{out.resolve()})")
    return 0
