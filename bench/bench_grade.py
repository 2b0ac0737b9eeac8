"""Benchmark: grading one module submission, against a floor measured in the same run.

The floor is the least any sandboxed grader can do per submission: start the same
bubblewrap sandbox and run `import numpy` in it. The figures are the median wall time
to grade the bundled correct submission with the default rubric (through the API, and
through the `grade` command including interpreter start-up), as ratios to the floor,
submissions per minute, and peak memory.

    python bench/bench_grade.py [--repeat N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.api import grade_submission, graded_cases
from grader.rubric import load_rubric
from grader.run import Job
from grader.sandbox import Limits, Mounts, SandboxConfig, bwrap_args, bwrap_path, discover_runtime

ROOT = Path(__file__).resolve().parent.parent
CORRECT = ROOT / "assignments" / "modular_layers" / "examples" / "correct"


def median_seconds(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    bwrap = bwrap_path()
    if bwrap is None:
        print("bubblewrap (bwrap) is not installed: the benchmark measures the sandbox.")
        return 2
    runtime = discover_runtime()
    config = SandboxConfig.create(bwrap, runtime)
    rubric = load_rubric(ROOT / "rubric.yaml")
    cases = graded_cases(rubric, rubric.splits)

    with tempfile.TemporaryDirectory() as empty, Job(cases) as job:
        Path(empty).chmod(0o755)
        argv, paths = bwrap_args(bwrap, runtime, Mounts(job.path, Path(empty)), Limits())
        floor_cmd = argv + [
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path.append({paths['site']!r}); import numpy",
        ]

        def floor() -> None:
            subprocess.run(floor_cmd, check=True)

        def api() -> None:
            result = grade_submission(CORRECT, rubric, cases, config, job)
            assert result.score == result.max_score

        def command() -> None:
            subprocess.run(
                [sys.executable, "-m", "grader", str(CORRECT), "--format", "json"],
                check=True,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )

        floor(), api(), command()  # warm the page cache
        t_floor = median_seconds(floor, args.repeat)
        t_api = median_seconds(api, args.repeat)
        t_cmd = median_seconds(command, args.repeat)

    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"cases graded per submission: {len(cases)} (rubric: {rubric.path.name}, public + hidden)"
    )
    print(f"floor (sandboxed `import numpy`)   {t_floor:7.3f} s")
    print(
        f"grade, API (per submission)        {t_api:7.3f} s   {t_api / t_floor:5.2f} x floor"
        f"   {60 / t_api:6.0f} submissions/min"
    )
    print(f"grade, command (with start-up)     {t_cmd:7.3f} s   {t_cmd / t_floor:5.2f} x floor")
    print(f"peak memory: grader {self_peak:.0f} MB, largest child process {child_peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
