"""Starting and stopping untrusted workers. The only module that runs student code.

On Linux with bubblewrap, each worker runs in its own pid, network, ipc and uts
namespaces with a read-only filesystem that shows only system libraries, the
interpreter's standard library, numpy, the worker script, the case inputs and the
submission (mounted under neutral paths in /lg), plus a small private /tmp. Every
site-packages folder of the host interpreter is hidden, so the grader, the reference,
the rubric and the expected values are not merely unread but absent.

When the grader runs as root, bubblewrap runs privileged (no user namespace) and the
worker, before it loads any student code, forbids privilege gain and switches to an
unprivileged uid of its own, so that RLIMIT_NPROC applies (the kernel does not enforce
it for root). The interpreter may live under a folder that uid cannot traverse (a home
folder of mode 700): the bind mounts are made by root, so nothing on the host is loosened.

The grader enforces every deadline from outside and ends a worker by SIGKILL to
bubblewrap, whose ``--die-with-parent`` takes the whole pid namespace down with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib
import importlib.metadata
import json
import os
import pwd
import shutil
import signal
import site
import stat
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.transport import Closed, Deadline, Reader, TransportError, send

WORKER = Path(__file__).with_name("worker.py")
# What of the package the worker needs inside the sandbox, mounted as /lg/grader/.
WORKER_FILES = ("__init__.py", "calls.py", "worker.py")
MOUNT = "/lg"
OUTPUT_CAP = 64 * 1024
# The worker's own setup (interpreter, numpy, inputs) takes well under a second.
STARTUP_SECONDS = 20.0
# How long a killed sandbox's processes may take to disappear.
TEARDOWN_SECONDS = 5.0


class SandboxError(Exception):
    """The sandbox or the worker's own setup failed: a problem of the grader's host."""


@dataclass(frozen=True)
class Limits:
    """Per-submission limits. Defaults are generous for the assignment's small arrays."""

    case_seconds: float = 5.0
    import_seconds: float = 10.0
    submission_seconds: float = 120.0
    # Address space per process: numpy alone maps about 100 MB, and the assignment's arrays
    # are small. With the process limit this bounds a submission at 8 GB: two graded at
    # once stay inside a 24 GB machine.
    memory_mb: int = 512
    processes: int = 16
    file_size_mb: int = 8
    open_files: int = 64
    tmp_mb: int = 16
    # Cases one worker runs at once, each in its own child with its own deadline.
    parallel_cases: int = 2
    # Executing a notebook: each code cell, and all of them together. Cells that train a
    # network or load a dataset take longer: they are cut off, and the functions defined
    # before them are still graded.
    cell_seconds: float = 10.0
    notebook_seconds: float = 60.0


@dataclass(frozen=True)
class Runtime:
    """Host paths the worker needs, found once per grading run."""

    executable: Path
    stdlib: Path
    libpython: Path | None
    numpy_dir: Path
    numpy_libs: Path | None
    site_dirs: tuple[Path, ...]


def discover_runtime() -> Runtime:
    executable = Path(os.path.realpath(sys.executable))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    libpython = None
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        libdir = sysconfig.get_config_var("LIBDIR") or ""
        soname = sysconfig.get_config_var("INSTSONAME") or ""
        candidate = Path(libdir) / soname
        if soname and candidate.exists():
            libpython = candidate
    numpy_dir = Path(np.__file__).resolve().parent
    libs = numpy_dir.with_name("numpy.libs")
    sites = {Path(p) for p in site.getsitepackages()}
    sites.add(Path(site.getusersitepackages()))
    sites.add(Path(sysconfig.get_paths()["purelib"]))
    sites.add(Path(sysconfig.get_paths()["platlib"]))
    return Runtime(
        executable=executable,
        stdlib=stdlib,
        libpython=libpython,
        numpy_dir=numpy_dir,
        numpy_libs=libs if libs.is_dir() else None,
        site_dirs=tuple(sorted(p for p in sites if p.is_dir())),
    )


