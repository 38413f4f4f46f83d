"""Generation behind one interface: vLLM on GPUs, transformers `generate` as the CPU fallback.

Predictions are appended to `predictions.jsonl` (flushed and fsynced after every batch); a rerun skips
the items already there, so an interrupted evaluation resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from evaluation.bench_data import Item

log = logging.getLogger(__name__)


class GenerationError(RuntimeError):
    """Generation cannot start or its predictions file does not fit this run."""


@dataclass(frozen=True)
class GenSettings:
    """What determines a prediction besides the item (recorded on every predictions row)."""

    model: str
    system_prompt: str
    user_suffix: str = ""
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 2048
    seed: int = 0
    max_pixels: int | None = None
    min_pixels: int | None = None


def build_messages(item: Item, system_prompt: str, user_suffix: str = "") -> list[dict[str, Any]]:
    """Chat messages: the system prompt, then the item's image(s) and `question + user_suffix`."""
    content: list[dict[str, Any]] = [{"type": "image"} for _ in item.images]
    content.append({"type": "text", "text": item.question + user_suffix})
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": content}]


def render_prompt(processor: Any, item: Item, settings: GenSettings) -> str:
    """The prompt text through the model's own chat template, ending with the assistant turn opener."""
    return processor.apply_chat_template(
        build_messages(item, settings.system_prompt, settings.user_suffix), tokenize=False,
        add_generation_prompt=True,
    )


@dataclass(frozen=True)
class Generation:
    """One response and how it ended."""

    text: str
    finish_reason: str
    """`stop` (end of sequence) or `length` (cut off at max_new_tokens); vLLM's own value otherwise."""
    prompt_tokens: int
    completion_tokens: int


class Backend(Protocol):
    name: str

    def generate(self, items: Sequence[Item]) -> list[Generation]:
        """One generation per item, in order."""


def _pixel_kwargs(s: GenSettings) -> dict[str, int]:
    out = {}
    if s.min_pixels is not None:
        out["min_pixels"] = s.min_pixels
    if s.max_pixels is not None:
        out["max_pixels"] = s.max_pixels
    return out


def _hf_finish(tokens: list[int], stop_ids: set[int], pad_id: int | None) -> tuple[str, int]:
    """(finish reason, completion tokens) of one row of `generate`'s new tokens (right-padded after a stop)."""
    for i, t in enumerate(tokens):
        if t in stop_ids:
            return "stop", i + 1
    n = len(tokens)
    while n and pad_id is not None and tokens[n - 1] == pad_id and pad_id not in stop_ids:
        n -= 1
    return "length", n


class HFBackend:
    """transformers `generate`, batched with left padding (CPU fallback; also works on one GPU)."""

    name = "hf"

    def __init__(self, settings: GenSettings, model_path: str, device: str | None = None):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.settings = settings
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.processor = AutoProcessor.from_pretrained(model_path, **_pixel_kwargs(settings))
        self.processor.tokenizer.padding_side = "left"
        dtype = "auto" if self.device != "cpu" else torch.float32
        self.model = AutoModelForImageTextToText.from_pretrained(model_path, dtype=dtype).to(self.device).eval()
        self._torch = torch
        eos = self.model.generation_config.eos_token_id
        self._stop_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self._pad_id = self.processor.tokenizer.pad_token_id

    def generate(self, items: Sequence[Item]) -> list[str]:
        torch = self._torch
        s = self.settings
        texts = [render_prompt(self.processor, it, s) for it in items]
        images = [img for it in items for img in it.pil_images()]
        inputs = self.processor(text=texts, images=images or None, return_tensors="pt", padding=True)
        inputs = inputs.to(self.device)
        # Every sampling knob is set, so the model's generation_config.json does not leak in (Qwen2.5-VL
        # ships top_k 1, top_p 0.001, repetition_penalty 1.05: near-greedy at any temperature, and a
        # penalty even when greedy). vLLM, given explicit SamplingParams, applies none of them either.
        kwargs: dict[str, Any] = {"max_new_tokens": s.max_new_tokens, "repetition_penalty": 1.0}
        if s.temperature > 0:
            torch.manual_seed(s.seed)
            kwargs.update(do_sample=True, temperature=s.temperature, top_p=s.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **kwargs)
        new = out[:, inputs["input_ids"].shape[1]:]
        texts = self.processor.batch_decode(new, skip_special_tokens=True)
        prompt_lens = inputs["attention_mask"].sum(dim=1).tolist()
        out_rows = []
        for text, row, n in zip(texts, new, prompt_lens):
            reason, n_new = _hf_finish(row.tolist(), self._stop_ids, self._pad_id)
            out_rows.append(Generation(text, reason, int(n), n_new))
        return out_rows


