"""The class at a glance: totals, pass rates, the most frequent mistakes, the slowest.

``summary.json`` (schema ``layergrade.summary/1``) is ``ClassSummary.to_dict``; the
terminal summary and report.html read the dataclass.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grader.batch.records import StudentRecord
from grader.config.rubric import Rubric

SCHEMA = "layergrade.summary/1"


@dataclass(frozen=True)
class FunctionStats:
    # The fraction of students with full marks, and the mean points.
    pass_rate: float
    mean: float


@dataclass(frozen=True)
class ClassSummary:
    """Every figure is over all students, an ungradable submission counting 0 everywhere."""

    students: int
    graded: int
    errors: int
    max_score: float
    mean: float
    median: float
    missing: tuple[str, ...]
    unknown: tuple[str, ...]
    functions: Mapping[str, FunctionStats]
    # The most frequent mistakes, with how many students made each.
    reasons: tuple[tuple[str, int], ...]
    slowest: tuple[tuple[str, float], ...]
    failed: tuple[str, ...]
    totals: Mapping[str, float]
    seconds: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "students": self.students,
            "graded": self.graded,
            "errors": self.errors,
            "max_score": self.max_score,
            "mean": self.mean,
            "median": self.median,
            "missing": list(self.missing),
            "unknown": list(self.unknown),
            "functions": {
                name: {"pass_rate": f.pass_rate, "mean": f.mean}
                for name, f in self.functions.items()
            },
            "reasons": [[text, n] for text, n in self.reasons],
            "slowest": [[student, seconds] for student, seconds in self.slowest],
            "failed": list(self.failed),
            "totals": dict(self.totals),
            "seconds": dict(self.seconds),
        }


# A number standing alone: 3, -0.58567, 1.2e-05, each of the 10, 2 and 3 of a shape
# (10, 2, 3); never the digits of a word (cs231n, float32, conv2d) nor of a dotted
# version (3.11.4).
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\.?\w)")


def mistake(feedback: str) -> str:
    """A feedback line without its case name and numbers, so equal mistakes count together."""
    text = feedback.split(": ", 1)[1] if ": " in feedback else feedback
    return NUMBER.sub("#", text)[:120]


def mistakes(records: Sequence[StudentRecord]) -> Counter[str]:
    """How many graded students made each mistake."""
    reasons: Counter[str] = Counter()
    for r in records:
        if r.status != "graded":
            continue
        if r.import_error is not None:
            # One reason for the whole submission, not one per function it stopped.
            reasons[f"could not run: {mistake(r.import_error)}"] += 1
            continue
        for f in r.functions:
            if f.status != "pass":
                reasons[f"{f.name}: {mistake(f.feedback)}"] += 1
    return reasons


def summarise(
    records: Sequence[StudentRecord], roster: Mapping[str, str], rubric: Rubric
) -> ClassSummary:
    totals = [r.score for r in records]
    functions = {}
    for f in rubric.functions:
        scores = [r.points(f.name) for r in records]
        functions[f.name] = FunctionStats(
            pass_rate=round(sum(s >= f.points for s in scores) / len(scores), 4) if scores else 0.0,
            mean=round(statistics.fmean(scores), 3) if scores else 0.0,
        )
    students = {r.student for r in records}
    graded = sum(r.status == "graded" for r in records)
    return ClassSummary(
        students=len(records),
        graded=graded,
        errors=len(records) - graded,
        max_score=sum(f.points for f in rubric.functions),
        mean=round(statistics.fmean(totals), 3) if totals else 0.0,
        median=round(statistics.median(totals), 3) if totals else 0.0,
        missing=tuple(sorted(set(roster) - students)),
        unknown=tuple(sorted(students - set(roster))) if roster else (),
        functions=functions,
        reasons=tuple(mistakes(records).most_common(10)),
        slowest=tuple(
            (r.student, r.seconds) for r in sorted(records, key=lambda r: -r.seconds)[:5]
        ),
        failed=tuple(sorted(r.student for r in records if r.status != "graded")),
        totals={r.student: r.score for r in records},
        seconds={r.student: r.seconds for r in records},
    )
