"""Grade a whole class: in parallel, resumable, and never losing a graded result.

Each entry of the submissions folder (or zip) is one student: a folder, a .py, an .ipynb
or a .zip, whose name without the extension is the student id. Every result is written
atomically to ``OUTDIR/results/<id>.json`` as soon as it is graded, keyed by a hash of
the submission's bytes, the rubric, the vectors and the grader version: a rerun skips
what is unchanged, so a batch killed at any moment loses only the submissions in flight.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import queue
import re
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from grader import __version__
from grader.api import grade_submission
from grader.loader import SKIP_DIRS, SubmissionError, extract_zip
from grader.report import json_report, terminal
from grader.rubric import Rubric
from grader.run import Job
from grader.sandbox import SandboxConfig
from grader.vectors import CaseVector

SUFFIXES = (".zip", ".py", ".ipynb")
# A class archive holds hundreds of submissions, each within the per-submission caps.
CLASS_FILES = 100_000
CLASS_BYTES = 4 << 30
# Called after each graded submission with (its record, graded so far, to grade in all).
Progress = Callable[[dict[str, Any], int, int], None]
SUMMARY_SCHEMA = "layergrade.summary/1"


@dataclass(frozen=True)
class Entry:
    student: str
    path: Path


@dataclass(frozen=True)
class Options:
    module: str | None = None
    source: str | None = None
    execute: bool = True


def safe_id(student: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", student) or "_"


def student_id(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix in SUFFIXES else path.name


def find_entries(submissions: Path, scratch: Path) -> list[Entry]:
    """One entry per student; a zip of the class is extracted into ``scratch`` first."""
    if submissions.is_file() and submissions.suffix == ".zip":
        extract_zip(submissions, scratch, CLASS_FILES, CLASS_BYTES)
        submissions = scratch
        inner = [p for p in submissions.iterdir() if p.name not in SKIP_DIRS]
        if len(inner) == 1 and inner[0].is_dir():
            submissions = inner[0]
    if not submissions.is_dir():
        raise SubmissionError(
            f"{submissions} is not a folder of submissions (or a zip of one).\n"
            "Hint: one entry per student: a folder, a .py, an .ipynb or a .zip."
        )
    entries = [
        Entry(student_id(p), p)
        for p in sorted(submissions.iterdir())
        if not p.name.startswith(".") and p.name not in SKIP_DIRS
    ]
    seen: Counter[str] = Counter(safe_id(e.student) for e in entries)
    clashes = sorted(s for s, n in seen.items() if n > 1)
    if clashes:
        raise SubmissionError(
            f"{submissions}: several entries map to the same student id: {', '.join(clashes)}."
            "\nHint: keep one entry per student."
        )
    return entries


def content_hash(path: Path) -> str:
    """A hash of what a submission holds (names and bytes); links count by their target."""
    digest = hashlib.sha256()
    files = [path] if not path.is_dir() else sorted(p for p in path.rglob("*") if not p.is_dir())
    for file in files:
        # A single file counts by its kind, not its name: twins get the same key.
        digest.update(str(file.relative_to(path) if path.is_dir() else file.suffix).encode())
        if file.is_symlink():
            digest.update(b"link:" + os.readlink(file).encode())
        else:
            digest.update(file.read_bytes())
    return digest.hexdigest()


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_roster(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        # utf-8-sig: spreadsheets often save CSV with a byte order mark.
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise SubmissionError(f"cannot read the roster {path}: {exc.strerror}") from None
    if not rows or "id" not in rows[0] or "name" not in rows[0]:
        raise SubmissionError(f"{path}: a roster needs a header with the columns id and name.")
    return {row["id"].strip(): row["name"].strip() for row in rows if row.get("id")}


class Batch:
    """One batch run into ``outdir``; see the module docstring."""

    def __init__(
        self,
        rubric: Rubric,
        cases: tuple[CaseVector, ...],
        configs: list[SandboxConfig],
        outdir: Path,
        options: Options,
        vectors_digest: str,
    ) -> None:
        self.rubric, self.cases, self.options = rubric, cases, options
        self.outdir = outdir
        self.results = outdir / "results"
        self.feedback = outdir / "feedback"
        for folder in (self.results, self.feedback):
            folder.mkdir(parents=True, exist_ok=True)
        self.configs: queue.Queue[SandboxConfig] = queue.Queue()
        for config in configs:
            self.configs.put(config)
        self.parallel = len(configs)
        settings = json.dumps(
            [__version__, vectors_digest, options.module, options.source, options.execute]
        )
        self.base = hashlib.sha256(rubric.path.read_bytes() + settings.encode()).hexdigest()

    def set_root(self, entries: list[Entry]) -> None:
        """The folder holding the entries, as it appears in messages (then removed)."""
        self.root = f"{entries[0].path.parent}{os.sep}" if entries else "\0"

    def key(self, entry: Entry) -> str:
        return hashlib.sha256((self.base + content_hash(entry.path)).encode()).hexdigest()

    def stored(self, entry: Entry) -> dict[str, Any] | None:
        try:
            record: dict[str, Any] = json.loads(
                (self.results / f"{safe_id(entry.student)}.json").read_text()
            )
        except (OSError, ValueError):
            return None
        return record

    def grade(self, entry: Entry, key: str, name: str | None, job: Job) -> dict[str, Any]:
        config = self.configs.get()
        start = time.monotonic()
        record: dict[str, Any]
        try:
            result = grade_submission(
                entry.path,
                self.rubric,
                self.cases,
                config,
                job,
                self.options.module,
                self.options.source,
                self.options.execute,
            )
            # Students see their entry's name, not where the class lies on this machine.
            result = replace(result, submission=entry.path.name)
            report = scrub(json_report.to_dict(result), self.root)
            record = {"status": "graded", "error": None, "result": report}
            buffer = io.StringIO()
            terminal.render(result, Console(file=buffer, width=100, no_color=True))
            write_atomic(self.feedback / f"{safe_id(entry.student)}.txt", buffer.getvalue())
        except (SubmissionError, OSError) as exc:
            error = str(exc) if isinstance(exc, SubmissionError) else f"{exc.strerror}: {exc}"
            error = error.replace(self.root, "")
            record = {
                "status": "error",
                "error": error,
                "result": None,
                "host_error": not isinstance(exc, SubmissionError),
            }
            write_atomic(self.feedback / f"{safe_id(entry.student)}.txt", f"Not graded: {error}\n")
        finally:
            self.configs.put(config)
        record.update(
            student=entry.student, name=name, key=key, seconds=round(time.monotonic() - start, 3)
        )
        write_atomic(self.results / f"{safe_id(entry.student)}.json", json.dumps(record, indent=1))
        return record

    def run(
        self,
        entries: list[Entry],
        roster: dict[str, str],
        force: bool,
        progress: Progress,
    ) -> tuple[list[dict[str, Any]], Counter[str]]:
        """Grade what changed; return every entry's record and how many were graded."""
        counts: Counter[str] = Counter()
        records: dict[str, dict[str, Any]] = {}
        todo = []
        self.set_root(entries)
        for entry in entries:
            try:
                key = self.key(entry)
            except OSError as exc:
                key = f"unreadable:{exc.strerror}"
            old = self.stored(entry)
            # An error of the host (a full disk) is tried again; the submission's own are kept.
            reusable = old is not None and not old.get("host_error")
            if not force and reusable and old is not None and old.get("key") == key:
                records[entry.student] = old
                counts["unchanged"] += 1
            else:
                todo.append((entry, key))
        with Job(self.cases) as job, ThreadPoolExecutor(self.parallel) as pool:
            futures = [
                pool.submit(self.grade, entry, key, roster.get(entry.student), job)
                for entry, key in todo
            ]
            try:
                for (entry, _), future in zip(todo, futures, strict=True):
                    record = future.result()
                    records[entry.student] = record
                    counts["graded"] += 1
                    counts["errors"] += record["status"] == "error"
                    progress(record, counts["graded"], len(todo))
            except BaseException:
                # Ctrl-C: what is graded is on disk; stop instead of grading the rest.
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        return [records[e.student] for e in entries], counts