class VLLMBackend:
    """vLLM offline inference (GPU): continuous batching, tensor parallel, images via multi_modal_data."""

    name = "vllm"

    def __init__(self, settings: GenSettings, model_path: str, tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, max_model_len: int = 8192, max_images: int = 1):
        try:
            from vllm import LLM, SamplingParams
        except ImportError as err:
            raise GenerationError(
                "backend 'vllm' needs the vllm package (install the `gpu` extra: pip install -e '.[gpu]'), "
                "or use backend=hf"
            ) from err
        from transformers import AutoProcessor

        self.settings = settings
        self.processor = AutoProcessor.from_pretrained(model_path, **_pixel_kwargs(settings))
        self.llm = LLM(
            model=model_path, tensor_parallel_size=tensor_parallel_size, seed=settings.seed,
            gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
            limit_mm_per_prompt={"image": max_images}, mm_processor_kwargs=_pixel_kwargs(settings) or None,
        )
        self.params = SamplingParams(
            temperature=settings.temperature, top_p=settings.top_p if settings.temperature > 0 else 1.0,
            max_tokens=settings.max_new_tokens, seed=settings.seed,
        )

    def generate(self, items: Sequence[Item]) -> list[str]:
        s = self.settings
        requests = []
        for it in items:
            req: dict[str, Any] = {"prompt": render_prompt(self.processor, it, s)}
            if it.images:
                imgs = it.pil_images()
                req["multi_modal_data"] = {"image": imgs if len(imgs) > 1 else imgs[0]}
            requests.append(req)
        outputs = self.llm.generate(requests, self.params, use_tqdm=False)
        return [Generation(o.outputs[0].text, str(o.outputs[0].finish_reason or "stop"), len(o.prompt_token_ids or ()),
                           len(o.outputs[0].token_ids)) for o in outputs]


def vllm_available() -> bool:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def make_backend(kind: str, settings: GenSettings, model_path: str, **vllm_kwargs: Any) -> Backend:
    """`vllm`, `hf`, or `auto` (vllm when importable and a GPU is visible, else hf)."""
    if kind == "auto":
        kind = "vllm" if vllm_available() else "hf"
        log.info("backend auto -> %s", kind)
    if kind == "vllm":
        return VLLMBackend(settings, model_path, **vllm_kwargs)
    if kind == "hf":
        return HFBackend(settings, model_path)
    raise GenerationError(f"unknown backend {kind!r}; use auto, vllm or hf")


# -- the resumable predictions file --------------------------------------------------------------------

def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Rows of a predictions file. A torn last line (a crash mid-write) is ignored; other bad lines raise."""
    if not path.exists():
        return []
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            if n == len(lines):
                log.warning("%s: ignoring a torn last line %d (interrupted write)", path, n)
                break
            raise GenerationError(f"{path} line {n}: not JSON ({err})") from err
    return rows


def _settings_of(row: dict[str, Any]) -> dict[str, Any]:
    return row.get("settings", {})


def _truncate_torn_tail(path: Path) -> None:
    """Cut a partial last line so appended rows start on a fresh line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        with open(path, "r+b") as f:
            f.truncate(keep)


