"""The machine-readable result: a pure function from GradeResult to a JSON-ready dict.

Schema ``layergrade.result/1`` (fields are only ever added within a version):

- ``schema``, ``grader_version``, ``submission``, ``module``, ``mode`` (module, notebook,
  or notebook definitions only), ``notes`` (list of text), ``isolation`` (bubblewrap,
  container or processes), ``isolation_gaps`` (what it could not take away here:
  "network", or a resource limit the platform lacks), ``sandboxed`` (isolated enough for
  hidden cases: bubblewrap or container), ``cases``
  (the splits graded), ``score`` (after any late penalty), ``max_score``, ``seconds``,
  ``late_days`` and ``penalty`` (the fraction of the score the late policy took)
- ``import_error``: null, or {status, message, line, file, traceback}
- ``functions``: list of {name, score, max_score, status (pass|partial|fail|missing),
  feedback, hints (what the mistake likely is, a sentence each), mistakes (the names of
  the catalogued mistakes recognised), verdict (null, or a sentence on whether the bug of
  a failing backward or loss is in it or in its forward, from the numerical gradient of
  the submission's own forward), worst_rel_error {output: float}, cases}
- each case: {id, split, credit (0..1), feedback, hints, seconds, failure (null or as
  import_error), warnings (list of text, e.g. an input modified in place),
  checks: list of {output, status, credit, rel_error, message}}
- ``output``: what the submission printed (truncated), for staff
"""

from __future__ import annotations

import json
from typing import Any

from grader import __version__
from grader.grading.score import CaseResult, FunctionResult, GradeResult
from grader.sandbox.results import Failure

SCHEMA = "layergrade.result/1"


def failure_dict(failure: Failure | None) -> dict[str, Any] | None:
    if failure is None:
        return None
    return {
        "status": failure.status,
        "message": failure.message,
        "line": failure.line,
        "file": failure.file,
        "traceback": failure.traceback,
    }


def case_dict(case: CaseResult) -> dict[str, Any]:
    return {
        "id": case.case_id,
        "split": case.split,
        "credit": round(case.credit, 4),
        "feedback": case.reason,
        "hints": [d.hint for d in case.diagnoses],
        "seconds": round(case.seconds, 4),
        "failure": failure_dict(case.failure),
        "warnings": list(case.warnings),
        "checks": [
            {
                "output": c.output,
                "status": c.status,
                "credit": c.credit,
                "rel_error": c.rel_error,
                "message": c.message,
            }
            for c in case.checks
        ],
    }


def function_dict(function: FunctionResult) -> dict[str, Any]:
    return {
        "name": function.name,
        "score": function.score,
        "max_score": function.max_score,
        "status": function.status,
        "feedback": function.reason,
        "hints": [d.hint for d in function.diagnoses],
        "mistakes": list(function.mistakes),
        "verdict": function.verdict,
        "worst_rel_error": function.worst_errors,
        "cases": [case_dict(c) for c in function.cases],
    }


def to_dict(result: GradeResult) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "grader_version": __version__,
        "submission": result.submission,
        "module": result.module,
        "mode": result.mode,
        "notes": list(result.notes),
        "sandboxed": result.sandboxed,
        "isolation": result.isolation,
        "isolation_gaps": list(result.isolation_gaps),
        "late_days": result.late_days,
        "penalty": result.penalty,
        "cases": list(result.splits),
        "score": result.score,
        "max_score": result.max_score,
        "seconds": round(result.seconds, 3),
        "import_error": failure_dict(result.import_failure),
        "functions": [function_dict(f) for f in result.functions],
        "output": result.output,
    }


def render(result: GradeResult, verbose: bool = False) -> str:
    """The JSON text: everything is in it, so ``verbose`` changes nothing."""
    return json.dumps(to_dict(result), indent=2) + "\n"
