"""Per-submission time and resource limits, as the rubric's ``limits:`` declares them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Per-submission limits. Defaults are generous for the assignment's small arrays."""

    case_seconds: float = 5.0
    import_seconds: float = 10.0
    submission_seconds: float = 120.0
    # Address space per process: numpy alone maps about 100 MB, and the assignment's arrays
    # are small. With the process limit this bounds a submission at 8 GB: two graded at
    # once stay inside a 24 GB machine.
    memory_mb: int = 512
    processes: int = 16
    # All of a worker's processes together, memfd files and tmpfs included, where control
    # groups are available (sandbox/cgroups.py): a worker with numpy and two cases holds
    # about 100 MB; sixteen processes that each touch a few arrays stay well inside.
    group_memory_mb: int = 1024
    file_size_mb: int = 8
    open_files: int = 64
    tmp_mb: int = 16
    # Cases one worker runs at once, each in its own child with its own deadline.
    parallel_cases: int = 2
    # Executing a notebook: each code cell, and all of them together. Cells that train a
    # network or load a dataset take longer: they are cut off, and the functions defined
    # before them are still graded.
    cell_seconds: float = 10.0
    notebook_seconds: float = 60.0
    # Reading a submission in the grading process, before any of it runs: hashing it (in a
    # batch), then unpacking, copying and reading its notebook. The assignment's examples
    # take well under a second (a notebook 0.2 s, most of it importing IPython); 30 s is a
    # hundred times that, and a quarter of submission_seconds.
    staging_seconds: float = 30.0
