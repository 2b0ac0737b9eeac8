"""The architecture, checked: the trust boundary is a folder whose code imports only the
standard library and numpy and is all a worker can see of the grader; the stages import
each other in one direction only."""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

import pytest

from grader.config.limits import Limits
from grader.config.staff import CHECKOUT
from grader.sandbox.bwrap import Mounts, bwrap_args
from grader.sandbox.job import INSIDE_PACKAGE, LIB, Job, inside_files
from grader.sandbox.runtime import discover_runtime, notebook_site
from grader.vectors import load_vectors

GRADER = Path(__file__).resolve().parent.parent / "grader"
# What of the course's checkout holds staff material, the grader's own code included.
STAFF_FOLDERS = ("rubric.yaml", "assignments", "reference", "tests", "bench", ".git", "grader")
VECTORS = GRADER.parent / "assignments" / "modular_layers" / "vectors"
# The stages in the order data flows; a module may import from its own stage and from
# those before it, never from those after. The sandbox's inside/ comes first: it imports
# nothing of the grader, and its frame format and call interpreter are the one definition
# of both. api grades one submission through every stage, batch a class through api,
# bundle writes what students get from a rubric and its vectors, autograder runs api as a
# platform's entry point (Gradescope's run_autograder), the command line comes next, then
# the resident grader that runs it (grade serve), the entry that hands a command to it or
# runs it, and jupyter (the in-notebook check, which runs the command in a process of its
# own) last.
STAGES = (
    "inside", "errors", "config", "vectors", "submission", "sandbox", "grading", "report", "api",
    "batch", "bundle", "autograder", "cli", "serve", "client", "jupyter",
)  # fmt: skip


def imports(path: Path, top_level_only: bool) -> list[tuple[str, int, tuple[str, ...]]]:
    """(module, relative level, names) of every import in ``path``; with
    ``top_level_only``, those that run when the module is imported (not in functions)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level, tuple(a.name for a in node.names)))
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(GRADER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_inside_imports_only_the_standard_library_numpy_and_itself() -> None:
    assert inside_files(), "inside/ holds the worker's code"
    siblings = {p.stem for p in inside_files()}
    for path in inside_files():
        # Every import, also those inside functions: they run in the sandbox all the same.
        for name, level, names in imports(path, top_level_only=False):
            top = name.split(".")[0]
            if level:
                # Only from a sibling: anything above inside/ is not in the worker's package.
                assert level == 1, f"{path.name} imports {'.' * level}{name}"
                assert (top in siblings) if name else set(names) <= siblings, path.name
                continue
            # IPython and traitlets are imported by the notebook runner only, inside the
            # function that runs cells: they are mounted for notebooks, never the grader.
            allowed = top in sys.stdlib_module_names or top in ("numpy", "IPython", "traitlets")
            assert allowed, f"{path.name} imports {name}"


def test_a_job_holds_exactly_the_inside_files_as_the_worker_package() -> None:
    cases = load_vectors(VECTORS, ("public",)).cases[:2]
    with Job(cases) as job:
        package = job.path / LIB / INSIDE_PACKAGE
        modules = sorted(p.name for p in package.iterdir() if p.name != "__pycache__")
        assert modules == [p.name for p in inside_files()]
        for file in inside_files():
            assert (package / file.name).read_bytes() == file.read_bytes()
        # Beside them at most their bytecode.
        stems = {p.stem for p in inside_files()}
        for pyc in package.glob("__pycache__/*"):
            assert pyc.suffix == ".pyc" and pyc.name.split(".")[0] in stems, pyc
        assert sorted(p.name for p in job.path.iterdir()) == ["inputs.bin", "job.json", LIB]


@pytest.mark.parametrize("notebook", [False, True])
def test_no_staff_file_is_mounted_but_the_job(tmp_path: Path, notebook: bool) -> None:
    runtime = discover_runtime()
    job, source = tmp_path / "job", tmp_path / "sub"
    extra = notebook_site() if notebook else ()
    args, _ = bwrap_args("bwrap", runtime, Mounts(job, source), Limits(), extra)
    sources = [Path(args[i + 1]) for i, a in enumerate(args) if a in ("--ro-bind", "--bind")]
    assert job in sources and source in sources
    staff = [CHECKOUT / name for name in STAFF_FOLDERS]
    for mounted in sources:
        for secret in staff:
            # Neither inside a staff folder nor above one (a bind of / or of the checkout).
            assert not mounted.resolve().is_relative_to(secret), (mounted, secret)
            assert not secret.is_relative_to(mounted.resolve()), (mounted, secret)


@functools.cache
def grader_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(GRADER.rglob("*.py"))}


def internal_imports(path: Path, name: str) -> set[str]:
    """The grader modules ``path`` (module ``name``) imports when it is imported: those
    it names, and those it takes from a package (``from grader.batch import html``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = grader_modules()
    found = set()
    for module, level, names in imports(path, top_level_only=True):
        if level:
            base = package.rsplit(".", level - 1)[0] if level > 1 else package
            module = f"{base}.{module}" if module else base
        if module == "grader" or module.startswith("grader."):
            found.add(module)
            found.update(f"{module}.{n}" for n in names if f"{module}.{n}" in known)
    return found


def test_the_module_imports_have_no_cycle() -> None:
    modules = grader_modules()
    graph = {
        name: {m for m in internal_imports(path, name) if m in modules}
        for name, path in modules.items()
    }
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = trail[trail.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def stage_of(module: str) -> str | None:
    if module.startswith("grader.sandbox.inside"):
        return "inside"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def test_each_stage_imports_only_itself_and_the_stages_before_it() -> None:
    for name, path in grader_modules().items():
        mine = stage_of(name)
        if mine is None:
            assert name in ("grader", "grader.__main__"), f"{name} is in no stage"
            continue
        for module in internal_imports(path, name):
            theirs = stage_of(module)
            if module == "grader":
                continue  # the version
            assert theirs is not None, f"{name} imports {module}, which is in no stage"
            assert STAGES.index(theirs) <= STAGES.index(mine), f"{name} imports {module}"


# What starts a process, or runs a program, from Python.
PROCESS_MODULES = {"subprocess", "multiprocessing", "pty", "concurrent.futures.process"}
PROCESS_NAMES = {"ProcessPoolExecutor"}
PROCESS_CALLS = ("fork", "forkpty", "system", "popen", "exec", "spawn", "posix_spawn")


def starts_processes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = [
        module
        for module, _, names in imports(path, top_level_only=False)
        if module.split(".")[0] in PROCESS_MODULES
        or module in PROCESS_MODULES
        or any(f"{module}.{n}" in PROCESS_MODULES or n in PROCESS_NAMES for n in names)
        or (module == "os" and any(n.startswith(PROCESS_CALLS) for n in names))
    ]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr.startswith(PROCESS_CALLS)
        ):
            found.append(f"os.{node.attr}")
    return found


def test_only_the_sandbox_starts_processes() -> None:
    for name, path in grader_modules().items():
        if stage_of(name) in ("sandbox", "inside"):
            continue
        assert starts_processes(path) == [], f"{name} starts processes"


def test_the_process_check_sees_every_way_to_start_one(tmp_path: Path) -> None:
    for code in (
        "import subprocess",
        "from multiprocessing import Pool",
        "import os\nos.system('x')",
        "import os\nos.execvp('x', [])",
        "from os import fork",
        "from concurrent.futures import ProcessPoolExecutor",
        "import pty",
    ):
        path = tmp_path / "m.py"
        path.write_text(code)
        assert starts_processes(path), code
