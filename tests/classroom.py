"""A synthetic class for `grade batch`: one entry per student, in every form a class arrives in.

build_class(folder) fills ``folder`` with more than sixty entries and returns the total each
student must get, worked out here from what is known by hand, never from a grading run:

  * the correct example scores 55 (every function passes every case);
  * a zoo bug whose `# expect:` line is empty scores 55;
  * a zoo bug whose `# why:` line says the broken output is wrong in every case loses the
    points of those outputs exactly (the rubric's weights below); any other bug scores less
    than 55, written None;
  * a broken module scores 0 (it cannot be imported), and so does a notebook that cannot be
    read;
  * a hostile snippet loses exactly the points of the function it attacks when the attack
    cannot succeed in the sandbox, and nothing when it attacks no function.

Students whose entry cannot be graded at all (an archive that would unpack to 200 MB, a link
to nothing) are listed in ERRORS: their status must be "error", with a reason, and their
total 0. The fork bomb's svm_loss forks hundreds of sleepers and then returns the right
answer: whether that answer is credited is not fixed (see tests/test_hostile.py), but the
other functions keep their 45 points; AT_LEAST holds that bound, and the fork bomb is not in
the returned mapping.

Hostile snippets get their placeholders filled as in tests/test_hostile.py; MARKER is in the
command line of every process the fork bomb and the escaping snippet leave behind.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import zipfile
from pathlib import Path

from support import CORRECT, CORRECT_LAYERS, ROOT, ZOO, build_submission

POINTS = {
    "affine_forward": 10.0,
    "affine_backward": 15.0,
    "relu_forward": 5.0,
    "relu_backward": 5.0,
    "svm_loss": 10.0,
    "softmax_loss": 10.0,
}
FULL = sum(POINTS.values())
NOTEBOOK = ROOT / "assignments" / "modular_layers" / "examples" / "notebook"
NOTEBOOK = NOTEBOOK / "correct_inline.ipynb"
MARKER = str(10**11 + secrets.randbelow(9 * 10**11))

# Zoo bugs whose total follows from the snippet alone (its `# why:` line says the failure
# holds in every case), from the rubric's points and output weights.
BUG_TOTALS = {
    # Nothing returned is wrong (the input is modified in place, which costs nothing).
    "relu_forward_inplace": FULL,
    # db has shape (N,) instead of (M,): 1 of affine_backward's 3 equally weighted outputs.
    "affine_bias_wrong_axis": FULL - POINTS["affine_backward"] / 3,
    # affine_forward returns None as out; its cache is right, so affine_backward passes.
    "stub_returns_none": FULL - POINTS["affine_forward"],
    # relu_backward does not exist.
    "missing_relu_backward": FULL - POINTS["relu_backward"],
    # affine_backward raises in every case.
    "raises_in_affine_backward": FULL - POINTS["affine_backward"],
    # relu_forward never returns; relu_backward's cases call it first.
    "infinite_loop_relu_forward": FULL - POINTS["relu_forward"] - POINTS["relu_backward"],
    # A float instead of (out, cache); affine_backward's cases need that cache.
    "returns_scalar": FULL - POINTS["affine_forward"] - POINTS["affine_backward"],
    # A tuple of 2 where 3 gradients are expected.
    "wrong_tuple_length": FULL - POINTS["affine_backward"],
    # A list instead of an array; the cache is right, so relu_backward passes.
    "returns_list": FULL - POINTS["relu_forward"],
}
# Left out of the class to keep it quick: it waits out the time limit of every svm_loss case
# (infinite_loop_relu_forward already covers a function that never returns).
SLOW_BUGS = {"sleep_forever_svm"}

HOSTILE_TOTALS = {
    # The stored vectors are not in the sandbox: affine_forward answers zeros.
    "read_vectors": FULL - POINTS["affine_forward"],
    # The allocation fails inside the memory limit: softmax_loss raises MemoryError.
    "memory_bomb": FULL - POINTS["softmax_loss"],
    # Escapes the worker's session at import; every function is the correct one.
    "outlive_grader": FULL,
}
FORK_BOMB = "hostile_fork_bomb"
AT_LEAST = {FORK_BOMB: FULL - POINTS["svm_loss"]}

ZIP_BOMB = "zip_bomb"
DANGLING = "dangling_link"
ERRORS = frozenset({ZIP_BOMB, DANGLING})
TWINS = ("twin_a", "twin_b")
# Spaces, accented letters, an apostrophe, double quotes and a comma.
ODD_ID = 'Zoë O\'Brien "Zed", Núñez'
CORRECT_FOLDERS = 10
CORRECT_FILES = 8
CORRECT_ZIPS = 3  # of each layout: cs231n/ at the top, in a folder of its own, a bare layers.py


def correct_text(student: str) -> str:
    """The correct layers, made unique to ``student`` by a trailing comment."""
    return CORRECT_LAYERS.read_text() + f"\n# {student}\n"


def hostile(name: str) -> str:
    """zoo/hostile/NAME.py with its placeholders filled."""
    text = (ZOO / "hostile" / f"{name}.py").read_text()
    for key, value in (("REPO", ROOT), ("MARKER", MARKER)):
        text = text.replace("{" + key + "}", str(value))
    left = sorted(set(re.findall(r"\{[A-Z]+\}", text)))
    assert not left, f"{name}.py: placeholders left unfilled: {left}"
    return text


def correct_folder(folder: Path, student: str) -> None:
    sub = folder / student
    shutil.copytree(CORRECT, sub)
    (sub / "cs231n" / "layers.py").write_text(correct_text(student))


def correct_zip(path: Path, prefix: str, layers_only: bool = False) -> None:
    student = path.stem
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if layers_only:
            zf.writestr(prefix + "layers.py", correct_text(student))
            return
        zf.writestr(prefix + "cs231n/__init__.py", "")
        zf.writestr(prefix + "cs231n/layers.py", correct_text(student))
        # What a Mac adds to every archive it makes.
        zf.writestr("__MACOSX/" + prefix + "cs231n/._layers.py", b"\0\5\26\7" * 16)


def zip_bomb(path: Path, megabytes: int = 200) -> None:
    """A small archive whose one member declares (and holds) ``megabytes`` MB of zeros."""
    chunk = bytes(1 << 20)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("cs231n/layers.py", "w") as member,
    ):
        for _ in range(megabytes):
            member.write(chunk)


def build_class(folder: Path) -> dict[str, float | None]:
    """Fill ``folder`` with a class; return each student's expected total (None: under 55).

    The fork bomb (AT_LEAST) is left out of the mapping; ERRORS are in it, with 0.
    """
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, float | None] = {}

    for i in range(CORRECT_FOLDERS):
        student = f"correct_folder_{i:02d}"
        correct_folder(folder, student)
        expected[student] = FULL
    for i in range(CORRECT_FILES):
        student = f"correct_file_{i:02d}"
        (folder / f"{student}.py").write_text(correct_text(student))
        expected[student] = FULL
    for i in range(CORRECT_ZIPS):
        layouts = (
            (f"correct_zip_flat_{i:02d}", "", False),
            (f"correct_zip_nested_{i:02d}", f"correct_zip_nested_{i:02d}/", False),
            (f"correct_zip_bare_{i:02d}", "", True),
        )
        for student, prefix, layers_only in layouts:
            correct_zip(folder / f"{student}.zip", prefix, layers_only)
            expected[student] = FULL
    correct_folder(folder, ODD_ID)
    expected[ODD_ID] = FULL

    for snippet in sorted((ZOO / "bugs").glob("*.py")):
        if snippet.stem in SLOW_BUGS:
            continue
        student = f"bug_{snippet.stem}"
        build_submission(folder, snippet.read_text(), name=student)
        expected[student] = BUG_TOTALS.get(snippet.stem)

    for broken in sorted(p for p in (ZOO / "broken").iterdir() if p.is_dir()):
        student = f"broken_{broken.name}"
        shutil.copytree(broken, folder / student)
        expected[student] = 0.0

    for name, total in HOSTILE_TOTALS.items():
        build_submission(folder, hostile(name), name=f"hostile_{name}")
        expected[f"hostile_{name}"] = total
    build_submission(folder, hostile("fork_bomb"), name=FORK_BOMB)

    shutil.copyfile(NOTEBOOK, folder / "notebook_correct.ipynb")
    expected["notebook_correct"] = FULL
    shutil.copyfile(ZOO / "notebooks" / "corrupt.ipynb", folder / "notebook_corrupt.ipynb")
    expected["notebook_corrupt"] = 0.0

    # Byte-identical submissions: the same buggy file handed in by two students.
    twin = CORRECT_LAYERS.read_text() + "\n\n" + (ZOO / "bugs" / "returns_list.py").read_text()
    for student in TWINS:
        (folder / f"{student}.py").write_text(twin)
        expected[student] = BUG_TOTALS["returns_list"]

    zip_bomb(folder / f"{ZIP_BOMB}.zip")
    os.symlink(folder / "nowhere" / "layers.py", folder / f"{DANGLING}.py")
    for student in ERRORS:
        expected[student] = 0.0

    # Not students: a hidden folder and what a Mac leaves behind.
    correct_folder(folder, ".hidden_student")
    (folder / "__MACOSX").mkdir()
    (folder / "__MACOSX" / "._twin_a.py").write_bytes(b"\0\5\26\7" * 16)

    assert len(expected) + len(AT_LEAST) >= 60
    return expected
