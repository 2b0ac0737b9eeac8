"""Grade a whole class: in parallel, resumable, and never losing a graded result.

Every result is written atomically to ``OUTDIR/results/<id>.json`` as soon as it is
graded, keyed by a hash of the submission's bytes, the rubric, the vectors and the
grader version: a rerun skips what is unchanged, so a batch killed at any moment loses
only the submissions in flight.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from grader import __version__
from grader.api import grade_submission
from grader.batch.entries import Entry, content_hash, find_entries
from grader.batch.gradebook import canvas_import, gradebook
from grader.batch.records import StudentRecord
from grader.batch.roster import Override, Roster
from grader.batch.store import ResultStore, write_atomic
from grader.batch.summary import ClassSummary, summarise
from grader.config.options import SourceOptions
from grader.config.rubric import Rubric
from grader.errors import SandboxError, SubmissionError, host_failure
from grader.grading.score import with_late_policy
from grader.report import json_report, markdown, terminal
from grader.report.hygiene import plain
from grader.sandbox.job import Job
from grader.sandbox.worker import SandboxConfig
from grader.submission.budget import Budget
from grader.vectors import CaseVector

if TYPE_CHECKING:
    from grader.batch.cluster import Cluster

T = TypeVar("T")
# Called after each graded submission with (its record, graded so far, to grade in all).
Progress = Callable[[StudentRecord, int, int], None]
# Feedback files are read in editors and LMS comment boxes: narrower than a terminal.
FEEDBACK_WIDTH = 100


class Batch:
    """One batch run into ``outdir``; see the module docstring."""

    def __init__(
        self,
        rubric: Rubric,
        cases: tuple[CaseVector, ...],
        configs: Sequence[SandboxConfig],
        *,
        outdir: Path,
        options: SourceOptions,
        vectors_digest: str,
        cluster: Cluster | None = None,
    ) -> None:
        self.rubric, self.cases, self.options = rubric, cases, options
        self.cluster = cluster
        self.store = ResultStore(outdir)
        self.configs: queue.Queue[SandboxConfig] = queue.Queue()
        for config in configs:
            self.configs.put(config)
        self.parallel = len(configs)
        settings = json.dumps(
            [__version__, vectors_digest, options.module, options.source, options.execute]
        )
        self.base = hashlib.sha256(rubric.path.read_bytes() + settings.encode()).hexdigest()
        self.root = "\0"

    def key(self, entry: Entry) -> str:
        """What the result depends on: the grading settings and the entry's content (every
        entry's, for a student with several), hashed within the rubric's staging limit."""
        budget = Budget.start(self.rubric.limits.staging_seconds)
        if entry.clash:
            paths = [entry.path.parent / name for name in entry.clash]
            contents = "".join(f"{p.name}:{content_hash(p, budget)};" for p in paths)
        else:
            # Not the entry's name: twins who hand in the same bytes get the same key.
            contents = content_hash(entry.path, budget)
        # What staff and the platform said about it: the file to grade, and the times.
        times = [t.isoformat() if t else "" for t in (entry.submitted, entry.due)]
        decided = json.dumps([entry.module, *times])
        return hashlib.sha256((self.base + contents + decided).encode()).hexdigest()

    def grade(
        self,
        entry: Entry,
        key: str,
        name: str | None,
        job: Job,
        unreadable: SubmissionError | None = None,
    ) -> StudentRecord:
        """Grade ``entry`` into its record; ``unreadable`` is why hashing it failed, which
        becomes the record's reason without staging it."""
        config = self.configs.get()
        start = time.monotonic()
        try:
            graded = (
                Graded.failed(unreadable, self.root)
                if unreadable is not None
                else grade_entry(
                    entry, self.rubric, self.cases, config, job, self.options, self.root
                )
            )
        finally:
            self.configs.put(config)
        return self.record(entry, key, name, graded, time.monotonic() - start)

    def record(
        self, entry: Entry, key: str, name: str | None, graded: Graded, seconds: float
    ) -> StudentRecord:
        """Save what grading ``entry`` gave, here or on a cluster's worker, as its record
        and feedback."""
        if graded.error is None:
            self.store.save_feedback(entry.student, graded.text or "", graded.markdown)
        else:
            self.store.save_feedback(entry.student, f"Not graded: {graded.error}\n")
        record = StudentRecord(
            student=entry.student,
            name=name,
            key=key,
            seconds=round(seconds, 3),
            status="graded" if graded.error is None else "error",
            error=graded.error,
            host_error=graded.host_error,
            report=graded.report,
            detail=graded.detail,
        )
        self.store.save(record)
        return record

    def run(
        self,
        entries: Sequence[Entry],
        names: Mapping[str, str],
        force: bool,
        progress: Progress,
    ) -> tuple[list[StudentRecord], Counter[str]]:
        """Grade what changed; return every entry's record and how many were graded."""
        counts: Counter[str] = Counter()
        records: dict[str, StudentRecord] = {}
        todo: list[tuple[Entry, str, SubmissionError | None]] = []
        # The folder holding the entries, as it appears in messages (then removed).
        self.root = f"{entries[0].path.parent}{os.sep}" if entries else "\0"
        for entry in entries:
            unreadable = None
            try:
                key = self.key(entry)
            except Exception as exc:
                # Recorded below with the reason, and never taken as unchanged: graded, so
                # that grading names what is wrong, unless hashing named it already (a
                # budget spent, folders nested too deep), which staging would only repeat.
                key = f"unreadable:{type(exc).__name__}"
                unreadable = exc if isinstance(exc, SubmissionError) else None
            old = self.store.load(entry.student)
            # An error of the host (a full disk) is tried again; the submission's own are kept.
            unchanged = old is not None and old.key == key and not key.startswith("unreadable:")
            if not force and unchanged and old is not None and not old.host_error:
                records[entry.student] = old
                counts["unchanged"] += 1
            else:
                todo.append((entry, key, unreadable))
        if self.cluster is not None:
            for entry, record in self.run_on_cluster(self.cluster, todo, names):
                records[entry.student] = record
                counts["graded"] += 1
                counts["errors"] += record.status == "error"
                counts["host_errors"] += record.host_error
                progress(record, counts["graded"], len(todo))
            return [records[e.student] for e in entries], counts
        with Job(self.cases) as job, ThreadPoolExecutor(self.parallel) as pool:
            futures = [
                pool.submit(
                    self.grade, entry, key, names.get(entry.student, entry.name), job, unreadable
                )
                for entry, key, unreadable in todo
            ]
            try:
                for (entry, _, _), future in zip(todo, futures, strict=True):
                    record = future.result()
                    records[entry.student] = record
                    counts["graded"] += 1
                    counts["errors"] += record.status == "error"
                    counts["host_errors"] += record.host_error
                    progress(record, counts["graded"], len(todo))
            except BaseException:
                # Ctrl-C: what is graded is on disk; stop instead of grading the rest.
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        return [records[e.student] for e in entries], counts

    def run_on_cluster(
        self,
        cluster: Cluster,
        todo: Sequence[tuple[Entry, str, SubmissionError | None]],
        names: Mapping[str, str],
    ) -> Iterator[tuple[Entry, StudentRecord]]:
        """Grade ``todo`` on ``cluster``; what cannot be sent (an entry whose hashing
        failed, two entries of one student) is recorded here, as a local batch would."""
        remote = []
        for entry, key, unreadable in todo:
            name = names.get(entry.student, entry.name)
            problem = unreadable or (clash(entry) if entry.clash else None)
            if problem is None:
                remote.append((entry, key, name))
            else:
                yield entry, self.record(entry, key, name, Graded.failed(problem, self.root), 0.0)
        for i, graded, seconds in cluster.grade([e for e, _, _ in remote], self.root):
            entry, key, name = remote[i]
            yield entry, self.record(entry, key, name, graded, seconds)


