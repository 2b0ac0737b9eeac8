"""A class as Gradescope exports it: "Export Submissions" gives a folder (or a zip of one)
with ``submission_metadata.yml`` and one ``submission_<id>/`` folder per submission.

The metadata names each submission's submitters (``:name:``, ``:sid:``, ``:email:``) and
its time (``:created_at:``). Each submitter becomes an entry keyed by their student id
(else their email, else the folder's name), so that every member of a group gets the
group's grade. The metadata file itself is never graded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grader.errors import SubmissionError

METADATA = "submission_metadata.yml"
# Gradescope's metadata for a few thousand submissions stays well under this; a larger
# file is not one (and YAML aliases could make a small one expensive to load).
METADATA_BYTES = 64 << 20


@dataclass(frozen=True)
class Submitter:
    folder: str
    student: str
    name: str | None
    submitted: dt.datetime | None


class MetadataLoader(yaml.SafeLoader):
    """The safe loader, taking an object Gradescope tags with a Ruby class
    (``!ruby/object:...``) as the plain mapping, list or string it holds."""


def untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


MetadataLoader.add_multi_constructor("!", untagged)


def field(record: Any, key: str) -> Any:
    """``record[":key"]`` (Gradescope writes Ruby symbols), or ``record["key"]``."""
    if not isinstance(record, dict):
        return None
    return record.get(f":{key}", record.get(key))


def when(value: Any) -> dt.datetime | None:
    """A submission time with its UTC offset; None when there is none or it is naive."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace(" ", "T", 1))
        except ValueError:
            return None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value
    return None


def submitters(folder: Path) -> list[Submitter] | None:
    """Every submitter of a Gradescope export in ``folder``; None when it is not one."""
    path = folder / METADATA
    if not path.is_file():
        return None
    where = f"{path.name} (Gradescope's export metadata)"
    if path.stat().st_size > METADATA_BYTES:
        raise SubmissionError(f"{where} is larger than {METADATA_BYTES >> 20} MB.")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=MetadataLoader)  # noqa: S506
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        problem = str(exc)
        if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
            problem = f"line {exc.problem_mark.line + 1}: {exc.problem}"
        raise SubmissionError(
            f"{where} cannot be read ({problem}).\nHint: export the submissions from "
            "Gradescope again, or remove the file to grade the folders by their names."
        ) from None
    if not isinstance(data, dict):
        raise SubmissionError(f"{where} does not map submission folders to their submitters.")
    found = []
    for name, record in data.items():
        people = field(record, "submitters")
        people = people if isinstance(people, list) and people else [{}]
        time = when(field(record, "created_at"))
        for person in people:
            student = field(person, "sid") or field(person, "email") or name
            display = field(person, "name")
            found.append(
                Submitter(str(name), str(student), str(display) if display else None, time)
            )
    return found