def scrub(value: Any, text: str) -> Any:
    """``value`` with ``text`` removed from every string in it."""
    if isinstance(value, str):
        return value.replace(text, "")
    if isinstance(value, list):
        return [scrub(v, text) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v, text) for k, v in value.items()}
    return value


def total(record: dict[str, Any]) -> float:
    return float(record["result"]["score"]) if record.get("result") else 0.0


def reason(record: dict[str, Any]) -> str:
    if record["status"] != "graded":
        return str(record.get("error") or record["status"])
    failing = [f for f in record["result"]["functions"] if f["status"] != "pass"]
    if record["result"].get("import_error"):
        return str(record["result"]["import_error"]["message"]).splitlines()[0]
    return f"{failing[0]['name']}: {failing[0]['feedback']}" if failing else "all functions pass"


def gradebook(
    records: list[dict[str, Any]], roster: dict[str, str], rubric: Rubric, canvas: str | None
) -> str:
    names = [f.name for f in rubric.functions]
    rows = sorted(records, key=lambda r: r["student"])
    present = {r["student"] for r in rows}
    missing = sorted(set(roster) - present)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if canvas:
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", canvas])
        for r in rows:
            writer.writerow(
                [r.get("name") or r["student"], r["student"], "", "", "", f"{total(r):g}"]
            )
        for student in missing:
            writer.writerow([roster[student], student, "", "", "", "0"])
        return out.getvalue()
    writer.writerow(["student", "name", "total", *names, "status", "reason"])
    for r in rows:
        points = {f["name"]: f["score"] for f in (r["result"] or {}).get("functions", [])}
        writer.writerow(
            [r["student"], r.get("name") or "", f"{total(r):g}"]
            + [f"{points.get(n, 0):g}" for n in names]
            + [r["status"], reason(r)]
        )
    for student in missing:
        writer.writerow([student, roster[student], "0"] + ["0"] * len(names) + ["missing", ""])
    return out.getvalue()


