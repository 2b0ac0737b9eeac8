"""Benchmark: grading one submission, against floors measured in the same run.

Modules: the floor is the least any sandboxed grader can do per submission, starting
the same bubblewrap sandbox and running `import numpy` in it; the figures are the
median wall time to grade the bundled correct submission with the default rubric
(through the API, alone and as one of a class, whose slot keeps its sandbox and forks
each submission's worker from its zygote; and through the `grade` command including
interpreter start-up, grading by itself or handing the submission to a running
`grade serve`, which grades it as one of a class).
Notebooks: the floor starts an IPython shell in the same sandbox and runs one trivial
cell; the figures grade the bundled notebook, executed (alone, and as one of a class,
and by the `grade` command through `grade serve`) and with --no-execute. Beside them, the
same shell importing matplotlib.pyplot, as the notebook's first cell does: what running
that notebook costs whoever runs it.
All as ratios to their floor, with submissions per minute and peak memory.

With --isolation container (root, and an interpreter other users can read, such as
Debian's), the floors run the same interpreter with the same path but no namespaces,
as the worker uid would: what any grader that starts a process per submission pays.

    python bench/bench_grade.py [--repeat N] [--isolation bubblewrap|container]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from grader.api import grade_submission, graded_cases
from grader.config.limits import Limits
from grader.config.options import SourceOptions
from grader.config.rubric import load_rubric
from grader.sandbox.bwrap import Mounts, bwrap_args, bwrap_path
from grader.sandbox.job import Job
from grader.sandbox.runtime import discover_runtime, notebook_site
from grader.sandbox.worker import SandboxConfig

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assignments" / "modular_layers" / "examples"
CORRECT = EXAMPLES / "correct"
NOTEBOOK = EXAMPLES / "notebook" / "correct_inline.ipynb"
IMPORT_NUMPY = "import numpy"
ONE_CELL = (
    "from IPython.core.interactiveshell import InteractiveShell; "
    "InteractiveShell.instance().run_cell('1 + 1')"
)
# What the bundled notebook's first cell costs any grader that runs it (%matplotlib inline
# imports pyplot, which builds its font cache in a new sandbox's empty home).
PYPLOT_CELL = ONE_CELL.replace("1 + 1", "import matplotlib.pyplot")


def median_seconds(
    figures: dict[str, Callable[[], object]], repeat: int, slow: int
) -> dict[str, float]:
    """The median seconds of each figure, timed in turn, round after round (the notebook
    figures in the first ``slow`` rounds only): a machine whose speed drifts while the
    benchmark runs slows every figure alike, and their ratios hold."""
    times: dict[str, list[float]] = {name: [] for name in figures}
    for round_ in range(repeat):
        for name, fn in figures.items():
            if name.startswith("notebook") and round_ >= slow:
                continue
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A `grade serve` for the commands of ``env`` (its XDG_RUNTIME_DIR), once it listens."""
    server = subprocess.Popen(
        [sys.executable, "-m", "grader", "serve", "--idle", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert server.stdout is not None
    line = server.stdout.readline().decode()
    if "listening at" not in line:
        raise SystemExit(f"grade serve did not start: {line}")
    # Its line per command, read and dropped: a full pipe would stop it.
    threading.Thread(target=server.stdout.read, daemon=True).start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--isolation", choices=("bubblewrap", "container"), default="bubblewrap")
    args = parser.parse_args()
    bwrap = bwrap_path()
    if args.isolation == "bubblewrap" and bwrap is None:
        print("bubblewrap (bwrap) is not installed: the benchmark measures the sandbox.")
        return 2
    runtime = discover_runtime()
    config = SandboxConfig.create(args.isolation, runtime)
    module_slot = SandboxConfig.create(args.isolation, runtime)
    notebook_slot = SandboxConfig.create(args.isolation, runtime)
    rubric = load_rubric(ROOT / "rubric.yaml")
    cases = graded_cases(rubric, rubric.splits)

    # A class's notebooks share a job, which makes matplotlib's font list once for them.
    with (
        tempfile.TemporaryDirectory() as empty,
        tempfile.TemporaryDirectory() as runtime_dir,
        Job(cases) as job,
        Job(cases) as class_job,
        Job(cases) as module_class_job,
    ):
        Path(empty).chmod(0o755)
        mounts = Mounts(job.path, Path(empty))

        def sandboxed(code: str, extra: tuple[Path, ...] = ()) -> Callable[[], object]:
            if config.bwrap is not None:
                argv, paths = bwrap_args(config.bwrap, runtime, mounts, Limits(), extra)
                site = paths.site
            else:
                argv = [str(runtime.executable)]
                numpy = [runtime.numpy_dir, *filter(None, [runtime.numpy_libs])]
                site = str(job.site_view("notebook" if extra else "module", [*numpy, *extra]))
            setup = f"import sys; sys.path.append({site!r}); "
            command = argv + ["-I", "-S", "-c", setup + code]
            return lambda: subprocess.run(
                command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )

        def graded(
            path: Path, execute: bool = True, in_class: bool = False
        ) -> Callable[[], object]:
            # A class of modules, and a class of notebooks, each in a slot of its own: a
            # worker of its own in a slot ends the slot's zygote.
            class_of, slot = (
                (module_class_job, module_slot) if path == CORRECT else (class_job, notebook_slot)
            )

            def run() -> None:
                options = SourceOptions(execute=execute)
                result = grade_submission(
                    path,
                    rubric,
                    cases,
                    slot if in_class else config,
                    class_of if in_class else job,
                    options=options,
                    in_class=in_class,
                    reuse=in_class,
                )
                assert result.score == result.max_score, result.notes

            return run

        # As installed: with bytecode (the warm-up run writes it where the environment
        # asked for none, as in some containers).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["XDG_RUNTIME_DIR"] = runtime_dir
        server = serve(env)

        def command(path: Path = CORRECT, served: bool = False) -> Callable[[], object]:
            argv = [sys.executable, "-m", "grader", str(path), "--format", "json"]
            argv += ["--isolation", config.mode]
            # To the `grade serve` started below, or graded by the command itself.
            setting = "required" if served else "off"
            return lambda: subprocess.run(
                argv,
                check=True,
                cwd=ROOT,
                env={**env, "LAYERGRADE_SERVER": setting},
                stdout=subprocess.DEVNULL,
            )

        figures = {
            "floor": sandboxed(IMPORT_NUMPY),
            "module": graded(CORRECT),
            "module in a class": graded(CORRECT, in_class=True),
            "command": command(),
            "command, served": command(served=True),
            "notebook floor": sandboxed(ONE_CELL, notebook_site()),
            "notebook pyplot": sandboxed(PYPLOT_CELL, notebook_site()),
            "notebook": graded(NOTEBOOK),
            "notebook in a class": graded(NOTEBOOK, in_class=True),
            "extracted": graded(NOTEBOOK, execute=False),
            "notebook command, served": command(NOTEBOOK, served=True),
        }
        try:
            for fn in figures.values():
                fn()  # warm the page cache
            t = median_seconds(figures, args.repeat, slow=max(3, args.repeat // 3))
        finally:
            server.terminate()
            server.wait()

    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"isolation: {config.mode}; cases per submission: {len(cases)} (rubric.yaml)")
    # Only bubblewrap slots keep a zygote (grader/sandbox/zygote.py).
    how = "(forked from the slot's zygote)" if config.mode == "bubblewrap" else "(a worker each)"
    print(f"floor: `import numpy`, same isolation  {t['floor']:6.3f} s")
    print(
        f"module, API (per submission)           {t['module']:6.3f} s  "
        f"{t['module'] / t['floor']:5.2f} x floor  {60 / t['module']:5.0f} submissions/min"
    )
    print(
        f"module, API, as one of a class         {t['module in a class']:6.3f} s  "
        f"{t['module in a class'] / t['floor']:5.2f} x floor  "
        f"{60 / t['module in a class']:5.0f} submissions/min {how}"
    )
    print(
        f"module, `grade` command with start-up  {t['command']:6.3f} s  "
        f"{t['command'] / t['floor']:5.2f} x floor"
    )
    print(
        f"module, `grade` command to `grade serve` {t['command, served']:6.3f} s  "
        f"{t['command, served'] / t['floor']:5.2f} x floor"
    )
    print(f"floor: IPython one cell, same isol.    {t['notebook floor']:6.3f} s")
    print(
        f"notebook, executed                     {t['notebook']:6.3f} s  "
        f"{t['notebook'] / t['notebook floor']:5.2f} x its floor  "
        f"{60 / t['notebook']:5.0f} notebooks/min"
    )
    print(
        f"  its first cell alone (pyplot), same isolation {t['notebook pyplot']:6.3f} s: the "
        f"notebook is {t['notebook'] / t['notebook pyplot']:4.2f} x that"
    )
    print(
        f"notebook, executed, in a class         {t['notebook in a class']:6.3f} s  "
        f"{t['notebook in a class'] / t['notebook floor']:5.2f} x its floor  "
        f"{60 / t['notebook in a class']:5.0f} notebooks/min {how}"
    )
    print(
        f"notebook, --no-execute                 {t['extracted']:6.3f} s  "
        f"{t['extracted'] / t['module']:5.2f} x module grading"
    )
    print(
        f"notebook, `grade` command to `grade serve` {t['notebook command, served']:6.3f} s  "
        f"{t['notebook command, served'] / t['notebook floor']:5.2f} x its floor"
    )
    print(f"peak memory: grader {self_peak:.0f} MB, largest child process {child_peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
