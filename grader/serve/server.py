"""``grade serve``: a resident grader, for ``grade PATH`` and ``grade check PATH``.

Grading one submission with the ``grade`` command costs its own start (Python, numpy,
the grader, the stored cases) and a sandbox's, several times what grading costs once
they are there. A course's staff grading submission after submission, or a student
checking their work after every change, can keep one grader running: ``grade serve``
imports the grader once, holds the cases of the last rubric it graded, and keeps its
slot's sandbox between submissions, each one's worker a fresh fork of the slot's zygote
(as a class's are: sandbox/zygote.py). ``grade`` hands it the command (client.py) and it
runs it exactly as the command would: the same code, in the command's folder, with its
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
import tempfile
import threading
import time
import traceback
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
# A command sends its request as it connects (a few kilobytes): one that has not within
# this long is not waited for, so that it cannot hold up the others.
REQUEST_SECONDS = 10.0
# What grading a submission imports, imported before the first: numpy, the cases'
# loader, the scoring, and every report format.
GRADING_MODULES = ("numpy", "rich.console", "grader.api", "grader.vectors", "grader.grading.score")


class Resident:
    """What the server keeps between submissions: a slot per isolation and kind (modules,
    executed notebooks), and the job of the last rubric's cases, with the slots' zygotes."""

    def __init__(self) -> None:
        # A slot per isolation, and one beside it for executed notebooks: a slot's zygote
        # serves one kind, and switching ends it (a notebook's starts in half a second).
        self.slots: dict[tuple[Isolation, bool], SandboxConfig] = {}
        self.key: tuple[object, ...] | None = None
        self.job: Job | None = None
        self.cases: tuple[Any, ...] = ()

    def slot(self, mode: Isolation, protect: list[Path]) -> tuple[SandboxConfig, list[str]]:
        """The slot for ``mode``, and what a user should know of it (for a container,
        ``protect`` is made unreadable to workers first: api.isolation_notices)."""
        from grader.api import isolation_notices

        notices = isolation_notices(mode, protect)
        return self.kind_slot(mode, notebook=False), notices

    def kind_slot(self, mode: Isolation, notebook: bool) -> SandboxConfig:
        from grader.sandbox.runtime import discover_runtime
        from grader.sandbox.worker import SandboxConfig

        if (mode, notebook) not in self.slots:
            self.slots[mode, notebook] = SandboxConfig.create(mode, discover_runtime())
        return self.slots[mode, notebook]

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
            # A guess from the command: where it is wrong, the slot's zygote changes kind,
            # and the grading is the same.
            config = self.kind_slot(config.mode, notebook=True)
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


def code_stamp() -> tuple[tuple[str, int, int], ...]:
    """Each module file of the grader's package (a worker's too, inside/), imported or
    not, with its modification time and size: what an upgrade changes (about a hundred
    files, a millisecond)."""
    package = Path(__file__).resolve().parent.parent
    stamp = []
    for path in sorted(package.rglob("*.py")):
        with contextlib.suppress(OSError):
            st = path.stat()
            stamp.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(stamp)


@contextlib.contextmanager
def as_client(request: dict[str, Any], fds: list[int]) -> Iterator[None]:
    """Run as the command would: in its folder, with its environment and umask, its
    standard streams in place of the server's (/dev/null for one it has closed), and
    temporary files where its TMPDIR says. Raises OSError before anything runs where
    that cannot be."""
    saved = {fd: os.dup(fd) for fd in STREAMS}
    environ, cwd = dict(os.environ), os.getcwd()
    umask = os.umask(request["umask"])
    try:
        os.chdir(request["cwd"])
        given = dict(zip(request["fds"], fds, strict=True))
        null = os.open(os.devnull, os.O_RDWR)
        try:
            for fd in STREAMS:
                os.dup2(given.get(fd, null), fd)
        finally:
            os.close(null)
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # gettempdir() reads TMPDIR again
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
        tempfile.tempdir = None
        os.chdir(cwd)
        os.umask(umask)


class CommandGone(BaseException):
    """Raised in the main thread when the command went away while its grading ran (a
    BaseException, as KeyboardInterrupt is: grading code ends what it started and lets
    it through)."""


class Watch:
    """Interrupts the grading (CommandGone, by SIGUSR1 to the main thread: it also ends
    the system call the main thread waits in, a worker's answer may be seconds away) when
    the command goes away: its user's Ctrl-C closes the connection. Armed only while the
    command runs: a signal handled after ``stop`` raises nothing, so nothing after it
    (the server's own clean-up) is interrupted."""

    armed = False

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.gone = False
        self.wake_r, self.wake_w = os.pipe()
        Watch.armed = True
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self) -> None:
        readable, _, _ = select.select([self.conn.fileno(), self.wake_r], [], [])
        with self.lock:
            if self.conn.fileno() in readable and Watch.armed:
                # The command sends nothing after its request: this is its end.
                self.gone = True
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)

    def stop(self) -> None:
        with self.lock:
            Watch.armed = False
        try:
            os.write(self.wake_w, b"x")
            self.thread.join()
        finally:
            os.close(self.wake_r)
            os.close(self.wake_w)

    @staticmethod
    def on_signal(signum: int, frame: object) -> None:
        if Watch.armed:
            Watch.armed = False
            raise CommandGone


