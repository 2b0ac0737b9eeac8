"""report.html: the class at a glance, one self-contained page with the plots inline."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
# Labels quote student text: "$...$" must stay text, not become (failing) mathematics.
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from grader.batch.entries import safe_id  # noqa: E402
from grader.batch.records import StudentRecord  # noqa: E402
from grader.batch.summary import ClassSummary  # noqa: E402
from grader.report.hygiene import plain  # noqa: E402

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; } td, th { padding: 0.2em 0.8em; text-align: left; }
tr:nth-child(even) { background: #f3f3f3; } img { max-width: 100%; }
th.sort { cursor: pointer; text-decoration: underline dotted; }
td.num { text-align: right; } tr.error td, tr.missing td { color: #a00; }
"""
# Clicking a column's heading sorts the students by it (numbers as numbers); again, the
# other way round. The page works without it.
SORT = """
document.querySelectorAll("table.students th").forEach((th, col) => {
  th.classList.add("sort");
  th.addEventListener("click", () => {
    const body = th.closest("table").tBodies[0];
    const up = th.dataset.order !== "up";
    th.dataset.order = up ? "up" : "down";
    const key = (row) => row.cells[col].dataset.value ?? row.cells[col].textContent;
    const rows = Array.from(body.rows).sort((a, b) => {
      const x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      const order = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
      return up ? order : -order;
    });
    rows.forEach((row) => body.appendChild(row));
  });
});
"""


def png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def histogram(summary: ClassSummary) -> str:
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist(list(summary.totals.values()), bins=20, range=(0, summary.max_score or 1))
    ax.set_xlabel("total points")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return png(fig)


def pass_rates(summary: ClassSummary) -> str:
    names = list(summary.functions)
    rates = [100 * summary.functions[n].pass_rate for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(names) + 1))
    ax.barh(names[::-1], rates[::-1])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of students with full marks")
    return png(fig)


def mistakes(summary: ClassSummary) -> str:
    reasons = summary.reasons[:8]
    if not reasons:
        return "<p>No mistakes: every graded function passed.</p>"
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(reasons) + 1))
    texts = [plain(text) for text, _ in reasons]
    labels = [text if len(text) <= 60 else text[:57] + "..." for text in texts][::-1]
    ax.barh(labels, [n for _, n in reasons][::-1])
    ax.set_xlabel("students")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return png(fig)


def timing(summary: ClassSummary) -> str:
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist(list(summary.seconds.values()), bins=20)
    ax.set_xlabel("seconds to grade one submission")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return png(fig)


def escape(text: str) -> str:
    return html.escape(plain(text))


def students(records: Sequence[StudentRecord], roster: Mapping[str, str]) -> str:
    """One row per student: total, days late, status, what to fix first and links to their
    feedback; a roster student without a submission has a row too, marked missing."""
    rows = []
    for r in sorted(records, key=lambda r: r.student):
        days = r.report.get("late_days", 0) if r.report else 0
        feedback = f"feedback/{html.escape(safe_id(r.student), quote=True)}"
        links = f'<a href="{feedback}.txt">text</a> <a href="{feedback}.md">Markdown</a>'
        rows.append(
            f'<tr class="{r.status}"><td>{escape(r.student)}</td><td>{escape(r.name or "")}</td>'
            f'<td class="num">{r.score:g}</td><td class="num">{days or ""}</td>'
            f"<td>{r.status}</td><td>{escape(r.reason)}</td><td>{links}</td></tr>"
        )
    for student in sorted(set(roster) - {r.student for r in records}):
        rows.append(
            f'<tr class="missing"><td>{escape(student)}</td><td>{escape(roster[student])}</td>'
            '<td class="num" data-value="-1"></td><td></td><td>missing</td>'
            "<td>in the roster, no submission</td><td></td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("student", "name", "total", "days late", "status", "first to fix", "feedback")
    )
    body = "".join(rows)
    return f'<table class="students"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render(
    summary: ClassSummary,
    title: str,
    records: Sequence[StudentRecord],
    roster: Mapping[str, str],
) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{100 * f.pass_rate:.0f}%</td><td>{f.mean:g}</td></tr>"
        for name, f in summary.functions.items()
    )
    failed = "".join(f"<li>{escape(s)}</li>" for s in summary.failed) or "<li>none</li>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{escape(title)}</h1>
<p>{summary.students} students, {summary.graded} graded, {summary.errors} not gradable;
mean {summary.mean:g}, median {summary.median:g} of {summary.max_score:g} points.</p>
<h2>Distribution of totals</h2>{histogram(summary)}
<h2>Pass rate per function</h2>{pass_rates(summary)}
<table><tr><th>function</th><th>full marks</th><th>mean points</th></tr>{rows}</table>
<h2>Most frequent mistakes</h2>{mistakes(summary)}
<h2>Time per submission</h2>{timing(summary)}
<h2>Not gradable</h2><ul>{failed}</ul>
<h2>Students</h2>{students(records, roster)}
<script>{SORT}</script>
</body></html>
"""
