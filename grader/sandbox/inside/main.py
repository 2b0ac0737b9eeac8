"""The worker: the untrusted side of grading, one process per submission.

It receives inputs and never expected values. Everything it sends back is checked again
by the grader: nothing here decides a score.

Protocol (frames, see frames.py):
  grader -> worker   {"go": true} first, to a worker started before its job was written
                     ("hold" in its settings); {"case": CASE_ID} per request, then
                     {"check": CASE_ID} per gradient check it wants (gradcheck.py);
                     {"quit": true} (or closing the pipe) to stop
  worker -> grader   {"type": "started", "network_cut", "limits_skipped", "filtered"} once the
                     grader's own setup is done (what it could not take away), then
                     {"type": "ready", "functions": [...], "notebook": ...} or
                     {"type": "import_error", ...}, then one {"type": "result", ...} per
                     request (case or check), followed by its arrays

The grader starts it (grader/sandbox/worker.py) with ``-I -S`` and a bootstrap that puts
this package's folder and numpy's on ``sys.path``, then calls ``main`` with its settings.
Started as a slot's zygote ("zygote" in its settings), it does its setup once and forks
each submission's worker, which goes on from "started" as above (zygote.py).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import sys
import types
from typing import Any

import numpy as np

from . import calls
from .calls import describe_exception, error_message
from .frames import read_request, write_message
from .privileges import (
    apply_limits,
    clear_keyrings,
    cut_network,
    drop_privileges,
    install_filter,
)
from .processes import adopt_orphans, reap_all, sweep
from .serve import serve
from .zygote import serve_forks

# Bound before any student code runs, which may replace the os module's functions.
_exit = os._exit

# What student code commonly imports, loaded before the privilege drop where the worker's
# uid may not be able to read the interpreter's files afterwards.
PRELOAD = (
    "copy", "math", "random", "itertools", "functools", "collections", "operator", "numbers",
    "typing", "dataclasses", "string", "re", "time", "warnings", "numpy.linalg", "numpy.random",
)  # fmt: skip


def load_namespace(module: str, source_dir: str) -> dict[str, Any]:
    sys.path.insert(0, source_dir)
    os.chdir(source_dir)
    return vars(importlib.import_module(module))


def load_inputs(path: str, index: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    """The arrays of the job's inputs.bin: views of one writable buffer (cases copy them
    before any call), by the index the grader wrote to job.json."""
    with open(path, "rb") as f:
        data = bytearray(os.fstat(f.fileno()).st_size)
        f.readinto(data)
    arrays = {}
    for key, (dtype, shape, offset) in index.items():
        kind = np.dtype(dtype)
        count = math.prod(shape)
        arrays[key] = np.frombuffer(data, kind, count, offset).reshape(tuple(shape))
    return arrays


def load_submission(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The submission's namespace, from its module or by running its notebook's cells;
    and, for a notebook, the report of running it."""
    calls.submission_dir = config["source"]
    if not config.get("cells"):
        namespace = load_namespace(config["module"], config["source"])
        return namespace, failed_imports(namespace.get(FAILED_IMPORTS))
    # Only a notebook's worker needs it (and what it imports).
    from .cells import hold_descendants, run_cells

    hold_descendants()
    with open(config["cells"]) as f:
        cells = json.load(f)
    sys.path.insert(0, config["source"])
    os.chdir(config["source"])
    return run_cells(
        cells,
        float(config["cell_seconds"]),
        float(config["notebook_seconds"]),
        bool(config["contain"]),
    )


# Where a notebook's definitions, extracted without running it (grader/submission/
# extract.py), keep the imports that failed: (cell, line, exception).
FAILED_IMPORTS = "__layergrade_failed_imports__"


def failed_imports(found: object) -> dict[str, Any] | None:
    """An extracted notebook's failed imports as the report of a notebook run (the grader
    names each cell and line), or None."""
    if type(found) is not list or not found:
        return None
    errors = [
        {"cell": cell, "line": line, "error": describe_exception(exc)[:500]}
        for cell, line, exc in (f for f in found[:100] if type(f) is tuple and len(f) == 3)
        if isinstance(exc, BaseException)
    ]
    return {"errors": errors, "timeouts": [], "skipped": []}


