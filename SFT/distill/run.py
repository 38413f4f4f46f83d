"""Rejection sampling, resumable per chunk of problems: sample, judge, keep, write, report.

Layout of `out_dir`: `samples/<generation hash>/<source #>-<first row>.jsonl` (the teacher's responses, one
predictions file per chunk of `batch_size` problems, with a `.done.json` marker once complete),
`train.parquet` (the cold-start rows), `report.md` / `report.json`, and `distill.summary.json` (written
last). A rerun skips complete chunks and finishes a partial one; changing only the filters or the keep
policy re-judges the saved responses without sampling again.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evaluation.backends import GenSettings
from evaluation.generate import generate_predictions, read_predictions
from recipes.atomic import atomic_write_json, atomic_write_text
from recipes.data.errors import BadRowError, RowReject
from recipes.data.images import image_bytes
from recipes.data.reader import (
    REQUIRED_COLUMNS,
    DatasetSplit,
    check_columns,
    count_rows,
    data_files,
    iter_raw_batches,
)
from recipes.data.rows import RowSettings, prepare_row
from recipes.hashing import stable_hash
from SFT.distill.config import BACKENDS, KEEP_POLICIES
from SFT.distill.judge import Filters, choose, gold_answer, judge
from SFT.distill.report import ProblemResult, SampleResult, build_report, markdown
from SFT.distill.sampling import Problem, backend_factory, items_for, sample_of
from SFT.distill.templates import get_template, question_text

log = logging.getLogger(__name__)

OUTPUT = "train.parquet"


@dataclass(frozen=True)
class SourceRef:
    """One input split: what the user named, its local path, the split."""

    ref: str
    path: str
    split: str

    @property
    def label(self) -> str:
        return f"{self.ref}@{self.split}"


def parse_source(entry: str) -> tuple[str, str]:
    """`ref[@split]` -> (ref, split); the split defaults to `train`."""
    ref, sep, split = entry.rpartition("@")
    return (ref, split) if sep and ref and split else (entry, "train")


@dataclass
class Kept:
    """The kept responses of one problem, with what its output rows repeat."""

    problem: str
    gold: str
    responses: list[tuple[int, str]]
    """(sample index, response text)."""


def _problems(src: SourceRef, start: int, rows: list[dict], s: RowSettings
              ) -> tuple[list[Problem], list[dict[str, Any]]]:
    """Check each raw row (recipes.data.rows.prepare_row); a bad row raises (on_bad_row=error) or is listed."""
    good, bad = [], []
    for i, row in enumerate(rows):
        try:
            p = prepare_row(row, s)
        except RowReject as err:
            if s.on_bad_row == "error":
                raise BadRowError(src.ref, src.split, start + i, err.column, err.reason) from None
            bad.append({"source": src.label, "row": start + i, "column": err.column, "reason": err.reason})
            continue
        good.append(Problem(src.label, start + i, p.problem, gold_answer(p.answer), [im.data for im in p.images]))
    return good, bad


def distill(c: Any, sources: list[SourceRef], teacher: str, teacher_path: str, out_dir: str | Path, *,
            system_prompt: str, max_pixels: int, min_pixels: int, on_bad_row: str = "error",
            engines: int = 1, ray_address: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Run the distillation described by `c` (a DistillConfig or its DictConfig) into `out_dir`.

    `engines` > 1 with backend vllm, or backend ray, runs Ray Data on `ray_address` (null: RAY_ADDRESS, else
    a local Ray started here)."""
    if c.keep not in KEEP_POLICIES:
        raise ValueError(f"distill.keep must be one of {', '.join(KEEP_POLICIES)}, got {c.keep!r}")
    if c.backend not in BACKENDS:
        raise ValueError(f"distill.backend must be one of {', '.join(BACKENDS)}, got {c.backend!r}")
    if c.k < 1 or c.max_per_problem < 1 or c.batch_size < 1:
        raise ValueError(f"distill.k, max_per_problem and batch_size must be >= 1 (got {c.k}, "
                         f"{c.max_per_problem}, {c.batch_size})")
    t0 = time.monotonic()
    out_dir = Path(out_dir).resolve()
    template = get_template(str(c.template))
    gen = GenSettings(model=teacher, system_prompt=system_prompt, user_suffix=template.user_suffix,
                      temperature=float(c.temperature), top_p=float(c.top_p), max_new_tokens=int(c.max_new_tokens),
                      seed=int(c.seed), max_pixels=max_pixels, min_pixels=min_pixels)
    gen_key = {"gen": asdict(gen), "template": asdict(template), "k": int(c.k), "chunk": int(c.batch_size)}
    filters = Filters(bool(c.require_single_box), bool(c.drop_truncated), c.min_tokens, c.max_tokens)
    settings = {**gen_key, "filters": asdict(filters), "keep": c.keep, "max_per_problem": int(c.max_per_problem),
                "sources": [s.label for s in sources], "max_problems": c.max_problems, "on_bad_row": on_bad_row}
    summary_path = out_dir / "distill.summary.json"
    if summary_path.is_file() and (out_dir / OUTPUT).is_file():
        old = json.loads(summary_path.read_text(encoding="utf-8"))
        if old.get("settings_hash") == stable_hash(settings, 12):
            log.info("%s: already distilled with the same settings; nothing to do", out_dir)
            return old
    samples_dir = out_dir / "samples" / stable_hash(gen_key, 12)
    samples_dir.mkdir(parents=True, exist_ok=True)
    row_settings = RowSettings(system_prompt=system_prompt, max_pixels=max_pixels, min_pixels=min_pixels,
                               max_prompt_length=None, model_path=None, on_bad_row=on_bad_row)
    vllm_kwargs = {"tensor_parallel_size": int(c.tensor_parallel_size),
                   "gpu_memory_utilization": float(c.gpu_memory_utilization), "max_model_len": int(c.max_model_len),
                   "max_images": int(c.max_images)}
    use_ray = c.backend == "ray" or (c.backend == "vllm" and engines > 1)
    # On Ray each actor resolves `auto` on its own GPUs (vLLM there, HF on a CPU-only cluster).
    factory = backend_factory("auto" if use_ray else str(c.backend), gen, teacher_path, **vllm_kwargs)

    def sample(items: list, path: Path) -> dict[str, Any]:
        """Generate the chunk's items not yet in `path` (evaluation.generate, or Ray Data)."""
        if use_ray:
            from evaluation.ray_generate import ray_generate

            return ray_generate(items, factory, "auto", gen, path, engines=engines,
                                gpus_per_engine=_gpus_per_engine(c), batch_size=max(1, len(items)),
                                address=ray_address)
        return generate_predictions(items, factory, gen, path, batch_size=max(1, len(items)))

    plan = []
    for si, src in enumerate(sources):
        files = data_files(DatasetSplit(src.ref, src.path, src.split))
        check_columns(DatasetSplit(src.ref, src.path, src.split), files)
        total = count_rows(files)
        plan.append((si, src, files, total if c.max_problems is None else min(total, int(c.max_problems))))
    bar = _bar(progress, sum(p[3] for p in plan))
    results: list[ProblemResult] = []
    bad_rows: dict[str, int] = {}
    bad_list: list[dict[str, Any]] = []
    kept_text: dict[str, Kept] = {}
    stats = {"generated": 0, "seconds": 0.0, "backend": None}
    try:
        for si, src, files, stop in plan:
            for start, rows in iter_raw_batches(files, REQUIRED_COLUMNS, int(c.batch_size), 0, stop):
                path = samples_dir / f"{si:02d}-{start:09d}.jsonl"
                marker = path.with_suffix(".done.json")
                if marker.is_file():
                    bad = json.loads(marker.read_text(encoding="utf-8"))["bad_rows"]
                else:
                    problems, bad = _problems(src, start, rows, row_settings)
                    items = [it for p in problems for it in items_for(p, question_text(p.problem), int(c.k))]
                    s = sample(items, path)
                    stats["generated"] += s["generated"]
                    stats["seconds"] += s["seconds"]
                    stats["backend"] = s["backend"] or stats["backend"]
                    atomic_write_json(marker, {"problems": len(problems), "bad_rows": bad})
                bad_rows[src.label] = bad_rows.get(src.label, 0) + len(bad)
                bad_list += bad
                results += _judge_chunk(path, c, filters, kept_text)
                if bar is not None:
                    bar.update(len(rows))
                    _postfix(bar, results)
    finally:
        if bar is not None:
            bar.close()

    out_rows = _write_output(plan, int(c.batch_size), kept_text, out_dir / OUTPUT)
    meta = {"teacher": teacher, "backend": stats["backend"], "generated": stats["generated"],
            "generation_seconds": round(stats["seconds"], 1),
            "responses_per_s": round(stats["generated"] / stats["seconds"], 3) if stats["seconds"] else None,
            "rows": out_rows, "output": str(out_dir / OUTPUT), "seconds": round(time.monotonic() - t0, 1),
            "settings": {"template": template.name, "k": int(c.k), "temperature": gen.temperature,
                         "top_p": gen.top_p, "max_new_tokens": gen.max_new_tokens, "keep": c.keep,
                         "max_per_problem": int(c.max_per_problem), **asdict(filters)}}
    report = build_report(results, int(c.k), bad_rows, [s.label for s in sources], meta)
    if bad_list:  # on_bad_row=skip: the rows left out, with where and why
        atomic_write_text(out_dir / "bad_rows.jsonl",
                          "".join(json.dumps(b, ensure_ascii=False) + "\n" for b in bad_list))
    atomic_write_json(out_dir / "report.json", report)
    atomic_write_text(out_dir / "report.md", markdown(report))
    summary = {"output": str(out_dir / OUTPUT), "rows": out_rows, "report": str(out_dir / "report.md"),
               "problems": report["overall"]["problems_in"], "acceptance_rate": report["overall"]["acceptance_rate"],
               "problems_with_kept": report["overall"]["problems_with_kept"], "settings_hash": stable_hash(settings, 12),
               "settings": settings}
    atomic_write_json(summary_path, summary)
    return summary


