"""SFT converter vs the reference converter's approach, measured in the same run: rows/s and peak RSS.

The reference (RL-with-Cold-Start) loads the whole split with `datasets.load_dataset`, saves `images[0]`
of each row as an RGB JPEG one by one, builds one Python list and dumps one JSON. Ours streams parquet
batches through 2 worker processes, keeps every image, validates each row (decode, placeholders, pixel and
token limits) and writes JSON-lines chunks. Each side runs in its own subprocess; peak RSS is the peak
of the sum over that process tree (sampled every 50 ms).

    .venv/bin/python benchmarks/converters.py --sizes 5000 20000 --workdir /tmp/rlcs-bench
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_dataset(path: Path, n: int, seed: int = 0) -> None:
    """A synthetic cold-start-like parquet (images list, problem, answer) with HF Image features."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Features, Image, List, Value
    from PIL import Image as PILImage
    from PIL import ImageDraw

    rng = random.Random(seed)
    pool = []
    for k in range(64):
        im = PILImage.new("RGB", (448, 336), "white")
        d = ImageDraw.Draw(im)
        for _ in range(12):
            x, y = rng.randrange(400), rng.randrange(300)
            d.ellipse((x, y, x + rng.randrange(10, 60), y + rng.randrange(10, 60)),
                      outline=(rng.randrange(256), 0, 0), width=2)
            d.line((rng.randrange(448), rng.randrange(336), rng.randrange(448), rng.randrange(336)), fill=(0, 0, 255))
        if k % 8 == 7:
            im = im.convert("RGBA")
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        pool.append(buf.getvalue())
    features = Features({"images": List(Image()), "problem": Value("string"), "answer": Value("string")})
    schema = pa.schema([("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
                        ("problem", pa.string()), ("answer", pa.string())],
                       metadata={"huggingface": json.dumps({"info": {"features": features.to_dict()}})})
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema) as w:
        for start in range(0, n, 1000):
            rows = []
            for i in range(start, min(n, start + 1000)):
                k = 2 if i % 7 == 0 else 1
                imgs = [{"bytes": pool[(i + j) % len(pool)], "path": None} for j in range(k)]
                steps = " ".join(f"Step {s}: we compute {rng.randrange(1000)} + {rng.randrange(1000)}." for s in range(40))
                rows.append({"images": imgs, "problem": "<image>" * k + f"Question {i}: how many circles?",
                             "answer": f"{steps} Therefore the answer is \\boxed{{{i % 13}}}."})
            w.write_table(pa.Table.from_pylist(rows, schema=schema))


def run_reference(src: Path, out: Path) -> int:
    """The reference converter's approach (one process, whole split, images[0] only, one JSON list)."""
    from datasets import load_dataset

    ds = load_dataset("parquet", data_files=str(src), split="train", cache_dir=str(out / "hf_cache"))
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    data = []
    for i, row in enumerate(ds):
        p = img_dir / f"{i}.jpg"
        row["images"][0].convert("RGB").save(p)
        data.append({"query": row["problem"], "response": row["answer"], "images": [str(p)]})
    with open(out / "train.json", "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
    return len(data)


def run_ours(src: Path, out: Path, model: str | None, workers: int) -> int:
    from recipes.pipeline.config import DataConfig
    from SFT.sft_rows import convert_sft, sft_settings

    settings = sft_settings(DataConfig(), model, max_pixels=1204224, max_prompt_length=2048, num_workers=workers)
    s = convert_sft("bench", str(src), "train", out, settings, progress=False, batch_size=64)
    return s["rows"]


def measure(argv: list[str]) -> tuple[float, float]:
    """Run `argv` in a subprocess; return (seconds, peak RSS of its process tree in MiB)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            total = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
            peak = max(peak, total)
        except psutil.Error:
            pass
        time.sleep(0.05)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed with {proc.returncode}")
    return time.perf_counter() - t0, peak / 2**20


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/rlcs-bench"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--model", default="tiny", help="model dir for the token check; 'tiny' = the tiny world's, "
                   "'none' = no token check")
    p.add_argument("--_side", choices=("reference", "ours"), help=argparse.SUPPRESS)
    p.add_argument("--_src", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--_out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    model = None if args.model == "none" else args.model
    if args.model == "tiny":
        from recipes.tiny_world import ensure_tiny_world

        model = str(ensure_tiny_world().model)
    if args._side:  # child process
        n = run_reference(args._src, args._out) if args._side == "reference" else \
            run_ours(args._src, args._out, model, args.workers)
        print(f"[{args._side}] {n} rows", file=sys.stderr)
        return 0

    results = []
    for n in args.sizes:
        src = args.workdir / f"data-{n}.parquet"
        if not src.exists():
            t = time.perf_counter()
            make_dataset(src, n)
            print(f"built {src} ({src.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.0f} s")
        row = {"rows": n}
        for side in ("reference", "ours"):
            out = args.workdir / f"out-{side}-{n}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            secs, rss = measure([sys.executable, __file__, "--_side", side, "--_src", str(src), "--_out", str(out),
                                 "--workers", str(args.workers), "--model", model or "none"])
            row[side] = {"seconds": round(secs, 1), "rows_per_s": round(n / secs, 1), "peak_rss_mib": round(rss)}
            shutil.rmtree(out, ignore_errors=True)
        results.append(row)
    print(f"\nSFT converter, {args.workers} workers, cpu_count={os.cpu_count()}, token check: {model is not None}")
    print(f"{'rows':>7} | {'reference rows/s':>16} {'RSS MiB':>8} | {'ours rows/s':>11} {'RSS MiB':>8} | "
          f"{'speed x':>7} {'RSS ratio':>9}")
    for r in results:
        ref, ours = r["reference"], r["ours"]
        print(f"{r['rows']:>7} | {ref['rows_per_s']:>16} {ref['peak_rss_mib']:>8} | {ours['rows_per_s']:>11} "
              f"{ours['peak_rss_mib']:>8} | {ours['rows_per_s'] / ref['rows_per_s']:>7.2f} "
              f"{ref['peak_rss_mib'] / ours['peak_rss_mib']:>9.2f}")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        print(f"RSS growth {a['rows']} -> {b['rows']} rows: reference "
              f"{b['reference']['peak_rss_mib'] - a['reference']['peak_rss_mib']:+} MiB, ours "
              f"{b['ours']['peak_rss_mib'] - a['ours']['peak_rss_mib']:+} MiB")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
