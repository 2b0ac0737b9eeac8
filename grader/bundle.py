"""What course staff hand out: one built-in assignment as a folder students work in, or
as an autograder for Gradescope.

``student_bundle`` writes the starter code, the assignment's notebook, its rubric set to
the public cases, those public cases (the stored files of the graded functions only,
under a manifest listing just their cases) and a README on installing the checker and
running ``grade check .`` there. Nothing else is read: no reference code, no example
solution, no hidden case reaches the folder.
"""

from __future__ import annotations

import shutil
import tempfile
import textwrap
import zipfile
from pathlib import Path

import yaml

from grader.config.choices import Split
from grader.config.rubric import Rubric, builtin_assignment
from grader.config.staff import assignments_dir
from grader.errors import UsageError
from grader.vectors import MISTAKES_FOLDER, read_manifest, sha256, verify_files, write_manifest

# The starter package, as every assignment shares it (assignments/starter/cs231n/).
STARTER_FILES = ("__init__.py", "layers.py")


def student_bundle(name: str, out: Path) -> list[Path]:
    """Write the bundle of built-in assignment ``name`` into the new or empty folder
    ``out``; return the files written. A RubricError names the known assignments."""
    rubric = builtin_assignment(name)
    empty_folder(out)
    # The vectors first: a stored file that fails its checksum stops the bundle before
    # anything else is written.
    written = public_vectors(rubric, out / "vectors" / "public")
    starter = assignments_dir() / "starter" / "cs231n"
    (out / "cs231n").mkdir()
    written.extend(copy(starter / file, out / "cs231n" / file) for file in STARTER_FILES)
    written.append(copy(rubric.path.parent / f"{name}.ipynb", out / f"{name}.ipynb"))
    written.append(write(out / "rubric.yaml", student_rubric(name, rubric)))
    written.append(write(out / "README.md", student_readme(name, rubric)))
    return written


def empty_folder(out: Path) -> None:
    """Make ``out``, refusing a file or a folder that holds anything."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file; the bundle is a folder.\nHint: name a new folder.")
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(
            f"{out} is not empty; the bundle is written into a new or empty folder only, so "
            "that nothing else in it reaches students.\nHint: name a new folder with -o."
        )
    out.mkdir(parents=True, exist_ok=True)


def copy(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    return target


def write(target: Path, text: str) -> Path:
    target.write_text(text)
    return target


def student_rubric(name: str, rubric: Rubric) -> str:
    """The assignment's rubric with its vectors in the bundle's folder, public cases only,
    and the layers module as what is graded (the notebook beside it imports the module).
    The comments of the staff's file are not kept."""
    data = yaml.safe_load(rubric.path.read_text())
    data.update(vectors="vectors", cases="public", source="module")
    header = (
        f"# The {name} assignment's rubric: what `grade check .` grades in this folder, for\n"
        "# how many points. Only the public cases are here; the hidden ones run when you\n"
        "# submit.\n"
    )
    return header + yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, default_flow_style=None, width=88
    )


def public_vectors(rubric: Rubric, folder: Path, split: Split = "public") -> list[Path]:
    """Copy the ``split`` files of the functions ``rubric`` grades into ``folder``, under a
    manifest listing only their cases; the source is verified against its checksums
    first. Each function's cases are in a file of their own (see grader.vectors)."""
    source = rubric.vectors / split
    manifest = read_manifest(source)
    verify_files(source, manifest)
    graded = {f.name for f in rubric.functions}
    cases = [c for c in manifest["cases"] if c["function"] in graded]
    folder.mkdir(parents=True)
    files = sorted({c["file"] for c in cases})
    written = [copy(source / file, folder / file) for file in files]
    digests = {file: sha256(folder / file) for file in files}
    written.append(write_manifest(folder, dict(manifest, cases=cases, files=digests)))
    return written


def student_readme(name: str, rubric: Rubric) -> str:
    files = {
        "cs231n/layers.py": "the layers you write: every function is a stub with a TODO",
        f"{name}.ipynb": "the notebook: runs each function on small inputs as you go",
        "rubric.yaml": "what is graded, for how many points",
        "vectors/public/": "the public test cases that `grade check` runs",
    }
    width = max(map(len, files)) + 2
    total = sum(f.points for f in rubric.functions)
    return README.format(
        name=name,
        intro=textwrap.fill(
            f"It grades {rubric.title or name}. This folder is where you work:", width=88
        ),
        files="\n".join(f"    {path:<{width}}{what}" for path, what in files.items()),
        graded="\n".join(f"- `{f.name}` ({f.points:g} points)" for f in rubric.functions),
        total=f"{total:g}",
    )


