"""Running untrusted code: the only stage that starts a process holding student code.

worker.py       start and stop one worker (with bubblewrap, or process limits only)
zygote.py       a class's slot keeps its sandbox: each submission's worker is forked
bwrap.py        the bubblewrap command line: what a worker sees of the host
runtime.py      what of the host's Python a worker needs
environment.py  a worker's environment and resource limits
uids.py         an unprivileged uid per grading slot, for a grader running as root
job.py          the folder every worker reads: case inputs and the worker's code
transport.py    reading a worker's messages, capped and never unpickled
run.py          one submission's cases through its worker(s), deadlines from outside
results.py      what a run gave, as values
inside/         the code that runs in the sandbox, and nothing else
"""
