"""Stream tensors into safetensors files of bounded size, plus the Hugging Face index.

All names, shapes and dtypes are known before the first byte is written, so every file's header is
written up front and each tensor's bytes are appended as soon as it is assembled: the writer never
holds more than the tensor it is given.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

SAFETENSORS_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL", torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2",
}
WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]I?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(size: int | str) -> int:
    """``5GB`` -> 5e9 bytes (Hugging Face's convention), ``500MiB`` -> 500 * 2**20; ints are bytes."""
    if isinstance(size, int):
        return size
    m = _SIZE_RE.match(size)
    if not m:
        raise ValueError(f"max_shard_size {size!r}: expected bytes or a size like '5GB' / '500MiB'")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "B").upper()])


@dataclass(frozen=True)
class TensorSpec:
    """What will be written under one name."""

    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def nbytes(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n * torch.empty((), dtype=self.dtype).element_size()


def split_into_files(specs: list[TensorSpec], max_shard_size: int) -> list[list[TensorSpec]]:
    """Greedy split in order; a tensor larger than the limit gets a file of its own."""
    files: list[list[TensorSpec]] = [[]]
    size = 0
    for spec in specs:
        if files[-1] and size + spec.nbytes > max_shard_size:
            files.append([])
            size = 0
        files[-1].append(spec)
        size += spec.nbytes
    return files


class StreamingSafetensorsWriter:
    """Write the tensors of ``specs``, in that order, into ``out_dir``; call ``finish()`` at the end."""

    def __init__(self, out_dir: Path, specs: list[TensorSpec], max_shard_size: int, total_parameters: int):
        for spec in specs:
            if spec.dtype not in SAFETENSORS_DTYPES:
                raise ValueError(f"{spec.name}: dtype {spec.dtype} cannot be stored in safetensors")
        self.out_dir = Path(out_dir)
        self.groups = split_into_files(specs, max_shard_size)
        n = len(self.groups)
        self.file_names = [WEIGHTS_NAME] if n == 1 else [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
        self.total_parameters = total_parameters
        self._queue = [(g, s) for g, group in enumerate(self.groups) for s in group]
        self._pos = 0
        self._file = None
        self._file_idx = -1

    def _open(self, idx: int) -> None:
        if self._file is not None:
            self._file.close()
        header: dict[str, object] = {"__metadata__": {"format": "pt"}}
        offset = 0
        for spec in self.groups[idx]:
            header[spec.name] = {"dtype": SAFETENSORS_DTYPES[spec.dtype], "shape": list(spec.shape),
                                 "data_offsets": [offset, offset + spec.nbytes]}
            offset += spec.nbytes
        raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
        raw += b" " * (-len(raw) % 8)
        self._file = open(self.out_dir / self.file_names[idx], "wb")  # noqa: SIM115 - closed in _open/finish
        self._file.write(len(raw).to_bytes(8, "little"))
        self._file.write(raw)
        self._file_idx = idx

    def write(self, name: str, tensor: torch.Tensor) -> None:
        """Append the next tensor; its name, shape and dtype must be the next spec's."""
        idx, spec = self._queue[self._pos]
        if (name, tuple(tensor.shape), tensor.dtype) != (spec.name, spec.shape, spec.dtype):
            raise RuntimeError(f"writer expected {spec}, got {name} {tuple(tensor.shape)} {tensor.dtype}")
        if idx != self._file_idx:
            self._open(idx)
        if tensor.numel():
            self._file.write(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().data)
        self._pos += 1

    def finish(self) -> list[str]:
        """Close the last file, write the index when there are several files; return the file names."""
        if self._pos != len(self._queue):
            raise RuntimeError(f"writer finished after {self._pos} of {len(self._queue)} tensors")
        if self._file is not None:
            self._file.close()
            self._file = None
        if len(self.file_names) > 1:
            weight_map = {s.name: self.file_names[g] for g, s in self._queue}
            index = {
                "metadata": {"total_parameters": self.total_parameters,
                             "total_size": sum(s.nbytes for _, s in self._queue)},
                "weight_map": dict(sorted(weight_map.items())),
            }
            (self.out_dir / INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n")
            return [*self.file_names, INDEX_NAME]
        return list(self.file_names)
