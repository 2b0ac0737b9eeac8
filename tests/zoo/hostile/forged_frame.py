# Attacks: the grader's result pipe. In the first public relu_forward case (x of shape (3, 4))
# the case's child finds its own result pipe (the write-only pipe that is neither stdout,
# stderr nor the worker's result descriptor) and writes a hand-made frame into it, which the
# worker forwards as the case's answer. Variant {VARIANT}:
#   deep_json       a header of 60000 '[': json.loads raises RecursionError
#   shape_overflow  a well-formed header and an .npy part whose shape is (2**64,): the
#                   element count overflows int64 and np.prod raises OverflowError
# Every other call is the correct relu_forward.
# Must happen: that case scores 0 (a malformed message), grading goes on, and every other case
# and function keeps full marks.
import json as _json
import os as _os
import struct as _struct

_correct_relu_forward = relu_forward


def _frame(part):
    return _struct.pack(">Q", len(part)) + part


def _result_fd():
    with open("/proc/self/cmdline", "rb") as f:
        for arg in f.read().split(b"\0"):
            if arg.startswith(b"{"):
                return _json.loads(arg)["res_fd"]
    return None


def _case_pipe():
    skip = {0, 1, 2, _result_fd()}
    for name in sorted(_os.listdir("/proc/self/fd"), key=int):
        fd = int(name)
        if fd in skip:
            continue
        try:
            if not _os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                continue
            with open(f"/proc/self/fdinfo/{fd}") as f:
                flags = next(line for line in f if line.startswith("flags:")).split()[1]
        except (OSError, StopIteration):
            continue
        if int(flags, 8) & 3 == 1:
            return fd
    return None


def _forged(variant):
    if variant == "deep_json":
        return _frame(b"[" * 60000)
    meta = repr({"descr": "<f8", "fortran_order": False, "shape": (2**64,)}).encode()
    npy = b"\x93NUMPY\x01\x00" + len(meta).to_bytes(2, "little") + meta
    # The case id is no secret: the worker's inputs (/lg/job/job.json) list them all.
    head = {"type": "result", "case": "relu_forward.seed", "status": "ok",
            "kinds": {"out": "ndarray"}, "arrays": [["out", len(npy)]]}
    return _frame(_json.dumps(head).encode()) + _frame(npy)


def relu_forward(x):
    if x.shape == (3, 4):
        fd = _case_pipe()
        if fd is not None:
            _os.write(fd, _forged("{VARIANT}"))
            _os._exit(0)
    return _correct_relu_forward(x)
