"""The untrusted side of grading: runs a submission's functions on case inputs.

This file is executed inside the sandbox as a standalone script (standard library,
numpy and grader/calls.py only, the sole parts of the package bound there). It receives inputs and
never expected values. Everything it sends back is checked again by the grader:
nothing here decides a score.

Protocol (both directions are length-prefixed frames, see ``write_message``):
  grader -> worker   {"case": CASE_ID} per request, {"quit": true} to stop
  worker -> grader   {"type": "ready", "functions": [...]} or {"type": "import_error", ...}
                     then one {"type": "result", ...} per request, followed by its arrays

The call interpreter (grader/calls.py) is also used by the staff-side vector builder,
so the reference and a submission are called in exactly the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import resource
import select
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import Mapping
from typing import Any

if __name__ == "__main__":
    # Run with -I -S: numpy's folder is the only addition to the standard library, and
    # the folder above this file's holds its one companion, grader/calls.py.
    sys.path.append(json.loads(sys.argv[1])["site"])
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from grader.calls import (  # noqa: E402
    HEADER,
    CallError,
    describe_exception,
    encode_message,
    error_message,
    read_request,
    result_message,
    run_calls,
    write_all,
    write_message,
)

# Bound before any student code runs, which may replace the os module's functions.
_fork, _exit = os.fork, os._exit
PRELOAD = (
    "copy", "math", "random", "itertools", "functools", "collections", "operator", "numbers",
    "typing", "dataclasses", "string", "re", "time", "warnings", "numpy.linalg", "numpy.random",
)  # fmt: skip


# The serving loop ----------------------------------------------------------------------


MALFORMED = -1


def message_length(data: bytes | bytearray) -> int | None:
    """The length of the whole message at the start of ``data``: None while it is still
    incomplete, MALFORMED when its header cannot be read."""
    if len(data) < HEADER.size:
        return None
    (n,) = HEADER.unpack_from(data)
    end = HEADER.size + n
    if len(data) < end:
        return None if n <= 1 << 16 else MALFORMED
    try:
        parts = len(json.loads(bytes(data[HEADER.size : end]))["arrays"])
    except Exception:
        return MALFORMED
    for _ in range(parts):
        if len(data) < end + HEADER.size:
            return None
        (n,) = HEADER.unpack_from(data, end)
        end += HEADER.size + n
    return end if len(data) >= end else None


def parent_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
                parents[int(name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    return parents


def ancestors_of(pid: int) -> set[int]:
    """``pid`` and the processes it descends from (in a notebook run, the holder)."""
    parents, found = parent_map(), {pid}
    while parents.get(pid, 0) > 0 and parents[pid] not in found:
        pid = parents[pid]
        found.add(pid)
    return found


def descendants_of(roots: set[int]) -> set[int]:
    """The processes visible here whose parent chain reaches one of ``roots``."""
    parents = parent_map()
    keep = set(roots)
    changed = True
    while changed:
        grown = {pid for pid, parent in parents.items() if parent in keep}
        changed = not grown <= keep
        keep |= grown
    return keep


def sweep(running: set[int]) -> None:
    """Kill every process of ours that no running case owns, and wait until they are gone.

    What a finished case started (in its process group or not) would otherwise hold the
    process limit or the CPU that later cases need.
    """
    me, uid = os.getpid(), os.getuid()
    keep = descendants_of(running) | ancestors_of(me)
    strays = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in keep:
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{name}").st_uid == uid:
                    os.kill(int(name), signal.SIGKILL)
                    strays.append(int(name))
    reap_answered()
    end = time.monotonic() + 1.0
    while time.monotonic() < end and any(
        os.path.exists(f"/proc/{pid}") and not zombie(pid) for pid in strays
    ):
        time.sleep(0.001)


def zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] == b"Z"
    except (OSError, ValueError):
        return True


class Child:
    """One case running in a forked child, with its own deadline."""

    def __init__(
        self,
        namespace: Mapping[str, Any],
        case: Mapping[str, Any],
        inputs: Mapping[str, np.ndarray],
        seconds: float,
    ) -> None:
        self.case_id = case["id"]
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.data = bytearray()
        self.complete = self.closed = self.timed_out = self.malformed = False
        self.fork_error: str | None = None
        r, w = os.pipe()
        try:
            self.pid = _fork()
        except OSError as exc:
            # Typically the process limit, filled by processes an earlier case left behind.
            self.pid, self.closed, self.fork_error = 0, True, str(exc)
        else:
            if self.pid == 0:
                os.close(r)
                # Its own process group, so that what the case starts can be ended with it.
                os.setpgid(0, 0)
                run_child(namespace, case, inputs, w)
        os.close(w)
        self.fd = r

    @property
    def finished(self) -> bool:
        return self.complete or self.closed or self.timed_out or self.malformed

    def read(self) -> None:
        chunk = os.read(self.fd, 1 << 20)
        self.data += chunk
        self.closed = not chunk
        length = message_length(self.data)
        if length == MALFORMED:
            self.malformed = True
        elif length is not None:
            del self.data[length:]
            self.complete = True

    def answer(self) -> bytes:
        """The message to forward: the child's own, or what became of it."""
        os.close(self.fd)
        if self.fork_error is not None:
            error = f"could not start a process for this case ({self.fork_error})"
            return encode_message(
                {"type": "result", "case": self.case_id, "status": "error", "error": error}
            )
        for kill in (os.kill, os.killpg):
            with contextlib.suppress(OSError):
                kill(self.pid, signal.SIGKILL)
        if self.complete:
            # Reaped later: waiting for an exiting process's teardown would put it on
            # every case's critical path.
            answered.append(self.pid)
            return bytes(self.data)
        _, status = os.waitpid(self.pid, 0)
        base = {"type": "result", "case": self.case_id}
        if self.malformed:
            return encode_message(
                dict(base, status="error", error="the case sent a garbled answer")
            )
        if self.timed_out:
            return encode_message(dict(base, status="timeout", seconds=self.seconds))
        if os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status)).name
            return encode_message(dict(base, status="killed", signal=sig))
        code = os.WEXITSTATUS(status)
        error = f"the process exited (code {code}) instead of returning: os._exit?"
        return encode_message(dict(base, status="exit", error=error))


