"""Where the built-in assignment and the course's staff files are.

Installed from a wheel, the package carries the built-in assignment (its rubric and its
public vectors) as ``grader/assignments/``, and nothing of the staff's. Run from the
course's repository (``pip install -e .``), it finds the repository beside the package:
``assignments/`` with the hidden vectors and the example solutions, ``reference/``, the
tests. Staff-only work needs the second.
"""

from __future__ import annotations

from pathlib import Path

import grader
from grader.errors import UsageError

PACKAGE = Path(grader.__file__).resolve().parent
CHECKOUT = PACKAGE.parent
DEFAULT_ASSIGNMENT = "modular_layers"


def staff_checkout() -> Path | None:
    """The course's repository the grader runs from, if it runs from one."""
    return CHECKOUT if (CHECKOUT / "reference" / "build.py").is_file() else None


def assignments_dir() -> Path:
    """The built-in assignments: the repository's, or the copy installed with the package."""
    installed = PACKAGE / "assignments"
    return installed if installed.is_dir() else CHECKOUT / "assignments"


def builtin_rubric(name: str = DEFAULT_ASSIGNMENT) -> Path:
    return assignments_dir() / name / "rubric.yaml"


def default_rubric() -> Path:
    """The rubric when none is named: ./rubric.yaml where there is one, else the built-in
    assignment's."""
    here = Path("rubric.yaml")
    return here if here.exists() else builtin_rubric()


def require_staff_checkout(what: str) -> Path:
    """The staff checkout, or a UsageError saying that ``what`` needs it."""
    checkout = staff_checkout()
    if checkout is None:
        raise UsageError(
            f"{what} needs the course's staff files (the reference solutions and the hidden "
            "vectors), which the installed package does not carry.\nHint: run it from the "
            "course's repository checkout, installed with `pip install -e .`."
        )
    return checkout
