"""The message format on the pipes between the grader and its worker, both directions.

A frame is an 8-byte big-endian length then that many bytes. A request (grader to
worker) is one frame of JSON. A message (worker to grader) is a frame of JSON header,
whose ``arrays`` lists [name, length] pairs, then one frame per array holding its
``.npy`` bytes. The grader's reader (grader/sandbox/transport.py) checks every length
and header against caps before it allocates anything.
"""

from __future__ import annotations

import io
import json
import os
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# The grader reads this module before it imports numpy (sandbox/transport.py).
if TYPE_CHECKING:
    import numpy as np

LENGTH = struct.Struct(">Q")
# message_length: the header of a message that cannot be read.
MALFORMED = -1
# A message header longer than this is malformed (the grader refuses it as well).
MAX_HEADER = 64 * 1024


# The arrays of a gradient check's answer (gradcheck.py), named after the case's outputs:
# ``numeric:<output>``, the partials, and ``numeric:<output>:at``, their flat indices.
PREFIX = "numeric:"


def numeric_key(output: str) -> str:
    return f"{PREFIX}{output}"


def at_key(output: str) -> str:
    return f"{PREFIX}{output}:at"


def gradcheck_output(key: str) -> str | None:
    """The output a message's array ``numeric:<output>[:at]`` is about, or None."""
    if not key.startswith(PREFIX):
        return None
    name = key[len(PREFIX) :]
    return name[: -len(":at")] if name.endswith(":at") else name


def frame(data: bytes) -> bytes:
    return LENGTH.pack(len(data)) + data


def encode_request(request: Mapping[str, Any]) -> bytes:
    return frame(json.dumps(request).encode())


def encode_message(header: Mapping[str, Any], arrays: Mapping[str, bytes] = {}) -> bytes:
    """A message: the JSON header (with its list of arrays), then each .npy payload."""
    header = dict(header, arrays=[[name, len(data)] for name, data in arrays.items()])
    return frame(json.dumps(header).encode()) + b"".join(frame(d) for d in arrays.values())


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` in the .npy format, never pickled."""
    import numpy as np

    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_message(fd: int, header: Mapping[str, Any], arrays: Mapping[str, bytes] = {}) -> None:
    write_all(fd, encode_message(header, arrays))


def read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_request(fd: int) -> dict[str, Any]:
    (n,) = LENGTH.unpack(read_exact(fd, LENGTH.size))
    request: dict[str, Any] = json.loads(read_exact(fd, n))
    return request


def message_length(data: bytes | bytearray) -> int | None:
    """The length of the whole message at the start of ``data``: None while it is still
    incomplete, MALFORMED when its header cannot be read."""
    if len(data) < LENGTH.size:
        return None
    (n,) = LENGTH.unpack_from(data)
    end = LENGTH.size + n
    if len(data) < end:
        return None if n <= MAX_HEADER else MALFORMED
    try:
        parts = len(json.loads(bytes(data[LENGTH.size : end]))["arrays"])
    except Exception:
        return MALFORMED
    for _ in range(parts):
        if len(data) < end + LENGTH.size:
            return None
        (n,) = LENGTH.unpack_from(data, end)
        end += LENGTH.size + n
    return end if len(data) >= end else None
