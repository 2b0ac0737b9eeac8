"""A student's result in a batch: a dataclass in memory, ``results/<id>.json`` on disk.

The stored file is the record's serialised form (``to_dict`` / ``from_dict``): it holds
the student's whole report (schema ``layergrade.result/1``) for their feedback, and the
gradebook, the summary and every exporter read the typed fields derived from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, cast, get_args

from grader.grading.score import FunctionStatus

# graded: the submission ran (whatever its score); error: it could not be graded at all
# (an archive too large, a link to nothing, a full disk).
RecordStatus = Literal["graded", "error"]
RECORD_STATUSES: tuple[RecordStatus, ...] = get_args(RecordStatus)


@dataclass(frozen=True)
class FunctionScore:
    """One function of one student: points, status and the first reason to fix."""

    name: str
    score: float
    status: FunctionStatus
    feedback: str


@dataclass(frozen=True)
class StudentRecord:
    student: str
    name: str | None
    # The hash of what was graded (submission, rubric, vectors, grader): equal keys
    # need no regrading.
    key: str
    seconds: float
    status: RecordStatus
    error: str | None = None
    # The error was the host's (a full disk), not the submission's: grade it again.
    host_error: bool = False
    report: Mapping[str, Any] | None = field(default=None, repr=False)
    # For the staff: the traceback of a grader failure this submission caused.
    detail: str | None = field(default=None, repr=False)

    @property
    def score(self) -> float:
        """Points earned; 0 for a submission that could not be graded."""
        return float(self.report["score"]) if self.report else 0.0

    @cached_property
    def functions(self) -> tuple[FunctionScore, ...]:
        if not self.report:
            return ()
        return tuple(
            FunctionScore(
                name=str(f["name"]),
                score=float(f["score"]),
                status=cast(FunctionStatus, f["status"]),
                feedback=str(f["feedback"]),
            )
            for f in self.report["functions"]
        )

    def points(self, function: str) -> float:
        """Points earned on ``function``; 0 when it was not graded."""
        return next((f.score for f in self.functions if f.name == function), 0.0)

    @property
    def import_error(self) -> str | None:
        """The first line of why the submission's code could not run, if it could not."""
        failure = self.report.get("import_error") if self.report else None
        return (str(failure["message"]).splitlines() or [""])[0] if failure else None

    @property
    def reason(self) -> str:
        """What to fix first, in one line."""
        if self.status != "graded":
            return self.error or self.status
        if self.import_error is not None:
            return self.import_error
        failing = [f for f in self.functions if f.status != "pass"]
        return f"{failing[0].name}: {failing[0].feedback}" if failing else "all functions pass"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status, "error": self.error, "result": self.report}
        if self.status == "error":
            data["host_error"] = self.host_error
        data.update(student=self.student, name=self.name, key=self.key, seconds=self.seconds)
        if self.detail is not None:
            data["detail"] = self.detail
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudentRecord:
        """The record stored as ``data``; KeyError, TypeError or ValueError when it is not one."""
        status = data["status"]
        if status not in RECORD_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        report = data["result"]
        if report is not None and not (
            isinstance(report, dict) and isinstance(report.get("functions"), list)
        ):
            raise TypeError("the result is not a report with its functions")
        record = cls(
            student=str(data["student"]),
            name=data.get("name"),
            key=str(data["key"]),
            seconds=float(data["seconds"]),
            status=status,
            error=data.get("error"),
            host_error=bool(data.get("host_error", False)),
            report=report,
            detail=data.get("detail"),
        )
        record.functions  # noqa: B018 - parsed now: a malformed stored report is no record
        return record
