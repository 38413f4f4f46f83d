"""What this machine has, read without importing torch: visible GPUs and the driver (`nvidia-smi`), importable
packages, free disk, host memory and the environment; plus a sampler of peak GPU memory for the GPU checks.

The preflight (recipes/pipeline/preflight.py) judges these facts against a plan; tests give it `Probe` values.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Probe:
    """Facts about this machine (gathered by `probe_machine`, or given by a test)."""

    gpus: list[str]
    """Visible GPU names (CUDA_VISIBLE_DEVICES honoured)."""
    driver: str | None
    """NVIDIA driver version, e.g. `580.159.04`; None without nvidia-smi."""
    modules: dict[str, str | None]
    """Package -> installed version (None: not importable)."""
    free_disk: int
    """Bytes free where the run writes."""
    host_memory: int
    """Bytes of RAM on this host."""
    env: dict[str, str] = field(default_factory=dict)
    """The environment (WANDB_API_KEY, WANDB_MODE)."""


MODULES = ("flash_attn", "deepspeed", "vllm", "verl", "wandb")


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    from importlib import metadata

    for dist in (module, module.replace("_", "-")):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown version"


def gpu_inventory() -> tuple[list[str], str | None]:
    """(visible GPU names, driver version) from `nvidia-smi`; ([], None) without one. No torch import."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return [], None
    try:
        out = subprocess.run([exe, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return [], None
    rows = [[c.strip() for c in line.split(",")] for line in out.splitlines() if line.strip()]
    names, driver = [r[0] for r in rows], (rows[0][1] if rows and len(rows[0]) > 1 else None)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        wanted = [v.strip() for v in visible.split(",") if v.strip()]
        names = [n for i, n in enumerate(names) if str(i) in wanted] if all(w.isdigit() for w in wanted) \
            else names[:len(wanted)]
    return names, driver


class GpuMemorySampler:
    """Peak used GPU memory over every visible GPU and process (actor, ref, vLLM) from nvidia-smi, each second."""

    def __init__(self, every_s: float = 1.0) -> None:
        import threading

        self.peak_mib = 0
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        exe = shutil.which("nvidia-smi")
        while exe and not self._stop.is_set():
            out = subprocess.run([exe, "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True).stdout
            self.peak_mib = max([self.peak_mib, *(int(x) for x in out.split() if x.strip().isdigit())])
            self._stop.wait(self._every)

    def __enter__(self) -> GpuMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def flash_attn_importable() -> bool:
    """flash-attn really imports (a subprocess: a wheel built against another torch fails here, not in verl)."""
    if importlib.util.find_spec("flash_attn") is None:
        return False
    code = "import flash_attn, flash_attn.bert_padding"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300).returncode == 0


def _existing(path: Path) -> Path:
    path = path.expanduser().resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def probe_machine(runs_dir: str = "runs") -> Probe:
    """The facts of this machine, read in well under a second without a GPU (no torch import)."""
    import psutil

    gpus, driver = gpu_inventory()
    return Probe(gpus=gpus, driver=driver, modules={m: _version(m) for m in MODULES},
                 free_disk=shutil.disk_usage(_existing(Path(runs_dir))).free,
                 host_memory=psutil.virtual_memory().total, env=dict(os.environ))
