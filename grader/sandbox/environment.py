"""The environment and resource limits of every worker, whatever isolates it."""

from __future__ import annotations

from grader.config.limits import Limits


def worker_env(home: str) -> dict[str, str]:
    """The whole environment a worker starts with: nothing of the grader's."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        # One thread per BLAS library: starting OpenBLAS's thread pool costs more than
        # importing numpy, and extra threads would count against the process limit.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def rlimits(limits: Limits, processes: int | None) -> dict[str, int]:
    """The worker's resource limits, by ``resource`` module name. ``processes`` is the
    RLIMIT_NPROC to set (it counts every process of the uid), None to set none."""
    values = {
        "RLIMIT_AS": limits.memory_mb << 20,
        "RLIMIT_FSIZE": limits.file_size_mb << 20,
        "RLIMIT_NOFILE": limits.open_files,
        "RLIMIT_CORE": 0,
        # CPU seconds per process: a backstop behind the wall-clock deadlines.
        "RLIMIT_CPU": int(limits.submission_seconds) + 1,
    }
    if processes is not None:
        values["RLIMIT_NPROC"] = processes
    return values
