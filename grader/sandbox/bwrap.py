"""The bubblewrap command line: what a worker sees of the host, and under which paths.

Each worker runs in its own pid, network, ipc and uts namespaces with a read-only
filesystem that shows only system libraries, the interpreter's standard library, numpy,
the job folder (the worker's own code and the case inputs) and the submission, mounted
under neutral paths in /lg, plus a small private /tmp. Every site-packages folder of the
host interpreter is hidden, so the grader, the reference, the rubric and the expected
values are not merely unread but absent.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.config.limits import Limits
from grader.sandbox.environment import worker_env
from grader.sandbox.runtime import Runtime

MOUNT = "/lg"


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@dataclass(frozen=True)
class Mounts:
    """Host folders a worker sees: the job (its code and the case inputs) and the
    submission's staged code."""

    job: Path
    source: Path


@dataclass(frozen=True)
class SandboxPaths:
    """Where the worker finds things, as seen from inside."""

    job: str
    source: str
    site: str


@functools.cache
def version(bwrap: str) -> tuple[int, ...]:
    """bubblewrap's version ("bubblewrap 0.8.0"), or () where it does not say."""
    try:
        text = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout
        return tuple(int(part) for part in text.split()[-1].split("."))
    except (OSError, ValueError, IndexError):
        return ()


def namespace_flags(bwrap: str) -> list[str]:
    """The namespaces a worker gets. As root, no user namespace: the worker switches to an
    unprivileged uid itself, for which it keeps the capabilities to do so. Otherwise a user
    namespace in which it may not create another (bubblewrap 0.8 and later; the seccomp
    filter denies it too)."""
    if os.geteuid() != 0:
        nested = ["--unshare-user", "--disable-userns"] if version(bwrap) >= (0, 8) else []
        return ["--unshare-all", *nested]
    return [
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
    ]  # fmt: skip


def hidden_site_paths(runtime: Runtime, stdlib_inside: str) -> list[str]:
    """Where the site folders that the sandbox's binds expose appear inside it: under the
    standard library (bound to ``stdlib_inside``) or under /usr (bound as it is)."""
    hidden = []
    for site_dir in runtime.site_dirs:
        if site_dir.is_relative_to(runtime.stdlib):
            hidden.append(f"{stdlib_inside}/{site_dir.relative_to(runtime.stdlib)}")
        elif site_dir.is_relative_to("/usr"):
            hidden.append(str(site_dir))
    return list(dict.fromkeys(hidden))


def bwrap_args(
    bwrap: str,
    runtime: Runtime,
    mounts: Mounts,
    limits: Limits,
    extra: tuple[Path, ...] = (),
) -> tuple[list[str], SandboxPaths]:
    """The bubblewrap command line up to the interpreter, and the in-sandbox paths.
    ``extra`` are packages to show beside numpy (what executing a notebook needs)."""
    py = f"{MOUNT}/py"
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    args = [bwrap, "--die-with-parent", "--new-session", "--clearenv", *namespace_flags(bwrap)]
    args += ["--ro-bind", "/usr", "/usr"]
    for top in ("/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # bubblewrap creates missing mount points with mode 0700: make ours traversable.
    for d in (MOUNT, py, f"{py}/bin", f"{py}/lib", f"{MOUNT}/site"):
        args += ["--perms", "0755", "--dir", d]
    args += ["--perms", "1777", "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp"]
    args += ["--ro-bind", str(runtime.executable), f"{py}/bin/python3"]
    args += ["--ro-bind", str(runtime.stdlib), f"{py}/lib/{python}"]
    env = worker_env(home="/tmp")
    if runtime.libpython is not None:
        args += ["--ro-bind", str(runtime.libpython), f"{py}/lib/{runtime.libpython.name}"]
        env["LD_LIBRARY_PATH"] = f"{py}/lib"
    # Hide every site folder that the binds above expose (the stdlib's own, and any under
    # /usr): an empty read-only tmpfs over each. The folders exist (discover_runtime).
    for d in hidden_site_paths(runtime, f"{py}/lib/{python}"):
        args += ["--size", "4096", "--tmpfs", d, "--remount-ro", d]
    args += ["--ro-bind", str(runtime.numpy_dir), f"{MOUNT}/site/numpy"]
    if runtime.numpy_libs is not None:
        args += ["--ro-bind", str(runtime.numpy_libs), f"{MOUNT}/site/numpy.libs"]
    for path in extra:
        args += ["--ro-bind", str(path), f"{MOUNT}/site/{path.name}"]
    args += ["--ro-bind", str(mounts.job), f"{MOUNT}/job"]
    args += ["--ro-bind", str(mounts.source), f"{MOUNT}/sub"]
    args += ["--hostname", "sandbox", "--chdir", f"{MOUNT}/sub"]
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += [f"{py}/bin/python3"]
    return args, SandboxPaths(job=f"{MOUNT}/job", source=f"{MOUNT}/sub", site=f"{MOUNT}/site")