def borrow(
    namespace: dict[str, Any], wanted: set[str], source: str, report: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Put in a notebook's ``namespace`` the graded functions it lacks that a module of the
    submission defines and the notebook's imports loaded, and say so in its ``report``.

    The course's notebooks get the layers through a chain (``from
    cs231n.classifiers.fc_net import *`` imports cs231n.layers, then layer_utils, then
    fast_layers); when a later link fails (torch, a Cython build), the star import binds
    nothing, though the student's cs231n/layers.py was imported and is what they wrote.
    (A notebook that uses ``import cs231n.layers as L`` is graded on that module too.)"""
    found: dict[str, list[str]] = {}
    missing = {name for name in wanted if not callable(namespace.get(name))}
    for module in list(sys.modules.values()) if missing else ():
        try:  # the submission's code has run: a module may be anything (or have no file)
            where = os.path.relpath(module.__file__, source)  # type: ignore[arg-type]
            defined, module_name = dict(vars(module)), module.__name__
        except Exception:
            continue
        if where.startswith(os.pardir):
            continue
        for name in sorted(missing):
            fn = defined.get(name)
            if callable(fn) and getattr(fn, "__module__", None) == module_name:
                namespace[name] = fn
                missing.discard(name)
                found.setdefault(where, []).append(name)
    if not found:
        return report
    report = report or {"errors": [], "timeouts": [], "skipped": []}
    report["borrowed"] = found
    return report


def stand_in() -> types.ModuleType:
    """``layergrade`` while grading. The student's own check (``import layergrade`` then
    ``layergrade.check(...)``) is for their kernel and is not mounted here: it says it does
    not run, rather than failing as a missing module the student did nothing wrong with."""
    module = types.ModuleType("layergrade", "The in-notebook check; not run while grading.")

    def check(*functions: object, **options: object) -> None:
        print("(not run while grading: layergrade.check)")

    def load_ipython_extension(ipython: object) -> None:
        """Nothing: the sandbox's shell says %check does not run (cells.py)."""

    module.__dict__.update(check=check, load_ipython_extension=load_ipython_extension)
    return module


def read_all(fd: int) -> bytes:
    """What the grader wrote to ``fd`` (a pipe it has closed), then close it."""
    with open(fd, "rb") as f:
        return f.read()


def load_job(folder: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The job's cases (job.json) and their inputs."""
    with open(os.path.join(folder, "job.json")) as f:
        job = json.load(f)
    return job, load_inputs(os.path.join(folder, "inputs.bin"), job["inputs"])


def main(settings: str) -> int:
    config = json.loads(settings)
    res_fd = config["res_fd"]
    adopt_orphans()
    if config["preload"]:
        for name in PRELOAD:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
    network_cut = cut_network() if config["cut_network"] else None
    program = read_all(config["filter_fd"]) if config.get("filter_fd") is not None else b""
    skipped = drop_privileges(config["limits"], config.get("uid"))
    if config.get("uid") is not None:
        clear_keyrings()
    filtered = install_filter(program) if program else None
    if config.get("hold"):
        # Started while the grader was still writing the job: wait for its word.
        try:
            go = read_request(config["req_fd"])
        except (EOFError, ValueError):
            go = {}
        if go.get("go") is not True:
            _exit(0)
    job, inputs = load_job(config["job"])
    # Everything before this point is the grader's own setup; a failure there is not the
    # student's, and the grader tells the two apart by this message.
    started = {"network_cut": network_cut, "limits_skipped": skipped, "filtered": filtered}
    if config.get("zygote") is not None:

        def child(settings: dict[str, Any], req_fd: int, res_fd: int) -> None:
            # A fresh process for one submission of the class (zygote.py): its own
            # limits (its CPU time counts from zero), its own pipes.
            adopt_orphans()
            child_skipped = apply_limits(settings["limits"])
            mine = dict(started, limits_skipped=sorted({*skipped, *child_skipped}))
            write_message(res_fd, dict(mine, type="started"))
            run(dict(config, **settings, req_fd=req_fd, res_fd=res_fd), job, inputs)

        notebook, keep = bool(config.get("cells")), frozenset(config.get("keep", ()))
        serve_forks(config["zygote"], res_fd, started, child, notebook=notebook, keep=keep)
        _exit(0)
    write_message(res_fd, dict(started, type="started"))
    run(config, job, inputs)
    return 0


def run(config: dict[str, Any], job: dict[str, Any], inputs: dict[str, np.ndarray]) -> None:
    """Load the submission and answer the grader's requests, then exit."""
    res_fd = config["res_fd"]
    sys.dont_write_bytecode = True
    sys.argv = [config["module"]]
    sys.modules["layergrade"] = stand_in()
    try:
        namespace, notebook_report = load_submission(config)
    except BaseException as exc:
        header = error_message(exc, "import_error")
        header["type"] = "import_error"
        if isinstance(exc, SyntaxError):
            header["line"], header["file"] = exc.lineno, os.path.basename(exc.filename or "")
        write_message(res_fd, header)
        _exit(0)
    wanted = {call["fn"] for c in job["cases"] for call in c["calls"]}
    if config.get("notebook"):
        notebook_report = borrow(namespace, wanted, config["source"], notebook_report)
    present = sorted(name for name in wanted if callable(namespace.get(name)))
    write_message(res_fd, {"type": "ready", "functions": present, "notebook": notebook_report})
    serve(
        namespace,
        {c["id"]: c for c in job["cases"]},
        inputs,
        req_fd=config["req_fd"],
        res_fd=res_fd,
        seconds=float(config["case_seconds"]),
        wall_seconds=float(config["case_wall_seconds"]),
        parallel=int(config["parallel"]),
        contain=bool(config["contain"]),
    )
    if config["contain"]:
        sweep(set())
    reap_all()
    # Not sys.exit: the submission's module may have registered exit handlers.
    _exit(0)
