"""`grade batch`: a whole class graded end to end through the real command line.

The class comes from tests/classroom.py (more than sixty entries: correct submissions in
every form, each zoo bug, broken modules, hostile snippets, notebooks, twins, a zip bomb, a
link to nothing, an odd name) and is built once for the module; its expected totals are
worked out there by hand. The first run (-j 2, with a roster) is shared: the tests that need
other runs grade into output folders of their own, from the same submissions folder, so that
their gradebooks can be compared byte for byte (a reason may name the submission's path).

The roster lists every submitter but UNLISTED, and ABSENT, who handed nothing in.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from batch_support import report_table
from classroom import (
    AT_LEAST,
    ERRORS,
    FULL,
    MARKER,
    ODD_ID,
    POINTS,
    TWINS,
    build_class,
    correct_folder,
    correct_text,
)
from support import (
    ROOT,
    WORKER_UIDS,
    ZOO,
    Process,
    kill_all,
    processes,
    settle,
    ticks_now,
    with_marker,
    write_rubric,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

ABSENT = "absent_student"
UNLISTED = "correct_file_07"
COUNTS = re.compile(r"^graded (\d+), unchanged (\d+), errors (\d+)$", re.MULTILINE)
# A bound for one batch run of the whole class (about 11 s with two slots on two cores).
BATCH_TIMEOUT = 240
# The submission the rerun test changes, and what it becomes.
CHANGED = "correct_folder_03"
CHANGED_TOTAL = FULL - POINTS["relu_backward"]


def functions(rubric: Path) -> list[str]:
    """The rubric's functions, in its order."""
    return list(yaml.safe_load(rubric.read_text())["functions"])


def header(rubric: Path) -> list[str]:
    """The gradebook's columns for ``rubric``."""
    return ["student", "name", "total", *functions(rubric), "late_days", "status", "reason"]


def safe(student: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", student)


def roster_name(student: str) -> str:
    return "Zoë O'Brien-Núñez" if student == ODD_ID else f"Name of {student}"


@dataclass(frozen=True)
class Klass:
    folder: Path
    expected: dict[str, float | None]
    rubric: Path
    roster: Path

    @property
    def students(self) -> list[str]:
        return sorted({*self.expected, *AT_LEAST})


@dataclass(frozen=True)
class Run:
    out: Path
    proc: subprocess.CompletedProcess[str]

    def counts(self) -> tuple[int, int, int]:
        """(graded, unchanged, errors) from the line on stderr."""
        found = COUNTS.findall(self.proc.stderr)
        assert len(found) == 1, self.proc.stderr[-3000:]
        graded, unchanged, errors = found[0]
        return int(graded), int(unchanged), int(errors)

    def gradebook(self) -> bytes:
        return (self.out / "gradebook.csv").read_bytes()


def batch_command(klass: Klass, out: Path, *extra: str | Path) -> list[str]:
    return [
        sys.executable, "-m", "grader", "batch", str(klass.folder), "-o", str(out),
        "--rubric", str(klass.rubric), "--roster", str(klass.roster), *map(str, extra),
    ]  # fmt: skip


def batch(klass: Klass, out: Path, *extra: str | Path) -> Run:
    proc = subprocess.run(
        batch_command(klass, out, *extra),
        capture_output=True,
        text=True,
        timeout=BATCH_TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Run(out, proc)


def read_gradebook(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    columns, body = rows[0], rows[1:]
    return columns, [dict(zip(columns, row, strict=True)) for row in body]


def record(out: Path, student: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "results" / f"{safe(student)}.json").read_text())
    return data


def result_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "results").glob("*.json"))}


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> Klass:
    base = tmp_path_factory.mktemp("batch")
    expected = build_class(base / "submissions")
    rubric = write_rubric(base)
    roster = base / "roster.csv"
    listed = [s for s in sorted({*expected, *AT_LEAST}) if s != UNLISTED] + [ABSENT]
    with open(roster, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["section", "id", "name", "email"])
        for student in listed:
            writer.writerow(["A1", student, roster_name(student), f"{safe(student)}@uni.test"])
    return Klass(base / "submissions", expected, rubric, roster)


