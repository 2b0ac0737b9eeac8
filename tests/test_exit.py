"""How the `grade` command ends: without tearing the interpreter down, yet with its exit
code, its output flushed and its exit handlers run (a slot's cgroup is removed by one)."""

from __future__ import annotations

import os
import subprocess
import sys

from support import ROOT

# An object whose finalizer prints: it runs where the interpreter is torn down.
TORN_DOWN = """
class Noisy:
    def __del__(self):
        print("torn down")

noisy = Noisy()
"""


def command(body: str) -> subprocess.CompletedProcess[str]:
    """``body`` then the command's entry point, in a fresh interpreter."""
    probe = f"import atexit, sys, threading, time\nfrom grader.cli import run\n{body}\nrun()\n"
    # Block-buffered output, as when stdout is a file or a pipe and nothing says otherwise.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )


def test_the_command_skips_the_teardown_but_not_the_exit_handlers() -> None:
    body = TORN_DOWN + "atexit.register(print, 'exit handler ran')\nsys.argv = ['grade']"
    proc = command(body)
    # No arguments: the usage, and the usage error's code.
    assert proc.returncode == 2, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("usage: grade PATH")
    assert lines[-1] == "exit handler ran"
    assert "torn down" not in lines


def test_the_command_waits_for_a_thread_still_running() -> None:
    """A thread still at work when main returns finishes, as with any Python program."""
    body = (
        TORN_DOWN
        + "def wait():\n"
        + "    while threading.main_thread().is_alive():\n"
        + "        time.sleep(0.01)\n"
        + "    print('thread done')\n"
        + "threading.Thread(target=wait).start()\n"
        + "sys.argv = ['grade', '--version']"
    )
    proc = command(body)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "thread done" in lines and "torn down" in lines
