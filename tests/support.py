"""Helpers for end-to-end tests: build zoo submissions and run the real `grade` command."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from grader.config.choices import Split
from grader.sandbox.inside.processes import kill_all as kill_pids
from grader.sandbox.inside.processes import pids, stat_fields
from grader.sandbox.uids import UID_RANGE
from grader.vectors import CaseVector, CheckKind, Output

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "tests" / "zoo"
CORRECT = ROOT / "assignments" / "modular_layers" / "examples" / "correct"
CORRECT_LAYERS = CORRECT / "cs231n" / "layers.py"
DEFAULT_RUBRIC = ROOT / "rubric.yaml"

# Short limits so that the hanging submissions cost seconds, not minutes.
TEST_LIMITS = {"case_seconds": 1, "import_seconds": 3, "submission_seconds": 60}


def write_rubric(folder: Path, **overrides: Any) -> Path:
    """The default rubric with absolute vector paths, short limits and any overrides."""
    data = yaml.safe_load(DEFAULT_RUBRIC.read_text())
    data["vectors"] = str(DEFAULT_RUBRIC.resolve().parent / data["vectors"])
    data["limits"] = dict(data.get("limits", {}), **TEST_LIMITS)
    data.update(overrides)
    path = folder / "rubric.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def build_submission(folder: Path, snippet: str = "", name: str = "sub") -> Path:
    """A submission folder: the correct layers with ``snippet`` appended (it wins)."""
    sub = folder / name
    (sub / "cs231n").mkdir(parents=True)
    (sub / "cs231n" / "__init__.py").write_text("")
    text = CORRECT_LAYERS.read_text()
    (sub / "cs231n" / "layers.py").write_text(text + "\n\n" + snippet)
    return sub


def run_grade(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run the real command line, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "grader", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env if env is not None else dict(os.environ),
    )


def grade_json(
    path: Path, rubric: Path, *extra: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    proc = run_grade(path, "--rubric", rubric, "--format", "json", *extra, env=env)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def function(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in result["functions"] if f["name"] == name)


def output_statuses(fn: dict[str, Any], output: str) -> list[str]:
    """The status of ``output`` in every case of a function ('fail' where the case failed)."""
    statuses = []
    for case in fn["cases"]:
        if case["failure"] is not None:
            statuses.append("fail")
            continue
        statuses.extend(c["status"] for c in case["checks"] if c["output"] == output)
    return statuses


def members(data: bytes, name: str) -> Iterator[tuple[str, bytes]]:
    """Every file in an archive's bytes, archives inside it opened too."""
    yield name, data
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for inner in zf.namelist():
                yield from members(zf.read(inner), f"{name}!{inner}")


def notebook_with_module(folder: Path) -> Path:
    """The imports_module fixture with the correct layers beside its notebook."""
    target = folder / "imports_module"
    shutil.copytree(ZOO / "notebooks" / "imports_module", target)
    shutil.copy(CORRECT_LAYERS, target / "cs231n" / "layers.py")
    return target


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    uids: tuple[int, ...]
    start: int  # clock ticks after boot
    cmdline: str


def processes() -> Iterator[Process]:
    for pid in pids():
        fields = stat_fields(pid)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if fields is None:
            continue
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        uids = tuple(int(u) for u in uid_line.split()[1:])
        # From the state on: ppid is the second field, the start time the twentieth.
        text = cmdline.replace(b"\0", b" ").decode("utf-8", "replace")
        yield Process(pid, int(fields[1]), uids, int(fields[19]), text)


# Processes of a worker uid (see grader.sandbox.uids.UID_RANGE) and start times in clock ticks.
WORKER_UIDS = frozenset(UID_RANGE)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def ticks_now() -> int:
    return int(float(Path("/proc/uptime").read_text().split()[0]) * CLOCK_TICKS)


def with_marker(marker: str) -> list[Process]:
    return [p for p in processes() if marker in p.cmdline and p.pid != os.getpid()]


def settle(probe: Callable[[], list[Process]], seconds: float) -> list[Process]:
    """Poll ``probe`` until it finds nothing or ``seconds`` pass; the last finding."""
    end = time.monotonic() + seconds
    found = probe()
    while found and time.monotonic() < end:
        time.sleep(0.1)
        found = probe()
    return found


def kill_all(found: list[Process]) -> None:
    """Clean up leftovers of a submission a test started (by pid)."""
    kill_pids(p.pid for p in found)


def make_case(
    inputs: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    split: Split = "public",
    check: CheckKind = "elementwise",
    params: Mapping[str, object] | None = None,
    function: str = "affine_backward",
) -> CaseVector:
    names = list(expected) or ["out"]
    return CaseVector(
        id=f"{function}.t",
        function=function,
        name="t",
        split=split,
        seed=None,
        calls=(),
        outputs=tuple(Output(n, {"var": n}, None) for n in names),
        check=check,
        params=params or {},
        inputs=dict(inputs),
        expected=dict(expected),
    )
