"""The wire between the ``grade`` command (client.py) and ``grade serve`` (server.py):
where the server listens, who may talk to it, and the messages (a length, then a JSON
object; the command's standard streams ride with its request, over SCM_RIGHTS).

The socket lies in a folder of the user's own (``$XDG_RUNTIME_DIR``, else ``/tmp``,
``layergrade-UID``, mode 0700), one per installation (its interpreter and package). A
folder or server that is not the user's is not used. Standard modules only: the command
imports this before anything else.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import struct
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ENV = "LAYERGRADE_SERVER"
# The commands that never go to a server: all but grading one submission.
LOCAL = {"-h", "--help", "--version", "--list-assignments", "vectors", "batch", "bundle"}
LOCAL |= {"gradescope", "serve"}
# A message's length, before it.
HEADER = struct.Struct("!I")
# The largest message either side accepts (a command and its environment).
MAX_MESSAGE = 1 << 20
# The standard streams, passed to the server.
STREAMS = (0, 1, 2)


def socket_path() -> Path:
    """Where this installation's server listens: one per environment (``sys.prefix``: a
    venv's ``python`` and ``python3``, its ``grade`` script and a notebook's kernel there
    are the same) and package folder."""
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    package = Path(__file__).resolve().parent.parent
    name = hashlib.sha256(f"{sys.prefix}\0{package}".encode()).hexdigest()[:16]
    return Path(base) / f"layergrade-{os.geteuid()}" / f"serve-{name}.sock"


def private(folder: Path) -> bool:
    """Whether ``folder`` is a folder (not a link) of the user's, closed to others."""
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o077 == 0


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of ``sock``; None where the system does not
    say (SO_PEERCRED is Linux's; elsewhere no server is used)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    credentials = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return int(uid)


def send(sock: socket.socket, message: dict[str, object], fds: Sequence[int] = ()) -> None:
    """``message`` after its length; ``fds`` go with the length."""
    data = json.dumps(message).encode()
    socket.send_fds(sock, [HEADER.pack(len(data))], list(fds))
    sock.sendall(data)


def receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        part = sock.recv(size - len(data))
        if not part:
            raise ConnectionError("the other end closed the connection")
        data += part
    return data


def receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    """A message (a JSON object), and the descriptors that came with it."""
    head, fds, _flags, _address = socket.recv_fds(sock, HEADER.size, max_fds)
    try:
        if not head:
            raise ConnectionError("the other end closed the connection")
        (size,) = HEADER.unpack(head + receive_exactly(sock, HEADER.size - len(head)))
        if size > MAX_MESSAGE:
            raise ConnectionError(f"a message of {size} bytes")
        message = json.loads(receive_exactly(sock, size))
        if not isinstance(message, dict):
            raise ConnectionError("a message that is not an object")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return message, fds
