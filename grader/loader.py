"""Find a submission's layers module and stage a private, readable copy of its code.

A submission is a folder, a single ``.py`` file, or a ``.zip`` of either. The grader
never modifies it: the Python files are copied (symlinks skipped, sizes capped) into a
fresh staging folder that the sandbox mounts read-only. Zips are extracted with their
paths checked (no absolute paths, no ``..``, no links) and their sizes capped.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# A real submission has a few dozen Python files of a few hundred KB at most; the caps
# stop a zip bomb or a stray dataset from filling the disk.
MAX_FILES = 2000
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_TOTAL_BYTES = 50 * 1024 * 1024
SKIP_DIRS = {"__pycache__", "__MACOSX", ".git", ".ipynb_checkpoints", "node_modules"}


class SubmissionError(Exception):
    """The submission cannot be graded as given; the message says what to change."""


@dataclass(frozen=True)
class Submission:
    """A staged submission: ``source`` is importable and holds ``module``."""

    path: Path
    source: Path
    module: str
    module_file: str


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


def extract_zip(archive: Path, dst: Path) -> None:
    """Extract ``archive`` into ``dst`` after checking every member."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{archive} is not a readable zip file ({exc}).") from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_FILES:
            raise SubmissionError(
                f"{archive} has {len(members)} entries; the limit is {MAX_FILES}."
            )
        if sum(m.file_size for m in members) > MAX_TOTAL_BYTES:
            raise SubmissionError(
                f"{archive} unpacks to more than {MAX_TOTAL_BYTES >> 20} MB; remove data files "
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


def stage(
    path: Path, module: str | None = None
) -> tuple[Submission, tempfile.TemporaryDirectory[str]]:
    """Stage ``path`` for grading. The caller keeps the returned folder alive while grading."""
    if not path.exists():
        raise SubmissionError(f"{path} does not exist.")
    path = path.resolve()
    tmp = tempfile.TemporaryDirectory(prefix="layergrade-sub-")
    staging = Path(tmp.name)
    staging.chmod(0o755)
    try:
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
        elif path.suffix == ".ipynb":
            raise SubmissionError(
                f"{path} is a notebook; this version grades Python modules only.\n"
                "Hint: export the notebook's functions to cs231n/layers.py and grade that."
            )
        else:
            raise SubmissionError(
                f"{path} is neither a folder, a .py file nor a .zip.\nHint: grade the folder "
                "that contains cs231n/layers.py."
            )
        module_file = find_module_file(top, module)
        root, place, dotted = import_root(module_file, top)
        code = staging / "code"
        code.mkdir(mode=0o755)
        copy_python_tree(root, code / place)
    except BaseException:
        tmp.cleanup()
        raise
    return Submission(path, code, dotted, str(module_file.relative_to(top))), tmp