@pytest.fixture(scope="module")
def graded(klass: Klass) -> Run:
    """The class graded with two parallel slots into a fresh output folder."""
    run = batch(klass, klass.folder.parent / "out-j2", "-j", "2")
    # Nothing the fork bomb or the escaping snippet started is still there.
    assert settle(lambda: with_marker(MARKER), 5) == []
    return run


# Processes -----------------------------------------------------------------------------


def below(root: int) -> list[Process]:
    """The processes descending from ``root`` right now."""
    table = {p.pid: p for p in processes()}
    found = []
    for p in table.values():
        pid, seen = p.ppid, 0
        while pid in table and pid != root and seen < 64:
            pid, seen = table[pid].ppid, seen + 1
        if pid == root:
            found.append(p)
    return found


# The class, end to end ------------------------------------------------------------------


def test_outputs_are_readable_by_the_course_staff(graded: Run) -> None:
    files = [graded.out / name for name in ("gradebook.csv", "summary.json", "report.html")]
    files += sorted((graded.out / "feedback").iterdir())[:3]
    files += sorted((graded.out / "results").iterdir())[:3]
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_every_student_gets_the_expected_total(klass: Klass, graded: Run) -> None:
    columns, rows = read_gradebook(graded.out / "gradebook.csv")
    assert columns == header(klass.rubric)
    by_id = {r["student"]: r for r in rows}
    assert len(by_id) == len(rows), "a student has several rows"
    # One row per submitter and one for the student on the roster who handed nothing in;
    # the hidden folder and __MACOSX are not students.
    assert set(by_id) == {*klass.students, ABSENT}
    submitted = [r["student"] for r in rows if r["status"] != "missing"]
    assert submitted == sorted(submitted)

    wrong: dict[str, tuple[str, str, str, str]] = {}
    for student, want in klass.expected.items():
        row = by_id[student]
        total = float(row["total"] or 0)
        status = "error" if student in ERRORS else "graded"
        ok = row["status"] == status and (total < FULL if want is None else total == want)
        if not ok:
            wanted = "< 55" if want is None else f"{want:g}"
            wrong[student] = (row["status"], row["total"], wanted, row["reason"][:200])
    for student, least in AT_LEAST.items():
        row = by_id[student]
        if row["status"] != "graded" or not least <= float(row["total"]) <= FULL:
            wrong[student] = (row["status"], row["total"], f">= {least}", row["reason"][:200])
    assert wrong == {}

    for student in klass.students:
        row = by_id[student]
        assert row["name"] == ("" if student == UNLISTED else roster_name(student)), student
        if row["status"] == "graded":
            points = [float(row[name]) for name in POINTS]
            assert all(0 <= p <= POINTS[n] for p, n in zip(points, POINTS, strict=True)), row
            assert sum(points) == pytest.approx(float(row["total"])), row
            if float(row["total"]) < FULL:
                assert row["reason"].strip(), row
        else:
            # Recorded with the reason; the rest of the class was graded all the same.
            assert row["reason"].strip(), row
    assert by_id["bug_missing_relu_backward"]["relu_backward"] in ("0", "0.0")
    assert by_id["hostile_read_vectors"]["affine_forward"] in ("0", "0.0")

    absent = by_id[ABSENT]
    assert absent["status"] == "missing" and absent["total"] == ""
    assert absent["name"] == roster_name(ABSENT)


def test_every_student_has_a_result_and_feedback(klass: Klass, graded: Run) -> None:
    names = {f"{safe(s)}.json" for s in klass.students}
    assert set(result_files(graded.out)) - {f"{safe(ABSENT)}.json"} == names
    keys = {}
    for student in klass.students:
        data = record(graded.out, student)
        assert data["student"] == student
        assert data["name"] == (None if student == UNLISTED else roster_name(student))
        assert re.fullmatch(r"[0-9a-f]{64}", data["key"]), data["key"]
        feedback = (graded.out / "feedback" / f"{safe(student)}.txt").read_text()
        feedback_md = (graded.out / "feedback" / f"{safe(student)}.md").read_text()
        assert feedback.strip(), student
        if student in ERRORS:
            assert data["status"] == "error" and data["result"] is None
            assert isinstance(data["error"], str) and data["error"].strip()
            assert data["error"].splitlines()[0] in feedback
            assert feedback_md == feedback
            continue
        total = data["result"]["score"]
        assert feedback_md.startswith("# ") and f": {total:g} / {FULL:g}" in feedback_md
        keys[student] = data["key"]
        assert data["status"] == "graded" and data["error"] is None
        result = data["result"]
        assert result["schema"] == "layergrade.result/1"
        assert result["sandboxed"] is True
        assert [f["name"] for f in result["functions"]] == functions(klass.rubric)
        assert result["max_score"] == FULL
        want = klass.expected.get(student)
        if want is not None:
            assert result["score"] == want, student
    # Submissions that differ have different keys (the correct ones differ by a comment).
    others = [k for s, k in keys.items() if s != TWINS[1]]
    assert len(set(others)) == len(others)
    # The reason says what is wrong with the archive: what it would unpack to.
    bomb = record(graded.out, "zip_bomb")["error"]
    assert "MB" in bomb, bomb


