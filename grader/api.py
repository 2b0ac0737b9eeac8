"""Grade one submission: the stages in order, as one call. The CLI only parses arguments."""

from __future__ import annotations

import difflib
import importlib
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from grader.config.choices import SPLITS, Isolation, Split
from grader.config.options import SourceOptions
from grader.config.rubric import Rubric
from grader.errors import NotebookError, RubricError
from grader.sandbox.container import lock, staff_paths
from grader.sandbox.fonts import font_list
from grader.sandbox.job import Job
from grader.sandbox.results import CaseOutcome, Failure, RunResult
from grader.sandbox.run import not_run, run_submission
from grader.sandbox.runtime import discover_runtime, unreadable_by_others
from grader.sandbox.worker import SandboxConfig, Worker
from grader.submission.budget import Budget
from grader.submission.stage import stage

# numpy (the vectors, scoring) is imported once a worker is starting: see grade_one.
if TYPE_CHECKING:
    from grader.grading.score import GradeResult
    from grader.vectors import CaseVector

Cases = tuple["CaseVector", ...]

# Scoring's modules, imported while the first worker runs (see meanwhile).
SCORING = ("grader.grading.score",)


def meanwhile(modules: Iterable[str]) -> threading.Thread | None:
    """Import ``modules`` in a thread: started as a worker starts, it uses the time the
    grader spends waiting for the worker (the import lock makes a later import of the same
    module wait for it, never run it twice). None where all are imported already."""
    missing = [name for name in modules if name not in sys.modules]
    if not missing:
        return None

    def load() -> None:
        for name in missing:
            importlib.import_module(name)

    thread = threading.Thread(target=load, name="layergrade-imports", daemon=True)
    thread.start()
    return thread


def in_convention(case: CaseVector, rubric: Rubric) -> CaseVector:
    """``case`` as the rubric's course year states its contract: group norm's gamma and
    beta (and their gradients) as (C,) where the rubric says ``groupnorm_shape: vector``
    (the vectors store them as (1, C, 1, 1))."""
    if rubric.groupnorm_shape != "vector" or not case.function.startswith("spatial_groupnorm"):
        return case
    flat = {"gamma", "beta", "dgamma", "dbeta"}
    return replace(
        case,
        inputs={k: v.reshape(-1) if k in flat else v for k, v in case.inputs.items()},
        expected={k: v.reshape(-1) if k in flat else v for k, v in case.expected.items()},
    )


def graded_cases(rubric: Rubric, splits: tuple[Split, ...]) -> tuple[CaseVector, ...]:
    """The stored cases of the rubric's functions, checking that each function has some."""
    from grader.vectors import load_vectors

    wanted = {f.name for f in rubric.functions}
    vectors = load_vectors(rubric.vectors, splits, wanted)
    known = sorted(vectors.known)
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
    return tuple(in_convention(c, rubric) for c in vectors.cases if c.function in wanted)


def isolation_slots(
    mode: Isolation, count: int, protect: list[Path]
) -> tuple[list[SandboxConfig], list[str]]:
    """``count`` grading slots in ``mode``, each with a worker uid of its own when the
    grader runs as root, and what a user should know of them (isolation_notices)."""
    notices = isolation_notices(mode, protect)
    runtime = discover_runtime()
    return [SandboxConfig.create(mode, runtime) for _ in range(count)], notices


def isolation_notices(mode: Isolation, protect: list[Path]) -> list[str]:
    """What a user should know of grading in ``mode`` here. For a container, ``protect``
    (the rubric, the vectors, a class and its results) and the staff files are first made
    unreadable to workers."""
    runtime = discover_runtime()
    notices = []
    folder = unreadable_by_others(runtime)
    if mode != "bubblewrap" and os.geteuid() == 0 and folder is not None:
        notices.append(
            f"without bubblewrap, a grader running as root runs student code as an "
            f"unprivileged user, who cannot enter {folder}: only numpy and the common "
            "standard modules loaded beforehand are importable. Install bubblewrap "
            "(apt-get install bubblewrap) to lift this."
        )
    if mode == "container":
        locked = lock(staff_paths(protect, needed=runtime.needed))
        if locked:
            notices.append(
                "container isolation: made unreadable to other users (chmod o-rwx): "
                + ", ".join(str(p) for p in locked)
            )
    return notices