def unreadable_by_others(runtime: Runtime) -> Path | None:
    """The first folder on the interpreter's paths that other users cannot enter, if any.

    Without bubblewrap's bind mounts, a worker that drops root reads the interpreter and
    numpy through their real paths.
    """
    for path in (runtime.stdlib, runtime.numpy_dir, runtime.executable.parent):
        if path.stat().st_mode & 0o005 != 0o005:
            return path
        for folder in path.parents:
            if not folder.stat().st_mode & 0o001:
                return folder
    return None


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@dataclass(frozen=True)
class Mounts:
    job: Path
    source: Path


# Imports what executing a notebook needs and prints the files of every loaded module.
NOTEBOOK_IMPORTS = """
import importlib, json, sys
import IPython.core.interactiveshell, traitlets.config
for name in ("matplotlib.pyplot", "matplotlib_inline.backend_inline"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
print(json.dumps([getattr(m, "__file__", None) for m in list(sys.modules.values())]))
"""


@functools.cache
def notebook_site() -> tuple[Path, ...]:
    """What executing a notebook needs besides numpy: IPython and its dependencies, and
    matplotlib where installed (notebooks import pyplot in their first cell).

    Found by importing them in a fresh interpreter (so nothing of the grader's own comes
    along) and keeping every top-level package that came from a site-packages folder,
    with its .dist-info folder and the shared-library folders that wheels ship.
    """
    proc = subprocess.run(
        [sys.executable, "-c", NOTEBOOK_IMPORTS], capture_output=True, text=True, check=True
    )
    files = [Path(f).resolve() for f in json.loads(proc.stdout) if f]
    sites = {Path(p).resolve() for p in [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]}
    found: set[Path] = set()
    for path in files:
        for site_dir in sites:
            if path.is_relative_to(site_dir):
                top = site_dir / path.relative_to(site_dir).parts[0]
                if top.name != "numpy" and not top.name.startswith("__editable__"):
                    found.add(top)
    # Packages that read their own metadata at import need their .dist-info folders.
    distributions = importlib.metadata.packages_distributions()
    for top in list(found):
        for dist in distributions.get(top.name.removesuffix(".py"), []):
            for pattern in (f"{dist.replace('-', '_')}-*.dist-info", f"{dist}.libs"):
                found.update(p for p in top.parent.glob(pattern) if p.is_dir())
    return tuple(sorted(found))


