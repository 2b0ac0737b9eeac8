"""The ``grade`` command. It parses arguments and calls the API; nothing else.

    grade PATH                 grade a submission (folder, .py or .zip), as staff
    grade check PATH           a student's self-check: public cases only
    grade vectors build|verify staff: (re)build or verify the stored vectors

Exit codes: 0 graded (whatever the score), 1 --fail-under not met, 2 usage error,
3 internal error.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import difflib
import os
import sys
import tempfile
import textwrap
import threading
import traceback
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from grader import __version__
from grader.config.choices import (
    CASES_CHOICES,
    ISOLATION_CHOICES,
    SOURCES,
    Isolation,
    IsolationChoice,
    Split,
    splits_of,
)
from grader.config.late import timestamp
from grader.config.options import SourceOptions
from grader.config.rubric import Rubric, assignment_names, builtin_assignment, load_rubric
from grader.config.staff import DEFAULT_ASSIGNMENT, default_rubric, require_staff_checkout
from grader.errors import SandboxError, UsageError
from grader.report import FORMATS

# What grading needs (numpy, rich, the sandbox) is imported where it is used: `grade
# --help` and `grade --version` start without it.
if TYPE_CHECKING:
    from rich.console import Console

    from grader.batch.records import StudentRecord
    from grader.grading.score import GradeResult
    from grader.sandbox.worker import SandboxConfig

EXIT_OK, EXIT_FAIL_UNDER, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class Printer(Protocol):
    def print(self, *objects: Any, **options: Any) -> None: ...


class Resident(Protocol):
    """What ``grade serve`` keeps between submissions (serve/server.py): slots, cases."""

    def slot(self, mode: Isolation, protect: list[Path]) -> tuple[SandboxConfig, list[str]]: ...

    def grade(
        self,
        path: Path,
        rubric: Rubric,
        config: SandboxConfig,
        splits: tuple[Split, ...],
        *,
        options: SourceOptions,
        warm: list[str],
    ) -> GradeResult: ...


class Stderr:
    """The standard error console, made on first use: a submission's grading imports rich
    while its worker starts (the report's module, see grade_submission), not before."""

    def __init__(self) -> None:
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, soft_wrap=True)
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        self.console.print(*objects, **options)


RUBRIC_HELP = "rubric file (default: ./rubric.yaml, else the built-in assignment's)"


def add_grading_options(p: argparse.ArgumentParser, staff: bool) -> None:
    """The options that ``grade``, ``grade check`` and ``grade batch`` share."""
    chosen = p.add_mutually_exclusive_group()
    chosen.add_argument("--rubric", type=Path, help=RUBRIC_HELP)
    chosen.add_argument(
        "--assignment",
        metavar="NAME",
        help="a built-in assignment's rubric (grade --list-assignments names them)",
    )
    p.add_argument("--module", help="path of the layers module inside the submission")
    p.add_argument(
        "--source",
        choices=SOURCES,
        help="grade the layers module or the notebook when a folder has both "
        "(default: the rubric's `source`, auto: the module)",
    )
    p.add_argument(
        "--no-execute",
        action="store_true",
        help="grade a notebook's definitions without running its cells (faster)",
    )
    if staff:
        p.add_argument(
            "--cases",
            choices=CASES_CHOICES,
            help="which cases to grade (default: the rubric's `cases`)",
        )
        p.add_argument(
            "--isolation",
            choices=ISOLATION_CHOICES,
            default="auto",
            help="how to isolate student code (default: auto, the strongest this machine "
            "has: bubblewrap, else container as root, else processes)",
        )
        p.add_argument(
            "--no-sandbox",
            action="store_true",
            help="for debugging: --isolation processes (resource limits only; public cases only)",
        )


def chosen_rubric(args: argparse.Namespace) -> Rubric:
    """--assignment's rubric, --rubric, ./rubric.yaml, or the default assignment's."""
    if args.assignment is not None:
        return builtin_assignment(args.assignment)
    return load_rubric(args.rubric or default_rubric())


def list_assignments() -> int:
    """Each built-in assignment: its name, what it grades, its functions and points."""
    for name in assignment_names():
        rubric = builtin_assignment(name)
        default = " (the default)" if name == DEFAULT_ASSIGNMENT else ""
        points = sum(f.points for f in rubric.functions)
        print(f"{name}{default}: {rubric.title or ''}")
        listing = f"{points:g} points: " + ", ".join(f.name for f in rubric.functions)
        print(textwrap.fill(listing, width=88, initial_indent="    ", subsequent_indent="    "))
    return EXIT_OK


