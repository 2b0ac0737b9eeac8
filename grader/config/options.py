"""Where in a submission the code to grade is: the options that ``grade``, ``grade check``
and ``grade batch`` share, each a command-line flag and (but ``execute``) a rubric key."""

from __future__ import annotations

from dataclasses import dataclass

from grader.config.choices import Source


@dataclass(frozen=True)
class SourceOptions:
    """``module``: path of the layers module in the submission (None: search for it);
    ``source``: module or notebook when a folder has both (None: the rubric's);
    ``execute``: run a notebook's cells (False: grade its definitions only)."""

    module: str | None = None
    source: Source | None = None
    execute: bool = True
