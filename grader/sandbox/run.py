"""Run one submission's cases in a worker and collect what came back, as values.

Every deadline is enforced here, from outside the worker: the import, each case (twice
the worker's own per-case limit, which it may give a case once more, plus a grace
period), and the submission as a whole. A
worker that dies or stops answering is replaced for the remaining cases; it never
takes the grader down with it.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from grader.config.limits import Limits
from grader.errors import Closed, Deadline, SandboxError, TransportError
from grader.sandbox.inside.frames import gradcheck_output
from grader.sandbox.job import Job
from grader.sandbox.results import (
    WORKER_STATUSES,
    CaseOutcome,
    CellError,
    Failure,
    FailureStatus,
    NotebookRun,
    RunResult,
)
from grader.sandbox.transport import Message
from grader.sandbox.worker import SandboxConfig, Worker
from grader.sandbox.zygote import zygote_child
from grader.submission.python2 import PYTHON2, looks_like_python2, removed_name_hint
from grader.submission.stage import Submission

# numpy (which the vectors need) is imported after a worker starts, not before.
if TYPE_CHECKING:
    import numpy as np

    from grader.vectors import CaseVector

# Time the worker needs, beyond its own per-case limit, to kill the case and report it.
GRACE_SECONDS = 2.0
# A case's wall-clock deadlines the worker may give it: a case that computes, slowed by a
# busy machine, gets its deadline once more to reach its CPU limit (inside/cases.py).
EXTENDED = 2
# Workers started for one submission before the remaining cases are given up.
MAX_WORKERS = 4
# Requests in flight at once: enough for the worker to run a function's cases in one
# child and overlap our reading with its next fork, small enough (a few KB) never to fill
# the request pipe.
WINDOW = 32


def failure_from(header: Mapping[str, object], default: FailureStatus) -> Failure:
    def text(key: str) -> str | None:
        value = header.get(key)
        return str(value)[:4000] if value is not None else None

    line = header.get("line")
    status = header.get("status", default)
    return Failure(
        # The worker runs student code: a status it made up counts as an error.
        status=status if status in WORKER_STATUSES else "error",
        message=text("error") or default,
        line=line if type(line) is int else None,
        file=text("file"),
        traceback=text("traceback"),
    )


def seconds_text(header: Mapping[str, object]) -> str:
    value = header.get("seconds")
    return f"{value:g}" if type(value) in (int, float) else "?"


def outcome_from(case: CaseVector, message: Message, seconds: float) -> CaseOutcome:
    """What a case's answer says, keeping only the outputs the case has."""
    case_id = case.id
    names = {o.name for o in case.outputs}
    header = message.header
    status = header.get("status")
    if header.get("type") != "result" or header.get("case") != case_id:
        failure = Failure("protocol", "the worker answered out of turn")
        return CaseOutcome(case_id, seconds, failure=failure)
    if status == "ok":
        kinds = header.get("kinds")
        if type(kinds) is not dict:
            kinds = {}
        mutated = header.get("mutated")
        return CaseOutcome(
            case_id,
            seconds,
            values={k: v for k, v in message.arrays.items() if k in names},
            kinds={str(k): str(v)[:80] for k, v in kinds.items()},
            rejected={k: v for k, v in message.rejected.items() if k in names},
            mutated=tuple(str(m)[:80] for m in mutated[:10]) if type(mutated) is list else (),
        )
    if status == "timeout":
        if header.get("clock") == "cpu":
            text = f"used more than {seconds_text(header)} s of CPU time"
        else:
            text = f"did not finish within {seconds_text(header)} s"
        return CaseOutcome(case_id, seconds, failure=Failure("timeout", text))
    if status == "killed":
        signal_name = str(header.get("signal"))[:20]
        return CaseOutcome(case_id, seconds, failure=Failure("killed", f"killed by {signal_name}"))
    return CaseOutcome(case_id, seconds, failure=failure_from(header, "error"))


def notebook_run(raw: object) -> NotebookRun | None:
    """The worker's account of running a notebook, reduced to what the grader reads:
    the worker runs student code, so its message may be anything."""
    if type(raw) is not dict:
        return None

    def cells(key: str) -> tuple[int, ...]:
        values = raw.get(key)
        return tuple(v for v in values if type(v) is int)[:100] if type(values) is list else ()

    def number(value: object) -> int | None:
        return value if type(value) is int else None

    errors = raw.get("errors")
    borrowed = raw.get("borrowed")
    return NotebookRun(
        errors=tuple(
            CellError(
                cell=number(e.get("cell")),
                line=number(e.get("line")),
                error=str(e.get("error"))[:500],
            )
            for e in (errors if type(errors) is list else [])[:100]
            if type(e) is dict
        ),
        timeouts=cells("timeouts"),
        skipped=cells("skipped"),
        borrowed=tuple(
            (where[:200], tuple(str(n)[:100] for n in names[:50]))
            for where, names in (list(borrowed.items())[:20] if type(borrowed) is dict else ())
            if type(where) is str and where.endswith(".py") and type(names) is list
        ),
    )


