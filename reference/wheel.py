"""The grader's wheel, built from the course's checkout for an autograder bundle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def build_wheel(checkout: Path, folder: Path) -> Path:
    """Build the layergrade wheel of ``checkout`` into ``folder``; return its path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder), str(checkout)],
        check=True,
    )
    (wheel,) = folder.glob("layergrade-*.whl")
    return wheel