def _gpus_per_engine(c: Any) -> int:
    import torch

    return int(c.tensor_parallel_size) if torch.cuda.is_available() else 0


def _judge_chunk(path: Path, c: Any, filters: Filters, kept_text: dict[str, Kept]) -> list[ProblemResult]:
    """Judge one chunk's responses; record the kept ones (by problem key) in `kept_text`."""
    by_problem: dict[str, list[dict[str, Any]]] = {}
    for r in read_predictions(path):
        by_problem.setdefault(sample_of(r["id"])[0], []).append(r)
    out = []
    for key, rows in by_problem.items():
        rows.sort(key=lambda r: r["meta"]["sample"])
        res = ProblemResult(rows[0]["meta"]["source"], int(rows[0]["meta"]["row"]))
        for r in rows:
            text = r["response"]
            tokens = int(r["completion_tokens"])
            j = judge(text, r["gold"], r["meta"]["problem"], tokens, r["finish_reason"] == "length", filters)
            res.samples.append(SampleResult(int(r["meta"]["sample"]), tokens, j.reason))
        ok, seen = [], set()  # an accepted response repeated word for word can be kept once
        for s, r in zip(res.samples, rows):
            if s.reason == "ok" and r["response"] not in seen:
                seen.add(r["response"])
                ok.append(s)
        for i in choose([s.tokens for s in ok], c.keep, int(c.max_per_problem), f"{c.seed}/{key}"):
            ok[i].kept = True
        kept = [(s.sample, r["response"]) for s, r in zip(res.samples, rows) if s.kept]
        if kept:
            kept_text[key] = Kept(rows[0]["meta"]["problem"], rows[0]["gold"], kept)
        out.append(res)
    return out


