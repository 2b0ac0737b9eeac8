"""Finding the layers module and staging a private, read-only copy of a submission."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.config.options import SourceOptions
from grader.errors import SubmissionError
from grader.submission.files import MAX_FILES, MAX_TOTAL_BYTES
from grader.submission.stage import Submission, stage

LAYERS = "def affine_forward(x, w, b):\n    return x @ w + b, (x, w, b)\n"


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def make_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


class Stager:
    """Stages submissions for one test and removes every staging folder at its end."""

    def __init__(self) -> None:
        self.folders: list[tempfile.TemporaryDirectory[str]] = []

    def __call__(self, path: Path, module: str | None = None) -> Submission:
        submission, folder = stage(path, SourceOptions(module=module))
        self.folders.append(folder)
        return submission

    def cleanup(self) -> None:
        for folder in self.folders:
            folder.cleanup()


@pytest.fixture
def do_stage() -> Iterator[Stager]:
    stager = Stager()
    yield stager
    stager.cleanup()


def staged_files(submission: Submission) -> dict[str, str]:
    return {
        str(p.relative_to(submission.source)): p.read_text()
        for p in sorted(submission.source.rglob("*"))
        if p.is_file()
    }


def stage_error(path: Path, module: str | None = None) -> str:
    with pytest.raises(SubmissionError) as info:
        stage(path, SourceOptions(module=module))
    return str(info.value)


# Finding the module ----------------------------------------------------------------------


def test_folder_with_cs231n_layers(tmp_path: Path, do_stage: Stager) -> None:
    sub = make_tree(
        tmp_path / "sub",
        {"cs231n/__init__.py": "", "cs231n/layers.py": LAYERS, "cs231n/layer_utils.py": "# u\n"},
    )
    submission = do_stage(sub)
    assert submission.path == sub
    assert submission.module == "cs231n.layers"
    assert submission.module_file == "cs231n/layers.py"
    assert staged_files(submission) == {
        "cs231n/__init__.py": "",
        "cs231n/layer_utils.py": "# u\n",
        "cs231n/layers.py": LAYERS,
    }


def test_cs231n_without_init_is_still_a_package(tmp_path: Path, do_stage: Stager) -> None:
    sub = make_tree(tmp_path / "sub", {"cs231n/layers.py": LAYERS})
    submission = do_stage(sub)
    assert submission.module == "cs231n.layers"
    assert staged_files(submission) == {"cs231n/layers.py": LAYERS}


def test_folder_with_plain_layers(tmp_path: Path, do_stage: Stager) -> None:
    sub = make_tree(tmp_path / "sub", {"layers.py": LAYERS, "helpers.py": "# h\n"})
    submission = do_stage(sub)
    assert submission.module == "layers"
    assert submission.module_file == "layers.py"
    assert staged_files(submission) == {"helpers.py": "# h\n", "layers.py": LAYERS}


def test_single_python_file(tmp_path: Path, do_stage: Stager) -> None:
    single = tmp_path / "my_layers.py"
    single.write_text(LAYERS)
    submission = do_stage(single)
    assert submission.module == "layers"
    assert submission.module_file == "layers.py"
    assert staged_files(submission) == {"layers.py": LAYERS}


def test_the_submitted_cs231n_folder_itself(tmp_path: Path, do_stage: Stager) -> None:
    pkg = make_tree(
        tmp_path / "cs231n",
        {"__init__.py": "", "layers.py": LAYERS, "layer_utils.py": "from .layers import *\n"},
    )
    submission = do_stage(pkg)
    assert submission.module == "cs231n.layers"
    assert submission.module_file == "layers.py"
    assert staged_files(submission) == {
        "cs231n/__init__.py": "",
        "cs231n/layer_utils.py": "from .layers import *\n",
        "cs231n/layers.py": LAYERS,
    }


def test_zip_without_a_top_level_folder(tmp_path: Path, do_stage: Stager) -> None:
    archive = make_zip(tmp_path / "sub.zip", {"cs231n/__init__.py": "", "cs231n/layers.py": LAYERS})
    submission = do_stage(archive)
    assert submission.module == "cs231n.layers"
    assert submission.module_file == "cs231n/layers.py"
    assert staged_files(submission) == {"cs231n/__init__.py": "", "cs231n/layers.py": LAYERS}


def test_zip_with_a_top_level_folder(tmp_path: Path, do_stage: Stager) -> None:
    archive = make_zip(
        tmp_path / "sub.zip",
        {
            "assignment2/cs231n/__init__.py": "",
            "assignment2/cs231n/layers.py": LAYERS,
            "__MACOSX/assignment2/cs231n/._layers.py": "junk",
        },
    )
    submission = do_stage(archive)
    assert submission.module == "cs231n.layers"
    assert submission.module_file == "assignment2/cs231n/layers.py"
    assert staged_files(submission) == {"cs231n/__init__.py": "", "cs231n/layers.py": LAYERS}


def test_only_python_files_are_staged(tmp_path: Path, do_stage: Stager) -> None:
    sub = make_tree(
        tmp_path / "sub",
        {
            "cs231n/layers.py": LAYERS,
            "cs231n/datasets/cifar.bin": "data",
            "notes.txt": "notes",
            "cs231n/__pycache__/layers.cpython-311.py": "stale",
        },
    )
    assert staged_files(do_stage(sub)) == {"cs231n/layers.py": LAYERS}


def test_checkpoint_copies_are_not_candidates(tmp_path: Path, do_stage: Stager) -> None:
    sub = make_tree(
        tmp_path / "sub",
        {"cs231n/layers.py": LAYERS, ".ipynb_checkpoints/layers.py": "old", ".git/layers.py": ""},
    )
    assert do_stage(sub).module == "cs231n.layers"


def test_hidden_files_and_skipped_folders_below_the_top_are_not_staged(
    tmp_path: Path, do_stage: Stager
) -> None:
    sub = make_tree(
        tmp_path / "sub",
        {
            "cs231n/layers.py": LAYERS,
            "cs231n/.helpers.py": "hidden",
            "cs231n/.hidden/util.py": "hidden",
            "cs231n/deep/__pycache__/util.py": "stale",
            "cs231n/deep/util.py": "kept",
        },
    )
    assert staged_files(do_stage(sub)) == {
        "cs231n/layers.py": LAYERS,
        "cs231n/deep/util.py": "kept",
    }


def test_a_zip_skips_the_same_files_below_its_top(tmp_path: Path, do_stage: Stager) -> None:
    archive = tmp_path / "sub.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("cs231n/layers.py", LAYERS)
        zf.writestr("cs231n/.hidden/layers.py", "hidden")
        zf.writestr("sub/__MACOSX/cs231n/layers.py", "resource fork")
    assert staged_files(do_stage(archive)) == {"cs231n/layers.py": LAYERS}


def test_several_candidates_are_listed_with_the_option_to_choose(tmp_path: Path) -> None:
    sub = make_tree(tmp_path / "sub", {"new/layers.py": LAYERS, "old/layers.py": LAYERS})
    message = stage_error(sub)
    assert message == (
        f"{sub} has 2 candidate layers modules:\n  new/layers.py\n  old/layers.py\n"
        "Hint: choose one with --module new/layers.py (or `module:` in rubric.yaml)."
    )


def test_the_course_layout_wins_among_several_and_says_so(tmp_path: Path, do_stage: Stager) -> None:
    sub = make_tree(tmp_path / "sub", {"cs231n/layers.py": LAYERS, "old/layers.py": "# old\n"})
    staged = do_stage(sub)
    assert staged.module_file == "cs231n/layers.py"
    assert staged.notes == (
        "graded cs231n/layers.py (the course's layout); also found old/layers.py: name "
        "another with --module",
    )
    # Two in the course's layout: no way to tell, so the student is asked.
    two = make_tree(tmp_path / "two", {"a/cs231n/layers.py": LAYERS, "b/cs231n/layers.py": LAYERS})
    assert "2 candidate layers modules" in stage_error(two)


def test_module_picks_one_candidate(tmp_path: Path, do_stage: Stager) -> None:
    sub = make_tree(tmp_path / "sub", {"cs231n/layers.py": LAYERS, "old/layers.py": "# old\n"})
    chosen = do_stage(sub, "cs231n/layers.py")
    assert chosen.module == "cs231n.layers"
    assert chosen.module_file == "cs231n/layers.py"
    other = do_stage(sub, "old/layers.py")
    assert other.module == "layers"
    assert other.module_file == "old/layers.py"
    assert staged_files(other) == {"layers.py": "# old\n"}


def test_module_that_is_not_there(tmp_path: Path) -> None:
    sub = make_tree(tmp_path / "sub", {"cs231n/layers.py": LAYERS})
    message = stage_error(sub, "src/layers.py")
    assert message == f"{sub} has no src/layers.py (the module the rubric or --module names)."


def test_no_layers_module_gives_a_hint(tmp_path: Path) -> None:
    sub = make_tree(tmp_path / "sub", {"cs231n/solver.py": ""})
    message = stage_error(sub)
    assert message.startswith(f"no layers.py found in {sub}.\nHint: ")
    assert "cs231n/layers.py" in message
    assert "--module PATH" in message


def test_a_folder_that_is_no_python_name_is_not_taken_for_a_package(tmp_path: Path) -> None:
    # Submission folders are often named after the student ("jane-doe"), with an
    # __init__.py left inside: the module is then imported from that folder itself.
    sub = make_tree(tmp_path / "sub", {"my-code/__init__.py": "", "my-code/layers.py": LAYERS})
    submission, staging = stage(sub)
    with staging:
        assert submission.module == "layers"
        assert (submission.source / "layers.py").read_text() == LAYERS


# What cannot be graded -------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "nothing"
    assert stage_error(path) == f"{path} does not exist."


def test_a_notebook_without_a_format_version_gets_a_clear_message(tmp_path: Path) -> None:
    notebook = tmp_path / "layers.ipynb"
    notebook.write_text("{}")
    message = stage_error(notebook)
    assert message.startswith(str(notebook))
    assert "nbformat" in message and "Hint:" in message


def test_a_folder_with_a_module_and_a_notebook_grades_the_module_by_default(
    tmp_path: Path,
) -> None:
    sub = make_tree(tmp_path / "sub", {"cs231n/layers.py": LAYERS, "work.ipynb": "{}"})
    submission, staging = stage(sub)
    with staging:
        assert (submission.mode, submission.module) == ("module", "cs231n.layers")
        assert submission.notes == ("graded the layers module; the submission also has a notebook",)


def test_other_file_types_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "sub.tar.gz"
    archive.write_bytes(b"\x1f\x8b")
    message = stage_error(archive)
    assert message.startswith(f"{archive} is neither a folder, a .py file, a notebook nor a .zip.")


def test_corrupt_zip(tmp_path: Path) -> None:
    archive = tmp_path / "sub.zip"
    archive.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    assert stage_error(archive).startswith(f"{archive} is not a readable zip file (")


@pytest.mark.parametrize(
    "name",
    ["../evil.py", "cs231n/../../evil.py", "/etc/evil.py", "C:/evil.py", "..\\evil.py"],
)
def test_zip_with_an_unsafe_path(tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "sub.zip", {"cs231n/layers.py": LAYERS, name: "x = 1\n"})
    assert [i.filename for i in zipfile.ZipFile(archive).infolist()][1] == name
    assert stage_error(archive) == f"{archive} contains an unsafe path: {name!r}."
    assert not (tmp_path / "evil.py").exists()


def test_zip_with_a_symbolic_link(tmp_path: Path) -> None:
    archive = tmp_path / "sub.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("cs231n/layers.py", LAYERS)
        link = zipfile.ZipInfo("cs231n/data.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    assert stage_error(archive) == f"{archive} contains a symbolic link: 'cs231n/data.py'."


def test_zip_with_too_many_entries(tmp_path: Path) -> None:
    archive = tmp_path / "sub.zip"
    count = MAX_FILES + 1
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("cs231n/layers.py", LAYERS)
        for i in range(count - 1):
            zf.writestr(f"cs231n/m{i}.py", "")
    assert stage_error(archive) == f"{archive} has {count} entries; the limit is {MAX_FILES}."


def test_zip_that_unpacks_too_large(tmp_path: Path) -> None:
    archive = tmp_path / "sub.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cs231n/layers.py", LAYERS)
        zf.writestr("cs231n/weights.py", bytes(MAX_TOTAL_BYTES))
    # A few kilobytes on disk that would unpack to more than the cap.
    assert archive.stat().st_size < 1 << 20
    message = stage_error(archive)
    assert message.startswith(f"{archive} unpacks to more than 50 MB;")
    assert "zip only your code" in message


# Staging never touches the submission ----------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        str(p.relative_to(root)): (
            p.read_bytes() if p.is_file() else b"",
            p.lstat().st_mtime_ns,
            p.lstat().st_mode,
        )
        for p in sorted(root.rglob("*"))
    }


def test_the_submission_is_unchanged_after_staging(tmp_path: Path, do_stage: Stager) -> None:
    sub = make_tree(
        tmp_path / "sub",
        {"cs231n/__init__.py": "", "cs231n/layers.py": LAYERS, "cs231n/notes.md": "n"},
    )
    (sub / "cs231n" / "layers.py").chmod(0o600)
    before = snapshot(sub)
    submission = do_stage(sub)
    assert snapshot(sub) == before
    assert not (sub / "cs231n" / "__pycache__").exists()
    assert sub not in submission.source.parents


def test_symlinks_inside_a_submission_are_not_followed(tmp_path: Path, do_stage: Stager) -> None:
    outside = make_tree(tmp_path / "outside", {"secret.py": "TOKEN = 1\n", "pkg/inner.py": ""})
    sub = make_tree(tmp_path / "sub", {"cs231n/layers.py": LAYERS})
    (sub / "cs231n" / "secret.py").symlink_to(outside / "secret.py")
    (sub / "cs231n" / "linked").symlink_to(outside / "pkg", target_is_directory=True)
    submission = do_stage(sub)
    assert staged_files(submission) == {"cs231n/layers.py": LAYERS}
    assert not any(p.is_symlink() for p in submission.source.rglob("*"))


def test_a_symlinked_layers_module_is_not_copied(tmp_path: Path, do_stage: Stager) -> None:
    outside = make_tree(tmp_path / "outside", {"layers.py": "TOKEN = 1\n"})
    sub = make_tree(tmp_path / "sub", {"cs231n/__init__.py": ""})
    (sub / "cs231n" / "layers.py").symlink_to(outside / "layers.py")
    message = stage_error(sub)
    assert message.startswith("cs231n/layers.py is a symbolic link") and "TOKEN" not in message


def test_staged_code_is_readable_inside_a_folder_private_to_the_grader(
    tmp_path: Path, do_stage: Stager
) -> None:
    """The worker's uid reads the staged code once the sandbox opens the staging folder to
    it (SandboxConfig.admit); until then, and if the grader dies, nobody else can."""
    sub = make_tree(tmp_path / "sub", {"cs231n/__init__.py": "", "cs231n/layers.py": LAYERS})
    for p in sub.rglob("*.py"):
        p.chmod(0o600)
    submission = do_stage(sub)
    files = [p for p in submission.source.rglob("*") if p.is_file()]
    assert len(files) == 2
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644
    for folder in [submission.source, *(p for p in submission.source.rglob("*"))]:
        if folder.is_dir():
            assert stat.S_IMODE(folder.stat().st_mode) & 0o005 == 0o005, folder
    assert stat.S_IMODE(submission.source.parent.stat().st_mode) == 0o700


def test_the_staging_folder_is_removed_by_cleanup(tmp_path: Path) -> None:
    sub = make_tree(tmp_path / "sub", {"cs231n/layers.py": LAYERS})
    submission, folder = stage(sub)
    staging = Path(folder.name)
    assert submission.source.is_relative_to(staging)
    assert (submission.source / "cs231n" / "layers.py").is_file()
    folder.cleanup()
    assert not staging.exists()
    assert (sub / "cs231n" / "layers.py").read_text() == LAYERS


def test_a_failed_stage_leaves_no_staging_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = make_tree(tmp_path / "sub", {"cs231n/solver.py": ""})
    # A private temporary folder, so that nothing else running can add to it.
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    stage_error(sub)
    assert list(private.iterdir()) == []


def test_a_submission_path_that_is_a_symlink_is_staged(tmp_path: Path, do_stage: Stager) -> None:
    real = make_tree(tmp_path / "real", {"cs231n/__init__.py": "", "cs231n/layers.py": LAYERS})
    link = tmp_path / "latest"
    link.symlink_to(real, target_is_directory=True)
    submission = do_stage(link)
    assert submission.module == "cs231n.layers"
    assert staged_files(submission) == {"cs231n/__init__.py": "", "cs231n/layers.py": LAYERS}


def test_zip_with_a_file_and_a_folder_of_the_same_name(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "sub.zip", {"cs231n": "x", "cs231n/layers.py": LAYERS})
    stage_error(archive)


def test_mode_bits_of_the_original_are_kept(tmp_path: Path, do_stage: Stager) -> None:
    sub = make_tree(tmp_path / "sub", {"layers.py": LAYERS})
    (sub / "layers.py").chmod(0o600)
    do_stage(sub)
    assert stat.S_IMODE(os.stat(sub / "layers.py").st_mode) == 0o600


def test_a_notebook_in_a_class_never_takes_a_classmates_package(
    tmp_path: Path, do_stage: Stager
) -> None:
    klass = make_tree(tmp_path / "class", {"cs231n/layers.py": "CLASSMATE = 1\n"})
    notebook = Path(__file__).parent / "zoo" / "notebooks" / "imports_module" / "notebook.ipynb"
    shutil.copy(notebook, klass / "alice.ipynb")
    # Graded alone, a notebook brings the package beside it (the course's layout) ...
    assert (do_stage(klass / "alice.ipynb").source / "cs231n" / "layers.py").is_file()
    # ... but as an entry of a class, that folder is another student's.
    staged, folder = stage(klass / "alice.ipynb", in_class=True)
    try:
        assert not (staged.source / "cs231n").exists()
    finally:
        folder.cleanup()
