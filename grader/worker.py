"""The untrusted side of grading: runs a submission's functions on case inputs.

This file is executed inside the sandbox as a standalone script (standard library and
numpy only; it must never import the rest of the package). It receives inputs and
never expected values. Everything it sends back is checked again by the grader:
nothing here decides a score.

Protocol (both directions are length-prefixed frames, see ``write_message``):
  grader -> worker   {"case": CASE_ID} per request, {"quit": true} to stop
  worker -> grader   {"type": "ready", "functions": [...]} or {"type": "import_error", ...}
                     then one {"type": "result", ...} per request, followed by its arrays

The call interpreter (``run_calls``) is also used by the staff-side vector builder,
so the reference and a submission are called in exactly the same way.
"""

from __future__ import annotations

import ctypes
import importlib
import io
import json
import os
import resource
import select
import signal
import struct
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any

if __name__ == "__main__":
    # Run with -I -S: numpy's folder is the only addition to the standard library.
    sys.path.append(json.loads(sys.argv[1])["site"])

import numpy as np  # noqa: E402

HEADER = struct.Struct(">Q")
MAX_TRACEBACK = 4000


def write_message(fd: int, header: dict[str, Any], arrays: Mapping[str, bytes] = {}) -> None:
    """Write one frame: 8-byte length, JSON header, then each .npy payload as its own part."""
    header = dict(header, arrays=[[name, len(data)] for name, data in arrays.items()])
    parts = [json.dumps(header).encode()]
    parts.extend(arrays.values())
    write_all(fd, b"".join(HEADER.pack(len(p)) + p for p in parts))


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


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
    (n,) = HEADER.unpack(read_exact(fd, HEADER.size))
    request: dict[str, Any] = json.loads(read_exact(fd, n))
    return request


# The call interpreter ------------------------------------------------------------------


class CallError(Exception):
    """A submission's call went wrong in a way the student should hear about."""


def resolve(spec: Any, inputs: Mapping[str, np.ndarray], env: dict[str, Any]) -> Any:
    """Turn an argument spec into a fresh Python value.

    {"array": key} -> a copy of that input; {"value": v} -> v; {"var": name} -> a value
    returned by an earlier call; {"dict": {k: spec}, "as": name} -> a dict (bound to
    name so later outputs can read items the call wrote into it).
    """
    if "array" in spec:
        return np.array(inputs[spec["array"]], copy=True)
    if "value" in spec:
        return spec["value"]
    if "var" in spec:
        return env[spec["var"]]
    if "dict" in spec:
        d = {k: resolve(v, inputs, env) for k, v in spec["dict"].items()}
        if "as" in spec:
            env[spec["as"]] = d
        return d
    raise ValueError(f"unknown argument spec {spec!r}")


def fetch(spec: Any, env: Mapping[str, Any]) -> Any:
    """An output spec: {"var": name} or {"item": [dict_name, key]} (None when missing)."""
    if "var" in spec:
        return env[spec["var"]]
    name, key = spec["item"]
    return env[name].get(key) if isinstance(env.get(name), dict) else None


def run_calls(
    namespace: Mapping[str, Any],
    case: Mapping[str, Any],
    inputs: Mapping[str, np.ndarray],
    mutated: list[str] | None = None,
) -> dict[str, Any]:
    """Run a case's calls against ``namespace`` and return its named outputs (raw values).

    Each call is {"fn": name, "args": [spec...], "returns": [name...]}: a single name binds
    the whole return value, several names unpack a tuple of exactly that length. Array
    arguments are fresh copies; those a call changed in place are added to ``mutated``
    as "function:argument".
    """
    env: dict[str, Any] = {}
    for call in case["calls"]:
        fn = namespace.get(call["fn"])
        if not callable(fn):
            raise CallError(f"{call['fn']} is not defined")
        args = [resolve(a, inputs, env) for a in call["args"]]
        value = fn(*args)
        if mutated is not None:
            for spec, arg in zip(call["args"], args, strict=True):
                key = spec.get("array")
                if key is not None and not np.array_equal(arg, inputs[key], equal_nan=True):
                    mutated.append(f"{call['fn']}:{key}")
        names = call["returns"]
        if len(names) == 1:
            env[names[0]] = value
            continue
        if type(value) is not tuple:
            raise CallError(
                f"{call['fn']} returned {describe(value)}; expected a tuple of {len(names)} "
                f"({', '.join(names)})"
            )
        if len(value) != len(names):
            raise CallError(
                f"{call['fn']} returned a tuple of {len(value)}; expected {len(names)} "
                f"({', '.join(names)})"
            )
        env.update(zip(names, value, strict=True))
    return {out["name"]: fetch(out["from"], env) for out in case["outputs"]}


def describe(value: Any) -> str:
    t = type(value)
    if value is None:
        return "None"
    if t is tuple:
        return f"a tuple of {len(value)}"
    return f"a {t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else f"a {t.__name__}"