def test_identical_submissions_have_the_same_key(graded: Run) -> None:
    """The key hashes the submission's content (and the rubric, vectors and grader version):
    two students who hand in the same bytes, in the same form, get the same key, and each
    gets a result of their own."""
    first, second = (record(graded.out, student) for student in TWINS)
    assert (first["student"], second["student"]) == TWINS
    assert first["result"]["score"] == second["result"]["score"]
    assert first["key"] == second["key"]


def test_summary_adds_up(klass: Klass, graded: Run) -> None:
    summary = json.loads((graded.out / "summary.json").read_text())
    _, rows = read_gradebook(graded.out / "gradebook.csv")
    submitted = [r for r in rows if r["status"] != "missing"]
    assert summary["schema"] == "layergrade.summary/1"
    assert summary["students"] == len(klass.students) == len(submitted)
    assert summary["errors"] == len(ERRORS)
    assert summary["graded"] + summary["errors"] == summary["students"]
    assert summary["max_score"] == FULL
    assert summary["missing"] == [ABSENT]
    assert summary["unknown"] == [UNLISTED]
    assert sorted(summary["failed"]) == sorted(ERRORS)

    # Every figure is over all submitters, an ungradable submission counting 0 everywhere.
    everyone = [float(r["total"] or 0) for r in submitted]
    assert summary["mean"] == pytest.approx(statistics.fmean(everyone), abs=1e-3)
    assert summary["median"] == pytest.approx(statistics.median(everyone), abs=1e-3)

    assert list(summary["functions"]) == functions(klass.rubric)
    for name, stats in summary["functions"].items():
        scores = [float(r[name] or 0) for r in submitted]
        assert 0 <= stats["pass_rate"] <= 1
        assert stats["pass_rate"] == pytest.approx(
            sum(s >= POINTS[name] for s in scores) / len(scores), abs=1e-3
        ), name
        assert stats["mean"] == pytest.approx(statistics.fmean(scores), abs=1e-3), name

    reasons = summary["reasons"]
    assert reasons and all(isinstance(t, str) and t and n >= 1 for t, n in reasons)
    counts = [n for _, n in reasons]
    assert counts == sorted(counts, reverse=True)
    slowest = summary["slowest"]
    assert slowest and all(s in klass.students and t >= 0 for s, t in slowest)
    seconds = [t for _, t in slowest]
    assert seconds == sorted(seconds, reverse=True)

    graded_count, unchanged, errors = graded.counts()
    n = len(klass.students)
    # Whether an ungradable submission counts as graded too is the command's choice.
    assert unchanged == 0 and errors == len(ERRORS)
    assert graded_count <= n <= graded_count + errors


def without_bounded(gradebook: bytes) -> tuple[bytes, list[float]]:
    """The gradebook without the rows of the submissions whose total is only bounded (the
    fork bomb: how far it gets depends on the machine's load), and those totals."""
    lines = gradebook.splitlines(keepends=True)
    bounded = [line for line in lines if line.split(b",", 1)[0].decode() in AT_LEAST]
    totals = [float(line.split(b",")[2]) for line in bounded]
    return b"".join(line for line in lines if line not in bounded), totals


def test_serial_and_parallel_gradebooks_are_identical(klass: Klass, graded: Run) -> None:
    serial = batch(klass, klass.folder.parent / "out-j1", "-j", "1")
    rows, totals = without_bounded(serial.gradebook())
    assert rows == without_bounded(graded.gradebook())[0]
    assert len(totals) == len(AT_LEAST) and min(totals) >= min(AT_LEAST.values())


