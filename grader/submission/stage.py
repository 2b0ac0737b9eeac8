"""Find a submission's layers module and stage a private, readable copy of its code.

A submission is a folder, a single ``.py`` file, or a ``.zip`` of either. The grader
never modifies it: the Python files are copied (symlinks skipped, sizes capped) into a
fresh staging folder that the sandbox mounts read-only. Zips are extracted with their
paths checked (no absolute paths, no ``..``, no links) and their sizes capped. All of it
runs within a time budget (the rubric's ``staging_seconds``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from grader.config.choices import Source
from grader.config.options import SourceOptions
from grader.errors import SubmissionError
from grader.submission.archive import extract_zip
from grader.submission.budget import Budget, default_budget
from grader.submission.files import (
    MAX_FILE_BYTES,
    copy_python_tree,
    find,
    open_tree,
    regular,
    too_much_code,
    walk,
)

# How the submission's code is graded: its module imported, its notebook executed, or the
# definitions of its notebook extracted without running anything.
Mode = Literal["module", "notebook", "notebook, definitions only (not executed)"]
CELLS_FILE = "__layergrade_cells__.json"
# The staging folders, in the system's temporary folder.
STAGING_PREFIX = "layergrade-sub-"
EXTRACTED_MODULE = "__layergrade_notebook__"


@dataclass(frozen=True)
class Submission:
    """A staged submission: ``source`` is importable and holds ``module``, or, for an
    executed notebook, ``cells`` (a file in ``source`` listing its code cells)."""

    path: Path
    source: Path
    module: str
    module_file: str
    cells: str | None = None
    mode: Mode = "module"
    notes: tuple[str, ...] = ()


# Where the course's own layout keeps the module: preferred when a folder holds several.
COURSE_LAYOUT = ("cs231n", "layers.py")


def find_module_file(root: Path, wanted: str | None, budget: Budget) -> Path:
    """The layers module of the folder ``root``: the one named, the only one, or, among
    several, the one in the course's layout (cs231n/layers.py) when exactly one is."""
    if wanted:
        path = root / wanted
        if not path.is_file():
            raise SubmissionError(
                f"{root} has no {wanted} (the module the rubric or --module names)."
            )
        return path
    candidates = find(root, "layers.py", budget)
    links = [] if candidates else linked_modules(root, budget)
    if not candidates and links:
        raise SubmissionError(
            f"{links[0].relative_to(root)} is a symbolic link: the grader copies files, not "
            "links (the file it points to may not be yours to submit).\nHint: submit the "
            "file itself."
        )
    if not candidates:
        raise SubmissionError(
            f"no layers.py found in {root}.\nHint: submit the folder that contains "
            "cs231n/layers.py, or name the file with --module PATH."
        )
    course = [p for p in candidates if p.relative_to(root).parts[-2:] == COURSE_LAYOUT]
    if len(candidates) > 1 and len(course) == 1:
        return course[0]
    if len(candidates) > 1:
        listing = "\n".join(f"  {p.relative_to(root)}" for p in candidates)
        raise SubmissionError(
            f"{root} has {len(candidates)} candidate layers modules:\n{listing}\n"
            f"Hint: choose one with --module {candidates[0].relative_to(root)} "
            "(or `module:` in rubric.yaml)."
        )
    return candidates[0]


def linked_modules(root: Path, budget: Budget) -> list[Path]:
    """The symbolic links named layers.py under ``root``, outside skipped folders."""
    found = walk(root, budget, "copying")
    return [Path(e.path) for e in found if e.name == "layers.py" and e.is_symlink()]


def import_root(module_file: Path, top: Path) -> tuple[Path, Path, str]:
    """Where the importable code starts: (folder to copy, its place in the copy, module).

    Packages are followed upwards while they have an ``__init__.py`` (or are named
    cs231n, which the course ships without one in some years), but never above ``top``:
    a submitted ``cs231n`` folder is copied as ``cs231n/`` so its own imports still work.
    """
    parts = [module_file.stem]
    folder = module_file.parent
    while folder.name.isidentifier() and (
        (folder / "__init__.py").exists() or folder.name == "cs231n"
    ):
        parts.insert(0, folder.name)
        if folder == top:
            break
        folder = folder.parent
    for part in parts:
        if not part.isidentifier():
            raise SubmissionError(
                f"{module_file} cannot be imported: {part!r} is not a valid Python name."
            )
    if len(parts) > 1 and folder == top and top.name == parts[0]:
        return top, Path(top.name), ".".join(parts)
    return folder, Path(), ".".join(parts)


def choose_source(
    top: Path, source: Source, module: str | None, budget: Budget
) -> tuple[Path | None, str]:
    """The notebook to grade, or None for the layers module; and a note saying what was
    chosen when the submission has both."""
    if module or source == "module":
        return None, ""
    notebooks = find(top, "*.ipynb", budget)
    has_module = bool(find(top, "layers.py", budget))
    if source == "auto" and (has_module or not notebooks):
        note = "graded the layers module; the submission also has a notebook" if notebooks else ""
        return None, note
    if not notebooks:
        raise SubmissionError(f"{top} has no notebook (.ipynb) to grade.")
    if len(notebooks) > 1:
        listing = "\n".join(f"  {p.relative_to(top)}" for p in notebooks)
        raise SubmissionError(
            f"{top} has {len(notebooks)} notebooks:\n{listing}\nHint: grade one of them "
            "directly (grade path/to/notebook.ipynb)."
        )
    note = "graded the notebook; the submission also has a layers module" if has_module else ""
    return notebooks[0], note


