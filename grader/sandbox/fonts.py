"""matplotlib's list of the machine's fonts, made once per job for a class's notebooks.

A notebook that imports pyplot makes matplotlib look for every font on the machine and
keep the list in its cache folder (``~/.cache/matplotlib/fontlist-v*.json``): about a
fifth of a second, paid by every executed notebook, since each worker's home starts
empty. A job grading a class makes the list once, in the same isolation and with the
paths its workers see, from matplotlib alone (no student's code runs there); each
notebook worker then finds it in its home, read-only.
"""

from __future__ import annotations

import shutil
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


def font_list(job: Job, config: SandboxConfig) -> Path | None:
    """The font list for ``config``'s notebook workers, made on first use and kept by
    ``job``; None where there is none to make (no matplotlib; process isolation, whose
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
        return listed(job, config, site_packages)
    except (OSError, subprocess.SubprocessError, ValueError):
        # The machine's trouble, not a student's: their notebooks list the fonts themselves.
        return None


def listed(job: Job, config: SandboxConfig, site_packages: tuple[Path, ...]) -> Path | None:
    """matplotlib's font list, made in ``config``'s isolation in a folder of the job."""
    home = Path(tempfile.mkdtemp(prefix=f"fonts-{config.mode}-", dir=job.path))
    cache = home / CACHE
    cache.mkdir(parents=True)
    runtime = config.runtime
    if config.bwrap is not None:
        empty = home / "sub"
        empty.mkdir()
        argv, paths = bwrap_args(
            config.bwrap, runtime, Mounts(job.path, empty), Limits(), site_packages
        )
        # The cache folder where the workers' home has it, writable here alone.
        argv[-1:-1] = ["--bind", str(cache), f"/tmp/{CACHE}"]
        site, env = paths.site, None
    else:
        numpy = [runtime.numpy_dir, *filter(None, [runtime.numpy_libs])]
        site = str(job.site_view("notebook", [*numpy, *site_packages]))
        argv, env = [str(runtime.executable)], worker_env(home=str(home))
    code = f"import sys; sys.path.append({site!r}); import matplotlib.font_manager"
    proc = subprocess.run(
        [*argv, "-I", "-S", "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
        cwd=str(home),
        timeout=MAKE_SECONDS,
    )
    made = sorted(cache.glob("fontlist-v*.json"))
    if proc.returncode != 0 or len(made) != 1:
        return None
    made[0].chmod(0o444)
    return made[0]


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
