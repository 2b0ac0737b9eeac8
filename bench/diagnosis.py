"""Measure: how often a failing function's feedback names the mistake.

Two sets, graded with the rubric that grades every layer (public and hidden cases):

- the catalogue (reference/mistakes.py): each mistake appended to the reference, as a
  submission; the share diagnosed as itself;
- buggy submissions written independently of the catalogue: tests/zoo/bugs (each a
  snippet that redefines functions of the correct example) and the bundled buggy example.
  For each failing function, its feedback is one of: a hint (a named mistake or a pattern,
  "Likely: ..."), an error the student can act on without a hint (a shape, a type, an
  exception with its line, None from a stub), or only a number.

    python bench/diagnosis.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORRECT = ROOT / "assignments" / "modular_layers" / "examples" / "correct" / "cs231n" / "layers.py"
BUGGY = ROOT / "assignments" / "modular_layers" / "examples" / "buggy" / "layers.py"
# Bugs that hang or loop: their feedback is a time limit, not a mistake to name.
SKIP = {"infinite_loop_relu_forward.py", "sleep_forever_svm.py"}
# What makes a message actionable without a hint.
ACTIONABLE = (
    "has shape", "is None", "is a list", "line ", "Error", "non-finite", "returned",
    "not implemented",
)  # fmt: skip

sys.path.insert(0, str(ROOT))


def rubric(folder: Path) -> Path:
    data = yaml.safe_load((ROOT / "assignments" / "all" / "rubric.yaml").read_text())
    data["vectors"] = str(ROOT / "assignments" / "modular_layers" / "vectors")
    path = folder / "rubric.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def entry(folder: Path, name: str, text: str) -> None:
    (folder / name / "cs231n").mkdir(parents=True)
    (folder / name / "cs231n" / "layers.py").write_text(text)


def grade_class(klass: Path, out: Path, rubric_path: Path) -> dict[str, list[dict[str, Any]]]:
    subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(klass), "-o", str(out), "--rubric",
         str(rubric_path), "-j", "2"],
        check=True, capture_output=True, cwd=ROOT,
    )  # fmt: skip
    return {
        (record := json.loads(p.read_text()))["student"]: record["result"]["functions"]
        for p in sorted((out / "results").glob("*.json"))
    }


def kind(function: dict[str, Any]) -> str:
    if function["hints"]:
        return "hint"
    if any(word in function["feedback"] for word in ACTIONABLE):
        return "actionable error"
    return "number only"


def main() -> None:
    from reference.mistakes import MISTAKES

    reference = (ROOT / "reference" / "layers.py").read_text()
    correct = CORRECT.read_text()
    with tempfile.TemporaryDirectory() as temp:
        base = Path(temp)
        catalogue, independent = base / "catalogue", base / "independent"
        for mistake in MISTAKES:
            entry(catalogue, mistake.name, reference + "\n\n" + mistake.source())
        for bug in sorted((ROOT / "tests" / "zoo" / "bugs").glob("*.py")):
            if bug.name not in SKIP:
                entry(independent, bug.stem, correct + "\n\n" + bug.read_text())
        entry(independent, "examples_buggy", BUGGY.read_text())
        path = rubric(base)
        graded = grade_class(catalogue, base / "out-catalogue", path)
        itself = sum(
            {m for f in graded[m.name] for m in f["mistakes"]} == {m.name} for m in MISTAKES
        )
        print(f"catalogue: {itself} / {len(MISTAKES)} mistakes diagnosed as themselves alone")
        counts: Counter[str] = Counter()
        for student, functions in sorted(grade_class(independent, base / "out-bugs", path).items()):
            for f in functions:
                if f["status"] in ("pass", "missing"):
                    continue
                counts[kind(f)] += 1
                print(f"  {student:32} {f['name']:26} {kind(f):17} {f['feedback'][:150]}")
        total = sum(counts.values())
        print(
            f"independent bugs: {total} failing functions; "
            + ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in counts.most_common())
        )


if __name__ == "__main__":
    main()
