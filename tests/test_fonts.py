"""matplotlib's font list, made in the job's isolation and kept in the grader user's cache
across runs: every executed notebook's worker finds it in its home, cannot change it, and
matplotlib takes it as its own; a second job, a notebook graded alone included, finds it
kept and lists nothing. The cache is used only where it is the grader user's alone, and
holds whole lists only."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from notebook_support import write_notebook
from support import write_rubric

from grader.api import grade_submission, graded_cases
from grader.config.rubric import load_rubric
from grader.sandbox import fonts
from grader.sandbox.job import Job
from grader.sandbox.runtime import discover_runtime
from grader.sandbox.worker import SandboxConfig

# Before anything imports matplotlib: what the home's cache folder holds, and whether
# the font list there can be changed; then whether matplotlib, imported, has fonts.
LOOK = """
import glob, os
cache = os.path.expanduser("~/.cache/matplotlib")
found = sorted(glob.glob(cache + "/fontlist-v*.json"))
print("font lists:", [os.path.basename(f) for f in found])
for path in found:
    try:
        with open(path, "a") as f:
            f.write("tampered")
        print("font list changed")
    except OSError:
        print("font list unchanged")
import matplotlib.font_manager
print("fonts found:", len(matplotlib.font_manager.fontManager.ttflist) > 0)
print("list kept:", sorted(glob.glob(cache + "/fontlist-v*.json")) == found)
"""


@pytest.fixture(autouse=True)
def kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the lists are kept: in a folder of the test's, never the real cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "layergrade" / "fonts"


@pytest.mark.slow
@pytest.mark.parametrize(
    "isolation",
    [
        pytest.param("bubblewrap", marks=pytest.mark.sandbox),
        pytest.param("container", marks=pytest.mark.container),
    ],
)
def test_a_class_lists_the_fonts_once_and_a_notebook_alone_finds_them_kept(
    open_tmp: Path, isolation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rubric = load_rubric(write_rubric(open_tmp))
    cases = graded_cases(rubric, ("public",))
    config = SandboxConfig.create(isolation, discover_runtime())
    outputs = []
    listings = []
    real_listed = fonts.listed

    def listed(*args: Any) -> Path | None:
        listings.append(args)
        return real_listed(*args)

    monkeypatch.setattr(fonts, "listed", listed)

    def graded(name: str, job: Job, in_class: bool) -> None:
        folder = open_tmp / name
        folder.mkdir(mode=0o755)
        notebook = write_notebook(folder / "work.ipynb", ("code", LOOK))
        notebook.chmod(0o644)
        result = grade_submission(notebook, rubric, cases, config, job, in_class=in_class)
        outputs.append(result.output)

    with Job(cases) as job:
        graded("first", job, in_class=True)
        graded("second", job, in_class=True)
        made = job.fonts[isolation]
    with Job(cases) as job:
        graded("alone", job, in_class=False)
        found = job.fonts[isolation]
    assert made is not None and made.name.startswith("fontlist-v")
    # The notebook alone got the list the class made, in its own job's folder.
    assert found is not None and found.name == made.name and found != made
    assert len(listings) == 1
    for output in outputs:
        assert f"font lists: ['{made.name}']" in output, output
        assert "font list unchanged" in output and "font list changed" not in output
        assert "fonts found: True" in output and "list kept: True" in output


def test_a_font_list_that_cannot_be_made_is_not_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The machine's trouble (here a full disk) while making the list fails no notebook:
    the job keeps None, and its notebooks list the fonts themselves."""
    assert any(p.name == "matplotlib" for p in fonts.notebook_site())
    config = SimpleNamespace(mode="bubblewrap", bwrap="bwrap", runtime=discover_runtime())
    with Job() as job:

        def full(*args: object, **kwargs: object) -> str:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(fonts.tempfile, "mkdtemp", full)
        for _ in range(2):
            assert fonts.font_list(job, config) is None  # type: ignore[arg-type]
        assert job.fonts == {"bubblewrap": None}


