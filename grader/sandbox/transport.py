"""Reading the worker's messages: length-capped, deadline-bound, and never unpickling.

The format is defined once, in inside/frames.py. Here every length is checked against
its cap before it is read, and each ``.npy`` header (dtype, shape) against the payload's
length before any array is built; only plain numeric dtypes are accepted.
"""

from __future__ import annotations

import ast
import json
import math
import os
import select
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grader.errors import Closed, Deadline, TransportError
from grader.sandbox.inside.frames import LENGTH, MAX_HEADER, encode_request

# numpy is imported where arrays are read: a worker starts before the grader imports it.
if TYPE_CHECKING:
    import numpy as np

# A case's outputs are at most a few arrays of the size of its inputs; the largest stored
# input is 500x500 float64 (2 MB), so 32 MB leaves room without letting a worker flood us.
MAX_MESSAGE = 32 * 1024 * 1024
NPY_MAGIC = b"\x93NUMPY"
NUMERIC_KINDS = "biuf"


@dataclass(frozen=True)
class Message:
    header: dict[str, Any]
    arrays: dict[str, np.ndarray]
    # Arrays the worker sent that failed validation, with the reason.
    rejected: dict[str, str]


def send(fd: int, request: dict[str, Any]) -> None:
    os.write(fd, encode_request(request))


class Reader:
    """Reads messages from a pipe with a deadline per message."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()

    def _fill(self, n: int, deadline: float) -> None:
        while len(self.buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Deadline
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                raise Deadline
            chunk = os.read(self.fd, max(n - len(self.buffer), 1 << 16))
            if not chunk:
                raise Closed
            self.buffer += chunk

    def _part(self, deadline: float, cap: int) -> bytes:
        self._fill(LENGTH.size, deadline)
        (n,) = LENGTH.unpack(self.buffer[: LENGTH.size])
        if n > cap:
            raise TransportError(
                f"the answer is too large ({n} bytes; at most {cap} fit this case)"
            )
        self._fill(LENGTH.size + n, deadline)
        part = bytes(self.buffer[LENGTH.size : LENGTH.size + n])
        del self.buffer[: LENGTH.size + n]
        return part

    def read(self, deadline: float, cap: int = MAX_MESSAGE) -> Message:
        """The next message; its arrays may total at most ``cap`` bytes."""
        part = self._part(deadline, MAX_HEADER)
        try:
            header = json.loads(part)
        except (ValueError, RecursionError) as exc:
            raise TransportError(f"the message header is not JSON ({type(exc).__name__})") from None
        try:
            header = valid_text(header)
        except RecursionError:
            raise TransportError("the message header is nested too deeply") from None
        if type(header) is not dict or type(header.get("arrays", [])) is not list:
            raise TransportError("the message header is not an object with a list of arrays")
        arrays: dict[str, np.ndarray] = {}
        rejected: dict[str, str] = {}
        budget = cap
        for entry in header.get("arrays", []):
            if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not str:
                raise TransportError(f"bad array entry {entry!r:.80}")
            data = self._part(deadline, budget)
            budget -= len(data)
            try:
                arrays[entry[0]] = parse_npy(data)
            except ValueError as exc:
                rejected[entry[0]] = str(exc)
        return Message(header, arrays, rejected)


def valid_text(value: Any) -> Any:
    """``value`` with every string made valid UTF-8: JSON can carry lone surrogates, which
    no file or terminal will take."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [valid_text(v) for v in value]
    if isinstance(value, dict):
        return {valid_text(k): valid_text(v) for k, v in value.items()}
    return value


def parse_npy(data: bytes) -> np.ndarray:
    """Parse one ``.npy`` payload without pickles, checking its header first.

    Raises ValueError, and nothing else, for anything that is not a plain numeric array.
    """
    try:
        return _parse_npy(data)
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"unreadable .npy payload ({type(exc).__name__})") from None


def _parse_npy(data: bytes) -> np.ndarray:
    import numpy as np

    if not data.startswith(NPY_MAGIC) or len(data) < 10:
        raise ValueError("not an .npy payload")
    major = data[6]
    if major == 1:
        hlen, start = struct.unpack("<H", data[8:10])[0], 10
    elif major in (2, 3):
        hlen, start = struct.unpack("<I", data[8:12])[0], 12
    else:
        raise ValueError(f"unknown .npy version {major}")
    if hlen > 4096:
        raise ValueError("oversized .npy header")
    try:
        meta = ast.literal_eval(data[start : start + hlen].decode("latin1"))
        dtype = np.dtype(meta["descr"])
        shape = tuple(meta["shape"])
        fortran = bool(meta["fortran_order"])
    except (ValueError, SyntaxError, KeyError, TypeError) as exc:
        raise ValueError(f"unreadable .npy header ({exc})") from None
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in NUMERIC_KINDS:
        raise ValueError(f"dtype {dtype} is not a plain numeric type")
    if not all(type(d) is int and d >= 0 for d in shape):
        raise ValueError(f"bad shape {shape!r}")
    count = math.prod(shape)
    body = data[start + hlen :]
    if count * dtype.itemsize != len(body):
        raise ValueError(f"payload of {len(body)} bytes does not hold {count} values of {dtype}")
    arr = np.frombuffer(body, dtype=dtype, count=count)
    return arr.reshape(shape, order="F" if fortran else "C").copy()