def source_options(args: argparse.Namespace) -> SourceOptions:
    return SourceOptions(module=args.module, source=args.source, execute=not args.no_execute)


def chosen_splits(args: argparse.Namespace, rubric: Rubric) -> tuple[Split, ...]:
    return rubric.splits if args.cases is None else splits_of(args.cases)


def grade_parser(prog: str, student: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Check your layers against the public test cases."
            if student
            else "Grade a submission: a folder, a .py file or a .zip."
        ),
    )
    p.add_argument("path", type=Path, help="the submission (folder, .py or .zip)")
    add_grading_options(p, staff=not student)
    if not student:
        p.add_argument(
            "--submitted-at",
            metavar="TIME",
            help="when the submission was made (ISO 8601 with its UTC offset), for the "
            "rubric's late policy",
        )
    p.add_argument(
        "--format",
        choices=list(FORMATS),
        default="student" if student else "table",
        help="report format: " + "; ".join(f"{f.name}, {f.description}" for f in FORMATS.values()),
    )
    p.add_argument(
        "-o", "--output", type=Path, help="write the report to this file instead of stdout"
    )
    p.add_argument(
        "--fail-under", type=float, metavar="POINTS", help="exit 1 when the score is lower"
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show tracebacks and what the code printed"
    )
    p.add_argument(
        "-k",
        dest="only",
        metavar="NAME",
        action="append",
        help="grade only this function (repeat for more)",
    )
    return p


def only_functions(rubric: Rubric, names: list[str] | None) -> Rubric:
    """The rubric restricted to ``names`` (-k), each of which it must grade."""
    if not names:
        return rubric
    graded = [f.name for f in rubric.functions]
    for name in names:
        if name not in graded:
            close = difflib.get_close_matches(name, graded, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" It grades {', '.join(graded)}."
            raise UsageError(f"-k {name}: the rubric does not grade {name}.{hint}")
    return replace(rubric, functions=tuple(f for f in rubric.functions if f.name in names))


def chosen_isolation(args: argparse.Namespace, student: bool, hidden: bool) -> Isolation:
    """The isolation asked for (a student's check: auto, the strongest this machine has),
    refused when it may not run the cases asked for."""
    from grader.sandbox.isolation import HIDDEN_OK, machine_isolation, refuse_hidden

    requested: IsolationChoice = "auto" if student else args.isolation
    if not student and args.no_sandbox:
        if requested not in ("auto", "processes"):
            raise UsageError(
                f"--no-sandbox means --isolation processes, not --isolation {requested}."
                "\nHint: give one of the two."
            )
        requested = "processes"
    mode = machine_isolation(requested)
    if hidden and mode not in HIDDEN_OK:
        raise refuse_hidden(mode)
    return mode


def slots(mode: Isolation, count: int, protect: list[Path], err: Printer) -> list[SandboxConfig]:
    """``count`` grading slots in ``mode``, after saying what it isolates and where it
    falls short here."""
    from grader.api import isolation_slots

    configs, notices = isolation_slots(mode, count, protect)
    tell_isolation(mode, notices, err)
    return configs


def tell_isolation(mode: Isolation, notices: list[str], err: Printer) -> None:
    """Say what ``mode`` isolates, where it falls short (the ``notices``)."""
    from grader.sandbox.isolation import DESCRIPTIONS

    if mode == "processes" or notices:
        from rich.text import Text

        from grader.report.hygiene import shown

        if mode == "processes":
            text = f"isolation: {DESCRIPTIONS[mode]} (public cases only)"
            err.print(Text(text, style="yellow"))
        for notice in notices:
            err.print(shown(notice, style="yellow"))


def run_grade(
    argv: list[str], student: bool, err: Printer, resident: Resident | None = None
) -> int:
    """``grade PATH`` and ``grade check PATH``; in ``grade serve`` (``resident``), with the
    slot and the cases it keeps."""
    from grader.api import grade_one

    args = grade_parser("grade check" if student else "grade", student).parse_args(argv)
    rubric = only_functions(chosen_rubric(args), args.only)
    splits: tuple[Split, ...] = ("public",) if student else chosen_splits(args, rubric)
    mode = chosen_isolation(args, student, "hidden" in splits)
    report = FORMATS[args.format]
    protect = [rubric.path, rubric.vectors]
    options, warm = source_options(args), [report.module]
    if resident is None:
        (config,) = slots(mode, 1, protect, err)
        result = grade_one(args.path, rubric, config, splits, options=options, warm=warm)
    else:
        config, notices = resident.slot(mode, protect)
        tell_isolation(mode, notices, err)
        result = resident.grade(args.path, rubric, config, splits, options=options, warm=warm)
    if not student and args.submitted_at is not None:
        from grader.grading.score import with_late_policy

        submitted = timestamp(args.submitted_at, "--submitted-at")
        result = with_late_policy(result, rubric.late, submitted)
    from rich.console import Console

    if args.output is None and report.show(result, Console(), args.verbose):
        text = ""
    else:
        text = report.load().render(result, args.verbose)
    if args.output:
        try:
            args.output.write_text(text)
        except OSError as exc:
            # The grading is done: keep it on stdout rather than lose it.
            sys.stdout.write(text)
            raise UsageError(
                f"cannot write the report to {args.output} ({exc.strerror}); it went to stdout"
            ) from None
    else:
        sys.stdout.write(text)
    if args.fail_under is not None and result.score < args.fail_under:
        err.print(f"score {result.score:g} is under --fail-under {args.fail_under:g}")
        return EXIT_FAIL_UNDER
    if student and result.score < result.max_score:
        # A student's check fails as a test run does, for scripts and CI.
        return EXIT_FAIL_UNDER
    return EXIT_OK


def batch_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade batch",
        description="Grade a class: a folder (or zip) with one entry per student.",
    )
    p.add_argument("submissions", type=Path, help="folder or .zip of student entries")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument(
        "-j", "--jobs", type=int, help="parallel slots (default: one per core, and one more)"
    )
    p.add_argument(
        "--roster",
        type=Path,
        help="CSV with id and name columns, or a Canvas gradebook export",
    )
    p.add_argument(
        "--overrides",
        type=Path,
        metavar="CSV",
        help="per student: id, and any of file (which file to grade), submitted_at, due",
    )
    p.add_argument("--force", action="store_true", help="regrade even what is unchanged")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--cluster",
        metavar="local:N",
        help="grade on a new local Dask cluster of N worker processes (layergrade[dask])",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on the Dask cluster whose scheduler is at ADDRESS (layergrade[dask])",
    )
    p.add_argument(
        "--canvas",
        metavar="COLUMN",
        help="also write canvas.csv, Canvas's gradebook import, with this assignment column",
    )
    add_grading_options(p, staff=True)
    return p


