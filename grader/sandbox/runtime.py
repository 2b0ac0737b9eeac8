"""What of the host's Python a worker needs: found once, from the running interpreter."""

from __future__ import annotations

import functools
import glob
import importlib.util
import json
import os
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Runtime:
    """Host paths the worker needs, found once per grading run."""

    executable: Path
    stdlib: Path
    libpython: Path | None
    numpy_dir: Path
    numpy_libs: Path | None
    site_dirs: tuple[Path, ...]

    @property
    def needed(self) -> tuple[Path, ...]:
        """What a worker must be able to read of the host's Python: its interpreter, its
        standard library, and the folder numpy (and what notebooks need) is in."""
        found = [self.executable, self.stdlib, self.numpy_dir.parent]
        return tuple(found + ([self.libpython] if self.libpython else []))


# Where distributions put site folders under /usr: Debian and Ubuntu (dist-packages, for
# apt and for pip as root), everyone else (site-packages). All are hidden from workers.
SYSTEM_SITE_PATTERNS = (
    "/usr/lib/python3*/site-packages",
    "/usr/lib/python3*/dist-packages",
    "/usr/local/lib/python3*/site-packages",
    "/usr/local/lib/python3*/dist-packages",
    "/usr/lib64/python3*/site-packages",
)


def site_folders() -> set[Path]:
    """Every folder this interpreter may load packages from besides its standard library:
    its own (a venv's, with or without system site packages), its base interpreter's
    (found from inside a venv too), the user's, and the system's under /usr."""
    found = {Path(p) for p in site.getsitepackages()}
    found.update(Path(p) for p in site.getsitepackages([sys.base_prefix, sys.base_exec_prefix]))
    found.add(Path(site.getusersitepackages()))
    paths = sysconfig.get_paths()
    found.update(Path(paths[key]) for key in ("purelib", "platlib"))
    for pattern in SYSTEM_SITE_PATTERNS:
        found.update(Path(p) for p in glob.glob(pattern))
    return found


def numpy_folder() -> Path:
    """Where numpy is, found without importing it (a worker may start meanwhile)."""
    spec = importlib.util.find_spec("numpy")
    if spec is None or spec.origin is None:
        raise ImportError("numpy is not installed for this interpreter")
    return Path(spec.origin).resolve().parent


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
    numpy_dir = numpy_folder()
    libs = numpy_dir.with_name("numpy.libs")
    return Runtime(
        executable=executable,
        stdlib=stdlib,
        libpython=libpython,
        numpy_dir=numpy_dir,
        numpy_libs=libs if libs.is_dir() else None,
        # Only folders that exist: bubblewrap cannot mount over a missing one inside a
        # read-only bind (Debian's standard library has no site-packages, for one).
        site_dirs=tuple(sorted(p for p in site_folders() if p.is_dir())),
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
    import importlib.metadata  # for notebooks only: a sixth of the module path's imports

    distributions = importlib.metadata.packages_distributions()
    for top in list(found):
        for dist in distributions.get(top.name.removesuffix(".py"), []):
            for pattern in (f"{dist.replace('-', '_')}-*.dist-info", f"{dist}.libs"):
                found.update(p for p in top.parent.glob(pattern) if p.is_dir())
    return tuple(sorted(found))
