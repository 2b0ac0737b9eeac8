"""Shared fixtures. Sandbox tests need bubblewrap: skipped with the reason where it is
missing, except in CI (CI=true), where a missing bwrap is a failure, not a skip."""

from __future__ import annotations

import os
import shutil

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("bwrap"):
        return
    if os.environ.get("CI") == "true":
        fail = pytest.mark.usefixtures("_bwrap_required_in_ci")
        for item in items:
            if "sandbox" in item.keywords:
                item.add_marker(fail)
        return
    skip = pytest.mark.skip(
        reason="bubblewrap (bwrap) is not installed; apt-get install bubblewrap"
    )
    for item in items:
        if "sandbox" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def _bwrap_required_in_ci() -> None:
    pytest.fail("CI must run the sandbox tests: bubblewrap (bwrap) is not installed")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/ from the current output (then review the diff)",
    )