# What a fast test's notebooks need of the machine: a matplotlib (only its metadata is
# read) and a font folder, both the test's; the listing is counted, not run.
@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    site = tmp_path / "site"
    (site / "matplotlib").mkdir(parents=True)
    dist = site / "matplotlib-3.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: matplotlib\nVersion: 3.0.0\n")
    font_folder = tmp_path / "fonts" / "truetype"
    font_folder.mkdir(parents=True)
    listings: list[Path] = []

    def listed(argv: list[str], env: object, site: str, home: Path) -> Path:
        listings.append(home)
        made = home / fonts.CACHE / "fontlist-v390.json"
        made.write_text(f"list {len(listings)}")
        made.chmod(0o444)
        return made

    monkeypatch.setattr(fonts, "notebook_site", lambda: (site / "matplotlib", dist))
    monkeypatch.setattr(fonts, "FONT_FOLDERS", (str(tmp_path / "fonts"),))
    monkeypatch.setattr(fonts, "listed", listed)
    return SimpleNamespace(listings=listings, metadata=dist / "METADATA", fonts=font_folder)


def bubblewrap() -> Any:
    return SimpleNamespace(mode="bubblewrap", bwrap="bwrap", runtime=discover_runtime())


def container() -> Any:
    return SimpleNamespace(mode="container", bwrap=None, runtime=discover_runtime())


def graded(config: Any) -> str:
    """What a new job's notebooks find as their font list; each job is a run of its own."""
    with Job() as job:
        found = fonts.font_list(job, config)
        assert found is not None and found.is_relative_to(job.path)
        assert found.name == "fontlist-v390.json"
        assert stat.S_IMODE(found.stat().st_mode) == 0o444
        return found.read_text()


def test_a_second_job_finds_the_list_the_first_kept(machine: SimpleNamespace, kept: Path) -> None:
    assert graded(bubblewrap()) == "list 1"
    assert graded(bubblewrap()) == "list 1"
    assert len(machine.listings) == 1
    (entry,) = kept.iterdir()
    key, _, name = entry.name.partition("-")
    assert len(key) == fonts.KEY_DIGITS and int(key, 16) >= 0 and name == "fontlist-v390.json"
    assert stat.S_IMODE(entry.lstat().st_mode) == 0o444 and entry.read_text() == "list 1"
    for folder in (kept, kept.parent):
        assert stat.S_IMODE(folder.lstat().st_mode) == 0o700


def touched(path: Path) -> None:
    """``path``'s mtime a second later, whatever the clock's resolution."""
    mtime = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(mtime, mtime))


