"""Unpacking a submitted zip: every member's path and size checked before anything is
written, and totals capped."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from grader.errors import SubmissionError, host_failure
from grader.submission.files import MAX_FILES, MAX_TOTAL_BYTES, skipped

# Deeper than any real submission; a folder nested thousands of levels would exhaust the
# recursion of every tool that walks it (the cleanup of the staging folder included).
MAX_DEPTH = 64


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def extract_zip(
    archive: Path, dst: Path, max_files: int = MAX_FILES, max_bytes: int = MAX_TOTAL_BYTES
) -> None:
    """Extract ``archive`` into ``dst`` after checking every member and the totals."""
    try:
        zf = zipfile.ZipFile(archive)
    except Exception as exc:
        # zipfile raises many kinds on a damaged archive (BadZipFile, ValueError,
        # EOFError, OSError ...): each is the archive's problem.
        raise SubmissionError(f"{archive} is not a readable zip file ({describe(exc)}).") from None
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
            if len(name.parts) > MAX_DEPTH:
                raise SubmissionError(
                    f"{archive} nests folders {len(name.parts)} deep ({m.filename[:80]!r}...); "
                    f"the limit is {MAX_DEPTH}."
                )
        for m in members:
            name = PurePosixPath(m.filename.replace("\\", "/"))
            if m.is_dir() or not name.parts or skipped(name.parts):
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
            except SubmissionError:
                raise
            except OSError as exc:
                if host_failure(exc):
                    raise  # the grader's disk, not the archive
                raise SubmissionError(
                    f"{archive}: cannot extract {m.filename!r} ({describe(exc)})."
                ) from None
            except Exception as exc:
                # An encrypted member (RuntimeError), deflate64 (NotImplementedError), a
                # damaged stream (zlib.error, EOFError, BadZipFile) ...
                raise SubmissionError(
                    f"{archive}: cannot extract {m.filename!r} ({describe(exc)}).\nHint: zip "
                    "the files again with an ordinary zip tool, without a password."
                ) from None
