"""matplotlib's list of the machine's fonts, made once and kept across runs.

A notebook that imports pyplot makes matplotlib look for every font on the machine and
keep the list in its cache folder (``~/.cache/matplotlib/fontlist-v*.json``): about a
fifth of a second, paid by every executed notebook, since each worker's home starts
empty. The grader makes the list instead, in the same isolation and with the paths its
workers see, from matplotlib alone (no student's code runs there); each notebook worker
then finds it in its home, read-only. A job looks it up once, for all its notebooks.

The list is kept in the grader user's cache folder (``$XDG_CACHE_HOME/layergrade/fonts``,
else ``~/.cache/layergrade/fonts``), under a key of everything that makes it valid: the
isolation, matplotlib's version, the paths the sandbox shows (the packages and where they
appear), the interpreter, and the mtimes of the machine's font folders. A notebook graded
alone (``grade nb.ipynb``, a student's ``grade check``) so lists the fonts only the first
time, as a class does. A job copies the kept list into its own folder, so that nothing
done to the cache while it runs reaches its workers.

The cache only saves time: where its folder is not the grader user's alone (another
owner, a symlink, writable by group or others) or cannot be used, a job makes the list in
its own folder, as without it. A list is kept under its final name whole or not at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from grader.config.limits import Limits
from grader.sandbox.bwrap import Mounts, bwrap_args
from grader.sandbox.environment import worker_env
from grader.sandbox.runtime import notebook_site

if TYPE_CHECKING:
    from grader.sandbox.job import Job
    from grader.sandbox.worker import SandboxConfig

# matplotlib's cache folder, under the worker's home.
CACHE = ".cache/matplotlib"
# Listing the fonts takes well under a second; one that hangs is given up.
MAKE_SECONDS = 60.0
# Where the grader keeps lists across runs, under the user's cache folder.
KEPT = ("layergrade", "fonts")
# Folders whose directories' mtimes change when fonts come or go: where packages install
# fonts (matplotlib's own search path on Linux) and fontconfig's configuration (matplotlib
# also asks fc-list). A package that adds or removes a font file changes its folder's mtime.
FONT_FOLDERS = ("/usr/share/fonts", "/usr/local/share/fonts", "/etc/fonts")
# Part of every key: raised when what a kept list depends on changes here.
KEY_FORMAT = 1
# Hex digits of the key's sha256 in a kept list's name: 64 bits, ample for the few
# lists one machine sees.
KEY_DIGITS = 16


def font_list(job: Job, config: SandboxConfig) -> Path | None:
    """The font list for ``config``'s notebook workers, found kept or made on first use
    and held by ``job``; None where there is none to make (no matplotlib; process isolation, whose
    workers' home is the submission's folder) or making it failed: the workers then list
    the fonts themselves, as without it."""
    with job.lock:
        if config.mode not in job.fonts:
            job.fonts[config.mode] = make(job, config)
        return job.fonts[config.mode]


def make(job: Job, config: SandboxConfig) -> Path | None:
    site_packages = notebook_site()
    if config.mode == "processes" or not any(p.name == "matplotlib" for p in site_packages):
        return None
    try:
        home = Path(tempfile.mkdtemp(prefix=f"fonts-{config.mode}-", dir=job.path))
        cache = home / CACHE
        cache.mkdir(parents=True)
        argv, env, site = isolated(job, config, site_packages, home)
        kept = kept_place(job, config, site_packages, site)
        if kept is not None:
            found = kept_copy(*kept, cache)
            if found is not None:
                return found
        made = listed(argv, env, site, home)
        if made is not None and kept is not None:
            keep(made, *kept)
        return made
    except (OSError, subprocess.SubprocessError, ValueError):
        # The machine's trouble, not a student's: their notebooks list the fonts themselves.
        return None


def isolated(
    job: Job, config: SandboxConfig, site_packages: tuple[Path, ...], home: Path
) -> tuple[list[str], dict[str, str] | None, str]:
    """The command line up to the interpreter's arguments, and its environment, that list
    the fonts in ``config``'s isolation with ``home`` as the home; and the site folder where
    the sandbox shows the packages, as it does to the workers."""
    runtime = config.runtime
    if config.bwrap is not None:
        empty = home / "sub"
        empty.mkdir()
        argv, paths = bwrap_args(
            config.bwrap, runtime, Mounts(job.path, empty), Limits(), site_packages
        )
        # The cache folder where the workers' home has it, writable here alone.
        argv[-1:-1] = ["--bind", str(home / CACHE), f"/tmp/{CACHE}"]
        return argv, None, paths.site
    numpy = [runtime.numpy_dir, *filter(None, [runtime.numpy_libs])]
    site = str(job.site_view("notebook", [*numpy, *site_packages]))
    return [str(runtime.executable)], worker_env(home=str(home)), site


def listed(argv: list[str], env: dict[str, str] | None, site: str, home: Path) -> Path | None:
    """matplotlib's font list, made in ``home`` by the interpreter ``argv`` starts (see
    ``isolated``), from the packages in ``site``."""
    code = f"import sys; sys.path.append({site!r}); import matplotlib.font_manager"
    proc = subprocess.run(
        [*argv, "-I", "-S", "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
        cwd=str(home),
        timeout=MAKE_SECONDS,
    )
    made = sorted((home / CACHE).glob("fontlist-v*.json"))
    if proc.returncode != 0 or len(made) != 1:
        return None
    made[0].chmod(0o444)
    return made[0]


def kept_place(
    job: Job, config: SandboxConfig, site_packages: tuple[Path, ...], site: str
) -> tuple[Path, str] | None:
    """The folder where lists are kept, and the key of the list ``config``'s workers need;
    None where the folder is not safe to use or the key cannot be known."""
    try:
        version = matplotlib_version(site_packages)
        folder = kept_folder()
    # RuntimeError: Path.home() where there is no home; ValueError: metadata not UTF-8.
    except (OSError, RuntimeError, ValueError):
        return None
    if version is None or folder is None:
        return None
    runtime = config.runtime
    numpy = [runtime.numpy_dir, *filter(None, [runtime.numpy_libs])]
    # The list names the fonts it found under matplotlib's folder relative to it, the
    # machine's by their absolute paths: where the sandbox shows the packages matters, not
    # the job's folder, which a view of them outside bubblewrap is in (Job.site_view).
    shown = site.replace(str(job.path), "<job>", 1) if site.startswith(str(job.path)) else site
    parts = [
        KEY_FORMAT,
        config.mode,
        version,
        shown,
        [str(p) for p in [*numpy, *site_packages]],
        str(runtime.executable),
        font_folders(),
    ]
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
    return folder, digest[:KEY_DIGITS]


def kept_folder() -> Path | None:
    """The folder where the grader user keeps font lists, made where missing (mode 700,
    as the XDG base directory spec asks); None where it is a symlink, another user's, or
    writable by group or others: a list there could be anyone's."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The spec has a relative XDG_CACHE_HOME ignored.
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = root.joinpath(*KEPT)
    for path in (folder.parent, folder):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None
    return folder


