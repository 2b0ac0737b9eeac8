"""The worker's serving loop: answer case requests in the order they came, several at once."""

from __future__ import annotations

import os
import select
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from .cases import Child, reap_answered
from .frames import read_request, write_all
from .processes import sweep


def serve(
    namespace: Mapping[str, Any],
    cases: Mapping[str, Any],
    inputs: Mapping[str, np.ndarray],
    *,
    req_fd: int,
    res_fd: int,
    seconds: float,
    wall_seconds: float,
    parallel: int,
    contain: bool,
) -> None:
    """Answer case requests in the order they came, running up to ``parallel`` at once,
    each with ``seconds`` of CPU time and a deadline ``wall_seconds`` away.

    With ``contain``, every process of this uid is ours (a uid or pid namespace of our
    own), and whatever a finished case left running is killed before the next starts.
    """
    queue: deque[Mapping[str, Any]] = deque()
    running: deque[Child] = deque()
    more = True
    while more or queue or running:
        while running and running[0].finished:
            write_all(res_fd, running.popleft().answer())
            if contain:
                sweep({c.pid for c in running})
                reap_answered()
        while queue and len(running) < parallel:
            case = queue[0]
            case_inputs = {name: inputs[f"{case['id']}:{name}"] for name in case["inputs"]}
            reap_answered()
            child = Child(namespace, case, case_inputs, seconds, wall_seconds)
            if child.fork_error is not None and running:
                # A running case may be what fills the process limit: try again once it
                # has answered and what it left behind is swept away.
                os.close(child.fd)
                break
            running.append(child)
            queue.popleft()
        waiting = [c for c in running if not c.finished]
        if not (waiting or more):
            continue
        timeout = min((c.deadline for c in waiting), default=None)
        left = None if timeout is None else max(0.0, timeout - time.monotonic())
        fds = [c.fd for c in waiting] + ([req_fd] if more else [])
        ready = set(select.select(fds, [], [], left)[0])
        if req_fd in ready:
            try:
                request = read_request(req_fd)
            except EOFError:
                request = {"quit": True}
            if request.get("quit"):
                more = False
            else:
                queue.append(cases[request["case"]])
        now = time.monotonic()
        for child in waiting:
            if child.fd in ready:
                child.read()
            elif now >= child.deadline:
                child.timed_out = True
