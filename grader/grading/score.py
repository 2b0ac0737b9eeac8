"""Turn checks into points with the rubric. Totals are derived, never stored twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from grader.config.choices import Isolation, Split
from grader.config.late import LatePolicy
from grader.config.rubric import FunctionRubric, Rubric
from grader.grading.compare import Check
from grader.grading.diagnose import Diagnosis, diagnose
from grader.grading.judge import judge_case
from grader.grading.verdict import Checked, verdicts, wanted
from grader.sandbox.isolation import HIDDEN_OK
from grader.sandbox.job import gradcheck_cases
from grader.sandbox.results import CaseOutcome, Failure, NotebookRun, RunResult
from grader.submission.python2 import PYTHON2, looks_like_python2, removed_name_hint
from grader.submission.stage import Mode
from grader.vectors import CaseVector

FunctionStatus = Literal["pass", "partial", "fail", "missing"]


def likely(reason: str, diagnoses: tuple[Diagnosis, ...]) -> str:
    """``reason`` and, after it, the first two mistakes it likely comes from."""
    if not diagnoses:
        return reason
    said = " ".join(d.hint if d.hint.endswith(".") else f"{d.hint}." for d in diagnoses[:2])
    end = "" if reason.endswith((".", "?", "!")) else "."
    return f"{reason}{end} Likely: {said}"


@dataclass(frozen=True)
class CaseResult:
    case_id: str
    split: Split
    rubric: FunctionRubric
    checks: tuple[Check, ...]
    failure: Failure | None
    seconds: float
    mutated: tuple[str, ...] = ()
    # The case met a stub: the function returned None for everything it returns (the
    # running statistics it writes into a dict may still be the ones it was given), or
    # raised NotImplementedError.
    unimplemented: bool = False
    # The rubric makes changing an input in place a failure (input_mutation: penalty).
    penalise_mutation: bool = False
    # The mistakes this case shows, where they can be named (diagnose.py).
    diagnoses: tuple[Diagnosis, ...] = ()

    @property
    def own_mutations(self) -> tuple[str, ...]:
        """The inputs the graded function itself changed in place."""
        return tuple(
            m.partition(":")[2] for m in self.mutated if m.partition(":")[0] == self.rubric.name
        )

    @property
    def warnings(self) -> tuple[str, ...]:
        out = []
        for entry in self.mutated:
            fn, _, arg = entry.partition(":")
            out.append(
                f"{fn} modified its input {arg} in place: the caller's array is changed; "
                "work on a copy"
            )
        return tuple(out)

    @property
    def wrong(self) -> bool:
        """An output is wrong or none came back (not only the rubric's mutation penalty,
        whose reason names the mistake already)."""
        return self.failure is not None or any(c.credit < 1.0 for c in self.checks)

    @property
    def feedback(self) -> str:
        """The reason, and the mistake it likely comes from."""
        return likely(self.reason, self.diagnoses if self.wrong else ())

    @property
    def credit(self) -> float:
        """Fraction of this case's credit earned, by the weights of its outputs."""
        if self.failure is not None or not self.checks:
            return 0.0
        if self.penalise_mutation and self.own_mutations:
            return 0.0
        total = sum(self.rubric.weight(c.output) for c in self.checks)
        earned = sum(self.rubric.weight(c.output) * c.credit for c in self.checks)
        return earned / total if total else 0.0

    @property
    def reason(self) -> str:
        if self.failure is not None:
            where = f" (line {self.failure.line})" if self.failure.line else ""
            return f"{self.failure.message}{where}"
        if self.penalise_mutation and self.own_mutations:
            return (
                f"{self.rubric.name} modified its input {self.own_mutations[0]} in place, "
                "which this rubric counts as a failure: work on a copy"
            )
        failing = [c for c in self.checks if c.credit < 1.0]
        return failing[0].message if failing else "all outputs match"


