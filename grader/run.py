"""Run one submission's cases in a worker and collect what came back, as values.

Every deadline is enforced here, from outside the worker: the import, each case (the
worker's own per-case limit plus a grace period), and the submission as a whole. A
worker that dies or stops answering is replaced for the remaining cases; it never
takes the grader down with it.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader.sandbox import Limits, SandboxConfig, Worker
from grader.transport import Closed, Deadline, Message, TransportError
from grader.vectors import CaseVector, save_npz

# Time the worker needs, beyond its own per-case limit, to kill the case and report it.
GRACE_SECONDS = 2.0
# Workers started for one submission before the remaining cases are given up.
MAX_WORKERS = 4


@dataclass(frozen=True)
class Failure:
    """Why the student's code did not produce a usable value."""

    status: str
    message: str
    line: int | None = None
    file: str | None = None
    traceback: str | None = None


@dataclass(frozen=True)
class CaseOutcome:
    case_id: str
    seconds: float
    values: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)
    kinds: Mapping[str, str] = field(default_factory=dict)
    rejected: Mapping[str, str] = field(default_factory=dict)
    failure: Failure | None = None
    # "function:argument" for each array argument the submission changed in place.
    mutated: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunResult:
    module: str
    sandboxed: bool
    outcomes: tuple[CaseOutcome, ...]
    import_failure: Failure | None
    functions: tuple[str, ...]
    output: str
    seconds: float


class Job:
    """The inputs of a set of cases, written once to a folder the worker can read."""

    def __init__(self, cases: Sequence[CaseVector]) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="layergrade-job-")
        self.path = Path(self._dir.name)
        self.path.chmod(0o755)
        self.cases = tuple(cases)
        (self.path / "job.json").write_text(json.dumps({"cases": [c.spec() for c in cases]}))
        arrays = {f"{c.id}:{k}": v for c in cases for k, v in c.inputs.items()}
        save_npz(self.path / "inputs.npz", arrays)
        for p in self.path.iterdir():
            p.chmod(0o644)

    def close(self) -> None:
        self._dir.cleanup()

    def __enter__(self) -> Job:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def failure_from(header: Mapping[str, object], default: str) -> Failure:
    def text(key: str) -> str | None:
        value = header.get(key)
        return str(value)[:4000] if value is not None else None

    line = header.get("line")
    return Failure(
        status=str(header.get("status", default))[:40],
        message=text("error") or default,
        line=line if type(line) is int else None,
        file=text("file"),
        traceback=text("traceback"),
    )


def seconds_text(header: Mapping[str, object]) -> str:
    value = header.get("seconds")
    return f"{value:g}" if type(value) in (int, float) else "?"


def outcome_from(case_id: str, message: Message, seconds: float) -> CaseOutcome:
    header = message.header
    status = header.get("status")
    if header.get("type") != "result":
        return CaseOutcome(case_id, seconds, failure=Failure("protocol", "unexpected message"))
    if status == "ok":
        kinds = header.get("kinds")
        if type(kinds) is not dict:
            kinds = {}
        mutated = header.get("mutated")
        return CaseOutcome(
            case_id,
            seconds,
            values=message.arrays,
            kinds={str(k): str(v)[:80] for k, v in kinds.items()},
            rejected=message.rejected,
            mutated=tuple(str(m)[:80] for m in mutated[:10]) if type(mutated) is list else (),
        )
    if status == "timeout":
        return CaseOutcome(
            case_id,
            seconds,
            failure=Failure("timeout", f"did not finish within {seconds_text(header)} s"),
        )
    if status == "killed":
        signal_name = str(header.get("signal"))[:20]
        return CaseOutcome(case_id, seconds, failure=Failure("killed", f"killed by {signal_name}"))
    return CaseOutcome(case_id, seconds, failure=failure_from(header, "error"))


def run_submission(
    config: SandboxConfig,
    limits: Limits,
    job: Job,
    source: Path,
    module: str,
) -> RunResult:
    """Run every case of ``job`` on the submission's ``module`` found under ``source``."""
    start = time.monotonic()
    budget_end = start + limits.submission_seconds
    outcomes: list[CaseOutcome] = []
    pending = list(job.cases)
    output = bytearray()
    functions: tuple[str, ...] = ()
    import_failure: Failure | None = None
    workers = 0
    while pending and workers < MAX_WORKERS and time.monotonic() < budget_end:
        workers += 1
        worker = Worker(config, limits, job.path, source, module)
        try:
            worker.wait_started()
            ready_by = min(time.monotonic() + limits.import_seconds, budget_end)
            try:
                hello = worker.reader.read(ready_by)
            except Deadline:
                import_failure = Failure(
                    "timeout",
                    f"importing {module} did not finish within {limits.import_seconds:g} s",
                )
                break
            except (Closed, TransportError):
                import_failure = Failure(
                    "exit",
                    f"the process ended while importing {module} (sys.exit or os._exit at import?)",
                )
                break
            if hello.header.get("type") == "import_error":
                import_failure = failure_from(hello.header, "import_error")
                break
            raw = hello.header.get("functions")
            functions = tuple(str(f) for f in raw) if type(raw) is list else ()
            while pending:
                case = pending[0]
                case_start = time.monotonic()
                deadline = min(case_start + limits.case_seconds + GRACE_SECONDS, budget_end)
                try:
                    worker.request(case.id)
                    message = worker.reader.read(deadline)
                except Deadline:
                    pending.pop(0)
                    outcomes.append(
                        CaseOutcome(
                            case.id,
                            time.monotonic() - case_start,
                            failure=Failure(
                                "timeout", f"did not finish within {limits.case_seconds:g} s"
                            ),
                        )
                    )
                    break
                except (Closed, BrokenPipeError, TransportError) as exc:
                    pending.pop(0)
                    reason = (
                        str(exc) if isinstance(exc, TransportError) else "the worker process died"
                    )
                    outcomes.append(
                        CaseOutcome(
                            case.id, time.monotonic() - case_start, failure=Failure("crash", reason)
                        )
                    )
                    break
                pending.pop(0)
                outcomes.append(outcome_from(case.id, message, time.monotonic() - case_start))
        finally:
            worker.close()
            output += worker.output
    for case in pending:
        reason = (
            f"not run: {import_failure.message}"
            if import_failure
            else f"not run: the submission's time budget ({limits.submission_seconds:g} s) ran out"
            if time.monotonic() >= budget_end
            else "not run: the worker kept dying"
        )
        outcomes.append(CaseOutcome(case.id, 0.0, failure=Failure("not_run", reason)))
    return RunResult(
        module=module,
        sandboxed=config.sandboxed,
        outcomes=tuple(outcomes),
        import_failure=import_failure,
        functions=functions,
        output=output[:65536].decode("utf-8", "replace"),
        seconds=time.monotonic() - start,
    )
