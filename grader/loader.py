"""Find a submission's layers module and stage a private, readable copy of its code.

A submission is a folder, a single ``.py`` file, or a ``.zip`` of either. The grader
never modifies it: the Python files are copied (symlinks skipped, sizes capped) into a
fresh staging folder that the sandbox mounts read-only. Zips are extracted with their
paths checked (no absolute paths, no ``..``, no links) and their sizes capped.
"""

from __future__ import annotations

import json
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

# A real submission has a few dozen Python files of a few hundred KB at most; the caps
# stop a zip bomb or a stray dataset from filling the disk.
MAX_FILES = 2000
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_TOTAL_BYTES = 50 * 1024 * 1024
SKIP_DIRS = {"__pycache__", "__MACOSX", ".git", ".ipynb_checkpoints", "node_modules"}


class SubmissionError(Exception):
    """The submission cannot be graded as given; the message says what to change."""


class NotebookError(SubmissionError):
    """The notebook cannot be graded as given; the message names the problem and the fix."""


@dataclass(frozen=True)
class Submission:
    """A staged submission: ``source`` is importable and holds ``module``, or, for an
    executed notebook, ``cells`` (a file in ``source`` listing its code cells)."""

    path: Path
    source: Path
    module: str
    module_file: str
    cells: str | None = None
    mode: str = "module"
    notes: tuple[str, ...] = ()


def copy_python_tree(src: Path, dst: Path) -> None:
    """Copy every .py file under ``src`` to ``dst``, skipping links, with caps."""
    count = total = 0
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src)
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        if path.is_symlink() or any((src / p).is_symlink() for p in rel.parents if p.parts):
            continue
        size = path.stat().st_size
        count += 1
        total += size
        if count > MAX_FILES or size > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
            raise SubmissionError(
                f"{src} holds too much Python code to grade (limits: {MAX_FILES} files, "
                f"{MAX_FILE_BYTES >> 20} MB each, {MAX_TOTAL_BYTES >> 20} MB in all)."
            )
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        shutil.copyfile(path, target)
        target.chmod(0o644)