def handle(conn: socket.socket, resident: Resident, stamp: object) -> bool:
    """Run one command's request; False where the server must stop (its code changed)."""
    from grader.cli import EXIT_INTERNAL, main

    # A command sends its request at once; one that does not is not waited for.
    conn.settimeout(REQUEST_SECONDS)
    try:
        request, fds = receive(conn, max_fds=len(STREAMS))
    except (OSError, ValueError) as exc:
        say(f"a request that could not be read: {exc}")
        return True
    conn.settimeout(None)
    try:
        if code_stamp() != stamp:
            answer(conn, {"declined": "the grader's files changed since it started; it stops"})
            say("the grader's files changed since it started: stopping")
            return False
        try:
            checked = valid(request, len(fds))
        except (KeyError, TypeError, ValueError) as exc:
            answer(conn, {"declined": f"a request it does not understand ({exc})"})
            return True
        command = " ".join(checked["argv"])
        say(f"{command}: grading")
        start = time.perf_counter()
        try:
            with as_client(checked, fds):
                watch = Watch(conn)
                try:
                    code = main(list(checked["argv"]), resident=resident)
                except Exception:  # main answers for what it runs: this is a bug of ours
                    say(f"{command}: failed\n{traceback.format_exc()}")
                    code = EXIT_INTERNAL
                finally:
                    watch.stop()
        except CommandGone:
            end_children()
            say(f"{command}: the command went away; its grading stopped")
            return True
        except OSError as exc:
            # Before anything ran: its folder, or its streams.
            answer(conn, {"declined": f"it cannot run where the command runs ({exc})"})
            return True
        answer(conn, {"code": code})
        say(f"{command}: exit {code} in {time.perf_counter() - start:.3f} s")
        return True
    finally:
        for fd in fds:
            os.close(fd)


def answer(conn: socket.socket, message: dict[str, object]) -> None:
    """Send ``message`` to the command, if it is still there to read it."""
    with contextlib.suppress(OSError):
        send(conn, message)


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
    argv, env, cwd, umask, fds = (request[k] for k in ("argv", "env", "cwd", "umask", "fds"))
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
        raise TypeError("argv")
    if argv[0] in LOCAL:
        raise ValueError(f"it grades submissions, it does not run `grade {argv[0]}`")
    if not (isinstance(env, dict) and all(plain(k) and "=" not in k and plain(v)
                                          for k, v in env.items())):  # fmt: skip
        raise TypeError("env")
    if not (plain(cwd) and isinstance(umask, int) and 0 <= umask <= 0o777):
        raise TypeError("cwd or umask")
    if not (isinstance(fds, list) and len(fds) == received and set(fds) <= set(STREAMS)):
        raise ValueError("the streams sent are not those named")
    return request


def plain(text: object) -> bool:
    """A string an environment or a path may hold (no NUL)."""
    return isinstance(text, str) and "\0" not in text


def say(text: str) -> None:
    """A line of the server's log (its own standard output, wherever that went)."""
    with contextlib.suppress(OSError, ValueError):
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
    # Ctrl-C, kill and a closed terminal stop it, ending its sandbox, wherever it was
    # started (a shell's background job starts with SIGINT ignored); the watch of a
    # command that went away interrupts its grading with SIGUSR1.
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, signal.default_int_handler)
    signal.signal(signal.SIGUSR1, Watch.on_signal)
    # Listening first: a second server of the installation is told at once.
    path = socket_path()
    sock, lock = listen(path)
    resident = Resident()
    try:
        with sock:
            for name in GRADING_MODULES:
                importlib.import_module(name)
            from grader.report import FORMATS

            for report in FORMATS.values():
                importlib.import_module(report.module)
            stamp = code_stamp()
            say(f"listening at {path}; `grade` and `grade check` are graded here. Ctrl-C stops it.")
            sock.settimeout(args.idle * 60 or None)
            while True:
                try:
                    conn, _ = sock.accept()
                except TimeoutError:
                    say(f"no submission for {args.idle:g} minutes: stopping")
                    return 0
                except OSError as exc:  # out of descriptors, say: the next may do
                    say(f"a connection that could not be taken: {exc}")
                    time.sleep(0.1)
                    continue
                with conn:
                    if not serve_one(conn, resident, stamp):
                        return 0
    except KeyboardInterrupt:
        say("stopped")
        return 0
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        resident.close()
        lock.close()


def serve_one(conn: socket.socket, resident: Resident, stamp: object) -> bool:
    """One connection: the user's command, or nothing. False where the server stops."""
    uid = peer_uid(conn)
    if uid != os.geteuid():
        say(f"a connection from uid {uid}, not this user's: closed")
        return True
    try:
        return handle(conn, resident, stamp)
    except Exception:  # a bug of ours, in one request: the server goes on
        say(f"a request failed\n{traceback.format_exc()}")
        resident.close_job()
        return True
