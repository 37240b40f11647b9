"""An ``.npy`` file written slice by slice, so memory stays flat however large the array grows.

The header is reserved up front and filled in on :meth:`NpyAppender.close` once the number of
rows is known; the result is a normal ``.npy`` file that ``np.load(mmap_mode="r")`` opens.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_HEADER_BYTES = 256  # a multiple of 64, large enough for any 4-D shape dict


class NpyAppender:
    def __init__(self, path: str | Path, dtype: np.dtype | str, row_shape: tuple[int, ...]):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.row_shape = tuple(int(s) for s in row_shape)
        self.rows = 0
        self._fh = open(self.path, "wb")
        self._fh.write(b"\0" * _HEADER_BYTES)

    def append(self, block: np.ndarray) -> None:
        """Append rows ``(n, *row_shape)``; values are cast to the file's dtype."""
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {block.shape[1:]} != {self.row_shape}")
        self._fh.write(block.tobytes())
        self.rows += block.shape[0]

    def close(self) -> None:
        if self._fh.closed:
            return
        header = {"descr": self.dtype.str, "fortran_order": False, "shape": (self.rows, *self.row_shape)}
        text = repr(header).encode("latin1")
        body_len = _HEADER_BYTES - 10
        if len(text) + 1 > body_len:
            raise ValueError(f"{self.path.name}: header too long")
        text = text + b" " * (body_len - len(text) - 1) + b"\n"
        self._fh.seek(0)
        self._fh.write(b"\x93NUMPY" + bytes([1, 0]) + struct.pack("<H", body_len) + text)
        self._fh.close()

    def __enter__(self) -> "NpyAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
