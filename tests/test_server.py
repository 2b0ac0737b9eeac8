"""``grade serve`` (grader/serve/) and the command's side of it (grader/client.py).

Each test starts its own server, in a runtime folder of its own (XDG_RUNTIME_DIR), and
runs the real command with LAYERGRADE_SERVER=required, which fails where the server does
not grade: a test cannot pass by the command grading by itself. What the server grades
must be what the command grades alone (LAYERGRADE_SERVER=off), from the same folder,
with the same options, exit codes and files written.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import (
    CORRECT_LAYERS,
    ROOT,
    build_submission,
    processes,
    run_grade,
    write_rubric,
)
from test_hostile import assert_full_marks, assert_scores_zero, hostile, load_module

from grader.sandbox.inside.processes import children_of, descendants_of, stat_fields
from grader.serve.wire import LOCAL, receive, send, socket_path

pytestmark = pytest.mark.slow

ZOO = ROOT / "tests" / "zoo"
# Starting a server imports the grader and numpy: seconds on a loaded machine, not minutes.
START_SECONDS = 120.0


@dataclass
class Server:
    proc: subprocess.Popen[str]
    env: dict[str, str]
    log: Path
    socket: Path

    def grade(
        self, *args: str | Path, cwd: Path = ROOT, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """The `grade` command, as a user runs it, through this server."""
        return run_grade(*args, env={**self.env, **env}, cwd=cwd)

    def said(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def start_server(tmp_path: Path, *extra: str) -> Server:
    run = tmp_path / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    # A socket's path has at most 107 bytes; pytest's folders can be longer: a short link.
    if len(str(run)) > 60:
        short = Path(tempfile.mkdtemp(prefix="lg-"))
        (short / "run").symlink_to(run)
        atexit.register(shutil.rmtree, short, ignore_errors=True)
        run = short / "run"

    env = {**os.environ, "XDG_RUNTIME_DIR": str(run), "LAYERGRADE_SERVER": "required"}
    log = tmp_path / f"serve-{len(list(tmp_path.glob('serve-*')))}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "grader", "serve", *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env=env,
        )
    path = run / socket_path().parent.name / socket_path().name
    server = Server(proc, env, log, path)
    end = time.monotonic() + START_SECONDS
    while "listening at" not in server.said():
        assert proc.poll() is None, f"the server ended: {server.said()}"
        assert time.monotonic() < end, f"the server did not start: {server.said()}"
        time.sleep(0.05)
    assert path.is_socket()
    return server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = start_server(tmp_path)
    yield server
    assert server.stop() == 0, server.said()
    assert not server.socket.exists()


def without_timing(result: dict[str, Any]) -> dict[str, Any]:
    """A JSON result without what differs from run to run (times, the submission's path)."""
    drop = {"seconds", "graded_at", "duration_seconds", "submission"}
    if isinstance(result, dict):
        return {k: without_timing(v) for k, v in result.items() if k not in drop}
    if isinstance(result, list):
        return [without_timing(v) for v in result]
    return result


def test_the_server_grades_as_the_command_does(server: Server, tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path)
    correct = build_submission(tmp_path, name="correct")
    buggy = ZOO / "bugs" / "affine_bias_wrong_axis.py"
    for sub in (correct, buggy, correct):
        served = server.grade(sub, "--rubric", rubric, "--format", "json")
        alone = server.grade(sub, "--rubric", rubric, "--format", "json", LAYERGRADE_SERVER="off")
        assert served.returncode == alone.returncode == 0, served.stderr + alone.stderr
        assert without_timing(json.loads(served.stdout)) == without_timing(json.loads(alone.stdout))
    said = server.said()
    assert said.count(f"{correct} --rubric {rubric} --format json: exit 0") == 2, said
    assert f"{buggy} --rubric {rubric} --format json: exit 0" in said
    # The buggy one between two correct ones: nothing carried over either way.
    result = json.loads(served.stdout)
    assert result["score"] == result["max_score"]


def test_the_command_keeps_its_folder_options_and_exit_codes(
    server: Server, tmp_path: Path
) -> None:
    rubric = write_rubric(tmp_path)
    shutil.copy(ZOO / "bugs" / "svm_no_mean.py", tmp_path / "mine.py")
    proc = server.grade(
        "mine.py",
        "--rubric",
        "rubric.yaml",
        "-o",
        "out.json",
        "--format",
        "json",
        "--fail-under",
        "1000",
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    assert "is under --fail-under 1000" in proc.stderr
    written = json.loads((tmp_path / "out.json").read_text())
    assert written["score"] < written["max_score"]
    assert Path(written["submission"]).name == "mine.py"
    assert rubric.name == "rubric.yaml"

    missing = server.grade("nothing-here.py", "--rubric", "rubric.yaml", cwd=tmp_path)
    assert missing.returncode == 2
    assert "nothing-here.py" in missing.stderr

    # A command that is not a submission's grading runs where it was asked.
    version = server.grade("--version")
    assert version.returncode == 0 and version.stdout.strip()
    assert "--version" not in server.said()
    assert "--version" in LOCAL


def test_a_changed_rubric_is_read_again(server: Server, tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path)
    first = json.loads(server.grade(sub, "--rubric", rubric, "--format", "json").stdout)
    text = rubric.read_text()
    assert "points: 10" in text, "the test rubric gives some function 10 points"
    rubric.write_text(text.replace("points: 10", "points: 13", 1))
    second = json.loads(server.grade(sub, "--rubric", rubric, "--format", "json").stdout)
    assert second["max_score"] == first["max_score"] + 3
    assert second["score"] == second["max_score"]


@pytest.mark.sandbox
def test_a_submission_in_the_servers_sandbox_cannot_reach_it(
    server: Server, tmp_path: Path
) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path, hostile("reach_server", SOCKET=server.socket))
    proc = server.grade(sub, "--rubric", rubric, "--format", "json", "--isolation", "bubblewrap")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert_scores_zero(result, "svm_loss", "loss")
    assert_full_marks(result, "svm_loss")

    # Control: outside a sandbox the snippet reaches the server, and answers correctly.
    module = load_module(sub / "cs231n" / "layers.py", "hostile_reach_server")
    x = [[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]]
    loss, _ = module.svm_loss(__import__("numpy").array(x), __import__("numpy").array([0, 1]))
    assert loss != 123.0


def server_descendants(server: Server) -> list[str]:
    """The processes below the server: each one's pid, state and command line."""
    below = descendants_of({server.proc.pid}) - {server.proc.pid}
    left = []
    for p in processes():
        fields = stat_fields(p.pid) if p.pid in below else None
        if fields:
            left.append(f"{p.pid} {fields[0].decode()} {p.cmdline[:200]}")
    return left


def test_a_command_that_goes_away_stops_its_grading(server: Server, tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path)
    sub = ZOO / "bugs" / "sleep_forever_svm.py"
    client = subprocess.Popen(
        [sys.executable, "-m", "grader", str(sub), "--rubric", str(rubric)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=server.env,
        cwd=ROOT,
    )
    end = time.monotonic() + START_SECONDS
    while f"{sub} --rubric {rubric}: grading" not in server.said():
        assert time.monotonic() < end and client.poll() is None, server.said()
        time.sleep(0.05)
    client.send_signal(signal.SIGINT)  # the user's Ctrl-C
    client.communicate(timeout=60)
    assert client.returncode == 130
    end = time.monotonic() + 60
    while "the command went away; its grading stopped" not in server.said():
        assert time.monotonic() < end, server.said()
        time.sleep(0.05)
    # Its sandbox ended with it; the server grades the next one, from a new sandbox.
    end = time.monotonic() + 30
    while server_descendants(server) and time.monotonic() < end:
        time.sleep(0.1)
    assert server_descendants(server) == []
    proc = server.grade(build_submission(tmp_path), "--rubric", rubric, "--format", "json")
    result = json.loads(proc.stdout)
    assert result["score"] == result["max_score"]


def test_a_server_whose_code_changed_declines_and_stops(server: Server, tmp_path: Path) -> None:
    rubric = write_rubric(tmp_path)
    sub = build_submission(tmp_path)
    # A module the server has not imported: what a worker runs.
    module = ROOT / "grader" / "sandbox" / "inside" / "cells.py"
    before = module.stat()
    try:
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        proc = server.grade(sub, "--rubric", rubric, "--format", "json", LAYERGRADE_SERVER="")
    finally:
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    # The command graded by itself, and said why.
    assert proc.returncode == 0, proc.stderr
    assert "the grader's files changed since it started" in proc.stderr
    assert "graded here instead" in proc.stderr
    result = json.loads(proc.stdout)
    assert result["score"] == result["max_score"]
    assert server.proc.wait(timeout=60) == 0
    assert not server.socket.exists()


def test_only_a_private_folder_is_used(tmp_path: Path) -> None:
    run = tmp_path / "run"
    folder = run / socket_path().parent.name
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(run), "LAYERGRADE_SERVER": "required"}
    serve = subprocess.run(
        [sys.executable, "-m", "grader", "serve"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert serve.returncode == 2
    assert "closed to others" in serve.stderr

    # A folder opened to others after the server started is not used by the command.
    folder.chmod(0o700)
    server = start_server(tmp_path)
    try:
        folder.chmod(0o755)
        proc = server.grade(CORRECT_LAYERS.parent.parent)
        assert proc.returncode == 3
        assert "no grade server answers" in proc.stderr
        folder.chmod(0o700)
        assert server.grade("check", CORRECT_LAYERS.parent.parent).returncode == 0
    finally:
        folder.chmod(0o700)
        assert server.stop() == 0


def test_one_server_per_installation(server: Server) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "grader", "serve"],
        capture_output=True,
        text=True,
        env=server.env,
        cwd=ROOT,
        timeout=300,
    )
    assert second.returncode == 2
    assert "runs already" in second.stderr
    assert server.proc.poll() is None


def test_a_server_stops_when_idle(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--idle", "0.01")
    # 0.01 minutes without a submission.
    assert server.proc.wait(timeout=120) == 0
    assert "no submission for 0.01 minutes: stopping" in server.said()
    assert not server.socket.exists()


# Another user's process: run as nobody, by an interpreter every user can run.
SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.mark.skipif(os.geteuid() != 0, reason="another user's process needs a root test")
@pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="no /usr/bin/python3 for another user")
def test_another_users_connection_is_closed_unanswered(open_tmp: Path) -> None:
    server = start_server(open_tmp)
    try:
        # Opened to everyone on purpose: the uid the server reads off the connection
        # keeps another user out where the folders' modes would not.
        for folder in (open_tmp / "run", server.socket.parent):
            folder.chmod(0o711)
        server.socket.chmod(0o777)
        probe = (
            "import json, socket, struct, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "s.connect(sys.argv[1])\n"
            "data = json.dumps({'argv': ['x.py']}).encode()\n"
            "try:\n"
            "    s.sendall(struct.pack('!I', len(data)) + data)\n"
            "    print(repr(s.recv(100)) if s.recv(100, socket.MSG_PEEK) else 'closed')\n"
            "except (BrokenPipeError, ConnectionResetError):\n"
            "    print('closed')\n"
        )
        proc = subprocess.run(
            [str(SYSTEM_PYTHON), "-I", "-c", probe, str(server.socket)],
            capture_output=True,
            text=True,
            user=65534,
            group=65534,
            cwd="/",
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "closed"
        assert "a connection from uid 65534, not this user's: closed" in server.said()
    finally:
        server.socket.parent.chmod(0o700)
        assert server.stop() == 0


def test_a_request_it_cannot_run_is_declined_and_the_server_goes_on(server: Server) -> None:
    request = {"argv": ["x.py"], "cwd": str(ROOT), "env": {}, "umask": 0o22, "fds": []}
    wrong = [
        ({**request, "argv": ["batch", "class/", "-o", "out"]}, "does not run `grade batch`"),
        ({**request, "cwd": "/no/such/folder"}, "cannot run where the command runs"),
        ({**request, "fds": [1]}, "the streams sent are not those named"),
        ({"argv": ["x.py"]}, "a request it does not understand"),
    ]
    for message, words in wrong:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(server.socket))
            send(sock, message)
            answer, _ = receive(sock)
        assert words in str(answer.get("declined")), (message, answer)
    assert server.proc.poll() is None
    assert server.grade("check", CORRECT_LAYERS.parent.parent).returncode == 0


@pytest.mark.sandbox
def test_modules_and_executed_notebooks_keep_a_sandbox_each(server: Server) -> None:
    notebook = ROOT / "assignments/modular_layers/examples/notebook/correct_inline.ipynb"
    seen = []
    for sub in (CORRECT_LAYERS.parent.parent, notebook) * 2:
        proc = server.grade(sub, "--format", "json", "--isolation", "bubblewrap")
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["score"] == result["max_score"]
        children = children_of(server.proc.pid)
        seen.append({p.pid for p in processes() if p.pid in children and "bwrap" in p.cmdline})
    # One zygote's sandbox for modules and one for notebooks, each kept for the next.
    assert len(seen[1]) == 2, server_descendants(server)
    assert seen[1] == seen[2] == seen[3]


def test_every_name_of_the_environments_interpreter_finds_the_same_server() -> None:
    # `grade` runs its script's interpreter, `python -m grader` and a notebook's kernel
    # may run another name of it: python, python3, python3.11.
    folder = Path(sys.executable).parent
    names = [folder / n for n in ("python", "python3", f"python3.{sys.version_info.minor}")]
    found = {
        subprocess.run(
            [str(name), "-c", "from grader.serve.wire import socket_path; print(socket_path())"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
        for name in names
        if name.exists()
    }
    assert len(found) == 1, found