@dataclass(frozen=True)
class Graded:
    """What grading one entry gave: its report and feedback, or why it was not graded.
    Plain data (JSON), so that a cluster's worker can send it back."""

    report: dict[str, Any] | None = None
    text: str | None = None
    markdown: str | None = None
    error: str | None = None
    # The error was the host's (a full disk, a lost worker): graded again next run.
    host_error: bool = False
    # For the staff: the traceback of a grader failure this submission caused.
    detail: str | None = None

    @classmethod
    def failed(cls, exc: BaseException, root: str) -> Graded:
        """The entry could not be graded because of ``exc``: its reason, and whose fault."""
        detail = None
        host_error = False
        if isinstance(exc, SubmissionError):
            error = str(exc)
        elif isinstance(exc, OSError):
            # The host's (a full disk) is tried again next run; any other (a file the
            # submission made unreadable) is the submission's.
            error = f"{exc.strerror or type(exc).__name__}: {exc}"
            host_error = host_failure(exc)
        elif isinstance(exc, SandboxError):
            error, host_error = str(exc), True
        else:
            # What this submission made the grader fail on: recorded, never the batch's
            # end, and tried again next run (the grader may have been fixed by then).
            error = (
                f"the grader could not grade this submission ({type(exc).__name__}); the "
                "course staff have the details"
            )
            detail = "".join(traceback.format_exception(exc))
            host_error = True
        return cls(error=plain(error.replace(root, "")), host_error=host_error, detail=detail)


def clash(entry: Entry) -> SubmissionError:
    return SubmissionError(
        f"several entries are this student's: {', '.join(entry.clash)}.\nHint: keep one "
        "of them and grade again."
    )