def _check_settings(rows: list[dict[str, Any]], want: dict[str, Any], path: Path) -> None:
    for row in rows:
        if _settings_of(row) != want:
            raise GenerationError(
                f"{path} holds predictions made with other settings ({_settings_of(row)}), not {want}; "
                "use another output directory (or move that file aside)"
            )


def prediction_row(item: Item, gen: Generation, backend: str, settings: dict[str, Any], secs: float) -> dict[str, Any]:
    return {**item.record(), "response": gen.text, "finish_reason": gen.finish_reason,
            "prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens, "backend": backend,
            "settings": settings, "gen_seconds": round(secs, 4)}


def _append_generations(todo: Sequence[Item], backend: Backend, settings: GenSettings, path: Path,
                        batch_size: int) -> int:
    """Generate `todo` batch by batch, appending (flushed, fsynced) rows to `path`; returns the count."""
    want = asdict(settings)
    if path.exists():
        _truncate_torn_tail(path)
    done = 0
    with open(path, "a", encoding="utf-8") as f:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            b0 = time.monotonic()
            gens = backend.generate(batch)
            if len(gens) != len(batch):
                raise GenerationError(f"backend {backend.name} returned {len(gens)} responses for {len(batch)}")
            secs = (time.monotonic() - b0) / len(batch)
            for it, gen in zip(batch, gens):
                f.write(json.dumps(prediction_row(it, gen, backend.name, want, secs), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
            done += len(batch)
            log.info("%s: generated %d/%d", path.name, done, len(todo))
    return done


def _stats(items: Sequence[Item], todo: Sequence[Item], engines: int) -> dict[str, Any]:
    return {"total": len(items), "skipped": len(items) - len(todo), "generated": 0, "seconds": 0.0,
            "items_per_s": None, "backend": None, "engines": engines}


def _finish_stats(stats: dict[str, Any], t0: float) -> dict[str, Any]:
    stats["seconds"] = round(time.monotonic() - t0, 3)
    stats["items_per_s"] = round(stats["generated"] / max(stats["seconds"], 1e-9), 3)
    return stats


def generate_predictions(items: Sequence[Item], backend_factory: Callable[[], Backend], settings: GenSettings,
                         path: Path, batch_size: int) -> dict[str, Any]:
    """Generate in this process for every item not yet in `path`, appending one row per item after each batch.

    The backend is built only when something is left to do. Returns counts and throughput.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = read_predictions(path)
    _check_settings(existing, asdict(settings), path)
    done = {row["id"] for row in existing}
    todo = [it for it in items if it.id not in done]
    stats = _stats(items, todo, 1)
    if not todo:
        log.info("all %d items already in %s", len(items), path)
        return stats
    backend = backend_factory()
    stats["backend"] = backend.name
    log.info("generating %d items (%d already done) with %s", len(todo), stats["skipped"], backend.name)
    t0 = time.monotonic()
    stats["generated"] = _append_generations(todo, backend, settings, path, batch_size)
    return _finish_stats(stats, t0)


# -- several engines: one process per GPU group, each appending to its own part file ---------------------

@dataclass(frozen=True)
class EngineSpec:
    """What an engine process needs to build its backend (picklable)."""

    backend: str
    model_path: str
    vllm_kwargs: dict[str, Any]


def visible_gpus() -> list[str]:
    """Device ids this process may use: `CUDA_VISIBLE_DEVICES`, else every GPU torch sees (none on a CPU)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


def engine_count(requested: int | None, tensor_parallel_size: int, n_gpus: int) -> int:
    """`requested`, else one engine per `tensor_parallel_size` GPUs (at least 1)."""
    if requested is not None:
        if requested < 1:
            raise GenerationError(f"eval.engines must be >= 1, got {requested}")
        return requested
    return max(1, n_gpus // max(1, tensor_parallel_size))


def gpu_groups(n_engines: int, tensor_parallel_size: int, gpus: Sequence[str]) -> list[list[str]]:
    """The GPUs of each engine (disjoint, `tensor_parallel_size` each); empty lists without GPUs."""
    if not gpus:
        return [[] for _ in range(n_engines)]
    need = n_engines * tensor_parallel_size
    if need > len(gpus):
        raise GenerationError(f"{n_engines} engine(s) x tensor_parallel_size {tensor_parallel_size} need {need} "
                              f"GPUs; {len(gpus)} visible ({','.join(gpus)})")
    return [list(gpus[k * tensor_parallel_size:(k + 1) * tensor_parallel_size]) for k in range(n_engines)]


def part_path(path: Path, k: int) -> Path:
    """Engine `k`'s predictions file beside `path` (merged into `path` when every engine is done)."""
    return path.with_name(f"{path.name}.engine{k}")


def _parts(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.engine*"))


def _engine_main(k: int, items: list[Item], spec: EngineSpec, settings: GenSettings, out: str, batch_size: int,
                 devices: list[str]) -> None:
    """Entry point of engine process `k` (spawned: nothing of the parent's CUDA state is inherited)."""
    if devices:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s engine{k} %(levelname)s %(name)s: %(message)s")
    backend = make_backend(spec.backend, settings, spec.model_path, **spec.vllm_kwargs)
    _append_generations(items, backend, settings, Path(out), batch_size)


def merge_parts(items: Sequence[Item], path: Path) -> int:
    """Fold the engines' part files into `path` (atomically, in item order), then remove them; returns rows."""
    from recipes.atomic import atomic_write_text

    rows: dict[str, dict[str, Any]] = {}
    for p in [path, *_parts(path)]:
        for row in read_predictions(p):
            rows.setdefault(row["id"], row)
    order = {it.id: i for i, it in enumerate(items)}
    ordered = sorted(rows.values(), key=lambda r: order.get(r["id"], len(order)))
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered))
    for p in _parts(path):
        p.unlink()
    return len(ordered)


def generate_sharded(items: Sequence[Item], spec: EngineSpec, settings: GenSettings, path: Path, batch_size: int,
                     groups: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Generate with one spawned process per entry of `groups` (its GPUs), items dealt round-robin.

    Every engine appends to its own part file, so an interrupted run resumes per item (rows already in
    `path` or any part are skipped); the parts are merged into `path` only when every engine succeeded.
    """
    import multiprocessing as mp

    path.parent.mkdir(parents=True, exist_ok=True)
    want = asdict(settings)
    done: set[str] = set()
    for p in [path, *_parts(path)]:
        rows = read_predictions(p)
        _check_settings(rows, want, p)
        done |= {r["id"] for r in rows}
    todo = [it for it in items if it.id not in done]
    stats = _stats(items, todo, len(groups))
    if todo:
        stats["backend"] = spec.backend
        ctx = mp.get_context("spawn")
        t0 = time.monotonic()
        procs = []
        for k, devices in enumerate(groups):
            share = todo[k::len(groups)]
            if not share:
                continue
            log.info("engine %d: %d items on GPUs [%s]", k, len(share), ",".join(devices) or "cpu")
            proc = ctx.Process(target=_engine_main, name=f"eval-engine{k}",
                               args=(k, share, spec, settings, str(part_path(path, k)), batch_size, list(devices)))
            proc.start()
            procs.append((k, proc))
        failed = []
        try:
            for k, proc in procs:
                proc.join()
                if proc.exitcode != 0:
                    failed.append(f"engine {k} exited with {proc.exitcode}")
        finally:
            for _, proc in procs:  # interrupted: stop the engines, keep their parts for the rerun
                if proc.is_alive():
                    proc.terminate()
                    proc.join(30)
        stats["generated"] = len(todo)
        if failed:
            raise GenerationError(f"{'; '.join(failed)} (see its log above); rows written so far are kept in "
                                  f"{path.name}.engine*, a rerun generates only what is missing")
        _finish_stats(stats, t0)
    if _parts(path):
        merge_parts(items, path)
    return stats