def stage_notebook(
    notebook: Path, folder: Path, code: Path, *, execute: bool, budget: Budget
) -> Submission:
    """Stage a notebook with the Python files of its folder (its own cs231n/ package)."""
    # Imported here: nbformat and IPython take a while to import, and only notebooks
    # need them.
    from grader.submission.extract import extract_module
    from grader.submission.notebook import cells_payload, read_notebook

    # An executed notebook's magics are read by the shell that runs it, in the sandbox.
    nb = read_notebook(notebook, budget, transform=not execute)
    copy_python_tree(folder, code, budget)
    notes = list(nb.warnings)
    if nb.upgraded_from is not None:
        notes.append(f"the notebook was upgraded from format {nb.upgraded_from} to 4")
    if execute:
        (code / CELLS_FILE).write_text(json.dumps(cells_payload(nb)))
        return Submission(
            path=notebook,
            source=code,
            module="",
            module_file=notebook.name,
            cells=CELLS_FILE,
            mode="notebook",
            notes=tuple(notes),
        )
    source, warnings = extract_module(nb, budget)
    (code / f"{EXTRACTED_MODULE}.py").write_text(source)
    notes.extend(warnings)
    return Submission(
        path=notebook,
        source=code,
        module=EXTRACTED_MODULE,
        module_file=notebook.name,
        mode="notebook, definitions only (not executed)",
        notes=tuple(notes),
    )


def stage(
    path: Path,
    options: SourceOptions | None = None,
    *,
    in_class: bool = False,
    budget: Budget | None = None,
) -> tuple[Submission, tempfile.TemporaryDirectory[str]]:
    """Stage ``path`` for grading. The caller keeps the returned folder alive while grading.

    ``options.source`` chooses between a layers module and a notebook when a folder has
    both (None or auto: the module); ``options.execute`` False grades a notebook's
    definitions without running it. A single notebook brings the cs231n package beside
    it, unless it is an entry of a class (``in_class``): that folder is a classmate's.
    Raises OverBudget when staging takes longer than ``budget`` (None: the default limit).
    """
    options = options or SourceOptions()
    budget = budget or default_budget()
    if not path.exists():
        raise SubmissionError(f"{path} does not exist.")
    if not (path.is_dir() or regular(path.resolve())):
        # A FIFO would block whoever opens it; a device or a socket is no submission.
        raise SubmissionError(f"{path} is neither a folder nor a regular file.")
    # Private to the grader (mode 0700) until the sandbox opens it to the one worker that
    # grades it: a folder left behind by a grader that was killed stays closed.
    tmp = tempfile.TemporaryDirectory(prefix=STAGING_PREFIX)
    staging = Path(tmp.name)
    code = staging / "code"
    code.mkdir()
    try:
        submission = stage_into(
            path.resolve(), staging, code, options, in_class=in_class, budget=budget
        )
        # The worker's uid reads it, whatever the grader's umask made of the folders.
        open_tree(code)
    except SubmissionError as exc:
        tmp.cleanup()
        # Say where in the submission, not where on the grader's disk it was unpacked.
        message = str(exc)
        for unpacked in (staging / "unzipped", staging / "single", staging):
            message = message.replace(str(unpacked), path.name)
        raise type(exc)(message) from None  # a NotebookError stays one
    except BaseException:
        tmp.cleanup()
        raise
    return submission, tmp


def stage_into(
    path: Path,
    staging: Path,
    code: Path,
    options: SourceOptions,
    *,
    in_class: bool,
    budget: Budget,
) -> Submission:
    """Copy the code of the submission at ``path`` into ``code``, using ``staging`` for
    what must be unpacked first."""
    module, execute = options.module, options.execute
    if path.suffix == ".ipynb" and path.is_file():
        # Only the notebook and its own package: its folder may hold anything else.
        folder = staging / "single"
        folder.mkdir()
        if not in_class and (path.parent / "cs231n").is_dir():
            copy_python_tree(path.parent / "cs231n", folder / "cs231n", budget)
        return stage_notebook(path, folder, code, execute=execute, budget=budget)
    if path.is_dir():
        top = path
    elif path.suffix == ".zip":
        top = staging / "unzipped"
        top.mkdir()
        extract_zip(path, top, budget)
    elif path.suffix == ".py":
        # Checked before copying: one copy of any size would be a step without a deadline.
        if path.stat().st_size > MAX_FILE_BYTES:
            raise too_much_code(path)
        top = staging / "single"
        top.mkdir()
        shutil.copyfile(path, top / "layers.py")
        module = module or "layers.py"
    else:
        raise SubmissionError(
            f"{path} is neither a folder, a .py file, a notebook nor a .zip.\nHint: grade "
            "the folder that contains cs231n/layers.py."
        )
    notebook, note = choose_source(top, options.source or "auto", module, budget)
    if notebook is not None:
        staged = stage_notebook(notebook, notebook.parent, code, execute=execute, budget=budget)
        notes = (note, *staged.notes) if note else staged.notes
        return replace(staged, path=path, notes=notes)
    module_file = find_module_file(top, module, budget)
    root, place, dotted = import_root(module_file, top)
    copy_python_tree(root, code / place, budget)
    notes = (note,) if note else ()
    others = [p for p in find(top, "layers.py", budget) if p != module_file] if not module else []
    if others:
        also = ", ".join(str(p.relative_to(top)) for p in others[:5])
        notes += (
            f"graded {module_file.relative_to(top)} (the course's layout); also found {also}: "
            "name another with --module",
        )
    return Submission(
        path=path,
        source=code,
        module=dotted,
        module_file=str(module_file.relative_to(top)),
        notes=notes,
    )