def by_function(cases: Iterable[CaseVector]) -> list[CaseVector]:
    """``cases`` with each function's together, in the order the functions first come: the
    worker runs consecutive cases of a function in one process."""
    first: dict[str, int] = {}
    for case in cases:
        first.setdefault(case.function, len(first))
    return sorted(cases, key=lambda c: first[c.function])


def not_run(cases: Iterable[CaseVector], reason: str) -> list[CaseOutcome]:
    return [CaseOutcome(c.id, 0.0, failure=Failure("not_run", reason)) for c in cases]


def memory_note(worker: Worker, limits: Limits) -> str:
    """Why a process of ``worker`` was killed, where its group ran out of memory."""
    if not worker.memory_killed():
        return ""
    return f": its processes used more than {limits.group_memory_mb} MB together"


def serve_cases(
    worker: Worker,
    pending: deque[CaseVector],
    limits: Limits,
    *,
    budget_end: float,
    outcomes: list[CaseOutcome],
) -> bool:
    """Run pending cases on a ready worker until none is left (True) or the worker must
    go (False: it missed a deadline or stopped answering).

    Up to WINDOW requests are in flight, so the worker forks the next case while we read
    the last one. The worker answers in order, so each answer is due within the case
    limit (twice, see EXTENDED, plus grace) of the one before it.
    """
    in_flight = 0
    since = time.monotonic()
    while pending:
        case = pending[0]
        try:
            while in_flight < min(WINDOW, len(pending)):
                worker.request(pending[in_flight].id)
                in_flight += 1
            message = worker.reader.read(
                min(since + EXTENDED * worker.case_wall_seconds + GRACE_SECONDS, budget_end),
                case.answer_cap,
            )
        except Deadline:
            pending.popleft()
            text = f"did not finish within {worker.case_wall_seconds:g} s"
            failure = Failure("timeout", text)
            outcomes.append(CaseOutcome(case.id, time.monotonic() - since, failure=failure))
            return False
        except (Closed, OSError, TransportError) as exc:
            pending.popleft()
            reason = str(exc) if isinstance(exc, TransportError) else "the worker process died"
            reason += memory_note(worker, limits)
            outcomes.append(
                CaseOutcome(case.id, time.monotonic() - since, failure=Failure("crash", reason))
            )
            return False
        pending.popleft()
        in_flight -= 1
        now = time.monotonic()
        outcome = outcome_from(case, message, now - since)
        if outcome.failure and outcome.failure.status == "killed":
            failure = outcome.failure
            text = failure.message + memory_note(worker, limits)
            outcome = replace(outcome, failure=replace(failure, message=text))
        outcomes.append(outcome)
        since = now
    return True


def numeric_from(case: CaseVector, message: Message) -> dict[str, np.ndarray]:
    """The partials a gradient check's answer holds for ``case``'s outputs ({} where it
    is not that check's answer, or the check failed)."""
    header = message.header
    if (header.get("type"), header.get("case"), header.get("status")) != ("result", case.id, "ok"):
        return {}
    names = {o.name for o in case.outputs}
    return {k: v for k, v in message.arrays.items() if gradcheck_output(k) in names}


def run_checks(
    worker: Worker, wanted: Sequence[CaseVector], budget_end: float, outcomes: list[CaseOutcome]
) -> bool:
    """Ask ``worker``, which has answered every case, for the gradient checks of ``wanted``
    and put what comes back in their ``outcomes`` (``numeric``). A check only ever adds
    feedback: one that fails, hangs or ends the worker is dropped, and the case's outcome
    stays as it was. True where the worker answered every check."""
    at = {o.case_id: i for i, o in enumerate(outcomes)}
    try:
        for case in wanted:
            worker.request(case.id, check=True)
        since = time.monotonic()
        for case in wanted:
            # The worker gives a check a third of a case's time; this is the backstop.
            end = min(since + worker.case_wall_seconds + GRACE_SECONDS, budget_end)
            message = worker.reader.read(end, case.answer_cap)
            since = time.monotonic()
            i = at[case.id]
            outcomes[i] = replace(outcomes[i], numeric=numeric_from(case, message))
    except (Deadline, Closed, OSError, TransportError):
        # The worker is gone or stuck (what a check did, or anything else): the checks
        # not answered yet are dropped.
        return False
    return True


def import_hint(failure: Failure) -> Failure:
    """Add what a student needs to know to the usual reasons an import fails."""
    hint = ""
    if looks_like_python2(failure.message):
        hint = f"; {PYTHON2} (print(...), //)"
    elif removed := removed_name_hint(failure.message):
        hint = f"; {removed}"
    elif failure.message.startswith("ModuleNotFoundError") and not failure.message.endswith(")"):
        # Unless the worker said already whose module it is (inside/calls.py).
        hint = "; your code can use numpy and the standard library, and its own files"
    return replace(failure, message=failure.message + hint) if hint else failure