def gradchecks(rubric: Rubric, cases: Cases, outcomes: Sequence[CaseOutcome]) -> list[str]:
    """The cases whose gradient checks the worker is asked for (see run_submission)."""
    from grader.grading.score import gradchecks_wanted

    return gradchecks_wanted(rubric, cases, outcomes)


def grade_submission(
    path: Path,
    rubric: Rubric,
    cases: Cases | Callable[[], Cases],
    config: SandboxConfig,
    job: Job,
    *,
    options: SourceOptions | None = None,
    in_class: bool = False,
    reuse: bool = False,
    warm: Iterable[str] = (),
) -> GradeResult:
    """Stage, run and score one submission (an entry of a class, with ``in_class``; with
    ``reuse``, its worker is forked from the slot's zygote, see run_submission). A
    notebook that cannot be read is graded as a submission that could not run, with the
    reason; other usage errors raise, staging longer than the rubric's ``staging_seconds``
    included. ``options`` not given (None) fall back on the rubric's. Scoring's modules,
    and ``warm`` (say, the report's), are imported while the worker runs.

    ``cases`` may be a function that loads them, for a ``job`` not written yet: the worker
    then starts first (it starts Python and imports numpy meanwhile) and the grader loads
    the cases into the job while it does."""
    options = options or SourceOptions()
    options = SourceOptions(
        module=options.module or rubric.module,
        source=options.source or rubric.source,
        execute=options.execute,
    )
    try:
        budget = Budget.start(rubric.limits.staging_seconds)
        submission, staging = stage(path, options, in_class=in_class, budget=budget)
    except NotebookError as exc:
        cases = cases() if callable(cases) else cases
        failure = Failure("notebook", str(exc))
        run = RunResult(
            module=path.name,
            isolation=config.mode,
            outcomes=tuple(not_run(cases, f"not run: {exc}")),
            import_failure=failure,
            functions=(),
            notebook=None,
            output="",
            seconds=0.0,
        )
        from grader.grading.score import grade

        splits = tuple(s for s in SPLITS if any(c.split == s for c in cases))
        return grade(rubric, cases, run, submission=str(path), splits=splits, mode="notebook")
    with staging:
        config.admit(Path(staging.name))
        if submission.cells:
            # matplotlib's font list, looked up (or made) by a job's first executed notebook
            # and kept across runs (fonts.py): a notebook graded alone skips the listing too.
            font_list(job, config)
        held = None
        try:
            if callable(cases):
                held = Worker(config, rubric.limits, job, submission, hold=True)
                cases = cases()
                job.write(cases)
            imports = meanwhile([*SCORING, *warm])
        except BaseException:
            if held is not None:
                held.close()
            raise
        # From here run_submission owns the held worker, and closes it.
        run = run_submission(
            config,
            rubric.limits,
            job,
            submission,
            held,
            partial(gradchecks, rubric, cases),
            reuse=reuse,
        )
    if imports is not None:
        imports.join()
    from grader.grading.score import grade

    return grade(
        rubric,
        cases,
        run,
        submission=str(path),
        splits=tuple(s for s in SPLITS if any(c.split == s for c in cases)),
        mode=submission.mode,
        notes=submission.notes,
    )


def grade_one(
    path: Path,
    rubric: Rubric,
    config: SandboxConfig,
    splits: tuple[Split, ...],
    *,
    options: SourceOptions | None = None,
    warm: Iterable[str] = (),
) -> GradeResult:
    """Grade one submission on the rubric's cases of ``splits`` (``warm``: modules to
    import while it runs, see grade_submission). Its worker starts before the cases are
    loaded: the two import numpy at the same time."""
    with Job() as job:
        load = partial(graded_cases, rubric, splits)
        return grade_submission(path, rubric, load, config, job, options=options, warm=warm)