def test_rerun_grades_only_what_changed(klass: Klass, graded: Run) -> None:
    n = len(klass.students)
    out = klass.folder.parent / "out-rerun"
    shutil.copytree(graded.out, out)
    before = result_files(out)

    again = batch(klass, out)
    graded_count, unchanged, errors = again.counts()
    assert graded_count == 0 and unchanged + errors == n, again.proc.stderr[-2000:]
    assert again.gradebook() == graded.gradebook()
    assert result_files(out) == before

    layers = klass.folder / CHANGED / "cs231n" / "layers.py"
    original = layers.read_bytes()
    bug = (ZOO / "bugs" / "missing_relu_backward.py").read_text()
    try:
        layers.write_text(correct_text(CHANGED) + "\n\n" + bug)
        changed = batch(klass, out)
        graded_count, unchanged, _ = changed.counts()
        assert graded_count == 1 and unchanged == n - 1, changed.proc.stderr[-2000:]
        after = result_files(out)
        name = f"{safe(CHANGED)}.json"
        assert {k: v for k, v in after.items() if k != name} == {
            k: v for k, v in before.items() if k != name
        }
        data = record(out, CHANGED)
        assert data["result"]["score"] == CHANGED_TOTAL
        assert data["key"] != json.loads(before[name])["key"]
        _, rows = read_gradebook(out / "gradebook.csv")
        _, first = read_gradebook(graded.out / "gradebook.csv")
        differ = [new["student"] for new, old in zip(rows, first, strict=True) if new != old]
        assert differ == [CHANGED]
    finally:
        layers.write_bytes(original)

    forced = batch(klass, out, "--force")
    graded_count, unchanged, errors = forced.counts()
    assert unchanged == 0 and graded_count <= n <= graded_count + errors
    # Regraded: the fork bomb may get another total within its bound.
    assert without_bounded(forced.gradebook())[0] == without_bounded(graded.gradebook())[0]
    assert record(out, CHANGED)["key"] == json.loads(before[f"{safe(CHANGED)}.json"])["key"]


