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
from .gradcheck import check_seconds
from .processes import sweep

# The most cases one child runs: a function's cases, in the default rubric up to seven.
GROUP = 16


def take_group(queue: deque[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The cases at the head of ``queue`` that share the first one's function (a gradient
    check goes alone)."""
    group = [queue.popleft()]
    if group[0].get("check"):
        return group
    function = group[0].get("function")
    while queue and len(group) < GROUP and function and queue[0].get("function") == function:
        if queue[0].get("check"):
            break
        group.append(queue.popleft())
    return group


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
    """Answer requests ({"case": id}, or {"check": id} for a case's gradient check) in the
    order they came: consecutive cases of one function in one child (cases.py), up to
    ``parallel`` children running at once; each case with ``seconds`` of CPU time and a
    deadline ``wall_seconds`` after the one before it.

    With ``contain``, every process of this uid is ours (a uid or pid namespace of our
    own), and whatever a finished child left running is killed before the next starts.
    """
    queue: deque[Mapping[str, Any]] = deque()
    running: deque[Child] = deque()

    def start(group: list[Mapping[str, Any]]) -> Child:
        # A gradient check goes alone, with its share of a case's time (gradcheck.py).
        wall = check_seconds(seconds) if group[0].get("check") else wall_seconds
        return Child(namespace, group, inputs, seconds, wall)

    more = True
    while more or queue or running:
        while running:
            head = running[0]
            for message in head.answers():
                write_all(res_fd, message)
            if not head.finished:
                break
            running.popleft()
            if contain:
                sweep({c.pid for c in running if c.pid})
                reap_answered()
            if head.cases:
                # It failed on one of its cases: the cases after that one go to a child of
                # their own, answered before any later child's.
                running.appendleft(start(list(head.cases)))
        # A child whose cases are done waits for those before it to be answered, without
        # holding one of the ``parallel`` places: a long case does not stall the short ones.
        while queue and sum(not c.finished for c in running) < parallel:
            reap_answered()
            group = take_group(queue)
            child = start(group)
            if child.fork_error is not None and running:
                # A running case may be what fills the process limit: try again once it
                # has answered and what it left behind is swept away.
                os.close(child.fd)
                queue.extendleft(reversed(group))
                break
            running.append(child)
        waiting = [c for c in running if not c.finished]
        if not (waiting or more):
            continue
        timeout = min((c.deadline for c in waiting), default=None)
        left = None if timeout is None else max(0.0, timeout - time.monotonic())
        fds = [c.fd for c in waiting] + ([req_fd] if more else [])
        ready = set(select.select(fds, [], [], left)[0])
        while req_fd in ready:
            try:
                request = read_request(req_fd)
            except EOFError:
                request = {"quit": True}
            if request.get("quit"):
                more = False
                break
            if "check" in request:
                # The numerical gradient of the case's forward (gradcheck.py), not the case.
                queue.append(dict(cases[request["check"]], check=True))
            else:
                queue.append(cases[request["case"]])
            # Every request already written, so that a function's cases go to one child.
            ready = ready - {req_fd} | set(select.select([req_fd], [], [], 0)[0])
        now = time.monotonic()
        for child in waiting:
            if child.fd in ready:
                child.read()
            elif now >= child.deadline and child.overran():
                child.timed_out = True
