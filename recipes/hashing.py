"""How runs and conversions notice that their settings changed: a stable short hash of a JSON-able
settings record, and the keys that differ between two records (for the refusal message)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def stable_hash(obj: Any, length: int = 16) -> str:
    """A short sha256 of `obj` as sorted-key JSON (non-JSON values by their `str`): equal records, equal hashes."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:length]


def changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, with old -> new values (`sft.learning_rate: 1e-05 -> 0.001`)."""
    out = []
    for k in sorted(set(old) | set(new), key=str):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += changed_keys(a, b, f"{prefix}{k}.")
        else:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def file_digest(path: Path, cache: dict[str, Any] | None = None) -> str:
    """sha256 of a file's bytes; `cache` (str(path) -> {size, mtime_ns, sha256}) skips files whose size and
    mtime are unchanged, and is updated in place."""
    st = path.stat()
    key = str(path)
    hit = (cache or {}).get(key)
    if hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
        return str(hit["sha256"])
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    digest = h.hexdigest()
    if cache is not None:
        cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    return digest


def content_id(path: str | Path, cache: dict[str, Any] | None = None) -> str:
    """What a local file or directory holds, by content: a hash over each file's relative path, size and sha256
    (hidden files left out), so a file rewritten in place gets a new id and a copy or a `touch` keeps it."""
    root = Path(path).expanduser().resolve()
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))
    parts = [(str(p.relative_to(root)) if p != root else p.name, p.stat().st_size, file_digest(p, cache))
             for p in files]
    return stable_hash(parts)