def extract_zip(
    archive: Path, dst: Path, max_files: int = MAX_FILES, max_bytes: int = MAX_TOTAL_BYTES
) -> None:
    """Extract ``archive`` into ``dst`` after checking every member and the totals."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{archive} is not a readable zip file ({exc}).") from None
    with zf:
        members = zf.infolist()
        if len(members) > max_files:
            raise SubmissionError(
                f"{archive} has {len(members)} entries; the limit is {max_files}."
            )
        if sum(m.file_size for m in members) > max_bytes:
            raise SubmissionError(
                f"{archive} unpacks to more than {max_bytes >> 20} MB; remove data files "
                "(datasets, checkpoints) and zip only your code."
            )
        for m in members:
            name = PurePosixPath(m.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
                raise SubmissionError(f"{archive} contains an unsafe path: {m.filename!r}.")
            if stat.S_ISLNK(m.external_attr >> 16):
                raise SubmissionError(f"{archive} contains a symbolic link: {m.filename!r}.")
        for m in members:
            name = PurePosixPath(m.filename.replace("\\", "/"))
            if m.is_dir() or not name.parts or name.parts[0] in SKIP_DIRS:
                continue
            target = dst.joinpath(*name.parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(m) as fin, open(target, "wb") as fout:
                    # Read at most the declared size plus one byte: a lying header cannot
                    # bomb us.
                    data = fin.read(m.file_size + 1)
                    if len(data) > m.file_size:
                        raise SubmissionError(
                            f"{archive}: {m.filename!r} is larger than it declares."
                        )
                    fout.write(data)
            except (OSError, zipfile.BadZipFile, zlib.error) as exc:
                raise SubmissionError(
                    f"{archive}: cannot extract {m.filename!r} ({exc})."
                ) from None


def find_module_file(root: Path, wanted: str | None) -> Path:
    if wanted:
        path = root / wanted
        if not path.is_file():
            raise SubmissionError(
                f"{root} has no {wanted} (the module the rubric or --module names)."
            )
        return path
    candidates = sorted(
        p
        for p in root.rglob("layers.py")
        if not any(part in SKIP_DIRS or part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not candidates:
        raise SubmissionError(
            f"no layers.py found in {root}.\nHint: submit the folder that contains "
            "cs231n/layers.py, or name the file with --module PATH."
        )
    if len(candidates) > 1:
        listing = "\n".join(f"  {p.relative_to(root)}" for p in candidates)
        raise SubmissionError(
            f"{root} has {len(candidates)} candidate layers modules:\n{listing}\n"
            f"Hint: choose one with --module {candidates[0].relative_to(root)} "
            "(or `module:` in rubric.yaml)."
        )
    return candidates[0]


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


CELLS_FILE = "__layergrade_cells__.json"
EXTRACTED_MODULE = "__layergrade_notebook__"
SOURCES = ("auto", "module", "notebook")


def find_notebooks(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*.ipynb")
        if not any(part in SKIP_DIRS or part.startswith(".") for part in p.relative_to(root).parts)
    )


def choose_source(top: Path, source: str, module: str | None) -> tuple[str, Path | None, str]:
    """Module or notebook: (kind, the notebook if that, a note saying what was chosen)."""
    if module or source == "module":
        return "module", None, ""
    notebooks = find_notebooks(top)
    has_module = any(
        not any(part in SKIP_DIRS or part.startswith(".") for part in p.relative_to(top).parts)
        for p in top.rglob("layers.py")
    )
    if source == "auto" and (has_module or not notebooks):
        note = "graded the layers module; the submission also has a notebook" if notebooks else ""
        return "module", None, note
    if not notebooks:
        raise SubmissionError(f"{top} has no notebook (.ipynb) to grade.")
    if len(notebooks) > 1:
        listing = "\n".join(f"  {p.relative_to(top)}" for p in notebooks)
        raise SubmissionError(
            f"{top} has {len(notebooks)} notebooks:\n{listing}\nHint: grade one of them "
            "directly (grade path/to/notebook.ipynb)."
        )
    note = "graded the notebook; the submission also has a layers module" if has_module else ""
    return "notebook", notebooks[0], note


def stage_notebook(notebook: Path, folder: Path, code: Path, execute: bool) -> Submission:
    """Stage a notebook with the Python files of its folder (its own cs231n/ package)."""
    from grader.notebook import cells_payload, extract_module, read_notebook

    nb = read_notebook(notebook)
    copy_python_tree(folder, code)
    notes = list(nb.warnings)
    if nb.upgraded_from is not None:
        notes.append(f"the notebook was upgraded from format {nb.upgraded_from} to 4")
    if execute:
        (code / CELLS_FILE).write_text(json.dumps(cells_payload(nb)))
        (code / CELLS_FILE).chmod(0o644)
        return Submission(notebook, code, "", notebook.name, CELLS_FILE, "notebook", tuple(notes))
    source, warnings = extract_module(nb)
    (code / f"{EXTRACTED_MODULE}.py").write_text(source)
    (code / f"{EXTRACTED_MODULE}.py").chmod(0o644)
    notes.extend(warnings)
    mode = "notebook, definitions only (not executed)"
    return Submission(notebook, code, EXTRACTED_MODULE, notebook.name, None, mode, tuple(notes))


def stage(
    path: Path, module: str | None = None, source: str = "auto", execute: bool = True
) -> tuple[Submission, tempfile.TemporaryDirectory[str]]:
    """Stage ``path`` for grading. The caller keeps the returned folder alive while grading.

    ``source`` chooses between a layers module and a notebook when a folder has both
    (auto: the module); ``execute`` False grades a notebook's definitions without running it.
    """
    if not path.exists():
        raise SubmissionError(f"{path} does not exist.")
    path = path.resolve()
    tmp = tempfile.TemporaryDirectory(prefix="layergrade-sub-")
    staging = Path(tmp.name)
    staging.chmod(0o755)
    code = staging / "code"
    code.mkdir(mode=0o755)
    try:
        if path.suffix == ".ipynb" and path.is_file():
            # Only the notebook and its own package: its folder may hold anything else.
            folder = staging / "single"
            folder.mkdir()
            if (path.parent / "cs231n").is_dir():
                copy_python_tree(path.parent / "cs231n", folder / "cs231n")
            return stage_notebook(path, folder, code, execute), tmp
        if path.is_dir():
            top = path
        elif path.suffix == ".zip":
            top = staging / "unzipped"
            top.mkdir()
            extract_zip(path, top)
        elif path.suffix == ".py":
            top = staging / "single"
            top.mkdir()
            shutil.copyfile(path, top / "layers.py")
            module = module or "layers.py"
        else:
            raise SubmissionError(
                f"{path} is neither a folder, a .py file, a notebook nor a .zip.\nHint: grade "
                "the folder that contains cs231n/layers.py."
            )
        kind, notebook, note = choose_source(top, source, module)
        if notebook is not None:
            staged = stage_notebook(notebook, notebook.parent, code, execute)
            notes = (note, *staged.notes) if note else staged.notes
            return replace(staged, path=path, notes=notes), tmp
        module_file = find_module_file(top, module)
        root, place, dotted = import_root(module_file, top)
        copy_python_tree(root, code / place)
    except BaseException:
        tmp.cleanup()
        raise
    notes = (note,) if note else ()
    return Submission(
        path, code, dotted, str(module_file.relative_to(top)), None, "module", notes
    ), tmp
