"""Grade one submission: the stages in order, as one call. The CLI only parses arguments."""

from __future__ import annotations

import difflib
from pathlib import Path

from grader.loader import NotebookError, stage
from grader.rubric import Rubric, RubricError
from grader.run import Failure, Job, RunResult, not_run, run_submission
from grader.sandbox import SandboxConfig
from grader.score import GradeResult, grade
from grader.vectors import CaseVector, load_vectors


def graded_cases(rubric: Rubric, splits: tuple[str, ...]) -> tuple[CaseVector, ...]:
    """The stored cases of the rubric's functions, checking that each function has some."""
    vectors = load_vectors(rubric.vectors, splits)
    known = sorted({c.function for c in vectors.cases})
    wanted = {f.name for f in rubric.functions}
    for name in sorted(wanted - set(known)):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise RubricError(
            f"{rubric.path}: functions.{name} has no stored cases in {rubric.vectors}.{hint}"
        )
    for function in rubric.functions:
        outputs = sorted({o.name for c in vectors.for_function(function.name) for o in c.outputs})
        for name in sorted(set(function.checks) - set(outputs)):
            same_case = [o for o in outputs if o.lower() == name.lower()]
            close = same_case or difflib.get_close_matches(name, outputs, n=1)
            hint = (
                f" Did you mean {close[0]!r}?" if close else f" Its outputs: {', '.join(outputs)}."
            )
            raise RubricError(
                f"{rubric.path}: functions.{function.name}.checks names {name!r}, which "
                f"{function.name} does not return.{hint}"
            )
    return tuple(c for c in vectors.cases if c.function in wanted)


def grade_submission(
    path: Path,
    rubric: Rubric,
    cases: tuple[CaseVector, ...],
    config: SandboxConfig,
    job: Job,
    module: str | None = None,
    source: str | None = None,
    execute: bool = True,
) -> GradeResult:
    """Stage, run and score one submission. A notebook that cannot be read is graded as
    a submission that could not run, with the reason; other usage errors raise."""
    splits = tuple(s for s in ("public", "hidden") if any(c.split == s for c in cases))
    try:
        submission, staging = stage(path, module or rubric.module, source or rubric.source, execute)
    except NotebookError as exc:
        failure = Failure("notebook", str(exc))
        outcomes = tuple(not_run(cases, f"not run: {exc}"))
        run = RunResult(path.name, config.sandboxed, outcomes, failure, (), None, "", 0.0)
        return grade(rubric, cases, run, str(path), splits, "notebook")
    with staging:
        run = run_submission(
            config, rubric.limits, job, submission.source, submission.module, submission.cells
        )
    return grade(rubric, cases, run, str(path), splits, submission.mode, submission.notes)


def grade_one(
    path: Path,
    rubric: Rubric,
    config: SandboxConfig,
    splits: tuple[str, ...],
    module: str | None = None,
    source: str | None = None,
    execute: bool = True,
) -> GradeResult:
    cases = graded_cases(rubric, splits)
    with Job(cases) as job:
        return grade_submission(path, rubric, cases, config, job, module, source, execute)