answered: list[int] = []


def reap_answered() -> None:
    for pid in list(answered):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            answered.remove(pid)


def run_child(
    namespace: Mapping[str, Any], case: Mapping[str, Any], inputs: Mapping[str, np.ndarray], w: int
) -> None:
    """The child's side: run the case, write one message, exit. Never returns."""
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
        write_message(w, dict(header, case=case["id"]), arrays)
    finally:
        _exit(0)


# Notebooks --------------------------------------------------------------------------------


def hold_descendants() -> None:
    """Stay alive, reaping, while any descendant lives: a notebook run hands its state
    from process to process, and the sandbox ends when its first process does."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if _fork() != 0:
        while True:
            try:
                os.wait()
            except ChildProcessError:
                _exit(0)
            except InterruptedError:
                continue


def first_error(exc: BaseException | None, cell: int) -> dict[str, Any]:
    line = None
    tb = exc.__traceback__ if exc is not None else None
    for frame in traceback.extract_tb(tb) if tb is not None else []:
        if frame.filename.startswith("<ipython-input-"):
            line = frame.lineno
    if isinstance(exc, SyntaxError):
        line = exc.lineno
    return {"cell": cell, "line": line, "error": describe_exception(exc)[:500] if exc else "?"}


def run_cells(
    cells: list[dict[str, Any]], cell_seconds: float, total_seconds: float, contain: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Execute a notebook's code cells in an IPython shell; return (namespace, report).

    Each cell runs in a forked child with its own deadline. A child that finishes carries
    on as the notebook's process (its parent leaves); a child that overruns is killed and
    the notebook goes on from the state before that cell. No cell can hold the rest
    hostage, whatever it does with signals.
    """
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Shell(InteractiveShell):
        def enable_gui(self, gui: object = None) -> None:
            """No event loop to hook: %matplotlib inline needs nothing more."""

    config = Config()
    config.HistoryManager.enabled = False
    shell = Shell.instance(config=config, colors="NoColor")
    report: dict[str, Any] = {"errors": [], "timeouts": [], "skipped": [], "ran": 0}
    end = time.monotonic() + total_seconds
    for cell in cells:
        left = end - time.monotonic()
        if left <= 0:
            report["skipped"].append(cell["number"])
            continue
        r, w = os.pipe()
        pid = _fork()
        if pid == 0:
            os.close(r)
            os.setpgid(0, 0)
            result = shell.run_cell(cell["source"], store_history=False)  # type: ignore[no-untyped-call]
            error = result.error_before_exec or result.error_in_exec
            os.write(w, b"done")
            os.close(w)
            report["ran"] += 1
            if error is not None:
                report["errors"].append(first_error(error, cell["number"]))
            continue
        os.close(w)
        ready = select.select([r], [], [], min(cell_seconds, left))[0]
        data = os.read(r, 1 << 16) if ready else b""
        os.close(r)
        if data:
            _exit(0)  # the child carries on with the notebook's state
        for kill in (os.kill, os.killpg):
            with contextlib.suppress(OSError):
                kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        if contain:
            sweep(set())
        report["ran"] += 1
        if not ready:
            report["timeouts"].append(cell["number"])
        else:
            ended = "the cell ended its own process (exit or os._exit?)"
            report["errors"].append({"cell": cell["number"], "line": None, "error": ended})
    return shell.user_ns, report


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
    parallel: int,
    contain: bool,
) -> None:
    """Answer case requests in the order they came, running up to ``parallel`` at once.

    With ``contain``, every process of this uid is ours (a uid or pid namespace of our
    own), and whatever a finished case left running is killed before the next starts.
    """
    queue: deque[Mapping[str, Any]] = deque()
    running: deque[Child] = deque()
    more = True
    while more or queue or running:
        while running and running[0].finished:
            write_all(res_fd, running.popleft().answer())
            if contain:
                sweep({c.pid for c in running})
        while queue and len(running) < parallel:
            case = queue[0]
            case_inputs = {name: inputs[f"{case['id']}:{name}"] for name in case["inputs"]}
            reap_answered()
            child = Child(namespace, case, case_inputs, seconds)
            if child.fork_error is not None and running:
                # A running case may be what fills the process limit: try again once it
                # has answered and what it left behind is swept away.
                os.close(child.fd)
                break
            running.append(child)
            queue.popleft()
        waiting = [c for c in running if not c.finished]
        if not (waiting or more):
            continue
        timeout = min((c.deadline for c in waiting), default=None)
        left = None if timeout is None else max(0.0, timeout - time.monotonic())
        fds = [c.fd for c in waiting] + ([req_fd] if more else [])
        ready = set(select.select(fds, [], [], left)[0])
        if req_fd in ready:
            try:
                request = read_request(req_fd)
            except EOFError:
                request = {"quit": True}
            if request.get("quit"):
                more = False
            else:
                queue.append(cases[request["case"]])
        now = time.monotonic()
        for child in waiting:
            if child.fd in ready:
                child.read()
            elif now >= child.deadline:
                child.timed_out = True


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    req_fd, res_fd = config["req_fd"], config["res_fd"]
    with open(os.path.join(config["job"], "job.json")) as f:
        job = json.load(f)
    inputs = load_inputs(os.path.join(config["job"], "inputs.npz"))
    if config["preload"]:
        # Without a sandbox's bind mounts the unprivileged uid may not be able to read the
        # interpreter's files: load what student code commonly imports while we still can.
        for name in PRELOAD:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
    drop_privileges(config["limits"], config.get("uid"))
    # Everything before this point is the grader's own setup; a failure there is not the
    # student's, and the grader tells the two apart by this message.
    write_message(res_fd, {"type": "started"})
    cases = {c["id"]: c for c in job["cases"]}
    sys.dont_write_bytecode = True
    sys.argv = [config["module"]]
    notebook_report = None
    try:
        if config.get("cells"):
            hold_descendants()
            with open(config["cells"]) as f:
                cells = json.load(f)
            sys.path.insert(0, config["source"])
            os.chdir(config["source"])
            namespace, notebook_report = run_cells(
                cells,
                float(config["cell_seconds"]),
                float(config["notebook_seconds"]),
                bool(config["contain"]),
            )
        else:
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
    write_message(res_fd, {"type": "ready", "functions": present, "notebook": notebook_report})
    serve(
        namespace,
        cases,
        inputs,
        req_fd,
        res_fd,
        float(config["case_seconds"]),
        int(config["parallel"]),
        bool(config["contain"]),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
