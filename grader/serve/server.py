"""``grade serve``: a resident grader, for ``grade PATH`` and ``grade check PATH``.

Grading one submission with the ``grade`` command costs its own start (Python, numpy,
the grader, the stored cases) and a sandbox's, several times what grading costs once
they are there. A course's staff grading submission after submission, or a student
checking their work after every change, can keep one grader running: ``grade serve``
imports the grader once, holds the cases of the last rubric it graded, and keeps its
slot's sandbox between submissions, each one's worker a fresh fork of the slot's zygote
(as a class's are: sandbox/zygote.py). ``grade`` hands it the command (client.py) and it runs
it exactly as the command would: the same code, in the command's folder, with its
environment, printing to its terminal.

What it keeps is checked on every submission: the rubric is read again, and the cases
are loaded again when the rubric or a file of its vectors changed. Where the grader's
own files changed (an upgrade), it declines (the command grades itself) and stops.
Only the user who started it may connect (the socket's folder is theirs alone, and the
peer's uid is checked). It stops after ``--idle`` minutes without a submission, or at
Ctrl-C, ending its sandbox.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.serve.wire import LOCAL, STREAMS, peer_uid, private, receive, send, socket_path

if TYPE_CHECKING:
    from grader.config.choices import Isolation, Split
    from grader.config.options import SourceOptions
    from grader.config.rubric import Rubric
    from grader.grading.score import GradeResult
    from grader.sandbox.job import Job
    from grader.sandbox.worker import SandboxConfig

# Without a submission for this long, the server ends (and its sandbox with it).
IDLE_MINUTES = 60.0
# What grading a submission imports, imported before the first: numpy, the cases'
# loader, the scoring, and every report format.
GRADING_MODULES = ("numpy", "rich.console", "grader.api", "grader.vectors", "grader.grading.score")


class Resident:
    """What the server keeps between submissions: a slot per isolation (and set of staff
    files it protects), and the job of the last rubric's cases, with its slot's zygote."""

    def __init__(self) -> None:
        self.slots: dict[tuple[Isolation, tuple[Path, ...]], tuple[SandboxConfig, list[str]]] = {}
        # A second slot per slot, for executed notebooks: a slot's zygote serves one kind,
        # and switching ends it (a notebook zygote starts in about half a second).
        self.notebook_slots: dict[int, SandboxConfig] = {}
        self.key: tuple[object, ...] | None = None
        self.job: Job | None = None
        self.cases: tuple[Any, ...] = ()

    def slot(self, mode: Isolation, protect: list[Path]) -> tuple[SandboxConfig, list[str]]:
        """The slot for ``mode`` and what a user should know of it (api.isolation_slots)."""
        from grader.api import isolation_slots

        key = (mode, tuple(protect))
        if key not in self.slots:
            configs, notices = isolation_slots(mode, 1, protect)
            self.slots[key] = (configs[0], notices)
        return self.slots[key]

    def grade(
        self,
        path: Path,
        rubric: Rubric,
        config: SandboxConfig,
        splits: tuple[Split, ...],
        *,
        options: SourceOptions,
        warm: list[str],
    ) -> GradeResult:
        """grade_one's grading, with the job (the cases and the zygote) kept while the
        rubric and its vectors stay the same. After anything unexpected (a failure, an
        interruption; not a usage error) the job ends, and the next submission starts a
        new one."""
        from grader.api import grade_submission, graded_cases
        from grader.errors import UsageError
        from grader.sandbox.job import Job

        key = (rubric, splits, vectors_stamp(rubric.vectors))
        if options.execute and (path.suffix == ".ipynb" or options.source == "notebook"):
            config = self.notebook_slot(config)
        try:
            if key != self.key or self.job is None:
                self.close_job()
                self.cases = graded_cases(rubric, splits)
                self.job = Job(self.cases)
                self.key = key
            return grade_submission(
                path, rubric, self.cases, config, self.job, options=options, reuse=True, warm=warm
            )
        except UsageError:
            raise  # the command's mistake (a path that is not there), before anything ran
        except BaseException:
            self.close_job()
            raise

    def notebook_slot(self, config: SandboxConfig) -> SandboxConfig:
        """The slot beside ``config`` for executed notebooks (a guess from the command:
        where it is wrong, the slot's zygote changes kind, and the grading is the same)."""
        from grader.sandbox.worker import SandboxConfig

        if id(config) not in self.notebook_slots:
            self.notebook_slots[id(config)] = SandboxConfig.create(config.mode, config.runtime)
        return self.notebook_slots[id(config)]

    def close_job(self) -> None:
        job, self.job, self.key = self.job, None, None
        if job is not None:
            job.close()

    def close(self) -> None:
        self.close_job()


def vectors_stamp(root: Path) -> tuple[tuple[str, int, int], ...]:
    """Each file under ``root``: its path, modification time and size."""
    stamp = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                st = os.stat(path)
                stamp.append((path, st.st_mtime_ns, st.st_size))
    return tuple(sorted(stamp))


def code_files() -> list[str]:
    """The files of the grader's modules imported so far."""
    files = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if (name == "grader" or name.startswith("grader.")) and file:
            files.append(file)
    return sorted(files)


def code_stamp(files: list[str]) -> tuple[tuple[int, int], ...]:
    """The modification time and size of each of ``files`` (missing: -1)."""
    stamp = []
    for file in files:
        try:
            st = os.stat(file)
            stamp.append((st.st_mtime_ns, st.st_size))
        except OSError:
            stamp.append((-1, -1))
    return tuple(stamp)


@contextlib.contextmanager
def as_client(request: dict[str, Any], fds: list[int]) -> Iterator[None]:
    """Run as the command would: in its folder, with its environment and umask, its
    standard streams in place of the server's."""
    saved = {fd: os.dup(fd) for fd in STREAMS}
    environ, cwd = dict(os.environ), os.getcwd()
    umask = os.umask(request["umask"])
    try:
        os.chdir(request["cwd"])
        for fd, received in zip(request["fds"], fds, strict=True):
            os.dup2(received, fd)
        os.environ.clear()
        os.environ.update(request["env"])
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(cwd)
        os.umask(umask)


class Watch:
    """Interrupts the grading (KeyboardInterrupt in the main thread) when the command
    goes away (its user's Ctrl-C closes the connection): its sandbox ends at once."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.done = False
        self.gone = False
        self.wake_r, self.wake_w = os.pipe()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self) -> None:
        readable, _, _ = select.select([self.conn.fileno(), self.wake_r], [], [])
        with self.lock:
            if self.conn.fileno() in readable and not self.done:
                # The command sends nothing after its request: this is its end.
                self.gone = True
                # A signal, not interrupt_main: it also ends the system call the main
                # thread waits in (a worker's answer may be seconds away).
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    def stop(self) -> None:
        with self.lock:
            self.done = True
        try:
            os.write(self.wake_w, b"x")
            # Where the watch has just interrupted, KeyboardInterrupt may come from here.
            self.thread.join()
        finally:
            os.close(self.wake_r)
            os.close(self.wake_w)


def handle(conn: socket.socket, resident: Resident, files: list[str], stamp: object) -> bool:
    """Run one command's request; False where the server must stop (its code changed)."""
    from grader.cli import main

    try:
        request, fds = receive(conn, max_fds=len(STREAMS))
    except (OSError, ValueError) as exc:
        say(f"a request that could not be read: {exc}")
        return True
    try:
        if code_stamp(files) != stamp:
            send(conn, {"declined": "the grader's files changed since it started; it stops"})
            say("the grader's files changed since it started: stopping")
            return False
        try:
            checked = valid(request, len(fds))
        except (KeyError, TypeError, ValueError) as exc:
            send(conn, {"declined": f"a request it does not understand ({exc})"})
            return True
        start = time.perf_counter()
        say(f"{' '.join(checked['argv'])}: grading")
        watch = Watch(conn)
        try:
            try:
                with as_client(checked, fds):
                    code = main(list(checked["argv"]), resident=resident)
            finally:
                watch.stop()
        except KeyboardInterrupt:
            if not watch.gone:
                raise
            end_children()
            say(f"{' '.join(checked['argv'])}: the command went away; its grading stopped")
            return True
        except OSError as exc:
            # main answers for what it runs: this is the command's folder or streams.
            send(conn, {"declined": f"it cannot run where the command runs ({exc})"})
            return True
        with contextlib.suppress(OSError):
            send(conn, {"code": code})
        say(f"{' '.join(checked['argv'])}: exit {code} in {time.perf_counter() - start:.3f} s")
        return True
    finally:
        for fd in fds:
            os.close(fd)


def end_children() -> None:
    """End what an interrupted grading leaves: its job has ended (Resident.grade), but an
    interruption can come between the start of a sandbox and the grader's record of it
    (inside subprocess.Popen), and a sandbox's init may wait, a zombie, to be reaped by
    the server (a child subreaper where it runs as root). Every child of the server is a
    sandbox's, started in a session of its own: each is killed with its session (its
    sandbox dies with it) and reaped."""
    from grader.sandbox.inside.processes import children_of

    for pid in children_of(os.getpid()):
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(OSError):
                kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def valid(request: dict[str, Any], received: int) -> dict[str, Any]:
    """``request`` checked: a command, a folder, an environment, a umask, its streams."""
    argv, env, fds = request["argv"], request["env"], request["fds"]
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
        raise TypeError("argv")
    if argv[0] in LOCAL:
        raise ValueError(f"it grades submissions, it does not run `grade {argv[0]}`")
    if not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
        raise TypeError("env")
    if not isinstance(request["cwd"], str) or not isinstance(request["umask"], int):
        raise TypeError("cwd or umask")
    if not (isinstance(fds, list) and len(fds) == received and set(fds) <= set(STREAMS)):
        raise ValueError("the streams sent are not those named")
    return request


def say(text: str) -> None:
    print(f"grade serve: {text}", flush=True)


def serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade serve",
        description="Keep a grader running: `grade PATH` and `grade check PATH`, run by "
        "this user with this installation, are graded by it, at the cost of one of a class.",
    )
    p.add_argument(
        "--idle",
        type=float,
        default=IDLE_MINUTES,
        metavar="MINUTES",
        help=f"stop after this long without a submission (default {IDLE_MINUTES:g}; 0: never)",
    )
    return p


