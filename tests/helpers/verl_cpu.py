"""verl 0.9.1 on a CPU, for tests: a platform through verl's own plugin hook (`verl.plugin.platform`).

verl registers only NVIDIA, Ascend and ROCm platforms and falls back to NVIDIA (`cuda`, NCCL) when none is
present, so its workers cannot start on a CPU. `use_cpu_platform()` installs, before anything asks verl for
its platform, one whose device is `cpu`, whose collective backend is gloo, and whose memory queries
answer 0; FSDP1's guard against `sync_module_states` on CPU parameters (an NCCL limit, gloo broadcasts
them) is lifted, and `Tensor.pin_memory` (the reference's CPUOffload; it needs a CUDA driver) returns the
tensor itself; `VERL_ENGINE_DEVICE=cuda` then selects the FSDP engines verl registers for GPUs (verl reads that
variable for exactly this). Every engine, loss, FSDP wrapper and checkpoint manager stays verl's own.
"""

from __future__ import annotations

import os
from typing import Any

import torch


class _CpuDeviceModule:
    """What verl calls on `torch.cuda`: seeds go to torch, memory figures are 0, the rest does nothing."""

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    manual_seed_all = manual_seed

    def is_available(self) -> bool:
        return True

    def device_count(self) -> int:
        return 1

    def current_device(self) -> int:
        return 0

    def get_device_name(self, *args: Any) -> str:
        return "CPU"  # verl's FLOPs table has no entry: an unknown device, MFU 0

    def mem_get_info(self, *args: Any) -> tuple[int, int]:
        return 0, 0

    def __getattr__(self, name: str) -> Any:  # memory_allocated, max_memory_reserved, empty_cache, ...
        return lambda *args, **kwargs: 0


def use_cpu_platform() -> None:
    """Make verl run its workers on this CPU (call before importing verl's workers)."""
    from verl.plugin.platform import get_platform, set_platform
    from verl.plugin.platform.platform_cuda import PlatformCUDA

    class CPUPlatform(PlatformCUDA):
        @property
        def device_name(self) -> str:
            return "cpu"

        @property
        def device_module(self) -> Any:
            return _CpuDeviceModule()

        def is_available(self) -> bool:
            return True

        def current_device(self) -> Any:
            return torch.device("cpu")

        def device_count(self) -> int:
            return 1

        def set_device(self, device_index: int) -> None:
            return None

        def synchronize(self, device_index: int | None = None) -> None:
            return None

        def empty_cache(self) -> None:
            return None

        def set_allocator_settings(self, settings: str) -> None:
            return None

        def communication_backend_name(self) -> str:
            return "gloo"

        def get_device_capability(self, device_index: int = 0) -> tuple[None, None]:
            return None, None

    os.environ["VERL_ENGINE_DEVICE"] = "cuda"
    # FSDP1 refuses sync_module_states with CPU parameters because NCCL cannot broadcast them; gloo can.
    from torch.distributed.fsdp import _init_utils

    _init_utils._check_module_states_for_sync_module_states = lambda module_states: None
    # The reference's CPUOffload pins its host copies; pinning needs a CUDA driver, and on a CPU the
    # tensor already is host memory.
    torch.Tensor.pin_memory = lambda self, *args, **kwargs: self
    if type(get_platform.__globals__.get("_current_platform")).__name__ != "CPUPlatform":
        set_platform(CPUPlatform())