CHANGES: dict[str, Callable[[SimpleNamespace], Any]] = {
    # Each returns the config the next job grades with.
    "isolation": lambda m: container(),
    # The mode alone, the sandbox showing the same paths (container isolation's differ).
    "mode": lambda m: SimpleNamespace(**dict(vars(bubblewrap()), mode="bubblewrap-2")),
    "matplotlib's version": lambda m: (
        m.metadata.write_text(m.metadata.read_text().replace("3.0.0", "3.0.1")),
        bubblewrap(),
    )[1],
    "a font folder added": lambda m: ((m.fonts / "new").mkdir(), bubblewrap())[1],
    "a font folder's mtime": lambda m: (touched(m.fonts), bubblewrap())[1],
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_list_is_made_again_where_what_it_depends_on_changed(
    machine: SimpleNamespace, kept: Path, change: str
) -> None:
    assert graded(bubblewrap()) == "list 1"
    config = CHANGES[change](machine)
    assert graded(config) == "list 2"
    # Kept under its own key, beside the first.
    assert graded(config) == "list 2"
    assert len(machine.listings) == 2 and len(list(kept.iterdir())) == 2


def group_writable(cache: Path, elsewhere: Path) -> None:
    (cache / "layergrade" / "fonts").mkdir(parents=True, mode=0o700)
    (cache / "layergrade").chmod(0o770)


def symlink(cache: Path, elsewhere: Path) -> None:
    cache.mkdir()
    (cache / "layergrade").symlink_to(elsewhere)


def someone_elses(cache: Path, elsewhere: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give the folder to another user")
    (cache / "layergrade" / "fonts").mkdir(parents=True, mode=0o700)
    os.chown(cache / "layergrade" / "fonts", 54321, 54321)


def not_a_folder(cache: Path, elsewhere: Path) -> None:
    cache.write_text("not a folder")


@pytest.mark.parametrize("unsafe", [group_writable, symlink, someone_elses, not_a_folder])
def test_a_cache_folder_not_the_graders_alone_is_not_used(
    machine: SimpleNamespace, tmp_path: Path, unsafe: Callable[[Path, Path], None]
) -> None:
    """Each job makes its list, as without a cache, and keeps nothing."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    unsafe(tmp_path / "cache", elsewhere)
    assert graded(bubblewrap()) == "list 1"
    assert graded(bubblewrap()) == "list 2"
    assert len(machine.listings) == 2
    assert not any(elsewhere.iterdir())
    fonts_folder = tmp_path / "cache" / "layergrade" / "fonts"
    assert not fonts_folder.is_dir() or not any(fonts_folder.iterdir())


def planted_link(entry: Path, tmp_path: Path) -> None:
    planted = tmp_path / "planted.json"
    planted.write_text("planted")
    entry.unlink()
    entry.symlink_to(planted)


def someone_elses_file(entry: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give the file to another user")
    os.chown(entry, 54321, 54321)


@pytest.mark.parametrize("unsafe", [planted_link, someone_elses_file])
def test_a_kept_list_not_the_graders_own_file_is_made_again(
    machine: SimpleNamespace, kept: Path, tmp_path: Path, unsafe: Callable[[Path, Path], None]
) -> None:
    assert graded(bubblewrap()) == "list 1"
    (entry,) = kept.iterdir()
    unsafe(entry, tmp_path)
    assert graded(bubblewrap()) == "list 2"
    # The new list took its place: the grader's own regular file.
    (entry,) = kept.iterdir()
    st = entry.lstat()
    assert stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
    assert graded(bubblewrap()) == "list 2" and len(machine.listings) == 2


def test_a_list_is_kept_whole_or_not_at_all(
    machine: SimpleNamespace, kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills while the list is copied to the cache: the job uses the list it
    made, and the cache holds nothing, no part of it under any name. Copied whole, the
    list gets its final name by a rename, never before."""
    copy = shutil.copyfileobj

    def full(src: Any, dst: Any) -> None:
        dst.write(src.read(3))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fonts.shutil, "copyfileobj", full)
    assert graded(bubblewrap()) == "list 1"
    assert kept.is_dir() and not any(kept.iterdir())

    monkeypatch.setattr(fonts.shutil, "copyfileobj", copy)
    renames = []
    replace = os.replace

    def renamed(src: str, dst: Path) -> None:
        # At the rename: the whole list under another name, nothing under its own.
        assert Path(src).parent == kept and Path(src).read_text() == "list 2"
        assert not Path(dst).exists()
        renames.append(Path(dst))
        replace(src, dst)

    monkeypatch.setattr(fonts.os, "replace", renamed)
    assert graded(bubblewrap()) == "list 2"
    assert renames == list(kept.iterdir()) and len(renames) == 1


def test_process_isolation_has_no_list(machine: SimpleNamespace, kept: Path) -> None:
    config = SimpleNamespace(mode="processes", bwrap=None, runtime=discover_runtime())
    with Job() as job:
        assert fonts.font_list(job, config) is None  # type: ignore[arg-type]
    assert machine.listings == [] and not kept.exists()