def bwrap_args(
    bwrap: str, runtime: Runtime, mounts: Mounts, limits: Limits, extra: tuple[Path, ...] = ()
) -> tuple[list[str], dict[str, str]]:
    """The bubblewrap command line (up to the interpreter) and the in-sandbox paths."""
    privileged = os.geteuid() == 0
    py = f"{MOUNT}/py"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    args = [bwrap, "--die-with-parent", "--new-session", "--clearenv"]
    if privileged:
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
        args += ["--unshare-cgroup-try", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-all"]
    args += ["--ro-bind", "/usr", "/usr"]
    for top in ("/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # bubblewrap creates missing mount points with mode 0700: make ours traversable.
    for d in (MOUNT, py, f"{py}/bin", f"{py}/lib", f"{MOUNT}/site", f"{MOUNT}/grader"):
        args += ["--perms", "0755", "--dir", d]
    args += ["--perms", "1777", "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp"]
    args += ["--ro-bind", str(runtime.executable), f"{py}/bin/python3"]
    args += ["--ro-bind", str(runtime.stdlib), f"{py}/lib/{version}"]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        # One thread per BLAS library: starting OpenBLAS's thread pool costs more than
        # importing numpy, and extra threads would count against the process limit.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if runtime.libpython is not None:
        args += ["--ro-bind", str(runtime.libpython), f"{py}/lib/{runtime.libpython.name}"]
        env["LD_LIBRARY_PATH"] = f"{py}/lib"
    # Hide every site-packages that the binds above expose (the stdlib's own, and any
    # under /usr): an empty read-only tmpfs over each.
    hidden = [f"{py}/lib/{version}/site-packages"]
    for site_dir in runtime.site_dirs:
        if site_dir.is_relative_to("/usr"):
            hidden.append(str(site_dir))
        elif site_dir.is_relative_to(runtime.stdlib):
            hidden.append(f"{py}/lib/{version}/{site_dir.relative_to(runtime.stdlib)}")
    for d in dict.fromkeys(hidden):
        args += ["--size", "4096", "--tmpfs", d, "--remount-ro", d]
    args += ["--ro-bind", str(runtime.numpy_dir), f"{MOUNT}/site/numpy"]
    if runtime.numpy_libs is not None:
        args += ["--ro-bind", str(runtime.numpy_libs), f"{MOUNT}/site/numpy.libs"]
    for path in extra:
        args += ["--ro-bind", str(path), f"{MOUNT}/site/{path.name}"]
    for name in WORKER_FILES:
        args += ["--ro-bind", str(WORKER.with_name(name)), f"{MOUNT}/grader/{name}"]
    args += ["--ro-bind", str(mounts.job), f"{MOUNT}/job"]
    args += ["--ro-bind", str(mounts.source), f"{MOUNT}/sub"]
    args += ["--hostname", "sandbox", "--chdir", f"{MOUNT}/sub"]
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += [f"{py}/bin/python3"]
    paths = {"job": f"{MOUNT}/job", "source": f"{MOUNT}/sub", "site": f"{MOUNT}/site"}
    return args, paths


def rlimits(limits: Limits, processes: int) -> dict[str, int]:
    return {
        "RLIMIT_AS": limits.memory_mb << 20,
        "RLIMIT_NPROC": processes,
        "RLIMIT_FSIZE": limits.file_size_mb << 20,
        "RLIMIT_NOFILE": limits.open_files,
        "RLIMIT_CORE": 0,
        # CPU seconds per process: a backstop behind the wall-clock deadlines.
        "RLIMIT_CPU": int(limits.submission_seconds) + 1,
    }


def pids_of(uid: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
    return pids


def processes_of(uid: int) -> int:
    return len(pids_of(uid))


def kill_processes_of(uid: int) -> int:
    """SIGKILL every process of ``uid``; return how many were still there."""
    pids = pids_of(uid)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


# Worker uids when the grader runs as root: a range no distribution hands out to users.
UID_RANGE = range(61000, 61256)
# Only root allocates, so the locks live where only root can write.
UID_LOCKS = Path("/run/layergrade-uids")
_held_locks: list[int] = []


def allocate_uid() -> int:
    """Reserve, for the life of this process, a worker uid that no other grader uses.

    The reservation is an exclusive lock on a file per uid, released by the kernel when
    the process ends however it ends; a uid that still owns processes is skipped.
    """
    UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(UID_LOCKS)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise SandboxError(f"{UID_LOCKS} must be a folder owned by root and writable by root only")
    for uid in UID_RANGE:
        with contextlib.suppress(KeyError):
            pwd.getpwuid(uid)
            continue  # a real account: never run workers as it, never kill its processes
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(UID_LOCKS / f"{uid}.lock", flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if processes_of(uid) == 0:
            _held_locks.append(fd)
            return uid
        os.close(fd)
    raise SandboxError(f"every worker uid in {UID_RANGE.start}-{UID_RANGE.stop - 1} is in use")


@dataclass(frozen=True)
class SandboxConfig:
    """How to isolate workers. ``bwrap`` None means process and rlimit isolation only."""

    bwrap: str | None
    runtime: Runtime
    # The unprivileged uid of this grader's workers when it runs as root (see allocate_uid).
    uid: int | None = None

    @classmethod
    def create(cls, bwrap: str | None, runtime: Runtime) -> SandboxConfig:
        return cls(bwrap, runtime, allocate_uid() if os.geteuid() == 0 else None)

    @property
    def sandboxed(self) -> bool:
        return self.bwrap is not None


class Worker:
    """One running worker process for one submission. Use as a context manager."""

    def __init__(
        self,
        config: SandboxConfig,
        limits: Limits,
        job: Path,
        source: Path,
        module: str,
        cells: str | None = None,
    ) -> None:
        """Start a worker for ``module`` under ``source``, or, with ``cells`` (a JSON file
        in ``source``), for the notebook whose code cells it lists."""
        req_r, self.req_w = os.pipe()
        res_r, res_w = os.pipe()
        root = os.geteuid() == 0
        self.uid = config.uid if root else None
        if root and self.uid is None:
            raise SandboxError("a grader running as root needs a worker uid (SandboxConfig.create)")
        # RLIMIT_NPROC counts every process of the uid; when we cannot switch to a uid of
        # our own, allow the processes the user already has plus the limit.
        nproc = limits.processes if root else processes_of(os.getuid()) + limits.processes
        worker_config: dict[str, Any] = {
            "req_fd": req_r,
            "res_fd": res_w,
            "limits": rlimits(limits, nproc),
            "uid": self.uid,
            "module": module,
            "case_seconds": limits.case_seconds,
            "parallel": limits.parallel_cases,
            # Sweeping strays is safe where every process of the worker's uid is ours.
            "contain": config.sandboxed or self.uid is not None,
            "preload": not config.sandboxed and self.uid is not None,
            "cell_seconds": limits.cell_seconds,
            "notebook_seconds": limits.notebook_seconds,
        }
        if config.bwrap is not None:
            extra = notebook_site() if cells else ()
            mounts = Mounts(job, source)
            argv, paths = bwrap_args(config.bwrap, config.runtime, mounts, limits, extra)
            worker_path = f"{MOUNT}/grader/worker.py"
            env = None
        else:
            argv = [str(config.runtime.executable)]
            paths = {
                "job": str(job),
                "source": str(source),
                "site": str(config.runtime.numpy_dir.parent),
            }
            worker_path = str(WORKER)
            env = {
                "PATH": "/usr/bin:/bin",
                "HOME": str(source),
                "OPENBLAS_NUM_THREADS": "1",
                "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
            }
        worker_config.update(paths)
        worker_config["cells"] = f"{paths['source']}/{cells}" if cells else None
        # -I -S: no environment, user site or site-packages; -u: what the student prints
        # reaches us even from a case that ends with os._exit.
        argv += ["-I", "-S", "-B", "-u", worker_path, json.dumps(worker_config)]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(req_r, res_w),
            start_new_session=True,
            env=env,
            cwd=str(source) if config.bwrap is None else None,
        )
        os.close(req_r)
        os.close(res_w)
        self.reader = Reader(res_r)
        self.output = bytearray()
        self.output_dropped = 0
        self._drain = threading.Thread(target=self._drain_output, daemon=True)
        self._drain.start()

    def _drain_output(self) -> None:
        """Keep the first OUTPUT_CAP bytes of the worker's stdout/stderr, discard the rest."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        for chunk in iter(lambda: os.read(fd, 1 << 16), b""):
            room = OUTPUT_CAP - len(self.output)
            self.output += chunk[:room]
            self.output_dropped += max(0, len(chunk) - room)

    def wait_started(self, seconds: float = STARTUP_SECONDS) -> None:
        """Wait for the worker's own setup (before any student code) to finish."""
        try:
            message = self.reader.read(time.monotonic() + seconds)
        except (Closed, Deadline, TransportError) as exc:
            self.kill()
            raise SandboxError(
                f"the worker did not start ({type(exc).__name__}); its output:\n"
                + self.output.decode("utf-8", "replace")[-2000:]
            ) from None
        if message.header.get("type") != "started":
            self.kill()
            raise SandboxError(f"the worker sent {message.header!r:.200} before starting")

    def request(self, case_id: str) -> None:
        send(self.req_w, {"case": case_id})

    def kill(self) -> None:
        """End the worker and everything it started, whatever state it is in."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        if self.uid is not None:
            # Killing bubblewrap ends the pid namespace, but the kernel tears its processes
            # down asynchronously; without bubblewrap, nothing ends a process that left the
            # worker's session. The uid is this grader's alone: end all of its processes,
            # so the next worker starts from zero (and none holds the output pipe open).
            end = time.monotonic() + TEARDOWN_SECONDS
            while kill_processes_of(self.uid) and time.monotonic() < end:
                time.sleep(0.001)
        self._drain.join(timeout=5)

    def close(self) -> None:
        for fd in (self.req_w, self.reader.fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.kill()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
