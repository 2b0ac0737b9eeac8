"""Shared fixtures. Sandbox tests need a working bubblewrap, container tests a grader
running as root on Linux, cgroups tests control groups it can create: each is skipped
with the reason where it cannot run, except in CI (CI=true), where that is a failure,
not a skip.

Container tests also need an interpreter that the worker's uid can read, as a container's
system Python is. A pyenv interpreter in /root is not: where the grader runs from one,
they are skipped even in CI, whose container step runs them with Debian's system Python
and LAYERGRADE_CI_CONTAINER=1, which makes that skip a failure too."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.sandbox.bwrap import bwrap_path
from grader.sandbox.cgroups import system_hierarchy
from grader.sandbox.container import readable_by_others
from grader.sandbox.isolation import bwrap_works
from grader.sandbox.runtime import discover_runtime, unreadable_by_others

# The commands the tests run grade by themselves, whatever `grade serve` a user keeps
# running (test_server.py starts its own).
os.environ["LAYERGRADE_SERVER"] = "off"
# What the grader keeps across runs (matplotlib's font list, fonts.py) goes to a folder
# of the test run's own, not the user's cache.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="layergrade-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)

# What a test may need of the machine, each a marker (see pyproject.toml).
MARKERS = ("sandbox", "container", "cgroups")


def missing(marker: str) -> str | None:
    """Why the tests with ``marker`` cannot run here, or None."""
    if marker == "sandbox":
        bwrap = bwrap_path()
        if bwrap is None:
            return "bubblewrap (bwrap) is not installed; apt-get install bubblewrap"
        if not bwrap_works(bwrap):
            return "bubblewrap (bwrap) cannot create namespaces on this machine"
    if marker == "container" and not (os.geteuid() == 0 and sys.platform.startswith("linux")):
        return "container isolation needs a grader running as root on Linux"
    if marker == "cgroups" and system_hierarchy() is None:
        return (
            "control groups need a grader running as root, with the cpu, memory and pids "
            "controllers mounted (version 1) or delegated to its group (version 2)"
        )
    return None


def private_interpreter() -> str | None:
    folder = unreadable_by_others(discover_runtime())
    if folder is None:
        return None
    return (
        f"the worker's uid cannot enter {folder}, where this interpreter lives; CI runs the "
        "container tests with Debian's system Python"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker in MARKERS:
        reason = missing(marker)
        required = os.environ.get("CI") == "true"
        if reason is None and marker == "container":
            reason = private_interpreter()
            required = os.environ.get("LAYERGRADE_CI_CONTAINER") == "1"
        if reason is None:
            continue
        if required:
            mark = pytest.mark.usefixtures("_required_in_ci")
        else:
            mark = pytest.mark.skip(reason=reason)
        for item in items:
            if marker in item.keywords:
                item.add_marker(mark)


@pytest.fixture
def _required_in_ci(request: pytest.FixtureRequest) -> None:
    reasons = [r for m in MARKERS if m in request.keywords and (r := missing(m))]
    if "container" in request.keywords and not reasons:
        reasons.append(private_interpreter() or "")
    pytest.fail(f"CI must run this test, but {'; '.join(reasons)}")


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A folder other users can reach, as a class's folder is (pytest's own are private
    to their owner, which would hide what they hold from any worker uid anyway)."""
    folder = Path(tempfile.mkdtemp(prefix="layergrade-test-"))
    folder.chmod(0o755)
    assert readable_by_others(folder), "the temporary folder must be open to all"
    yield folder
    shutil.rmtree(folder)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel .` builds from the checkout: what students install."""
    out = tmp_path_factory.mktemp("wheel")
    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(root)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("layergrade-*.whl")
    return found


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/ from the current output (then review the diff)",
    )
