"""rubric.yaml: what is graded, for how many points, with which tolerances and limits.

Every key is declared once below (type, default, meaning) and validated; an unknown key
is an error with a did-you-mean, never silently ignored. Paths in the rubric are
relative to the rubric file.

Example::

    vectors: assignments/modular_layers/vectors
    cases: all                  # all | public | hidden
    dropout_p_means: keep       # keep (2018 on) | drop (2016-17)
    input_mutation: warning     # warning | penalty (the case fails)
    groupnorm_shape: broadcast  # gamma and beta (1, C, 1, 1) | vector: (C,)
    tolerances:                 # the course's rel_error; first tier that holds wins
      - {max_rel_error: 1.0e-7, credit: 1.0}
      - {max_rel_error: 1.0e-4, credit: 0.5}
    limits: {case_seconds: 5, submission_seconds: 120}
    functions:
      affine_forward: {points: 10}
      affine_backward: {points: 15, checks: {dx: 1, dw: 1, db: 1}}
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, cast

import yaml

from grader.config.choices import (
    CASES_CHOICES,
    DROPOUT_MEANINGS,
    GROUPNORM_SHAPES,
    MUTATIONS,
    SOURCES,
    CasesChoice,
    DropoutMeaning,
    GroupnormShape,
    Mutation,
    Source,
    Split,
    splits_of,
)
from grader.config.late import LatePolicy, parse_late
from grader.config.limits import Limits
from grader.config.staff import assignments_dir, builtin_rubric
from grader.errors import RubricError


@dataclass(frozen=True)
class Tier:
    max_rel_error: float
    credit: float


@dataclass(frozen=True)
class FunctionRubric:
    name: str
    points: float
    # Weight per output (out, dx, dw, db, loss ...); outputs not listed weigh 1.
    checks: Mapping[str, float]

    def weight(self, output: str) -> float:
        return self.checks.get(output, 1.0)


@dataclass(frozen=True)
class Rubric:
    path: Path
    vectors: Path
    cases: CasesChoice
    dropout_p_means: DropoutMeaning
    module: str | None
    source: Source
    tolerances: tuple[Tier, ...]
    limits: Limits
    functions: tuple[FunctionRubric, ...]
    # What the assignment grades, in a line (--list-assignments), and the built-in
    # assignment the rubric starts from.
    title: str | None = None
    assignment: str | None = None
    input_mutation: Mutation = "warning"
    groupnorm_shape: GroupnormShape = "broadcast"
    late: LatePolicy = LatePolicy()

    @property
    def splits(self) -> tuple[Split, ...]:
        return splits_of(self.cases)

    def credit(self, rel_error: float) -> float:
        for tier in self.tolerances:
            if rel_error <= tier.max_rel_error:
                return tier.credit
        return 0.0


# The course's notebooks expect errors "around 1e-9" or "less than 1e-10" for correct
# float64 code; 1e-7 leaves room for a different order of summation. Float32 arithmetic
# or a misplaced eps lands between 1e-7 and 1e-4: half credit.
DEFAULT_TOLERANCES = (Tier(1e-7, 1.0), Tier(1e-4, 0.5))

TOP_KEYS: dict[str, str] = {
    "vectors": "folder of the stored vectors (with public/ and hidden/)",
    "cases": "which cases count: all, public or hidden",
    "dropout_p_means": "what dropout's p means: keep (2018 on) or drop (2016-17)",
    "input_mutation": "a function that changes its inputs in place: a warning, or a penalty "
    "(the case fails)",
    "groupnorm_shape": "group norm's gamma and beta: broadcast, (1, C, 1, 1) as the course "
    "has them now, or vector, (C,)",
    "module": "path of the layers module inside a submission (default: search for layers.py)",
    "source": "what to grade when a submission has both: auto (the module), module or notebook",
    "tolerances": "list of {max_rel_error, credit} tiers",
    "limits": "time and resource limits per submission",
    "functions": "points and check weights per graded function",
    "late": "the late policy: {due, grace_minutes, penalty_per_day}",
    "assignment": "a built-in assignment to start from (its functions and vectors); "
    "every other key given here replaces the assignment's",
    "title": "what the assignment grades, in one line",
}
FUNCTION_KEYS: dict[str, str] = {
    "points": "points for this function",
    "checks": "weight per output",
}
CHOICES: dict[str, tuple[str, ...]] = {
    "cases": CASES_CHOICES,
    "dropout_p_means": DROPOUT_MEANINGS,
    "input_mutation": MUTATIONS,
    "groupnorm_shape": GROUPNORM_SHAPES,
    "source": SOURCES,
}


def unknown_key(key: object, known: Mapping[str, str] | list[str], where: str) -> RubricError:
    names = list(known)
    close = difflib.get_close_matches(str(key), names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else f" Known keys: {', '.join(names)}."
    return RubricError(f"{where}: unknown key {key!r}.{hint}")


def number(value: Any, where: str, minimum: float = 0.0) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value < minimum:
        raise RubricError(f"{where}: expected a number >= {minimum:g}, got {value!r}.")
    return float(value)


def parse_limits(raw: Any, where: str) -> Limits:
    if raw is None:
        return Limits()
    if not isinstance(raw, dict):
        raise RubricError(f"{where}: expected a mapping of limits, got {raw!r}.")
    defaults = {f.name: f.default for f in fields(Limits)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in defaults:
            raise unknown_key(key, list(defaults), where)
        values[key] = number(value, f"{where}.{key}", minimum=1e-3)
        if isinstance(defaults[key], int):
            values[key] = int(values[key])
    return Limits(**values)


def parse_tolerances(raw: Any, where: str) -> tuple[Tier, ...]:
    if raw is None:
        return DEFAULT_TOLERANCES
    if not isinstance(raw, list) or not raw:
        raise RubricError(f"{where}: expected a non-empty list of {{max_rel_error, credit}}.")
    tiers = []
    for i, entry in enumerate(raw):
        here = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise RubricError(
                f"{here}: expected {{max_rel_error: ..., credit: ...}}, got {entry!r}."
            )
        for key in entry:
            if key not in ("max_rel_error", "credit"):
                raise unknown_key(key, ["max_rel_error", "credit"], here)
        if "max_rel_error" not in entry or "credit" not in entry:
            raise RubricError(f"{here}: needs both max_rel_error and credit.")
        credit = number(entry["credit"], f"{here}.credit")
        if credit > 1:
            raise RubricError(
                f"{here}.credit: a fraction of the points, at most 1; got {credit:g}."
            )
        tiers.append(Tier(number(entry["max_rel_error"], f"{here}.max_rel_error"), credit))
    if [t.max_rel_error for t in tiers] != sorted(t.max_rel_error for t in tiers):
        raise RubricError(
            f"{where}: list the tiers from the tightest max_rel_error to the loosest."
        )
    return tuple(tiers)


def parse_functions(raw: Any, where: str) -> tuple[FunctionRubric, ...]:
    if not isinstance(raw, dict) or not raw:
        raise RubricError(f"{where}: expected a mapping from function name to {{points, checks}}.")
    out = []
    for name, spec in raw.items():
        here = f"{where}.{name}"
        spec = {} if spec is None else spec
        if not isinstance(spec, dict):
            raise RubricError(f"{here}: expected {{points: N, checks: {{...}}}}, got {spec!r}.")
        for key in spec:
            if key not in FUNCTION_KEYS:
                raise unknown_key(key, FUNCTION_KEYS, here)
        checks = spec.get("checks") or {}
        if not isinstance(checks, dict):
            raise RubricError(f"{here}.checks: expected a mapping from output to weight.")
        weights = {str(k): number(v, f"{here}.checks.{k}") for k, v in checks.items()}
        out.append(
            FunctionRubric(str(name), number(spec.get("points", 10), f"{here}.points"), weights)
        )
    return tuple(out)


def parse_rubric(data: Any, path: Path) -> Rubric:
    where = str(path)
    if not isinstance(data, dict):
        raise RubricError(f"{where}: expected a mapping at the top level.")
    for key in data:
        if key not in TOP_KEYS:
            raise unknown_key(key, TOP_KEYS, where)
    for key, choices in CHOICES.items():
        if key in data and data[key] not in choices:
            raise RubricError(
                f"{where}: {key} must be one of {', '.join(choices)}; got {data[key]!r}."
            )
    if "vectors" not in data:
        raise RubricError(
            f"{where}: the key 'vectors' (folder of the stored vectors) is required, unless "
            "the rubric names a built-in `assignment:`."
        )
    title = data.get("title")
    if title is not None and not isinstance(title, str):
        raise RubricError(f"{where}: title must be a line of text.")
    module = data.get("module")
    if module is not None and not isinstance(module, str):
        raise RubricError(f"{where}: module must be a path such as cs231n/layers.py.")
    return Rubric(
        path=path,
        # Relative to the rubric file (to its target, where it is a link).
        vectors=(path.resolve().parent / str(data["vectors"])).resolve(),
        # Checked against CHOICES above.
        cases=cast(CasesChoice, data.get("cases", "all")),
        dropout_p_means=cast(DropoutMeaning, data.get("dropout_p_means", "keep")),
        module=module,
        source=cast(Source, data.get("source", "auto")),
        tolerances=parse_tolerances(data.get("tolerances"), f"{where}: tolerances"),
        limits=parse_limits(data.get("limits"), f"{where}: limits"),
        functions=parse_functions(data.get("functions"), f"{where}: functions"),
        title=title,
        assignment=data.get("assignment"),
        input_mutation=cast(Mutation, data.get("input_mutation", "warning")),
        groupnorm_shape=cast(GroupnormShape, data.get("groupnorm_shape", "broadcast")),
        late=parse_late(data.get("late"), f"{where}: late"),
    )


def load_rubric(path: Path) -> Rubric:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RubricError(f"{path} does not exist.\nHint: pass --rubric FILE.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path} cannot be read as a rubric file ({exc}).") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RubricError(f"{path} is not valid YAML: {exc}") from None
    if isinstance(data, dict) and "assignment" in data:
        data = dict(starting_point(data["assignment"], path), **data)
    return parse_rubric(data, path)


def assignment_names() -> list[str]:
    """The built-in assignments, by folder name."""
    folder = assignments_dir()
    return sorted(p.parent.name for p in folder.glob("*/rubric.yaml"))


def builtin_assignment(name: str) -> Rubric:
    """A built-in assignment's rubric; a RubricError naming the known ones otherwise."""
    names = assignment_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"Did you mean {close[0]!r}?" if close else f"Known: {', '.join(names)}."
        raise RubricError(f"there is no built-in assignment {name!r}. {hint}")
    return load_rubric(builtin_rubric(name))


def starting_point(name: object, path: Path) -> dict[str, Any]:
    """The keys a rubric naming ``assignment: name`` starts from: the built-in one's, its
    vectors as an absolute path."""
    if not isinstance(name, str):
        raise RubricError(f"{path}: assignment must be the name of a built-in assignment.")
    base = builtin_assignment(name)
    if base.assignment is not None:
        raise RubricError(f"{base.path}: a built-in assignment cannot name another one.")
    data = yaml.safe_load(base.path.read_text())
    data["vectors"] = str(base.vectors)
    return cast(dict[str, Any], data)
