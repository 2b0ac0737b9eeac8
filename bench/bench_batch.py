"""Benchmark: a class of generated module submissions graded by `grade batch`'s API.

The floor is the same number of `import numpy` runs in the same isolation, with as many
at once as the batch has slots: what any grader that isolates each submission must pay;
it is measured before the batch and after it, and the two averaged.
Prints submissions per minute for both and their ratio. With --dask, the same class is
also graded on a local Dask cluster of as many worker processes as slots (the extra
layergrade[dask]), as a ratio to the local batch.

    python bench/bench_batch.py [--students N] [-j N] [--isolation bubblewrap|container]
                                [--dask]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader.api import graded_cases
from grader.batch.runner import default_slots, grade_class
from grader.config.limits import Limits
from grader.config.options import SourceOptions
from grader.config.rubric import load_rubric
from grader.sandbox.bwrap import Mounts, bwrap_args, bwrap_path
from grader.sandbox.job import Job
from grader.sandbox.runtime import discover_runtime
from grader.sandbox.worker import SandboxConfig
from grader.vectors import load_vectors

ROOT = Path(__file__).resolve().parent.parent
CORRECT = ROOT / "assignments" / "modular_layers" / "examples" / "correct"


def make_class(folder: Path, students: int) -> None:
    layers = (CORRECT / "cs231n" / "layers.py").read_text()
    for i in range(students):
        package = folder / f"student{i:04d}" / "cs231n"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        # Each submission differs, as real ones do, so none is skipped as unchanged.
        (package / "layers.py").write_text(f"# student {i}\n{layers}")


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (not idle or waiting for I/O), from
    /proc/stat: what the sandboxes' processes use too, whoever reaps them."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("-j", "--jobs", type=int, default=default_slots())
    parser.add_argument("--isolation", choices=("bubblewrap", "container"), default="bubblewrap")
    parser.add_argument("--dask", action="store_true", help="also grade on a local Dask cluster")
    args = parser.parse_args()
    if args.isolation == "bubblewrap" and bwrap_path() is None:
        print("bubblewrap (bwrap) is not installed: the benchmark measures the sandbox.")
        return 2
    runtime = discover_runtime()
    rubric = load_rubric(ROOT / "rubric.yaml")
    cases = graded_cases(rubric, rubric.splits)
    digest = load_vectors(rubric.vectors, rubric.splits).digest
    configs = [SandboxConfig.create(args.isolation, runtime) for _ in range(args.jobs)]
    bwrap = configs[0].bwrap
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_class(work / "class", args.students)
        (work / "empty").mkdir(mode=0o755)
        with Job(cases) as job:
            if bwrap is not None:
                mounts = Mounts(job.path, work / "empty")
                argv, paths = bwrap_args(bwrap, runtime, mounts, Limits())
                site = paths.site
            else:
                argv = [str(runtime.executable)]
                numpy = [runtime.numpy_dir, *filter(None, [runtime.numpy_libs])]
                site = str(job.site_view("module", numpy))
            command = argv + [
                "-I",
                "-S",
                "-c",
                f"import sys; sys.path.append({site!r}); import numpy",
            ]

            def run_floor() -> tuple[float, float]:
                start, cpu = time.perf_counter(), busy_seconds()
                with ThreadPoolExecutor(args.jobs) as pool:
                    runs = range(args.students)
                    list(pool.map(lambda _: subprocess.run(command, check=True), runs))
                return time.perf_counter() - start, busy_seconds() - cpu

            # The floor before and after the batch, averaged: a machine whose speed drifts
            # while the benchmark runs moves both alike.
            before = run_floor()
            start, cpu = time.perf_counter(), busy_seconds()
            summary, counts, _ = grade_class(
                work / "class",
                work / "out",
                rubric,
                cases,
                configs,
                vectors_digest=digest,
                options=SourceOptions(),
            )
            batch = time.perf_counter() - start
            batch_cpu = busy_seconds() - cpu
            after = run_floor()
            floor, floor_cpu = ((a + b) / 2 for a, b in zip(before, after, strict=True))
        assert counts["graded"] == args.students and summary.mean == summary.max_score
        dask = None
        if args.dask:
            from grader.batch.cluster import Cluster, dask_client

            # The cluster's start-up counts: it is part of every batch graded this way.
            start = time.perf_counter()
            client = dask_client(None, args.jobs)
            cluster = Cluster(
                client, rubric, rubric.splits, digest, args.isolation, SourceOptions()
            )
            try:
                summary, counts, _ = grade_class(
                    work / "class",
                    work / "out-dask",
                    rubric,
                    cases,
                    [],
                    vectors_digest=digest,
                    options=SourceOptions(),
                    cluster=cluster,
                )
            finally:
                cluster.close()
            dask = time.perf_counter() - start
            assert counts["graded"] == args.students and summary.mean == summary.max_score
        shutil.rmtree(work / "class")
    n = args.students
    print(f"{n} module submissions, {len(cases)} cases each, -j {args.jobs}, {args.isolation}")
    print(
        f"floor: {n} `import numpy`, same isolation {floor:6.1f} s  {60 * n / floor:6.0f}/min"
        f"  (before the batch {before[0]:.1f} s, after it {after[0]:.1f} s)"
    )
    print(
        f"grade batch                          {batch:6.1f} s  {60 * n / batch:6.0f} per minute"
        f"  {batch / floor:5.2f} x floor"
    )
    # CPU time per submission, machine-wide: with every core busy, what sets the pace.
    print(
        f"CPU per submission: floor {1000 * floor_cpu / n:.0f} ms, batch "
        f"{1000 * batch_cpu / n:.0f} ms  {batch_cpu / floor_cpu:5.2f} x floor"
    )
    if dask is not None:
        print(
            f"grade batch --cluster local:{args.jobs}       {dask:6.1f} s  "
            f"{60 * n / dask:6.0f} per minute  {dask / floor:5.2f} x floor  "
            f"{dask / batch:5.2f} x the local batch"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