def encode(value: Any) -> tuple[str, bytes | None]:
    """Classify a returned value by its real type and serialise what may be numeric.

    Returns (kind, npy bytes or None). Subclasses of ndarray are sent as their base
    ndarray; the grader judges the kind and the data again.
    """
    t = type(value)
    if t is bool or isinstance(value, np.bool_):
        return "bool", None
    if t is int or t is float or (isinstance(value, np.generic) and isinstance(value, np.number)):
        arr = np.array(value.item() if isinstance(value, np.generic) else value)
        if arr.dtype.kind not in "iuf":
            return describe(value), None
        kind = "number"
    elif isinstance(value, np.ndarray):
        arr = value.view(np.ndarray) if t is not np.ndarray else value
        kind = "ndarray" if t is np.ndarray else "ndarray subclass"
        if arr.dtype.hasobject or arr.dtype.kind not in "biufc":
            return f"array of dtype {arr.dtype}", None
    else:
        return describe(value), None
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return kind, buf.getvalue()


def result_message(outputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    kinds: dict[str, str] = {}
    arrays: dict[str, bytes] = {}
    for name, value in outputs.items():
        kind, data = encode(value)
        kinds[name] = kind
        if data is not None:
            arrays[name] = data
    return {"type": "result", "status": "ok", "kinds": kinds}, arrays


def describe_exception(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r}); return values instead of exiting"
    return f"{type(exc).__name__}: {exc}"


def error_message(exc: BaseException, status: str = "error") -> dict[str, Any]:
    tb = exc.__traceback__
    frames = traceback.extract_tb(tb) if tb is not None else []
    student = [f for f in frames if not f.filename.endswith("worker.py")]
    where = student[-1] if student else None
    return {
        "type": "result",
        "status": status,
        "error": describe_exception(exc)[:500],
        "line": where.lineno if where else None,
        "file": os.path.basename(where.filename) if where else None,
        "traceback": "".join(traceback.format_exception(exc))[-MAX_TRACEBACK:],
    }


# The serving loop ----------------------------------------------------------------------


def run_case_in_child(
    namespace: Mapping[str, Any],
    case: Mapping[str, Any],
    inputs: Mapping[str, np.ndarray],
    res_fd: int,
    seconds: float,
) -> None:
    """Fork, run one case in the child with its own deadline, forward its one message."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        mutated: list[str] = []
        try:
            header, arrays = result_message(run_calls(namespace, case, inputs, mutated))
            header["mutated"] = mutated
        except CallError as exc:
            header, arrays = {"type": "result", "status": "bad_return", "error": str(exc)}, {}
        except SystemExit as exc:
            header, arrays = error_message(exc, "exit"), {}
        except BaseException as exc:
            header, arrays = error_message(exc), {}
        try:
            write_message(w, header, arrays)
        finally:
            os._exit(0)
    os.close(w)
    data = bytearray()
    deadline = time.monotonic() + seconds
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([r], [], [], left)
        if not ready:
            continue
        chunk = os.read(r, 1 << 20)
        if not chunk:
            break
        data += chunk
    os.close(r)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        write_message(res_fd, {"type": "result", "status": "timeout", "seconds": seconds})
    elif not data:
        if os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status)).name
            write_message(res_fd, {"type": "result", "status": "killed", "signal": sig})
        else:
            code = os.WEXITSTATUS(status)
            write_message(
                res_fd, {"type": "result", "status": "exit", "error": f"exit code {code}"}
            )
    else:
        write_all(res_fd, bytes(data))


def drop_privileges(limits: Mapping[str, int], uid: int | None) -> None:
    """Forbid privilege gain, apply resource limits, and leave root for ``uid``."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS = 38
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)


def load_namespace(module: str, source_dir: str) -> dict[str, Any]:
    sys.path.insert(0, source_dir)
    os.chdir(source_dir)
    return vars(importlib.import_module(module))


def load_inputs(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def serve(
    namespace: Mapping[str, Any],
    cases: Mapping[str, Any],
    inputs: Mapping[str, np.ndarray],
    req_fd: int,
    res_fd: int,
    seconds: float,
) -> None:
    while True:
        try:
            request = read_request(req_fd)
        except EOFError:
            return
        if request.get("quit"):
            return
        case = cases[request["case"]]
        case_inputs = {name: inputs[f"{case['id']}:{name}"] for name in case["inputs"]}
        run_case_in_child(namespace, case, case_inputs, res_fd, seconds)


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    req_fd, res_fd = config["req_fd"], config["res_fd"]
    with open(os.path.join(config["job"], "job.json")) as f:
        job = json.load(f)
    inputs = load_inputs(os.path.join(config["job"], "inputs.npz"))
    drop_privileges(config["limits"], config.get("uid"))
    # Everything before this point is the grader's own setup; a failure there is not the
    # student's, and the grader tells the two apart by this message.
    write_message(res_fd, {"type": "started"})
    cases = {c["id"]: c for c in job["cases"]}
    sys.dont_write_bytecode = True
    sys.argv = [config["module"]]
    try:
        namespace = load_namespace(config["module"], config["source"])
    except BaseException as exc:
        header = error_message(exc, "import_error")
        header["type"] = "import_error"
        if isinstance(exc, SyntaxError):
            header["line"], header["file"] = exc.lineno, os.path.basename(exc.filename or "")
        write_message(res_fd, header)
        return 0
    wanted = {call["fn"] for c in job["cases"] for call in c["calls"]}
    present = sorted(name for name in wanted if callable(namespace.get(name)))
    write_message(res_fd, {"type": "ready", "functions": present})
    serve(namespace, cases, inputs, req_fd, res_fd, float(config["case_seconds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
