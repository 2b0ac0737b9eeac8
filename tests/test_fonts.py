"""matplotlib's font list, made once per job for a class's executed notebooks: every
notebook worker of the class finds it in its home, cannot change it, and matplotlib
takes it as its own; a notebook graded alone lists the fonts itself."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from notebook_support import write_notebook
from support import write_rubric

from grader.api import grade_submission, graded_cases
from grader.config.rubric import load_rubric
from grader.sandbox.job import Job
from grader.sandbox.runtime import discover_runtime
from grader.sandbox.worker import SandboxConfig

# Before anything imports matplotlib: what the home's cache folder holds, and whether
# the font list there can be changed; then whether matplotlib, imported, has fonts.
LOOK = """
import glob, os
cache = os.path.expanduser("~/.cache/matplotlib")
found = sorted(glob.glob(cache + "/fontlist-v*.json"))
print("font lists:", [os.path.basename(f) for f in found])
for path in found:
    try:
        with open(path, "a") as f:
            f.write("tampered")
        print("font list changed")
    except OSError:
        print("font list unchanged")
import matplotlib.font_manager
print("fonts found:", len(matplotlib.font_manager.fontManager.ttflist) > 0)
print("list kept:", sorted(glob.glob(cache + "/fontlist-v*.json")) == found)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "isolation",
    [
        pytest.param("bubblewrap", marks=pytest.mark.sandbox),
        pytest.param("container", marks=pytest.mark.container),
    ],
)
def test_a_class_lists_the_fonts_once(open_tmp: Path, isolation: str) -> None:
    rubric = load_rubric(write_rubric(open_tmp))
    cases = graded_cases(rubric, ("public",))
    config = SandboxConfig.create(isolation, discover_runtime())
    outputs = []

    def graded(name: str, job: Job, in_class: bool) -> None:
        folder = open_tmp / name
        folder.mkdir(mode=0o755)
        notebook = write_notebook(folder / "work.ipynb", ("code", LOOK))
        notebook.chmod(0o644)
        result = grade_submission(notebook, rubric, cases, config, job, in_class=in_class)
        outputs.append(result.output)

    with Job(cases) as job:
        graded("first", job, in_class=True)
        graded("second", job, in_class=True)
        made = job.fonts[isolation]
    with Job(cases) as job:
        graded("alone", job, in_class=False)
        assert job.fonts == {}
    assert made is not None and made.name.startswith("fontlist-v")
    for output in outputs[:2]:
        assert f"font lists: ['{made.name}']" in output, output
        assert "font list unchanged" in output and "font list changed" not in output
        assert "fonts found: True" in output and "list kept: True" in output
    # Graded alone (no class): an empty cache folder, as matplotlib finds in a new home.
    assert "font lists: []" in outputs[2] and "fonts found: True" in outputs[2], outputs[2]


def test_a_font_list_that_cannot_be_made_is_not_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The machine's trouble (here a full disk) while making the list fails no notebook:
    the job keeps None, and its notebooks list the fonts themselves."""
    from grader.sandbox import fonts

    assert any(p.name == "matplotlib" for p in fonts.notebook_site())
    config = SimpleNamespace(mode="bubblewrap", bwrap="bwrap", runtime=discover_runtime())
    with Job() as job:

        def full(*args: object, **kwargs: object) -> str:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(fonts.tempfile, "mkdtemp", full)
        for _ in range(2):
            assert fonts.font_list(job, config) is None  # type: ignore[arg-type]
        assert job.fonts == {"bubblewrap": None}