def run_batch(argv: list[str]) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from grader.api import graded_cases
    from grader.batch import terminal as class_terminal
    from grader.batch.roster import load_overrides, load_roster
    from grader.batch.runner import default_slots, grade_class
    from grader.report.hygiene import shown
    from grader.sandbox.container import lock, staff_paths
    from grader.sandbox.runtime import discover_runtime
    from grader.vectors import load_vectors

    args = batch_parser().parse_args(argv)
    err = Console(stderr=True, soft_wrap=True)
    if args.jobs is None:
        args.jobs = default_slots()
    if args.jobs < 1:
        raise UsageError(f"-j {args.jobs}: at least one parallel slot is needed.")
    if not args.submissions.exists():
        raise UsageError(f"{args.submissions} does not exist.")
    rubric = chosen_rubric(args)
    # Read before any grading: a mistake in them stops the batch before it starts.
    roster = load_roster(args.roster)
    overrides = load_overrides(args.overrides)
    splits = chosen_splits(args, rubric)
    cases = graded_cases(rubric, splits)
    digest = load_vectors(rubric.vectors, splits, {f.name for f in rubric.functions}).digest
    args.output.mkdir(parents=True, exist_ok=True)
    cluster = None
    configs: list[SandboxConfig] = []
    if args.cluster is not None or args.scheduler is not None:
        from grader.batch.cluster import Cluster, dask_client, parse_cluster

        # Each worker chooses its own isolation, and refuses hidden cases without one.
        workers = parse_cluster(args.cluster) if args.cluster is not None else None
        requested: IsolationChoice = "processes" if args.no_sandbox else args.isolation
        if workers is not None and os.geteuid() == 0:
            # Workers on this machine may choose container isolation: the class and its
            # results are then unreadable to their uids, as for a local batch.
            protect = [rubric.path, rubric.vectors, args.submissions, args.output]
            locked = lock(staff_paths(protect, needed=discover_runtime().needed))
            if locked:
                err.print(
                    shown(
                        "made unreadable to other users (chmod o-rwx): "
                        + ", ".join(str(p) for p in locked),
                        style="yellow",
                    )
                )
        client = dask_client(args.scheduler, workers)
        cluster = Cluster(client, rubric, splits, digest, requested, source_options(args))
    else:
        mode = chosen_isolation(args, student=False, hidden="hidden" in splits)
        # In a container, other students' submissions and results must be unreadable too.
        protect = [rubric.path, rubric.vectors, args.submissions, args.output]
        configs = slots(mode, args.jobs, protect, err)

    bar = Progress(
        TextColumn("grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    )
    task = bar.add_task("grading", total=None)

    def progress(record: StudentRecord, done: int, total: int) -> None:
        if err.is_terminal:
            bar.update(task, completed=done, total=total)
            return
        score = record.score if record.status == "graded" else "error"
        line = f"[{done}/{total}] {record.student}: {score} ({record.seconds:g} s)"
        err.print(shown(line))

    shown_bar = bar if err.is_terminal else contextlib.nullcontext()
    ends = contextlib.closing(cluster) if cluster is not None else contextlib.nullcontext()
    with shown_bar, ends:
        summary, counts, entries = grade_class(
            args.submissions,
            args.output,
            rubric,
            cases,
            configs,
            vectors_digest=digest,
            options=source_options(args),
            roster=roster,
            overrides=overrides,
            force=args.force,
            canvas=args.canvas,
            progress=progress,
            cluster=cluster,
        )
    class_terminal.render(summary, Console())
    strays = sorted({roster.canonical(s) for s in overrides} - {e.student for e in entries})
    if strays:
        err.print(
            shown(
                f"grade batch: the overrides name students without a submission: "
                f"{', '.join(strays)}",
                style="yellow",
            )
        )
    untimed = [e.student for e in entries if e.marked_late and e.submitted is None]
    if untimed and rubric.late.penalty_per_day:
        # Canvas's download names a late file but not its time: the penalty needs the time.
        err.print(
            shown(
                f"grade batch: Canvas marks {len(untimed)} submission(s) late "
                f"({', '.join(untimed[:5])}{', ...' if len(untimed) > 5 else ''}) without "
                "their time, so no late penalty was applied.\nHint: give their submitted_at "
                "in an --overrides file (Canvas shows it on each submission).",
                style="yellow",
            )
        )
    err.print(
        f"graded {counts['graded']}, unchanged {counts['unchanged']}, errors {counts['errors']}",
        highlight=False,
    )
    if counts["host_errors"]:
        # Everything is written; what the host kept from grading is graded on the next run.
        err.print(
            shown(
                f"grade batch: {counts['host_errors']} submission(s) were not graded because of "
                "the host (see their reason in gradebook.csv); run the same command again to "
                "grade them.",
                style="red",
            )
        )
        return EXIT_INTERNAL
    return EXIT_OK


def run_vectors(argv: list[str]) -> int:
    from grader.vectors import load_vectors

    p = argparse.ArgumentParser(
        prog="grade vectors", description="Build or verify the stored test vectors."
    )
    p.add_argument("action", choices=("build", "verify"))
    p.add_argument("--rubric", type=Path, help=f"{RUBRIC_HELP}, naming the vectors folder")
    p.add_argument("--out", type=Path, help="vectors folder (default: the rubric's `vectors`)")
    args = p.parse_args(argv)
    folder = args.out or load_rubric(args.rubric or default_rubric()).vectors
    if args.action == "build":
        # Staff only: the reference computes the expected values.
        checkout = require_staff_checkout("grade vectors build")
        sys.path.insert(0, str(checkout))
        from reference.build import build

        for path in build(folder):
            print(path)
    vectors = load_vectors(folder)
    public = sum(c.split == "public" for c in vectors.cases)
    hidden = len(vectors.cases) - public
    print(f"{folder}: {len(vectors.cases)} cases ({public} public, {hidden} hidden), checksums OK")
    return EXIT_OK


def run_bundle(argv: list[str]) -> int:
    from grader.bundle import gradescope_bundle, student_bundle

    p = argparse.ArgumentParser(
        prog="grade bundle", description="Write what course staff hand out."
    )
    p.add_argument(
        "kind",
        choices=("student", "gradescope"),
        help="student: the starter code, the notebook, the rubric and the public cases of "
        "one assignment, with a README on running `grade check .`; gradescope: the "
        "autograder zip (setup.sh, run_autograder, the grader, every case)",
    )
    p.add_argument("assignment", help="a built-in assignment (grade --list-assignments)")
    p.add_argument(
        "-o", "--output", type=Path, required=True, help="a new or empty folder, or the new zip"
    )
    args = p.parse_args(argv)
    # Staff hand out the course's own files, from its repository.
    checkout = require_staff_checkout("grade bundle")
    if args.kind == "student":
        for path in student_bundle(args.assignment, args.output):
            print(path)
        return EXIT_OK
    sys.path.insert(0, str(checkout))
    from reference.wheel import build_wheel

    with tempfile.TemporaryDirectory() as temp:
        wheel = build_wheel(checkout, Path(temp))
        print(gradescope_bundle(args.assignment, args.output, wheel))
    return EXIT_OK


def run_gradescope(argv: list[str]) -> int:
    from grader.autograder import ROOT, run_autograder

    p = argparse.ArgumentParser(
        prog="grade gradescope",
        description="Gradescope's run_autograder: grade ROOT/submission with "
        "ROOT/source/rubric.yaml and always write ROOT/results/results.json.",
    )
    p.add_argument("--root", type=Path, default=ROOT, help=f"default: {ROOT}")
    args = p.parse_args(argv)
    print(run_autograder(args.root))
    return EXIT_OK


USAGE = """usage: grade PATH [options]        grade a submission (see grade PATH --help)
       grade check PATH [options]  check your own work on the public cases
       grade batch DIR -o OUT      grade a class (see grade batch --help)
       grade vectors build|verify  build or verify the stored test vectors (staff)
       grade bundle student NAME   the folder students start from, with -o DIR (staff)
       grade bundle gradescope NAME  Gradescope's autograder zip, with -o FILE (staff)
       grade gradescope [--root D] Gradescope's run_autograder: D/submission to D/results
       grade --list-assignments    the built-in assignments and what each grades
       grade serve                 keep a grader running: grade and grade check use it
"""


def main(argv: list[str] | None = None, resident: Resident | None = None) -> int:
    """The command ``argv``; in ``grade serve`` (``resident``), a submission's grading."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE + "\nlayergrade " + __version__ + ": grades the modular-layers assignment.")
        return EXIT_OK if argv else EXIT_USAGE
    if argv[0] == "--version":
        print(__version__)
        return EXIT_OK
    err = Stderr()
    try:
        if argv[0] == "--list-assignments":
            return list_assignments()
        if argv[0] == "vectors":
            return run_vectors(argv[1:])
        if argv[0] == "check":
            return run_grade(argv[1:], student=True, err=err, resident=resident)
        if argv[0] == "batch":
            return run_batch(argv[1:])
        if argv[0] == "bundle":
            return run_bundle(argv[1:])
        if argv[0] == "gradescope":
            return run_gradescope(argv[1:])
        return run_grade(argv, student=False, err=err, resident=resident)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    except Exception as exc:
        return failed(exc, err)


def run() -> NoReturn:
    """The ``grade`` command: ``main``, then exit without tearing the interpreter down,
    which frees every module and array one by one (about 30 ms, more than grading the
    cases of a module takes). Output is flushed and the exit handlers (the slots' cgroups,
    temporary folders) run first; where a thread of ours is still running, the usual
    exit waits for it."""
    code = main()
    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        # A closed pipe (`grade ... | head`): Python's own exit says so, as it always has.
        sys.exit(code)
    atexit._run_exitfuncs()
    # What the handlers printed, too.
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def failed(exc: Exception, err: Printer) -> int:
    """Say on stderr why the command failed with ``exc`` (while it is being handled);
    return the exit code."""
    from grader.report.hygiene import plain, shown

    if isinstance(exc, UsageError):
        err.print(shown(f"grade: {exc}", style="red"))
        return EXIT_USAGE
    if isinstance(exc, SandboxError):
        err.print(shown(f"grade: the sandbox failed: {exc}", style="red"))
        return EXIT_INTERNAL
    err.print("[red]grade: internal error (a bug in the grader, not in the submission):[/red]")
    err.print(plain(traceback.format_exc()), highlight=False, markup=False)
    return EXIT_INTERNAL
