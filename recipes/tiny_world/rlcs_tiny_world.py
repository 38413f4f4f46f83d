"""`rlcs tiny-world`: build (or reuse) the tiny offline world and print where its parts are.

The tiny world is a random, tiny Qwen2.5-VL (real Qwen token ids, locally trained tokenizer, processor), the
same at head size 64 (`model_gpu`), a tiny Qwen3-VL (`qwen3_vl`; recipes/families.py), plus small synthetic datasets shaped like the paper's training sets and benchmarks. It is cached under
<cache_dir>/tiny-v1 and reused when complete.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from recipes.tiny_world import default_cache_dir, ensure_tiny_world
from recipes.tiny_world.build import manifest_of


def main(argv: list[str] | None = None, prog: str = "scripts/build_tiny_world.py") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help=f"cache root (default: $RLCS_CACHE or {default_cache_dir()}); the world goes in "
        "<cache_dir>/tiny-v1",
    )
    parser.add_argument("--force", action="store_true", help="rebuild every part even if cached")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    world = ensure_tiny_world(args.cache_dir, force=args.force)
    elapsed = time.perf_counter() - t0
    parts = manifest_of(world).get("parts", {})
    print(f"root     {world.root}")
    for name, path in (world.models or {"model": world.model}).items():
        entry = parts.get(name, {})
        print(f"{name:<10} {path}  {entry.get('bytes', 0) / 1e6:.1f} MB  built in {entry.get('build_seconds')} s")
    for name, path in world.datasets.items():
        entry = parts.get(f"datasets/{name}", {})
        print(
            f"{name:<10} {path}  {entry.get('bytes', 0) / 1e6:.2f} MB  built in {entry.get('build_seconds')} s"
        )
    print(f"ensure_tiny_world took {elapsed:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