def start_worker(
    config: SandboxConfig,
    limits: Limits,
    job: Job,
    submission: Submission,
    budget_end: float,
    held: Worker | None = None,
    reuse: bool = False,
) -> tuple[Worker, Failure | None, Message | None]:
    """Start a worker (or release ``held``, started before the job was written; or, with
    ``reuse``, fork one from the slot's zygote where the submission allows) and wait for
    it to import the module or run the notebook: (worker, failure, its "ready" message)."""
    if held is not None:
        worker = held
        with contextlib.suppress(OSError):  # it has ended already: wait_started says so
            worker.release()
    else:
        child = zygote_child(config, limits, job, submission) if reuse else None
        if child is not None:
            try:
                child.wait_started()
            except SandboxError:
                # The zygote's child never said it started (wait_started ended the
                # zygote): the grader's trouble, not the student's; a worker of its own.
                child = None
        worker = child or Worker(config, limits, job, submission)
    cells, module = submission.cells, submission.module
    import_end = time.monotonic() + limits.import_seconds
    if cells:
        import_end += limits.notebook_seconds + GRACE_SECONDS
    try:
        if not worker.started:
            worker.wait_started()
        hello = worker.reader.read(min(import_end, budget_end))
    except Deadline:
        if budget_end < import_end:
            text = f"the submission's time budget ({limits.submission_seconds:g} s) ran out"
            return worker, Failure("not_run", text), None
        if cells:
            seconds = limits.import_seconds + limits.notebook_seconds
            text = f"running the notebook did not finish within {seconds:g} s"
        else:
            text = f"importing {module} did not finish within {limits.import_seconds:g} s"
        return worker, Failure("timeout", text), None
    except (Closed, TransportError):
        text = f"the process ended while importing {module} (os._exit at import?)"
        return worker, Failure("exit", text), None
    except BaseException:
        worker.close()
        raise
    if hello.header.get("type") == "import_error":
        return worker, import_hint(failure_from(hello.header, "import_error")), None
    return worker, None, hello


def run_submission(
    config: SandboxConfig,
    limits: Limits,
    job: Job,
    submission: Submission,
    held: Worker | None = None,
    checks: Callable[[Sequence[CaseOutcome]], Iterable[str]] | None = None,
    reuse: bool = False,
) -> RunResult:
    """Run every case of ``job`` on the staged ``submission``: on its module, or on what
    its notebook defines; first on ``held``, a worker started for it before the job was
    written (Worker's ``hold``), where there is one. Once every case has answered,
    ``checks`` (given their outcomes) names the cases whose gradient check to run as well
    (the grader's choice: those a verdict could use). With ``reuse`` (a class), workers
    are forked from the slot's zygote where the submission allows (zygote.py)."""
    start = time.monotonic()
    budget_end = start + limits.submission_seconds
    outcomes: list[CaseOutcome] = []
    pending = deque(by_function(job.cases))
    output = bytearray()
    functions: tuple[str, ...] = ()
    notebook: NotebookRun | None = None
    import_failure: Failure | None = None
    restart_failure: Failure | None = None
    gaps: tuple[str, ...] | None = None
    workers = 0
    while pending and workers < MAX_WORKERS and time.monotonic() < budget_end:
        workers += 1
        worker, failure, hello = start_worker(
            config,
            limits,
            job,
            submission,
            budget_end,
            held if workers == 1 else None,
            reuse=reuse,
        )
        if gaps is None and worker.started:
            gaps = worker.gaps
        answered = False
        try:
            if hello is not None:
                raw = hello.header.get("functions")
                if not functions and type(raw) is list:
                    functions = tuple(str(f) for f in raw)
                if notebook is None:
                    notebook = notebook_run(hello.header.get("notebook"))
                answered = serve_cases(
                    worker, pending, limits, budget_end=budget_end, outcomes=outcomes
                )
                if answered and checks is not None:
                    by_id = {c.id: c for c in job.cases}
                    wanted = [by_id[i] for i in checks(outcomes)]
                    answered = run_checks(worker, wanted, budget_end, outcomes)
        finally:
            # A worker that answered everything may tidy up and leave; any other is killed.
            worker.close(finished=answered)
            output += worker.output
        if failure is not None:
            # Only the first import is the submission's import; a replacement worker that
            # fails (say, the budget ran out) only ends the run.
            if workers == 1 and failure.status != "not_run":
                import_failure = failure
            else:
                restart_failure = failure
            break
    if held is not None and workers == 0:
        held.close()  # nothing to run, or no time left to run it
    if import_failure is not None:
        reason = f"not run: {import_failure.message}"
    elif restart_failure is not None:
        reason = f"not run: {restart_failure.message}"
    elif time.monotonic() >= budget_end:
        reason = f"not run: the submission's time budget ({limits.submission_seconds:g} s) ran out"
    else:
        reason = "not run: the worker kept dying"
    outcomes.extend(not_run(pending, reason))
    return RunResult(
        module=submission.module,
        isolation=config.mode,
        outcomes=tuple(outcomes),
        import_failure=import_failure,
        functions=functions,
        notebook=notebook,
        output=output[:65536].decode("utf-8", "replace"),
        seconds=time.monotonic() - start,
        gaps=gaps or (),
    )