README = """\
# The `{name}` assignment

{intro}

{files}

Graded ({total} points in all):

{graded}

The notebook's first cell lists them too, and names any that the grader builds from
your own layers (you write the layers, not those).

## Install the checker (once)

The checker is the `grade` command. It needs Python 3.11 or later on Linux or macOS.
Install it in a virtual environment of its own:

    python3 -m venv ~/layergrade
    . ~/layergrade/bin/activate
    pip install <the checker your course gives you>

Your course names what to install: a file such as `layergrade-0.1.0-py3-none-any.whl`
(`pip install` that file's path) or a package name. In a new terminal, activate the
environment again (`. ~/layergrade/bin/activate`) before using `grade`.

## Check your work

From this folder (the one that holds `rubric.yaml` and `cs231n/`):

    grade check .

It runs your `cs231n/layers.py` on the public cases, with the `rubric.yaml` it finds in
the current folder. Your code runs in a separate process with time and memory limits: a
function that hangs or crashes fails its own checks only.

## What the output means

First the function to fix first and why, then a line per function: whether it passes,
how many of its public checks pass and, where one fails, what is wrong (a wrong shape,
the relative error of an output or gradient with the worst element, an error your code
raised, or a stub that still returns None). The last line counts the public checks that
passed. The command exits with 0 when every check passes, and 1 otherwise. To see
tracebacks and what your code printed, and the other options:

    grade check . -v
    grade check --help

Passing here is not the grade: when you submit, the same functions also run on hidden
cases, with other shapes and values, which this folder does not hold. Write code that is
right for any input, not for these cases.
"""


# Gradescope's autograder, by its published specification: setup.sh and run_autograder at
# the root of the zip, which Gradescope unpacks as /autograder/source on its Ubuntu image
# and runs as root. Student code then runs in container isolation (an unprivileged uid),
# and the hidden vectors are closed to every uid but root's.
SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip libseccomp2
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install /autograder/source/layergrade-*.whl
# The rubric and every vector, hidden ones included: root's alone.
chmod -R go-rwx /autograder/source
"""
RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission; it always writes results/results.json.
# AUTOGRADER_ROOT and VENV exist for trying it outside Gradescope.
exec "${VENV:-/autograder/venv}/bin/grade" gradescope --root "${AUTOGRADER_ROOT:-/autograder}"
"""


def gradescope_rubric(rubric: Rubric) -> str:
    data = yaml.safe_load(rubric.path.read_text())
    data.update(vectors="vectors", cases="all")
    header = "# The autograder's rubric: public and hidden cases, graded on Gradescope.\n"
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=88)


def graded_fingerprints(rubric: Rubric, folder: Path) -> None:
    """The mistakes' fingerprints on the cases of the rubric's functions, checked first."""
    source = rubric.vectors / MISTAKES_FOLDER
    manifest = read_manifest(source)
    verify_files(source, manifest)
    functions = {f.name for f in rubric.functions}
    prints = {
        case: found
        for case, found in manifest["fingerprints"].items()
        if case.split(".", 1)[0] in functions
    }
    named = {name for found in prints.values() for name in found}
    folder.mkdir(parents=True)
    files = {}
    for file in sorted(manifest["files"]):
        if file.removesuffix(".npz") in functions:
            copy(source / file, folder / file)
            files[file] = sha256(folder / file)
    write_manifest(
        folder,
        dict(
            manifest,
            files=files,
            fingerprints=prints,
            mistakes={k: v for k, v in manifest["mistakes"].items() if k in named},
        ),
    )


def gradescope_bundle(name: str, out: Path, wheel: Path) -> Path:
    """Write the Gradescope autograder zip of built-in assignment ``name`` to ``out``:
    setup.sh, run_autograder, the grader's ``wheel``, the rubric, the public and hidden
    vectors of the functions it grades, and the mistakes' fingerprints."""
    rubric = builtin_assignment(name)
    if out.exists():
        raise UsageError(f"{out} exists.\nHint: name a new file, such as autograder.zip.")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        for split in ("public", "hidden"):
            public_vectors(rubric, folder / "vectors" / split, split)
        if (rubric.vectors / MISTAKES_FOLDER).is_dir():
            # Staff files like the hidden vectors (root's alone there): they let feedback
            # name the mistake.
            graded_fingerprints(rubric, folder / "vectors" / MISTAKES_FOLDER)
        write(folder / "rubric.yaml", gradescope_rubric(rubric))
        copy(wheel, folder / wheel.name)
        for script, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            write(folder / script, text).chmod(0o755)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo(str(path.relative_to(folder)))
                    info.external_attr = (path.stat().st_mode & 0o777) << 16
                    archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return out
