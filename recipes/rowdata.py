"""The machinery both data converters share: read, validate, convert and write rows, streaming.

A conversion reads a dataset split (a local dir or parquet files; hub ids are resolved before) in
batches of raw rows (image bytes are never decoded in the reader), hands each batch to a pool of
worker processes that validate and convert it (`RowFn`, the format-specific part), and writes the
results in order as numbered chunk files with a progress state. A rerun after an interruption resumes
after the last complete chunk; the finished output appears through atomic renames with a summary
(written last) that records the settings hash. Memory stays bounded: at most a few batches are in
flight at any time.

Every bad row raises `BadRowError` naming the dataset, split, row index and column. With
`on_bad_row="skip"` rejected rows go to `<name>.rejects.jsonl` with the reason instead.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import multiprocessing as mp
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from recipes.atomic import OutputExistsError, atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

IMAGE_TAG = "<image>"
REQUIRED_COLUMNS = ("images", "problem", "answer")
QWEN_MIN_PIXELS = 4 * 28 * 28
"""qwen_vl_utils' default image floor (IMAGE_MIN_TOKEN_NUM 4 x 28 x 28), what ms-swift uses without MIN_PIXELS."""
MAX_ASPECT_RATIO = 200
"""qwen_vl_utils' smart_resize raises beyond this aspect ratio."""
CONVERTER_VERSION = 1
"""Bump when the output format changes: it is part of the settings hash."""


class BadRowError(ValueError):
    """A row that the trainer would fail on (or silently mis-train on); the message says where and why."""

    def __init__(self, dataset: str, split: str, index: int | None, column: str | None, reason: str):
        self.dataset, self.split, self.index, self.column, self.reason = dataset, split, index, column, reason
        where = f"dataset {dataset!r} split {split!r}"
        if index is not None:
            where += f" row {index}"
        if column is not None:
            where += f" column {column!r}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # picklable across the worker pool
        return (BadRowError, (self.dataset, self.split, self.index, self.column, self.reason))


class RowReject(ValueError):
    """Raised by a row function: the row is bad for `reason` in `column` (the engine adds the location)."""

    def __init__(self, column: str | None, reason: str):
        self.column, self.reason = column, reason
        super().__init__(reason)

    def __reduce__(self):
        return (RowReject, (self.column, self.reason))


@dataclass(frozen=True)
class SourceSpec:
    """One dataset split to convert."""

    ref: str
    """What the user named (hub id, path, tiny:<name>): used in messages and as `data_source`."""
    path: str
    """Local directory or parquet file (hub ids resolved already)."""
    split: str


@dataclass(frozen=True)
class RowSettings:
    """Everything a worker needs to convert a row; all of it is part of the settings hash."""

    system_prompt: str
    max_pixels: int
    min_pixels: int
    max_prompt_length: int | None
    model_path: str | None
    """Model dir whose tokenizer / chat template / image processor count prompt tokens; None skips the check."""
    image_dir: str | None = None
    """Where image files go (SFT); None keeps images inline (RL parquet)."""
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------
def data_files(spec: SourceSpec) -> list[str]:
    """The parquet files of `spec`'s split (a parquet file, a dir of an HF-style dataset, a hub snapshot)."""
    path = Path(spec.path)
    if path.is_file():
        return [str(path)]
    if not path.is_dir():
        raise FileNotFoundError(f"dataset {spec.ref!r}: {path} does not exist")
    import datasets

    try:
        builder = datasets.load_dataset_builder(str(path))
        files = builder.config.data_files
    except Exception as err:
        raise FileNotFoundError(f"dataset {spec.ref!r} at {path}: cannot find its data files ({err})") from err
    if spec.split not in (files or {}):
        raise BadRowError(spec.ref, spec.split, None, None,
                          f"no such split in {path} (it has: {', '.join(files or {}) or 'none'})")
    out = [str(f) for f in files[spec.split]]
    bad = [f for f in out if not f.endswith(".parquet")]
    if bad:
        raise BadRowError(spec.ref, spec.split, None, None,
                          f"only parquet data files are supported, found {bad[0]}")
    return out