@dataclass(frozen=True)
class FunctionResult:
    name: str
    max_score: float
    cases: tuple[CaseResult, ...]
    missing: bool
    # What the submission lacks of it: the function, or the layers a composite uses.
    undefined: tuple[str, ...] = ()
    # Where the bug of a failing backward, loss or forward is, from the numerical gradient
    # of the submission's own forward (grading/verdict.py); None when nothing follows.
    verdict: str | None = None

    @property
    def score(self) -> float:
        if not self.cases:
            return 0.0
        return round(self.max_score * sum(c.credit for c in self.cases) / len(self.cases), 2)

    @property
    def status(self) -> FunctionStatus:
        if self.missing:
            return "missing"
        if self.score >= self.max_score:
            return "pass"
        return "partial" if self.score > 0 else "fail"

    @property
    def worst_errors(self) -> dict[str, float]:
        """The largest relative error per output over the cases that could be compared."""
        worst: dict[str, float] = {}
        for case in self.cases:
            for check in case.checks:
                if check.rel_error is not None:
                    worst[check.output] = max(worst.get(check.output, 0.0), check.rel_error)
        return worst

    @property
    def diagnoses(self) -> tuple[Diagnosis, ...]:
        """The mistakes its cases show, each once, named ones first."""
        found = {d.hint: d for case in self.cases for d in case.diagnoses if d.mistake}
        for case in self.cases:
            for d in case.diagnoses:
                found.setdefault(d.hint, d)
        return tuple(found.values())

    @property
    def mistakes(self) -> tuple[str, ...]:
        """The catalogue's names of the mistakes diagnosed."""
        return tuple(d.mistake for d in self.diagnoses if d.mistake)

    @property
    def feedback(self) -> str:
        """The reason and, where it is known, where a failing function's bug is (its
        verdict) as one more sentence: what every report shows the student."""
        if self.verdict is None:
            return self.reason
        stop = "" if self.reason.endswith(".") else "."
        return f"{self.reason}{stop} Gradient check: {self.verdict}."

    @property
    def reason(self) -> str:
        if self.missing and self.undefined not in ((), (self.name,)):
            return f"{self.name} uses {', '.join(self.undefined)}: not defined in the submission"
        if self.missing:
            return f"{self.name} is not defined in the submission"
        if self.cases and all(case.unimplemented for case in self.cases):
            return "not implemented yet: it returns None (the starter code's stub)"
        for case in self.cases:
            if case.credit < 1.0:
                reason = f"{case.case_id.split('.', 1)[1]}: {case.reason}"
                hints = case.diagnoses or self.diagnoses if case.wrong else ()
                return likely(reason, hints)
        warnings = [w for case in self.cases for w in case.warnings]
        return f"all cases pass; but {warnings[0]}" if warnings else "all cases pass"


@dataclass(frozen=True)
class GradeResult:
    submission: str
    module: str
    isolation: Isolation
    splits: tuple[Split, ...]
    functions: tuple[FunctionResult, ...]
    import_failure: Failure | None
    output: str
    seconds: float
    mode: Mode = "module"
    # What the student should know beyond the table: which source was graded, what
    # happened when the notebook ran, definitions given twice.
    notes: tuple[str, ...] = ()
    # What the isolation could not take away on this machine ("network", "RLIMIT_AS" ...).
    isolation_gaps: tuple[str, ...] = ()
    # Started days past the deadline and the fraction of the score they cost (late.py).
    late_days: int = 0
    penalty: float = 0.0

    @property
    def sandboxed(self) -> bool:
        """Isolated enough for hidden cases: the code could not read the expected values."""
        return self.isolation in HIDDEN_OK

    @property
    def raw_score(self) -> float:
        """The points earned, before any late penalty."""
        return round(sum(f.score for f in self.functions), 2)

    @property
    def score(self) -> float:
        return round(self.raw_score * (1.0 - self.penalty), 2)

    @property
    def max_score(self) -> float:
        return round(sum(f.max_score for f in self.functions), 2)


def case_result(
    case: CaseVector, outcome: CaseOutcome, function: FunctionRubric, rubric: Rubric
) -> CaseResult:
    checks: tuple[Check, ...] = ()
    if outcome.failure is None:
        checks = judge_case(
            case,
            values=outcome.values,
            kinds=outcome.kinds,
            rejected=outcome.rejected,
            credit=rubric.credit,
            p_means=rubric.dropout_p_means,
        )
    returned = [c for c in checks if "var" in case.output(c.output).source]
    if outcome.failure is not None:
        unimplemented = outcome.failure.message.startswith("NotImplementedError")
    else:
        unimplemented = bool(returned) and all(c.none for c in returned)
    return CaseResult(
        case_id=case.id,
        split=case.split,
        rubric=function,
        checks=checks,
        failure=outcome.failure,
        seconds=outcome.seconds,
        mutated=outcome.mutated,
        unimplemented=unimplemented,
        penalise_mutation=rubric.input_mutation == "penalty",
        diagnoses=diagnose(case, outcome, checks, rubric.dropout_p_means),
    )


def notebook_notes(run: NotebookRun, cell_seconds: float, called: set[str]) -> tuple[str, ...]:
    """Sentences about a notebook's execution, from the worker's report (``called``: the
    functions the cases call, the only ones it may say were taken from a module)."""
    notes = []
    for error in run.errors[:5]:
        line = f", line {error.line}" if error.line is not None else ""
        message = error.error[:300]
        if looks_like_python2(message):
            message += f"; {PYTHON2}"
        elif removed := removed_name_hint(message):
            message += f"; {removed}"
        notes.append(f"cell {error.cell}{line}: {message}")
    for cell in run.timeouts[:5]:
        notes.append(
            f"cell {cell} did not finish within {cell_seconds:g} s (training or loading data?): "
            "it was stopped, and the functions defined before it are graded"
        )
    if run.skipped:
        notes.append(
            f"{len(run.skipped)} cell(s) from cell {run.skipped[0]} on did not run: the "
            "notebook's time ran out"
        )
    for where, reported in run.borrowed:
        names = [name for name in reported if name in called]
        if not names:
            continue
        notes.append(
            f"{', '.join(names)}: not defined by the notebook itself; graded from {where}, "
            "which the notebook's imports loaded"
        )
    return tuple(notes)


