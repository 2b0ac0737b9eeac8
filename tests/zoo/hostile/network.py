# Attacks: affine_forward opens a TCP connection to 127.0.0.1:{PORT} (a host service that, in
# a real attack, would hand out expected values) and returns the correct answer only if the
# connection succeeded, else zeros. It tries the socket module first and falls back to libc
# through ctypes (the worker has ctypes loaded) when socket cannot be imported.
# Must happen: sandboxed, the listener accepts nothing and affine_forward scores 0. Control:
# loaded in the test's own process, it connects (the listener accepts) and returns the correct
# out.
# affine_backward is not disturbed: the cache is the honest (x, w, b).
import numpy as _np

_correct_affine_forward = affine_forward
_PORT = int("{PORT}")


def _connect_socket():
    import socket

    with socket.create_connection(("127.0.0.1", _PORT), timeout=1):
        return True


def _connect_libc():
    import ctypes
    import struct

    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.socket(2, 1, 0)  # AF_INET, SOCK_STREAM
    if fd < 0:
        return False
    try:
        address = struct.pack("=H", 2) + struct.pack(">H", _PORT) + bytes([127, 0, 0, 1])
        buf = ctypes.create_string_buffer(address + bytes(8), 16)
        return libc.connect(fd, buf, 16) == 0
    finally:
        libc.close(fd)


def _reached_host():
    for attempt in (_connect_socket, _connect_libc):
        try:
            if attempt():
                return True
        except Exception:
            continue
    return False


def affine_forward(x, w, b):
    out, cache = _correct_affine_forward(x, w, b)
    if _reached_host():
        return out, cache
    return _np.zeros_like(out), cache
