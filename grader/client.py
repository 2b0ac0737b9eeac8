"""The ``grade`` command's entry: a submission's grading goes to a running ``grade serve``
where there is one (serve/server.py), else runs here (cli.py).

A resident grader has imported numpy, rich and the grader, holds the cases and keeps its
slot's sandbox: a submission graded there costs what one of a class costs, and this
module, which ``grade`` imports first, imports only what connecting takes. It hands the
server the command, its folder, its environment and umask, and its standard streams
(their file descriptors): the server runs the command as it would run here, printing to
the same terminal, and answers with the exit code. ``LAYERGRADE_SERVER=off`` grades here
whatever runs; ``required`` fails where no server grades.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import NoReturn

from grader.serve.wire import (
    ENV,
    LOCAL,
    STREAMS,
    peer_uid,
    private,
    receive,
    send,
    socket_path,
)


def open_streams() -> list[int]:
    """The standard streams that are open (a command may run without stdin)."""
    fds = []
    for fd in STREAMS:
        try:
            os.fstat(fd)
        except OSError:
            continue
        fds.append(fd)
    return fds


def connect() -> socket.socket | None:
    """A connection to this installation's server, if one of the user's listens."""
    path = socket_path()
    if not private(path.parent):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        if peer_uid(sock) == os.geteuid():
            return sock
    except OSError:
        pass
    sock.close()
    return None


def ask_server(argv: list[str]) -> int | None:
    """The exit code of ``argv`` run by the server; None where it did not run it."""
    setting = os.environ.get(ENV, "")
    if setting == "off" or not argv or argv[0] in LOCAL:
        return None
    sock = connect()
    if sock is None:
        if setting == "required":
            return not_served(f"no grade server answers at {socket_path()}", setting)
        return None
    with sock:
        streams = open_streams()
        umask = os.umask(0o022)
        os.umask(umask)
        try:
            request = {
                "argv": argv,
                "cwd": os.getcwd(),
                "env": dict(os.environ),
                "umask": umask,
                "fds": streams,
            }
            send(sock, request, streams)
            answer, _ = receive(sock)
        except KeyboardInterrupt:
            # The server stops grading when the connection closes.
            return 130
        except (OSError, ValueError) as exc:
            return not_served(f"the grade server stopped answering ({exc})", setting)
    if "declined" in answer:
        return not_served(f"the grade server declined: {answer['declined']}", setting)
    code = answer.get("code")
    return code if isinstance(code, int) else 3


def not_served(why: str, setting: str) -> int | None:
    """Say ``why`` the server did not grade; grade here, unless it is ``required``."""
    if setting == "required":
        sys.stderr.write(f"grade: {why} ({ENV}=required)\n")
        return 3
    sys.stderr.write(f"grade: {why}: graded here instead\n")
    return None


def run() -> NoReturn:
    """The ``grade`` command."""
    argv = sys.argv[1:]
    if argv[:1] == ["serve"]:
        from grader.serve.server import serve

        sys.exit(serve(argv[1:]))
    code = ask_server(argv)
    if code is not None:
        os._exit(code)
    from grader.cli import run as run_here

    run_here()
