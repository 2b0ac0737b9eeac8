"""PrairieLearn's external-grader results (``/grade/results/results.json``).

Its published reference schema: ``score`` in [0, 1]; ``gradable: false`` for a submission
that could not be read as code (a syntax error, an unreadable notebook: the student keeps
the attempt), with ``format_errors``; ``tests`` with ``name``, ``description``,
``points``, ``max_points``, ``message`` and ``output``. The file must stay under 1 MB.
"""

from __future__ import annotations

import json

from grader.grading.score import FunctionResult, GradeResult
from grader.report.hygiene import plain
from grader.report.student import summary

# Room for 25 functions' case lines and the submission's output, well under 1 MB.
OUTPUT_CHARS = 20_000


def unreadable(result: GradeResult) -> str | None:
    """Why the submission is not gradable code, or None."""
    failure = result.import_failure
    if failure is None:
        return None
    if failure.status == "notebook" or failure.message.startswith(
        ("SyntaxError", "IndentationError", "TabError")
    ):
        where = f" (line {failure.line})" if failure.line else ""
        return plain(failure.message + where)
    return None


def case_lines(function: FunctionResult) -> str:
    return "\n".join(
        f"{case.case_id} ({case.split}): {plain(case.feedback)}" for case in function.cases
    )


def test(function: FunctionResult) -> dict[str, object]:
    return {
        "name": function.name,
        "description": f"{len(function.cases)} case(s) of {function.name}",
        "points": function.score,
        "max_points": function.max_score,
        "message": plain(function.feedback),
        "output": case_lines(function)[:OUTPUT_CHARS],
    }


def to_dict(result: GradeResult) -> dict[str, object]:
    reason = unreadable(result)
    if reason is not None:
        return {"gradable": False, "format_errors": [reason], "message": reason}
    score = result.score / result.max_score if result.max_score else 0.0
    return {
        "gradable": True,
        "score": min(1.0, max(0.0, score)),
        "message": plain(summary(result)),
        "output": plain(result.output)[:OUTPUT_CHARS],
        "tests": [test(f) for f in result.functions],
    }


def render(result: GradeResult, verbose: bool = False) -> str:
    return json.dumps(to_dict(result), indent=1) + "\n"