def matplotlib_version(site_packages: tuple[Path, ...]) -> str | None:
    """matplotlib's version, read from its metadata (importing it would cost more than the
    whole lookup); None where neither its .dist-info nor its _version.py says."""
    for path in site_packages:
        if path.name.startswith("matplotlib-") and path.name.endswith(".dist-info"):
            with open(path / "METADATA", encoding="utf-8") as f:
                # The headers, up to the first blank line; the description follows.
                for line in f:
                    if line.startswith("Version:"):
                        return line.partition(":")[2].strip()
                    if not line.strip():
                        break
    for path in site_packages:
        if path.name == "matplotlib":
            with contextlib.suppress(FileNotFoundError):
                text = (path / "_version.py").read_text(encoding="utf-8")
                found = re.search(r"""version\s*=\s*["']([^"']+)["']""", text)
                if found:
                    return found[1]
    return None


def font_folders() -> list[tuple[str, int | None]]:
    """Every directory under FONT_FOLDERS with its mtime (None: missing), symlinks not
    followed, as matplotlib walks them: what changes when fonts are added or removed.
    Directories only: a machine has a few dozen of them, next to thousands of fonts."""
    found: list[tuple[str, int | None]] = []
    for top in FONT_FOLDERS:
        stack = [top]
        while stack:
            path = stack.pop()
            try:
                found.append((path, os.stat(path).st_mtime_ns))
                with os.scandir(path) as entries:
                    stack += [e.path for e in entries if e.is_dir(follow_symlinks=False)]
            except OSError:
                found.append((path, None))
    return sorted(found, key=lambda item: item[0])


def kept_copy(folder: Path, key: str, cache: Path) -> Path | None:
    """The list kept under ``key``, copied into ``cache`` under matplotlib's name for it
    (read-only); None where there is none, or what is there is not the grader user's own
    regular file."""
    try:
        found = sorted(folder.glob(f"{key}-fontlist-v*.json"))
    except OSError:
        return None
    for path in found:
        target = cache / path.name.removeprefix(f"{key}-")
        try:
            # No symlink followed; no FIFO waited on (fstat tells it is none).
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with open(fd, "rb") as src:
                st = os.fstat(src.fileno())
                if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                    return None
                with open(target, "xb") as dst:
                    shutil.copyfileobj(src, dst)
            target.chmod(0o444)
        except OSError:
            # Made instead, in the same folder: nothing half-copied may stay there.
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            return None
        return target
    return None


def keep(made: Path, folder: Path, key: str) -> None:
    """Keep ``made`` under ``key``: written under a temporary name, then renamed, so that
    a grader looking at the same time finds the whole list or none. Where that fails,
    nothing is kept, and the job uses the list it made."""
    try:
        fd, part = tempfile.mkstemp(prefix=".part-", dir=folder)
    except OSError:
        return
    try:
        with open(fd, "wb") as dst, open(made, "rb") as src:
            shutil.copyfileobj(src, dst)
            dst.flush()
            # On disk before it has its name: a crash may leave a .part file, never a
            # truncated list under the final name.
            os.fsync(dst.fileno())
            os.fchmod(dst.fileno(), 0o444)
        os.replace(part, folder / f"{key}-{made.name}")
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(part)


def font_list_inside(fonts: Path) -> str:
    """Where a bubblewrap worker (whose home is /tmp) finds ``fonts``."""
    return f"/tmp/{CACHE}/{fonts.name}"


def bwrap_font_args(fonts: Path) -> list[str]:
    """bubblewrap's arguments that put ``fonts`` in a worker's cache folder (its home is
    /tmp): read-only, in a folder it may write other files to, as matplotlib expects."""
    return [
        *("--perms", "1777", "--dir", "/tmp/.cache"),
        *("--perms", "1777", "--dir", f"/tmp/{CACHE}"),
        *("--ro-bind", str(fonts), font_list_inside(fonts)),
    ]


def copy_font_list(fonts: Path, home: Path, uid: int) -> None:
    """Put ``fonts`` in the cache folder of a worker whose home (its own) is ``home``."""
    cache = home / CACHE
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fonts, cache / fonts.name)
    # Its folders are the worker's (matplotlib writes its other caches there); the list
    # stays root's, read-only to it.
    for folder in (cache.parent, cache):
        shutil.chown(folder, uid, uid)