def undefined_functions(
    name: str, cases: list[CaseVector], defined: tuple[str, ...]
) -> tuple[str, ...]:
    """What of ``name`` the submission does not define: the function itself, or, for a
    composite the grader chains from the student's layers (a sandwich, the two-layer
    net), the layers it uses."""
    called = {call["fn"] for case in cases for call in case.calls}
    if name in called or not called:
        return () if name in defined else (name,)
    return tuple(sorted(called - set(defined)))


def with_verdicts(
    results: list[FunctionResult],
    cases: tuple[CaseVector, ...],
    outcomes: Mapping[str, CaseOutcome],
) -> list[FunctionResult]:
    """``results`` with their verdicts (grading/verdict.py), from the cases whose numerical
    gradient of the submission's own forward the worker was asked for. Set once
    every function is scored: a backward's verdict reads whether its forward passes."""
    chosen = gradcheck_cases(cases)
    by_id = {c.id: c for c in cases}
    checked = [
        Checked(by_id[r.case_id], outcomes[r.case_id], r.checks)
        for result in results
        for r in result.cases
        if r.case_id in chosen
    ]
    said = verdicts(checked, {r.name: r.status == "pass" for r in results})
    return [replace(r, verdict=said.get(r.name)) for r in results]


def gradchecks_wanted(
    rubric: Rubric, cases: tuple[CaseVector, ...], outcomes: Sequence[CaseOutcome]
) -> list[str]:
    """The cases whose gradient check (the numerical gradient of the submission's own
    forward) the verdicts could use, once every case of ``cases`` has its outcome: of those
    the job chose, the ones whose function, or whose forward, fails a public case.

    Decided from public cases alone, whose expected values students have: which checks the
    worker is asked for says nothing of the hidden cases. A chosen case is public where its
    function has one (job.gradcheck_cases), and a verdict needs that case to fail (or its
    forward to fail there); a check chosen among hidden cases is always asked for."""
    by_id = {o.case_id: o for o in outcomes}
    passes = {}
    for function in rubric.functions:
        mine = tuple(
            case_result(c, by_id[c.id], function, rubric)
            for c in cases
            if c.function == function.name and c.split == "public"
        )
        if mine:
            result = FunctionResult(function.name, function.points, mine, False)
            passes[function.name] = result.status == "pass"

    def asked(case: CaseVector) -> bool:
        if case.split == "public":
            return wanted(case, by_id[case.id], passes)
        # No public case to decide from: asked for where the case gave values.
        return by_id[case.id].failure is None

    chosen = gradcheck_cases(cases)
    return [c.id for c in cases if c.id in chosen and asked(c)]


def grade(
    rubric: Rubric,
    cases: tuple[CaseVector, ...],
    run: RunResult,
    *,
    submission: str,
    splits: tuple[Split, ...],
    mode: Mode = "module",
    notes: tuple[str, ...] = (),
) -> GradeResult:
    """Score ``run`` (the outcomes of ``cases``) with ``rubric``."""
    outcomes = {o.case_id: o for o in run.outcomes}
    results = []
    for function in rubric.functions:
        mine = [c for c in cases if c.function == function.name]
        undefined = undefined_functions(function.name, mine, run.functions)
        results.append(
            FunctionResult(
                name=function.name,
                max_score=function.points,
                cases=tuple(case_result(c, outcomes[c.id], function, rubric) for c in mine),
                missing=run.import_failure is None and bool(undefined),
                undefined=undefined,
            )
        )
    results = with_verdicts(results, cases, outcomes)
    if run.notebook is not None:
        called = {call["fn"] for case in cases for call in case.calls}
        notes += notebook_notes(run.notebook, rubric.limits.cell_seconds, called)
        if not run.functions:
            notes += ("the notebook defines none of the graded functions",)
    return GradeResult(
        submission=submission,
        module=run.module,
        isolation=run.isolation,
        splits=splits,
        functions=tuple(results),
        import_failure=run.import_failure,
        output=run.output,
        seconds=run.seconds,
        mode=mode,
        notes=notes,
        isolation_gaps=run.gaps,
    )


def with_late_policy(
    result: GradeResult, policy: LatePolicy, submitted: dt.datetime, due: dt.datetime | None = None
) -> GradeResult:
    """``result`` for a submission made at ``submitted`` (never the grading time), late
    against ``due`` (else the policy's own due date)."""
    days = policy.days_late(submitted, due)
    if days == 0:
        return result
    penalty = policy.penalty(days)
    note = f"submitted {days} day{'s' if days > 1 else ''} late: {penalty:.0%} off the score"
    return replace(result, late_days=days, penalty=penalty, notes=(*result.notes, note))