def listen(path: Path) -> tuple[socket.socket, Any]:
    """The server's socket at ``path``, and the lock that makes it the only one there."""
    from grader.errors import UsageError

    folder = path.parent
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    if not private(folder):
        raise UsageError(
            f"{folder} is not a folder of this user's closed to others: the server will not "
            "listen there.\nHint: remove it, or set XDG_RUNTIME_DIR to a folder of yours."
        )
    lock = open(path.with_suffix(".lock"), "w")  # noqa: SIM115 (held while serving)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise UsageError(f"a grade server of this installation runs already ({path})") from None
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        lock.close()
        raise UsageError(
            f"cannot listen at {path} ({exc}).\nHint: a socket's path has at most 107 "
            "bytes: set XDG_RUNTIME_DIR to a shorter folder of yours."
        ) from None
    sock.listen(8)
    return sock, lock


def serve(argv: list[str]) -> int:
    """``grade serve``: its exit code (2: it cannot listen)."""
    from grader.errors import UsageError

    args = serve_parser().parse_args(argv)
    if not hasattr(socket, "SO_PEERCRED"):
        sys.stderr.write("grade serve: needs Linux (to tell who connects to it)\n")
        return 2
    try:
        return listening(args)
    except UsageError as exc:
        sys.stderr.write(f"grade serve: {exc}\n")
        return 2


def listening(args: argparse.Namespace) -> int:
    # Ctrl-C and kill stop it, ending its sandbox, wherever it was started (a shell's
    # background job starts with SIGINT ignored); the watch of a command that went away
    # interrupts its grading with SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    for name in GRADING_MODULES:
        importlib.import_module(name)
    from grader.report import FORMATS

    for report in FORMATS.values():
        importlib.import_module(report.module)
    files = code_files()
    stamp = code_stamp(files)
    path = socket_path()
    sock, lock = listen(path)
    resident = Resident()
    say(f"listening at {path}; `grade` and `grade check` are graded here. Ctrl-C stops it.")
    try:
        with sock:
            sock.settimeout(args.idle * 60 or None)
            while True:
                try:
                    conn, _ = sock.accept()
                except TimeoutError:
                    say(f"no submission for {args.idle:g} minutes: stopping")
                    return 0
                with conn:
                    conn.settimeout(None)
                    uid = peer_uid(conn)
                    if uid != os.geteuid():
                        say(f"a connection from uid {uid}, not this user's: closed")
                        continue
                    if not handle(conn, resident, files, stamp):
                        return 0
    except KeyboardInterrupt:
        say("stopped")
        return 0
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        resident.close()
        lock.close()