def test_killed_run_resumes_to_the_same_gradebook(klass: Klass, graded: Run) -> None:
    n = len(klass.students)
    out = klass.folder.parent / "out-killed"
    since = ticks_now() - 1
    # As root, the workers' uids; otherwise (no uid of their own), the processes below the
    # grader, by pid and start time. (Not as root: the grader's own bubblewrap processes,
    # killed with it, may stay zombies of this test's process, a subreaper once it has
    # allocated a worker uid.)
    root = os.geteuid() == 0
    uids: set[int] = set()
    started: set[tuple[int, int]] = set()
    proc = subprocess.Popen(
        batch_command(klass, out, "-j", "2"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        end = time.monotonic() + BATCH_TIMEOUT
        while time.monotonic() < end and proc.poll() is None:
            descendants = below(proc.pid)
            uids |= {uid for p in descendants for uid in WORKER_UIDS & set(p.uids)}
            started |= {(p.pid, p.start) for p in descendants if not root}
            if len(list((out / "results").glob("*.json"))) >= 5:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the batch finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert uids if root else started, "no worker process of the batch was ever seen"

    try:
        # Every worker and everything it started goes with the grader.
        def leftovers() -> list[Process]:
            return [
                p
                for p in processes()
                if (uids & set(p.uids) and p.start >= since) or (p.pid, p.start) in started
            ]

        left = settle(leftovers, 10)
        assert left == [], [(p.pid, p.uids, p.cmdline[:80]) for p in left]
        assert settle(lambda: with_marker(MARKER), 5) == []
    finally:
        kill_all(with_marker(MARKER))

    # What was written is whole: every result file parses, and none is for the whole class.
    kept = result_files(out)
    assert 5 <= len(kept) < n
    for name, text in kept.items():
        assert json.loads(text)["key"], name

    resumed = batch(klass, out, "-j", "2")
    graded_count, unchanged, errors = resumed.counts()
    assert unchanged == len(kept)
    assert graded_count <= n - len(kept) <= graded_count + errors
    assert without_bounded(resumed.gradebook())[0] == without_bounded(graded.gradebook())[0]


def test_canvas_import_is_its_own_file(klass: Klass, graded: Run) -> None:
    out = klass.folder.parent / "out-canvas"
    shutil.copytree(graded.out, out)
    assignment = "Assignment 2, modular layers"
    canvas = batch(klass, out, "--canvas", assignment)
    assert canvas.counts()[0] == 0
    # gradebook.csv keeps every column; canvas.csv has Canvas's.
    assert (out / "gradebook.csv").read_bytes() == graded.gradebook()
    columns, rows = read_gradebook(out / "canvas.csv")
    assert columns == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment]
    _, plain = read_gradebook(graded.out / "gradebook.csv")
    by_id = {r["ID"]: r for r in rows}
    assert set(by_id) == {r["student"] for r in plain}
    for row in plain:
        student = row["student"]
        # A student who handed nothing in, or whose submission could not be graded, stays
        # blank: Canvas leaves the cell ungraded.
        graded = row["status"] == "graded"
        assert by_id[student][assignment] == (row["total"] if graded else ""), student
        if student != UNLISTED:
            assert by_id[student]["Student"] == roster_name(student)
    assert by_id[ABSENT][assignment] == ""
    assert all(by_id[student][assignment] == "" for student in ERRORS)


# report.html ----------------------------------------------------------------------------


class Page(HTMLParser):
    """The links, images and headings of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, str]] = []
        self.images: list[str] = []
        self.headings: list[str] = []
        self._heading: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.links.append((tag, name, value.strip()))
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        if tag in ("h1", "h2", "h3", "h4"):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "h3", "h4") and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)


# What the report's headings must speak of: its four plots.
HEADINGS = {
    "histogram of totals": r"\btotals?\b",
    "pass rate per function": r"pass rate",
    "most frequent mistakes": r"mistake",
    "time per submission": r"\btime\b|\bseconds\b",
}


def check_page(page: Page) -> None:
    for tag, attr, value in page.links:
        if value.lower().startswith("data:"):
            continue  # inline by definition
        assert "http://" not in value and "https://" not in value, (tag, attr, value[:200])
        assert not value.startswith("//"), (tag, attr, value[:200])
        # Images, scripts and style sheets are inside the page, not next to it.
        assert attr != "src" and tag != "link", (tag, attr, value[:200])
    plots = [src for src in page.images if src.startswith("data:image/")]
    assert len(plots) >= 4, [src[:60] for src in page.images]
    text = "\n".join(page.headings).lower()
    missing = [what for what, pattern in HEADINGS.items() if not re.search(pattern, text)]
    assert missing == [], page.headings


def test_report_is_self_contained(graded: Run) -> None:
    text = (graded.out / "report.html").read_text(encoding="utf-8")
    check_page(Page(text))
    for url in re.findall(r"url\(\s*['\"]?([^'\")]*)", text) + re.findall(r"@import\s+(\S+)", text):
        assert url.startswith(("data:", "#")), url


def test_report_lists_every_student_with_their_feedback(klass: Klass, graded: Run) -> None:
    rows = report_table(graded.out).by_student()
    _, book = read_gradebook(graded.out / "gradebook.csv")
    # The same students as the gradebook, roster gaps included, with the same totals.
    assert set(rows) == {r["student"] for r in book}
    for r in book:
        row = rows[r["student"]]
        assert (row["total"], row["status"]) == (r["total"], r["status"]), r["student"]
    assert rows[ABSENT]["status"] == "missing"
    assert "no submission" in rows[ABSENT]["first to fix"]
    for student in ERRORS:
        assert rows[student]["first to fix"], student
    # Every graded or failed submission links to its feedback, which is on disk.
    table = report_table(graded.out)
    links = {r.cells[0]: r.links for r in table.rows[1:]}
    assert links[ABSENT] == []
    for student in klass.students:
        assert len(links[student]) == 2, student
        for link in links[student]:
            assert (graded.out / link).is_file(), (student, link)


def chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must render report.html: chromium (/usr/bin/chromium) is missing")
        pytest.skip("chromium is not installed (/usr/bin/chromium): apt-get install chromium")
    return path


def test_report_renders_in_a_browser(graded: Run, tmp_path: Path) -> None:
    browser = chromium()
    report = (graded.out / "report.html").resolve()
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ]  # fmt: skip

    def render(profile: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [browser, *flags, f"--user-data-dir={tmp_path / profile}", *extra, report.as_uri()],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )

    shot = tmp_path / "shot.png"
    proc = render("profile-shot", f"--screenshot={shot}", "--window-size=1200,2000")
    assert shot.is_file() and shot.stat().st_size > 0, proc.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 600, pixels.shape
    colours = pixels[..., :3]
    assert colours.std() > 0.02, "the screenshot is blank"
    # More than a line or two of text on a plain background.
    background = np.median(colours.reshape(-1, 3), axis=0)
    drawn = np.abs(colours - background).max(axis=2) > 0.1
    assert drawn.mean() > 0.01, drawn.mean()

    dom = render("profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    check_page(Page(dom.stdout))


# Other inputs -----------------------------------------------------------------------------


def test_a_zip_of_the_class(tmp_path: Path) -> None:
    """A class handed over as one zip, with one folder at its top (and a Mac's leftovers)."""
    rubric = write_rubric(tmp_path)
    staged = tmp_path / "staged"
    correct_folder(staged, "alice")
    (staged / "bob.py").write_text(correct_text("bob"))
    carol = (ZOO / "bugs" / "missing_relu_backward.py").read_text()
    (staged / "carol.py").write_text(correct_text("carol") + "\n\n" + carol)
    with zipfile.ZipFile(staged / "dave.zip", "w") as zf:
        zf.writestr("cs231n/layers.py", correct_text("dave"))
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(staged.rglob("*")):
            if path.is_file():
                zf.write(path, "export/" + path.relative_to(staged).as_posix())
        zf.writestr("__MACOSX/export/._bob.py", b"\0\5\26\7" * 16)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "batch", archive, "-o", out, "--rubric", rubric],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    columns, rows = read_gradebook(out / "gradebook.csv")
    assert columns == header(rubric)
    totals = {r["student"]: (float(r["total"]), r["status"]) for r in rows}
    assert totals == {
        "alice": (FULL, "graded"),
        "bob": (FULL, "graded"),
        "carol": (FULL - POINTS["relu_backward"], "graded"),
        "dave": (FULL, "graded"),
    }
    summary = json.loads((out / "summary.json").read_text())
    assert summary["missing"] == [] and summary["unknown"] == []


def test_roster_saved_by_a_spreadsheet(tmp_path: Path) -> None:
    """A roster as spreadsheet programs save CSV: UTF-8 with a byte order mark, CRLF lines."""
    rubric = write_rubric(tmp_path)
    submissions = tmp_path / "class"
    submissions.mkdir()
    (submissions / "alice.py").write_text(correct_text("alice"))
    roster = tmp_path / "roster.csv"
    roster.write_bytes("id,name\r\nalice,Alice Ärmel\r\nbob,Bob B\r\n".encode("utf-8-sig"))
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable, "-m", "grader", "batch", submissions, "-o", out,
            "--rubric", rubric, "--roster", roster,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    _, rows = read_gradebook(out / "gradebook.csv")
    # Bob handed nothing in: a blank, not a zero (no grade is not a failing grade).
    got = {r["student"]: (r["name"], r["total"], r["status"]) for r in rows}
    assert got == {"alice": ("Alice Ärmel", f"{FULL:g}", "graded"), "bob": ("Bob B", "", "missing")}


def bad_rubric(folder: Path) -> Path:
    path = write_rubric(folder)
    path.write_text(path.read_text() + "\ntolerence: 1\n")
    return path


def bad_roster(folder: Path) -> Path:
    path = folder / "roster.csv"
    path.write_text("id,email\nalice,alice@uni.test\n")
    return path


@pytest.mark.parametrize("mistake", ["missing submissions", "bad rubric", "bad roster"])
def test_usage_errors_exit_2(tmp_path: Path, mistake: str) -> None:
    submissions = tmp_path / "class"
    correct_folder(submissions, "alice")
    rubric = write_rubric(tmp_path)
    extra: list[str | Path] = []
    if mistake == "missing submissions":
        submissions = tmp_path / "no-such-class"
    elif mistake == "bad rubric":
        (tmp_path / "bad").mkdir()
        rubric = bad_rubric(tmp_path / "bad")
    else:
        extra = ["--roster", bad_roster(tmp_path)]
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable, "-m", "grader", "batch", submissions, "-o", out,
            "--rubric", rubric, *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert proc.stderr.strip()
    assert not (out / "gradebook.csv").exists()