def _write_output(plan: list, batch_size: int, kept: dict[str, Kept], target: Path) -> int:
    """Write the kept responses as cold-start rows (images from the source, re-read) into `target`, atomically."""
    from datasets import Features, Image, List, Value

    features = Features({"images": List(Image()), "problem": Value("string"), "answer": Value("string"),
                         "gold": Value("string"), "source": Value("string"), "source_row": Value("int64"),
                         "sample": Value("int64")})
    schema = features.arrow_schema
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        n = _write_rows(plan, batch_size, kept, tmp, schema)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    return n


def _write_rows(plan: list, batch_size: int, kept: dict[str, Kept], tmp: Path, schema: Any) -> int:
    """One row per kept response, in source order; an empty set still gets its schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        for _, src, files, stop in plan:
            for start, rows in iter_raw_batches(files, REQUIRED_COLUMNS, batch_size, 0, stop):
                out = []
                for i, row in enumerate(rows):
                    k = kept.get(f"{src.label}/{start + i}")
                    if k is None:
                        continue
                    cells = row["images"] if isinstance(row["images"], list) else [row["images"]]
                    images = [{"bytes": image_bytes(cell), "path": None} for cell in cells or []]
                    out += [{"images": images, "problem": k.problem, "answer": text, "gold": k.gold,
                             "source": src.label, "source_row": start + i, "sample": sample}
                            for sample, text in k.responses]
                if out:
                    writer.write_table(pa.Table.from_pylist(out, schema=schema))
                    n += len(out)
        if n == 0:
            writer.write_table(schema.empty_table())
    return n


def _bar(progress: bool, total: int) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="problems", desc="distill", dynamic_ncols=True, smoothing=0.1)


def _postfix(bar: Any, results: list[ProblemResult]) -> None:
    samples = [s for r in results for s in r.samples]
    acc = sum(s.reason == "ok" for s in samples) / len(samples) if samples else 0.0
    bar.set_postfix(accept=f"{100 * acc:.1f}%", kept=sum(s.kept for s in samples), refresh=False)
