"""How a slot's zygote empties /tmp between two submissions (inside/zygote.py's wipe),
outside any sandbox: whatever a submission left, in whatever modes, goes; the read-only
files the slot shows (the class's font list) and the folders holding them stay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.sandbox.inside.zygote import wipe


def test_wipe_removes_what_a_submission_left_in_any_mode(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("secret")
    (tmp_path / ".hidden").write_text("secret")
    locked = tmp_path / "locked" / "deeper"
    locked.mkdir(parents=True)
    (locked / "file").write_text("secret")
    locked.chmod(0)
    locked.parent.chmod(0)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "plain")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    unreadable = tmp_path / "unreadable"
    unreadable.write_text("secret")
    unreadable.chmod(0)
    assert wipe(str(tmp_path)) == []
    assert list(tmp_path.iterdir()) == []


def test_wipe_keeps_the_files_it_is_told_to_and_their_folders(tmp_path: Path) -> None:
    cache = tmp_path / ".cache" / "matplotlib"
    cache.mkdir(parents=True)
    fonts = cache / "fontlist-v390.json"
    fonts.write_text("{}")
    (cache / "left").write_text("secret")
    (cache / "tex.cache").mkdir()
    (tmp_path / ".cache" / "other").write_text("secret")
    (tmp_path / "plain").write_text("secret")
    assert wipe(str(tmp_path), frozenset({str(fonts)})) == []
    remaining = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert remaining == [".cache", ".cache/matplotlib", ".cache/matplotlib/fontlist-v390.json"]
    assert fonts.read_text() == "{}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may remove what a folder's mode forbids")
def test_wipe_names_what_it_could_not_remove(tmp_path: Path) -> None:
    """A file it cannot remove (here: in a folder it may not write, as a read-only mount
    is) is named, so that the zygote says the slot is not clean."""
    folder = tmp_path / "kept"
    folder.mkdir()
    (folder / "stuck").write_text("secret")
    keep = frozenset({str(folder / "other")})  # the folder is held, its file is not
    folder.chmod(0o555)
    try:
        assert wipe(str(tmp_path), keep) == [str(folder / "stuck")]
    finally:
        folder.chmod(0o755)
