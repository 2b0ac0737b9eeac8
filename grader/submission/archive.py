"""Unpacking a submitted zip: every member's path and size checked before anything is
written, and totals capped."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from grader.errors import SubmissionError, host_failure
from grader.submission.budget import Budget
from grader.submission.files import MAX_DEPTH, MAX_FILES, MAX_TOTAL_BYTES, skipped, too_deep


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def extract_zip(
    archive: Path,
    dst: Path,
    budget: Budget,
    max_files: int = MAX_FILES,
    max_bytes: int = MAX_TOTAL_BYTES,
) -> None:
    """Extract ``archive`` into ``dst`` after checking every member and the totals,
    checking ``budget`` at every member."""
    # Opening a zip reads its whole list of members, some fifty bytes each: a zip larger
    # than what it may unpack to would only be refused after that, and a stored zip of
    # code is barely larger than its files.
    if archive.stat().st_size > max_bytes:
        raise too_large(archive, "is", max_bytes)
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
            raise too_large(archive, "unpacks to", max_bytes)
        for m in members:
            name = PurePosixPath(m.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
                raise SubmissionError(f"{archive} contains an unsafe path: {m.filename!r}.")
            if stat.S_ISLNK(m.external_attr >> 16):
                raise SubmissionError(f"{archive} contains a symbolic link: {m.filename!r}.")
            if len(name.parts) > MAX_DEPTH:
                raise too_deep(archive, m.filename)
        for m in members:
            budget.check("unpacking")
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


def too_large(archive: Path, what: str, max_bytes: int) -> SubmissionError:
    return SubmissionError(
        f"{archive} {what} more than {max_bytes >> 20} MB; remove data files "
        "(datasets, checkpoints) and zip only your code."
    )