def default_slots() -> int:
    """Parallel slots where ``-j`` is not given: one per core this process may run on, and
    one more, which runs while the others' workers start and their results are scored (a
    class of 150 on 2 cores, four interleaved pairs of runs: -j 3 took 12.9 s at the
    median, -j 2 15.3 s, and -j 3 was faster in every pair)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return cores + 1


def grade_entry(
    entry: Entry,
    rubric: Rubric,
    cases: tuple[CaseVector, ...],
    config: SandboxConfig,
    job: Job,
    options: SourceOptions,
    root: str,
) -> Graded:
    """Grade one entry in ``config``'s slot; ``root`` (the folder of the class, as it
    appears in messages) is removed from everything the student sees."""
    try:
        if entry.clash:
            raise clash(entry)
        if entry.module is not None:
            options = replace(options, module=entry.module, source="module")
        result = grade_submission(
            entry.path, rubric, cases, config, job, options=options, in_class=True, reuse=True
        )
        if entry.submitted is not None:
            # The student's own time (the platform's, or the overrides'), never now.
            result = with_late_policy(result, rubric.late, entry.submitted, entry.due)
        # Students see their entry's name, not where the class lies on this machine.
        result = scrub(replace(result, submission=entry.path.name), root)
        return Graded(
            report=json_report.to_dict(result),
            text=terminal.render(result, width=FEEDBACK_WIDTH),
            markdown=markdown.render(result),
        )
    except Exception as exc:
        return Graded.failed(exc, root)


def scrub(value: T, text: str) -> T:
    """``value`` with ``text`` removed from every string in it: in lists, tuples, dicts
    and dataclasses (a GradeResult, before any report is rendered from it)."""
    found: Any = value
    if isinstance(found, str):
        return found.replace(text, "")  # type: ignore[return-value]
    if isinstance(found, list | tuple) and not hasattr(found, "_fields"):
        return type(found)(scrub(v, text) for v in found)  # type: ignore[return-value]
    if isinstance(found, dict):
        return {k: scrub(v, text) for k, v in found.items()}  # type: ignore[return-value]
    if is_dataclass(found) and not isinstance(found, type):
        changes = {f.name: scrub(getattr(found, f.name), text) for f in fields(found) if f.init}
        return replace(found, **changes)  # type: ignore[return-value]
    return value


def grade_class(
    submissions: Path,
    outdir: Path,
    rubric: Rubric,
    cases: tuple[CaseVector, ...],
    configs: Sequence[SandboxConfig],
    *,
    vectors_digest: str,
    options: SourceOptions,
    roster: Roster | None = None,
    overrides: Mapping[str, Override] = MappingProxyType({}),
    force: bool = False,
    canvas: str | None = None,
    progress: Progress = lambda record, done, total: None,
    cluster: Cluster | None = None,
) -> tuple[ClassSummary, Counter[str], list[Entry]]:
    """Grade every entry of ``submissions`` into ``outdir``, with what staff decided for
    single students in ``overrides``; return (summary, counts, entries)."""
    roster = roster or Roster({}, {})
    with tempfile.TemporaryDirectory(prefix="layergrade-class-") as scratch:
        # Gradescope names students by their SIS id or login, Canvas by its own ID.
        entries = find_entries(submissions, Path(scratch), roster.canonical)
        decided: dict[str, Override] = {}
        for student, override in overrides.items():
            same = roster.canonical(student)
            if same in decided:
                raise SubmissionError(
                    f"the overrides name one student twice ({same}, also as {student}).\n"
                    "Hint: keep one line per student."
                )
            decided[same] = override
        entries = [e.overridden(decided[e.student]) if e.student in decided else e for e in entries]
        batch = Batch(
            rubric,
            cases,
            configs,
            outdir=outdir,
            options=options,
            vectors_digest=vectors_digest,
            cluster=cluster,
        )
        records, counts = batch.run(entries, roster.names, force, progress)
    title = f"{submissions.name}: {len(records)} submissions"
    return write_outputs(outdir, records, roster, rubric, canvas, title), counts, entries


def write_outputs(
    outdir: Path,
    records: Sequence[StudentRecord],
    roster: Roster,
    rubric: Rubric,
    canvas: str | None,
    title: str,
) -> ClassSummary:
    """gradebook.csv, canvas.csv (with ``canvas``, the assignment's column in Canvas),
    summary.json and report.html, from the records."""
    from grader.batch import html as html_report

    write_atomic(outdir / "gradebook.csv", gradebook(records, roster.names, rubric))
    if canvas:
        write_atomic(outdir / "canvas.csv", canvas_import(records, roster, canvas))
    summary = summarise(records, roster.names, rubric)
    write_atomic(outdir / "summary.json", json.dumps(summary.to_dict(), indent=1) + "\n")
    write_atomic(outdir / "report.html", html_report.render(summary, title, records, roster.names))
    return summary
