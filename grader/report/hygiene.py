"""Student text made safe for the staff's tools: terminals, files, spreadsheets, pages.

A submission chooses its exception messages, what it prints, its file names: an escape
sequence there could rewrite a staff terminal's screen or title, and a spreadsheet reads
a cell that begins with ``=`` as a formula. Every reporter passes such text through here.
"""

from __future__ import annotations

import re

from rich.text import Text

# Escape sequences (CSI, OSC, then ESC and whatever one character follows it), then every
# other control character but the line feed and the tab (C0, DEL and C1).
CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -~]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)
# What a spreadsheet reads as the start of a formula (or, for a tab, as a cell break).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def plain(text: str) -> str:
    """``text`` without escape sequences or control characters (lines and tabs stay), and
    valid UTF-8 (a file name's undecodable bytes become escapes)."""
    valid = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return CONTROL.sub("", valid)


def shown(text: str, style: str = "") -> Text:
    """``text`` for a rich console: plain, and never read as markup."""
    return Text(plain(text), style=style)


def csv_cell(text: str) -> str:
    """A text cell for a CSV file: plain, and never read as a formula."""
    text = plain(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