def count_rows(files: list[str]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def check_columns(spec: SourceSpec, files: list[str], columns: tuple[str, ...] = REQUIRED_COLUMNS) -> None:
    """Every file of the split has `columns`, else BadRowError naming the missing one."""
    import pyarrow.parquet as pq

    for f in files:
        names = pq.ParquetFile(f).schema_arrow.names
        for col in columns:
            if col not in names:
                raise BadRowError(spec.ref, spec.split, None, col,
                                  f"missing column (file {Path(f).name} has: {', '.join(names)})")


def iter_raw_batches(files: list[str], columns: tuple[str, ...], batch_size: int, start: int = 0,
                     stop: int | None = None) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Yield `(index of first row, rows)` for rows `start..stop` of the concatenated files, image bytes raw.

    Whole row groups before `start` are skipped without reading them (resume is cheap).
    """
    import pyarrow.parquet as pq

    offset = 0
    for f in files:
        pf = pq.ParquetFile(f)
        for rg in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(rg).num_rows
            if stop is not None and offset >= stop:
                return
            if offset + n <= start:
                offset += n
                continue
            for batch in pf.iter_batches(batch_size=batch_size, row_groups=[rg], columns=list(columns)):
                lo, hi = offset, offset + batch.num_rows
                offset = hi
                a, b = max(lo, start), hi if stop is None else min(hi, stop)
                if b <= a:
                    continue
                rows = batch.slice(a - lo, b - a).to_pylist()
                yield a, rows


# --------------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------------
@dataclass
class CleanImage:
    """An image ready to write: RGB, encoded, with its size."""

    data: bytes
    ext: str
    width: int
    height: int


_KEEP_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


def image_bytes(value: Any) -> bytes:
    """The encoded bytes of an image cell (`{"bytes", "path"}` dict as datasets stores it, bytes, or a path)."""
    if isinstance(value, dict):
        data = value.get("bytes")
        if data:
            return data
        p = value.get("path")
        if p and Path(p).is_file():
            return Path(p).read_bytes()
        raise RowReject(None, f"image has no bytes and no readable path ({p!r})")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and Path(value).is_file():
        return Path(value).read_bytes()
    raise RowReject(None, f"unsupported image value of type {type(value).__name__}")


def clean_image(data: bytes) -> CleanImage:
    """Check that an image decodes; RGB JPEG/PNG/WebP keep their bytes, anything else (RGBA, P, L, CMYK,
    other formats) becomes RGB PNG (transparency composited on white, as qwen_vl_utils)."""
    from PIL import Image

    if not data:
        raise RowReject(None, "empty image (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, mode, (w, h) = im.format, im.mode, im.size
            if w == 0 or h == 0:
                raise RowReject(None, f"zero-size image ({w}x{h})")
            if mode == "RGB" and fmt in _KEEP_FORMATS:
                _check_decodes(im)
                return CleanImage(data, _KEEP_FORMATS[fmt], w, h)
            im.load()
            rgb = to_rgb(im)
    except RowReject:
        raise
    except Exception as err:
        raise RowReject(None, f"undecodable image ({type(err).__name__}: {err})") from None
    buf = io.BytesIO()
    rgb.save(buf, format="PNG", compress_level=1)
    return CleanImage(buf.getvalue(), "png", w, h)


def _check_decodes(im: Any) -> None:
    """Find a truncated or corrupt file at a fraction of a full decode's cost: PNG checks every chunk's
    CRC up to IEND (no inflate, ~35x cheaper), JPEG is entropy-decoded at 1/8 scale (~2x), others fully."""
    if im.format == "PNG":
        im.verify()
    elif im.format == "JPEG":
        im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
        im.load()
    else:
        im.load()


def to_rgb(im: Any) -> Any:
    """RGB copy of a PIL image; alpha (RGBA, LA, P with transparency) is composited on white."""
    from PIL import Image

    if im.mode == "RGB":
        return im.copy()
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.split()[3])
        return bg
    return im.convert("RGB")


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """The size Qwen2.5-VL's preprocessing gives an image (qwen_vl_utils / transformers `smart_resize`)."""
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise RowReject(None, f"aspect ratio {max(height, width) / min(height, width):.0f} > {MAX_ASPECT_RATIO} "
                              f"({width}x{height}): Qwen2.5-VL's resize rejects it")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


# --------------------------------------------------------------------------------------------------
# prompt tokens
# --------------------------------------------------------------------------------------------------
class PromptCounter:
    """Counts a chat prompt's tokens as Qwen2.5-VL's processor would, image tokens included.

    Torch-free and fast: the model's chat template (jinja), its `tokenizer.json` (tokenizers) and its
    image processor's patch / merge sizes and pixel bounds. tests/test_convert_rl.py checks it against
    the real processor through verl's RLHFDataset.
    """

    IMAGE_PAD = "<|image_pad|>"

    def __init__(self, model_dir: str | Path):
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.template = self._compile(_chat_template(model_dir))
        ip = _image_processor_config(model_dir)
        self.patch = int(ip.get("patch_size", 14))
        self.merge = int(ip.get("merge_size", 2))
        size = ip.get("size") or {}
        self.proc_min = int(ip.get("min_pixels") or size.get("shortest_edge") or 56 * 56)
        self.proc_max = int(ip.get("max_pixels") or size.get("longest_edge") or 28 * 28 * 1280)

    @staticmethod
    def _compile(source: str) -> Any:
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(msg: str) -> None:
            raise ValueError(msg)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        env.filters["tojson"] = lambda x, **kw: json.dumps(x, ensure_ascii=False, **kw)
        env.globals["raise_exception"] = raise_exception
        return env.from_string(source)

    def image_tokens(self, height: int, width: int, min_pixels: int, max_pixels: int) -> tuple[int, tuple[int, int]]:
        """Tokens of one image after the data-level resize and then the processor's own resize."""
        factor = self.patch * self.merge
        h, w = smart_resize(height, width, factor, min_pixels, max_pixels)
        h, w = smart_resize(h, w, factor, self.proc_min, self.proc_max)
        return (h // self.patch) * (w // self.patch) // (self.merge ** 2), (h, w)

    def count(self, system: str, user_text: str, image_tokens: list[int]) -> int:
        """Tokens of [system, user] + generation prompt, `<image>` tags in `user_text` becoming images."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": typed_parts(user_text)}]
        text = self.template.render(messages=messages, add_generation_prompt=True)
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        return len(ids) - len(image_tokens) + sum(image_tokens)


def _chat_template(model_dir: Path) -> str:
    if (model_dir / "chat_template.jinja").is_file():
        return (model_dir / "chat_template.jinja").read_text(encoding="utf-8")
    for name in ("chat_template.json", "processor_config.json", "tokenizer_config.json"):
        p = model_dir / name
        if p.is_file():
            tmpl = json.loads(p.read_text(encoding="utf-8")).get("chat_template")
            if isinstance(tmpl, str):
                return tmpl
    raise FileNotFoundError(f"model {model_dir}: no chat template (chat_template.jinja / .json, tokenizer_config)")


def _image_processor_config(model_dir: Path) -> dict[str, Any]:
    p = model_dir / "preprocessor_config.json"
    if p.is_file():
        return json.loads(p.read_text(encoding="utf-8"))
    p = model_dir / "processor_config.json"
    if p.is_file():
        return json.loads(p.read_text(encoding="utf-8")).get("image_processor", {})
    raise FileNotFoundError(f"model {model_dir}: no preprocessor_config.json or processor_config.json")


# --------------------------------------------------------------------------------------------------
# shared row checks
# --------------------------------------------------------------------------------------------------
def text_cell(row: dict[str, Any], column: str) -> str:
    """A non-empty text cell (numbers become text), else RowReject."""
    value = row.get(column)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise RowReject(column, f"empty {column}" if value is None or isinstance(value, str)
                        else f"{column} is a {type(value).__name__}, expected text")
    return value


def typed_parts(text: str) -> list[dict[str, str]]:
    """`<image>`-tagged text -> the typed content parts chat templates take (`{"type": "image"}`, text)."""
    parts: list[dict[str, str]] = []
    for k, seg in enumerate(text.split(IMAGE_TAG)):
        if k:
            parts.append({"type": "image"})
        if seg:
            parts.append({"type": "text", "text": seg})
    return parts


def with_placeholders(problem: str, n_images: int) -> str:
    """`problem` with exactly one `<image>` per image: its own tags when it has any (the count must
    match), else one tag per image prepended."""
    k = problem.count(IMAGE_TAG)
    if k == 0:
        return IMAGE_TAG * n_images + problem
    if k != n_images:
        raise RowReject("problem", f"{k} {IMAGE_TAG} placeholder(s) in the problem but {n_images} image(s) "
                                   "in 'images'")
    return problem


@dataclass
class PreparedRow:
    """The format-independent result of checking one row."""

    problem: str
    """With one `<image>` tag per image."""
    answer: str
    images: list[CleanImage]
    prompt_tokens: int | None


_COUNTERS: dict[str, PromptCounter] = {}


def counter_for(model_path: str | None) -> PromptCounter | None:
    """One PromptCounter per model per process (loaded on first use in each worker)."""
    if model_path is None:
        return None
    if model_path not in _COUNTERS:
        _COUNTERS[model_path] = PromptCounter(model_path)
    return _COUNTERS[model_path]


def prepare_row(row: dict[str, Any], s: RowSettings) -> PreparedRow:
    """Validate a raw `{images, problem, answer}` row: text present, images decodable, placeholders
    matching, every image within max_pixels after Qwen's resize, prompt within max_prompt_length."""
    problem = text_cell(row, "problem")
    answer = text_cell(row, "answer")
    raw_images = row.get("images")
    if raw_images is None:
        raw_images = []
    if not isinstance(raw_images, list):
        raw_images = [raw_images]
    images = []
    for k, cell in enumerate(raw_images):
        try:
            images.append(clean_image(image_bytes(cell)))
        except RowReject as err:
            raise RowReject("images", f"image {k}: {err.reason}") from None
    problem = with_placeholders(problem, len(images))
    counter = counter_for(s.model_path)
    factor = counter.patch * counter.merge if counter else 28
    tokens = []
    for k, im in enumerate(images):
        try:
            h, w = smart_resize(im.height, im.width, factor, s.min_pixels, s.max_pixels)
            if h * w > s.max_pixels:
                raise RowReject(None, f"{im.width}x{im.height} becomes {w}x{h} = {w * h} pixels after "
                                      f"resizing, above max_pixels {s.max_pixels}")
            if counter:
                tokens.append(counter.image_tokens(im.height, im.width, s.min_pixels, s.max_pixels)[0])
        except RowReject as err:
            raise RowReject("images", f"image {k}: {err.reason}") from None
    n_tokens = None
    if counter:
        n_tokens = counter.count(s.system_prompt, problem, tokens)
        if s.max_prompt_length is not None and n_tokens > s.max_prompt_length:
            raise RowReject("problem", f"prompt is {n_tokens} tokens with its {len(images)} image(s), above "
                                       f"max_prompt_length {s.max_prompt_length}")
    return PreparedRow(problem, answer, images, n_tokens)


# --------------------------------------------------------------------------------------------------
# the engine
# --------------------------------------------------------------------------------------------------
RowFn = Callable[[dict[str, Any], int, SourceSpec, RowSettings], Any]
"""Converts one raw row (with its source index) to an output record, or raises RowReject."""


class ChunkWriter(Protocol):
    """The format-specific output side: chunk files in the work dir, then the final file(s)."""

    def write_chunk(self, path: Path, records: list[Any]) -> None:
        """Write `records` to `path` (a fresh name in the work dir; the engine renames it into place)."""

    def finish(self, chunks: list[Path], target: Path) -> None:
        """Combine the chunk files, in order, into `target` (a temp name; the engine renames it)."""


@dataclass
class Job:
    """One split to convert into `<out_dir>/<name><suffix>`."""

    spec: SourceSpec
    out_dir: Path
    name: str
    suffix: str
    row_fn: RowFn
    writer: ChunkWriter
    settings: RowSettings
    on_bad_row: str = "error"
    num_workers: int = 2
    max_rows: int | None = None
    batch_size: int = 64
    overwrite: bool = False
    progress: bool = True
    clean_dirs: tuple[str, ...] = ()
    """Side directories under out_dir the row function writes into (removed when a run starts over)."""

    @property
    def target(self) -> Path:
        return self.out_dir / f"{self.name}{self.suffix}"

    def settings_record(self) -> dict[str, Any]:
        return {"converter_version": CONVERTER_VERSION, "source": self.spec.ref, "split": self.spec.split,
                "row_fn": f"{self.row_fn.__module__}.{self.row_fn.__qualname__}",
                "on_bad_row": self.on_bad_row, "max_rows": self.max_rows, **asdict(self.settings)}


def settings_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _convert_batch(task: tuple[RowFn, SourceSpec, RowSettings, int, list[dict[str, Any]]]) -> tuple[
        int, int, list[Any], list[dict[str, Any]]]:
    """Worker: convert a batch; return (start, n, records, rejects as {index, column, reason})."""
    row_fn, spec, settings, start, rows = task
    records, rejects = [], []
    for i, row in enumerate(rows):
        try:
            records.append(row_fn(row, start + i, spec, settings))
        except RowReject as err:
            rejects.append({"index": start + i, "column": err.column, "reason": err.reason})
    return start, len(rows), records, rejects


def _fmt_changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(keys) or "unknown"


def run_job(job: Job) -> dict[str, Any]:
    """Convert `job.spec` (resuming a partial run, skipping a finished identical one); return the summary."""
    out_dir, name = job.out_dir, job.name
    summary_path = out_dir / f"{name}.summary.json"
    rejects_path = out_dir / f"{name}.rejects.jsonl"
    record = job.settings_record()
    digest = settings_hash(record)
    if summary_path.is_file():
        old = json.loads(summary_path.read_text(encoding="utf-8"))
        if old.get("settings_hash") == digest and job.target.exists():
            log.info("%s: already converted with the same settings (%s rows); nothing to do", job.target,
                     old.get("rows"))
            return old
        if not job.overwrite:
            raise OutputExistsError(
                f"{job.target} was made with other settings (changed: "
                f"{_fmt_changes(old.get('settings', {}), record)}); refusing to overwrite it: pass overwrite "
                "(--overwrite) or choose another output directory")
        summary_path.unlink()
    work = out_dir / f".{name}.work"
    state_path = work / "state.json"
    state: dict[str, Any] = {}
    if state_path.is_file():
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if state.get("settings_hash") != digest:
            log.warning("%s: partial work made with other settings; starting over", work)
            state = {}
    if not state:
        shutil.rmtree(work, ignore_errors=True)
        for d in job.clean_dirs:
            shutil.rmtree(out_dir / d, ignore_errors=True)
        work.mkdir(parents=True)
        state = {"settings_hash": digest, "next_row": 0, "chunks": [], "rows": 0, "rejected": 0}
        atomic_write_json(state_path, state)
    elif state["next_row"]:
        log.info("%s: resuming at row %d (%d chunks done)", job.target, state["next_row"], len(state["chunks"]))

    files = data_files(job.spec)
    check_columns(job.spec, files)
    total = count_rows(files)
    stop = total if job.max_rows is None else min(total, job.max_rows)
    t0 = time.monotonic()
    done_before = state["next_row"]
    bar = _progress(job, stop, done_before)
    try:
        for start, n, records, rejects in _results(job, files, state["next_row"], stop):
            if rejects and job.on_bad_row == "error":
                r = rejects[0]
                raise BadRowError(job.spec.ref, job.spec.split, r["index"], r["column"], r["reason"])
            cid = len(state["chunks"])
            chunk = work / f"chunk-{cid:06d}"
            tmp = work / f".tmp-{cid:06d}"
            job.writer.write_chunk(tmp, records)
            os.replace(tmp, chunk)
            if rejects:
                atomic_write_text(work / f"rejects-{cid:06d}.jsonl",
                                  "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejects))
            state["chunks"].append(chunk.name)
            state["next_row"] = start + n
            state["rows"] += len(records)
            state["rejected"] += len(rejects)
            atomic_write_json(state_path, state)
            if bar is not None:
                bar.update(n)
                bar.set_postfix(rejected=state["rejected"], refresh=False)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.monotonic() - t0

    # finish: final file, rejects, then the summary (the completion marker), all atomic
    tmp_target = out_dir / f".{name}{job.suffix}.tmp-{os.getpid()}"
    job.writer.finish([work / c for c in state["chunks"]], tmp_target)
    if job.target.exists() and job.overwrite:
        _remove(job.target)
    os.replace(tmp_target, job.target)
    reject_files = sorted(work.glob("rejects-*.jsonl"))
    if reject_files:
        atomic_write_text(rejects_path, "".join(f.read_text(encoding="utf-8") for f in reject_files))
    elif rejects_path.exists():
        rejects_path.unlink()
    converted = stop - done_before
    summary = {
        "dataset": job.spec.ref, "split": job.spec.split, "output": str(job.target),
        "rows": state["rows"], "rejected": state["rejected"],
        "rejects": str(rejects_path) if reject_files else None,
        "source_rows": total, "seconds": round(seconds, 2),
        "rows_per_s": round(converted / seconds, 1) if seconds > 0 else None,
        "resumed_at": done_before or None, "settings_hash": digest, "settings": record,
    }
    atomic_write_json(summary_path, summary)
    shutil.rmtree(work, ignore_errors=True)
    log.info("%s: %d rows written, %d rejected%s", job.target, state["rows"], state["rejected"],
             f" (see {rejects_path})" if reject_files else "")
    return summary


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def _progress(job: Job, total: int, initial: int) -> Any:
    if not job.progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="rows", desc=f"{job.spec.ref} [{job.spec.split}]",
                dynamic_ncols=True, smoothing=0.1)


def _results(job: Job, files: list[str], start: int, stop: int) -> Iterator[tuple[int, int, list, list]]:
    """Converted batches in order; a pool of `num_workers` processes with a bounded number in flight."""
    batches = iter_raw_batches(files, REQUIRED_COLUMNS, job.batch_size, start, stop)
    tasks = ((job.row_fn, job.spec, job.settings, s, rows) for s, rows in batches)
    if job.num_workers <= 1:
        for task in tasks:
            yield _convert_batch(task)
        return
    ctx = mp.get_context("spawn")  # no fork of pyarrow / tokenizers threads
    pool = ctx.Pool(job.num_workers)
    try:
        pending: deque = deque()
        limit = 2 * job.num_workers
        for task in tasks:
            pending.append(pool.apply_async(_convert_batch, (task,)))
            if len(pending) >= limit:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()
