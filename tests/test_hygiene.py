"""Student text reaching the staff's tools: no escape sequences, no formulas."""

from __future__ import annotations

import pytest

from grader.report.hygiene import csv_cell, plain


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("ValueError: \x1b[31mred\x1b[0m", "ValueError: red"),  # colour
        ("a\x1b]0;new terminal title\x07b", "ab"),  # window title (OSC, bell-ended)
        ("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # hyperlink (OSC, ST-ended)
        ("progress\r100%", "progress100%"),  # carriage return rewrites the line
        ("a\x1bMb\x1b7c", "abc"),  # two-character escapes
        ("c1 \x9b31m csi", "c1 31m csi"),  # the one-byte CSI of C1
        ("tab\tand\nlines", "tab\tand\nlines"),  # kept
        ("snowman ☃ and é", "snowman ☃ and é"),  # text is text
    ],
)
def test_plain_strips_what_a_terminal_would_obey(text: str, shown: str) -> None:
    assert plain(text) == shown


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t"])
def test_a_cell_that_would_be_a_formula_is_quoted(start: str) -> None:
    cell = csv_cell(f'{start}HYPERLINK("http://x")')
    assert cell.startswith("'")


def test_an_ordinary_cell_is_unchanged() -> None:
    assert csv_cell("affine_forward: dx has shape (2, 6)") == "affine_forward: dx has shape (2, 6)"