def summary(
    records: list[dict[str, Any]], roster: dict[str, str], rubric: Rubric
) -> dict[str, Any]:
    graded = [r for r in records if r["status"] == "graded"]
    totals = [total(r) for r in records]
    functions = {}
    # Every figure is over all students, an ungradable submission counting 0 everywhere.
    for f in rubric.functions:
        scores = [
            next((g["score"] for g in r["result"]["functions"] if g["name"] == f.name), 0.0)
            if r["result"]
            else 0.0
            for r in records
        ]
        functions[f.name] = {
            "pass_rate": round(sum(s >= f.points for s in scores) / len(scores), 4)
            if scores
            else 0.0,
            "mean": round(statistics.fmean(scores), 3) if scores else 0.0,
        }
    reasons: Counter[str] = Counter()
    for r in graded:
        failure = r["result"].get("import_error")
        if failure:
            # One reason for the whole submission, not one per function it stopped.
            reasons[f"could not run: {mistake(str(failure['message']).splitlines()[0])}"] += 1
            continue
        for f in r["result"]["functions"]:
            if f["status"] != "pass":
                reasons[f"{f['name']}: {mistake(f['feedback'])}"] += 1
    students = {r["student"] for r in records}
    return {
        "schema": SUMMARY_SCHEMA,
        "students": len(records),
        "graded": len(graded),
        "errors": len(records) - len(graded),
        "max_score": sum(f.points for f in rubric.functions),
        "mean": round(statistics.fmean(totals), 3) if totals else 0.0,
        "median": round(statistics.median(totals), 3) if totals else 0.0,
        "missing": sorted(set(roster) - students),
        "unknown": sorted(students - set(roster)) if roster else [],
        "functions": functions,
        "reasons": [[text, n] for text, n in reasons.most_common(10)],
        "slowest": [
            [r["student"], r.get("seconds", 0.0)]
            for r in sorted(records, key=lambda r: -float(r.get("seconds", 0.0)))[:5]
        ],
        "failed": sorted(r["student"] for r in records if r["status"] != "graded"),
        "totals": {r["student"]: total(r) for r in records},
        "seconds": {r["student"]: r.get("seconds", 0.0) for r in records},
    }


def mistake(feedback: str) -> str:
    """A feedback line without its case name and numbers, so equal mistakes count together."""
    text = feedback.split(": ", 1)[1] if ": " in feedback else feedback
    return re.sub(r"(?<![A-Za-z_])-?\d[\d.e+-]*", "#", text)[:120]


def grade_class(
    submissions: Path,
    outdir: Path,
    rubric: Rubric,
    cases: tuple[CaseVector, ...],
    configs: list[SandboxConfig],
    vectors_digest: str,
    options: Options,
    roster_path: Path | None = None,
    force: bool = False,
    canvas: str | None = None,
    progress: Progress = lambda record, done, total: None,
) -> tuple[dict[str, Any], Counter[str], list[Entry]]:
    """Grade every entry of ``submissions`` into ``outdir``; return (summary, counts, entries)."""
    from grader.report import html as html_report

    roster = load_roster(roster_path)
    with tempfile.TemporaryDirectory(prefix="layergrade-class-") as scratch:
        entries = find_entries(submissions, Path(scratch))
        batch = Batch(rubric, cases, configs, outdir, options, vectors_digest)
        records, counts = batch.run(entries, roster, force, progress)
    write_atomic(outdir / "gradebook.csv", gradebook(records, roster, rubric, canvas))
    result = summary(records, roster, rubric)
    write_atomic(outdir / "summary.json", json.dumps(result, indent=1) + "\n")
    title = f"{submissions.name}: {len(records)} submissions"
    write_atomic(outdir / "report.html", html_report.render(result, title))
    return result, counts, entries
