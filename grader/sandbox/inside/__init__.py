"""The code that runs inside the sandbox, beside student code. Nothing else does.

Standard library and numpy only (a test reads every import): at grading time these files
are copied, alone, into the job folder that the sandbox mounts, and imported there as the
package ``layergrade_inside``; the grader package itself is never on the worker's path.
The files import each other relatively, so the same code is ``grader.sandbox.inside`` in
the grader (whose vector builder calls the reference exactly as a submission is called).

    main.py        the worker's entry: setup, privilege drop, import or notebook, serve
    zygote.py      a class's slot: one fresh child per submission, and nothing left after it
    serve.py       answers case requests in order, several cases at once
    cases.py       one case in a forked child with its own deadline
    cells.py       a notebook's code cells, each in a forked child with its own deadline
    calls.py       the call interpreter: a case's calls against the submission's functions
    gradcheck.py   the numerical gradient of the submission's own forward, beside a backward
    frames.py      the message format on the pipes, both directions
    processes.py   /proc: who descends from whom, and sweeping what finished cases left
    privileges.py  resource limits, no new privileges, and the switch to the worker's uid
"""
